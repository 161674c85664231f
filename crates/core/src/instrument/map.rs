//! memtrace's own source map of the code it instruments, chained with the one the code came with:
//! where Node reads source maps (`--enable-source-maps`, `NODE_V8_COVERAGE` for c8), stack
//! traces and coverage then point where they point untraced.
//!
//! Text is only inserted, on the lines it goes in, so the map is the identity shifted right by
//! what was inserted before each place on its line. Consumers take a place from the segment at or
//! before it, without adding the distance, so every token of the source gets a segment of its
//! own, and so does every run of white space, where coverage ranges end (a new segment wherever
//! the kind of character changes: a word, white space, each punctuator). Inserted text maps to
//! the place it was inserted at, except where V8 now places a call: at the `(` of a rewritten
//! call ([`Anchor`]), and at the check that throws "… is not a function", which map to the call's
//! site, where V8 placed it untraced; and a body's epilogue at the start of a line, which maps to
//! the end of the line before. The line after the last, where the `sourceMappingURL` comment
//! goes, maps to the end of the source. `c8` reports the same traced as untraced
//! (`__test__/coverage.spec.ts`, and markdown-it's 5,540 statements and 1,218 branches).

use std::path::{Component, Path, PathBuf};

use oxc_sourcemap::SourceMapBuilder;

use super::sources::Original;
use super::{Piece, Plan};

/// A place in the generated file (0-based line and column) to one in a source: the source's
/// index, line and column.
type Lookup<'a> = dyn Fn(u32, u32) -> Option<(u32, u32, u32)> + 'a;

/// Where the map points: the generated file itself, or through the map it came with.
pub enum Target<'a> {
  /// The file as loaded, named by its name.
  Itself,
  Original(&'a Original),
}

/// The map, as a `data:` URL, of `plan` applied to `source` (loaded from `path`) with ids from
/// `first_id`.
pub fn data_url(source: &str, path: &str, plan: &Plan, first_id: u64, target: Target) -> String {
  let mut segments = Segments::default();
  walk(source, plan, first_id, &mut segments);
  let path = path.strip_prefix("file://").unwrap_or(path);
  let dir = Path::new(path).parent().unwrap_or(Path::new("/"));
  let (sources, lookup): (Vec<(String, Option<&str>)>, Box<Lookup>) = match target {
    Target::Itself => {
      let name = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
      (vec![(name.to_string(), None)], Box::new(|line, column| Some((0, line, column))))
    }
    Target::Original(original) => {
      (original.sources().map(|(file, content)| (relative(dir, &file), content)).collect(), Box::new(original.lookup()))
    }
  };
  let mut builder = SourceMapBuilder::default();
  for (file, content) in &sources {
    builder.set_source_and_content(file, content.unwrap_or(""));
  }
  for s in &segments.0 {
    if let Some((source, line, column)) = lookup(s.original.0, s.original.1) {
      builder.add_token(s.generated.0, s.generated.1, line, column, Some(source), None);
    }
  }
  let mut map = builder.into_sourcemap();
  map.set_source_contents(sources.iter().map(|(_, content)| *content).collect());
  map.to_data_url()
}

/// A segment: 0-based generated and original line and UTF-16 column.
struct Segment {
  generated: (u32, u32),
  original: (u32, u32),
}

#[derive(Default)]
struct Segments(Vec<Segment>);

impl Segments {
  fn add(&mut self, generated: (u32, u32), original: (u32, u32)) {
    // Two segments at one place: the later one says where it goes.
    if let Some(last) = self.0.last_mut() {
      if last.generated == generated {
        last.original = original;
        return;
      }
    }
    self.0.push(Segment { generated, original });
  }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
  Space,
  Word,
  Punctuator,
  Inserted,
}

fn class(c: char) -> Class {
  match c {
    c if c.is_whitespace() => Class::Space,
    c if c.is_alphanumeric() || c == '_' || c == '$' || c == '\\' => Class::Word,
    _ => Class::Punctuator,
  }
}

/// The pieces whose start is where V8 places a call that throws "… is not a function".
pub(super) fn places_call(piece: Piece) -> bool {
  matches!(
    piece,
    Piece::CheckOpen
      | Piece::CheckNewOpen
      | Piece::CheckArgumentOpen
      | Piece::CheckNewArgumentOpen
      | Piece::CheckSpreadOpen
      | Piece::CheckNewSpreadOpen
  )
}

/// The pieces that end a body: inserted at the start of a line (before a `}` there), they map to
/// the end of the line before, as a coverage range that ends at them ends there untraced.
fn ends_body(piece: Piece) -> bool {
  matches!(
    piece,
    Piece::Completed | Piece::CompletedAsync | Piece::Exit | Piece::ExitAsync | Piece::ExitGenerator | Piece::Mark
  )
}

