//! The Node-API binding of memtrace-core. Thin on purpose: each function converts arguments,
//! calls the core, and turns a core error into a JS `Error` with the core's message. Argument
//! checking that users see (TypeErrors naming the option) lives in the TypeScript layer, `src/`.
#![deny(clippy::all)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use memtrace_core::child;
use memtrace_core::format::text;
use memtrace_core::instrument::{self, Cache, SourceKind};
use memtrace_core::logfile::{self, LogTarget};
use memtrace_core::monitor::{self, Ending, Heap, Monitor, Target};
use memtrace_core::profiler::{Options, Profiler};
use memtrace_core::writer::LogFormat;
use memtrace_core::{export, functions, reader, report, ring, rss, signals, stacks};
use napi::bindgen_prelude::*;
use napi_derive::napi;

mod allocations;
mod compile;
mod gc;
mod traces;
mod v8;

fn js_error(err: impl std::fmt::Display) -> Error {
  Error::from_reason(err.to_string())
}

/// The resident set size of this process now, in bytes.
#[napi]
pub fn rss() -> Result<f64> {
  rss::reported().map(|bytes| bytes as f64).map_err(js_error)
}

/// The largest resident set size this process has had, in bytes.
#[napi]
pub fn rss_peak() -> Result<f64> {
  rss::peak().map(|bytes| bytes as f64).map_err(js_error)
}

/// The resident set size of process `pid` now, in bytes.
#[napi]
pub fn rss_of(pid: u32) -> Result<f64> {
  rss::of_pid(pid).map(|bytes| bytes as f64).map_err(js_error)
}

/// The size of a memory page, in bytes.
#[napi]
pub fn page_size() -> f64 {
  rss::page_size() as f64
}

/// The RSS of this process now, in pages: the hot path's exact mode calls this per event. 0 when
/// it cannot be read: the hot path then takes the sampler's last value, and the sampler, which
/// fails to read it too, says so.
#[napi]
pub fn rss_pages() -> u32 {
  rss::current().map_or(0, |bytes| (bytes / rss::page_size()) as u32)
}

#[napi(object)]
pub struct Instrumented {
  /// The instrumented source, or the original when it did not parse.
  pub code: String,
  /// The instrumented source's source map as a `data:` URL, when asked for and instrumented.
  pub map: Option<String>,
  pub functions: u32,
  pub cached: bool,
  /// Why the source was left as it was: the parser's message with line and column.
  pub error: Option<String>,
  /// Functions left unwrapped, and why.
  pub skipped: Vec<String>,
}

/// How a file is instrumented (see `instrument`).
#[napi(object)]
pub struct InstrumentOptions {
  /// LINE events.
  pub lines: bool,
  /// C_CALL and C_RETURN.
  pub native_calls: bool,
  /// Make the result's source map.
  pub source_map: bool,
  /// Where plans of files seen before are kept.
  pub cache_dir: Option<String>,
  /// Whether this runtime knows `using` declarations.
  pub accepts_using: bool,
}

/// Instruments one file. `kind` is `script`, `module` or `commonjs`.
#[napi]
pub fn instrument(source: String, path: String, kind: String, options: InstrumentOptions) -> Result<Instrumented> {
  let kind = match kind.as_str() {
    "script" => SourceKind::Script,
    "module" => SourceKind::Module,
    "commonjs" => SourceKind::CommonJs,
    other => return Err(js_error(format!("'{other}' is not a source kind (script, module, commonjs)"))),
  };
  let cache = options.cache_dir.map(Cache::new);
  let events = instrument::Options { lines: options.lines, native_calls: options.native_calls };
  let done =
    instrument::instrument(&source, &path, kind, events, cache.as_ref(), options.source_map, options.accepts_using);
  Ok(match done {
    Ok(done) => Instrumented {
      code: done.code,
      map: done.map,
      functions: done.functions as u32,
      cached: done.cached,
      error: None,
      skipped: done.skipped,
    },
    Err(err) => Instrumented {
      code: source,
      map: None,
      functions: 0,
      cached: false,
      error: Some(err.to_string()),
      skipped: Vec::new(),
    },
  })
}

/// The source text of an instrumented function whose text V8 gives as `text`, or null.
#[napi]
pub fn original_source(text: String) -> Option<String> {
  instrument::scripts::original_text(&text)
}

/// Where a place V8 gives in `file`'s instrumented code is in its source: `line * 2^26 + column`
/// (both 1-based), or -1 when the file was not instrumented. One number, as stack traces ask for
/// each frame.
#[napi]
pub fn original_position(file: String, line: u32, column: u32) -> f64 {
  instrument::scripts::original_position(&file, line, column)
    .map_or(-1.0, |(line, column)| f64::from(line) * 67_108_864.0 + f64::from(column.min(67_108_863)))
}

/// Puts `mapper(error, frames)` in front of Node's stack-trace formatting on this thread; false
/// where it cannot be.
#[napi(ts_args_type = "mapper: (error: unknown, frames: NodeJS.CallSite[]) => NodeJS.CallSite[]")]
pub fn map_stack_traces(env: Env, mapper: Unknown) -> Result<bool> {
  traces::map_through(env, mapper)
}

