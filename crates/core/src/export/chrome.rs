//! The Chrome trace: the log in the Trace Event Format (the JSON object form, `traceEvents`),
//! which Perfetto and `chrome://tracing` open. RSS is a counter track; each logged row an
//! instant event on the thread's track, named by its function, with where it is and how RSS
//! moved in its args; a GC row a complete event as long as the collection; HEAP rows a second
//! counter track; MSG rows instant events across the process. Timestamps are the log's Clock,
//! in microseconds.

use std::io::{BufRead, Write};

use super::{ExportError, Exported};
use crate::format::jsonl::Object;
use crate::format::{gc, LogRow, What};
use crate::reader::LogReader;

/// Writes the log read from `input` as a Chrome trace to `out`, on process `pid` and thread
/// `tid` (the log's), with `name` for the process track.
pub fn write(input: impl BufRead, mut out: impl Write, pid: u32, tid: u32, name: &str) -> Result<Exported, ExportError> {
  let mut reader = LogReader::new(input);
  let mut exported = Exported { entries: 0, damage: None };
  let event = |name: &str, ph: &str, clock: f64| {
    Object::new().string("name", name).string("ph", ph).number("ts", clock * 1e6).number("pid", pid).number("tid", tid)
  };
  out.write_all(b"{\"traceEvents\":[\n")?;
  let process = Object::new().string("name", name).finish_inline();
  emit(&mut out, event("process_name", "M", 0.0).raw("args", &process), &mut exported)?;
  loop {
    let started = reader.started();
    match reader.next_row() {
      Ok(Some(LogRow::Event(e))) => {
        let rss = Object::new().number("RSS", e.rss).finish_inline();
        emit(&mut out, event("RSS", "C", e.clock).raw("args", &rss), &mut exported)?;
        let args = Object::new()
          .string("what", e.what.name())
          .string("file", e.file)
          .number("line", e.line)
          .number("event", e.event)
          .number("RSS", e.rss)
          .number("dRSS", e.d_rss)
          .finish_inline();
        let row = match (e.what, gc::parse(e.function)) {
          (What::Gc, Some((kind, ms))) => event(kind, "X", e.clock).string("cat", "GC").number("dur", ms * 1e3),
          _ => event(e.function, "i", e.clock).string("cat", e.what.name()).string("s", "t"),
        };
        emit(&mut out, row.raw("args", &args), &mut exported)?;
      }
      Ok(Some(LogRow::Heap { clock, heap, .. })) => {
        let args = Object::new().number("used", heap.used).number("total", heap.total).number("external", heap.external).finish_inline();
        emit(&mut out, event("V8 heap", "C", clock).raw("args", &args), &mut exported)?;
      }
      Ok(Some(LogRow::Message { clock, text, .. })) => {
        emit(&mut out, event(text, "i", clock).string("cat", "MSG").string("s", "p"), &mut exported)?;
      }
      Ok(Some(LogRow::Start | LogRow::Header | LogRow::End)) => {}
      Ok(None) => break,
      Err(err) if !started => return Err(ExportError::Log(err)),
      Err(err) => {
        exported.damage = Some(err);
        break;
      }
    }
  }
  out.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n")?;
  out.flush()?;
  Ok(exported)
}

/// Writes one trace event, after a comma unless it is the first.
fn emit(out: &mut impl Write, object: Object, exported: &mut Exported) -> std::io::Result<()> {
  if exported.entries > 0 {
    out.write_all(b",\n")?;
  }
  exported.entries += 1;
  out.write_all(object.finish_inline().as_bytes())
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::format::{header, heap_row, message_row, Heap, RowKind, RowWriter};

  #[test]
  fn rows_become_counters_instants_and_complete_events() {
    let mut log = header(None).into_bytes();
    let mut writer = RowWriter::default();
    let main = RowWriter::site("/app/a.js", 3, "main");
    writer.event_row(&mut log, RowKind::First, 0, 0, 0, What::Line, &main, 1 << 20, 1 << 20);
    writer.event_row(&mut log, RowKind::Next, 1, 1, 1500, What::Return, &main, 3 << 20, 2 << 20);
    let site = RowWriter::site(gc::FILE, 0, &gc::function(0, 2500));
    writer.event_row(&mut log, RowKind::Next, 1, 0, 1000, What::Gc, &site, 2 << 20, -(1 << 20));
    heap_row(&mut log, 1, 0, 3500, Heap { used: 5, total: 8, external: 1 });
    message_row(&mut log, 1, 0, 4000, "a \"quoted\" mark");
    writer.event_row(&mut log, RowKind::Last, 2, 1, 5000, What::Line, &main, 2 << 20, 0);
    log.extend_from_slice(b"EOF\n");

    let mut out = Vec::new();
    let exported = write(log.as_slice(), &mut out, 42, 7, "memtrace: a.log").unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("{\"traceEvents\":[\n") && text.ends_with("\n],\"displayTimeUnit\":\"ms\"}\n"), "{text}");
    let lines: Vec<&str> = text.lines().skip(1).filter(|l| l.starts_with('{')).map(|l| l.trim_end_matches(',')).collect();
    assert_eq!(lines.len() as u64, exported.entries);
    assert_eq!(exported.entries, 1 + 4 * 2 + 1 + 1);
    assert_eq!(lines[0], r#"{"name":"process_name","ph":"M","ts":0,"pid":42,"tid":7,"args":{"name":"memtrace: a.log"}}"#);
    assert_eq!(lines[3], r#"{"name":"RSS","ph":"C","ts":1500,"pid":42,"tid":7,"args":{"RSS":3145728}}"#);
    assert!(lines[4].starts_with(r#"{"name":"main","ph":"i","ts":1500,"pid":42,"tid":7,"cat":"RETURN","s":"t","args":{"what":"RETURN","file":"/app/a.js","line":3"#));
    assert!(lines[6].starts_with(r#"{"name":"scavenge","ph":"X","ts":1000,"pid":42,"tid":7,"cat":"GC","dur":2500,"#), "{}", lines[6]);
    assert_eq!(lines[7], r#"{"name":"V8 heap","ph":"C","ts":3500,"pid":42,"tid":7,"args":{"used":5,"total":8,"external":1}}"#);
    assert_eq!(lines[8], r#"{"name":"a \"quoted\" mark","ph":"i","ts":4000,"pid":42,"tid":7,"cat":"MSG","s":"p"}"#);
    assert_eq!(exported.damage, None);
  }

  #[test]
  fn a_damaged_log_exports_up_to_the_damage_and_no_log_is_an_error() {
    let mut log = header(None).into_bytes();
    let main = RowWriter::site("/app/a.js", 3, "main");
    RowWriter::default().event_row(&mut log, RowKind::First, 0, 0, 0, What::Line, &main, 1 << 20, 1 << 20);
    log.extend_from_slice(b"garbage\n");
    let mut out = Vec::new();
    let exported = write(log.as_slice(), &mut out, 1, 0, "x").unwrap();
    assert_eq!(exported.damage.unwrap().line, 4);
    // The rows above the damage, in a trace that is still whole.
    assert_eq!(exported.entries, 3);
    assert!(String::from_utf8(out).unwrap().ends_with("\n],\"displayTimeUnit\":\"ms\"}\n"));
    assert!(matches!(write(&b"not a log\n"[..], Vec::new(), 1, 0, "x"), Err(ExportError::Log(_))));
  }
}