/// Walks the source and the insertions as `Plan::apply` writes them, adding the segments.
fn walk(source: &str, plan: &Plan, first_id: u64, segments: &mut Segments) {
  let site = |index: u32| plan.sites.get(index as usize).map(|s| (s.line - 1, s.column - 1));
  let (mut line, mut column) = (0u32, 0u32);
  let mut previous_line_end = 0u32;
  let (mut generated_line, mut generated_column) = (0u32, 0u32);
  let mut insertions = plan.insertions.iter().peekable();
  let mut anchors = plan.anchors.iter().peekable();
  let mut previous = Class::Inserted;
  let mut text = String::new();
  let mut chars = source.char_indices().peekable();
  loop {
    let at = chars.peek().map_or(source.len(), |&(at, _)| at) as u32;
    while let Some(insertion) = insertions.next_if(|i| i.at == at) {
      let to = if places_call(insertion.piece) {
        site(insertion.function).unwrap_or((line, column))
      } else if column == 0 && line > 0 && ends_body(insertion.piece) {
        (line - 1, previous_line_end)
      } else {
        (line, column)
      };
      segments.add((generated_line, generated_column), to);
      let number = match insertion.piece.numbers_temporary() {
        true => u64::from(insertion.function),
        false => first_id + u64::from(insertion.function),
      };
      text.clear();
      insertion.piece.write(number, &mut text);
      for c in text.chars() {
        if c == '\n' {
          generated_line += 1;
          generated_column = 0;
        } else {
          generated_column += c.len_utf16() as u32;
        }
      }
      previous = Class::Inserted;
    }
    let Some((_, c)) = chars.next() else {
      segments.add((generated_line, generated_column), (line, column));
      segments.add((generated_line + 1, 0), (line, column));
      break;
    };
    if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
      if c == '\r' {
        chars.next_if(|&(_, next)| next == '\n');
      }
      line += 1;
      generated_line += 1;
      previous_line_end = column;
      column = 0;
      generated_column = 0;
      previous = Class::Inserted;
      continue;
    }
    let kind = class(c);
    if kind != previous || kind == Class::Punctuator {
      let to = match anchors.next_if(|a| a.at == at) {
        Some(anchor) => site(anchor.site).unwrap_or((line, column)),
        None => (line, column),
      };
      segments.add((generated_line, generated_column), to);
    }
    previous = kind;
    column += c.len_utf16() as u32;
    generated_column += c.len_utf16() as u32;
  }
}

/// `file` relative to `dir` (`../src/app.ts`), as compilers write a map's sources; a URL or a
/// path on another root stays as it is.
fn relative(dir: &Path, file: &str) -> String {
  let target = Path::new(file);
  if !target.is_absolute() {
    return file.to_string();
  }
  let (from, to): (Vec<Component>, Vec<Component>) = (dir.components().collect(), target.components().collect());
  if from.first() != to.first() {
    return file.to_string();
  }
  let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
  let mut path = PathBuf::new();
  for _ in common..from.len() {
    path.push("..");
  }
  for part in &to[common..] {
    path.push(part);
  }
  path.to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
  use super::*;

  /// The map of `source` instrumented with native calls, and the instrumented code.
  fn mapped(source: &str) -> (oxc_sourcemap::SourceMap<'static>, String) {
    let options = super::super::Options { lines: false, native_calls: true };
    let plan = super::super::plan_with(source, "/p/app.js", super::super::SourceKind::CommonJs, options).unwrap();
    let url = data_url(source, "/p/app.js", &plan, 0, Target::Itself);
    let json = base64_simd::STANDARD.decode_to_vec(url.rsplit(',').next().unwrap().as_bytes()).unwrap();
    (
      oxc_sourcemap::SourceMap::from_json_string(std::str::from_utf8(&json).unwrap()).unwrap().into_owned(),
      plan.apply(source, 0),
    )
  }

  /// Where the map sends the generated place of the `n`th `needle` in `code` (0-based line, column).
  fn original(map: &oxc_sourcemap::SourceMap, code: &str, needle: &str, n: usize) -> (u32, u32) {
    let at = code.match_indices(needle).nth(n).unwrap().0;
    let line = code[..at].matches('\n').count() as u32;
    let column = (at - code[..at].rfind('\n').map_or(0, |i| i + 1)) as u32;
    let table = map.generate_lookup_table();
    let token = map.lookup_token(&table, line, column).unwrap();
    (token.get_src_line(), token.get_src_col())
  }

  #[test]
  fn each_token_maps_to_its_own_place_and_a_call_to_its_callee() {
    let source = "function f(a) {\n  const b = a + 1\n  return o.m(b)\n}\n";
    let (map, code) = mapped(source);
    assert_eq!(map.get_sources().collect::<Vec<_>>(), ["app.js"]);
    // Tokens of the source keep their places, however far right they moved.
    assert_eq!(original(&map, &code, "const", 0), (1, 2));
    assert_eq!(original(&map, &code, "+ 1", 0), (1, 14));
    // V8 places the rewritten call at its `(`, and untraced at `m`.
    assert_eq!(original(&map, &code, "($mt$f0,$mt$o0", 0), (2, 11));
    // The line after the last, where the sourceMappingURL comment goes.
    let table = map.generate_lookup_table();
    let last = map.lookup_token(&table, code.lines().count() as u32, 0).unwrap();
    assert_eq!((last.get_src_line(), last.get_src_col()), (4, 0));
  }

  #[test]
  fn relative_paths_are_as_compilers_write_them() {
    assert_eq!(relative(Path::new("/p/dist"), "/p/src/app.ts"), "../src/app.ts");
    assert_eq!(relative(Path::new("/p"), "/p/app.ts"), "app.ts");
    assert_eq!(relative(Path::new("/p/dist"), "webpack://x/y.js"), "webpack://x/y.js");
  }
}
