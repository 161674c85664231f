//! Linux: `/proc/<pid>/statm` and `/proc/self/status`.
//!
//! `statm` is one line of page counts: `size resident shared text lib data dt`. We want the
//! second. The kernel keeps RSS counters per CPU and sums them on read, so two reads a moment
//! apart may differ by a few pages with no allocation in between.

use std::fs::File;
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use super::RssError;

/// `/proc/self/statm`, opened once: a `pread` on it costs ~1 µs, an open+read+close ~6 µs.
/// The descriptor names this process for good, as `/proc/self` is resolved at open time.
static SELF_STATM: OnceLock<io::Result<File>> = OnceLock::new();

pub fn current() -> Result<u64, RssError> {
  let file = match SELF_STATM.get_or_init(|| File::open("/proc/self/statm")) {
    Ok(file) => file,
    Err(err) => return Err(io_error("/proc/self/statm", io::Error::new(err.kind(), err.to_string()))),
  };
  let mut buf = [0u8; 128];
  let len = file.read_at(&mut buf, 0).map_err(|err| io_error("/proc/self/statm", err))?;
  Ok(resident_pages(&buf[..len], "/proc/self/statm")? * page_size())
}

pub fn peak() -> Result<u64, RssError> {
  let status = std::fs::read("/proc/self/status").map_err(|err| io_error("/proc/self/status", err))?;
  vm_hwm_bytes(&status)
}

pub fn of_pid(pid: u32) -> Result<u64, RssError> {
  let path = format!("/proc/{pid}/statm");
  match std::fs::read(&path) {
    Ok(text) => Ok(resident_pages(&text, "/proc/<pid>/statm")? * page_size()),
    Err(err) if err.kind() == ErrorKind::NotFound => Err(RssError::NoSuchProcess { pid }),
    // A process that exits between open and read leaves ESRCH behind.
    Err(err) if err.raw_os_error() == Some(libc::ESRCH) => Err(RssError::NoSuchProcess { pid }),
    Err(err) if err.kind() == ErrorKind::PermissionDenied => Err(RssError::PermissionDenied { pid }),
    Err(err) => Err(io_error("/proc/<pid>/statm", err)),
  }
}

pub fn page_size() -> u64 {
  static PAGE: OnceLock<u64> = OnceLock::new();
  // SAFETY: sysconf has no preconditions; it only reads a constant of the running kernel.
  *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64)
}

fn io_error(what: &'static str, source: io::Error) -> RssError {
  RssError::Io { what, source }
}

/// The second field of a `statm` line.
fn resident_pages(statm: &[u8], what: &'static str) -> Result<u64, RssError> {
  let parse_error = || RssError::Parse { what, text: String::from_utf8_lossy(statm).into_owned() };
  let mut fields = statm.split(|&b| b == b' ' || b == b'\n').filter(|f| !f.is_empty());
  let resident = fields.nth(1).ok_or_else(parse_error)?;
  parse_u64(resident).ok_or_else(parse_error)
}

/// `VmHWM:     123456 kB` from `/proc/<pid>/status`, in bytes.
fn vm_hwm_bytes(status: &[u8]) -> Result<u64, RssError> {
  let parse_error =
    || RssError::Parse { what: "VmHWM in /proc/self/status", text: String::from_utf8_lossy(status).into_owned() };
  let line = status.split(|&b| b == b'\n').find(|line| line.starts_with(b"VmHWM:")).ok_or_else(parse_error)?;
  let mut words = line[b"VmHWM:".len()..].split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty());
  let value = words.next().and_then(parse_u64).ok_or_else(parse_error)?;
  match words.next() {
    Some(b"kB") => Ok(value * 1024),
    _ => Err(parse_error()),
  }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
  if digits.is_empty() || digits.len() > 19 {
    return None;
  }
  digits.iter().try_fold(0u64, |n, &b| b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0')))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn statm_resident_is_the_second_field() {
    assert_eq!(resident_pages(b"5520 1370 1027 2 0 209 0\n", "t").unwrap(), 1370);
  }

  #[test]
  fn statm_without_a_second_field_is_a_parse_error() {
    let err = resident_pages(b"5520\n", "statm").unwrap_err();
    assert!(matches!(err, RssError::Parse { what: "statm", .. }), "{err:?}");
    assert!(resident_pages(b"5520 13x0 1\n", "statm").is_err());
    assert!(resident_pages(b"", "statm").is_err());
  }

  #[test]
  fn vm_hwm_is_read_in_kibibytes() {
    let status = b"Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
    assert_eq!(vm_hwm_bytes(status).unwrap(), 51200 * 1024);
  }

  #[test]
  fn vm_hwm_missing_or_in_another_unit_is_an_error() {
    assert!(vm_hwm_bytes(b"Name:\tnode\nVmRSS:\t 1 kB\n").is_err());
    assert!(vm_hwm_bytes(b"VmHWM:\t 1 MB\n").is_err());
  }

  #[test]
  fn digits_only() {
    assert_eq!(parse_u64(b"0"), Some(0));
    assert_eq!(parse_u64(b"18446744073709551"), Some(18_446_744_073_709_551));
    assert_eq!(parse_u64(b"-1"), None);
    assert_eq!(parse_u64(b"99999999999999999999"), None);
  }

  #[test]
  fn current_agrees_with_a_fresh_read_of_statm() {
    let ours = current().unwrap();
    let text = std::fs::read("/proc/self/statm").unwrap();
    let theirs = resident_pages(&text, "statm").unwrap() * page_size();
    assert!(ours.abs_diff(theirs) <= 64 * page_size(), "ours {ours} theirs {theirs}");
  }

  #[test]
  fn current_rises_when_memory_is_touched() {
    let before = current().unwrap();
    let block = vec![1u8; 64 << 20];
    std::hint::black_box(&block);
    let after = current().unwrap();
    assert!(after >= before + (60 << 20), "before {before} after {after}");
    assert!(peak().unwrap() >= after);
  }

  #[test]
  fn of_pid_reads_this_process_and_names_a_missing_pid() {
    assert!(of_pid(std::process::id()).unwrap() > 0);
    // Pids are at most 2^22 on Linux (pid_max), so this one never exists.
    let err = of_pid(u32::MAX - 1).unwrap_err();
    assert!(matches!(err, RssError::NoSuchProcess { pid } if pid == u32::MAX - 1));
    assert_eq!(err.to_string(), format!("no process with pid {} exists", u32::MAX - 1));
  }
}
