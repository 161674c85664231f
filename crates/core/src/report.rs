//! Reading a profiler log back into totals: RSS growth and release by function, the peak and
//! where it happened, events and rows. One line at a time, so a log of many gigabytes streams
//! through in constant memory (plus one entry per function).
//!
//! A function's growth is the sum of the positive dRSS of its NEXT rows, its release the sum of
//! the negative ones: the seed's reading, where a row's RSS change is put down to the event that
//! observed it. Rows of a function's entry (CALL, RESUME) are counted apart, "at entry": that
//! memory grew before the function ran, in its caller, so putting it down to the function
//! itself would blame the wrong one. PREV rows repeat what a NEXT row already counts, so they
//! are not added again.
//!
//! For charts it also keeps RSS against the clock, thinned to at most [`TIMELINE_POINTS`] points
//! (each the highest of the rows it stands for, so no peak disappears), and the largest jumps.

use std::collections::HashMap;
use std::io::BufRead;

use crate::format::{gc, Heap, LogRow, RowKind, What};
use crate::reader::LogReader;
pub use crate::reader::ReportError;
use crate::stacks::StackTree;

/// Where something happened in a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Place {
  pub event: u64,
  pub clock: f64,
  pub file: String,
  pub line: u32,
  pub function: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionTotals {
  pub file: String,
  pub line: u32,
  pub function: String,
  /// Rows of the function's entry (CALL, RESUME, C_CALL): growth seen as it started, made
  /// before it.
  pub at_entry: bool,
  /// C rows: `function` is a native callee, `file` and `line` the call site.
  pub native: bool,
  /// Sum of positive dRSS of its NEXT rows, in bytes.
  pub growth: u64,
  /// Sum of negative dRSS of its NEXT rows, as a positive number of bytes.
  pub release: u64,
  pub rows: u64,
}

/// The NEXT rows of one statement's LINE events (logs made with lines on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTotals {
  pub file: String,
  pub line: u32,
  /// The function the statement is in.
  pub function: String,
  pub growth: u64,
  pub release: u64,
  pub rows: u64,
}

/// Most points kept for RSS against the clock.
pub const TIMELINE_POINTS: usize = 4096;
/// How many of the largest jumps are kept.
pub const JUMPS: usize = 8;

/// A NEXT row with a large |dRSS|.
#[derive(Debug, Clone, PartialEq)]
pub struct Jump {
  pub d_rss: i64,
  pub rss: u64,
  pub place: Place,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogReport {
  /// The user's message line above `SOF`.
  pub message: Option<String>,
  /// Whether the log ends with `EOF`. A log cut short (the process was killed) is still read.
  pub complete: bool,
  /// Events the profiler saw (from LAST when there is one, else the last row's event).
  pub events: u64,
  /// FRST, NEXT, PREV, MSG and LAST rows.
  pub rows: u64,
  pub peak: Option<(u64, Place)>,
  /// RSS at the first row (FRST: where the profiler started).
  pub first_rss: Option<u64>,
  /// Whether reading stopped at the first row whose RSS reached the `stop_at_rss` given to
  /// [`read_log_until`]: everything in the report is then up to and including that row.
  pub stopped: bool,
  /// Clock of the first and last row, seconds.
  pub duration: f64,
  /// Most growth first (then most release, then by name): the order of the report's table.
  /// LINE rows are not in it, but in `lines`.
  pub functions: Vec<FunctionTotals>,
  /// The statements whose LINE rows moved RSS, most growth first.
  pub lines: Vec<LineTotals>,
  /// `(clock, rss)`, ascending in clock.
  pub timeline: Vec<(f64, u64)>,
  /// The largest |dRSS| among NEXT rows, largest first.
  pub jumps: Vec<Jump>,
  /// The MSG rows, the first [`MESSAGES`] of them; their text as written (see `format::text`).
  pub messages: Vec<Message>,
  /// `(clock, heap)` of the HEAP rows, ascending in clock, thinned to a few thousand (the last
  /// one always kept).
  pub heap: Vec<(f64, Heap)>,
  /// GC rows with the largest |dRSS|, largest first (their totals by kind are in `functions`,
  /// as `<gc>`).
  pub collections: Vec<Collection>,
  /// The log's stacks with the growth and release made in each, for a log made with stacks.
  pub stacks: Option<StackTree>,
  /// Where the log stops being a log, and why, when it does before its end: everything above
  /// that line is in the report.
  pub damage: Option<ReportError>,
}

/// A GC row (see `format::gc`).
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
  /// When it started, seconds.
  pub clock: f64,
  pub kind: String,
  pub milliseconds: f64,
  pub rss: u64,
  pub d_rss: i64,
}

