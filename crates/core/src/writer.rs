//! The writer: a thread that drains a profiler's ring, turns records into rows and writes them.
//!
//! Formatting and I/O happen here, never on the JS thread. Rows go into a buffer that is written
//! whole rows at a time, when it is large or at least every [`FLUSH_EVERY`], through
//! [`PagedLines`], so that a process killed at any moment leaves a file whose every line is
//! complete. When the ring is full, JS waits ([`WriterControl::wait_for_space`]); nothing is ever
//! dropped.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crate::format::binary::Encoder;
use crate::format::{
  gc, header, heap_row, message_row, text, At, Heap, PagedRow, RowKind, RowWriter, What, END_OF_FILE,
};
use crate::functions;
use crate::ring::{BadRecord, Record, Ring};
use crate::rss;
use crate::sink::{PagedLines, Sink};

/// The longest a row waits in the writer's buffer.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How long the writer sleeps when the ring is empty.
const POLL: Duration = Duration::from_millis(2);
/// Rows are written out once this many bytes are waiting.
const BUFFER_BYTES: usize = 256 * 1024;

/// What the writer has been asked to do, shared with the threads that ask.
pub struct WriterControl {
  /// 0: keep going; -1: finish once the ring is empty (JS has written LAST);
  /// a signal number: finish now and write LAST ourselves, the process is about to die.
  state: AtomicI32,
  /// The profiler is suspended (another records the thread): with nothing to read, the writer
  /// looks as seldom as rows must reach the file, not every few milliseconds.
  suspended: AtomicBool,
  thread: Mutex<Option<Thread>>,
  space: (Mutex<()>, Condvar),
  messages: Mutex<VecDeque<String>>,
  /// Garbage collections seen on the JS thread, oldest first, for GC rows among the events,
  /// and how many there are (so that the writer looks at the queue only when it holds some).
  collections: Mutex<VecDeque<Collection>>,
  queued: AtomicUsize,
}

/// A garbage collection of the recorded thread, to be written as a GC row where it happened
/// among the events (see `format::gc`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Collection {
  /// Events JS had counted when it ran: its row goes after theirs.
  pub after_event: u64,
  /// When it started, seconds on the log's clock.
  pub clock: f64,
  /// `format::gc::KINDS` index.
  pub kind: u8,
  pub duration_us: u64,
  /// RSS just before it and just after it.
  pub rss_before_pages: u64,
  pub rss_pages: u64,
  /// The dRSS filter, as JS applies it to events: the row is written when RSS has moved this
  /// many pages since the last logged row.
  pub trigger_pages: u64,
  /// V8's heap just after it, for a HEAP row (always written).
  pub heap: Option<Heap>,
}

const RUNNING: i32 = 0;
const FINISH: i32 = -1;

impl WriterControl {
  fn wake(&self) {
    if let Some(thread) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
      thread.unpark();
    }
  }

  pub fn suspend(&self) {
    self.suspended.store(true, Ordering::Release);
  }

  pub fn resume(&self) {
    self.suspended.store(false, Ordering::Release);
    self.wake();
  }

  /// Queues the text of the next MSG record JS writes.
  pub fn push_message(&self, text: String) {
    self.messages.lock().unwrap_or_else(|p| p.into_inner()).push_back(text);
  }

  /// Queues a GC row (called on the JS thread, from V8's GC callbacks): the writer puts it among
  /// the events. Nothing is queued while suspended, as no event is recorded then.
  pub fn push_collection(&self, collection: Collection) {
    if !self.suspended.load(Ordering::Acquire) {
      self.collections.lock().unwrap_or_else(|p| p.into_inner()).push_back(collection);
      self.queued.fetch_add(1, Ordering::Release);
    }
  }

  /// Blocks the calling (JS) thread until the ring has room or the log is closed.
  #[cold]
  pub fn wait_for_space(&self, ring: &Ring) {
    let (lock, ready) = &self.space;
    let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
    while ring.head().wrapping_sub(ring.tail()) >= ring.capacity() && !ring.is_closed() {
      self.wake();
      guard = ready.wait_timeout(guard, POLL).unwrap_or_else(|p| p.into_inner()).0;
    }
  }

  fn space_freed(&self) {
    let _guard = self.space.0.lock().unwrap_or_else(|p| p.into_inner());
    self.space.1.notify_all();
  }

  /// Asks the writer to finish once it has written everything JS published.
  pub fn finish(&self) {
    let _ = self.state.compare_exchange(RUNNING, FINISH, Ordering::Release, Ordering::Relaxed);
    self.wake();
  }

  /// Asks the writer to finish at once because the process got `signal`; it writes the LAST
  /// row itself, naming the signal.
  pub fn finish_for_signal(&self, signal: i32) {
    self.state.store(signal, Ordering::Release);
    self.wake();
  }
}

