//! V8's C++ API, which Node exports to addons, for what Node-API cannot do: functions are looked
//! up by their Itanium-mangled names at run time, so that a runtime without one goes on without
//! what needs it, saying why, rather than fail to load. Windows names them differently (MSVC),
//! so there nothing is found.

use std::ffi::{c_void, CStr};

/// `v8::Isolate::GetCurrent()`.
pub const ISOLATE_GET_CURRENT: &CStr = c"_ZN2v87Isolate10GetCurrentEv";

/// The address of V8's function `name`, if this runtime exports it.
#[cfg(unix)]
pub fn symbol(name: &CStr) -> Option<*mut c_void> {
  // SAFETY: dlsym with RTLD_DEFAULT only looks a name up among the loaded objects.
  let found = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
  (!found.is_null()).then_some(found)
}

#[cfg(not(unix))]
pub fn symbol(_name: &CStr) -> Option<*mut c_void> {
  None
}