/// How many GC rows a report keeps: those with the largest |dRSS|.
pub const COLLECTIONS: usize = 20;

/// A MSG row.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
  pub event: u64,
  pub clock: f64,
  pub text: String,
}

/// How many MSG rows a report keeps.
pub const MESSAGES: usize = 1000;

/// RSS against the clock, thinned as it grows: every point stands for `stride` rows, and is
/// the highest of them.
struct Timeline {
  points: Vec<(f64, u64)>,
  stride: usize,
  pending: Option<(f64, u64)>,
  pending_rows: usize,
}

impl Timeline {
  fn push(&mut self, clock: f64, rss: u64) {
    let pending = self.pending.get_or_insert((clock, rss));
    if rss > pending.1 {
      *pending = (clock, rss);
    }
    self.pending_rows += 1;
    if self.pending_rows < self.stride {
      return;
    }
    self.points.extend(self.pending.take());
    self.pending_rows = 0;
    if self.points.len() >= 2 * TIMELINE_POINTS {
      let pairs = self.points.chunks(2).map(|pair| *pair.iter().max_by_key(|(_, rss)| *rss).unwrap_or(&pair[0]));
      self.points = pairs.collect();
      self.stride *= 2;
    }
  }

  fn finish(mut self) -> Vec<(f64, u64)> {
    self.points.extend(self.pending.take());
    self.points
  }
}

/// Reads a whole log. A log that is damaged after its first row is still read up to the damage,
/// which the report names ([`LogReport::damage`]); one that is damaged before is an error.
pub fn read_log(input: impl BufRead) -> Result<LogReport, ReportError> {
  read_log_until(input, None)
}

