//! Stack traces of instrumented code with the places they have untraced.
//!
//! V8 formats a stack trace through one callback per isolate, which Node sets to its own
//! (`node::PrepareStackTraceCallback`: the user's `Error.prepareStackTrace`, source maps, or the
//! default format). memtrace puts one in front of it that first hands the frames to a JavaScript
//! function (`src/instrument/traces.ts`), which answers them with the line and column they have
//! in the source, then calls Node's with what it answered. So `Error.stack`, a program's own
//! `prepareStackTrace`, `Error.captureStackTrace` and Node's source maps all see untraced places.
//! Both functions are public API (V8's `v8.h`, Node's `node.h`), found by name as `v8.rs` says.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

use napi::bindgen_prelude::*;
use napi::{check_status, sys};

use crate::v8;

/// `v8::Isolate::SetPrepareStackTraceCallback(callback)`, `this` first.
type SetCallback = unsafe extern "C" fn(*mut c_void, Prepare);
/// A `v8::PrepareStackTraceCallback`: context, error and frames in, the `stack` value out (an
/// empty `MaybeLocal` when it threw). A `Local` and a `MaybeLocal` are one pointer.
type Prepare = unsafe extern "C" fn(sys::napi_value, sys::napi_value, sys::napi_value) -> sys::napi_value;
/// `v8::Function::Call(context, receiver, argc, argv)`, as in `compile.rs`.
type Call =
  unsafe extern "C" fn(sys::napi_value, *mut c_void, sys::napi_value, i32, *mut sys::napi_value) -> sys::napi_value;

/// What this thread's callback calls.
#[derive(Clone, Copy)]
struct Mapper {
  env: sys::napi_env,
  function: sys::napi_ref,
  call: Call,
  node: Prepare,
}

/// Whether a thread of this process maps its stack traces: then no source map of memtrace's is
/// needed for them (asked from Node 20's loader-hooks thread, which maps none of its own).
static MAPPED: AtomicBool = AtomicBool::new(false);

pub fn mapped() -> bool {
  MAPPED.load(Ordering::Relaxed)
}

thread_local! {
  static MAPPER: Cell<Option<Mapper>> = const { Cell::new(None) };
}

/// Puts `mapper(error, frames) → frames` in front of Node's stack-trace formatting on this
/// thread; false where the runtime does not export what it takes (Windows: MSVC returns a
/// `MaybeLocal` through a hidden pointer), and stack traces then keep instrumented places.
pub fn map_through(env: Env, mapper: Unknown) -> Result<bool> {
  let found = (
    v8::symbol(v8::Name {
      itanium: c"_ZN2v87Isolate28SetPrepareStackTraceCallbackEPFNS_10MaybeLocalINS_5ValueEEENS_5LocalINS_7ContextEEENS4_IS2_EENS4_INS_5ArrayEEEE",
      msvc: None,
    }),
    v8::symbol(v8::Name {
      itanium: c"_ZN4node25PrepareStackTraceCallbackEN2v85LocalINS0_7ContextEEENS1_INS0_5ValueEEENS1_INS0_5ArrayEEE",
      msvc: None,
    }),
    v8::symbol(v8::FUNCTION_CALL),
    v8::current_isolate(),
  );
  let (Some(set), Some(node), Some(call), Some(isolate)) = found else { return Ok(false) };
  let mut function = ptr::null_mut();
  // SAFETY: `mapper` is a live value of this env; the reference keeps it for the thread's life.
  check_status!(unsafe { sys::napi_create_reference(env.raw(), mapper.raw(), 1, &mut function) })?;
  // SAFETY: the symbols are the functions their names say, of these signatures.
  unsafe {
    let set = std::mem::transmute::<*mut c_void, SetCallback>(set);
    let mapper = Mapper {
      env: env.raw(),
      function,
      call: std::mem::transmute::<*mut c_void, Call>(call),
      node: std::mem::transmute::<*mut c_void, Prepare>(node),
    };
    MAPPER.with(|cell| cell.set(Some(mapper)));
    set(isolate, prepare);
  }
  MAPPED.store(true, Ordering::Relaxed);
  Ok(true)
}

unsafe extern "C" fn prepare(
  context: sys::napi_value,
  error: sys::napi_value,
  frames: sys::napi_value,
) -> sys::napi_value {
  let Some(Mapper { env, function, call, node }) = MAPPER.with(Cell::get) else { return ptr::null_mut() };
  // SAFETY: V8 calls this on the isolate's thread, in a handle scope, with live handles; the
  // reference and env are this thread's, made when the callback was set.
  unsafe {
    let (mut mapper, mut receiver) = (ptr::null_mut(), ptr::null_mut());
    if sys::napi_get_reference_value(env, function, &mut mapper) != sys::Status::napi_ok
      || sys::napi_get_undefined(env, &mut receiver) != sys::Status::napi_ok
    {
      return node(context, error, frames);
    }
    let mut args = [error, frames];
    let mapped = call(mapper, context.cast(), receiver, 2, args.as_mut_ptr());
    if mapped.is_null() {
      // It threw: let the exception be the stack's, as a throwing prepareStackTrace's is.
      return ptr::null_mut();
    }
    node(context, error, mapped)
  }
}
