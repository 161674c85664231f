//! GC rows: V8's GC prologue and epilogue callbacks on a JS thread, for its profilers that
//! record collections.
//!
//! Node-API has no GC hooks, but V8's C++ API has: `v8::Isolate::GetCurrent` and
//! `AddGCPrologueCallback`/`AddGCEpilogueCallback` (the forms with a data pointer, stable from
//! Node 20 to 26), found through [`v8`] under the name each platform's C++ ABI gives them; a
//! runtime without them records without GC rows. The callbacks run on the collected thread,
//! during the collection, and do little: a clock read and an RSS read before and after, V8's
//! heap figures (`Isolate::GetHeapStatistics`, as Node's own `v8.GCProfiler` reads them after
//! each collection) and a queue push for the writer, nothing that touches JavaScript.
//! (`perf_hooks` reports collections too, but only once the event loop turns: a program busy
//! for seconds would get its GC rows at the end, or not at all.)
//!
//! `HeapStatistics` is a C++ class whose fields V8 has kept in one order for years; its layout
//! is checked against what JavaScript's `v8.getHeapStatistics()` says the heap's limit is
//! before it is trusted, and without a match the GC rows come without HEAP rows. What
//! ArrayBuffers hold (`process.memoryUsage().arrayBuffers`) V8 does not count: Node's allocator
//! for them does, in a field that `process.memoryUsage()` reads through an inline C++ accessor.
//! Its place (the first word after the vtable pointer from Node 24, the second from Node 20 to
//! 22, after a 4-byte flag) is trusted only where one of the two holds what JavaScript read a
//! moment before and the other does not; elsewhere HEAP rows go without arrayBuffers.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use memtrace_core::format::Heap;
use memtrace_core::profiler::Collections;
use memtrace_core::rss;

use crate::v8;

/// `v8::Isolate::GetHeapStatistics(HeapStatistics*)`, `this` first.
type GetHeapStatistics = unsafe extern "C" fn(*mut c_void, *mut u64);
/// `v8::Isolate::GetArrayBufferAllocator()`, `this` first.
type GetArrayBufferAllocator = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
/// Where Node's `NodeArrayBufferAllocator` may keep its `std::atomic<size_t> total_mem_usage_`:
/// words of the object.
const ALLOCATED_WORDS: [usize; 2] = [1, 2];
/// Room for `v8::HeapStatistics` (14 words in V8 11 to 14), and its fields' places in it.
const STATISTICS_WORDS: usize = 32;
const TOTAL: usize = 0;
const USED: usize = 4;
const LIMIT: usize = 5;
const EXTERNAL: usize = 7;

thread_local! {
  /// Profilers of this thread that record collections, by the binding's id for each.
  static WATCHERS: RefCell<Vec<(u64, Collections)>> = const { RefCell::new(Vec::new()) };
  /// The collections under way (weak callbacks run within a mark-compact), each with when it
  /// started and RSS then, or None when nothing watched it start or RSS could not be read:
  /// every prologue pushes and every epilogue pops, so that they pair up.
  static STARTS: RefCell<Vec<Option<(Instant, u64)>>> = const { RefCell::new(Vec::new()) };
  static INSTALLED: Cell<bool> = const { Cell::new(false) };
  /// This thread's isolate and V8's function for its heap figures, once their layout is checked.
  static HEAP: Cell<Option<(*mut c_void, GetHeapStatistics)>> = const { Cell::new(None) };
  /// Node's count of the bytes this thread's ArrayBuffers hold, once its place is checked.
  static ARRAY_BUFFERS: Cell<Option<&'static AtomicU64>> = const { Cell::new(None) };
}

/// V8's heap figures now, where they can be read.
fn heap() -> Option<Heap> {
  let (isolate, get) = HEAP.try_with(Cell::get).ok().flatten()?;
  let mut words = [0u64; STATISTICS_WORDS];
  // SAFETY: `get` is V8's GetHeapStatistics and `isolate` this thread's (see `install`); it
  // writes a HeapStatistics, which `words` has room for.
  unsafe { get(isolate, words.as_mut_ptr()) };
  let array_buffers = ARRAY_BUFFERS.try_with(Cell::get).ok().flatten().map(|bytes| bytes.load(Ordering::Relaxed));
  Some(Heap { used: words[USED], total: words[TOTAL], external: words[EXTERNAL], array_buffers })
}

/// What JavaScript read of the heap just before, to check the places of V8's and Node's
/// figures by.
pub struct Expected {
  /// `v8.getHeapStatistics().heap_size_limit`.
  pub heap_limit: u64,
  /// `process.memoryUsage().arrayBuffers`.
  pub array_buffers: Option<u64>,
}

/// Records the collections of this thread into `collections` until [`unwatch`]`(id)`.
pub fn watch(id: u64, collections: Collections, expected: Expected) -> Result<(), String> {
  if !INSTALLED.get() {
    install(expected)?;
    INSTALLED.set(true);
  }
  WATCHERS.with_borrow_mut(|watchers| watchers.push((id, collections)));
  Ok(())
}

pub fn unwatch(id: u64) {
  // At a thread's exit its locals may be gone already, and so are its collections.
  let _ = WATCHERS.try_with(|watchers| watchers.borrow_mut().retain(|(watcher, _)| *watcher != id));
}

