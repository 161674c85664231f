//! A profiler log in the formats of other tools, written as the log is read (one row at a time,
//! so that a log of any size exports in constant memory).

pub mod chrome;

use crate::reader::ReportError;

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
  /// The log is no log: damaged before its first row.
  #[error("{0}")]
  Log(ReportError),
  #[error("cannot write the export: {0}")]
  Write(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
  /// Entries written (trace events, for the Chrome trace).
  pub entries: u64,
  /// Where the log stops being a log, when it does before its end: the export covers the rows
  /// above it.
  pub damage: Option<ReportError>,
}
