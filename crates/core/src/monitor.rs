//! The monitor: the RSS of this process, or of a process and all its descendants, at a fixed
//! interval, as JSON Lines. Cheap enough to leave on: one kernel read (or one scan of the
//! process table) per interval, on a thread of its own, so a busy event loop does not delay it.
//!
//! ```text
//! {"type":"header","format":"memtrace-monitor","version":1,"intervalMs":250,…}   (written by the caller)
//! {"type":"sample","t":0.000000,"rss":48234496,"heap":{"used":…,"total":…,"external":…,"arrayBuffers":…,"t":0.000000}}
//! {"type":"sample","t":0.250000,"rss":91226112,"processes":[{"pid":41,"ppid":40,"rss":…,"name":"node child.js"},…]}
//! {"type":"mark","t":0.261100,"rss":91226112,"label":"after load"}
//! {"type":"end","t":1.503220,"samples":7,"peakRss":91226112,"peakT":0.250000,"exitCode":0,"signal":null}
//! ```
//! `rss` is always the total: of this process, or summed over the tree (whose members are then
//! listed in `processes`). `heap` holds the V8 figures JS last handed over, and when it took them.
//! Each row is written whole as soon as it is made, so a killed process leaves a readable log.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessStatus, ProcessesToUpdate, System, UpdateKind};

use crate::format::jsonl::Object;
use crate::rss;

/// Whose memory is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
  /// This process.
  This,
  /// Process `pid` and every process descended from it.
  Tree(u32),
}

/// V8's heap figures, handed over by JS.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Heap {
  pub used: f64,
  pub total: f64,
  pub external: f64,
  pub array_buffers: f64,
}

/// What a monitor saw, for the summary line.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
  pub samples: u64,
  pub peak_rss: u64,
  /// Seconds since the start at which the peak was seen.
  pub peak_t: f64,
  /// The last total, and when it was taken.
  pub last_rss: u64,
  pub last_t: f64,
  /// Samples left out because no RSS could be read (a process of the tree may be left out of a
  /// sample for the same reason: it vanished between the scan and the read).
  pub skipped: u64,
}

/// How the watched process ended, for the `end` row.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ending {
  pub exit_code: Option<i32>,
  pub signal: Option<String>,
}

struct State {
  file: File,
  summary: Summary,
  heap: Option<(Heap, f64)>,
  /// The watched tree is gone (its root exited).
  gone: bool,
  ended: bool,
}

struct Shared {
  state: Mutex<State>,
  wake: Condvar,
  stopping: AtomicBool,
  target: Target,
  started: Instant,
}

pub struct Monitor {
  shared: Arc<Shared>,
  thread: Option<JoinHandle<io::Result<()>>>,
}

impl State {
  /// Leaves a sample out because RSS could not be read: the first time, an `error` row says so
  /// in the log, and stderr too.
  fn skip(&mut self, t: f64, reason: &str) -> io::Result<()> {
    self.summary.skipped += 1;
    if self.summary.skipped > 1 {
      return Ok(());
    }
    let message = format!("cannot read RSS: {reason}; samples are left out while it fails");
    eprintln!("memtrace: {message}");
    let row = Object::new().string("type", "error").seconds("t", t).string("message", &message).finish();
    self.file.write_all(row.as_bytes())
  }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
  state.lock().unwrap_or_else(|p| p.into_inner())
}

impl Monitor {
  /// Writes `header` (one JSON object) as the first row of `file`, takes the first sample at
  /// once (with `heap`, V8's figures as they are now, when the caller has them), and samples
  /// every `interval` after it until stopped or, for a tree, until its root process is gone.
  pub fn start(
    target: Target,
    mut file: File,
    header: &str,
    interval: Duration,
    heap: Option<Heap>,
  ) -> io::Result<Monitor> {
    if header.contains('\n') {
      return Err(io::Error::new(io::ErrorKind::InvalidInput, "the monitor's header must be one line"));
    }
    file.write_all(format!("{header}\n").as_bytes())?;
    let shared = Arc::new(Shared {
      state: Mutex::new(State {
        file,
        summary: Summary::default(),
        heap: heap.map(|h| (h, 0.0)),
        gone: false,
        ended: false,
      }),
      wake: Condvar::new(),
      stopping: AtomicBool::new(false),
      target,
      started: Instant::now(),
    });
    let mut sampler = Sampler::new(target)?;
    sampler.sample(&shared)?;
    let thread = {
      let shared = shared.clone();
      std::thread::Builder::new().name("memtrace-monitor".into()).spawn(move || {
        let interval = interval.max(Duration::from_millis(1));
        for tick in 1u32.. {
          // On a fixed schedule, so that rows do not drift later and later.
          let due = shared.started + interval * tick;
          let mut state = lock(&shared.state);
          while !shared.stopping.load(Ordering::Acquire) && Instant::now() < due {
            let wait = due.saturating_duration_since(Instant::now());
            state = shared.wake.wait_timeout(state, wait).unwrap_or_else(|p| p.into_inner()).0;
          }
          if shared.stopping.load(Ordering::Acquire) || state.gone {
            return Ok(());
          }
          drop(state);
          sampler.sample(&shared)?;
        }
        Ok(())
      })?
    };
    Ok(Monitor { shared, thread: Some(thread) })
  }

