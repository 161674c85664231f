//! The Chrome trace: the log in the Trace Event Format (the JSON object form, `traceEvents`),
//! which Perfetto and `chrome://tracing` open. RSS is a counter track; each logged row an
//! instant event on the thread's track, named by its function, with where it is, how RSS moved
//! and (in a log with stacks) the stack it happened in, outermost first, in its args; a GC row a complete event as long as the collection; HEAP rows a second
//! counter track; MSG rows instant events across the process. Several logs go in one trace, a
//! thread track each (the logs of one process on one timeline, as `memtrace report` joins them).
//! Timestamps are microseconds.

use std::io::{BufRead, Write};

use super::{ExportError, Exported};
use crate::format::jsonl::Object;
use crate::format::{gc, LogRow, What};
use crate::reader::LogReader;
use crate::stacks::StackTree;

/// One log of a trace: its rows go on thread `tid` of process `pid`, `offset` seconds after the
/// trace's zero (the log's Clock counts from its own start), on tracks named `process` and
/// `thread`.
pub struct Track<'a> {
  pub pid: u32,
  pub tid: u32,
  pub offset: f64,
  pub process: &'a str,
  pub thread: &'a str,
}

/// A Chrome trace being written to `out`, a log at a time.
pub struct Trace<W: Write> {
  out: W,
  entries: u64,
  /// Processes and threads whose track is named already.
  named: Vec<(u32, Option<u32>)>,
}

impl<W: Write> Trace<W> {
  pub fn start(mut out: W) -> std::io::Result<Self> {
    out.write_all(b"{\"traceEvents\":[\n")?;
    Ok(Trace { out, entries: 0, named: Vec::new() })
  }

  /// Adds the log read from `input` on `track`: what it wrote of it, and where the log was
  /// damaged, if it was (the rows above the damage are in).
  pub fn add(&mut self, input: impl BufRead, track: &Track) -> Result<Exported, ExportError> {
    let entries_before = self.entries;
    let (pid, tid) = (track.pid, track.tid);
    let event = |name: &str, ph: &str, clock: f64| {
      Object::new()
        .string("name", name)
        .string("ph", ph)
        .number("ts", (track.offset + clock) * 1e6)
        .number("pid", pid)
        .number("tid", tid)
    };
    for (key, name, label) in
      [((pid, None), "process_name", track.process), ((pid, Some(tid)), "thread_name", track.thread)]
    {
      if !self.named.contains(&key) {
        self.named.push(key);
        let args = Object::new().string("name", label).finish_inline();
        self.emit(event(name, "M", 0.0).raw("args", &args))?;
      }
    }
    let mut reader = LogReader::new(input);
    let mut stacks = StackTree::default();
    // Each stack's text, made once: rows repeat their stacks.
    let mut stack_text: std::collections::HashMap<u64, String> = std::collections::HashMap::new();
    let mut damage = None;
    loop {
      let started = reader.started();
      match reader.next_row() {
        Ok(Some(LogRow::Event(e))) => {
          let rss = Object::new().number("RSS", e.rss).finish_inline();
          self.emit(event("RSS", "C", e.clock).raw("args", &rss))?;
          let mut args = Object::new()
            .string("what", e.what.name())
            .string("file", e.file)
            .number("line", e.line)
            .number("event", e.event)
            .number("RSS", e.rss)
            .number("dRSS", e.d_rss);
          if let Some(id) = e.stack {
            let text = stack_text.entry(id).or_insert_with(|| {
              let path = stacks.path(stacks.node_of(id));
              let names: Vec<String> = path.iter().map(|f| format!("{} ({}:{})", f.function, f.file, f.line)).collect();
              names.join(" → ")
            });
            args = args.string("stack", text);
          }
          let args = args.finish_inline();
          let row = match (e.what, gc::parse(e.function)) {
            (What::Gc, Some((kind, ms))) => event(kind, "X", e.clock).string("cat", "GC").number("dur", ms * 1e3),
            _ => event(e.function, "i", e.clock).string("cat", e.what.name()).string("s", "t"),
          };
          self.emit(row.raw("args", &args))?;
        }
        Ok(Some(LogRow::Heap { clock, heap, .. })) => {
          let mut args =
            Object::new().number("used", heap.used).number("total", heap.total).number("external", heap.external);
          if let Some(bytes) = heap.array_buffers {
            args = args.number("arrayBuffers", bytes);
          }
          let args = args.finish_inline();
          self.emit(event("V8 heap", "C", clock).raw("args", &args))?;
        }
        Ok(Some(LogRow::Message { clock, text, .. })) => {
          self.emit(event(text, "i", clock).string("cat", "MSG").string("s", "p"))?;
        }
        Ok(Some(LogRow::Stack { id, parent, file, line, function })) => stacks.define(id, parent, file, line, function),
        Ok(Some(LogRow::Start | LogRow::Header | LogRow::End)) => {}
        Ok(None) => break,
        Err(err) if !started => return Err(ExportError::Log(err)),
        Err(err) => {
          damage = Some(err);
          break;
        }
      }
    }
    Ok(Exported { entries: self.entries - entries_before, damage })
  }

  /// Ends the trace.
  pub fn finish(mut self) -> std::io::Result<()> {
    self.out.write_all(b"\n],\"displayTimeUnit\":\"ms\"}\n")?;
    self.out.flush()
  }

