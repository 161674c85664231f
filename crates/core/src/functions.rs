//! The function table: what each function id means (file, line, column, name).
//!
//! One table per process, not per thread: a file is instrumented where it is loaded (CommonJS
//! on the JS thread that requires it, ES modules on Node's loader-hooks thread), and the id
//! handed out there must mean the same function on the writer thread. Ids are dense, from 0,
//! and never reused, so the writer can cache per id in a plain vector.

use std::sync::{Arc, RwLock};

/// A function as the instrumenter found it: 1-based line and column of its start in the
/// original source (the column in UTF-16 units, as JS stack traces count), and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
  pub line: u32,
  pub column: u32,
  pub name: String,
}

/// A registered function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
  /// Absolute path, or the URL for modules that are not files.
  pub file: Arc<str>,
  pub line: u32,
  pub column: u32,
  pub name: Box<str>,
}

static TABLE: RwLock<Vec<Function>> = RwLock::new(Vec::new());

/// Adds the functions of one file and returns the id of the first; the others follow in order.
pub fn register(file: &str, sites: &[Site]) -> u64 {
  let file: Arc<str> = Arc::from(file);
  register_each(sites.iter().map(|site| (file.clone(), site)))
}

/// Adds functions, each with its own file (the sources a source map names), and returns the
/// id of the first; the others follow in order.
pub fn register_each<'a>(sites: impl IntoIterator<Item = (Arc<str>, &'a Site)>) -> u64 {
  let mut table = TABLE.write().unwrap_or_else(|poisoned| poisoned.into_inner());
  let first = table.len() as u64;
  table.extend(sites.into_iter().map(|(file, site)| Function {
    file,
    line: site.line,
    column: site.column,
    name: site.name.as_str().into(),
  }));
  first
}

/// Calls `f` with function `id`, if there is one.
pub fn with<R>(id: u64, f: impl FnOnce(&Function) -> R) -> Option<R> {
  let table = TABLE.read().unwrap_or_else(|poisoned| poisoned.into_inner());
  usize::try_from(id).ok().and_then(|i| table.get(i)).map(f)
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn ids_are_dense_and_resolve_across_threads() {
    let site = |line, name: &str| Site { line, column: 1, name: name.into() };
    let first = std::thread::spawn(move || register("/a.js", &[site(1, "a1"), site(5, "a2")])).join().unwrap();
    let second = register("file:///b.mjs", &[site(3, "b")]);
    assert!(second >= first + 2);
    assert_eq!(
      with(first + 1, |f| (f.file.to_string(), f.line, f.name.to_string())),
      Some(("/a.js".into(), 5, "a2".into()))
    );
    assert_eq!(with(second, |f| f.file.to_string()), Some("file:///b.mjs".into()));
    assert_eq!(with(u64::MAX, |f| f.line), None);
  }
}