/// Whether a thread of this process maps its stack traces (see `mapStackTraces`).
#[napi]
pub fn stack_traces_mapped() -> bool {
  traces::mapped()
}

/// Adds a call site (where a profiler started or stopped) to the function table; returns its id.
#[napi]
pub fn register_site(file: String, line: u32, column: u32, name: String) -> f64 {
  functions::register(&file, &[functions::Site { line, column, name }]) as f64
}

#[napi(object)]
pub struct FunctionInfo {
  pub file: String,
  pub line: u32,
  pub column: u32,
  pub name: String,
}

/// What function `id` is, if it exists.
#[napi]
pub fn function_info(id: f64) -> Option<FunctionInfo> {
  functions::with(id as u64, |f| FunctionInfo {
    file: f.file.to_string(),
    line: f.line,
    column: f.column,
    name: f.name.to_string(),
  })
}

/// Where the shared fields sit in the views JS makes over a profiler's memory.
#[napi(object)]
pub struct RingLayout {
  /// Int32Array indices.
  pub head: u32,
  pub tail: u32,
  pub rss_pages: u32,
  pub closed: u32,
  /// Float64Array indices.
  pub clock: u32,
  pub events: u32,
  pub records: u32,
  /// Float64Array elements per record.
  pub record_fields: u32,
  /// What a record's code is put together from, by name: the What column's codes (`CALL`, …)
  /// and the row kinds', times 16 (`NEXT`, …).
  pub what: HashMap<String, u32>,
  pub row: HashMap<String, u32>,
}

#[napi]
pub fn ring_layout() -> RingLayout {
  let o = ring::js_offsets();
  let (what, row) = ring::js_codes();
  let named = |codes: Vec<(&str, u32)>| codes.into_iter().map(|(name, code)| (name.to_string(), code)).collect();
  RingLayout {
    what: named(what),
    row: named(row),
    head: o.head,
    tail: o.tail,
    rss_pages: o.rss_pages,
    closed: o.closed,
    clock: o.clock,
    events: o.events,
    records: o.records,
    record_fields: o.record_fields,
  }
}

/// Ends running logs when SIGINT or SIGTERM ends the process (see `crates/core/src/signals.rs`).
#[napi]
pub fn catch_signals(signals: Vec<i32>) -> Result<()> {
  signals::install(&signals).map_err(js_error)
}

/// How a command ended: its exit code, or the name of the signal that killed it.
#[napi(object)]
pub struct CommandExit {
  pub code: Option<i32>,
  pub signal: Option<i32>,
}

pub struct WaitForCommand(Option<child::Child>);

impl Task for WaitForCommand {
  type Output = child::Exit;
  type JsValue = CommandExit;

  fn compute(&mut self) -> Result<child::Exit> {
    let command = self.0.take().ok_or_else(|| js_error("this command is already waited for"))?;
    command.wait().map_err(js_error)
  }

  fn resolve(&mut self, _env: Env, exit: child::Exit) -> Result<CommandExit> {
    Ok(match exit {
      child::Exit::Code(code) => CommandExit { code: Some(code), signal: None },
      child::Exit::Signal(signal) => CommandExit { code: None, signal: Some(signal) },
    })
  }
}

/// A command run by `memtrace run` or `monitor`, in a process group of its own (see
/// `memtrace_core::child`).
#[napi]
pub struct NativeCommand {
  pid: u32,
  child: std::sync::Mutex<Option<child::Child>>,
}

#[napi]
impl NativeCommand {
  /// Starts `command` with `args` and exactly the environment `env`; stdio is memtrace's.
  #[napi(constructor)]
  pub fn new(command: String, args: Vec<String>, env: HashMap<String, String>) -> Result<Self> {
    let env: Vec<_> = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    let args: Vec<_> = args.into_iter().map(Into::into).collect();
    let child = child::Child::spawn(&command.into(), &args, &env).map_err(|err| {
      let reason =
        if err.kind() == std::io::ErrorKind::NotFound { "no such command".to_string() } else { err.to_string() };
      Error::new(Status::GenericFailure, reason)
    })?;
    Ok(NativeCommand { pid: child.pid(), child: std::sync::Mutex::new(Some(child)) })
  }

  #[napi(getter)]
  pub fn pid(&self) -> u32 {
    self.pid
  }

  /// Resolves when the command has ended (once).
  #[napi(ts_return_type = "Promise<CommandExit>")]
  pub fn wait(&self) -> AsyncTask<WaitForCommand> {
    AsyncTask::new(WaitForCommand(self.child.lock().unwrap_or_else(|p| p.into_inner()).take()))
  }

  /// Sends `signal` to the command's process group.
  #[napi]
  pub fn signal(&self, signal: i32) -> Result<()> {
    child::signal_group(self.pid, signal).map_err(js_error)
  }
}

