//! The memory one profiler shares with the JavaScript thread that it traces: a control block and
//! a single-producer, single-consumer ring of fixed-size event records.
//!
//! JavaScript sees this memory as one `ArrayBuffer` (created over it by the binding) through an
//! `Int32Array` and a `Float64Array`; the offsets below are in bytes, and `js_offsets()` gives
//! them in the units of each view. Everything JavaScript writes is a plain typed-array store,
//! except `head`, which it publishes with `Atomics.store` (sequentially consistent, so a release:
//! the records before it are visible to whoever reads `head` with acquire).
//!
//! ```text
//! byte   0  head       u32   records published by JS (wrapping counter)     JS writes, Rust reads
//! byte  64  tail       u32   records consumed by the writer (wrapping)      Rust writes, JS reads
//! byte 128  rss_pages  u32   RSS in pages, kept fresh by the sampler        Rust writes, JS reads
//! byte 136  clock      f64   seconds since start, kept fresh by the sampler Rust writes, JS reads
//! byte 192  events     f64   events seen so far                             JS writes, Rust reads
//! byte 200  closed     u32   1 once the writer has finished the log         Rust writes, JS reads
//! byte 256  records    [Record; capacity]
//! ```
//! head, tail and the sampler's pair sit on cache lines of their own, so that the JS thread's
//! stores and the two Rust threads' stores do not keep stealing one line from each other.
//!
//! A record is five f64: `[event, clock, rss_pages, code, stack]`, where
//! `code = id * 128 + row * 16 + what` ([`Record::code`]) and `stack` is -1 in a log without
//! stacks. f64 holds every integer up to 2^53, so event numbers and ids never lose precision.
//! A STCK record defines a stack before the first row that names it: `stack` is its id,
//! `event` its parent's, `id` the function on top.
//!
//! # Invariants
//! 1. `capacity` is a power of two, so `counter & (capacity - 1)` is a slot index and the
//!    counters may wrap at 2^32.
//! 2. Slots in `tail..head` (mod 2^32) are published and not yet consumed; JS writes only
//!    outside them, and only while `head - tail < capacity`.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::format::{RowKind, What};

/// Bytes from the start of the block to the first record.
const RECORDS_AT: usize = 256;
/// Bytes per record: five f64.
pub const RECORD_BYTES: usize = 40;
const RECORD_FIELDS: usize = RECORD_BYTES / 8;

const HEAD_AT: usize = 0;
const TAIL_AT: usize = 64;
const RSS_AT: usize = 128;
const CLOCK_AT: usize = 136;
const EVENTS_AT: usize = 192;
const CLOSED_AT: usize = 200;

const _: () = assert!(
  RECORDS_AT.is_multiple_of(8)
    && RECORD_BYTES.is_multiple_of(8)
    && CLOCK_AT.is_multiple_of(8)
    && EVENTS_AT.is_multiple_of(8)
);

/// Offsets of the shared fields in the units of the JS views, for `src/profile/hotpath.ts`.
#[derive(Debug, Clone, Copy)]
pub struct JsOffsets {
  /// `Int32Array` indices.
  pub head: u32,
  pub tail: u32,
  pub rss_pages: u32,
  pub closed: u32,
  /// `Float64Array` indices.
  pub clock: u32,
  pub events: u32,
  pub records: u32,
  /// f64s per record.
  pub record_fields: u32,
}

