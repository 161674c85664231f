//! Where a log's bytes go, and how they are laid out so that a process killed at any moment
//! leaves only whole lines.
//!
//! The kernel copies a write into the file one page at a time and stops between pages when the
//! process is being killed (Linux's `generic_perform_write` checks for a fatal signal before
//! each page). A line that straddles a page boundary can therefore be cut in two by SIGKILL.
//! So [`PagedLines`] never lets one straddle: when a line would cross into the next page, the
//! line before it is padded with spaces up to the boundary, as the line is added (a second pass
//! over the bytes would cost the writer a third of its time).
//!
//! The kernel's copy into the page cache costs more than formatting the rows (~115 against
//! ~85 ns a row here), so it happens on a thread of its own, `memtrace-io`, while the writer
//! formats the next buffer: two buffers take turns. A row may thus end in spaces;
//! readers ignore trailing spaces. (A line longer than a page cannot be helped.)

use std::fs::File;
use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

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

/// Writes whole lines to a sink so that no line crosses a page boundary of the file. Lines are
/// written into its buffer one at a time ([`PagedLines::line`]) and handed to the I/O thread on
/// [`PagedLines::flush`]; [`PagedLines::close`] waits for them to reach the sink.
pub struct PagedLines {
  page: u64,
  /// Bytes in the file, counting those handed to the I/O thread; the file always ends with '\n'.
  len: u64,
  /// Spaces to put before the file's last '\n' at the next flush, because the first buffered
  /// line would otherwise cross a page boundary.
  tail_padding: u64,
  buffer: Vec<u8>,
  io: Option<IoThread>,
}

/// The `memtrace-io` thread: writes come in on `jobs`, their emptied buffers go back on `spare`.
struct IoThread {
  jobs: SyncSender<Write>,
  spare: Receiver<Vec<u8>>,
  thread: JoinHandle<io::Result<()>>,
}

/// A write for the I/O thread. A buffer of lines comes back for reuse; a tail fix does not, or
/// spare buffers would pile up until both channels were full and each thread waited on the
/// other.
struct Write {
  offset: u64,
  bytes: Vec<u8>,
  recycle: bool,
}

impl PagedLines {
  /// Writes `head` (whole lines, shorter than a page) at once, so that a sink that cannot be
  /// written fails here, then starts the I/O thread.
  pub fn new(mut sink: Box<dyn Sink>, page: u64, capacity: usize, head: &[u8]) -> io::Result<PagedLines> {
    sink.write_at(0, head)?;
    let (jobs, todo) = mpsc::sync_channel::<Write>(2);
    let (give_back, spare) = mpsc::sync_channel::<Vec<u8>>(2);
    give_back.send(Vec::with_capacity(capacity)).map_err(io::Error::other)?;
    let thread = std::thread::Builder::new().name("memtrace-io".into()).spawn(move || {
      for mut write in todo {
        sink.write_at(write.offset, &write.bytes)?;
        if write.recycle {
          write.bytes.clear();
          // The writer may be gone already (it is closing); the buffer is not needed then.
          let _ = give_back.send(write.bytes);
        }
      }
      Ok(())
    })?;
    Ok(PagedLines {
      page: page.max(64),
      len: head.len() as u64,
      tail_padding: 0,
      buffer: Vec::with_capacity(capacity),
      io: Some(IoThread { jobs, spare, thread }),
    })
  }

  /// Adds one line, which `write` appends to the buffer, ending with '\n'.
  #[inline]
  pub fn line(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
    let start = self.buffer.len();
    write(&mut self.buffer);
    debug_assert_eq!(self.buffer.last(), Some(&b'\n'));
    let line_len = (self.buffer.len() - start) as u64;
    let into_page = (self.len + self.tail_padding + start as u64) % self.page;
    if into_page != 0 && into_page + line_len > self.page && line_len <= self.page {
      self.pad(start, self.page - into_page);
    }
  }

  /// Moves the '\n' before the line at `start` forward by `padding` spaces, so that the line
  /// starts a page.
  #[cold]
  fn pad(&mut self, start: usize, padding: u64) {
    if start == 0 {
      self.tail_padding += padding;
    } else {
      let at = start - 1;
      self.buffer.splice(at..at, std::iter::repeat_n(b' ', padding as usize));
    }
  }

  /// Bytes waiting in the buffer.
  pub fn buffered(&self) -> usize {
    self.buffer.len()
  }