/// What a finished log holds, for the one-line summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
  pub events: u64,
  /// FRST, NEXT, PREV, MSG and LAST rows.
  pub rows: u64,
  pub peak_rss: u64,
  /// The function whose NEXT rows add up to the largest growth, whether at its entry (see
  /// `report`), and that growth in bytes.
  pub top_growth: Option<(u64, bool, i64)>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
  #[error("cannot write the log: {0}")]
  Io(#[from] io::Error),
  #[error(transparent)]
  BadRecord(#[from] BadRecord),
}

/// A started writer thread.
pub struct Writer {
  pub control: Arc<WriterControl>,
  thread: JoinHandle<Result<Summary, WriteError>>,
}

impl Writer {
  /// Writes the header now (so an unwritable sink fails here, before tracing starts), then
  /// starts the thread. `name` is the log's, for the line on stderr that says when writing it
  /// failed.
  pub fn start(
    ring: Arc<Ring>,
    sink: Box<dyn Sink>,
    message: Option<&str>,
    name: &str,
    format: LogFormat,
  ) -> Result<Writer, WriteError> {
    let page = rss::page_size();
    let encoding = Encoding::new(format);
    let file = PagedLines::new(sink, page, BUFFER_BYTES + 4096, &Encoding::head(format, page, message))?;
    let control = Arc::new(WriterControl {
      state: AtomicI32::new(RUNNING),
      suspended: AtomicBool::new(false),
      thread: Mutex::new(None),
      space: (Mutex::new(()), Condvar::new()),
      messages: Mutex::new(VecDeque::new()),
      collections: Mutex::new(VecDeque::new()),
      queued: AtomicUsize::new(0),
    });
    let state = Drain {
      ring,
      file,
      control: control.clone(),
      encoding,
      page,
      reference: (0, 0),
      summary: Summary { events: 0, rows: 0, peak_rss: 0, top_growth: None },
      growth: HashMap::new(),
      stacks: HashMap::new(),
      last_write: Instant::now(),
      name: name.to_string(),
      last_row: (0, 0),
      rss_failures_seen: 0,
    };
    let thread = std::thread::Builder::new().name("memtrace-writer".into()).spawn(move || state.run())?;
    *control.thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(thread.thread().clone());
    Ok(Writer { control, thread })
  }

  /// Waits for the writer to end the log (after [`WriterControl::finish`]).
  pub fn join(self) -> Result<Summary, WriteError> {
    self.control.finish();
    self.thread.join().unwrap_or_else(|_| Err(io::Error::other("the memtrace writer thread panicked").into()))
  }

  #[cfg(test)]
  fn is_finished(&self) -> bool {
    self.thread.is_finished()
  }
}

struct Drain {
  ring: Arc<Ring>,
  file: PagedLines,
  control: Arc<WriterControl>,
  encoding: Encoding,
  page: u64,
  /// Event and RSS (pages) of the last FRST or NEXT row: what dEvent and dRSS count from.
  reference: (u64, u64),
  summary: Summary,
  growth: HashMap<(u64, bool), i64>,
  /// The stacks of the log, as STCK records define them: parent and top function, by id.
  stacks: HashMap<u64, (u64, u64)>,
  last_write: Instant,
  name: String,
  /// Event and clock (µs) of the last row written, where a MSG row of the writer's own goes.
  last_row: (u64, u64),
  rss_failures_seen: u64,
}

impl Drain {
  fn run(mut self) -> Result<Summary, WriteError> {
    /// Whatever happens, panics included, JS must not wait on this writer any more.
    struct Closing(Arc<Ring>, Arc<WriterControl>);
    impl Drop for Closing {
      fn drop(&mut self) {
        self.0.close();
        self.1.space_freed();
      }
    }
    let closing = Closing(self.ring.clone(), self.control.clone());
    let result = self.drain_until_done();
    drop(closing);
    if let Err(err) = &result {
      // Said at once, not at exit: the program goes on untraced (the closed ring turns the hot
      // path off), and whoever watches it should know why the log stops here.
      let what = match err {
        WriteError::Io(io) => format!("cannot write {}: {io}", self.name),
        other => format!("{}: {other}", self.name),
      };
      eprintln!("memtrace: {what}; the log stops here and the program goes on untraced");
    }
    result?;
    self.summary.events = self.summary.events.max(self.ring.events());
    self.summary.peak_rss = self.summary.peak_rss.max(rss::peak().unwrap_or(0));
    self.summary.top_growth = self
      .growth
      .iter()
      .max_by_key(|((id, entry), bytes)| (**bytes, std::cmp::Reverse((*id, *entry))))
      .map(|((id, entry), bytes)| (*id, *entry, *bytes));
    Ok(self.summary)
  }

  fn drain_until_done(&mut self) -> Result<(), WriteError> {
    loop {
      let state = self.control.state.load(Ordering::Acquire);
      // Read before the head: once JS has counted event n, the records of the events before it
      // are published, but for the PREV row of n - 1, which goes with n's NEXT row.
      let counted = self.ring.events();
      let head = self.ring.head();
      let mut tail = self.ring.tail();
      let mut saw_last = false;
      while tail != head {
        let record = self.ring.read(tail)?;
        saw_last |= record.row == RowKind::Last;
        // A collection that ran just before event n goes before the PREV row of n - 1, which
        // must stay next to the NEXT row of n.
        match record.row {
          // A STCK record holds no event number, and goes right before the row that needs it.
          RowKind::Stack => {}
          RowKind::Prev => self.collections_before(record.event + 1),
          _ => self.collections_before(record.event),
        }
        self.row(&record);
        tail = tail.wrapping_add(1);
        if self.file.buffered() >= BUFFER_BYTES {
          self.write_out()?;
        }
      }
      self.ring.set_tail(tail);
      self.control.space_freed();
      if saw_last {
        break;
      }
      if state == FINISH && self.ring.head() == tail {
        // Asked to finish without a LAST from JS: the thread that traced is gone (a worker
        // ended by terminate(), a profiler dropped unstopped).
        self.synthetic_last("<terminated>", "<not stopped>".into());
        break;
      }
      if state > 0 {
        self.synthetic_last("<signal>", format!("<{}>", signal_name(state)));
        break;
      }
      self.collections_before(counted);
      self.mark_rss_failures();
      let suspended = self.control.suspended.load(Ordering::Acquire);
      if self.file.buffered() > 0 && (suspended || self.last_write.elapsed() >= FLUSH_EVERY) {
        self.write_out()?;
      }
      if self.ring.head() == tail {
        // Suspended, the ring only takes a rare MSG or LAST, and JS wakes the writer to finish.
        std::thread::park_timeout(if suspended { FLUSH_EVERY } else { POLL });
      }
    }
    self.encoding.end(&mut self.file);
    self.write_out()?;
    self.file.close()?;
    Ok(())
  }

  /// When reading RSS has failed since the last look, a MSG row says so, where it happened:
  /// the rows after it show the last RSS read.
  fn mark_rss_failures(&mut self) {
    if self.ring.rss_failure_count() == self.rss_failures_seen {
      return;
    }
    let (failures, error) = self.ring.rss_failures();
    self.rss_failures_seen = failures;
    let text = format!(
      "memtrace: RSS could not be read ({failures} times so far: {}); the rows that follow show the last RSS read until it can",
      error.unwrap_or_default()
    );
    let (event, clock_us) = self.last_row;
    let d_event = event.saturating_sub(self.reference.0);
    self.summary.rows += 1;
    self.encoding.message(&mut self.file, At { event, d_event, clock_us }, &text::escape_str(&text));
  }

  fn write_out(&mut self) -> io::Result<()> {
    self.file.flush()?;
    self.last_write = Instant::now();
    Ok(())
  }

  fn row(&mut self, record: &Record) {
    if record.row == RowKind::Stack {
      // A definition, not a row of the event stream: no row, no clock.
      self.stacks.insert(record.stack.unwrap_or(0), (record.event, record.id));
      self.encoding.stack(&mut self.file, record.stack.unwrap_or(0), record.event, record.id);
      return;
    }
    self.summary.rows += 1;
    let clock_us = (record.clock.max(0.0) * 1e6).round() as u64;
    self.last_row = (record.event, clock_us);
    let (ref_event, ref_pages) = self.reference;
    let d_event = record.event.saturating_sub(ref_event);
    if record.row == RowKind::Message {
      let text = self.control.messages.lock().unwrap_or_else(|p| p.into_inner()).pop_front().unwrap_or_default();
      self.encoding.message(&mut self.file, At { event: record.event, d_event, clock_us }, &text);
      return;
    }
    let rss = record.rss_pages * self.page;
    self.summary.peak_rss = self.summary.peak_rss.max(rss);
    let (d_event, d_pages) = match record.row {
      // FRST counts from zero, as the seed's first row does.
      RowKind::First => (0, record.rss_pages as i64),
      _ => (d_event, record.rss_pages as i64 - ref_pages as i64),
    };
    let d_rss = d_pages * self.page as i64;
    if matches!(record.row, RowKind::First | RowKind::Next) {
      self.reference = (record.event, record.rss_pages);
    }
    if record.row == RowKind::Next && d_rss > 0 {
      *self.growth.entry(self.made_by(record)).or_default() += d_rss;
    }
    let row = PagedRow {
      kind: record.row,
      what: record.what,
      at: At { event: record.event, d_event, clock_us },
      pages: record.rss_pages,
      d_pages,
      stack: record.stack,
    };
    self.encoding.event(&mut self.file, self.page, &row, Site::Function(record.id));
  }

  /// Who made the growth a row shows, as the report tells it (`stacks`): the row's function,
  /// or for an entry, the function that called it, when the log's stacks know it; otherwise
  /// the row's function, "at entry".
  fn made_by(&self, record: &Record) -> (u64, bool) {
    if !record.what.is_entry() {
      return (record.id, false);
    }
    let top = |stack| self.stacks.get(&stack).map(|&(parent, function)| (parent, function));
    let caller = match (record.what, record.stack.and_then(top)) {
      // A native callee had not started: the top of its stack called it.
      (What::CCall, Some((_, function))) => Some(function),
      (_, Some((parent, _))) => top(parent).map(|(_, function)| function),
      (_, None) => None,
    };
    caller.map_or((record.id, true), |function| (function, false))
  }

  /// Writes the GC rows of collections that ran before event `event` (after `event - 1`
  /// events), each if it moved RSS past the filter, as JS filters events.
  fn collections_before(&mut self, event: u64) {
    if self.control.queued.load(Ordering::Acquire) == 0 {
      return;
    }
    loop {
      let next = {
        let mut queue = self.control.collections.lock().unwrap_or_else(|p| p.into_inner());
        match queue.front() {
          Some(c) if c.after_event < event => {
            self.control.queued.fetch_sub(1, Ordering::Release);
            queue.pop_front()
          }
          _ => None,
        }
      };
      let Some(c) = next else { return };
      let d_event = c.after_event.saturating_sub(self.reference.0);
      let clock_us = (c.clock.max(0.0) * 1e6).round() as u64;
      if c.rss_pages.abs_diff(c.rss_before_pages) >= c.trigger_pages {
        // What RSS moved during the collection; no reference for the rows after it, as JS
        // filters events against the last event it logged.
        self.summary.rows += 1;
        self.summary.peak_rss = self.summary.peak_rss.max(c.rss_pages * self.page);
        let d_pages = c.rss_pages as i64 - c.rss_before_pages as i64;
        let row = PagedRow {
          kind: RowKind::Next,
          what: What::Gc,
          at: At { event: c.after_event, d_event, clock_us },
          pages: c.rss_pages,
          d_pages,
          stack: None,
        };
        self.encoding.event(&mut self.file, self.page, &row, Site::Gc { kind: c.kind, duration_us: c.duration_us });
      }
      if let Some(heap) = c.heap {
        self.summary.rows += 1;
        let at = At { event: c.after_event, d_event, clock_us: clock_us + c.duration_us };
        self.encoding.heap(&mut self.file, at, heap);
      }
    }
  }

  /// The LAST row when JS cannot write one: `file` and `name` say why. Collections not yet
  /// written go before it.
  fn synthetic_last(&mut self, file: &str, name: String) {
    self.collections_before(u64::MAX);
    let id = functions::register(file, &[functions::Site { line: 0, column: 0, name }]);
    let pages = rss::current().map(|bytes| bytes / self.page).unwrap_or(0);
    let record = Record {
      event: self.ring.events() + 1,
      clock: self.ring.clock(),
      rss_pages: pages,
      row: RowKind::Last,
      what: What::Line,
      id,
      stack: None,
    };
    self.row(&record);
  }
}

/// How a log is written: as the seed's text, or as binary records that read back as that text
/// (`format::binary`), for logging every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
  #[default]
  Text,
  Binary,
}

