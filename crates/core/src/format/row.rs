//! Writing rows. The writer thread calls this for every logged event, so it formats numbers
//! with `itoa` into a reused buffer and keeps the File/#line/Function part of each function
//! pre-formatted ([`RowWriter::site`]): a row costs a few copies, not a `format!`.

use super::{Heap, RowKind, What, FILE_WIDTH, FUNCTION_WIDTH, HEAP_PREFIX, STACK_MARK, START_OF_FILE};

/// `text` with every line terminator and run of whitespace made one space: a name taken from
/// source (`holder\n  .grow`) must not break a row in two.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
  let breaks = |c: char| (c.is_whitespace() && c != ' ') || c.is_control();
  if !text.contains(breaks) {
    return text.into();
  }
  text
    .split(|c: char| c.is_whitespace() || c.is_control())
    .filter(|word| !word.is_empty())
    .collect::<Vec<_>>()
    .join(" ")
    .into()
}

/// The header: optional message line (written by [`super::text::escape`]), `SOF`, and the
/// `HEDR:` row of column titles.
pub fn header(message: Option<&str>) -> String {
  let mut out = String::new();
  if let Some(message) = message {
    debug_assert!(!message.contains(['\n', '\r']), "an unescaped message line");
    out.push_str(message);
    out.push('\n');
  }
  out.push_str(START_OF_FILE);
  out.push('\n');
  out.push_str(&format!(
    "HEDR: {:<12} {:<6}  {:<12} {:<8} {:<fw$}#{:>4} {:<nw$} {:>12} {:>12}\n",
    "Event",
    "dEvent",
    "Clock",
    "What",
    "File",
    "line",
    "Function",
    "RSS",
    "dRSS",
    fw = FILE_WIDTH,
    nw = FUNCTION_WIDTH
  ));
  out
}

/// A `MSG:` row: where in the event stream a user message was written, then its text, as
/// [`super::text::escape`] writes it (one line, whatever the message).
pub fn message_row(out: &mut Vec<u8>, event: u64, d_event: u64, clock_us: u64, text: &str) {
  debug_assert!(!text.contains(['\n', '\r']), "an unescaped message");
  out.extend_from_slice(RowKind::Message.prefix().as_bytes());
  push_event_clock(out, event, d_event, clock_us);
  out.extend_from_slice(b" # ");
  out.extend_from_slice(text.as_bytes());
  out.push(b'\n');
}

/// A HEAP row: `heap` at an event and clock.
pub fn heap_row(out: &mut Vec<u8>, event: u64, d_event: u64, clock_us: u64, heap: Heap) {
  let mut itoa = itoa::Buffer::new();
  out.extend_from_slice(HEAP_PREFIX.as_bytes());
  push_event_clock(out, event, d_event, clock_us);
  let figures = [(" # used ", Some(heap.used)), (" total ", Some(heap.total)), (" external ", Some(heap.external))];
  for (name, value) in figures.into_iter().chain([(" arrayBuffers ", heap.array_buffers)]) {
    if let Some(value) = value {
      out.extend_from_slice(name.as_bytes());
      out.extend_from_slice(itoa.format(value).as_bytes());
    }
  }
  out.push(b'\n');
}

/// Formats event rows.
#[derive(Default)]
pub struct RowWriter {
  itoa: itoa::Buffer,
}

impl RowWriter {
  /// The File, #line and Function columns of one function, with the spaces that follow: the
  /// part of a row that depends only on the function. Computed once per function.
  pub fn site(file: &str, line: u32, function: &str) -> Box<[u8]> {
    let mut out = Vec::with_capacity(FILE_WIDTH + FUNCTION_WIDTH + 8);
    push_left(&mut out, one_line(file).as_bytes(), FILE_WIDTH);
    out.push(b'#');
    push_right(&mut out, itoa::Buffer::new().format(line).as_bytes(), 4);
    out.push(b' ');
    push_left(&mut out, one_line(function).as_bytes(), FUNCTION_WIDTH);
    out.push(b' ');
    out.into_boxed_slice()
  }

