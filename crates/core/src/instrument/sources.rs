//! The original source of loaded code: when a file carries a source map (tsx, tsc, swc or babel
//! output, inline or in a `.map` file beside it), each function is registered at its place in
//! the source the user wrote (`src/app.ts`, its line), not in the generated code. A map that is
//! missing, unreadable or malformed leaves the generated places, and nothing fails.

use std::path::{Path, PathBuf};

use oxc_sourcemap::{SourceMap, Token};

/// A loaded source map, with what it needs to answer lookups.
pub struct Original {
  map: SourceMap<'static>,
  /// Where the map's relative `sources` start from: its `sourceRoot`, resolved against the
  /// directory of the map (or of the generated file, for an inline map).
  root: PathBuf,
}

/// Where a generated place came from: the original file, and 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
  pub file: String,
  pub line: u32,
  pub column: u32,
}

impl Original {
  /// The source map `source` (loaded from `path`) names in its last `sourceMappingURL` comment,
  /// if there is one and it can be read.
  pub fn of(source: &str, path: &str) -> Option<Original> {
    let url = mapping_url(source)?;
    let generated_dir = Path::new(path).parent()?;
    let (json, map_dir) = if let Some(data) = url.strip_prefix("data:") {
      let (kind, payload) = data.split_once(',')?;
      let json = if kind.ends_with(";base64") {
        String::from_utf8(base64_simd::STANDARD.decode_to_vec(payload.as_bytes()).ok()?).ok()?
      } else {
        payload.to_string()
      };
      (json, generated_dir.to_path_buf())
    } else {
      let file = match url.strip_prefix("file://") {
        Some(absolute) => PathBuf::from(absolute),
        None if url.contains("://") => return None,
        None => generated_dir.join(url),
      };
      (std::fs::read_to_string(&file).ok()?, file.parent()?.to_path_buf())
    };
    let map = SourceMap::from_json_string(&json).ok()?.into_owned();
    let root = match map.get_source_root() {
      Some(root) if !root.is_empty() => map_dir.join(root.strip_prefix("file://").unwrap_or(root)),
      _ => map_dir,
    };
    Some(Original { map, root })
  }

  /// The original file, when the map has just one and it can be seen (a module's top level
  /// maps there as a whole).
  pub fn sole_file(&self) -> Option<String> {
    let mut sources = self.map.get_sources();
    match (sources.next(), sources.next()) {
      (Some(source), None) => {
        let file = self.resolve(source);
        (self.map.get_source_content(0).is_some() || Path::new(&file).exists()).then_some(file)
      }
      _ => None,
    }
  }

  fn resolve(&self, source: &str) -> String {
    let file = match source.strip_prefix("file://") {
      Some(absolute) => PathBuf::from(absolute),
      None => self.root.join(source),
    };
    normalize(&file)
  }

  /// Every source the map names, resolved, with its content when the map holds it.
  pub fn sources(&self) -> impl Iterator<Item = (String, Option<&str>)> + '_ {
    // A map need not hold the sources' content (tsc writes none).
    self.map.get_sources().enumerate().map(|(i, source)| (self.resolve(source), self.map.get_source_content(i as u32)))
  }

  /// Lookups of many places, 0-based: the source's index in [`Self::sources`], its line and
  /// column, or `None` where the map has nothing.
  pub fn lookup(&self) -> impl Fn(u32, u32) -> Option<(u32, u32, u32)> + '_ {
    let table = self.map.generate_lookup_table();
    move |line, column| {
      let token: Token = self.map.lookup_token(&table, line, column)?;
      Some((token.get_source_id()?, token.get_src_line(), token.get_src_col()))
    }
  }

  /// Lookups of many places: the map's line table, made once. A source that can be seen
  /// neither on disk nor in the map (a published package's map that names its `src/` without
  /// shipping it) is no better than the generated code, which stays.
  pub fn locator(&self) -> impl Fn(u32, u32) -> Option<Place> + '_ {
    let table = self.map.generate_lookup_table();
    let visible: Vec<Option<String>> = (0..self.map.get_sources().len() as u32)
      .map(|id| {
        let file = self.resolve(self.map.get_source(id)?);
        (self.map.get_source_content(id).is_some() || Path::new(&file).exists()).then_some(file)
      })
      .collect();
    move |line, column| {
      let token: Token = self.map.lookup_token(&table, line.checked_sub(1)?, column.saturating_sub(1))?;
      let file = visible.get(token.get_source_id()? as usize)?.clone()?;
      Some(Place { file, line: token.get_src_line() + 1, column: token.get_src_col() + 1 })
    }
  }
}