/// Where an event row happened: a function of the table, or a garbage collection.
#[derive(Clone, Copy)]
enum Site {
  Function(u64),
  Gc { kind: u8, duration_us: u64 },
}

/// Rows into the file, in the log's format.
enum Encoding {
  Text {
    rows: RowWriter,
    /// Pre-formatted File/#line/Function columns, by function id.
    sites: Vec<Option<Box<[u8]>>>,
  },
  Binary(Encoder),
}

impl Encoding {
  fn new(format: LogFormat) -> Encoding {
    match format {
      LogFormat::Text => Encoding::Text { rows: RowWriter::default(), sites: Vec::new() },
      LogFormat::Binary => Encoding::Binary(Encoder::default()),
    }
  }

  /// What the file starts with.
  fn head(format: LogFormat, page: u64, message: Option<&str>) -> Vec<u8> {
    match format {
      LogFormat::Text => header(message).into_bytes(),
      LogFormat::Binary => Encoder::head(page, message),
    }
  }

  #[inline]
  fn event(&mut self, file: &mut PagedLines, page: u64, row: &PagedRow, site: Site) {
    match (self, site) {
      (Encoding::Text { rows, sites }, site) => {
        let site = match site {
          Site::Function(id) => site_of(sites, id),
          Site::Gc { kind, duration_us } => {
            RowWriter::site(gc::FILE, 0, &gc::function(kind, duration_us)).into_vec().into()
          }
        };
        let PagedRow { kind, what, at, pages, d_pages, stack } = *row;
        let (rss, d_rss) = (pages * page, d_pages * page as i64);
        file.line(|out| rows.event_row(out, kind, at.event, at.d_event, at.clock_us, what, &site, rss, d_rss, stack));
      }
      (Encoding::Binary(encoder), Site::Function(id)) => {
        define(encoder, file, id);
        file.line(|out| encoder.event(out, row, id));
      }
      (Encoding::Binary(encoder), Site::Gc { kind, duration_us }) => {
        file.line(|out| encoder.gc(out, kind, duration_us, row));
      }
    }
  }

