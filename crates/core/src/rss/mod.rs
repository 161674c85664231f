//! Resident set size (RSS): the bytes of a process's memory that are in RAM right now.
//!
//! One file per OS, chosen by `cfg`; each gives the same four functions.
//!
//! * Linux: `/proc/self/statm`, read with `pread` on a descriptor kept open. Opening and parsing
//!   the file for every read (what `process.memoryUsage.rss()` and the seed's C code do) costs
//!   ~6 µs here; a `pread` on a kept descriptor ~1 µs. Peak: `VmHWM` in `/proc/self/status`,
//!   which, unlike `getrusage`'s `ru_maxrss`, does not carry the peak of the image replaced by
//!   `execve`.
//! * macOS: `task_info(MACH_TASK_BASIC_INFO)` for this process (current and peak),
//!   `proc_pidinfo(PROC_PIDTASKINFO)` for another.
//! * Windows: `GetProcessMemoryInfo`: the working set and its peak.
//! * FreeBSD: `sysctl(KERN_PROC_PID)` → `kinfo_proc.ki_rssize` (pages); peak from `getrusage`.
//!
//! An OS with none of these fails to build rather than report a made-up 0.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod os;

#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod os;

#[cfg(target_os = "windows")]
#[path = "windows.rs"]
mod os;

#[cfg(target_os = "freebsd")]
#[path = "freebsd.rs"]
mod os;

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows", target_os = "freebsd")))]
compile_error!(
  "memtrace cannot read the RSS of a process on this OS yet: add crates/core/src/rss/<os>.rs \
   with `current`, `peak`, `of_pid` and `page_size`, and list it in crates/core/src/rss/mod.rs"
);

/// Why an RSS could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RssError {
  #[error("no process with pid {pid} exists")]
  NoSuchProcess { pid: u32 },
  #[error("not allowed to read the memory of process {pid}")]
  PermissionDenied { pid: u32 },
  #[error("could not read {what}: {source}")]
  Io {
    what: &'static str,
    #[source]
    source: io::Error,
  },
  #[error("could not understand {what}: {text:?}")]
  Parse { what: &'static str, text: String },
}

/// The largest RSS [`reported`] has given. The OS counts the current RSS and its peak apart (on
/// Linux, `statm` sums counters that `VmHWM` catches up with only now and then), so a peak read
/// after a current RSS can be below it, by a few hundred KiB.
static HIGHEST: AtomicU64 = AtomicU64::new(0);

/// The RSS of this process now, in bytes.
#[inline]
pub fn current() -> Result<u64, RssError> {
  os::current()
}

/// [`current`], for a caller that shows it beside [`peak`], which will not be below it. (Not
/// for the hot path: remembering it costs `rss: 'exact'` 3 % per event.)
pub fn reported() -> Result<u64, RssError> {
  let rss = os::current()?;
  HIGHEST.fetch_max(rss, Ordering::Relaxed);
  Ok(rss)
}

/// The largest RSS this process has had, in bytes: never below one [`reported`] has given.
pub fn peak() -> Result<u64, RssError> {
  Ok(os::peak()?.max(HIGHEST.load(Ordering::Relaxed)))
}

/// The RSS of process `pid` now, in bytes.
pub fn of_pid(pid: u32) -> Result<u64, RssError> {
  os::of_pid(pid)
}

/// The size of a memory page, in bytes: the unit in which RSS grows.
pub fn page_size() -> u64 {
  os::page_size()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_peak_read_after_a_reported_rss_is_never_below_it() {
    for round in 0..200 {
      // Memory touched and given back between reads, as a program's allocator does.
      let touched = vec![round as u8; 1 << 20];
      let now = reported().unwrap();
      drop(touched);
      assert!(peak().unwrap() >= now, "round {round}");
    }
  }
}
