//! The Node-API binding of memtrace-core. Thin on purpose: each function converts arguments,
//! calls the core, and turns a core error into a JS `Error` with the core's message. Argument
//! checking that users see (TypeErrors naming the option) lives in the TypeScript layer, `src/`.
#![deny(clippy::all)]

use memtrace_core::rss;
use napi::bindgen_prelude::*;
use napi_derive::napi;

fn js_error(err: impl std::fmt::Display) -> Error {
  Error::from_reason(err.to_string())
}

/// The resident set size of this process now, in bytes.
#[napi]
pub fn rss() -> Result<f64> {
  rss::current().map(|bytes| bytes as f64).map_err(js_error)
}

/// The largest resident set size this process has had, in bytes.
#[napi]
pub fn rss_peak() -> Result<f64> {
  rss::peak().map(|bytes| bytes as f64).map_err(js_error)
}

/// The resident set size of process `pid` now, in bytes.
#[napi]
pub fn rss_of(pid: u32) -> Result<f64> {
  rss::of_pid(pid).map(|bytes| bytes as f64).map_err(js_error)
}

/// The size of a memory page, in bytes.
#[napi]
pub fn page_size() -> f64 {
  rss::page_size() as f64
}