  /// A STCK row: stack `id` is `parent` with `function` called on top.
  fn stack(&mut self, file: &mut PagedLines, id: u64, parent: u64, function: u64) {
    match self {
      Encoding::Text { rows, sites } => {
        let site = site_of(sites, function);
        file.line(|out| rows.stack_row(out, id, parent, &site));
      }
      Encoding::Binary(encoder) => {
        define(encoder, file, function);
        file.line(|out| Encoder::stack(out, id, parent, function));
      }
    }
  }

  /// A MSG row; `text` escaped.
  fn message(&mut self, file: &mut PagedLines, at: At, text: &str) {
    match self {
      Encoding::Text { .. } => file.line(|out| message_row(out, at.event, at.d_event, at.clock_us, text)),
      Encoding::Binary(encoder) => file.line(|out| encoder.message(out, at, text)),
    }
  }

  fn heap(&mut self, file: &mut PagedLines, at: At, heap: Heap) {
    match self {
      Encoding::Text { .. } => file.line(|out| heap_row(out, at.event, at.d_event, at.clock_us, heap)),
      Encoding::Binary(encoder) => file.line(|out| encoder.heap(out, at, heap)),
    }
  }

  fn end(&mut self, file: &mut PagedLines) {
    match self {
      Encoding::Text { .. } => file.line(|out| {
        out.extend_from_slice(END_OF_FILE.as_bytes());
        out.push(b'\n');
      }),
      Encoding::Binary(_) => file.line(Encoder::end),
    }
  }
}

