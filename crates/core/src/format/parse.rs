//! Reading rows back, for `memtrace report` and for tests. One row at a time, so that a log of
//! any size streams through.
//!
//! Columns are fixed-width, but a value wider than its column pushes the rest of the row right,
//! and paths and function names may contain spaces. So the row is read from both ends: Event,
//! dEvent, Clock and What from the left (they never contain spaces), RSS and dRSS from the right,
//! and what is left is File, `#line` and Function, split at the `#` that follows the File column.

use super::{Heap, RowKind, What, END_OF_FILE, FILE_WIDTH, HEAP_PREFIX, STACK_MARK, START_OF_FILE};

/// One row of a log.
#[derive(Debug, Clone, PartialEq)]
pub enum LogRow<'a> {
  /// `SOF`.
  Start,
  /// `HEDR: …`.
  Header,
  /// `FRST:`, `NEXT:`, `PREV:` or `LAST:`.
  Event(EventRow<'a>),
  /// `MSG:`.
  Message { event: u64, d_event: u64, clock: f64, text: &'a str },
  /// `HEAP:`.
  Heap { event: u64, d_event: u64, clock: f64, heap: Heap },
  /// `STCK:`: stack `id` is stack `parent` with `function` (of `file`, at `line`) called on top.
  Stack { id: u64, parent: u64, file: &'a str, line: u32, function: &'a str },
  /// `EOF`.
  End,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow<'a> {
  pub kind: RowKind,
  pub event: u64,
  pub d_event: u64,
  pub clock: f64,
  pub what: What,
  pub file: &'a str,
  pub line: u32,
  pub function: &'a str,
  pub rss: u64,
  pub d_rss: i64,
  /// The stack it happened in, in a log with stacks.
  pub stack: Option<u64>,
}

/// Why a line is not a row of a memtrace log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

fn bad(what: impl Into<String>) -> ParseError {
  ParseError(what.into())
}

/// Reads one line (without its line break). The optional message line before `SOF` is not a
/// row; the caller knows where it stands and does not pass it here.
pub fn parse_row(line: &str) -> Result<LogRow<'_>, ParseError> {
  let line = line.trim_end_matches(' ');
  match line {
    START_OF_FILE => return Ok(LogRow::Start),
    END_OF_FILE => return Ok(LogRow::End),
    _ => {}
  }
  if line.starts_with("HEDR: ") {
    return Ok(LogRow::Header);
  }
  if let Some(mut rest) = line.strip_prefix(HEAP_PREFIX) {
    let (event, d_event, clock) = event_clock(&mut rest)?;
    if token(&mut rest) != "#" {
      return Err(bad("a HEAP: row has no '#' before its figures"));
    }
    let missing = |name: &str| bad(format!("a HEAP: row has no {name} figure"));
    let mut figure = |name: &str| match token(&mut rest) {
      "" => Ok(None),
      found if found == name => number(token(&mut rest), name).map(Some),
      _ => Err(missing(name)),
    };
    let mut required = |name: &str| figure(name)?.ok_or_else(|| missing(name));
    let (used, total, external) = (required("used")?, required("total")?, required("external")?);
    // Logs from runtimes where it cannot be read, and from before it was written, have no arrayBuffers.
    let heap = Heap { used, total, external, array_buffers: figure("arrayBuffers")? };
    return Ok(LogRow::Heap { event, d_event, clock, heap });
  }
  if let Some(mut rest) = line.strip_prefix(RowKind::Stack.prefix()) {
    let id = stack_id(token(&mut rest))?;
    let parent = stack_id(token(&mut rest))?;
    let (file, line, function) = site(rest.trim_start_matches(' '))?;
    return Ok(LogRow::Stack { id, parent, file, line, function });
  }
  let kind = [RowKind::First, RowKind::Next, RowKind::Prev, RowKind::Message, RowKind::Last]
    .into_iter()
    .find(|kind| line.starts_with(kind.prefix()))
    .ok_or_else(|| bad("it does not start with SOF, HEDR:, FRST:, NEXT:, PREV:, MSG:, HEAP:, STCK:, LAST: or EOF"))?;
  let mut rest = &line[kind.prefix().len()..];
  let (event, d_event, clock) = event_clock(&mut rest)?;

  if kind == RowKind::Message {
    // The text as written (see `text`); an empty one leaves the '#' last.
    let text = match rest.trim_start_matches(' ') {
      "#" => "",
      marked => marked.strip_prefix("# ").ok_or_else(|| bad("a MSG: row has no '# ' before its text"))?,
    };
    return Ok(LogRow::Message { event, d_event, clock, text });
  }

  let what = token(&mut rest);
  let what = What::from_name(what).ok_or_else(|| bad(format!("{what:?} is not a known What")))?;
  // What is padded to 8 and followed by one space; File starts right after.
  let rest = rest.get(9 - what.name().len()..).ok_or_else(|| bad("the row ends after What"))?;

  let (rest, stack) = match rest.trim_end().rsplit_once(' ') {
    Some((before, last)) if last.starts_with(STACK_MARK) => (before, Some(stack_id(last)?)),
    _ => (rest, None),
  };
  let (rest, d_rss) = rest.trim_end().rsplit_once(' ').ok_or_else(|| bad("the row has no dRSS"))?;
  let d_rss: i64 = d_rss.parse().map_err(|_| bad(format!("dRSS {d_rss:?} is not a number")))?;
  let (rest, rss) = rest.trim_end().rsplit_once(' ').ok_or_else(|| bad("the row has no RSS"))?;
  let rss = number(rss, "RSS")?;

  let (file, line, function) = site(rest)?;
  Ok(LogRow::Event(EventRow { kind, event, d_event, clock, what, file, line, function, rss, d_rss, stack }))
}

