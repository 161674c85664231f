//! Log files: where a profiler or monitor log goes, and how a new one is named.
//!
//! A new log is named `YYYYMMDD_HHMMSS_<subject>.<extension>` (UTC, as pymemtrace names its logs),
//! where the subject is the pid of the process the log is about (with `_<threadId>` for a worker
//! thread's), and a name already taken gets `_<n>` added, so that no log ever overwrites another.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the log goes.
#[derive(Debug, Clone)]
pub enum LogTarget {
  /// This file, created or truncated.
  File(PathBuf),
  /// A new, uniquely named file in this directory, which is created if need be.
  Directory(PathBuf),
  /// Nowhere: everything is computed and formatted, nothing is written (for benchmarks).
  Discard,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogFileError {
  #[error("cannot create the log directory {path}: {source}")]
  Directory { path: PathBuf, source: io::Error },
  #[error("cannot create the log file {path}: {source}")]
  File { path: PathBuf, source: io::Error },
}

/// Creates the log `target` names (a new `_{subject}.{extension}` file in a directory); `None`
/// for [`LogTarget::Discard`].
pub fn create(target: &LogTarget, subject: &str, extension: &str) -> Result<Option<(File, PathBuf)>, LogFileError> {
  match target {
    LogTarget::File(path) => {
      let file = File::create(path).map_err(|source| LogFileError::File { path: path.clone(), source })?;
      Ok(Some((file, path.clone())))
    }
    LogTarget::Directory(dir) => create_named(dir, SystemTime::now(), subject, extension).map(Some),
    LogTarget::Discard => Ok(None),
  }
}

/// Creates `YYYYMMDD_HHMMSS_<subject>.<extension>` in `dir`, or `…_<subject>_<n>.<extension>`
/// if that exists.
fn create_named(dir: &Path, now: SystemTime, subject: &str, extension: &str) -> Result<(File, PathBuf), LogFileError> {
  fs::create_dir_all(dir).map_err(|source| LogFileError::Directory { path: dir.to_path_buf(), source })?;
  let stem = format!("{}_{subject}", utc_stamp(now));
  for n in 0u32.. {
    let name = if n == 0 { format!("{stem}.{extension}") } else { format!("{stem}_{n}.{extension}") };
    let path = dir.join(name);
    match OpenOptions::new().write(true).create_new(true).open(&path) {
      Ok(file) => return Ok((file, path)),
      Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
      Err(source) => return Err(LogFileError::File { path, source }),
    }
  }
  unreachable!("u32 ran out of suffixes")
}

/// `YYYYMMDD_HHMMSS` in UTC.
fn utc_stamp(now: SystemTime) -> String {
  let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
  let (days, rem) = (secs / 86_400, secs % 86_400);
  // Howard Hinnant's days-to-civil algorithm.
  let z = days as i64 + 719_468;
  let era = z.div_euclid(146_097);
  let doe = z.rem_euclid(146_097);
  let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
  let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  let mp = (5 * doy + 2) / 153;
  let day = doy - (153 * mp + 2) / 5 + 1;
  let month = if mp < 10 { mp + 3 } else { mp - 9 };
  let year = yoe + era * 400 + i64::from(month <= 2);
  format!("{year:04}{month:02}{day:02}_{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::time::Duration;

  #[test]
  fn stamps_are_utc_calendar_dates() {
    let at = |secs| utc_stamp(UNIX_EPOCH + Duration::from_secs(secs));
    assert_eq!(at(0), "19700101_000000");
    assert_eq!(at(1_604_316_160), "20201102_112240"); // the seed's 20201102_112240_9434.log
    assert_eq!(at(951_782_400), "20000229_000000");
    assert_eq!(at(4_102_444_799), "20991231_235959");
  }

  #[test]
  fn taken_names_get_a_suffix_and_missing_directories_are_made() {
    let dir = std::env::temp_dir().join(format!("memtrace-names-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let now = UNIX_EPOCH + Duration::from_secs(1_604_316_160);
    let names: Vec<String> = (0..3)
      .map(|_| {
        create_named(&dir.join("logs"), now, "9434", "log").unwrap().1.file_name().unwrap().to_string_lossy().into()
      })
      .collect();
    assert_eq!(names, ["20201102_112240_9434.log", "20201102_112240_9434_1.log", "20201102_112240_9434_2.log"]);
    fs::remove_dir_all(&dir).unwrap();
  }
}
