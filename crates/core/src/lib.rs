//! memtrace-core: the engine of memtrace, a memory tracer for Node.js.
//!
//! This crate knows nothing of Node-API: `crates/node` wraps it for JavaScript, and everything
//! here can be tested with `cargo test`.
//!
//! * [`rss`]: the resident set size of this process (now and peak) and of another process, one
//!   implementation per OS.

pub mod rss;
