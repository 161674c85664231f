//! V8's sampling heap profile, read through V8's C++ API (`HeapProfiler::GetAllocationProfile`)
//! for what the inspector cannot do:
//! * say which samples' objects were collected: since V8 14.6 (Node 26) each sample says whether
//!   its object is still alive, so a profile sampled with V8's flags that keep collected
//!   objects' samples tells them apart from the live ones (the inspector's
//!   `getSamplingProfile` gives both with no mark);
//! * be read where no JavaScript runs ([`LastResort`]): as a worker ended by `terminate()` is
//!   torn down, and on every sampled thread when a caught signal ends the process.
//!
//! It is the profile the inspector returns, written as the same `.heapprofile`: `samples` and
//! the frames' `selfSize` are the live objects', as DevTools expects, and `collectedSamples`
//! (memtrace's) the collected ones'.
//!
//! `AllocationProfile` is a C++ interface: its vtable holds `GetRootNode`, `GetSamples` and the
//! destructor (two entries in the Itanium ABI); its `Node`, `Allocation` and `Sample` are plain
//! structs V8 has kept unchanged since Node 12, and `std::vector` is three pointers in both C++
//! libraries Node is built with. Names are read with Node-API (a `Local<String>` is a
//! `napi_value`). What is read is checked (vectors well formed, most samples' frames in the
//! tree) before anything is written.

use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use memtrace_core::format::heapprofile::{self, CallNode, Sample};
use memtrace_core::signals;
use napi::sys;

use crate::v8;

/// `std::vector<T>`: begin, end, end of capacity.
#[repr(C)]
struct Vector<T> {
  begin: *const T,
  end: *const T,
  capacity: *const T,
}

impl<T> Vector<T> {
  /// Its elements, if it is well formed.
  unsafe fn items(&self) -> Option<&[T]> {
    if self.begin.is_null() {
      return (self.end.is_null() && self.capacity.is_null()).then_some(&[]);
    }
    let bytes = (self.end as usize).checked_sub(self.begin as usize)?;
    let room = (self.capacity as usize).checked_sub(self.begin as usize)?;
    if bytes > room || bytes % size_of::<T>() != 0 || self.begin.align_offset(align_of::<T>()) != 0 {
      return None;
    }
    // SAFETY: a well-formed vector's elements are `bytes` of live `T`s from `begin`.
    Some(unsafe { std::slice::from_raw_parts(self.begin, bytes / size_of::<T>()) })
  }
}

/// `v8::AllocationProfile::Node`.
#[repr(C)]
struct Node {
  name: sys::napi_value,
  script_name: sys::napi_value,
  script_id: i32,
  start_position: i32,
  line_number: i32,
  column_number: i32,
  node_id: u32,
  children: Vector<*const Node>,
  allocations: Vector<Allocation>,
}

/// `v8::AllocationProfile::Allocation`.
#[repr(C)]
struct Allocation {
  size: usize,
  count: u32,
}

/// `v8::AllocationProfile::Sample`, and since V8 14.6 `is_live` after it.
#[repr(C)]
struct RawSample {
  node_id: u32,
  size: usize,
  count: u32,
  sample_id: u64,
}

#[repr(C)]
struct MarkedSample {
  sample: RawSample,
  is_live: bool,
}

type GetHeapProfiler = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type GetAllocationProfile = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type GetRootNode = unsafe extern "C" fn(*mut c_void) -> *const Node;
type GetSamples = unsafe extern "C" fn(*mut c_void) -> *const Vector<RawSample>;
type Delete = unsafe extern "C" fn(*mut c_void);

/// The places of the functions in `AllocationProfile`'s vtable, in their order of declaration
/// (its destructor is declared last: Itanium gives it two places, complete and deleting).
const GET_ROOT_NODE: usize = 0;
const GET_SAMPLES: usize = 1;
const DELETE: usize = 3;