/// Codes by name.
pub type Codes = Vec<(&'static str, u32)>;

/// The codes JS puts a record's `code` together from (`id * 128 + row + what`), by name: each
/// What's (`CALL`, `C_RETURN`, …) and each row kind's, times 16 already (`NEXT`, `PREV`, …).
/// JS takes them from here, so that they are written down once.
pub fn js_codes() -> (Codes, Codes) {
  let whats = What::ALL.iter().map(|what| (what.name(), *what as u32)).collect();
  let rows = ROWS.iter().map(|row| (row.prefix().trim_end_matches([':', ' ']), (row_code(*row) * 16) as u32)).collect();
  (whats, rows)
}

pub const fn js_offsets() -> JsOffsets {
  JsOffsets {
    head: (HEAD_AT / 4) as u32,
    tail: (TAIL_AT / 4) as u32,
    rss_pages: (RSS_AT / 4) as u32,
    closed: (CLOSED_AT / 4) as u32,
    clock: (CLOCK_AT / 8) as u32,
    events: (EVENTS_AT / 8) as u32,
    records: (RECORDS_AT / 8) as u32,
    record_fields: RECORD_FIELDS as u32,
  }
}

/// One cache line; the block is an array of them, so it is 64-byte aligned. JS writes into it
/// through its `ArrayBuffer`, hence the `UnsafeCell`.
#[repr(C, align(64))]
struct Line(UnsafeCell<[u64; 8]>);

// SAFETY: every access from Rust goes through an atomic (`word`, `half`); JS's accesses are
// ordered against ours by the head/tail protocol in the module documentation.
unsafe impl Sync for Line {}

/// The shared block. Its memory never moves and lives as long as the last `Arc` to it. The JS
/// `ArrayBuffer` over it does not hold one: the binding detaches that buffer before it lets the
/// ring go (see `NativeProfiler::release`), so that a stopped profiler's memory is freed at once
/// instead of at a garbage collection.
pub struct Ring {
  lines: Block,
  capacity: u32,
  /// Reads of RSS that failed for this ring, and the first error, for the writer to mark in the
  /// log (Rust-side only, not in the shared block).
  rss_failures: AtomicU64,
  rss_error: std::sync::Mutex<Option<String>>,
}

/// A record as the writer reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
  pub event: u64,
  pub clock: f64,
  pub rss_pages: u64,
  pub row: RowKind,
  pub what: What,
  /// A function id, a call-site id (FRST, LAST) or a message number (MSG).
  pub id: u64,
  /// The stack the event happened in (see the module documentation for STCK records).
  pub stack: Option<u64>,
}

impl Record {
  /// The fourth f64 of a record, as JS computes it.
  pub fn code(row: RowKind, what: What, id: u64) -> f64 {
    (id * 128 + row_code(row) * 16 + what as u64) as f64
  }
}

/// The row kinds a record can be, in the order of their codes.
const ROWS: [RowKind; 6] =
  [RowKind::Next, RowKind::Prev, RowKind::First, RowKind::Last, RowKind::Message, RowKind::Stack];

const fn row_code(row: RowKind) -> u64 {
  match row {
    RowKind::Next => 0,
    RowKind::Prev => 1,
    RowKind::First => 2,
    RowKind::Last => 3,
    RowKind::Message => 4,
    RowKind::Stack => 5,
  }
}

fn row_from_code(code: u64) -> Option<RowKind> {
  ROWS.get(code as usize).copied()
}

/// Why a record could not be read: JS wrote something the writer does not understand.
#[derive(Debug, thiserror::Error)]
#[error("event record {slot} holds an unknown code {code}")]
pub struct BadRecord {
  pub slot: u32,
  pub code: f64,
}

/// `count` zeroed lines, mapped from the OS: fresh pages stay unmapped until written, so an
/// unused ring does not add to the RSS being measured, and unmapping gives them back when the
/// ring goes. (The allocator's zeroed memory would do the first only while it maps each block
/// afresh; once it reuses freed ones, it zeroes them by hand, touching every page.)
struct Block {
  lines: std::ptr::NonNull<Line>,
  count: usize,
}

// SAFETY: the block is plain memory owned by this value; `Line` is `Sync`.
unsafe impl Send for Block {}
// SAFETY: as above.
unsafe impl Sync for Block {}

impl Block {
  fn bytes(count: usize) -> usize {
    count * std::mem::size_of::<Line>()
  }

