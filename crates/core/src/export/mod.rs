//! A profiler log in the formats of other tools, written as the log is read (one row at a time,
//! so that a log of any size exports in memory that grows with what the tool is given, not
//! with the log): the Chrome trace row by row, and from the log's tree of stacks
//! ([`crate::stacks`]) the folded stacks, speedscope and pprof files of RSS growth by stack.

pub mod chrome;
pub mod collapsed;
pub mod pprof;
pub mod speedscope;

use std::io::BufRead;

use crate::format::{LogRow, RowKind};
use crate::reader::{LogReader, ReportError};
use crate::stacks::{Frame, StackTree, OUTSIDE};

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
  /// The log is no log: damaged before its first row.
  #[error("{0}")]
  Log(ReportError),
  /// An export of stacks from a log that has none.
  #[error(
    "the log names no call stacks: it was recorded with --no-stacks (stacks: false) or by an older memtrace; record it again with stacks on"
  )]
  NoStacks,
  #[error("cannot write the export: {0}")]
  Write(#[from] std::io::Error),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
  /// Entries written: trace events for the Chrome trace, stacks for the others.
  pub entries: u64,
  /// Where the log stops being a log, when it does before its end: the export covers the rows
  /// above it.
  pub damage: Option<ReportError>,
}

/// What reading a log into a tree of stacks found: how long it ran (seconds, first row to
/// last), and where it is damaged, if it is.
pub struct StacksRead {
  pub duration: f64,
  pub damage: Option<ReportError>,
}

/// Reads a log's stacks into `tree`, merged with those of the logs read into it before (an
/// error for a log without any).
pub fn read_stacks(tree: &mut StackTree, input: impl BufRead) -> Result<StacksRead, ExportError> {
  tree.next_log();
  let mut clocks = None;
  let mut reader = LogReader::new(input);
  let damage = loop {
    let started = reader.started();
    match reader.next_row() {
      Ok(Some(LogRow::Stack { id, parent, file, line, function })) => tree.define(id, parent, file, line, function),
      Ok(Some(LogRow::Event(e))) => {
        let (first, _) = clocks.get_or_insert((e.clock, e.clock));
        clocks = Some((*first, e.clock));
        if e.kind == RowKind::Next {
          tree.count(&e);
        }
      }
      Ok(Some(_)) => {}
      Ok(None) => break None,
      Err(err) if !started => return Err(ExportError::Log(err)),
      Err(err) => break Some(err),
    }
  };
  if tree.is_empty() {
    return Err(ExportError::NoStacks);
  }
  let duration = clocks.map_or(0.0, |(first, last)| last - first);
  Ok(StacksRead { duration, damage })
}

/// Each frame of the tree by its index, named, and then [`OUTSIDE`], whose index is
/// `tree.frames.len()`: the frames an export lists.
fn frame_names(tree: &StackTree) -> Vec<String> {
  tree.frames.iter().map(Frame::name).chain([OUTSIDE.to_string()]).collect()
}

