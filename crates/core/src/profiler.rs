//! One profiler: a log file, the ring JS writes events into, its subscription to the sampler
//! that keeps RSS fresh in it, and the writer that drains it into the file.
//!
//! The JS side (`src/profile/`) decides which events to log (the filter runs on the hot path);
//! this side only names the file, moves records to disk and finishes the log however the
//! process ends.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::format::Heap;
pub use crate::logfile::LogTarget;
use crate::logfile::{self, LogFileError};
use crate::ring::Ring;
use crate::rss;
use crate::sampler::{self, Subscription};
use crate::sink::{Discard, Sink};
use crate::writer::{Collection, LogFormat, Summary, WriteError, Writer, WriterControl};

#[derive(Debug, Clone)]
pub struct Options {
  pub log: LogTarget,
  /// A line written before `SOF`.
  pub message: Option<String>,
  /// Records the ring holds; rounded up to a power of two.
  pub capacity: u32,
  /// How often the sampler reads RSS; zero polls without sleeping.
  pub rss_period: Duration,
  /// The worker thread recorded (Node's `threadId`), named in a new log's file name after the
  /// pid; `None` for the main thread.
  pub thread: Option<u32>,
  /// The dRSS filter JS applies to events, in pages, which the writer applies to GC rows.
  pub trigger_pages: u64,
  /// The seed's text, or binary records that read back as it (`format::binary`).
  pub format: LogFormat,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
  #[error(transparent)]
  Create(#[from] LogFileError),
  #[error("cannot write the log file {path}: {source}")]
  Write { path: PathBuf, source: WriteError },
  #[error("cannot start a memtrace thread: {0}")]
  Thread(io::Error),
}

/// Why a log could not be finished.
#[derive(Debug, Clone, thiserror::Error)]
#[error("could not finish the log {path}: {reason}")]
pub struct StopError {
  pub path: String,
  /// What went wrong, as the writer said it (its error is not `Clone`, and `stop` answers
  /// every call the same).
  pub reason: String,
}

pub struct Profiler {
  ring: Arc<Ring>,
  trigger_pages: u64,
  path: Option<PathBuf>,
  writer: Option<Writer>,
  /// The sampler keeps this ring fresh while the profiler records (not while suspended).
  sampling: Option<Subscription>,
  rss_period: Duration,
  started: Instant,
  summary: Option<Result<Summary, StopError>>,
}

/// Writers of profilers that are running, for ending their logs when a signal ends the process.
static LIVE: Mutex<Vec<(Weak<WriterControl>, Weak<Ring>)>> = Mutex::new(Vec::new());

impl Profiler {
  /// Creates the log file and writes its header (so that an unwritable location fails here,
  /// before anything is traced), then starts the sampler and the writer.
  pub fn start(options: &Options) -> Result<Profiler, ProfileError> {
    let started = Instant::now();
    let (sink, path): (Box<dyn Sink>, Option<PathBuf>) =
      match logfile::create(&options.log, &subject(options.thread), "log")? {
        Some((file, path)) => (Box::new(file), Some(path)),
        None => (Box::new(Discard), None),
      };
    let ring = Arc::new(Ring::new(options.capacity));
    let name = path.as_ref().map_or("<discard>".into(), |p| p.display().to_string());
    let writer =
      Writer::start(ring.clone(), sink, options.message.as_deref(), &name, options.format).map_err(|source| {
        // Nothing of the log could be written (a full disk): leave no empty file behind.
        if let Some(path) = &path {
          let _ = std::fs::remove_file(path);
        }
        ProfileError::Write { path: path.clone().unwrap_or_else(|| PathBuf::from("<discard>")), source }
      })?;
    let sampling = sampler::subscribe(ring.clone(), options.rss_period, started).map_err(ProfileError::Thread)?;
    let mut live = LIVE.lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|(control, _)| control.strong_count() > 0);
    live.push((Arc::downgrade(&writer.control), Arc::downgrade(&ring)));
    Ok(Profiler {
      ring,
      trigger_pages: options.trigger_pages,
      path,
      writer: Some(writer),
      sampling: Some(sampling),
      rss_period: options.rss_period,
      started,
      summary: None,
    })
  }

  pub fn ring(&self) -> &Arc<Ring> {
    &self.ring
  }

  /// The log file, unless the log is discarded.
  pub fn path(&self) -> Option<&Path> {
    self.path.as_deref()
  }

  /// Queues the text of the MSG record JS is about to write.
  pub fn message(&self, text: String) {
    if let Some(writer) = &self.writer {
      writer.control.push_message(text);
    }
  }

  /// Another profiler is recording this thread for now: this one's writer sleeps and its ring is
  /// no longer sampled, so that it costs nothing until [`Self::resume`].
  pub fn suspend(&mut self) {
    self.sampling = None;
    if let Some(writer) = &self.writer {
      writer.control.suspend();
    }
  }

  /// Records again after [`Self::suspend`]: RSS is sampled into the ring at once.
  pub fn resume(&mut self) -> io::Result<()> {
    if self.writer.is_none() || self.sampling.is_some() {
      return Ok(());
    }
    self.sampling = Some(sampler::subscribe(self.ring.clone(), self.rss_period, self.started)?);
    if let Some(writer) = &self.writer {
      writer.control.resume();
    }
    Ok(())
  }