  fn new(count: usize) -> Block {
    let bytes = Block::bytes(count);
    #[cfg(unix)]
    // SAFETY: an anonymous private mapping of `bytes` (not zero: count >= 4); the kernel zeroes
    // it, and page alignment exceeds Line's 64.
    let ptr = unsafe {
      let ptr = libc::mmap(
        std::ptr::null_mut(),
        bytes,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANON,
        -1,
        0,
      );
      if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
      } else {
        ptr.cast::<Line>()
      }
    };
    #[cfg(windows)]
    // SAFETY: VirtualAlloc reserves and commits `bytes` of zeroed, page-aligned memory.
    let ptr = unsafe {
      use windows_sys::Win32::System::Memory::{VirtualAlloc, MEM_COMMIT, MEM_RESERVE, PAGE_READWRITE};
      VirtualAlloc(std::ptr::null(), bytes, MEM_COMMIT | MEM_RESERVE, PAGE_READWRITE).cast::<Line>()
    };
    match std::ptr::NonNull::new(ptr) {
      Some(lines) => Block { lines, count },
      None => std::alloc::handle_alloc_error(std::alloc::Layout::array::<Line>(count).expect("a ring fits in memory")),
    }
  }
}

impl std::ops::Deref for Block {
  type Target = [Line];

  fn deref(&self) -> &[Line] {
    // SAFETY: `lines` holds `count` Lines for as long as the block lives; all zeroes is a valid
    // Line (an UnsafeCell of integers).
    unsafe { std::slice::from_raw_parts(self.lines.as_ptr(), self.count) }
  }
}

impl Drop for Block {
  fn drop(&mut self) {
    #[cfg(unix)]
    // SAFETY: unmaps exactly the mapping `new` made; no reference into it outlives the block.
    unsafe {
      libc::munmap(self.lines.as_ptr().cast(), Block::bytes(self.count));
    }
    #[cfg(windows)]
    // SAFETY: releases exactly the allocation `new` made.
    unsafe {
      use windows_sys::Win32::System::Memory::{VirtualFree, MEM_RELEASE};
      VirtualFree(self.lines.as_ptr().cast(), 0, MEM_RELEASE);
    }
  }
}

impl Ring {
  /// A ring of `capacity` records (rounded up to a power of two, at least 2).
  pub fn new(capacity: u32) -> Ring {
    let capacity = capacity.max(2).next_power_of_two();
    let bytes = RECORDS_AT + capacity as usize * RECORD_BYTES;
    Ring {
      lines: Block::new(bytes.div_ceil(64)),
      capacity,
      rss_failures: AtomicU64::new(0),
      rss_error: std::sync::Mutex::new(None),
    }
  }

