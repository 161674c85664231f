//! The binary log: the same rows as the text log, as records of about a dozen bytes instead of
//! two hundred, for logging every event (the text's formatting and the kernel's copy of it
//! bound that mode). It is read by formatting it back into the text log, row for row
//! ([`TextOf`]), so every reader of logs reads it as it is, and `memtrace report --text` gives
//! the seed's text of it.
//!
//! The file starts with one line of text, [`MAGIC`], that says what it is and how to read it.
//! Then records, each a tag byte, its fields and a `\n`: numbers are LEB128 varints, signed
//! ones zigzag-encoded, strings a length and UTF-8 bytes. Event, clock and RSS are written as
//! the change from the record before that has them; RSS in pages. Spaces before a record's
//! `\n` are padding, put there by [`crate::sink::PagedLines`] so that no record straddles a
//! page of the file: as with the text, a process killed at any moment leaves whole records.
//!
//! | tag | record | fields |
//! | --- | --- | --- |
//! | `H` | head | page size, 0 or 1 + message line (escaped) |
//! | `F` | function, before the first row that names it | id, line, file, name |
//! | `S` | STCK | id, parent, function id |
//! | `E` | FRST, NEXT, PREV, LAST | kind << 4 \| What, Δevent, dEvent, Δclock µs, function id, ΔRSS, dRSS, 0 or stack + 1 |
//! | `G` | GC | GC kind, duration µs, Δevent, dEvent, Δclock µs, ΔRSS, dRSS |
//! | `M` | MSG | Δevent, dEvent, Δclock µs, text (escaped) |
//! | `V` | HEAP | Δevent, dEvent, Δclock µs, used, total, external, 0 or arrayBuffers + 1 (since version 2) |
//! | `Z` | EOF | |

use std::collections::HashMap;
use std::io::{self, BufRead, Read};

use super::{gc, header, heap_row, message_row, At, Heap, PagedRow, RowKind, RowWriter, What, END_OF_FILE};

/// How a binary log starts, and a text log cannot.
pub const SIGNATURE: &str = "memtrace binary log ";
/// The first line of a binary log: [`SIGNATURE`], the version, and how to read it.
pub const MAGIC: &[u8] = b"memtrace binary log 2: `memtrace report --text <this file>` prints it as text\n";
/// Version 1 differs only in its HEAP records, which have no arrayBuffers; it is read too.
const MAGIC_1: &[u8] = b"memtrace binary log 1: `memtrace report --text <this file>` prints it as text\n";

const KINDS: [RowKind; 4] = [RowKind::First, RowKind::Next, RowKind::Prev, RowKind::Last];

/// Whether a file that starts with `start` is a binary log.
pub fn is_binary(start: &[u8]) -> bool {
  start.starts_with(SIGNATURE.as_bytes())
}

/// The event, clock and RSS of the record before, which the next one's are written against.
#[derive(Default, Clone, Copy)]
struct Last {
  event: u64,
  clock_us: u64,
  pages: u64,
}

/// Writes records. Each method appends one record, ending in `\n`, to `out`.
#[derive(Default)]
pub struct Encoder {
  last: Last,
  defined: Vec<bool>,
}