/// Reads a log as [`read_log`] does, but only up to the first row whose RSS reaches
/// `stop_at_rss`, when one does: what the log says up to the moment a limit was crossed.
pub fn read_log_until(input: impl BufRead, stop_at_rss: Option<u64>) -> Result<LogReport, ReportError> {
  let mut report = LogReport {
    message: None,
    complete: false,
    events: 0,
    rows: 0,
    peak: None,
    first_rss: None,
    stopped: false,
    duration: 0.0,
    functions: Vec::new(),
    lines: Vec::new(),
    timeline: Vec::new(),
    jumps: Vec::new(),
    messages: Vec::new(),
    collections: Vec::new(),
    heap: Vec::new(),
    stacks: None,
    damage: None,
  };
  // Every `heap_stride`th HEAP row is kept, doubling as the series grows; and the last.
  let (mut heap_stride, mut heap_rows, mut heap_last) = (1u64, 0u64, None);
  let mut timeline = Timeline { points: Vec::new(), stride: 1, pending: None, pending_rows: 0 };
  let mut by_function: HashMap<(String, u32, String, bool, bool), usize> = HashMap::new();
  let mut by_line: HashMap<(String, u32), usize> = HashMap::new();
  let mut first_clock = None;
  let mut tree = StackTree::default();
  let mut reader = LogReader::new(input);
  loop {
    let started = reader.started();
    match reader.next_row() {
      Ok(Some(LogRow::Event(e))) => {
        report.rows += 1;
        first_clock.get_or_insert(e.clock);
        report.first_rss.get_or_insert(e.rss);
        report.duration = e.clock - first_clock.unwrap_or(e.clock);
        report.events = match e.kind {
          RowKind::Last => e.event.saturating_sub(1),
          _ => report.events.max(e.event),
        };
        let collection = if e.what == What::Gc { gc::parse(e.function) } else { None };
        // A GC row's Clock is when the collection started, before the rows above it perhaps:
        // the timeline keeps to the order of time.
        if collection.is_none() {
          timeline.push(e.clock, e.rss);
        }
        let node = (e.kind == RowKind::Next && (e.stack.is_some() || e.what == What::Gc)).then(|| tree.count(&e));
        // With stacks, growth seen at an entry is its caller's, when the caller is a function.
        let caller = node.filter(|_| e.what.is_entry()).and_then(|node| tree.top(node));
        let place = || Place {
          event: e.event,
          clock: e.clock,
          file: caller.map_or(e.file, |c| &c.file).to_string(),
          line: caller.map_or(e.line, |c| c.line),
          function: caller.map_or(e.function, |c| &c.function).to_string(),
        };
        if report.peak.as_ref().is_none_or(|(rss, _)| e.rss > *rss) {
          report.peak = Some((e.rss, place()));
        }
        if e.kind == RowKind::Next
          && fits_among_largest(&report.jumps, JUMPS, |j| j.d_rss.unsigned_abs(), e.d_rss.unsigned_abs())
        {
          keep_largest(
            &mut report.jumps,
            JUMPS,
            |j| j.d_rss.unsigned_abs(),
            Jump { d_rss: e.d_rss, rss: e.rss, place: place() },
          );
        }
        if e.kind == RowKind::Next && e.what == What::Line {
          let key = (e.file.to_string(), e.line);
          let at = *by_line.entry(key).or_insert_with(|| {
            report.lines.push(LineTotals {
              file: e.file.to_string(),
              line: e.line,
              function: e.function.to_string(),
              growth: 0,
              release: 0,
              rows: 0,
            });
            report.lines.len() - 1
          });
          let totals = &mut report.lines[at];
          count_row(&mut totals.growth, &mut totals.release, &mut totals.rows, e.d_rss);
        } else if e.kind == RowKind::Next {
          if let Some((kind, milliseconds)) = collection {
            let size = |c: &Collection| c.d_rss.unsigned_abs();
            if fits_among_largest(&report.collections, COLLECTIONS, size, e.d_rss.unsigned_abs()) {
              let gc = Collection { clock: e.clock, kind: kind.to_string(), milliseconds, rss: e.rss, d_rss: e.d_rss };
              keep_largest(&mut report.collections, COLLECTIONS, size, gc);
            }
          }
          // Collections are totalled by kind, whatever each lasted.
          let (mut file, mut line, mut function) = (e.file, e.line, collection.map_or(e.function, |(kind, _)| kind));
          let (mut at_entry, mut native) = (e.what.is_entry(), e.what.is_native());
          if let Some(caller) = caller {
            (file, line, function, at_entry, native) = (&caller.file, caller.line, &caller.function, false, false);
          }
          let key = (file.to_string(), line, function.to_string(), at_entry, native);
          let at = *by_function.entry(key).or_insert_with(|| {
            report.functions.push(FunctionTotals {
              file: file.to_string(),
              line,
              function: function.to_string(),
              at_entry,
              native,
              growth: 0,
              release: 0,
              rows: 0,
            });
            report.functions.len() - 1
          });
          let totals = &mut report.functions[at];
          count_row(&mut totals.growth, &mut totals.release, &mut totals.rows, e.d_rss);
        }
        if stop_at_rss.is_some_and(|limit| e.rss >= limit) {
          report.stopped = true;
          break;
        }
      }
      Ok(Some(LogRow::Message { event, clock, text, .. })) => {
        report.rows += 1;
        report.events = report.events.max(event);
        if report.messages.len() < MESSAGES {
          report.messages.push(Message { event, clock, text: text.to_string() });
        }
      }
      Ok(Some(LogRow::Heap { event, clock, heap, .. })) => {
        report.rows += 1;
        report.events = report.events.max(event);
        if heap_rows % heap_stride == 0 {
          report.heap.push((clock, heap));
          if report.heap.len() >= 2 * TIMELINE_POINTS {
            heap_stride *= 2;
            let mut keep = false;
            report.heap.retain(|_| {
              keep = !keep;
              keep
            });
          }
        }
        heap_rows += 1;
        heap_last = Some((clock, heap));
      }
      Ok(Some(LogRow::Stack { id, parent, file, line, function })) => tree.define(id, parent, file, line, function),
      Ok(Some(LogRow::End)) => report.complete = true,
      Ok(Some(LogRow::Start | LogRow::Header)) => {}
      Ok(None) => break,
      // Damage before the first row leaves nothing to report: the file is not a log.
      Err(err) if !started => return Err(err),
      Err(err) => {
        report.damage = Some(err);
        break;
      }
    }
  }
  report.message = reader.message().map(str::to_string);
  report.timeline = timeline.finish();
  report.stacks = (!tree.is_empty()).then_some(tree);
  if let Some(last) = heap_last.filter(|last| report.heap.last() != Some(last)) {
    report.heap.push(last);
  }
  // The order of the report's table: most growth first, then most release, then by name.
  report.lines.sort_by(|a, b| b.growth.cmp(&a.growth).then_with(|| (&a.file, a.line).cmp(&(&b.file, b.line))));
  report.functions.sort_by(|a, b| {
    (b.growth, b.release)
      .cmp(&(a.growth, a.release))
      .then_with(|| (&a.function, &a.file, a.line).cmp(&(&b.function, &b.file, b.line)))
  });
  Ok(report)
}