/// What the File/#line/Function columns of function `id` show. An id not in the table (only
/// ever a bug) is shown as such.
fn described<T>(id: u64, show: impl FnOnce(&str, u32, &str) -> T) -> (T, bool) {
  match functions::with(id, |f| (f.file.clone(), f.line, f.name.clone())) {
    Some((file, line, name)) => (show(&file, line, &name), true),
    None => (show("<unknown>", 0, &format!("<function {id}>")), false),
  }
}

/// The File/#line/Function columns of function `id`, formatted the first time they are needed;
/// those of an id not in the table are not remembered.
fn site_of(sites: &mut Vec<Option<Box<[u8]>>>, id: u64) -> std::borrow::Cow<'_, [u8]> {
  let index = id as usize;
  if sites.len() <= index {
    sites.resize(index + 1, None);
  }
  if sites[index].is_none() {
    let (site, known) = described(id, RowWriter::site);
    if !known {
      return site.into_vec().into();
    }
    sites[index] = Some(site);
  }
  sites[index].as_deref().unwrap_or_default().into()
}

/// The `F` record of function `id`, before its first row; one not in the table is defined
/// again at each row, as the text shows it.
fn define(encoder: &mut Encoder, file: &mut PagedLines, id: u64) {
  if encoder.first_use(id) {
    let (_, known) =
      described(id, |name, line, function| file.line(|out| Encoder::function(out, id, name, line, function)));
    if !known {
      encoder.forget(id);
    }
  }
}