#[napi(object)]
pub struct ProfileOptions {
  /// Write to this file (created or truncated).
  pub log_file: Option<String>,
  /// Write a new, uniquely named file in this directory.
  pub log_dir: Option<String>,
  /// Write nothing (benchmarks).
  pub discard: Option<bool>,
  /// The line above SOF; any string (it is escaped, see `format::text`).
  pub message: Option<Utf16String>,
  pub capacity: u32,
  pub rss_period_us: f64,
  /// The worker thread recorded (its `threadId`), named in the file name; absent for the main thread.
  pub thread: Option<u32>,
  /// Record garbage collections as GC rows.
  pub gc: Option<bool>,
  /// The dRSS filter JS applies to events, in pages (applied to GC rows too).
  pub trigger_pages: f64,
  /// `v8.getHeapStatistics().heap_size_limit`, with `gc`: what V8's heap figures are checked by.
  pub heap_limit: Option<f64>,
  /// `process.memoryUsage().arrayBuffers` read last before the profiler is made, with `gc`:
  /// what Node's count of ArrayBuffer bytes is checked by.
  pub array_buffers: Option<f64>,
  /// Binary records instead of text (see `format::binary`).
  pub binary: Option<bool>,
}

#[napi(object)]
pub struct ProfileSummary {
  pub events: f64,
  pub rows: f64,
  pub peak_rss: f64,
  /// Function id with the largest RSS growth, whether at its entry, and the growth in bytes.
  pub top_function: Option<f64>,
  pub top_at_entry: Option<bool>,
  pub top_growth: Option<f64>,
  /// Why the log could not be finished (the rest is then zero).
  pub failure: Option<String>,
}

/// Where a log goes: `file`, else a new file in `dir`, else one in the working directory.
fn log_target(file: Option<String>, dir: Option<String>) -> Result<LogTarget> {
  Ok(match (file, dir) {
    (Some(file), _) => LogTarget::File(PathBuf::from(file)),
    (None, Some(dir)) => LogTarget::Directory(PathBuf::from(dir)),
    (None, None) => LogTarget::Directory(std::env::current_dir().map_err(js_error)?),
  })
}

impl From<std::result::Result<memtrace_core::writer::Summary, memtrace_core::profiler::StopError>> for ProfileSummary {
  fn from(stopped: std::result::Result<memtrace_core::writer::Summary, memtrace_core::profiler::StopError>) -> Self {
    match stopped {
      Ok(summary) => ProfileSummary {
        events: summary.events as f64,
        rows: summary.rows as f64,
        peak_rss: summary.peak_rss as f64,
        top_function: summary.top_growth.map(|(id, _, _)| id as f64),
        top_at_entry: summary.top_growth.map(|(_, entry, _)| entry),
        top_growth: summary.top_growth.map(|(_, _, bytes)| bytes as f64),
        failure: None,
      },
      Err(err) => ProfileSummary {
        events: 0.0,
        rows: 0.0,
        peak_rss: 0.0,
        top_function: None,
        top_at_entry: None,
        top_growth: None,
        failure: Some(err.reason),
      },
    }
  }
}

/// One profiler: its log, ring, sampler and writer.
#[napi]
pub struct NativeProfiler {
  /// None once released: the ring and everything else are freed then.
  inner: Option<Profiler>,
  /// Tells this profiler's GC rows apart from those of others on the thread (`gc`).
  id: u64,
  path: Option<String>,
  capacity: u32,
  memory_given: bool,
  no_gc_rows: Option<String>,
}

const RELEASED: &str = "this profiler has been released";

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[napi]
impl NativeProfiler {
  #[napi(constructor)]
  pub fn new(options: ProfileOptions) -> Result<Self> {
    let gc_rows = options.gc.unwrap_or(false);
    let expected = gc::Expected {
      heap_limit: options.heap_limit.unwrap_or(0.0) as u64,
      array_buffers: options.array_buffers.map(|bytes| bytes as u64),
    };
    let log =
      if options.discard == Some(true) { LogTarget::Discard } else { log_target(options.log_file, options.log_dir)? };
    let options = Options {
      log,
      message: options.message.map(|m| text::escape(&m)),
      capacity: options.capacity,
      rss_period: Duration::from_nanos((options.rss_period_us.max(0.0) * 1000.0) as u64),
      thread: options.thread,
      trigger_pages: options.trigger_pages.max(0.0) as u64,
      format: if options.binary == Some(true) { LogFormat::Binary } else { LogFormat::Text },
    };
    let inner = Profiler::start(&options).map_err(js_error)?;
    let path = inner.path().map(|path| path.display().to_string());
    let capacity = inner.ring().capacity();
    let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Without V8's GC callbacks (a runtime that does not export them) the profiler records all the same,
    // and says why it has no GC rows.
    let no_gc_rows = if gc_rows {
      gc::watch(id, inner.collections().expect("a profiler just started has a writer"), expected).err()
    } else {
      None
    };
    Ok(NativeProfiler { inner: Some(inner), id, path, capacity, memory_given: false, no_gc_rows })
  }

  /// Why the GC rows asked for cannot be recorded, if they cannot.
  #[napi(getter)]
  pub fn no_gc_rows(&self) -> Option<String> {
    self.no_gc_rows.clone()
  }

  fn profiler(&mut self) -> Result<&mut Profiler> {
    self.inner.as_mut().ok_or_else(|| js_error(RELEASED))
  }

