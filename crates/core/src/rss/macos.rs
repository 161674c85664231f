//! macOS: Mach task info for this process, `proc_pidinfo` for others.
//!
//! `resident_size` counts every resident page of the task, shared ones included, as
//! `ps -o rss` does. (libuv is moving `process.memoryUsage().rss` to `phys_footprint`, which
//! leaves out clean shared pages; we report what the kernel calls resident.)

use std::mem::{size_of, MaybeUninit};

use super::RssError;

fn task_basic_info() -> Result<libc::mach_task_basic_info, RssError> {
  let mut info = MaybeUninit::<libc::mach_task_basic_info>::zeroed();
  let mut count = libc::MACH_TASK_BASIC_INFO_COUNT;
  // SAFETY: `info` has room for MACH_TASK_BASIC_INFO_COUNT integers, the count we pass; the
  // kernel writes at most that many and tells us how many it wrote.
  let status = unsafe {
    libc::task_info(libc::mach_task_self(), libc::MACH_TASK_BASIC_INFO, info.as_mut_ptr().cast(), &mut count)
  };
  if status != libc::KERN_SUCCESS {
    return Err(RssError::Io {
      what: "task_info(MACH_TASK_BASIC_INFO)",
      source: std::io::Error::other(format!("kern_return_t {status}")),
    });
  }
  // SAFETY: task_info succeeded, so it filled the structure (zeroed beforehand in any case).
  Ok(unsafe { info.assume_init() })
}

pub fn current() -> Result<u64, RssError> {
  Ok(task_basic_info()?.resident_size)
}

pub fn peak() -> Result<u64, RssError> {
  Ok(task_basic_info()?.resident_size_max)
}

pub fn of_pid(pid: u32) -> Result<u64, RssError> {
  let Ok(c_pid) = libc::c_int::try_from(pid) else {
    return Err(RssError::NoSuchProcess { pid });
  };
  let mut info = MaybeUninit::<libc::proc_taskinfo>::zeroed();
  let size = size_of::<libc::proc_taskinfo>() as libc::c_int;
  // SAFETY: the buffer is `size` bytes long, and proc_pidinfo writes at most `size` bytes.
  let written = unsafe { libc::proc_pidinfo(c_pid, libc::PROC_PIDTASKINFO, 0, info.as_mut_ptr().cast(), size) };
  if written == size {
    // SAFETY: proc_pidinfo filled all `size` bytes.
    return Ok(unsafe { info.assume_init() }.pti_resident_size);
  }
  let err = std::io::Error::last_os_error();
  match err.raw_os_error() {
    Some(libc::ESRCH) => Err(RssError::NoSuchProcess { pid }),
    Some(libc::EPERM) | Some(libc::EACCES) => Err(RssError::PermissionDenied { pid }),
    // proc_pidinfo returns 0 without errno for a pid that is gone.
    Some(0) | None => Err(RssError::NoSuchProcess { pid }),
    _ => Err(RssError::Io { what: "proc_pidinfo(PROC_PIDTASKINFO)", source: err }),
  }
}

pub fn page_size() -> u64 {
  // SAFETY: sysconf has no preconditions.
  unsafe { libc::sysconf(libc::_SC_PAGESIZE) as u64 }
}