/// The URL of the file's last `sourceMappingURL` comment that starts a line: where compilers put
/// it, usually the last line, but not always (Jest 29 wraps the code it runs in a function, so
/// `}});` follows it).
fn mapping_url(source: &str) -> Option<&str> {
  let mut end = source.len();
  while let Some(at) = source[..end].rfind("sourceMappingURL=") {
    end = at;
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let before = source[line_start..at].trim_start();
    let block = match before {
      "//# " | "//@ " => false,
      "/*# " | "/*@ " => true,
      _ => continue,
    };
    let rest = &source[at + "sourceMappingURL=".len()..];
    let rest = &rest[..rest.find(['\n', '\r']).unwrap_or(rest.len())];
    let url = if block { rest.split("*/").next().unwrap_or(rest) } else { rest }.trim();
    return Some(url).filter(|url| !url.is_empty());
  }
  None
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalize(path: &Path) -> String {
  let mut parts: Vec<std::path::Component> = Vec::new();
  for part in path.components() {
    match part {
      std::path::Component::ParentDir if matches!(parts.last(), Some(std::path::Component::Normal(_))) => {
        parts.pop();
      }
      std::path::Component::CurDir => {}
      other => parts.push(other),
    }
  }
  parts.iter().collect::<PathBuf>().display().to_string()
}

#[cfg(test)]
mod tests {
  use super::*;

  const MAP: &str = r#"{"version":3,"sources":["../src/app.ts"],"sourcesContent":["f()\ng()"],"names":[],"mappings":";AAAA;AACA,SAAS"}"#;

  #[test]
  fn an_inline_map_places_functions_in_the_original() {
    let encoded = base64_simd::STANDARD.encode_to_string(MAP);
    let source = format!(
      "\"use strict\";\nf();\nfunction g() {{}}\n//# sourceMappingURL=data:application/json;base64,{encoded}\n"
    );
    let original = Original::of(&source, "/p/dist/app.js").expect("the map is read");
    let locate = original.locator();
    assert_eq!(locate(2, 1), Some(Place { file: "/p/src/app.ts".into(), line: 1, column: 1 }));
    assert_eq!(locate(3, 10), Some(Place { file: "/p/src/app.ts".into(), line: 2, column: 10 }));
    assert_eq!(locate(1, 1), None, "a line the map says nothing of");
    assert_eq!(original.sole_file().as_deref(), Some("/p/src/app.ts"));
  }

  #[test]
  fn a_map_file_beside_the_code_is_read_and_a_bad_one_is_ignored() {
    let dir = std::env::temp_dir().join(format!("memtrace-sources-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("dist")).unwrap();
    std::fs::write(dir.join("dist/app.js.map"), MAP).unwrap();
    let path = dir.join("dist/app.js").display().to_string();
    let original = Original::of("x;\nf();\n//# sourceMappingURL=app.js.map", &path).expect("the map is read");
    assert_eq!(
      original.locator()(2, 1).map(|p| (p.file, p.line)),
      Some((dir.join("src/app.ts").display().to_string(), 1))
    );
    std::fs::write(dir.join("dist/bad.js.map"), "{not json").unwrap();
    assert!(Original::of("f()\n//# sourceMappingURL=bad.js.map", &path).is_none());
    assert!(Original::of("f()\n//# sourceMappingURL=missing.js.map", &path).is_none());
    assert!(Original::of("f()\n// no map here", &path).is_none());
    std::fs::remove_dir_all(dir).unwrap();
  }

  #[test]
  fn the_last_mapping_comment_that_starts_a_line_is_the_one() {
    assert_eq!(mapping_url("f()\n//# sourceMappingURL=a.js.map\n"), Some("a.js.map"));
    // Jest 29 wraps the code it runs: the comment is not the last line.
    assert_eq!(mapping_url("({\"x\":function(){f()\n//# sourceMappingURL=data:x\n}});"), Some("data:x"));
    assert_eq!(mapping_url("/*# sourceMappingURL=b.map */"), Some("b.map"));
    assert_eq!(mapping_url("//# sourceMappingURL=old.map\nf()\n//# sourceMappingURL=new.map"), Some("new.map"));
    // Text that only mentions one is no comment.
    assert_eq!(mapping_url("const s = '//# sourceMappingURL=no.map'"), None);
    assert_eq!(mapping_url("f()"), None);
  }

  #[test]
  fn a_source_that_is_neither_shipped_nor_in_the_map_leaves_the_generated_place() {
    let map = r#"{"version":3,"sources":["../src/gone.ts"],"names":[],"mappings":";AAAA"}"#;
    let encoded = base64_simd::STANDARD.encode_to_string(map);
    let source = format!("x;\nf();\n//# sourceMappingURL=data:application/json;base64,{encoded}");
    let original = Original::of(&source, "/nowhere/dist/a.js").expect("the map is read");
    assert_eq!(original.locator()(2, 1), None);
    assert_eq!(original.sole_file(), None);
  }
}