  /// The ring as an ArrayBuffer over Rust-owned memory (once per profiler: two buffers over
  /// one block are not allowed). This profiler keeps the memory alive until `release`, which
  /// detaches the buffer first.
  #[napi]
  pub fn memory<'env>(&mut self, env: &'env Env) -> Result<ArrayBuffer<'env>> {
    if std::mem::replace(&mut self.memory_given, true) {
      return Err(js_error("the profiler's memory was already handed out"));
    }
    let ring: Arc<ring::Ring> = self.profiler()?.ring().clone();
    let (ptr, len) = (ring.as_ptr(), ring.byte_len());
    // SAFETY: `ptr` points at `len` bytes owned by `ring`, which this profiler holds until
    // `release` has detached the buffer (after which JavaScript cannot reach the memory) or
    // until it is itself collected, which the JS profiler holding both makes happen no sooner
    // than the buffer can be used. The finaliser holds a weak reference only, so that the
    // buffer does not keep the memory until a garbage collection. No other buffer is made over
    // this memory.
    unsafe { ArrayBuffer::from_external(env, ptr, len, Arc::downgrade(&ring), |_, ring| drop(ring)) }
  }

  /// Frees the profiler at once, after `stop`: detaches `memory` (the buffer `memory()` gave),
  /// so that JavaScript cannot reach the ring any more, then drops the ring and the rest.
  #[napi]
  pub fn release(&mut self, memory: ArrayBuffer) -> Result<()> {
    let Some(inner) = &self.inner else { return Ok(()) };
    if memory.len() != inner.ring().byte_len() || memory.as_ptr() != inner.ring().as_ptr().cast_const() {
      return Err(js_error("release() takes the buffer that memory() gave"));
    }
    memory.detach()?;
    self.inner = None;
    Ok(())
  }

  /// Another profiler records this thread for now: this one costs nothing until `resume`.
  #[napi]
  pub fn suspend(&mut self) -> Result<()> {
    self.profiler()?.suspend();
    Ok(())
  }

  #[napi]
  pub fn resume(&mut self) -> Result<()> {
    self.profiler()?.resume().map_err(js_error)
  }

  #[napi(getter)]
  pub fn path(&self) -> Option<String> {
    self.path.clone()
  }

  #[napi(getter)]
  pub fn capacity(&self) -> u32 {
    self.capacity
  }

  /// Queues the text of the MSG record JS writes next; any string (it is escaped).
  #[napi]
  pub fn message(&mut self, message: Utf16String) -> Result<()> {
    self.profiler()?.message(text::escape(&message));
    Ok(())
  }

  /// Blocks until the ring has room.
  #[napi]
  pub fn wait_for_space(&mut self) -> Result<()> {
    self.profiler()?.wait_for_space();
    Ok(())
  }

  /// Ends the log (idempotent).
  #[napi]
  pub fn stop(&mut self) -> Result<ProfileSummary> {
    gc::unwatch(self.id);
    Ok(self.profiler()?.stop().into())
  }
}

impl Drop for NativeProfiler {
  fn drop(&mut self) {
    // Dropped unstopped (its worker was terminated): no more GC rows for it.
    gc::unwatch(self.id);
  }
}

#[napi(object)]
pub struct Place {
  pub event: f64,
  pub clock: f64,
  pub file: String,
  pub line: u32,
  pub function: String,
}

#[napi(object)]
pub struct FunctionTotals {
  pub file: String,
  pub line: u32,
  pub function: String,
  pub at_entry: bool,
  /// C rows: `function` is a native callee called at `file`:`line`.
  pub native: bool,
  pub growth: f64,
  pub release: f64,
  pub rows: f64,
}

/// A statement whose LINE rows moved RSS.
#[napi(object)]
pub struct LineTotals {
  pub file: String,
  pub line: u32,
  pub function: String,
  pub growth: f64,
  pub release: f64,
  pub rows: f64,
}

impl From<report::FunctionTotals> for FunctionTotals {
  fn from(f: report::FunctionTotals) -> Self {
    FunctionTotals {
      file: f.file,
      line: f.line,
      function: f.function,
      at_entry: f.at_entry,
      native: f.native,
      growth: f.growth as f64,
      release: f.release as f64,
      rows: f.rows as f64,
    }
  }
}

impl From<report::LineTotals> for LineTotals {
  fn from(l: report::LineTotals) -> Self {
    LineTotals {
      file: l.file,
      line: l.line,
      function: l.function,
      growth: l.growth as f64,
      release: l.release as f64,
      rows: l.rows as f64,
    }
  }
}

#[napi(object)]
pub struct Jump {
  pub d_rss: f64,
  pub rss: f64,
  pub place: Place,
}