  /// Hands over V8's heap figures for the rows to come.
  pub fn set_heap(&self, heap: Heap) {
    let t = self.shared.started.elapsed().as_secs_f64();
    lock(&self.shared.state).heap = Some((heap, t));
  }

  /// Writes a `mark` row now, with the total RSS now. The label is UTF-16, as JavaScript gave it.
  pub fn mark(&self, label: &[u16]) -> io::Result<()> {
    let rss = match self.shared.target {
      Target::This => rss::current().unwrap_or(0),
      Target::Tree(_) => lock(&self.shared.state).summary.last_rss,
    };
    let t = self.shared.started.elapsed().as_secs_f64();
    let mut state = lock(&self.shared.state);
    if state.ended {
      return Err(io::Error::other("the monitor has stopped"));
    }
    let row =
      Object::new().string("type", "mark").seconds("t", t).number("rss", rss).string_utf16("label", label).finish();
    state.file.write_all(row.as_bytes())
  }

  /// Whether the watched tree is gone (its root process exited).
  pub fn is_gone(&self) -> bool {
    lock(&self.shared.state).gone
  }

  pub fn summary(&self) -> Summary {
    lock(&self.shared.state).summary
  }

  /// Stops sampling and writes the `end` row. Idempotent: later calls return the same summary.
  pub fn stop(&mut self, ending: &Ending) -> io::Result<Summary> {
    self.shared.stopping.store(true, Ordering::Release);
    self.shared.wake.notify_all();
    if let Some(thread) = self.thread.take() {
      thread.join().map_err(|_| io::Error::other("the memtrace-monitor thread panicked"))??;
    }
    let mut state = lock(&self.shared.state);
    if !state.ended {
      state.ended = true;
      let s = state.summary;
      let mut row = Object::new()
        .string("type", "end")
        .seconds("t", self.shared.started.elapsed().as_secs_f64())
        .number("samples", s.samples)
        .number("peakRss", s.peak_rss)
        .seconds("peakT", s.peak_t)
        .number("skipped", s.skipped);
      row = match ending.exit_code {
        Some(code) => row.number("exitCode", code),
        None => row.null("exitCode"),
      };
      row = match &ending.signal {
        Some(signal) => row.string("signal", signal),
        None => row.null("signal"),
      };
      state.file.write_all(row.finish().as_bytes())?;
    }
    Ok(state.summary)
  }
}

impl Drop for Monitor {
  fn drop(&mut self) {
    let _ = self.stop(&Ending::default());
  }
}

/// Takes samples: of this process by [`rss::current`], of a tree through sysinfo's process table.
struct Sampler {
  system: Option<System>,
  names: HashMap<u32, String>,
}

impl Sampler {
  fn new(target: Target) -> io::Result<Sampler> {
    let system = match target {
      Target::This => None,
      Target::Tree(_) => {
        Some(System::new().map_err(|err| io::Error::other(format!("cannot read the process table: {err:?}")))?)
      }
    };
    Ok(Sampler { system, names: HashMap::new() })
  }