  /// Appends one event row (FRST, NEXT, PREV or LAST) to `out`. `site` comes from [`Self::site`];
  /// `stack`, when the log has stacks, is the one the event happened in.
  #[allow(clippy::too_many_arguments)]
  #[inline]
  pub fn event_row(
    &mut self,
    out: &mut Vec<u8>,
    kind: RowKind,
    event: u64,
    d_event: u64,
    clock_us: u64,
    what: What,
    site: &[u8],
    rss: u64,
    d_rss: i64,
    stack: Option<u64>,
  ) {
    out.extend_from_slice(kind.prefix().as_bytes());
    push_event_clock(out, event, d_event, clock_us);
    out.push(b' ');
    out.extend_from_slice(what.padded().as_bytes());
    out.push(b' ');
    out.extend_from_slice(site);
    push_right(out, self.itoa.format(rss).as_bytes(), 12);
    out.push(b' ');
    push_right(out, self.itoa.format(d_rss).as_bytes(), 12);
    if let Some(stack) = stack {
      out.extend_from_slice(b" @");
      out.extend_from_slice(self.itoa.format(stack).as_bytes());
    }
    out.push(b'\n');
  }

  /// A STCK row: stack `id` is stack `parent` with the function of `site` called on top.
  pub fn stack_row(&mut self, out: &mut Vec<u8>, id: u64, parent: u64, site: &[u8]) {
    out.extend_from_slice(RowKind::Stack.prefix().as_bytes());
    for stack in [id, parent] {
      let start = out.len();
      out.push(STACK_MARK as u8);
      out.extend_from_slice(self.itoa.format(stack).as_bytes());
      let written = out.len() - start;
      out.resize(out.len() + 12usize.saturating_sub(written), b' ');
      out.push(b' ');
    }
    // The site's trailing spaces pad Function for the RSS column, which STCK rows do not have.
    let end = site.iter().rposition(|&b| b != b' ').map_or(0, |at| at + 1);
    out.extend_from_slice(&site[..end]);
    out.push(b'\n');
  }
}

/// `%-12u +%-6d %-12.6f`: the Event, dEvent and Clock columns.
fn push_event_clock(out: &mut Vec<u8>, event: u64, d_event: u64, clock_us: u64) {
  let mut itoa = itoa::Buffer::new();
  push_left(out, itoa.format(event).as_bytes(), 12);
  out.extend_from_slice(b" +");
  push_left(out, itoa.format(d_event).as_bytes(), 6);
  out.push(b' ');
  let start = out.len();
  out.extend_from_slice(itoa.format(clock_us / 1_000_000).as_bytes());
  out.push(b'.');
  let micros = itoa.format(clock_us % 1_000_000 + 1_000_000);
  out.extend_from_slice(&micros.as_bytes()[1..]);
  let written = out.len() - start;
  out.resize(out.len() + 12usize.saturating_sub(written), b' ');
}

fn push_left(out: &mut Vec<u8>, text: &[u8], width: usize) {
  out.extend_from_slice(text);
  out.resize(out.len() + width.saturating_sub(text.len()), b' ');
}

fn push_right(out: &mut Vec<u8>, text: &[u8], width: usize) {
  out.resize(out.len() + width.saturating_sub(text.len()), b' ');
  out.extend_from_slice(text);
}

#[cfg(test)]
mod tests {
  use super::*;

  fn row(kind: RowKind, event: u64, d_event: u64, clock_us: u64, what: What, rss: u64, d_rss: i64) -> String {
    let site = RowWriter::site("/Library/Frameworks/Python.framework/Versions/3.8/lib/python3.8/os.py", 362, "next");
    let mut out = Vec::new();
    RowWriter::default().event_row(&mut out, kind, event, d_event, clock_us, what, &site, rss, d_rss, None);
    String::from_utf8(out).unwrap()
  }

  #[test]
  fn rows_match_the_seed_byte_for_byte() {
    // Two rows of the seed's technical note (pymemtrace 0.1 format), ending in '\n'.
    assert_eq!(
      row(RowKind::Prev, 430, 339, 689_213, What::CCall, 41_152_512, 0),
      "PREV: 430          +339    0.689213     C_CALL   /Library/Frameworks/Python.framework/Versions/3.8/lib/python3.8/os.py           # 362 next                                 41152512            0\n"
    );
    assert_eq!(
      row(RowKind::Next, 431, 340, 689_223, What::CReturn, 41_156_608, 4096),
      "NEXT: 431          +340    0.689223     C_RETURN /Library/Frameworks/Python.framework/Versions/3.8/lib/python3.8/os.py           # 362 next                                 41156608         4096\n"
    );
  }