#[napi(object)]
pub struct LogReport {
  /// The line above SOF, as it was given.
  pub message: Option<Utf16String>,
  pub complete: bool,
  pub events: f64,
  pub rows: f64,
  pub peak_rss: Option<f64>,
  pub peak_at: Option<Place>,
  /// RSS at the first row (where the profiler started).
  pub first_rss: Option<f64>,
  /// Whether reading stopped at the first row whose RSS reached `stopAtRss`: the report is then
  /// what the log says up to and including that row.
  pub stopped: bool,
  pub duration: f64,
  pub functions: Vec<FunctionTotals>,
  /// Statements whose LINE rows moved RSS (logs made with lines on), most growth first.
  pub lines: Vec<LineTotals>,
  /// Clock (seconds) and RSS (bytes) of rows, thinned to a few thousand points.
  pub timeline_clock: Vec<f64>,
  pub timeline_rss: Vec<f64>,
  /// The NEXT rows with the largest |dRSS|, largest first.
  pub jumps: Vec<Jump>,
  /// The MSG rows (the first thousand), their text as it was given.
  pub messages: Vec<LogMessage>,
  /// The GC rows with the largest |dRSS|, largest first.
  pub collections: Vec<Collection>,
  /// V8's heap after collections (HEAP rows), thinned: clock (seconds) and bytes used, reserved
  /// and outside the heap (external), and of that, held by ArrayBuffers (where the log has it).
  pub heap_clock: Vec<f64>,
  pub heap_used: Vec<f64>,
  pub heap_total: Vec<f64>,
  pub heap_external: Vec<f64>,
  pub heap_array_buffers: Option<Vec<f64>>,
  /// The log's call stacks as a tree, with what was made in each (a log made with stacks).
  pub stacks: Option<Stacks>,
  /// Where the log stops being a log before its end, and why; the report covers what is above.
  pub damage: Option<Damage>,
}

/// The stacks of a log, as a tree in columns: node `i` is the stack of node `parent[i]` with
/// frame `frame[i]` on top, and RSS grew by `growth[i]` bytes (and fell by `release[i]`) in
/// `rows[i]` NEXT rows made there. Node 0 is the root (top-level code), whose frame is -1; a
/// node comes after its parent.
#[napi(object)]
pub struct Stacks {
  pub frames: Vec<StackFrame>,
  pub parent: Vec<u32>,
  pub frame: Vec<i32>,
  pub growth: Vec<f64>,
  pub release: Vec<f64>,
  pub rows: Vec<f64>,
  /// When the node's row with the most growth was logged (seconds); -1 for none.
  pub largest_at: Vec<f64>,
  /// What the root stands for when growth is put down to it.
  pub outside: String,
}

#[napi(object)]
pub struct StackFrame {
  pub file: String,
  pub line: u32,
  pub function: String,
  /// As a stack names it: `leak`, `Buffer.alloc (native)`, `line 12 of leak`, `scavenge (GC)`.
  pub name: String,
  /// `function` (instrumented JavaScript), `native` (a native callee called at `file`:`line`),
  /// `line` (a statement of `function`) or `gc` (a collection of kind `function`).
  pub kind: String,
}

impl From<stacks::StackTree> for Stacks {
  fn from(tree: stacks::StackTree) -> Self {
    let frames = tree
      .frames
      .into_iter()
      .map(|f| StackFrame {
        name: f.name(),
        file: f.file,
        line: f.line,
        function: f.function,
        kind: match f.kind {
          stacks::FrameKind::Function => "function",
          stacks::FrameKind::Native => "native",
          stacks::FrameKind::Line => "line",
          stacks::FrameKind::Gc => "gc",
        }
        .to_string(),
      })
      .collect();
    let nodes = &tree.nodes;
    Stacks {
      frames,
      parent: nodes.iter().map(|n| n.parent).collect(),
      frame: nodes.iter().map(|n| if n.frame == stacks::ROOT_FRAME { -1 } else { n.frame as i32 }).collect(),
      growth: nodes.iter().map(|n| n.growth as f64).collect(),
      release: nodes.iter().map(|n| n.release as f64).collect(),
      rows: nodes.iter().map(|n| n.rows as f64).collect(),
      largest_at: nodes.iter().map(|n| n.largest_at).collect(),
      outside: stacks::OUTSIDE.to_string(),
    }
  }
}

/// A GC row: a garbage collection, when it started, its kind and duration.
#[napi(object)]
pub struct Collection {
  pub clock: f64,
  pub kind: String,
  pub milliseconds: f64,
  pub rss: f64,
  pub d_rss: f64,
}

#[napi(object)]
pub struct LogMessage {
  pub event: f64,
  pub clock: f64,
  pub text: Utf16String,
}

#[napi(object)]
pub struct Damage {
  pub line: f64,
  pub reason: String,
}

fn place(place: report::Place) -> Place {
  Place { event: place.event as f64, clock: place.clock, file: place.file, line: place.line, function: place.function }
}

/// A `_compile(content, filename, ...rest)` that calls
/// `original.call(this, transform(content, filename, rest[0]), filename, ...rest)`, or null where
/// V8's C++ API cannot be reached (Windows), for a wrapper in JavaScript to do it.
#[napi(
  ts_args_type = "transform: (content: unknown, filename: unknown, format: unknown) => unknown, original: (this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown",
  ts_return_type = "((this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown) | null"
)]
pub fn compile_through(env: Env, transform: Unknown, original: Unknown) -> Result<Option<Unknown<'static>>> {
  compile::through(env, transform, original)
}

/// The first bytes of a binary log, which tell it from a text log.
#[napi]
pub const BINARY_LOG_SIGNATURE: &str = memtrace_core::format::binary::SIGNATURE;