  /// Where the garbage collections of the recorded thread go, for GC rows.
  pub fn collections(&self) -> Option<Collections> {
    let control = self.writer.as_ref()?.control.clone();
    Some(Collections { control, ring: self.ring.clone(), started: self.started, trigger_pages: self.trigger_pages })
  }

  /// Blocks until the ring has room (JS calls this when it finds the ring full).
  pub fn wait_for_space(&self) {
    if let Some(writer) = &self.writer {
      writer.control.wait_for_space(&self.ring);
    }
  }

  /// Ends the log: the writer drains what JS published (JS writes LAST first) and writes EOF.
  /// Calling it again returns the same result.
  pub fn stop(&mut self) -> Result<Summary, StopError> {
    if let Some(writer) = self.writer.take() {
      let result = writer.join().map_err(|err| StopError { path: self.name(), reason: err.to_string() });
      self.sampling = None;
      self.summary = Some(result);
    }
    self.summary.clone().unwrap_or_else(|| Err(StopError { path: self.name(), reason: "it never started".into() }))
  }

  fn name(&self) -> String {
    self.path.as_ref().map_or("<discard>".into(), |p| p.display().to_string())
  }
}

impl Drop for Profiler {
  fn drop(&mut self) {
    let _ = self.stop();
  }
}

/// Takes the garbage collections of a profiler's thread (from V8's GC callbacks, on that thread)
/// to its writer, which writes them as GC rows among the events.
pub struct Collections {
  control: Arc<WriterControl>,
  ring: Arc<Ring>,
  started: Instant,
  trigger_pages: u64,
}

impl Collections {
  /// A collection of `kind` (`format::gc::KINDS`) that ran from `start` for `duration` has
  /// just ended, with RSS `rss_before` bytes before it and `rss_after` after it, and V8's heap
  /// as `heap` says. Nothing is kept once the log is closed (its writer has ended).
  pub fn record(
    &self,
    start: Instant,
    duration: Duration,
    kind: u8,
    rss_before: u64,
    rss_after: u64,
    heap: Option<Heap>,
  ) {
    if self.ring.is_closed() {
      return;
    }
    let page = rss::page_size();
    self.control.push_collection(Collection {
      after_event: self.ring.events(),
      clock: start.saturating_duration_since(self.started).as_secs_f64(),
      kind,
      duration_us: duration.as_micros() as u64,
      rss_before_pages: rss_before / page,
      rss_pages: rss_after / page,
      trigger_pages: self.trigger_pages,
      heap,
    });
  }
}

/// What a new log is named after: the pid, and for a worker thread its id (`4321_2`).
fn subject(thread: Option<u32>) -> String {
  let pid = std::process::id();
  thread.map_or_else(|| pid.to_string(), |thread| format!("{pid}_{thread}"))
}

/// Ends every running log because the process got `signal`, waiting at most `patience` for the
/// writers. Called from the signal watcher thread, while the JS thread may still be running.
pub fn finish_all_for_signal(signal: i32, patience: Duration) {
  let live: Vec<_> = LIVE.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
  let rings: Vec<Arc<Ring>> = live
    .iter()
    .filter_map(|(control, ring)| {
      control.upgrade()?.finish_for_signal(signal);
      ring.upgrade()
    })
    .collect();
  let deadline = Instant::now() + patience;
  while rings.iter().any(|ring| !ring.is_closed()) && Instant::now() < deadline {
    std::thread::sleep(Duration::from_millis(1));
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn an_unwritable_location_fails_before_anything_runs() {
    let options = |log| Options {
      log,
      message: None,
      capacity: 4,
      rss_period: Duration::from_millis(1),
      thread: None,
      trigger_pages: 1,
      format: LogFormat::Text,
    };
    let err = Profiler::start(&options(LogTarget::File("/proc/memtrace/x.log".into()))).err().unwrap();
    assert!(err.to_string().starts_with("cannot create the log file /proc/memtrace/x.log: "), "{err}");
    let err = Profiler::start(&options(LogTarget::Directory("/proc/memtrace".into()))).err().unwrap();
    assert!(err.to_string().starts_with("cannot create the log directory /proc/memtrace: "), "{err}");
  }

  #[test]
  fn a_worker_thread_log_is_named_after_the_pid_and_the_thread() {
    let dir = std::env::temp_dir().join(format!("memtrace-thread-{}", std::process::id()));
    let start = |thread| {
      let options = Options {
        log: LogTarget::Directory(dir.clone()),
        message: None,
        capacity: 4,
        rss_period: Duration::from_millis(1),
        thread,
        trigger_pages: 1,
        format: LogFormat::Text,
      };
      let mut profiler = Profiler::start(&options).unwrap();
      profiler.stop().unwrap();
      profiler.path().unwrap().file_name().unwrap().to_string_lossy().into_owned()
    };
    let pid = std::process::id();
    assert!(start(Some(3)).ends_with(&format!("_{pid}_3.log")));
    assert!(start(None).ends_with(&format!("_{pid}.log")));
    std::fs::remove_dir_all(&dir).unwrap();
  }

  #[test]
  fn stop_is_idempotent() {
    let mut profiler = Profiler::start(&Options {
      log: LogTarget::Discard,
      message: None,
      capacity: 4,
      rss_period: Duration::from_millis(1),
      thread: None,
      trigger_pages: 1,
      format: LogFormat::Text,
    })
    .unwrap();
    let first = profiler.stop().unwrap();
    assert_eq!(profiler.stop().unwrap(), first);
    assert!(profiler.ring().is_closed());
  }
}