  #[test]
  fn negative_drss_and_large_values_are_right_aligned() {
    let text = row(RowKind::Next, 2_970_785, 22_822, 11_109_189, What::CReturn, 49_676_288, -774_144);
    assert!(text.starts_with("NEXT: 2970785      +22822  11.109189    C_RETURN "), "{text}");
    assert!(text.ends_with("49676288      -774144\n"), "{text}");
  }

  #[test]
  fn long_paths_push_the_row_right_instead_of_being_cut() {
    let long = "x".repeat(100);
    let site = RowWriter::site(&long, 2080, "debug");
    assert_eq!(&site[..101], format!("{long}#").as_bytes());
    assert_eq!(&site[101..], b"2080 debug                            ");
  }

  #[test]
  fn header_titles_sit_over_their_columns() {
    let header = header(Some("my run"));
    let lines: Vec<&str> = header.lines().collect();
    assert_eq!(lines[..2], ["my run", "SOF"]);
    let titles = lines[2];
    let data = row(RowKind::Next, 431, 340, 689_223, What::CReturn, 41_156_608, 4096);
    for (title, value) in [("Clock", "0.689223"), ("What", "C_RETURN"), ("#line", "# 362"), ("Function", "next")] {
      assert_eq!(titles.find(title), data.find(value), "{title}");
    }
    assert_eq!(titles.len(), data.trim_end().len());
    assert_eq!(header.lines().count(), 3);
  }

  #[test]
  fn a_row_with_a_stack_ends_in_it_and_stack_rows_name_their_parent() {
    let site = RowWriter::site("/app/lib/parse.js", 40, "parseAll");
    let mut rows = RowWriter::default();
    let mut out = Vec::new();
    rows.event_row(&mut out, RowKind::Next, 117, 117, 4_113, What::Call, &site, 49_303_552, 4_194_304, Some(17));
    rows.stack_row(&mut out, 17, 12, &site);
    let text = String::from_utf8(out).unwrap();
    let mut lines = text.lines();
    let row = lines.next().unwrap();
    assert!(row.ends_with("49303552      4194304 @17"), "{row}");
    let fields: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((fields[9], fields[10]), ("49303552", "4194304"), "the seed's columns stay where awk finds them");
    assert_eq!(
      lines.next().unwrap(),
      format!("STCK: @17          @12          {:<80}#  40 parseAll", "/app/lib/parse.js")
    );
  }

  #[test]
  fn heap_rows_name_their_figures() {
    let mut out = Vec::new();
    heap_row(
      &mut out,
      302,
      0,
      5_102,
      Heap { used: 10_934_512, total: 16_777_216, external: 2_351_230, array_buffers: Some(1_048_576) },
    );
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
      text,
      "HEAP: 302          +0      0.005102     # used 10934512 total 16777216 external 2351230 arrayBuffers 1048576\n"
    );
    assert_eq!(
      crate::format::parse_row(text.trim_end()).unwrap(),
      crate::format::LogRow::Heap {
        event: 302,
        d_event: 0,
        clock: 0.005102,
        heap: Heap { used: 10_934_512, total: 16_777_216, external: 2_351_230, array_buffers: Some(1_048_576) }
      }
    );
    // Where arrayBuffers cannot be read, the row goes without it, as rows written before it did.
    let mut out = Vec::new();
    let heap = Heap { array_buffers: None, ..Heap::default() };
    heap_row(&mut out, 1, 0, 0, heap);
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with("# used 0 total 0 external 0\n"), "{text}");
    assert!(
      matches!(crate::format::parse_row(text.trim_end()), Ok(crate::format::LogRow::Heap { heap: read, .. }) if read == heap)
    );
  }

  #[test]
  fn message_rows_keep_to_one_line() {
    let mut out = Vec::new();
    message_row(&mut out, 15, 5, 64_603, &crate::format::text::escape_str("Detaching\nnew file: x.log"));
    assert_eq!(
      String::from_utf8(out).unwrap(),
      "MSG:  15           +5      0.064603     # Detaching\\nnew file: x.log\n"
    );
  }
}