/// The text of the profiler log `file`, text or binary, a piece at a time; errors name it `path`.
#[napi]
pub struct LogText {
  input: Box<dyn std::io::BufRead>,
  path: String,
}

#[napi]
impl LogText {
  #[napi(constructor)]
  pub fn new(file: String, path: String) -> Result<Self> {
    let file = std::fs::File::open(&file).map_err(|err| js_error(format!("cannot open {path}: {err}")))?;
    Ok(LogText { input: Box::new(reader::text_of(std::io::BufReader::with_capacity(1 << 20, file))), path })
  }

  /// The next piece of text, or null at the end of the log.
  #[napi]
  pub fn read(&mut self) -> Result<Option<Buffer>> {
    let piece = self.input.fill_buf().map_err(|err| js_error(format!("{}: {err}", self.path)))?.to_vec();
    self.input.consume(piece.len());
    Ok((!piece.is_empty()).then(|| piece.into()))
  }
}

/// Reads the profiler log `file` into totals, streaming; errors name it `path` (default: `file`)
/// and the line. With `stopAtRss`, only up to the first row whose RSS reaches it.
#[napi]
pub fn read_log(file: String, path: Option<String>, stop_at_rss: Option<f64>) -> Result<LogReport> {
  let path = path.unwrap_or_else(|| file.clone());
  let file = std::fs::File::open(&file).map_err(|err| js_error(format!("cannot open {path}: {err}")))?;
  let stop_at_rss = stop_at_rss.map(|rss| rss.max(0.0) as u64);
  let report = report::read_log_until(std::io::BufReader::with_capacity(1 << 20, file), stop_at_rss)
    .map_err(|err| js_error(format!("{path} is not a readable memtrace log: {err}")))?;
  let (peak_rss, peak_at) = match report.peak {
    Some((rss, at)) => (Some(rss as f64), Some(place(at))),
    None => (None, None),
  };
  Ok(LogReport {
    message: report
      .message
      .map(|m| text::unescape(&m).map(Utf16String::from))
      .transpose()
      .map_err(|err| js_error(format!("{path} is not a readable memtrace log: its message line: {err}")))?,
    complete: report.complete,
    events: report.events as f64,
    rows: report.rows as f64,
    peak_rss,
    peak_at,
    first_rss: report.first_rss.map(|rss| rss as f64),
    stopped: report.stopped,
    duration: report.duration,
    functions: report.functions.into_iter().map(FunctionTotals::from).collect(),
    lines: report.lines.into_iter().map(LineTotals::from).collect(),
    timeline_clock: report.timeline.iter().map(|(clock, _)| *clock).collect(),
    timeline_rss: report.timeline.iter().map(|(_, rss)| *rss as f64).collect(),
    jumps: report
      .jumps
      .into_iter()
      .map(|jump| Jump { d_rss: jump.d_rss as f64, rss: jump.rss as f64, place: place(jump.place) })
      .collect(),
    messages: report
      .messages
      .into_iter()
      .map(|m| {
        Ok(LogMessage {
          event: m.event as f64,
          clock: m.clock,
          text: text::unescape(&m.text).map_err(js_error)?.into(),
        })
      })
      .collect::<Result<_>>()?,
    collections: report
      .collections
      .into_iter()
      .map(|c| Collection {
        clock: c.clock,
        kind: c.kind,
        milliseconds: c.milliseconds,
        rss: c.rss as f64,
        d_rss: c.d_rss as f64,
      })
      .collect(),
    heap_clock: report.heap.iter().map(|(clock, _)| *clock).collect(),
    heap_used: report.heap.iter().map(|(_, heap)| heap.used as f64).collect(),
    heap_total: report.heap.iter().map(|(_, heap)| heap.total as f64).collect(),
    heap_external: report.heap.iter().map(|(_, heap)| heap.external as f64).collect(),
    heap_array_buffers: report.heap.iter().map(|(_, heap)| heap.array_buffers.map(|bytes| bytes as f64)).collect(),
    stacks: report.stacks.map(Stacks::from),
    damage: report.damage.map(Damage::from),
  })
}

impl From<report::ReportError> for Damage {
  fn from(damage: report::ReportError) -> Self {
    Damage { line: damage.line as f64, reason: damage.reason }
  }
}

/// What an export wrote: its entries, and where the log was damaged, if it was.
#[napi(object)]
pub struct Exported {
  pub entries: f64,
  pub damage: Option<Damage>,
}

/// One log of a Chrome trace, and the track it goes on.
#[napi(object)]
pub struct TraceLog {
  pub file: String,
  /// Its name for the user.
  pub path: String,
  pub pid: u32,
  pub tid: u32,
  /// Seconds from the trace's zero to the log's Clock 0.
  pub offset: f64,
  pub process: String,
  pub thread: String,
}