extern "C" fn prologue(_isolate: *mut c_void, _gc_type: i32, _flags: i32, _data: *mut c_void) {
  let watched = WATCHERS.try_with(|watchers| watchers.try_borrow().is_ok_and(|w| !w.is_empty())).unwrap_or(false);
  let start = if watched { rss::current().ok().map(|rss| (Instant::now(), rss)) } else { None };
  let _ = STARTS.try_with(|starts| starts.borrow_mut().push(start));
}

extern "C" fn epilogue(_isolate: *mut c_void, gc_type: i32, _flags: i32, _data: *mut c_void) {
  let Ok(Some(Some((start, rss_before)))) = STARTS.try_with(|starts| starts.borrow_mut().pop()) else { return };
  let duration = start.elapsed();
  let Ok(rss_after) = rss::current() else { return };
  // GCType is one bit per kind, in the order of `format::gc::KINDS`.
  let kind = (gc_type as u32).trailing_zeros().min(7) as u8;
  let _ = WATCHERS.try_with(|watchers| {
    if let Ok(watchers) = watchers.try_borrow() {
      if watchers.is_empty() {
        return;
      }
      let heap = heap();
      for (_, collections) in watchers.iter() {
        collections.record(start, duration, kind, rss_before, rss_after, heap);
      }
    }
  });
}

fn install(expected: Expected) -> Result<(), String> {
  type Callback = extern "C" fn(*mut c_void, i32, i32, *mut c_void);
  // Member functions take `this` first, under both ABIs: (isolate, callback, data, filter).
  type AddCallback = unsafe extern "C" fn(*mut c_void, Callback, *mut c_void, i32);
  const ALL_KINDS: i32 = 0x1f;
  let symbol = |name: v8::Name| {
    v8::symbol(name).ok_or_else(|| {
      format!(
        "GC rows need V8's GC callbacks, which this runtime does not export to addons ({} is missing)",
        name.exported().unwrap_or(name.itanium).to_string_lossy()
      )
    })
  };
  let get_current = symbol(v8::ISOLATE_GET_CURRENT)?;
  let add_prologue = symbol(v8::Name {
    itanium: c"_ZN2v87Isolate21AddGCPrologueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_S2_",
    msvc: Some(c"?AddGCPrologueCallback@Isolate@v8@@QEAAXP6AXPEAV12@W4GCType@2@W4GCCallbackFlags@2@PEAX@Z31@Z"),
  })?;
  let add_epilogue = symbol(v8::Name {
    itanium: c"_ZN2v87Isolate21AddGCEpilogueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_S2_",
    msvc: Some(c"?AddGCEpilogueCallback@Isolate@v8@@QEAAXP6AXPEAV12@W4GCType@2@W4GCCallbackFlags@2@PEAX@Z31@Z"),
  })?;
  let get_heap = v8::symbol(v8::Name {
    itanium: c"_ZN2v87Isolate17GetHeapStatisticsEPNS_14HeapStatisticsE",
    msvc: Some(c"?GetHeapStatistics@Isolate@v8@@QEAAXPEAVHeapStatistics@2@@Z"),
  });
  let get_allocator = v8::symbol(v8::Name {
    itanium: c"_ZN2v87Isolate23GetArrayBufferAllocatorEv",
    msvc: Some(c"?GetArrayBufferAllocator@Isolate@v8@@QEAAPEAVAllocator@ArrayBuffer@2@XZ"),
  });
  // SAFETY: the symbols are V8's functions of these signatures (see the module comment), called
  // on a JS thread, whose isolate GetCurrent returns. The callbacks live as long as the addon.
  unsafe {
    let get_current = std::mem::transmute::<*mut c_void, v8::GetCurrent>(get_current);
    let isolate = get_current();
    if isolate.is_null() {
      return Err("GC rows are recorded on a JavaScript thread, and this is none".into());
    }
    if let Some(get_heap) = get_heap {
      let get_heap = std::mem::transmute::<*mut c_void, GetHeapStatistics>(get_heap);
      let mut words = [0u64; STATISTICS_WORDS];
      get_heap(isolate, words.as_mut_ptr());
      let limit = expected.heap_limit;
      if words[LIMIT] == limit && words[USED] <= words[TOTAL] && words[TOTAL] <= limit {
        HEAP.set(Some((isolate, get_heap)));
      }
    }
    // A count of zero would match too many places to prove this one.
    if let (Some(get_allocator), Some(bytes @ 1..)) = (get_allocator, expected.array_buffers) {
      let allocator = std::mem::transmute::<*mut c_void, GetArrayBufferAllocator>(get_allocator)(isolate);
      if !allocator.is_null() && allocator.align_offset(8) == 0 {
        // The allocator lives as long as the isolate, and the profilers that read it stop first.
        let words = ALLOCATED_WORDS.map(|word| AtomicU64::from_ptr(allocator.cast::<u64>().add(word)));
        if let [count] = words.iter().filter(|count| count.load(Ordering::Relaxed) == bytes).collect::<Vec<_>>()[..] {
          ARRAY_BUFFERS.set(Some(count));
        }
      }
    }
    std::mem::transmute::<*mut c_void, AddCallback>(add_prologue)(isolate, prologue, std::ptr::null_mut(), ALL_KINDS);
    std::mem::transmute::<*mut c_void, AddCallback>(add_epilogue)(isolate, epilogue, std::ptr::null_mut(), ALL_KINDS);
  }
  Ok(())
}
