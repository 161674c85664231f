//! Where a log's bytes go, and how they are laid out so that a process killed at any moment
//! leaves only whole lines.
//!
//! The kernel copies a write into the file one page at a time and stops between pages when the
//! process is being killed (Linux's `generic_perform_write` checks for a fatal signal before
//! each page). A line that straddles a page boundary can therefore be cut in two by SIGKILL.
//! So [`PagedLines`] never lets one straddle: when a line would cross into the next page, the
//! line before it is padded with spaces up to the boundary. A row may thus end in spaces;
//! readers ignore trailing spaces. (A line longer than a page cannot be helped.)

use std::fs::File;
use std::io;

/// A destination that can be written at any offset.
pub trait Sink: Send {
  /// Writes all of `bytes` at `offset`.
  fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()>;
}

impl Sink for File {
  fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
      std::os::unix::fs::FileExt::write_all_at(self, bytes, offset)
    }
    #[cfg(windows)]
    {
      let (mut offset, mut bytes) = (offset, bytes);
      while !bytes.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(self, bytes, offset)?;
        if n == 0 {
          return Err(io::Error::from(io::ErrorKind::WriteZero));
        }
        (offset, bytes) = (offset + n as u64, &bytes[n..]);
      }
      Ok(())
    }
  }
}

/// Nowhere: for measuring the tracer without the disk.
pub struct Discard;

impl Sink for Discard {
  fn write_at(&mut self, _offset: u64, _bytes: &[u8]) -> io::Result<()> {
    Ok(())
  }
}

/// Appends whole lines to a sink so that no line crosses a page boundary of the file.
pub struct PagedLines {
  sink: Box<dyn Sink>,
  page: u64,
  /// Bytes in the file so far; the file always ends with '\n'.
  len: u64,
  laid_out: Vec<u8>,
}

impl PagedLines {
  pub fn new(sink: Box<dyn Sink>, page: u64) -> PagedLines {
    PagedLines { sink, page: page.max(64), len: 0, laid_out: Vec::new() }
  }

  /// Appends `lines`, which must be whole lines ('\n'-terminated).
  pub fn append(&mut self, lines: &[u8]) -> io::Result<()> {
    debug_assert!(lines.is_empty() || lines.ends_with(b"\n"));
    let mut laid_out = std::mem::take(&mut self.laid_out);
    laid_out.clear();
    let tail_padding = lay_out(self.len, lines, self.page, &mut laid_out);
    if tail_padding > 0 {
      // The line already in the file before the first new one: move its '\n' to the boundary,
      // in one write that stays within one page.
      let mut fix = vec![b' '; tail_padding as usize + 1];
      fix[tail_padding as usize] = b'\n';
      self.sink.write_at(self.len - 1, &fix)?;
      self.len += tail_padding;
    }
    self.sink.write_at(self.len, &laid_out)?;
    self.len += laid_out.len() as u64;
    self.laid_out = laid_out;
    Ok(())
  }
}

/// Lays `lines` out to follow `len` bytes of file: into `out`, each line whole within a page,
/// padding the line before one that would cross a boundary. Returns the padding the file's own
/// last line needs (when the first new line would cross).
fn lay_out(len: u64, lines: &[u8], page: u64, out: &mut Vec<u8>) -> u64 {
  let mut tail_padding = 0;
  let mut pos = len;
  for line in lines.split_inclusive(|&b| b == b'\n') {
    let line_len = line.len() as u64;
    let into_page = pos % page;
    if into_page != 0 && into_page + line_len > page && line_len <= page {
      let padding = page - into_page;
      if let Some(newline) = out.pop() {
        out.resize(out.len() + padding as usize, b' ');
        out.push(newline);
      } else {
        tail_padding = padding;
      }
      pos += padding;
    }
    out.extend_from_slice(line);
    pos += line_len;
  }
  tail_padding
}

#[cfg(test)]
pub(crate) mod tests {
  use super::*;
  use std::sync::{Arc, Mutex};

  /// A sink the test can read while the writer owns it.
  #[derive(Clone, Default)]
  pub struct Memory(pub Arc<Mutex<Vec<u8>>>);

  impl Sink for Memory {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
      let mut data = self.0.lock().unwrap();
      let end = offset as usize + bytes.len();
      if data.len() < end {
        data.resize(end, 0);
      }
      data[offset as usize..end].copy_from_slice(bytes);
      Ok(())
    }
  }

  fn lines(count: usize, width: usize) -> Vec<u8> {
    (0..count).flat_map(|i| format!("{:<w$}\n", format!("row {i}"), w = width - 1).into_bytes()).collect()
  }

  #[test]
  fn no_line_crosses_a_page_and_content_is_kept() {
    let memory = Memory::default();
    let mut file = PagedLines::new(Box::new(memory.clone()), 64);
    // Batches of different sizes, so that crossings happen inside a batch and between batches.
    for (count, width) in [(1, 10), (3, 25), (1, 60), (5, 17), (2, 64), (1, 3)] {
      file.append(&lines(count, width)).unwrap();
    }
    let data = memory.0.lock().unwrap().clone();
    let mut start = 0;
    for line in data.split_inclusive(|&b| b == b'\n') {
      let end = start + line.len();
      assert_eq!(
        start / 64,
        (end - 1) / 64,
        "line {:?} at {start}..{end} crosses a page",
        String::from_utf8_lossy(line)
      );
      start = end;
    }
    let trimmed: Vec<String> =
      String::from_utf8(data).unwrap().lines().map(|line| line.trim_end().to_string()).collect();
    let expected: Vec<String> = [(1, 10), (3, 25), (1, 60), (5, 17), (2, 64), (1, 3)]
      .iter()
      .flat_map(|&(count, width)| {
        String::from_utf8(lines(count, width)).unwrap().lines().map(|l| l.trim_end().to_string()).collect::<Vec<_>>()
      })
      .collect();
    assert_eq!(trimmed, expected);
  }

  #[test]
  fn lines_that_fit_are_not_padded() {
    let mut out = Vec::new();
    assert_eq!(lay_out(0, &lines(4, 16), 64, &mut out), 0);
    assert_eq!(out, lines(4, 16));
  }
}