/// Writes `logs` as one Chrome trace (Trace Event Format) to `out`, each on its own track; what
/// was written of each.
#[napi]
pub fn export_chrome_trace(logs: Vec<TraceLog>, out: String) -> Result<Vec<Exported>> {
  let output = std::fs::File::create(&out).map_err(|err| js_error(format!("cannot write {out}: {err}")))?;
  let write_error = |err: std::io::Error| js_error(format!("cannot write {out}: {err}"));
  let mut trace =
    export::chrome::Trace::start(std::io::BufWriter::with_capacity(1 << 20, output)).map_err(write_error)?;
  let mut exported = Vec::with_capacity(logs.len());
  for log in &logs {
    let input = std::fs::File::open(&log.file).map_err(|err| js_error(format!("cannot open {}: {err}", log.path)))?;
    let track = export::chrome::Track {
      pid: log.pid,
      tid: log.tid,
      offset: log.offset,
      process: &log.process,
      thread: &log.thread,
    };
    let one = trace.add(std::io::BufReader::with_capacity(1 << 20, input), &track).map_err(|err| match err {
      export::ExportError::Log(err) => js_error(format!("{} is not a readable memtrace log: {err}", log.path)),
      err => js_error(format!("{out}: {err}")),
    })?;
    exported.push(Exported { entries: one.entries as f64, damage: one.damage.map(Damage::from) });
  }
  trace.finish().map_err(write_error)?;
  Ok(exported)
}

/// Creates a new file `YYYYMMDD_HHMMSS_<subject>.<extension>` in `dir` (made if need be; a
/// name taken gets `_<n>`), as logs are named; returns its path.
#[napi]
pub fn create_log_file(dir: String, subject: String, extension: String) -> Result<String> {
  let created = logfile::create(&LogTarget::Directory(dir.into()), &subject, &extension).map_err(js_error)?;
  let (_, path) = created.ok_or_else(|| js_error("a directory always gets a file"))?;
  Ok(path.to_string_lossy().into_owned())
}

/// A log whose stacks go into an export: its file, and its name for the user.
#[napi(object)]
pub struct StackLog {
  pub file: String,
  pub path: String,
}

/// The files growth by stack is exported as.
enum StackFormat {
  Collapsed,
  Speedscope,
  Pprof,
}

impl StackFormat {
  fn named(format: &str) -> Result<StackFormat> {
    match format {
      "collapsed" => Ok(StackFormat::Collapsed),
      "speedscope" => Ok(StackFormat::Speedscope),
      "pprof" => Ok(StackFormat::Pprof),
      other => Err(js_error(format!("format must be collapsed, speedscope or pprof, got {other:?}"))),
    }
  }

  /// Writes `tree` to `out`; `name` names the profile, `duration` (seconds) is how long it ran.
  /// Returns how many stacks it holds.
  fn write(&self, tree: &stacks::StackTree, out: &str, name: &str, duration: f64) -> Result<u64> {
    let file = std::fs::File::create(out).map_err(|err| js_error(format!("cannot write {out}: {err}")))?;
    let file = std::io::BufWriter::with_capacity(1 << 20, file);
    match self {
      StackFormat::Collapsed => export::collapsed::write(tree, file),
      StackFormat::Speedscope => export::speedscope::write(tree, name, file),
      StackFormat::Pprof => export::pprof::write(tree, name, duration, file),
    }
    .map_err(|err| js_error(format!("cannot write {out}: {err}")))
  }
}

/// Writes the RSS growth by stack of `logs` (their stacks merged) to `out` in `format`:
/// `collapsed` (folded stacks), `speedscope` or `pprof` (gzipped profile.proto); `name` names
/// the profile in it. What was read of each log; the entries are the stacks written.
#[napi]
pub fn export_stacks(logs: Vec<StackLog>, out: String, format: String, name: String) -> Result<Vec<Exported>> {
  let format = StackFormat::named(&format)?;
  let mut tree = stacks::StackTree::default();
  let mut read = Vec::with_capacity(logs.len());
  for log in &logs {
    let input = std::fs::File::open(&log.file).map_err(|err| js_error(format!("cannot open {}: {err}", log.path)))?;
    let one =
      export::read_stacks(&mut tree, std::io::BufReader::with_capacity(1 << 20, input)).map_err(|err| match err {
        export::ExportError::Log(err) => js_error(format!("{} is not a readable memtrace log: {err}", log.path)),
        err => js_error(format!("{}: {err}", log.path)),
      })?;
    read.push(one);
  }
  // Only once every log is read: a log that cannot be read leaves no half-written file.
  let duration = read.iter().map(|r| r.duration).fold(0.0, f64::max);
  let written = format.write(&tree, &out, &name, duration)?;
  Ok(read.into_iter().map(|r| Exported { entries: written as f64, damage: r.damage.map(Damage::from) }).collect())
}

/// Writes a tree of stacks read elsewhere (a heap profile: `growth` is the bytes allocated
/// there) to `out` in `format`, as `exportStacks` does; returns how many stacks it holds.
#[napi]
pub fn export_stack_tree(tree: Stacks, out: String, format: String, name: String) -> Result<f64> {
  let format = StackFormat::named(&format)?;
  let frames = tree
    .frames
    .into_iter()
    .map(|f| stacks::Frame { file: f.file, line: f.line, function: f.function, kind: stacks::FrameKind::Function })
    .collect();
  let nodes = (0..tree.parent.len()).map(|i| {
    let frame = u32::try_from(tree.frame[i]).unwrap_or(stacks::ROOT_FRAME);
    (tree.parent[i], frame, tree.growth[i] as u64, tree.release[i] as u64, tree.rows[i] as u64)
  });
  let tree = stacks::StackTree::from_parts(frames, nodes);
  Ok(format.write(&tree, &out, &name, 0.0)? as f64)
}