/// The heap profile of the thread of `env` now, as `.heapprofile` JSON; None when the thread
/// samples no heap, and an error when what V8 gives is not what this reads. `marked`: the
/// runtime's V8 marks samples live or not (14.6 and later).
///
/// # Safety
/// On the JavaScript thread of `env`, while its isolate lives.
pub unsafe fn profile(env: sys::napi_env, marked: bool) -> Result<Option<String>, String> {
  let missing = || "this runtime does not export V8's heap profiler to addons".to_string();
  let isolate = v8::current_isolate().ok_or_else(missing)?;
  let get_profiler =
    v8::symbol(v8::Name { itanium: c"_ZN2v87Isolate15GetHeapProfilerEv", msvc: None }).ok_or_else(missing)?;
  let get_profile = v8::symbol(v8::Name { itanium: c"_ZN2v812HeapProfiler20GetAllocationProfileEv", msvc: None })
    .ok_or_else(missing)?;
  // SAFETY: the symbols are V8's functions of these signatures; the caller is on the isolate's
  // thread. The profile's handles live in the handle scope opened here.
  unsafe {
    let profiler = std::mem::transmute::<*mut c_void, GetHeapProfiler>(get_profiler)(isolate);
    if profiler.is_null() {
      return Ok(None);
    }
    let mut scope = ptr::null_mut();
    if sys::napi_open_handle_scope(env, &mut scope) != sys::Status::napi_ok {
      return Err("cannot open a handle scope".into());
    }
    let profile = std::mem::transmute::<*mut c_void, GetAllocationProfile>(get_profile)(profiler);
    let result = if profile.is_null() { Ok(None) } else { read(env, profile, marked).map(Some) };
    if !profile.is_null() {
      let vtable = *(profile as *const *const *mut c_void);
      std::mem::transmute::<*mut c_void, Delete>(*vtable.add(DELETE))(profile);
    }
    sys::napi_close_handle_scope(env, scope);
    result
  }
}

/// Reads `profile` (an `AllocationProfile*`) into JSON.
unsafe fn read(env: sys::napi_env, profile: *mut c_void, marked: bool) -> Result<String, String> {
  let unexpected = |what: &str| format!("V8's heap profile is not laid out as memtrace reads it ({what})");
  // SAFETY: `profile` is a live AllocationProfile (see `profile`).
  unsafe {
    let vtable = *(profile as *const *const *mut c_void);
    let root = std::mem::transmute::<*mut c_void, GetRootNode>(*vtable.add(GET_ROOT_NODE))(profile);
    let samples = std::mem::transmute::<*mut c_void, GetSamples>(*vtable.add(GET_SAMPLES))(profile);
    if root.is_null() || samples.is_null() {
      return Err(unexpected("no root or no samples"));
    }
    let mut ids = HashSet::new();
    let mut head = node(env, &*root, &mut ids, 0).ok_or_else(|| unexpected("a frame"))?;
    let marks: Vec<(&RawSample, bool)> = if marked {
      let all = (*(samples as *const Vector<MarkedSample>)).items().ok_or_else(|| unexpected("the samples"))?;
      all.iter().map(|s| (&s.sample, s.is_live)).collect()
    } else {
      (*samples).items().ok_or_else(|| unexpected("the samples"))?.iter().map(|s| (s, true)).collect()
    };
    // Samples taken while V8 built the profile (of its own strings) name frames it did not put
    // in the tree, and V8 may have let go of the frames of collected objects: those are left
    // out. Most samples name frames of the tree, or this is not read right.
    let (mut live, mut collected) = (Vec::new(), Vec::new());
    for &(s, alive) in &marks {
      let sample =
        Sample { size: (s.size as u64) * u64::from(s.count), node: u64::from(s.node_id), ordinal: s.sample_id };
      if ids.contains(&sample.node) {
        if alive { &mut live } else { &mut collected }.push(sample);
      }
    }
    if (live.len() + collected.len()) * 2 < marks.len() {
      return Err(unexpected("samples of no frame"));
    }
    if !marked {
      return Ok(heapprofile::encode(&head, &live, None));
    }
    // The frames' own sizes count collected objects too: the live ones' are what DevTools shows.
    set_self_sizes(&mut head, &live);
    Ok(heapprofile::encode(&head, &live, Some(&collected)))
  }
}

/// Each frame's own size: the bytes of `samples` made in it.
fn set_self_sizes(head: &mut CallNode, samples: &[Sample]) {
  let mut sizes = HashMap::new();
  for sample in samples {
    *sizes.entry(sample.node).or_insert(0) += sample.size;
  }
  let mut pending = vec![head];
  while let Some(frame) = pending.pop() {
    frame.self_size = sizes.get(&frame.id).copied().unwrap_or(0);
    pending.extend(frame.children.iter_mut());
  }
}