  /// Hands the buffered lines to the I/O thread, and takes a buffer back from it.
  pub fn flush(&mut self) -> io::Result<()> {
    if self.tail_padding > 0 {
      // The line already in the file: its '\n' moves to the page boundary, in one write that
      // stays within one page.
      let mut fix = vec![b' '; self.tail_padding as usize + 1];
      fix[self.tail_padding as usize] = b'\n';
      self.send(Write { offset: self.len - 1, bytes: fix, recycle: false })?;
      self.len += self.tail_padding;
      self.tail_padding = 0;
    }
    let len = self.buffer.len() as u64;
    let spare = self.take_spare()?;
    let full = std::mem::replace(&mut self.buffer, spare);
    self.send(Write { offset: self.len, bytes: full, recycle: true })?;
    self.len += len;
    Ok(())
  }

  /// Waits until everything flushed is in the sink; reports the I/O thread's first error.
  pub fn close(&mut self) -> io::Result<()> {
    let Some(IoThread { jobs, thread, .. }) = self.io.take() else { return Ok(()) };
    drop(jobs);
    thread.join().map_err(|_| io::Error::other("the memtrace-io thread panicked"))?
  }

  fn send(&mut self, write: Write) -> io::Result<()> {
    let Some(io) = &self.io else { return Err(io::Error::other("the log is closed")) };
    if io.jobs.send(write).is_err() {
      // The I/O thread stopped: it failed, and close() says why.
      return self.close().and(Err(io::Error::other("the memtrace-io thread stopped")));
    }
    Ok(())
  }

  fn take_spare(&mut self) -> io::Result<Vec<u8>> {
    let Some(io) = &self.io else { return Err(io::Error::other("the log is closed")) };
    match io.spare.recv() {
      Ok(buffer) => Ok(buffer),
      Err(_) => self.close().and(Err(io::Error::other("the memtrace-io thread stopped"))),
    }
  }
}

impl Drop for PagedLines {
  fn drop(&mut self) {
    let _ = self.close();
  }
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

  fn lines(count: usize, width: usize) -> Vec<String> {
    (0..count).map(|i| format!("{:<w$}\n", format!("row {i}"), w = width - 1)).collect()
  }

  #[test]
  fn no_line_crosses_a_page_and_content_is_kept() {
    let memory = Memory::default();
    let mut file = PagedLines::new(Box::new(memory.clone()), 64, 0, b"").unwrap();
    let batches = [(1, 10), (3, 25), (1, 60), (5, 17), (2, 64), (1, 3), (2, 70), (4, 31)];
    // Flushing after each batch, so that crossings happen inside a batch and between batches.
    for (count, width) in batches {
      for line in lines(count, width) {
        file.line(|out| out.extend_from_slice(line.as_bytes()));
      }
      file.flush().unwrap();
    }
    file.close().unwrap();
    let data = memory.0.lock().unwrap().clone();
    let mut start = 0;
    for line in data.split_inclusive(|&b| b == b'\n') {
      let end = start + line.len();
      if line.len() <= 64 {
        assert_eq!(
          start / 64,
          (end - 1) / 64,
          "line {:?} at {start}..{end} crosses a page",
          String::from_utf8_lossy(line)
        );
      }
      start = end;
    }
    let written: Vec<String> =
      String::from_utf8(data).unwrap().lines().map(|line| line.trim_end().to_string()).collect();
    let expected: Vec<String> =
      batches.iter().flat_map(|&(count, width)| lines(count, width)).map(|line| line.trim_end().to_string()).collect();
    assert_eq!(written, expected);
  }

  #[test]
  fn many_flushes_that_each_pad_the_tail_do_not_deadlock() {
    let memory = Memory::default();
    let mut file = PagedLines::new(Box::new(memory.clone()), 64, 0, b"").unwrap();
    // Each flush holds one line that crosses the page the last one ended in.
    for line in lines(1000, 40) {
      file.line(|out| out.extend_from_slice(line.as_bytes()));
      file.flush().unwrap();
    }
    file.close().unwrap();
    assert_eq!(String::from_utf8(memory.0.lock().unwrap().clone()).unwrap().lines().count(), 1000);
  }

  #[test]
  fn lines_that_fit_are_not_padded() {
    let memory = Memory::default();
    let mut file = PagedLines::new(Box::new(memory.clone()), 64, 0, b"").unwrap();
    for line in lines(4, 16) {
      file.line(|out| out.extend_from_slice(line.as_bytes()));
    }
    file.flush().unwrap();
    file.close().unwrap();
    assert_eq!(String::from_utf8(memory.0.lock().unwrap().clone()).unwrap(), lines(4, 16).concat());
  }
}