#[napi(object)]
pub struct MonitorOptions {
  /// Write to this file (created or truncated).
  pub log_file: Option<String>,
  /// Write a new, uniquely named `.jsonl` file in this directory.
  pub log_dir: Option<String>,
  /// Watch this process and its descendants; without it, this process.
  pub pid: Option<u32>,
  pub interval_ms: f64,
  /// The first row: one JSON object describing the run.
  pub header: String,
  /// V8's heap figures now, for the first sample (which is taken at once).
  pub heap: Option<HeapFigures>,
}

#[napi(object)]
pub struct HeapFigures {
  pub used: f64,
  pub total: f64,
  pub external: f64,
  pub array_buffers: f64,
}

#[napi(object)]
pub struct MonitorSummary {
  pub samples: f64,
  pub peak_rss: f64,
  pub peak_t: f64,
  pub last_rss: f64,
  pub last_t: f64,
}

impl From<monitor::Summary> for MonitorSummary {
  fn from(s: monitor::Summary) -> Self {
    MonitorSummary {
      samples: s.samples as f64,
      peak_rss: s.peak_rss as f64,
      peak_t: s.peak_t,
      last_rss: s.last_rss as f64,
      last_t: s.last_t,
    }
  }
}

/// A monitor: RSS of this process or of a process tree at an interval, as JSON Lines.
#[napi]
pub struct NativeMonitor {
  inner: Monitor,
  path: String,
}

#[napi]
impl NativeMonitor {
  #[napi(constructor)]
  pub fn new(options: MonitorOptions) -> Result<Self> {
    let target = log_target(options.log_file, options.log_dir)?;
    // Named after the process watched, which is this one or the root of a tree.
    let subject = options.pid.unwrap_or_else(std::process::id).to_string();
    let (file, path) = logfile::create(&target, &subject, "jsonl")
      .map_err(js_error)?
      .ok_or_else(|| js_error("a monitor log cannot be discarded"))?;
    let watched = options.pid.map_or(Target::This, Target::Tree);
    let interval = Duration::from_nanos((options.interval_ms.max(1.0) * 1e6) as u64);
    let heap =
      options.heap.map(|h| Heap { used: h.used, total: h.total, external: h.external, array_buffers: h.array_buffers });
    let inner = Monitor::start(watched, file, &options.header, interval, heap).map_err(js_error)?;
    Ok(NativeMonitor { inner, path: path.display().to_string() })
  }

  #[napi(getter)]
  pub fn path(&self) -> String {
    self.path.clone()
  }

  /// Hands over V8's heap figures for the rows to come.
  #[napi]
  pub fn set_heap(&self, used: f64, total: f64, external: f64, array_buffers: f64) {
    self.inner.set_heap(Heap { used, total, external, array_buffers });
  }

  #[napi]
  pub fn mark(&self, label: Utf16String) -> Result<()> {
    self.inner.mark(&label).map_err(js_error)
  }

  /// Whether the watched process tree is gone.
  #[napi(getter)]
  pub fn gone(&self) -> bool {
    self.inner.is_gone()
  }

  #[napi]
  pub fn summary(&self) -> MonitorSummary {
    self.inner.summary().into()
  }

  /// Writes the end row; idempotent.
  #[napi]
  pub fn stop(&mut self, exit_code: Option<i32>, signal: Option<String>) -> Result<MonitorSummary> {
    self.inner.stop(&Ending { exit_code, signal }).map(Into::into).map_err(js_error)
  }
}

/// Writes this thread's heap profile to `path` natively when JavaScript cannot: as a worker's
/// environment is torn down by `terminate()`, and when a caught signal ends the process (see
/// `allocations::LastResort`).
#[napi]
pub struct HeapLastResort(allocations::LastResort);

#[napi]
impl HeapLastResort {
  #[napi(constructor)]
  pub fn new(env: Env, path: String, marked: bool) -> Result<Self> {
    allocations::LastResort::new(env.raw(), PathBuf::from(path), marked).map(HeapLastResort).map_err(Error::from_reason)
  }

  /// JavaScript writes the profile: nothing is written natively.
  #[napi]
  pub fn forget(&self) {
    self.0.forget();
  }
}

/// This thread's sampling heap profile now, as `.heapprofile` JSON, read through V8's C++ API
/// (see `allocations.rs`); null when its heap is not sampled. `marked`: the runtime's V8 marks
/// collected objects' samples (14.6 and later), which then go apart, in `collectedSamples`.
#[napi]
pub fn heap_profile(env: Env, marked: bool) -> Result<Option<String>> {
  // SAFETY: a Node-API call runs on the env's JavaScript thread, its isolate alive.
  unsafe { allocations::profile(env.raw(), marked) }.map_err(Error::from_reason)
}