impl Encoder {
  /// [`MAGIC`] and the head record.
  pub fn head(page: u64, message: Option<&str>) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.push(b'H');
    varint(&mut out, page);
    match message {
      Some(text) => {
        varint(&mut out, 1);
        string(&mut out, text);
      }
      None => varint(&mut out, 0),
    }
    out.push(b'\n');
    out
  }

  /// Whether function `id` still needs its `F` record; it counts as written from now on.
  pub fn first_use(&mut self, id: u64) -> bool {
    let index = id as usize;
    if self.defined.len() <= index {
      self.defined.resize(index + 1, false);
    }
    !std::mem::replace(&mut self.defined[index], true)
  }

  /// Function `id` needs its `F` record again before its next row.
  pub fn forget(&mut self, id: u64) {
    if let Some(defined) = self.defined.get_mut(id as usize) {
      *defined = false;
    }
  }

  pub fn function(out: &mut Vec<u8>, id: u64, file: &str, line: u32, name: &str) {
    out.push(b'F');
    varint(out, id);
    varint(out, u64::from(line));
    string(out, file);
    string(out, name);
    out.push(b'\n');
  }

  pub fn stack(out: &mut Vec<u8>, id: u64, parent: u64, function: u64) {
    out.push(b'S');
    for value in [id, parent, function] {
      varint(out, value);
    }
    out.push(b'\n');
  }

  /// An event row at function `id`.
  #[inline]
  pub fn event(&mut self, out: &mut Vec<u8>, row: &PagedRow, id: u64) {
    // The index of the row's kind in KINDS.
    let kind = match row.kind {
      RowKind::First => 0,
      RowKind::Prev => 2,
      RowKind::Last => 3,
      _ => 1,
    };
    out.extend_from_slice(&[b'E', kind << 4 | row.what as u8]);
    self.point(out, row.at);
    varint(out, id);
    self.rss(out, row.pages, row.d_pages);
    varint(out, row.stack.map_or(0, |s| s + 1));
    out.push(b'\n');
  }

  /// `row`, a garbage collection of `kind` (a [`gc::KINDS`] index) that lasted `duration_us`.
  pub fn gc(&mut self, out: &mut Vec<u8>, kind: u8, duration_us: u64, row: &PagedRow) {
    out.push(b'G');
    out.push(kind);
    varint(out, duration_us);
    self.point(out, row.at);
    self.rss(out, row.pages, row.d_pages);
    out.push(b'\n');
  }

  pub fn message(&mut self, out: &mut Vec<u8>, at: At, text: &str) {
    out.push(b'M');
    self.point(out, at);
    string(out, text);
    out.push(b'\n');
  }

  pub fn heap(&mut self, out: &mut Vec<u8>, at: At, heap: Heap) {
    out.push(b'V');
    self.point(out, at);
    for value in [heap.used, heap.total, heap.external, heap.array_buffers.map_or(0, |bytes| bytes + 1)] {
      varint(out, value);
    }
    out.push(b'\n');
  }

  pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(b"Z\n");
  }

  fn point(&mut self, out: &mut Vec<u8>, at: At) {
    signed(out, at.event.wrapping_sub(self.last.event) as i64);
    varint(out, at.d_event);
    signed(out, at.clock_us.wrapping_sub(self.last.clock_us) as i64);
    self.last.event = at.event;
    self.last.clock_us = at.clock_us;
  }

  fn rss(&mut self, out: &mut Vec<u8>, pages: u64, d_pages: i64) {
    signed(out, pages.wrapping_sub(self.last.pages) as i64);
    signed(out, d_pages);
    self.last.pages = pages;
  }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
  while value >= 0x80 {
    out.push(value as u8 | 0x80);
    value >>= 7;
  }
  out.push(value as u8);
}

