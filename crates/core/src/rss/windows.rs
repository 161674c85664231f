//! Windows: the working set, which is what Task Manager and `process.memoryUsage().rss` show.

use std::mem::size_of;

use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, HANDLE};
use windows_sys::Win32::System::ProcessStatus::{GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION};

use super::RssError;

fn counters(process: HANDLE) -> Result<PROCESS_MEMORY_COUNTERS, RssError> {
  // SAFETY: PROCESS_MEMORY_COUNTERS is plain data; all zeroes is a valid value.
  let mut counters: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
  let cb = size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
  counters.cb = cb;
  // SAFETY: `process` is a valid handle with query rights and `counters` is `cb` bytes long.
  if unsafe { GetProcessMemoryInfo(process, &mut counters, cb) } == 0 {
    return Err(RssError::Io { what: "GetProcessMemoryInfo", source: std::io::Error::last_os_error() });
  }
  Ok(counters)
}

pub fn current() -> Result<u64, RssError> {
  // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing.
  Ok(counters(unsafe { GetCurrentProcess() })?.WorkingSetSize as u64)
}

pub fn peak() -> Result<u64, RssError> {
  // SAFETY: as in `current`.
  Ok(counters(unsafe { GetCurrentProcess() })?.PeakWorkingSetSize as u64)
}

pub fn of_pid(pid: u32) -> Result<u64, RssError> {
  // SAFETY: OpenProcess has no preconditions; a null handle means failure.
  let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
  if handle.is_null() {
    // SAFETY: reads this thread's last-error value, set by OpenProcess just now.
    return Err(match unsafe { GetLastError() } {
      ERROR_INVALID_PARAMETER => RssError::NoSuchProcess { pid },
      ERROR_ACCESS_DENIED => RssError::PermissionDenied { pid },
      _ => RssError::Io { what: "OpenProcess", source: std::io::Error::last_os_error() },
    });
  }
  let result = counters(handle).map(|c| c.WorkingSetSize as u64);
  // SAFETY: `handle` came from OpenProcess and is closed once, here.
  unsafe { CloseHandle(handle) };
  result
}

pub fn page_size() -> u64 {
  // SAFETY: SYSTEM_INFO is plain data, filled by GetSystemInfo, which cannot fail.
  let mut info: SYSTEM_INFO = unsafe { std::mem::zeroed() };
  // SAFETY: `info` is a valid, writable SYSTEM_INFO.
  unsafe { GetSystemInfo(&mut info) };
  u64::from(info.dwPageSize)
}