  /// Writes one trace event, after a comma unless it is the first.
  fn emit(&mut self, object: Object) -> std::io::Result<()> {
    if self.entries > 0 {
      self.out.write_all(b",\n")?;
    }
    self.entries += 1;
    self.out.write_all(object.finish_inline().as_bytes())
  }
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
    writer.event_row(&mut log, RowKind::First, 0, 0, 0, What::Line, &main, 1 << 20, 1 << 20, None);
    writer.event_row(&mut log, RowKind::Next, 1, 1, 1500, What::Return, &main, 3 << 20, 2 << 20, None);
    let site = RowWriter::site(gc::FILE, 0, &gc::function(0, 2500));
    writer.event_row(&mut log, RowKind::Next, 1, 0, 1000, What::Gc, &site, 2 << 20, -(1 << 20), None);
    heap_row(&mut log, 1, 0, 3500, Heap { used: 5, total: 8, external: 1, array_buffers: None });
    message_row(&mut log, 1, 0, 4000, "a \"quoted\" mark");
    writer.event_row(&mut log, RowKind::Last, 2, 1, 5000, What::Line, &main, 2 << 20, 0, None);
    log.extend_from_slice(b"EOF\n");

    let mut out = Vec::new();
    let mut trace = Trace::start(&mut out).unwrap();
    let track = Track { pid: 42, tid: 7, offset: 0.0, process: "memtrace: a.log", thread: "worker 7" };
    let exported = trace.add(log.as_slice(), &track).unwrap();
    trace.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("{\"traceEvents\":[\n") && text.ends_with("\n],\"displayTimeUnit\":\"ms\"}\n"), "{text}");
    let lines: Vec<&str> =
      text.lines().skip(1).filter(|l| l.starts_with('{')).map(|l| l.trim_end_matches(',')).collect();
    assert_eq!(lines.len() as u64, exported.entries);
    assert_eq!(exported.entries, 2 + 4 * 2 + 1 + 1);
    assert_eq!(
      lines[0],
      r#"{"name":"process_name","ph":"M","ts":0,"pid":42,"tid":7,"args":{"name":"memtrace: a.log"}}"#
    );
    assert_eq!(lines[1], r#"{"name":"thread_name","ph":"M","ts":0,"pid":42,"tid":7,"args":{"name":"worker 7"}}"#);
    assert_eq!(lines[4], r#"{"name":"RSS","ph":"C","ts":1500,"pid":42,"tid":7,"args":{"RSS":3145728}}"#);
    assert!(lines[5].starts_with(r#"{"name":"main","ph":"i","ts":1500,"pid":42,"tid":7,"cat":"RETURN","s":"t","args":{"what":"RETURN","file":"/app/a.js","line":3"#));
    assert!(
      lines[7].starts_with(r#"{"name":"scavenge","ph":"X","ts":1000,"pid":42,"tid":7,"cat":"GC","dur":2500,"#),
      "{}",
      lines[7]
    );
    assert_eq!(
      lines[8],
      r#"{"name":"V8 heap","ph":"C","ts":3500,"pid":42,"tid":7,"args":{"used":5,"total":8,"external":1}}"#
    );
    assert_eq!(lines[9], r#"{"name":"a \"quoted\" mark","ph":"i","ts":4000,"pid":42,"tid":7,"cat":"MSG","s":"p"}"#);
    assert_eq!(exported.damage, None);

    // A second log of the process goes on a track of its own, at its offset; the process's
    // track is named once.
    let mut out = Vec::new();
    let mut trace = Trace::start(&mut out).unwrap();
    trace.add(log.as_slice(), &track).unwrap();
    let second = trace.add(log.as_slice(), &Track { tid: 8, offset: 2.0, thread: "worker 8", ..track }).unwrap();
    trace.finish().unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(second.entries, exported.entries - 1);
    assert_eq!(text.matches("\"process_name\"").count(), 1);
    assert!(text.contains(r#"{"name":"RSS","ph":"C","ts":2001500,"pid":42,"tid":8,"args":{"RSS":3145728}}"#));
  }

  #[test]
  fn a_damaged_log_exports_up_to_the_damage_and_no_log_is_an_error() {
    let mut log = header(None).into_bytes();
    let main = RowWriter::site("/app/a.js", 3, "main");
    RowWriter::default().event_row(&mut log, RowKind::First, 0, 0, 0, What::Line, &main, 1 << 20, 1 << 20, None);
    log.extend_from_slice(b"garbage\n");
    let track = Track { pid: 1, tid: 0, offset: 0.0, process: "x", thread: "main" };
    let mut out = Vec::new();
    let mut trace = Trace::start(&mut out).unwrap();
    let exported = trace.add(log.as_slice(), &track).unwrap();
    assert_eq!(exported.damage.unwrap().line, 4);
    assert!(matches!(trace.add(&b"not a log\n"[..], &track), Err(ExportError::Log(_))));
    trace.finish().unwrap();
    // The rows above the damage, in a trace that is still whole.
    assert_eq!(exported.entries, 4);
    assert!(String::from_utf8(out).unwrap().ends_with("\n],\"displayTimeUnit\":\"ms\"}\n"));
  }
}