  fn sample(&mut self, shared: &Shared) -> io::Result<()> {
    let t = shared.started.elapsed().as_secs_f64();
    let read = match shared.target {
      Target::This => rss::current().map(|rss| (rss, None)).map_err(|err| err.to_string()),
      Target::Tree(root) => {
        let tree = self.tree(root);
        if tree.is_empty() {
          lock(&shared.state).gone = true;
          return Ok(());
        }
        // A process whose memory could not be read shows 0: it is left out, not counted as 0.
        let readable: Vec<_> = tree.into_iter().filter(|p| p.2 > 0).collect();
        if readable.is_empty() {
          Err(format!("the memory of process {root} and its descendants could not be read"))
        } else {
          Ok((readable.iter().map(|p| p.2).sum(), Some(readable)))
        }
      }
    };
    let mut state = lock(&shared.state);
    if state.ended {
      return Ok(());
    }
    let (total, processes) = match read {
      Ok(read) => read,
      Err(reason) => return state.skip(t, &reason),
    };
    let mut row = Object::new().string("type", "sample").seconds("t", t).number("rss", total);
    if let Some((heap, at)) = state.heap {
      let heap = Object::new()
        .number("used", heap.used)
        .number("total", heap.total)
        .number("external", heap.external)
        .number("arrayBuffers", heap.array_buffers)
        .seconds("t", at);
      row = row.raw("heap", &heap.finish_inline());
    }
    if let Some(processes) = processes {
      let list: Vec<String> = processes
        .iter()
        .map(|(pid, ppid, rss)| {
          let name = self.names.get(pid).map_or("", String::as_str);
          Object::new()
            .number("pid", *pid)
            .number("ppid", *ppid)
            .number("rss", *rss)
            .string("name", name)
            .finish_inline()
        })
        .collect();
      row = row.raw("processes", &format!("[{}]", list.join(",")));
    }
    state.file.write_all(row.finish().as_bytes())?;
    let summary = &mut state.summary;
    summary.samples += 1;
    summary.last_rss = total;
    summary.last_t = t;
    if total > summary.peak_rss {
      summary.peak_rss = total;
      summary.peak_t = t;
    }
    Ok(())
  }

  /// `(pid, parent pid, rss)` of `root` and its descendants, root first; empty when root is gone.
  fn tree(&mut self, root: u32) -> Vec<(u32, u32, u64)> {
    let Some(system) = &mut self.system else { return Vec::new() };
    system.refresh_processes_specifics(
      ProcessesToUpdate::All,
      true,
      ProcessRefreshKind::nothing().with_memory().with_cmd(UpdateKind::OnlyIfNotSet),
    );
    let processes = system.processes();
    // A zombie has ended; only its parent has not collected its exit status yet.
    let alive = |pid: &Pid| processes.get(pid).is_some_and(|p| p.status() != ProcessStatus::Zombie);
    if !alive(&Pid::from_u32(root)) {
      return Vec::new();
    }
    let mut members = vec![root];
    let mut seen = HashSet::from([root]);
    let mut found = true;
    // Repeat until no new descendant turns up: parents may be listed after their children.
    while found {
      found = false;
      for (pid, process) in processes {
        // On Linux, threads are listed too, as children of their process; they share its memory.
        if process.thread_kind().is_some() || process.status() == ProcessStatus::Zombie {
          continue;
        }
        let pid = pid.as_u32();
        if let Some(parent) = process.parent() {
          if seen.contains(&parent.as_u32()) && seen.insert(pid) {
            members.push(pid);
            found = true;
          }
        }
      }
    }
    members
      .into_iter()
      .filter_map(|pid| {
        let process = processes.get(&Pid::from_u32(pid))?;
        self.names.entry(pid).or_insert_with(|| {
          let words: Vec<String> = process.cmd().iter().take(3).map(|w| w.to_string_lossy().into_owned()).collect();
          if words.is_empty() {
            process.name().to_string_lossy().into_owned()
          } else {
            words.join(" ")
          }
        });
        Some((pid, process.parent().map_or(0, Pid::as_u32), process.memory()))
      })
      .collect()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn temp_file(name: &str) -> (File, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("memtrace-monitor-{name}-{}.jsonl", std::process::id()));
    (File::create(&path).unwrap(), path)
  }