/// The File, `#line` and Function columns.
fn site(text: &str) -> Result<(&str, u32, &str), ParseError> {
  let hash = line_marker(text).ok_or_else(|| bad("no '#line' after the File column"))?;
  let file = text[..hash].trim_end_matches(' ');
  let after = &text[hash + 1..];
  let (line, function) = after.trim_start_matches(' ').split_once(' ').unwrap_or((after.trim(), ""));
  let line = u32::try_from(number(line, "#line")?).map_err(|_| bad("#line is too large"))?;
  Ok((file, line, function.trim_matches(' ')))
}

fn stack_id(text: &str) -> Result<u64, ParseError> {
  let digits = text.strip_prefix(STACK_MARK).ok_or_else(|| bad(format!("stack {text:?} does not start with '@'")))?;
  digits.parse().map_err(|_| bad(format!("stack {text:?} is not '@' and a whole number")))
}

/// The `#` that ends the File column: at byte FILE_WIDTH when the path fits, after the path
/// when it is longer; in both cases followed by a right-aligned number.
fn line_marker(text: &str) -> Option<usize> {
  let bytes = text.as_bytes();
  (FILE_WIDTH.min(bytes.len())..bytes.len()).find(|&at| {
    bytes[at] == b'#' && {
      let digits = &bytes[at + 1..];
      let spaces = digits.iter().take_while(|&&b| b == b' ').count();
      digits.get(spaces).is_some_and(u8::is_ascii_digit)
    }
  })
}

/// Event, dEvent and Clock, the columns every row but the header starts with.
fn event_clock(rest: &mut &str) -> Result<(u64, u64, f64), ParseError> {
  let event = number(token(rest), "Event")?;
  let d_event = token(rest).strip_prefix('+').ok_or_else(|| bad("dEvent does not start with '+'"))?;
  let d_event = number(d_event, "dEvent")?;
  let clock = token(rest);
  let clock: f64 = clock.parse().map_err(|_| bad(format!("Clock {clock:?} is not a number")))?;
  Ok((event, d_event, clock))
}