/// The frames of `node`'s stack by index, outermost first; for the root, whose growth was made
/// outside any traced function, the index of [`OUTSIDE`] (a tool needs a frame to show it).
fn stack_of(tree: &StackTree, node: u32) -> Vec<usize> {
  let mut frames = Vec::new();
  let mut at = node;
  while at != 0 {
    let n = &tree.nodes[at as usize];
    frames.push(n.frame as usize);
    at = n.parent;
  }
  if frames.is_empty() {
    frames.push(tree.frames.len());
  }
  frames.reverse();
  frames
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::format::{header, RowWriter, What};

  /// A log where `leak` grows memory called through `a` (3 MiB) and through `b` (1 MiB), and
  /// something grows before `main` is called (outside any traced function).
  pub(crate) fn two_paths_log() -> Vec<u8> {
    let mut log = header(None).into_bytes();
    let mut rows = RowWriter::default();
    let site = |line, name| RowWriter::site("/app/a.js", line, name);
    for (id, parent, line, name) in
      [(1, 0, 1, "main"), (2, 1, 5, "a"), (3, 2, 9, "leak"), (4, 1, 7, "b"), (5, 4, 9, "leak")]
    {
      rows.stack_row(&mut log, id, parent, &site(line, name));
    }
    rows.event_row(&mut log, RowKind::First, 0, 0, 0, What::Line, &site(1, "main"), 1 << 20, 1 << 20, Some(0));
    rows.event_row(&mut log, RowKind::Next, 1, 1, 10, What::Call, &site(1, "main"), 2 << 20, 1 << 20, Some(1));
    rows.event_row(&mut log, RowKind::Next, 5, 4, 20, What::Return, &site(9, "leak"), 5 << 20, 3 << 20, Some(3));
    rows.event_row(&mut log, RowKind::Next, 9, 4, 30, What::Return, &site(9, "leak"), 6 << 20, 1 << 20, Some(5));
    rows.event_row(&mut log, RowKind::Next, 12, 3, 40, What::Return, &site(7, "b"), 5 << 20, -(1 << 20), Some(4));
    rows.event_row(&mut log, RowKind::Last, 13, 1, 2_000_040, What::Line, &site(1, "main"), 5 << 20, 0, Some(0));
    log.extend_from_slice(b"EOF\n");
    log
  }

  pub(crate) fn two_paths() -> (StackTree, StacksRead) {
    let mut tree = StackTree::default();
    let read = read_stacks(&mut tree, two_paths_log().as_slice()).unwrap();
    (tree, read)
  }

  #[test]
  fn a_log_is_read_into_its_stacks() {
    let (tree, read) = two_paths();
    assert!(read.damage.is_none());
    assert!((read.duration - 2.00004).abs() < 1e-9);
    assert_eq!(tree.nodes.iter().map(|n| n.growth).sum::<u64>(), 5 << 20);
    assert_eq!(tree.nodes[0].growth, 1 << 20, "growth seen at main's call is outside any traced function");
  }

  #[test]
  fn a_log_without_stacks_is_an_error_that_says_how_to_get_them() {
    let log = String::from_utf8(two_paths_log()).unwrap();
    let without: String = log
      .lines()
      .filter(|l| !l.starts_with("STCK"))
      .map(|l| format!("{}\n", l.rsplit_once(" @").map_or(l, |(row, _)| row)))
      .collect();
    let err = read_stacks(&mut StackTree::default(), without.as_bytes()).err().unwrap();
    assert!(err.to_string().contains("--no-stacks"), "{err}");
  }

  #[test]
  fn folded_stacks_weigh_each_stack_by_its_growth() {
    let (tree, _) = two_paths();
    let mut out = Vec::new();
    assert_eq!(collapsed::write(&tree, &mut out).unwrap(), 3);
    assert_eq!(
      String::from_utf8(out).unwrap(),
      format!(
        "{OUTSIDE} 1048576\nmain (/app/a.js:1);a (/app/a.js:5);leak (/app/a.js:9) 3145728\nmain (/app/a.js:1);b (/app/a.js:7);leak (/app/a.js:9) 1048576\n"
      )
    );
  }

  #[test]
  fn speedscope_has_one_sampled_profile_in_bytes() {
    let (tree, _) = two_paths();
    let mut out = Vec::new();
    assert_eq!(speedscope::write(&tree, "x.log", &mut out).unwrap(), 3);
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with(r#"{"$schema":"https://www.speedscope.app/file-format-schema.json","shared":{"frames":[{"name":"main","file":"/app/a.js","line":1},"#), "{text}");
    assert!(text.contains(r#""unit":"bytes","startValue":0,"endValue":5242880,"samples":[[4],[0,1,2],[0,3,2]],"weights":[1048576,3145728,1048576]"#), "{text}");
  }
}
