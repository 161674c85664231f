//! CommonJS's `Module.prototype._compile`, instrumenting what it compiles, as a native function.
//!
//! A JavaScript wrapper of `_compile` stays on the stack for as long as a module's top level
//! runs, so every stack trace taken there (an uncaught error's, a rejection's) would have one
//! frame more than untraced. V8 shows no frame for a function of its C++ API, so this one,
//! which passes the source through `transform` and calls the original with what it returns,
//! leaves the stack as it would be untraced.
//!
//! The original is called through V8's `Function::Call`, not Node-API's `napi_call_function`:
//! Node-API catches an exception and throws it again when the addon returns, which moves where
//! V8 says it was thrown to the caller of `_compile`, so that Node would print a line of its
//! own loader above an uncaught error instead of the user's. V8 lets it pass as it was thrown.

use std::ffi::c_void;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::{check_status, sys};

use crate::v8;

/// `v8::Function::Call(context, receiver, argc, argv)`: `this` (the function) first, a
/// `MaybeLocal<Value>` back, empty when an exception was thrown. A `Local` and a `napi_value`
/// are the same pointer.
type Call =
  unsafe extern "C" fn(sys::napi_value, *mut c_void, sys::napi_value, i32, *mut sys::napi_value) -> sys::napi_value;

/// V8's functions that call a function as JavaScript does.
#[derive(Clone, Copy)]
struct V8Call {
  get_current: v8::GetCurrent,
  get_current_context: v8::GetCurrentContext,
  call: Call,
}

impl V8Call {
  fn find() -> Option<V8Call> {
    let get_current = v8::symbol(v8::ISOLATE_GET_CURRENT)?;
    // Both return a handle by value, which MSVC does through a hidden pointer: Itanium only.
    let get_current_context = v8::symbol(v8::ISOLATE_GET_CURRENT_CONTEXT)?;
    let call = v8::symbol(v8::FUNCTION_CALL)?;
    // SAFETY: the symbols are V8's functions of these signatures (their names say so).
    unsafe {
      Some(V8Call {
        get_current: std::mem::transmute::<*mut c_void, v8::GetCurrent>(get_current),
        get_current_context: std::mem::transmute::<*mut c_void, v8::GetCurrentContext>(get_current_context),
        call: std::mem::transmute::<*mut c_void, Call>(call),
      })
    }
  }
}

/// What a `_compile` made here calls, held for as long as the function lives.
struct Targets {
  transform: sys::napi_ref,
  original: sys::napi_ref,
  v8: V8Call,
}

/// See `compile_through` in `lib.rs`.
pub fn through(env: Env, transform: Unknown, original: Unknown) -> Result<Option<Unknown<'static>>> {
  let Some(v8) = V8Call::find() else { return Ok(None) };
  let env = env.raw();
  let targets =
    Box::new(Targets { transform: reference(env, transform.raw())?, original: reference(env, original.raw())?, v8 });
  let mut function = ptr::null_mut();
  let name = "_compile";
  let data = Box::into_raw(targets);
  // SAFETY: `data` lives until the finalizer of the function it is attached to takes it back.
  unsafe {
    check_status!(sys::napi_create_function(
      env,
      name.as_ptr().cast(),
      name.len() as isize,
      Some(compile),
      data.cast(),
      &mut function
    ))?;
    check_status!(sys::napi_add_finalizer(
      env,
      function,
      data.cast(),
      Some(release),
      ptr::null_mut(),
      ptr::null_mut()
    ))?;
    Unknown::from_napi_value(env, function).map(Some)
  }
}

fn reference(env: sys::napi_env, value: sys::napi_value) -> Result<sys::napi_ref> {
  let mut reference = ptr::null_mut();
  // SAFETY: `value` is a live value of this env, from the arguments of the call being made.
  check_status!(unsafe { sys::napi_create_reference(env, value, 1, &mut reference) })?;
  Ok(reference)
}

/// Returns null with the exception pending when either call throws.
unsafe extern "C" fn compile(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
  // SAFETY: the arguments are Node-API's own, `data` is the `Targets` of this function, and the
  // V8 calls are made on this JavaScript thread within the callback's handle scope.
  unsafe {
    let (mut argc, mut this, mut data) = (0, ptr::null_mut(), ptr::null_mut());
    if sys::napi_get_cb_info(env, info, &mut argc, ptr::null_mut(), &mut this, &mut data) != sys::Status::napi_ok {
      return ptr::null_mut();
    }
    // Room for content, filename and format at least: missing ones read as `undefined`.
    let mut args = vec![ptr::null_mut(); argc.max(3)];
    let mut room = args.len();
    if sys::napi_get_cb_info(env, info, &mut room, args.as_mut_ptr(), ptr::null_mut(), ptr::null_mut())
      != sys::Status::napi_ok
    {
      return ptr::null_mut();
    }
    let targets = &*(data as *const Targets);
    let (Some(transform), Some(original)) = (value_of(env, targets.transform), value_of(env, targets.original)) else {
      return ptr::null_mut();
    };
    let mut code = ptr::null_mut();
    if sys::napi_call_function(env, this, transform, 3, args.as_ptr(), &mut code) != sys::Status::napi_ok {
      return ptr::null_mut();
    }
    args[0] = code;
    let V8Call { get_current, get_current_context, call } = targets.v8;
    let context = get_current_context(get_current());
    call(original, context, this, argc.max(1) as i32, args.as_mut_ptr())
  }
}

unsafe fn value_of(env: sys::napi_env, reference: sys::napi_ref) -> Option<sys::napi_value> {
  let mut value = ptr::null_mut();
  // SAFETY: `reference` was made in this env and is deleted only with the function.
  (unsafe { sys::napi_get_reference_value(env, reference, &mut value) } == sys::Status::napi_ok).then_some(value)
}

unsafe extern "C" fn release(env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
  // SAFETY: `data` is the `Targets` `compile_through` leaked for this function, released once.
  unsafe {
    let targets = Box::from_raw(data as *mut Targets);
    sys::napi_delete_reference(env, targets.transform);
    sys::napi_delete_reference(env, targets.original);
  }
}
