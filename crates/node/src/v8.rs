//! V8's C++ API, which Node exports to addons, for what Node-API cannot do: functions are looked
//! up by their exported names at run time, so that a runtime without one goes on without what
//! needs it, saying why, rather than fail to load. C++ compilers name them differently: the
//! Itanium ABI (Linux, macOS) and MSVC (Windows, where Node exports V8's API from `node.exe`).

use std::ffi::{c_void, CStr};

/// A V8 function's exported name under each ABI; no MSVC name where memtrace does not call it
/// on Windows (it returns a class by value there, through a pointer the Itanium form has not).
#[derive(Clone, Copy)]
pub struct Name {
  pub itanium: &'static CStr,
  pub msvc: Option<&'static CStr>,
}

impl Name {
  /// The name this platform's C++ ABI gives the function.
  pub fn exported(self) -> Option<&'static CStr> {
    if cfg!(windows) {
      self.msvc
    } else {
      Some(self.itanium)
    }
  }
}

/// `v8::Isolate::GetCurrent()`.
pub const ISOLATE_GET_CURRENT: Name =
  Name { itanium: c"_ZN2v87Isolate10GetCurrentEv", msvc: Some(c"?GetCurrent@Isolate@v8@@SAPEAV12@XZ") };
pub type GetCurrent = unsafe extern "C" fn() -> *mut c_void;

/// `v8::Isolate::GetCurrentContext()`: `this` first, a `Local<Context>` back. Itanium only: MSVC
/// returns a handle by value through a hidden pointer.
pub const ISOLATE_GET_CURRENT_CONTEXT: Name = Name { itanium: c"_ZN2v87Isolate17GetCurrentContextEv", msvc: None };
pub type GetCurrentContext = unsafe extern "C" fn(*mut c_void) -> *mut c_void;

/// `v8::Function::Call(context, receiver, argc, argv)`: `this` (the function) first, a
/// `MaybeLocal<Value>` back, empty when an exception was thrown. Itanium only: MSVC returns the
/// handle through a hidden pointer.
pub const FUNCTION_CALL: Name =
  Name { itanium: c"_ZN2v88Function4CallENS_5LocalINS_7ContextEEENS1_INS_5ValueEEEiPS5_", msvc: None };

/// This thread's isolate; None where the runtime does not export `GetCurrent`, or on a thread
/// that has none.
pub fn current_isolate() -> Option<*mut c_void> {
  let get_current = symbol(ISOLATE_GET_CURRENT)?;
  // SAFETY: V8's `Isolate::GetCurrent`, which any thread may call.
  let isolate = unsafe { std::mem::transmute::<*mut c_void, GetCurrent>(get_current)() };
  (!isolate.is_null()).then_some(isolate)
}

/// The address of V8's function `name`, if this runtime exports it.
#[cfg(unix)]
pub fn symbol(name: Name) -> Option<*mut c_void> {
  // SAFETY: dlsym with RTLD_DEFAULT only looks a name up among the loaded objects.
  let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.exported()?.as_ptr()) };
  (!found.is_null()).then_some(found)
}

#[cfg(windows)]
pub fn symbol(name: Name) -> Option<*mut c_void> {
  #[link(name = "kernel32")]
  extern "system" {
    fn GetModuleHandleW(name: *const u16) -> *mut c_void;
    fn GetProcAddress(module: *mut c_void, name: *const std::ffi::c_char) -> *mut c_void;
  }
  let msvc = name.exported()?;
  // SAFETY: the module of the running executable (node.exe, which exports V8's API to addons)
  // lives as long as the process; GetProcAddress only looks a name up in its exports.
  let found = unsafe { GetProcAddress(GetModuleHandleW(std::ptr::null()), msvc.as_ptr()) };
  (!found.is_null()).then_some(found)
}

#[cfg(not(any(unix, windows)))]
pub fn symbol(_name: Name) -> Option<*mut c_void> {
  None
}
