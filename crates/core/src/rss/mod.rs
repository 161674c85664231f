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

/// The RSS of this process now, in bytes.
#[inline]
pub fn current() -> Result<u64, RssError> {
  os::current()
}

/// The largest RSS this process has had, in bytes.
pub fn peak() -> Result<u64, RssError> {
  os::peak()
}

/// The RSS of process `pid` now, in bytes.
pub fn of_pid(pid: u32) -> Result<u64, RssError> {
  os::of_pid(pid)
}

/// The size of a memory page, in bytes: the unit in which RSS grows.
pub fn page_size() -> u64 {
  os::page_size()
}