/// Whether something of `size` would be among the `limit` largest of `list` (largest first).
fn fits_among_largest<T>(list: &[T], limit: usize, size_of: impl Fn(&T) -> u64, size: u64) -> bool {
  list.len() < limit || list.last().is_some_and(|smallest| size > size_of(smallest))
}

/// Puts `item` into `list`, largest first by `size_of`, keeping the `limit` largest; an item
/// as large as one already there goes after it.
fn keep_largest<T>(list: &mut Vec<T>, limit: usize, size_of: impl Fn(&T) -> u64, item: T) {
  let size = size_of(&item);
  let at = list.partition_point(|other| size_of(other) >= size);
  list.insert(at, item);
  list.truncate(limit);
}

/// Counts one NEXT row into a total: its dRSS as growth or as release.
fn count_row(growth: &mut u64, release: &mut u64, rows: &mut u64, d_rss: i64) {
  *rows += 1;
  if d_rss >= 0 {
    *growth += d_rss as u64;
  } else {
    *release += d_rss.unsigned_abs();
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::format::{header, heap_row, message_row, RowWriter, What};
  use crate::reader::MAX_LINE;

  fn log(rows: &[(RowKind, u64, &str, u64, i64)], end: bool) -> String {
    let mut out = header(Some("run 1")).into_bytes();
    let mut writer = RowWriter::default();
    for &(kind, event, function, rss, d_rss) in rows {
      if kind == RowKind::Message {
        message_row(&mut out, event, 0, event * 1000, function);
        continue;
      }
      let site = RowWriter::site("/app/a.js", 3, function);
      let what = if function == "enter" { What::Call } else { What::Return };
      writer.event_row(&mut out, kind, event, 1, event * 1000, what, &site, rss, d_rss, None);
    }
    if end {
      out.extend_from_slice(b"EOF\n");
    }
    String::from_utf8(out).unwrap()
  }

  const ROWS: &[(RowKind, u64, &str, u64, i64)] = &[
    (RowKind::First, 0, "main", 1000, 1000),
    (RowKind::Next, 5, "grow", 9000, 8000),
    (RowKind::Prev, 9, "grow", 9000, 0),
    (RowKind::Next, 10, "grow", 13000, 4000),
    (RowKind::Message, 11, "checkpoint", 0, 0),
    (RowKind::Next, 20, "free", 5000, -8000),
    (RowKind::Last, 31, "main", 5000, 0),
  ];

  #[test]
  fn totals_by_function_peak_and_events() {
    let report = read_log(log(ROWS, true).as_bytes()).unwrap();
    assert_eq!(report.message.as_deref(), Some("run 1"));
    assert!(report.complete);
    assert_eq!((report.events, report.rows), (30, 7));
    let (peak, place) = report.peak.unwrap();
    assert_eq!((peak, place.event, place.function.as_str()), (13000, 10, "grow"));
    let totals: Vec<_> =
      report.functions.iter().map(|f| (f.function.as_str(), f.at_entry, f.growth, f.release, f.rows)).collect();
    assert_eq!(totals, [("grow", false, 12000, 0, 2), ("free", false, 0, 8000, 1)]);
    assert!((report.duration - 0.031).abs() < 1e-9);
  }

  #[test]
  fn reading_until_a_limit_stops_at_the_first_row_that_reaches_it() {
    let report = read_log_until(log(ROWS, true).as_bytes(), Some(9000)).unwrap();
    assert!(report.stopped && !report.complete);
    assert_eq!(report.first_rss, Some(1000));
    assert_eq!(report.peak.map(|(rss, at)| (rss, at.event)), Some((9000, 5)));
    let totals: Vec<_> = report.functions.iter().map(|f| (f.function.as_str(), f.growth)).collect();
    assert_eq!(totals, [("grow", 8000)]);
    let whole = read_log_until(log(ROWS, true).as_bytes(), Some(13001)).unwrap();
    assert!(!whole.stopped && whole.complete);
    assert_eq!(whole, read_log(log(ROWS, true).as_bytes()).unwrap());
  }

  #[test]
  fn functions_come_most_growth_first() {
    let rows = [
      (RowKind::First, 0, "main", 1000, 1000),
      (RowKind::Next, 1, "free", 500, -500),
      (RowKind::Next, 2, "small", 4596, 4096),
      (RowKind::Next, 3, "large", 12788, 8192),
      (RowKind::Last, 4, "main", 12788, 0),
    ];
    let report = read_log(log(&rows, true).as_bytes()).unwrap();
    let names: Vec<_> = report.functions.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, ["large", "small", "free"]);
  }

  #[test]
  fn the_timeline_is_thinned_without_losing_the_peak_and_jumps_are_the_largest() {
    let mut rows = vec![(RowKind::First, 0, "main", 1000, 1000)];
    let n = 3 * TIMELINE_POINTS as u64 + 17;
    for event in 1..=n {
      let rss = if event == 5000 { 90_000 } else { 1000 + event % 50 };
      rows.push((RowKind::Next, event, "f", rss, (event % 13) as i64 * if event % 2 == 0 { 1 } else { -1 }));
    }
    rows.push((RowKind::Last, n + 1, "main", 1000, 0));
    let report = read_log(log(&rows, true).as_bytes()).unwrap();
    assert!(report.timeline.len() <= 2 * TIMELINE_POINTS && report.timeline.len() >= TIMELINE_POINTS / 2);
    assert!(report.timeline.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(report.timeline.iter().map(|p| p.1).max(), Some(90_000));
    assert_eq!(report.jumps.len(), JUMPS);
    assert!(report.jumps.iter().all(|j| j.d_rss.unsigned_abs() == 12));
  }

  #[test]
  fn growth_seen_at_a_call_is_counted_apart_from_growth_inside() {
    let rows = [
      (RowKind::First, 0, "main", 1000, 1000),
      (RowKind::Next, 3, "enter", 9000, 8000),
      (RowKind::Next, 4, "enter", 9000 + 4096, 4096),
      (RowKind::Last, 5, "main", 9000, 0),
    ];
    let report = read_log(log(&rows, true).as_bytes()).unwrap();
    let totals: Vec<_> = report.functions.iter().map(|f| (f.function.as_str(), f.at_entry, f.growth)).collect();
    assert_eq!(totals, [("enter", true, 12096)]);
  }

  #[test]
  fn any_message_line_is_read_as_the_message() {
    for message in ["SOF", "{\"json\":1}", "EOF"] {
      let text = log(ROWS, true).replacen("run 1", message, 1);
      assert_eq!(read_log(text.as_bytes()).unwrap().message.as_deref(), Some(message));
    }
  }

  #[test]
  fn a_log_cut_short_is_read_and_said_to_be_incomplete() {
    let text = log(&ROWS[..4], false);
    let report = read_log(text.as_bytes()).unwrap();
    assert!(!report.complete);
    assert_eq!(report.events, 10);
  }

  #[test]
  fn a_log_damaged_before_its_first_row_is_an_error_naming_the_line() {
    let good = log(ROWS, true);
    let cases = [
      (good.replacen("SOF", "SOX", 1), 2, "does not start with SOF"),
      (good.replace("FRST:", "NEXT:"), 4, "the FRST: row was expected here"),
      (String::new(), 1, "not a memtrace log"),
    ];
    for (text, line, reason) in cases {
      let err = read_log(text.as_bytes()).unwrap_err();
      assert_eq!(err.line, line, "{err}");
      assert!(err.reason.contains(reason), "{err}");
    }
    let mut bytes = good.into_bytes();
    bytes[100] = 0xff;
    assert_eq!(read_log(&bytes[..]).unwrap_err().reason, "is not UTF-8 text");
  }

  #[test]
  fn a_log_damaged_after_its_first_row_is_read_up_to_the_damage() {
    let good = log(ROWS, true);
    let cut = &good[..good.find("NEXT: 10 ").unwrap() + 20];
    let nuls = format!("{}{}", &good[..good.find("MSG:").unwrap()], "\0".repeat(4 << 20));
    let long = format!("{}{}\n", &good[..good.find("MSG:").unwrap()], "x".repeat(MAX_LINE + 1));
    let cases = [
      (good.replacen("NEXT: 5 ", "NEXT: x ", 1), 5, "Event \"x\" is not a whole number", 1),
      (good.replacen("EOF", "EOF\nNEXT: 1", 1), 12, "comes after EOF", 7),
      (format!("{}garbage\n", &good[..good.len() - 4]), 11, "does not start with SOF, HEDR:", 7),
      (cut.to_string(), 7, "the row is cut short (was the file truncated?)", 3),
      (nuls, 8, "holds NUL bytes", 4),
      (long, 8, "is longer than 1 MiB", 4),
    ];
    for (text, line, reason, rows) in cases {
      let report = read_log(text.as_bytes()).unwrap();
      let damage = report.damage.expect("damage is reported");
      assert_eq!(damage.line, line, "{damage}");
      assert!(damage.reason.contains(reason), "{damage}");
      assert_eq!(report.rows, rows, "the rows before line {line} are read");
    }
  }

  #[test]
  fn line_rows_are_totalled_by_line_not_by_function() {
    let mut out = header(None).into_bytes();
    let mut writer = RowWriter::default();
    let rows = [
      (RowKind::First, 0, What::Line, 3, 1000, 1000),
      (RowKind::Next, 1, What::Line, 4, 9192, 8192),
      (RowKind::Next, 2, What::Line, 5, 13288, 4096),
      (RowKind::Next, 3, What::Line, 4, 17384, 4096),
      (RowKind::Next, 4, What::Return, 2, 13288, -4096),
      (RowKind::Last, 5, What::Line, 9, 13288, 0),
    ];
    for (kind, event, what, line, rss, d_rss) in rows {
      let site = RowWriter::site("/app/a.js", line, "work");
      writer.event_row(&mut out, kind, event, 1, event * 1000, what, &site, rss, d_rss, None);
    }
    out.extend_from_slice(b"EOF\n");
    let report = read_log(&out[..]).unwrap();
    let lines: Vec<_> = report.lines.iter().map(|l| (l.line, l.function.as_str(), l.growth, l.rows)).collect();
    assert_eq!(lines, [(4, "work", 12288, 2), (5, "work", 4096, 1)]);
    let functions: Vec<_> = report.functions.iter().map(|f| (f.line, f.release)).collect();
    assert_eq!(functions, [(2, 4096)], "only the RETURN row is the function's");
  }

  #[test]
  fn messages_are_kept_as_written() {
    let report = read_log(log(ROWS, true).as_bytes()).unwrap();
    assert_eq!(report.messages, [Message { event: 11, clock: 0.011, text: "checkpoint".into() }]);
  }

  #[test]
  fn gc_rows_are_totalled_by_kind_kept_as_collections_and_left_off_the_timeline() {
    let mut out = header(None).into_bytes();
    let mut writer = RowWriter::default();
    let main = RowWriter::site("/app/a.js", 3, "main");
    writer.event_row(&mut out, RowKind::First, 0, 0, 0, What::Line, &main, 1 << 20, 1 << 20, None);
    writer.event_row(&mut out, RowKind::Next, 1, 1, 5000, What::Return, &main, 9 << 20, 8 << 20, None);
    // Collections reported after the row above, started before it.
    for (event, kind, duration_us, d_rss) in [(2, 0, 412, -(2 << 20)), (3, 2, 9000, -(4 << 20)), (4, 0, 300, 1 << 20)] {
      let site = RowWriter::site(gc::FILE, 0, &gc::function(kind, duration_us));
      writer.event_row(&mut out, RowKind::Next, event, 1, 4000, What::Gc, &site, 4 << 20, d_rss, None);
    }
    for (event, used) in [(2, 3 << 20), (4, 5 << 20)] {
      heap_row(
        &mut out,
        event,
        0,
        4100,
        Heap { used, total: 8 << 20, external: 1 << 20, array_buffers: Some(1 << 19) },
      );
    }
    writer.event_row(&mut out, RowKind::Last, 5, 1, 6000, What::Line, &main, 4 << 20, 0, None);
    out.extend_from_slice(b"EOF\n");
    let report = read_log(out.as_slice()).unwrap();
    let scavenge = report.functions.iter().find(|f| f.function == "scavenge").unwrap();
    assert_eq!(
      (scavenge.file.as_str(), scavenge.rows, scavenge.growth, scavenge.release),
      (gc::FILE, 2, 1 << 20, 2 << 20)
    );
    let kinds: Vec<_> = report.collections.iter().map(|c| (c.kind.as_str(), c.milliseconds, c.d_rss)).collect();
    assert_eq!(kinds, [("mark-compact", 9.0, -(4 << 20)), ("scavenge", 0.412, -(2 << 20)), ("scavenge", 0.3, 1 << 20)]);
    assert!(report.timeline.windows(2).all(|w| w[0].0 <= w[1].0), "{:?}", report.timeline);
    assert_eq!(report.heap.iter().map(|(_, heap)| heap.used).collect::<Vec<_>>(), [3 << 20, 5 << 20]);
    assert_eq!(report.rows, 8);
  }
}