  #[test]
  fn this_process_is_sampled_on_schedule_with_marks_and_an_end() {
    let (file, path) = temp_file("this");
    let first = Heap { used: 5.0, total: 6.0, external: 7.0, array_buffers: 8.0 };
    let mut monitor =
      Monitor::start(Target::This, file, r#"{"type":"header"}"#, Duration::from_millis(20), Some(first)).unwrap();
    monitor.set_heap(Heap { used: 1.0, total: 2.0, external: 3.0, array_buffers: 4.0 });
    crate::wait_until("5 samples", || monitor.summary().samples >= 5);
    monitor.mark(&[&"half \"way\"\n".encode_utf16().collect::<Vec<_>>()[..], &[0xD800]].concat()).unwrap();
    crate::wait_until("10 samples", || monitor.summary().samples >= 10);
    let summary = monitor.stop(&Ending { exit_code: Some(3), signal: None }).unwrap();
    assert_eq!(monitor.stop(&Ending::default()).unwrap(), summary);
    assert!(monitor.mark(&[0x6c]).is_err());
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], r#"{"type":"header"}"#);
    assert!(
      lines[1].contains(r#""heap":{"used":5,"total":6,"external":7,"arrayBuffers":8,"t":0.000000}"#),
      "{}",
      lines[1]
    );
    assert!(
      lines.iter().any(|l| l.contains(r#""type":"mark""#) && l.contains(r#""label":"half \"way\"\n\ud800""#)),
      "{text}"
    );
    let samples: Vec<f64> = lines
      .iter()
      .filter(|l| l.contains(r#""type":"sample""#))
      .map(|l| l.split(r#""t":"#).nth(1).unwrap().split(',').next().unwrap().parse().unwrap())
      .collect();
    assert_eq!(samples.len() as u64, summary.samples);
    assert!(samples.len() >= 10);
    // On a fixed schedule from the start: sample k is never taken before k intervals have passed.
    let early: Vec<_> = samples.iter().enumerate().filter(|&(k, &t)| t < k as f64 * 0.020 - 1e-6).collect();
    assert!(early.is_empty(), "samples ahead of their schedule: {early:?}");
    assert!(lines
      .iter()
      .skip(2)
      .any(|l| l.contains(r#""heap":{"used":1,"total":2,"external":3,"arrayBuffers":4,"t":"#)));
    assert!(
      lines.last().unwrap().starts_with(r#"{"type":"end","#)
        && lines.last().unwrap().contains(r#""exitCode":3,"signal":null}"#)
    );
    std::fs::remove_file(path).unwrap();
  }

  #[test]
  fn a_sample_that_cannot_be_read_is_left_out_and_said_once() {
    let (file, path) = temp_file("skip");
    let mut state = State { file, summary: Summary::default(), heap: None, gone: false, ended: false };
    state.skip(0.5, "statm went away").unwrap();
    state.skip(0.75, "statm went away").unwrap();
    assert_eq!(state.summary.skipped, 2);
    assert_eq!(state.summary.samples, 0, "nothing was written as a sample of 0");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
      text,
      "{\"type\":\"error\",\"t\":0.500000,\"message\":\"cannot read RSS: statm went away; samples are left out while it fails\"}\n"
    );
    std::fs::remove_file(path).unwrap();
  }

  #[test]
  #[cfg(unix)]
  fn a_tree_is_summed_and_its_end_is_noticed() {
    let (file, path) = temp_file("tree");
    let stop = path.with_extension("stop");
    // A shell with a second shell in the background, both waiting for the stop file.
    let wait = format!("until [ -e '{}' ]; do sleep 0.01; done", stop.display());
    let mut child = std::process::Command::new("sh").args(["-c", &format!("{wait} & {wait}; wait")]).spawn().unwrap();
    let mut monitor = Monitor::start(Target::Tree(child.id()), file, "{}", Duration::from_millis(25), None).unwrap();
    let rows_with_pids = |n: usize| {
      let text = std::fs::read_to_string(&path).unwrap();
      text.lines().filter(|l| l.matches(r#""pid":"#).count() >= n).count()
    };
    crate::wait_until("a sample of both shells and a sleep", || rows_with_pids(3) > 0);
    std::fs::write(&stop, "").unwrap();
    child.wait().unwrap();
    crate::wait_until("the monitor to notice the tree is gone", || monitor.is_gone());
    monitor.stop(&Ending::default()).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let sums = text.lines().filter(|l| l.contains(r#""type":"sample""#)).all(|l| {
      let total: u64 = l.split(r#""rss":"#).nth(1).unwrap().split([',', '}']).next().unwrap().parse().unwrap();
      let parts: u64 =
        l.split(r#""rss":"#).skip(2).map(|p| p.split([',', '}']).next().unwrap().parse::<u64>().unwrap()).sum();
      total == parts
    });
    assert!(sums, "each sample's rss is the sum of its processes':\n{text}");
    std::fs::remove_file(path).unwrap();
    std::fs::remove_file(stop).unwrap();
  }
}
