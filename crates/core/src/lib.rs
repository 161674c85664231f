//! memtrace-core: the engine of memtrace, a memory tracer for Node.js.
//!
//! This crate knows nothing of Node-API: `crates/node` wraps it for JavaScript, and everything
//! here can be tested with `cargo test`. Data flows one way:
//!
//! ```text
//! instrumented JS ──(hot path, src/profile/hotpath.ts)──▶ ring ──▶ writer thread ──▶ log file
//!                                   ▲ RSS, clock
//!                               sampler thread
//! ```
//!
//! * [`rss`]: the resident set size of this process (now and peak) and of another process, one
//!   implementation per OS.
//! * [`instrument`]: rewrites JavaScript so that every function reports its events; with the
//!   process-wide [`functions`] table that gives each function an id.
//! * [`ring`]: the memory a profiler shares with the JS thread; [`sampler`] keeps RSS fresh in
//!   it, [`writer`] drains it into [`format`]ted rows that [`sink`] lays out so that no row is
//!   ever half-written; [`profiler`] ties them together, and
//!   [`signals`] ends the logs when a signal ends the process.
//! * [`reader`] reads a log row by row; [`report`] into totals, [`stacks`] into a tree of call
//!   stacks, [`export`] into the files other tools read.
//! * [`monitor`]: RSS over time of this process or of a process tree, as JSON Lines.
//! * [`logfile`]: where logs go and how new ones are named.
//! * [`child`]: the command `memtrace run` and `monitor` start, in a process group of its own.

pub mod child;
pub mod export;
pub mod format;
pub mod functions;
pub mod instrument;
pub mod logfile;
pub mod monitor;
pub mod profiler;
pub mod reader;
pub mod report;
pub mod ring;
pub mod rss;
pub mod sampler;
pub mod signals;
pub mod sink;
pub mod stacks;
pub mod writer;

/// Waits until `done()` holds, looking every millisecond. Tests share a loaded machine, so they
/// wait for states, never for lengths of time; the deadline (generous) only ends a wait that
/// would otherwise never end.
#[cfg(test)]
pub(crate) fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
  let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
  while !done() {
    assert!(std::time::Instant::now() < deadline, "gave up after 60 s waiting for {what}");
    std::thread::sleep(std::time::Duration::from_millis(1));
  }
}