/// Deeper than this is no stack V8 samples (its default depth is 128 frames).
const DEPTH: usize = 1024;

unsafe fn node(env: sys::napi_env, raw: &Node, ids: &mut HashSet<u64>, depth: usize) -> Option<CallNode> {
  if depth > DEPTH || raw.line_number < 0 || raw.column_number < 0 {
    return None;
  }
  ids.insert(u64::from(raw.node_id));
  // SAFETY: the node's vectors and handles are V8's, alive with the profile.
  unsafe {
    let self_size = raw.allocations.items()?.iter().map(|a| (a.size as u64) * u64::from(a.count)).sum();
    let mut children = Vec::new();
    for &child in raw.children.items()? {
      children.push(node(env, child.as_ref()?, ids, depth + 1)?);
    }
    Some(CallNode {
      function: text(env, raw.name)?,
      script_id: i64::from(raw.script_id),
      url: text(env, raw.script_name)?,
      line: i64::from(raw.line_number) - 1,
      column: i64::from(raw.column_number) - 1,
      self_size,
      id: u64::from(raw.node_id),
      children,
    })
  }
}

/// A string's text; an empty handle (a frame with no script) is "".
unsafe fn text(env: sys::napi_env, value: sys::napi_value) -> Option<String> {
  if value.is_null() {
    return Some(String::new());
  }
  let mut length = 0;
  // SAFETY: `value` is a string handle of this env's isolate.
  unsafe {
    if sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut length) != sys::Status::napi_ok {
      return None;
    }
    let mut bytes = vec![0u8; length + 1];
    let mut written = 0;
    if sys::napi_get_value_string_utf8(env, value, bytes.as_mut_ptr().cast(), bytes.len(), &mut written)
      != sys::Status::napi_ok
    {
      return None;
    }
    bytes.truncate(written);
    String::from_utf8(bytes).ok()
  }
}

/// A thread's heap profile, written natively when its JavaScript cannot write it: as the thread's
/// environment is torn down without JavaScript (a worker ended by `terminate()`), and when a
/// caught signal ends the process (through `node::RequestInterrupt`, which runs it on the thread
/// whether the thread is busy in JavaScript or waits in its event loop or in `Atomics.wait`).
/// Whichever comes first writes it, unless [`LastResort::forget`] says JavaScript did.
pub struct LastResort {
  target: Arc<Target>,
  word: u64,
}

struct Target {
  env: sys::napi_env,
  /// `node::Environment*` of the thread, for `node::RequestInterrupt`.
  environment: usize,
  path: PathBuf,
  marked: bool,
  /// Whether the profile is written (or being written), by whom ever.
  written: AtomicBool,
  /// Whether the thread's environment still lives: no interrupt is requested of one that is gone.
  alive: Mutex<bool>,
}

// SAFETY: the env is used only on its thread (in its cleanup hook and its interrupts), and
// `node::RequestInterrupt` is made to be called from any thread.
unsafe impl Send for Target {}
// SAFETY: as for Send; the rest is atomics and a mutex.
unsafe impl Sync for Target {}

type GetCurrentEnvironment = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type RequestInterrupt = unsafe extern "C" fn(*mut c_void, unsafe extern "C" fn(*mut c_void), *mut c_void);

const REQUEST_INTERRUPT: v8::Name =
  v8::Name { itanium: c"_ZN4node16RequestInterruptEPNS_11EnvironmentEPFvPvES2_", msvc: None };

impl LastResort {
  /// On the thread of `env`, while it runs JavaScript.
  pub fn new(env: sys::napi_env, path: PathBuf, marked: bool) -> Result<LastResort, String> {
    let environment = current_environment().ok_or("this runtime does not export what finds a thread's environment")?;
    let target = Arc::new(Target {
      env,
      environment: environment as usize,
      path,
      marked,
      written: AtomicBool::new(false),
      alive: Mutex::new(true),
    });
    let data = Arc::into_raw(target.clone());
    // SAFETY: the hook gets its own reference to the target, which it takes back when it runs;
    // `forget` removes the hook and takes it back if it has not.
    if unsafe { sys::napi_add_env_cleanup_hook(env, Some(at_teardown), data as *mut c_void) } != sys::Status::napi_ok {
      // SAFETY: not registered: the reference is ours to drop.
      drop(unsafe { Arc::from_raw(data) });
      return Err("cannot register a cleanup hook".into());
    }
    let signalled = Arc::downgrade(&target);
    let word = signals::add_last_word(Arc::new(move |deadline: Instant| {
      if let Some(target) = signalled.upgrade() {
        target.write_on_its_thread(deadline);
      }
    }));
    Ok(LastResort { target, word })
  }

