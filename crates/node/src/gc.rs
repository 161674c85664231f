//! GC rows: V8's GC prologue and epilogue callbacks on a JS thread, for its profilers that
//! record collections.
//!
//! Node-API has no GC hooks, but Node exports V8's C++ API to addons. `v8::Isolate::GetCurrent`
//! and `AddGCPrologueCallback`/`AddGCEpilogueCallback` (the forms with a data pointer, stable
//! from Node 20 to 26) are looked up by their Itanium-mangled names at run time, so that a
//! runtime without them gets a clear error rather than an addon that fails to load. The
//! callbacks run on the collected thread, during the collection, and do little: a clock read,
//! an RSS read and a queue push for the writer, nothing that touches JavaScript.
//! (`perf_hooks` reports collections too, but only once the event loop turns: a program busy
//! for seconds would get its GC rows at the end, or not at all.)

use std::cell::{Cell, RefCell};
use std::time::Instant;

use memtrace_core::profiler::Collections;

thread_local! {
  /// Profilers of this thread that record collections, by the binding's id for each.
  static WATCHERS: RefCell<Vec<(u64, Collections)>> = const { RefCell::new(Vec::new()) };
  /// When the collections under way started (weak callbacks run within a mark-compact).
  static STARTS: RefCell<Vec<Instant>> = const { RefCell::new(Vec::new()) };
  static INSTALLED: Cell<bool> = const { Cell::new(false) };
}

/// Records the collections of this thread into `collections` until [`unwatch`]`(id)`.
pub fn watch(id: u64, collections: Collections) -> Result<(), String> {
  if !INSTALLED.get() {
    install()?;
    INSTALLED.set(true);
  }
  WATCHERS.with_borrow_mut(|watchers| watchers.push((id, collections)));
  Ok(())
}

pub fn unwatch(id: u64) {
  // At a thread's exit its locals may be gone already, and so are its collections.
  let _ = WATCHERS.try_with(|watchers| watchers.borrow_mut().retain(|(watcher, _)| *watcher != id));
}

extern "C" fn prologue(_isolate: *mut std::ffi::c_void, _gc_type: i32, _flags: i32, _data: *mut std::ffi::c_void) {
  let _ = STARTS.try_with(|starts| starts.borrow_mut().push(Instant::now()));
}

extern "C" fn epilogue(_isolate: *mut std::ffi::c_void, gc_type: i32, _flags: i32, _data: *mut std::ffi::c_void) {
  let Ok(Some(start)) = STARTS.try_with(|starts| starts.borrow_mut().pop()) else { return };
  // GCType is one bit per kind, in the order of `format::gc::KINDS`.
  let kind = (gc_type as u32).trailing_zeros().min(7) as u8;
  let _ = WATCHERS.try_with(|watchers| {
    if let Ok(watchers) = watchers.try_borrow() {
      for (_, collections) in watchers.iter() {
        collections.record(start, start.elapsed(), kind);
      }
    }
  });
}

#[cfg(unix)]
fn install() -> Result<(), String> {
  use std::ffi::{c_void, CStr};
  type Callback = extern "C" fn(*mut c_void, i32, i32, *mut c_void);
  type GetCurrent = unsafe extern "C" fn() -> *mut c_void;
  // Member functions take `this` first (Itanium C++ ABI): (isolate, callback, data, filter).
  type AddCallback = unsafe extern "C" fn(*mut c_void, Callback, *mut c_void, i32);
  const ALL_KINDS: i32 = 0x1f;
  let symbol = |name: &CStr| {
    // SAFETY: dlsym with RTLD_DEFAULT only looks a name up among the loaded objects.
    let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
    if found.is_null() {
      Err(format!(
        "GC rows need V8's GC callbacks, which this runtime does not export to addons ({} is missing)",
        name.to_string_lossy()
      ))
    } else {
      Ok(found)
    }
  };
  let get_current = symbol(c"_ZN2v87Isolate10GetCurrentEv")?;
  let add_prologue = symbol(c"_ZN2v87Isolate21AddGCPrologueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_S2_")?;
  let add_epilogue = symbol(c"_ZN2v87Isolate21AddGCEpilogueCallbackEPFvPS0_NS_6GCTypeENS_15GCCallbackFlagsEPvES4_S2_")?;
  // SAFETY: the symbols are V8's functions of these signatures (see the module comment), called
  // on a JS thread, whose isolate GetCurrent returns. The callbacks live as long as the addon.
  unsafe {
    let get_current: GetCurrent = std::mem::transmute::<*mut c_void, GetCurrent>(get_current);
    let isolate = get_current();
    if isolate.is_null() {
      return Err("GC rows are recorded on a JavaScript thread, and this is none".into());
    }
    std::mem::transmute::<*mut c_void, AddCallback>(add_prologue)(isolate, prologue, std::ptr::null_mut(), ALL_KINDS);
    std::mem::transmute::<*mut c_void, AddCallback>(add_epilogue)(isolate, epilogue, std::ptr::null_mut(), ALL_KINDS);
  }
  Ok(())
}

#[cfg(not(unix))]
fn install() -> Result<(), String> {
  Err("GC rows are not available on Windows yet: V8's GC callbacks are reached through C++ names that differ there".into())
}