fn token<'a>(rest: &mut &'a str) -> &'a str {
  let text = rest.trim_start_matches(' ');
  let end = text.find(' ').unwrap_or(text.len());
  *rest = &text[end..];
  &text[..end]
}

fn number(text: &str, column: &str) -> Result<u64, ParseError> {
  text.parse().map_err(|_| bad(format!("{column} {text:?} is not a whole number")))
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::format::{header, message_row, RowWriter};

  fn written(file: &str, function: &str, d_rss: i64, stack: Option<u64>) -> String {
    let site = RowWriter::site(file, 7, function);
    let mut out = Vec::new();
    RowWriter::default().event_row(&mut out, RowKind::Prev, 42, 3, 1_500_000, What::Yield, &site, 8192, d_rss, stack);
    String::from_utf8(out).unwrap()
  }

  #[test]
  fn an_event_row_reads_back_as_written() {
    for (file, function) in [
      ("/app/main.js", "main"),
      ("/dir with spaces/a#b.js", "Class.get x"),
      (&"/deep".repeat(30), "A.#private method"),
      ("file:///app/x.mjs", "<anonymous>"),
    ] {
      for stack in [None, Some(0), Some(123_456)] {
        let text = written(file, function, -4096, stack);
        let LogRow::Event(row) = parse_row(text.trim_end_matches('\n')).unwrap() else { panic!("{text}") };
        assert_eq!(
          row,
          EventRow {
            kind: RowKind::Prev,
            event: 42,
            d_event: 3,
            clock: 1.5,
            what: What::Yield,
            file,
            line: 7,
            function,
            rss: 8192,
            d_rss: -4096,
            stack,
          }
        );
      }
    }
  }

  #[test]
  fn a_stack_row_reads_back_as_written() {
    for (file, function) in
      [("/app/main.js", "main"), ("/dir with spaces/a#b.js", "Class.get x"), (&"/deep".repeat(30), "f")]
    {
      let mut out = Vec::new();
      RowWriter::default().stack_row(&mut out, 9, 4, &RowWriter::site(file, 12, function));
      let text = String::from_utf8(out).unwrap();
      assert_eq!(parse_row(text.trim_end()), Ok(LogRow::Stack { id: 9, parent: 4, file, line: 12, function }));
    }
  }

  #[test]
  fn markers_headers_and_messages() {
    let head = header(None);
    let mut lines = head.lines();
    assert_eq!(parse_row(lines.next().unwrap()), Ok(LogRow::Start));
    assert_eq!(parse_row(lines.next().unwrap()), Ok(LogRow::Header));
    assert_eq!(parse_row("EOF"), Ok(LogRow::End));
    let mut out = Vec::new();
    message_row(&mut out, 9, 2, 3_000_001, "half way # there");
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
      parse_row(text.trim_end()),
      Ok(LogRow::Message { event: 9, d_event: 2, clock: 3.000001, text: "half way # there" })
    );
  }

  #[test]
  fn broken_rows_say_what_is_wrong() {
    let cases = [
      ("hello", "does not start with SOF"),
      ("NEXT: x            +0      0.1", "Event \"x\" is not a whole number"),
      ("NEXT: 1            0       0.1", "dEvent does not start with '+'"),
      ("NEXT: 1            +0      zero", "Clock \"zero\" is not a number"),
      ("NEXT: 1            +0      0.1          JUMP", "\"JUMP\" is not a known What"),
      ("MSG:  1            +0      0.1          text", "no '# '"),
      ("NEXT: 1            +0      0.1          CALL     /a.js  f  100  200", "no '#line'"),
      (
        "NEXT: 1            +0      0.1          CALL     /a.js  # 1 f  100  200 @x",
        "stack \"@x\" is not '@' and a whole number",
      ),
      ("STCK: 3 @1 /a.js # 1 f", "stack \"3\" does not start with '@'"),
    ];
    for (line, expected) in cases {
      let err = parse_row(line).unwrap_err();
      assert!(err.0.contains(expected), "{line:?}: {err}");
    }
  }
}