  /// Counts a failed read of RSS (the sampler calls this; the ring keeps its last good RSS).
  pub fn note_rss_failure(&self, error: &str) {
    self.rss_error.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| error.to_string());
    self.rss_failures.fetch_add(1, Ordering::Relaxed);
  }

  /// Failed reads of RSS so far (one atomic load: the writer asks often).
  pub fn rss_failure_count(&self) -> u64 {
    self.rss_failures.load(Ordering::Relaxed)
  }

  /// Failed reads of RSS so far, and the first error.
  pub fn rss_failures(&self) -> (u64, Option<String>) {
    (self.rss_failures.load(Ordering::Relaxed), self.rss_error.lock().unwrap_or_else(|p| p.into_inner()).clone())
  }

  pub fn capacity(&self) -> u32 {
    self.capacity
  }

  /// The whole block, for the binding to hand to JavaScript as an `ArrayBuffer`.
  pub fn as_ptr(&self) -> *mut u8 {
    // Every byte of the block is inside an UnsafeCell, so writing through this pointer is allowed.
    self.lines.as_ptr().cast_mut().cast()
  }

  pub fn byte_len(&self) -> usize {
    self.lines.len() * 64
  }

  /// The 8-byte slot at `byte`. Each slot is only ever accessed with one width: 8 bytes here,
  /// 4 bytes through [`Self::half`].
  fn word(&self, byte: usize) -> &AtomicU64 {
    assert!(byte.is_multiple_of(8) && byte + 8 <= self.byte_len());
    // SAFETY: in bounds and 8-aligned (checked above; the block is 64-aligned), and the memory
    // lives as long as `self`.
    unsafe { AtomicU64::from_ptr(self.as_ptr().add(byte).cast()) }
  }

  /// The 4-byte slot at `byte`.
  fn half(&self, byte: usize) -> &AtomicU32 {
    assert!(byte.is_multiple_of(4) && byte + 4 <= self.byte_len());
    // SAFETY: as in `word`, with 4-byte alignment.
    unsafe { AtomicU32::from_ptr(self.as_ptr().add(byte).cast()) }
  }

  pub fn head(&self) -> u32 {
    self.half(HEAD_AT).load(Ordering::Acquire)
  }

  pub fn tail(&self) -> u32 {
    self.half(TAIL_AT).load(Ordering::Relaxed)
  }

  /// Marks records up to `tail` as consumed, so JS may overwrite their slots.
  pub fn set_tail(&self, tail: u32) {
    self.half(TAIL_AT).store(tail, Ordering::Release);
  }

  /// Publishes a fresh RSS and clock; the sampler calls this.
  pub fn publish_sample(&self, rss_pages: u32, clock: f64) {
    self.half(RSS_AT).store(rss_pages, Ordering::Relaxed);
    self.word(CLOCK_AT).store(clock.to_bits(), Ordering::Relaxed);
  }

  pub fn rss_pages(&self) -> u32 {
    self.half(RSS_AT).load(Ordering::Relaxed)
  }

  pub fn clock(&self) -> f64 {
    f64::from_bits(self.word(CLOCK_AT).load(Ordering::Relaxed))
  }

  /// Events JS has counted so far (JS updates it on every event, without ordering).
  pub fn events(&self) -> u64 {
    f64::from_bits(self.word(EVENTS_AT).load(Ordering::Relaxed)) as u64
  }

  /// Tells JS that the log is finished: it stops waiting for space and writes no more.
  pub fn close(&self) {
    self.half(CLOSED_AT).store(1, Ordering::Release);
  }

  pub fn is_closed(&self) -> bool {
    self.half(CLOSED_AT).load(Ordering::Acquire) == 1
  }

  /// The record published at counter `at`.
  pub fn read(&self, at: u32) -> Result<Record, BadRecord> {
    let slot = at & (self.capacity - 1);
    let base = RECORDS_AT + slot as usize * RECORD_BYTES;
    let field = |i: usize| f64::from_bits(self.word(base + i * 8).load(Ordering::Relaxed));
    let code = field(3);
    let bad = || BadRecord { slot, code };
    if !(code >= 0.0 && code < 2f64.powi(53) && code.fract() == 0.0) {
      return Err(bad());
    }
    let code_int = code as u64;
    let row = row_from_code((code_int / 16) % 8).ok_or_else(bad)?;
    let what = What::from_code((code_int % 16) as u8).ok_or_else(bad)?;
    let stack = field(4);
    let stack = (stack >= 0.0).then_some(stack as u64);
    Ok(Record {
      event: field(0) as u64,
      clock: field(1),
      rss_pages: field(2) as u64,
      row,
      what,
      id: code_int / 128,
      stack,
    })
  }

  /// Writes a record the way JS does (plain stores, then publish `head`). For the writer's
  /// own synthetic rows and for tests; JS has its own copy of this in the hot path.
  pub fn push(&self, record: &Record) -> bool {
    let head = self.half(HEAD_AT).load(Ordering::Relaxed);
    if head.wrapping_sub(self.tail()) >= self.capacity {
      return false;
    }
    let base = RECORDS_AT + (head & (self.capacity - 1)) as usize * RECORD_BYTES;
    let code = Record::code(record.row, record.what, record.id);
    let stack = record.stack.map_or(-1.0, |stack| stack as f64);
    for (i, value) in [record.event as f64, record.clock, record.rss_pages as f64, code, stack].into_iter().enumerate()
    {
      self.word(base + i * 8).store(value.to_bits(), Ordering::Relaxed);
    }
    self.half(HEAD_AT).store(head.wrapping_add(1), Ordering::Release);
    true
  }

  /// Stores the event count as JS does (for tests of what the writer does with it).
  #[cfg(test)]
  pub fn set_events(&self, events: u64) {
    self.word(EVENTS_AT).store((events as f64).to_bits(), Ordering::Relaxed);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  fn record(event: u64, row: RowKind, what: What, id: u64) -> Record {
    Record {
      event,
      clock: event as f64 / 1000.0,
      rss_pages: 10_000 + event,
      row,
      what,
      id,
      stack: (!event.is_multiple_of(3)).then_some(event / 3),
    }
  }

  #[test]
  fn capacity_is_a_power_of_two_and_the_block_is_aligned() {
    for (asked, got) in [(0, 2), (3, 4), (1000, 1024), (1024, 1024)] {
      let ring = Ring::new(asked);
      assert_eq!(ring.capacity(), got);
      assert_eq!(ring.as_ptr() as usize % 64, 0);
      assert!(ring.byte_len() >= RECORDS_AT + got as usize * RECORD_BYTES);
    }
  }

  #[test]
  fn records_round_trip_through_their_code() {
    let ring = Ring::new(8);
    for (row, what, id) in [
      (RowKind::Next, What::Call, 0),
      (RowKind::Prev, What::Resume, 12_345_678),
      (RowKind::First, What::Line, 3),
      (RowKind::Message, What::Line, 7),
      (RowKind::Last, What::Gc, (1 << 40) + 1),
      (RowKind::Stack, What::Call, 77),
    ] {
      let written = record(9, row, what, id);
      assert!(ring.push(&written));
      assert_eq!(ring.read(ring.head() - 1).unwrap(), written);
    }
  }

  #[test]
  fn a_full_ring_refuses_until_the_tail_moves() {
    let ring = Ring::new(4);
    for i in 0..4 {
      assert!(ring.push(&record(i, RowKind::Next, What::Call, 1)));
    }
    assert!(!ring.push(&record(4, RowKind::Next, What::Call, 1)));
    ring.set_tail(1);
    assert!(ring.push(&record(4, RowKind::Next, What::Call, 1)));
    assert_eq!(ring.read(4).unwrap().event, 4);
  }

  #[test]
  fn counters_wrap_at_two_to_the_thirty_two() {
    let ring = Ring::new(4);
    ring.half(HEAD_AT).store(u32::MAX - 1, Ordering::Relaxed);
    ring.set_tail(u32::MAX - 1);
    for i in 0..4 {
      assert!(ring.push(&record(i, RowKind::Next, What::Return, 2)));
    }
    assert_eq!(ring.head(), 2);
    let events: Vec<u64> = (0..4u32).map(|i| ring.read((u32::MAX - 1).wrapping_add(i)).unwrap().event).collect();
    assert_eq!(events, [0, 1, 2, 3]);
  }

  #[test]
  fn garbage_codes_are_reported_not_misread() {
    let ring = Ring::new(2);
    ring.push(&record(1, RowKind::Next, What::Call, 1));
    for code in [f64::NAN, -1.0, 0.5, 2f64.powi(60), 16.0 * 7.0] {
      ring.word(RECORDS_AT + 24).store(code.to_bits(), Ordering::Relaxed);
      assert!(ring.read(0).is_err(), "{code}");
    }
  }

  #[test]
  fn spsc_across_threads_loses_and_reorders_nothing() {
    const COUNT: u64 = if cfg!(miri) { 200 } else { 200_000 };
    let ring = std::sync::Arc::new(Ring::new(64));
    let producer = {
      let ring = ring.clone();
      std::thread::spawn(move || {
        for i in 0..COUNT {
          while !ring.push(&record(i, RowKind::Next, What::Call, i % 1000)) {
            std::hint::spin_loop();
          }
        }
      })
    };
    let mut next = 0;
    while next < COUNT {
      let (head, mut tail) = (ring.head(), ring.tail());
      while tail != head {
        let got = ring.read(tail).unwrap();
        assert_eq!((got.event, got.id), (next, next % 1000));
        next += 1;
        tail = tail.wrapping_add(1);
      }
      ring.set_tail(tail);
    }
    producer.join().unwrap();
  }
}
