//! FreeBSD: `sysctl(CTL_KERN, KERN_PROC, KERN_PROC_PID, pid)` fills a `kinfo_proc`, whose
//! `ki_rssize` is the resident size in pages. The peak comes from `getrusage` (KiB).

use std::mem::{size_of, MaybeUninit};

use super::RssError;

fn kinfo_proc(pid: u32) -> Result<libc::kinfo_proc, RssError> {
  let Ok(c_pid) = libc::c_int::try_from(pid) else {
    return Err(RssError::NoSuchProcess { pid });
  };
  let mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, c_pid];
  let mut info = MaybeUninit::<libc::kinfo_proc>::zeroed();
  let mut len = size_of::<libc::kinfo_proc>();
  // SAFETY: `mib` holds 4 ints as we say; `info` is `len` bytes long and sysctl writes at most
  // `len` bytes, then stores the length it wrote in `len`.
  let status = unsafe {
    libc::sysctl(mib.as_ptr(), mib.len() as libc::c_uint, info.as_mut_ptr().cast(), &mut len, std::ptr::null(), 0)
  };
  if status != 0 {
    let err = std::io::Error::last_os_error();
    return Err(match err.raw_os_error() {
      Some(libc::ESRCH) => RssError::NoSuchProcess { pid },
      Some(libc::EPERM) | Some(libc::EACCES) => RssError::PermissionDenied { pid },
      _ => RssError::Io { what: "sysctl(KERN_PROC_PID)", source: err },
    });
  }
  // An unknown pid gives success with nothing written.
  if len < size_of::<libc::kinfo_proc>() {
    return Err(RssError::NoSuchProcess { pid });
  }
  // SAFETY: sysctl wrote a whole kinfo_proc.
  Ok(unsafe { info.assume_init() })
}

pub fn current() -> Result<u64, RssError> {
  of_pid(std::process::id())
}

pub fn peak() -> Result<u64, RssError> {
  let mut usage = MaybeUninit::<libc::rusage>::zeroed();
  // SAFETY: `usage` is a writable rusage.
  if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
    return Err(RssError::Io { what: "getrusage", source: std::io::Error::last_os_error() });
  }
  // SAFETY: getrusage succeeded and filled `usage`.
  Ok(unsafe { usage.assume_init() }.ru_maxrss as u64 * 1024)
}

pub fn of_pid(pid: u32) -> Result<u64, RssError> {
  Ok(kinfo_proc(pid)?.ki_rssize as u64 * page_size())
}

pub fn page_size() -> u64 {
  // SAFETY: sysconf has no preconditions.
  unsafe { libc::sysconf(libc::_SC_PAGESIZE) as u64 }
}