  /// JavaScript writes (or wrote) the profile: nothing is written here.
  pub fn forget(&self) {
    self.target.written.store(true, Ordering::SeqCst);
    signals::forget(self.word);
    let data = Arc::as_ptr(&self.target);
    // SAFETY: called on the env's thread while it runs JavaScript, so the hook has not run; once
    // removed, its reference is ours to take back.
    unsafe {
      if sys::napi_remove_env_cleanup_hook(self.target.env, Some(at_teardown), data as *mut c_void)
        == sys::Status::napi_ok
      {
        drop(Arc::from_raw(data));
      }
    }
  }
}

impl Target {
  /// Writes the profile here (on the thread), once.
  fn write(&self) {
    if self.written.swap(true, Ordering::SeqCst) {
      return;
    }
    // SAFETY: called on the env's thread, from its cleanup hook or an interrupt, while its
    // isolate lives.
    let written = match unsafe { profile(self.env, self.marked) } {
      Ok(Some(json)) => std::fs::write(&self.path, json).map_err(|e| e.to_string()),
      Ok(None) => Err("its heap was no longer sampled".into()),
      Err(err) => Err(err),
    };
    if let Err(err) = written {
      eprintln!("memtrace: cannot write the heap profile {}: {err}", self.path.display());
    }
  }

  /// From another thread: has the thread write the profile, and waits for it until `deadline`.
  fn write_on_its_thread(self: Arc<Self>, deadline: Instant) {
    let Some(request) = v8::symbol(REQUEST_INTERRUPT) else { return };
    let (done, finished) = mpsc::channel::<()>();
    {
      let alive = self.alive.lock().unwrap_or_else(|p| p.into_inner());
      if !*alive || self.written.load(Ordering::SeqCst) {
        return;
      }
      let data = Box::into_raw(Box::new((self.clone(), done)));
      // SAFETY: the environment lives (`alive`, under its lock); the callback takes `data` back.
      unsafe {
        std::mem::transmute::<*mut c_void, RequestInterrupt>(request)(
          self.environment as *mut c_void,
          interrupted,
          data.cast(),
        )
      };
    }
    let _ = finished.recv_timeout(deadline.saturating_duration_since(Instant::now()));
  }
}

/// This thread's `node::Environment*`.
fn current_environment() -> Option<*mut c_void> {
  let isolate = v8::current_isolate()?;
  let get_context = v8::symbol(v8::ISOLATE_GET_CURRENT_CONTEXT)?;
  let get_environment =
    v8::symbol(v8::Name { itanium: c"_ZN4node21GetCurrentEnvironmentEN2v85LocalINS0_7ContextEEE", msvc: None })?;
  v8::symbol(REQUEST_INTERRUPT)?;
  // SAFETY: V8's and Node's functions of these signatures, on a JavaScript thread in a call
  // from JavaScript (so in a context, with a handle scope).
  unsafe {
    let context = std::mem::transmute::<*mut c_void, v8::GetCurrentContext>(get_context)(isolate);
    let environment = std::mem::transmute::<*mut c_void, GetCurrentEnvironment>(get_environment)(context);
    (!environment.is_null()).then_some(environment)
  }
}

unsafe extern "C" fn interrupted(data: *mut c_void) {
  // SAFETY: `data` is what `write_on_its_thread` boxed for this call, taken back once.
  let (target, done) = *unsafe { Box::from_raw(data as *mut (Arc<Target>, mpsc::Sender<()>)) };
  target.write();
  let _ = done.send(());
}

unsafe extern "C" fn at_teardown(data: *mut c_void) {
  // SAFETY: `data` is the reference `LastResort::new` gave this hook, which runs once, on the
  // thread, while its isolate lives.
  let target = unsafe { Arc::from_raw(data as *const Target) };
  target.write();
  *target.alive.lock().unwrap_or_else(|p| p.into_inner()) = false;
}