fn signed(out: &mut Vec<u8>, value: i64) {
  varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

fn string(out: &mut Vec<u8>, text: &str) {
  varint(out, text.len() as u64);
  out.extend_from_slice(text.as_bytes());
}

/// A binary log read as the text log it holds: the header, then one row for each record.
/// Reading stops where the records stop (a log cut short at a page by a crash reads as the
/// text would, up to the cut); a record that is not one is an `InvalidData` error naming its
/// byte offset.
pub struct TextOf<R> {
  input: R,
  /// Bytes of the input read so far.
  offset: u64,
  text: Vec<u8>,
  at: usize,
  rows: RowWriter,
  sites: HashMap<u64, Box<[u8]>>,
  last: Last,
  page: u64,
  /// The log's version, from its first line.
  version: u8,
  done: bool,
}

/// Text is handed out in pieces of about this size.
const PIECE: usize = 64 * 1024;

impl<R: BufRead> TextOf<R> {
  /// `input` from its first byte, [`MAGIC`] included.
  pub fn new(input: R) -> TextOf<R> {
    TextOf {
      input,
      offset: 0,
      text: Vec::with_capacity(PIECE + 4096),
      at: 0,
      rows: RowWriter::default(),
      sites: HashMap::new(),
      last: Last::default(),
      page: 0,
      version: 0,
      done: false,
    }
  }

  /// Formats records into `self.text` until it holds a piece, or the records end.
  fn decode(&mut self) -> io::Result<()> {
    self.text.clear();
    self.at = 0;
    if self.offset == 0 {
      self.head()?;
    }
    while !self.done && self.text.len() < PIECE {
      let start = self.offset;
      match self.record() {
        Ok(true) => {}
        Ok(false) => self.done = true,
        // Cut within a record: the rows before it are the log.
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => self.done = true,
        Err(err) => {
          return Err(io::Error::new(io::ErrorKind::InvalidData, format!("the record at byte {start}: {err}")))
        }
      }
    }
    Ok(())
  }

  fn head(&mut self) -> io::Result<()> {
    let mut magic = vec![0; MAGIC.len()];
    self.input.read_exact(&mut magic)?;
    self.offset += magic.len() as u64;
    self.version = match magic.as_slice() {
      MAGIC => 2,
      MAGIC_1 => 1,
      _ => return Err(invalid("not a memtrace binary log of this version")),
    };
    if self.byte()? != b'H' {
      return Err(invalid("not a memtrace binary log of this version"));
    }
    self.page = self.varint()?;
    let message = match self.varint()? {
      0 => None,
      _ => Some(self.string()?),
    };
    self.end_of_record()?;
    self.text.extend_from_slice(header(message.as_deref()).as_bytes());
    Ok(())
  }

  /// One record into text; false at the end of the input.
  fn record(&mut self) -> io::Result<bool> {
    if self.input.fill_buf()?.is_empty() {
      return Ok(false);
    }
    match self.byte()? {
      b'F' => {
        let id = self.varint()?;
        let line = u32::try_from(self.varint()?).map_err(|_| invalid("a line number out of range"))?;
        let file = self.string()?;
        let name = self.string()?;
        self.sites.insert(id, RowWriter::site(&file, line, &name));
      }
      b'S' => {
        let (id, parent, function) = (self.varint()?, self.varint()?, self.varint()?);
        let site = self.sites.get(&function).ok_or_else(|| undefined(function))?;
        self.rows.stack_row(&mut self.text, id, parent, site);
      }
      b'E' => {
        let code = self.byte()?;
        let kind = *KINDS.get(usize::from(code >> 4)).ok_or_else(|| invalid("an unknown kind of row"))?;
        let what = What::from_code(code & 0xf).ok_or_else(|| invalid("an unknown What"))?;
        let (event, d_event, clock_us) = self.point()?;
        let function = self.varint()?;
        let (rss, d_rss) = self.rss()?;
        let stack = self.varint()?.checked_sub(1);
        let site = self.sites.get(&function).ok_or_else(|| undefined(function))?;
        self.rows.event_row(&mut self.text, kind, event, d_event, clock_us, what, site, rss, d_rss, stack);
      }
      b'G' => {
        let kind = self.byte()?;
        let duration_us = self.varint()?;
        let (event, d_event, clock_us) = self.point()?;
        let (rss, d_rss) = self.rss()?;
        let site = RowWriter::site(gc::FILE, 0, &gc::function(kind, duration_us));
        self.rows.event_row(&mut self.text, RowKind::Next, event, d_event, clock_us, What::Gc, &site, rss, d_rss, None);
      }
      b'M' => {
        let (event, d_event, clock_us) = self.point()?;
        let text = self.string()?;
        message_row(&mut self.text, event, d_event, clock_us, &text);
      }
      b'V' => {
        let (event, d_event, clock_us) = self.point()?;
        let (used, total, external) = (self.varint()?, self.varint()?, self.varint()?);
        let array_buffers = if self.version >= 2 { self.varint()?.checked_sub(1) } else { None };
        let heap = Heap { used, total, external, array_buffers };
        heap_row(&mut self.text, event, d_event, clock_us, heap);
      }
      b'Z' => {
        self.text.extend_from_slice(END_OF_FILE.as_bytes());
        self.text.push(b'\n');
      }
      0 => return Err(invalid("NUL bytes, as a file holds where a crash cut it short")),
      tag => return Err(invalid(&format!("an unknown record (tag {tag:#04x})"))),
    }
    self.end_of_record()?;
    Ok(true)
  }

  fn point(&mut self) -> io::Result<(u64, u64, u64)> {
    self.last.event = self.last.event.wrapping_add(self.signed()? as u64);
    let d_event = self.varint()?;
    self.last.clock_us = self.last.clock_us.wrapping_add(self.signed()? as u64);
    Ok((self.last.event, d_event, self.last.clock_us))
  }

  /// RSS and dRSS, in bytes.
  fn rss(&mut self) -> io::Result<(u64, i64)> {
    self.last.pages = self.last.pages.wrapping_add(self.signed()? as u64);
    let d_pages = self.signed()?;
    Ok((self.last.pages.wrapping_mul(self.page), d_pages.wrapping_mul(self.page as i64)))
  }

  /// Padding, then the `\n` that ends every record.
  fn end_of_record(&mut self) -> io::Result<()> {
    loop {
      match self.byte()? {
        b' ' => {}
        b'\n' => return Ok(()),
        _ => return Err(invalid("a record longer than its fields")),
      }
    }
  }

  fn byte(&mut self) -> io::Result<u8> {
    let mut byte = [0];
    self.input.read_exact(&mut byte)?;
    self.offset += 1;
    Ok(byte[0])
  }

  fn varint(&mut self) -> io::Result<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
      let byte = self.byte()?;
      value |= u64::from(byte & 0x7f) << shift;
      if byte < 0x80 {
        return Ok(value);
      }
    }
    Err(invalid("a number of more than 64 bits"))
  }

  fn signed(&mut self) -> io::Result<i64> {
    let value = self.varint()?;
    Ok((value >> 1) as i64 ^ -((value & 1) as i64))
  }

  fn string(&mut self) -> io::Result<String> {
    let len = self.varint()?;
    if len > crate::reader::MAX_LINE as u64 {
      return Err(invalid("a string longer than a row may be"));
    }
    let mut bytes = vec![0; len as usize];
    self.input.read_exact(&mut bytes)?;
    self.offset += len;
    String::from_utf8(bytes).map_err(|_| invalid("a string that is not UTF-8"))
  }
}