fn signal_name(signal: i32) -> String {
  match signal {
    1 => "SIGHUP".into(),
    2 => "SIGINT".into(),
    15 => "SIGTERM".into(),
    _ => format!("signal {signal}"),
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::format::binary::TextOf;
  use crate::format::{parse_row, LogRow};
  use crate::sink::tests::Memory;

  fn text(memory: &Memory) -> String {
    String::from_utf8(memory.0.lock().unwrap().clone()).unwrap()
  }

  /// A writer over a small ring, writing to memory.
  fn started() -> (Arc<Ring>, Memory, Writer) {
    let ring = Arc::new(Ring::new(16));
    let sink = Memory::default();
    let writer = Writer::start(ring.clone(), Box::new(sink.clone()), None, "test.log", LogFormat::Text).unwrap();
    (ring, sink, writer)
  }

  fn push_blocking(ring: &Ring, control: &WriterControl, record: Record) {
    while !ring.push(&record) {
      control.wait_for_space(ring);
    }
  }

  /// The log a writer makes of `collections`, queued first, and then `records`, in `format`.
  fn written_as(format: LogFormat, message: Option<&str>, collections: &[Collection], records: &[Record]) -> Vec<u8> {
    let ring = Arc::new(Ring::new(16));
    let sink = Memory::default();
    let writer = Writer::start(ring.clone(), Box::new(sink.clone()), message, "test.log", format).unwrap();
    for c in collections {
      writer.control.push_collection(*c);
    }
    for r in records {
      push_blocking(&ring, &writer.control, *r);
    }
    writer.join().unwrap();
    let bytes = sink.0.lock().unwrap().clone();
    bytes
  }

  /// Lines without the spaces that keep them within a page, which differ between formats.
  fn trimmed(text: &str) -> String {
    text.lines().map(|line| format!("{}\n", line.trim_end())).collect()
  }

  /// The text log of `collections` and `records`; their binary log reads back as the same.
  fn written(collections: &[Collection], records: &[Record]) -> String {
    let text = String::from_utf8(written_as(LogFormat::Text, None, collections, records)).unwrap();
    let binary = written_as(LogFormat::Binary, None, collections, records);
    let mut decoded = String::new();
    std::io::Read::read_to_string(&mut TextOf::new(&binary[..]), &mut decoded).unwrap();
    assert_eq!(trimmed(&decoded), trimmed(&text));
    assert!(binary.len() * 4 < text.len(), "{} bytes binary, {} text", binary.len(), text.len());
    text
  }

  fn record(event: u64, row: RowKind, what: What, id: u64, pages: u64) -> Record {
    Record { event, clock: event as f64 * 1e-3, rss_pages: pages, row, what, id, stack: None }
  }

  #[test]
  fn stacks_are_defined_before_their_rows_and_growth_at_a_call_is_the_callers() {
    let sites: Vec<functions::Site> = ["main", "grow"]
      .iter()
      .enumerate()
      .map(|(i, name)| functions::Site { line: i as u32 + 1, column: 1, name: name.to_string() })
      .collect();
    let main = functions::register("/t/stacks.js", &sites);
    let grow = main + 1;
    let stack = |parent: u64, function: u64, id: u64| Record {
      event: parent,
      clock: 0.0,
      rss_pages: 0,
      row: RowKind::Stack,
      what: What::Line,
      id: function,
      stack: Some(id),
    };
    let at = |record: Record, stack: u64| Record { stack: Some(stack), ..record };
    let (ring, sink, writer) = started();
    for r in [
      stack(0, main, 1),
      at(record(0, RowKind::First, What::Line, main, 100), 1),
      stack(1, grow, 2),
      at(record(1, RowKind::Next, What::Call, grow, 200), 2),
      at(record(2, RowKind::Next, What::Return, grow, 250), 2),
      at(record(3, RowKind::Last, What::Line, main, 250), 1),
    ] {
      push_blocking(&ring, &writer.control, r);
    }
    let summary = writer.join().unwrap();
    let page = rss::page_size() as i64;
    assert_eq!(summary.top_growth, Some((main, false, 100 * page)), "the growth seen at grow's call is main's");
    assert_eq!(summary.rows, 4, "STCK rows are no rows of the event stream");
    let text = text(&sink);
    let rows: Vec<LogRow> = text.lines().skip(2).map(|line| parse_row(line.trim_end()).unwrap()).collect();
    assert_eq!(rows[0], LogRow::Stack { id: 1, parent: 0, file: "/t/stacks.js", line: 1, function: "main" });
    assert!(matches!(&rows[1], LogRow::Event(e) if e.kind == RowKind::First && e.stack == Some(1)));
    assert_eq!(rows[2], LogRow::Stack { id: 2, parent: 1, file: "/t/stacks.js", line: 2, function: "grow" });
    assert!(
      matches!(&rows[3], LogRow::Event(e) if e.what == What::Call && e.stack == Some(2) && e.d_rss == 100 * page)
    );
  }

  #[test]
  fn a_tiny_ring_loses_nothing_and_rows_count_from_the_reference() {
    let site = functions::register("/t/a.js", &[functions::Site { line: 4, column: 1, name: "work".into() }]);
    let ring = Arc::new(Ring::new(2));
    let sink = Memory::default();
    let writer =
      Writer::start(ring.clone(), Box::new(sink.clone()), Some("hello"), "test.log", LogFormat::Text).unwrap();
    let control = writer.control.clone();
    push_blocking(&ring, &control, record(0, RowKind::First, What::Line, site, 100));
    const N: u64 = 5_000;
    for event in 1..=N {
      push_blocking(&ring, &control, record(event, RowKind::Next, What::Call, site, 100 + event));
    }
    control.push_message("done".into());
    push_blocking(&ring, &control, record(N, RowKind::Message, What::Line, 0, 0));
    push_blocking(&ring, &control, record(N + 1, RowKind::Last, What::Line, site, 100 + N));
    let summary = writer.join().unwrap();
    assert_eq!(summary.rows, N + 3);
    assert_eq!(summary.top_growth, Some((site, true, (N * rss::page_size()) as i64)));

    let text = text(&sink);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    assert_eq!(lines[..2], ["hello", "SOF"]);
    assert_eq!(lines.len() as u64, 2 + 1 + (N + 3) + 1);
    assert_eq!(*lines.last().unwrap(), "EOF");
    let events: Vec<_> = lines[3..lines.len() - 1]
      .iter()
      .map(|line| match parse_row(line).unwrap() {
        LogRow::Event(row) => (row.event, row.d_event, row.d_rss),
        LogRow::Message { event, d_event, .. } => (event, d_event, 0),
        other => panic!("{other:?}"),
      })
      .collect();
    let page = rss::page_size() as i64;
    assert_eq!(events[0], (0, 0, 100 * page));
    assert!(events[1..=N as usize].iter().enumerate().all(|(i, &e)| e == (i as u64 + 1, 1, page)));
    assert_eq!(events[N as usize + 1], (N, 0, 0));
    assert_eq!(events[N as usize + 2], (N + 1, 1, 0));
  }

  #[test]
  fn a_binary_log_reads_back_as_the_text_log_and_a_cut_one_as_the_rows_before_the_cut() {
    let sites: Vec<functions::Site> = ["main", "grow\nmore"]
      .iter()
      .enumerate()
      .map(|(i, name)| functions::Site { line: i as u32 + 1, column: 1, name: name.to_string() })
      .collect();
    let main = functions::register("/t/bin ary.js", &sites);
    let grow = main + 1;
    let stack =
      |parent, function, id| Record { stack: Some(id), ..record(parent, RowKind::Stack, What::Line, function, 0) };
    let at = |record: Record, stack| Record { stack: Some(stack), ..record };
    let mut records =
      vec![stack(0, main, 1), at(record(0, RowKind::First, What::Line, main, 100), 1), stack(1, grow, 2)];
    // Growth and shrinking, events far apart and an id no function has.
    for event in 1..400 {
      let pages = 100 + (event * 37 % 11) * 1000;
      records.push(at(record(event * 1000, RowKind::Next, What::ALL[event as usize % 9], grow, pages), 2));
    }
    records.push(record(400_000, RowKind::Next, What::CCall, 999_999, 7));
    records.push(record(400_001, RowKind::Last, What::Line, main, 7));
    let collections = [Collection {
      after_event: 5000,
      clock: 4.5,
      kind: 1,
      duration_us: 250,
      rss_before_pages: 9000,
      rss_pages: 100,
      trigger_pages: 1,
      heap: Some(Heap { used: 1, total: 2, external: 3, array_buffers: None }),
    }];
    let text = String::from_utf8(written_as(LogFormat::Text, Some("a message"), &collections, &records)).unwrap();
    let binary = written_as(LogFormat::Binary, Some("a message"), &collections, &records);
    let read = |bytes: &[u8]| {
      let mut decoded = String::new();
      std::io::Read::read_to_string(&mut TextOf::new(bytes), &mut decoded).map(|_| decoded)
    };
    let whole = trimmed(&text);
    assert_eq!(trimmed(&read(&binary).unwrap()), whole);
    assert!(whole.contains("<function 999999>") && whole.contains("grow more") && whole.contains("<gc>"));
    // Cut anywhere after the head: the rows before the cut, each whole.
    // The magic line and the head record.
    let head = binary.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(1).unwrap().0 + 1;
    for cut in (head + 30..binary.len()).step_by(7) {
      let decoded = trimmed(&read(&binary[..cut]).unwrap());
      assert!(whole.starts_with(&decoded), "cut at {cut}");
    }
    let mut damaged = binary.clone();
    assert_eq!(damaged[head], b'F', "main's function record comes first");
    damaged[head] = b'?';
    let err = read(&damaged).err().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(err.to_string(), format!("the record at byte {head}: an unknown record (tag 0x3f)"));
    // What a crash can leave: NUL bytes from a record on.
    let mut zeroed = binary.clone();
    zeroed[head..].fill(0);
    assert!(read(&zeroed).err().unwrap().to_string().contains("NUL bytes"));
  }

  #[test]
  fn gc_rows_go_after_the_events_before_them_and_are_filtered_as_events_are() {
    let site = functions::register("/t/gc.js", &[functions::Site { line: 2, column: 1, name: "work".into() }]);
    let collection = |after_event, kind, rss_before_pages, rss_pages| Collection {
      after_event,
      clock: 0.5,
      kind,
      duration_us: 1500,
      rss_before_pages,
      rss_pages,
      trigger_pages: 4,
      heap: None,
    };
    let heap = Heap { used: 5 << 20, total: 8 << 20, external: 1 << 20, array_buffers: Some(1 << 19) };
    let collections = [
      collection(1, 0, 110, 90),
      // It moved RSS less than the filter: not written.
      collection(1, 0, 90, 92),
      Collection { heap: Some(heap), ..collection(3, 2, 120, 60) },
    ];
    let log = written(
      &collections,
      &[
        record(0, RowKind::First, What::Line, site, 100),
        record(1, RowKind::Next, What::Call, site, 110),
        record(3, RowKind::Next, What::Return, site, 120),
        record(4, RowKind::Last, What::Line, site, 120),
      ],
    );
    let page = rss::page_size() as i64;
    let rows: Vec<_> = log
      .lines()
      .filter_map(|line| match parse_row(line.trim_end()).ok()? {
        LogRow::Event(row) => Some((row.event, row.what.name(), row.function.to_string(), row.d_rss / page)),
        _ => None,
      })
      .collect();
    let row = |event, what: &'static str, function: &str, d_rss| (event, what, function.to_string(), d_rss);
    // A GC row's dRSS is what moved during the collection, and event rows count from event rows.
    assert_eq!(
      rows,
      [
        row(0, "LINE", "work", 100),
        row(1, "CALL", "work", 10),
        row(1, "GC", "scavenge (1.500 ms)", -20),
        row(3, "RETURN", "work", 10),
        row(3, "GC", "mark-compact (1.500 ms)", -60),
        row(4, "LINE", "work", 0),
      ]
    );
    // The heap after the mark-compact, at the clock it ended, whether or not its GC row was written.
    let heaps: Vec<_> = log
      .lines()
      .filter_map(|line| match parse_row(line.trim_end()).ok()? {
        LogRow::Heap { event, clock, heap, .. } => Some((event, clock, heap)),
        _ => None,
      })
      .collect();
    assert_eq!(heaps, [(3, 0.5015, heap)]);
  }

  #[test]
  fn a_gc_row_never_parts_a_prev_row_from_its_next_row() {
    let site = functions::register("/t/gc-prev.js", &[functions::Site { line: 2, column: 1, name: "work".into() }]);
    // It ran between events 4 and 5, which are logged together as PREV 4 and NEXT 5.
    let collection = Collection {
      after_event: 4,
      clock: 0.5,
      kind: 0,
      duration_us: 100,
      rss_before_pages: 120,
      rss_pages: 100,
      trigger_pages: 1,
      heap: None,
    };
    let log = written(
      &[collection],
      &[
        record(0, RowKind::First, What::Line, site, 100),
        record(4, RowKind::Prev, What::Call, site, 100),
        record(5, RowKind::Next, What::Return, site, 110),
        record(6, RowKind::Last, What::Line, site, 110),
      ],
    );
    let rows: Vec<_> = log
      .lines()
      .filter_map(|line| match parse_row(line.trim_end()).ok()? {
        LogRow::Event(row) => Some(format!("{} {}", row.kind.prefix().trim_end(), row.what.name())),
        _ => None,
      })
      .collect();
    assert_eq!(rows, ["FRST: LINE", "NEXT: GC", "PREV: CALL", "NEXT: RETURN", "LAST: LINE"]);
  }

  #[test]
  fn rows_reach_the_sink_without_waiting_for_the_end() {
    let (ring, sink, writer) = started();
    ring.push(&record(0, RowKind::First, What::Line, 0, 1));
    crate::wait_until("the FRST row at the sink", || text(&sink).contains("FRST: 0 "));
    ring.push(&record(1, RowKind::Last, What::Line, 0, 1));
    writer.join().unwrap();
    assert!(text(&sink).ends_with("EOF\n"));
  }

  #[test]
  fn a_signal_ends_the_log_with_a_last_row_naming_it() {
    let (ring, sink, writer) = started();
    ring.push(&record(0, RowKind::First, What::Line, 0, 1));
    ring.set_events(41);
    writer.control.finish_for_signal(15);
    crate::wait_until("the writer to finish on its own", || writer.is_finished());
    assert!(ring.is_closed());
    writer.join().unwrap();
    let text = text(&sink);
    let last = text.lines().rev().nth(1).unwrap();
    let LogRow::Event(row) = parse_row(last).unwrap() else { panic!("{last}") };
    assert_eq!((row.kind, row.event, row.file, row.function), (RowKind::Last, 42, "<signal>", "<SIGTERM>"));
  }

  #[test]
  fn failed_reads_of_rss_are_marked_where_they_happened() {
    let (ring, sink, writer) = started();
    ring.push(&record(0, RowKind::First, What::Line, 0, 1));
    ring.push(&record(5, RowKind::Next, What::Call, 0, 3));
    crate::wait_until("the rows at the sink", || text(&sink).contains("NEXT: 5 "));
    ring.note_rss_failure("statm went away");
    ring.note_rss_failure("statm went away");
    crate::wait_until("the mark", || text(&sink).contains("2 times so far"));
    ring.push(&record(9, RowKind::Last, What::Line, 0, 3));
    writer.join().unwrap();
    let text = text(&sink);
    let marks: Vec<(u64, String)> = text
      .lines()
      .filter_map(|line| match parse_row(line) {
        Ok(LogRow::Message { event, text, .. }) => Some((event, text.to_string())),
        _ => None,
      })
      .collect();
    // One mark, or two when the writer looked between the failures; each at the last row written.
    assert!(!marks.is_empty() && marks.len() <= 2, "{text}");
    assert!(marks.iter().all(|(event, _)| *event == 5), "{marks:?}");
    assert!(marks.last().unwrap().1.contains("RSS could not be read (2 times so far: statm went away)"), "{marks:?}");
  }

  #[test]
  fn a_log_finished_without_a_last_row_gets_one() {
    let (ring, sink, writer) = started();
    ring.push(&record(0, RowKind::First, What::Line, 0, 1));
    ring.set_events(7);
    writer.join().unwrap();
    let text = text(&sink);
    let LogRow::Event(row) = parse_row(text.lines().rev().nth(1).unwrap()).unwrap() else { panic!("{text}") };
    assert_eq!((row.kind, row.event, row.file, row.function), (RowKind::Last, 8, "<terminated>", "<not stopped>"));
  }

  #[test]
  fn an_unwritable_sink_fails_at_start() {
    struct Full;
    impl Sink for Full {
      fn write_at(&mut self, _: u64, _: &[u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
      }
    }
    let err = Writer::start(Arc::new(Ring::new(2)), Box::new(Full), None, "full.log", LogFormat::Text).err().unwrap();
    assert_eq!(err.to_string(), "cannot write the log: disk full");
  }
}