fn undefined(function: u64) -> io::Error {
  invalid(&format!("function {function}, which no record before it defines"))
}

fn invalid(reason: &str) -> io::Error {
  io::Error::new(io::ErrorKind::InvalidData, reason.to_string())
}

impl<R: BufRead> Read for TextOf<R> {
  fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
    let available = self.fill_buf()?;
    let n = available.len().min(buf.len());
    buf[..n].copy_from_slice(&available[..n]);
    self.consume(n);
    Ok(n)
  }
}

impl<R: BufRead> BufRead for TextOf<R> {
  fn fill_buf(&mut self) -> io::Result<&[u8]> {
    if self.at == self.text.len() && !self.done {
      self.decode()?;
    }
    Ok(&self.text[self.at..])
  }

  fn consume(&mut self, amount: usize) {
    self.at = (self.at + amount).min(self.text.len());
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn the_magic_line_starts_with_the_signature_and_text_logs_do_not() {
    assert!(is_binary(MAGIC));
    assert!(!is_binary(b"SOF\nHEDR: Event"));
    assert!(!is_binary(&SIGNATURE.as_bytes()[..10]));
  }

  #[test]
  fn numbers_round_trip_through_varints() {
    let values = [0i64, 1, -1, 63, -64, 64, 4096, -4096, i64::MAX, i64::MIN];
    let mut out = Vec::new();
    for value in values {
      signed(&mut out, value);
    }
    varint(&mut out, u64::MAX);
    let mut text = TextOf::new(&out[..]);
    for value in values {
      assert_eq!(text.signed().unwrap(), value);
    }
    assert_eq!(text.varint().unwrap(), u64::MAX);
  }

  #[test]
  fn heap_records_keep_array_buffers_and_version_1_logs_still_read() {
    let heaps = [
      Heap { used: 5 << 20, total: 8 << 20, external: 3 << 20, array_buffers: Some(2 << 20) },
      Heap { used: 5 << 20, total: 8 << 20, external: 3 << 20, array_buffers: None },
    ];
    let text_of = |log: &[u8]| {
      let mut text = String::new();
      TextOf::new(log).read_to_string(&mut text).unwrap();
      text
    };
    let mut log = Encoder::head(4096, None);
    let mut expected = header(None).into_bytes();
    let mut encoder = Encoder::default();
    for (n, heap) in heaps.into_iter().enumerate() {
      let at = At { event: n as u64, d_event: 0, clock_us: 10 * n as u64 };
      encoder.heap(&mut log, at, heap);
      heap_row(&mut expected, at.event, 0, at.clock_us, heap);
    }
    assert_eq!(text_of(&log), String::from_utf8(expected).unwrap());

    // Version 1: a record without the last figure (here the 0 of arrayBuffers not known).
    let mut old = MAGIC_1.to_vec();
    old.extend_from_slice(&Encoder::head(4096, None)[MAGIC.len()..]);
    Encoder::default().heap(&mut old, At { event: 1, d_event: 0, clock_us: 10 }, heaps[1]);
    assert_eq!(old.pop(), Some(b'\n'));
    assert_eq!(old.pop(), Some(0));
    old.push(b'\n');
    let text = text_of(&old);
    assert!(text.ends_with("# used 5242880 total 8388608 external 3145728\n"), "{text}");
  }
}
