//! The scripts this process instrumented, kept so that the program sees its own code: what V8
//! reports of instrumented code (a function's text, a stack frame's line and column) is turned
//! back into what it was in the source, from what was inserted where.
//!
//! * [`original_text`]: the text `Function.prototype.toString` gives untraced, for the text V8
//!   gives of an instrumented function (or class). V8 cuts that text out of the instrumented
//!   script; the first hook call in it names a site, whose place in the script is known, so the
//!   cut is known, and so is the same cut of the source. The answer is the source's own text,
//!   checked against V8's with the insertions taken out.
//! * [`original_position`]: the line and column a stack frame has untraced. Inserted text holds
//!   no line break, so the line is the same; the column loses what was inserted before it on the
//!   line. A place inside inserted text goes where it was inserted, and a call memtrace rewrote
//!   goes to where V8 placed the call untraced (`map.rs` makes the same choices for source maps).
//!
//! One script per distinct (file, source, parse mode, events): a file loaded again (Jest loads the
//! code under test once per test file) gets the ids it got the first time, so the code is the
//! same text as before, which V8's compilation cache then shares, and nothing is kept twice.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use super::lines::LineIndex;
use super::map::places_call;
use super::{Insertion, Options, Plan, SourceKind};

/// What says which script a file is: its name, its text (by hash), and how it was instrumented.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
  file: Arc<str>,
  hash: u128,
  kind: SourceKind,
  options: Options,
}

impl Key {
  pub fn new(file: &str, source: &str, kind: SourceKind, options: Options) -> Key {
    Key { file: file.into(), hash: xxhash_rust::xxh3::xxh3_128(source.as_bytes()), kind, options }
  }
}

/// One instrumented script.
pub struct Script {
  /// The first id of its sites; the others follow.
  pub first_id: u64,
  source: Box<str>,
  /// Each insertion's byte offset in the source, and the bytes inserted up to and including it.
  at: Vec<u32>,
  inserted: Vec<u32>,
  /// The site whose call a place inside each insertion stands for (`NONE`: the insertion's own
  /// place).
  calls: Vec<u32>,
  /// Each site's 1-based line and UTF-16 column in the source.
  sites: Vec<(u32, u32)>,
  /// Byte offsets of the `(` of rewritten calls, with the call's site, sorted.
  anchors: Vec<(u32, u32)>,
  /// Where in the instrumented code each site's first mark (see [`first_mark`]) is, or `NONE`.
  marks: Vec<u32>,
  lines: OnceLock<LineIndex>,
}

const NONE: u32 = u32::MAX;

/// Where each piece of a script went, noted as the code is made (`Plan::apply`).
pub struct Layout {
  at: Vec<u32>,
  inserted: Vec<u32>,
  calls: Vec<u32>,
  marks: Vec<u32>,
}

impl Layout {
  pub fn new(plan: &Plan) -> Layout {
    let count = plan.insertions.len();
    Layout {
      at: Vec::with_capacity(count),
      inserted: Vec::with_capacity(count),
      calls: Vec::with_capacity(count),
      marks: vec![NONE; plan.sites.len()],
    }
  }

  /// `insertion` went in as `text`, after every insertion before it.
  pub fn add(&mut self, insertion: &Insertion, text: &str) {
    let before = self.inserted.last().copied().unwrap_or(0);
    if !insertion.piece.numbers_temporary() {
      if let (Some(mark), Some((index, _))) = (self.marks.get_mut(insertion.function as usize), first_mark(text)) {
        if *mark == NONE {
          *mark = insertion.at + before + index as u32;
        }
      }
    }
    self.at.push(insertion.at);
    self.inserted.push(before + text.len() as u32);
    self.calls.push(if places_call(insertion.piece) { insertion.function } else { NONE });
  }
}

impl Script {
  fn new(source: &str, plan: &Plan, first_id: u64, layout: Layout) -> Script {
    let Layout { at, inserted, calls, marks } = layout;
    Script {
      first_id,
      source: source.into(),
      at,
      inserted,
      calls,
      sites: plan.sites.iter().map(|site| (site.line, site.column)).collect(),
      anchors: plan.anchors.iter().map(|anchor| (anchor.at, anchor.site)).collect(),
      marks,
      lines: OnceLock::new(),
    }
  }

  fn ids(&self) -> u64 {
    self.sites.len() as u64
  }

  /// Bytes inserted before insertion `i`.
  fn before(&self, i: usize) -> u32 {
    if i == 0 {
      0
    } else {
      self.inserted[i - 1]
    }
  }

  /// Where insertion `i` is in the instrumented code.
  fn generated(&self, i: usize) -> (u32, u32) {
    (self.at[i] + self.before(i), self.at[i] + self.inserted[i])
  }

  /// The source offset of instrumented offset `at`: inside inserted text, where it was inserted.
  fn source_offset(&self, at: u32) -> u32 {
    match partition(self.at.len(), |i| self.generated(i).0 <= at).checked_sub(1) {
      None => at,
      Some(i) if at < self.generated(i).1 => self.at[i],
      Some(i) => at - self.inserted[i],
    }
  }

  fn original_text(&self, text: &str, mark_at: usize, site: usize) -> Option<&str> {
    let mark = *self.marks.get(site)?;
    let start = mark.checked_sub(mark_at as u32)?;
    let end = start + text.len() as u32;
    let original = self.source.get(self.source_offset(start) as usize..self.source_offset(end) as usize)?;
    // V8's text with the insertions inside it taken out must be the source's.
    let (mut rest, mut expected) = (text.as_bytes(), original.as_bytes());
    let mut at = start;
    for i in partition(self.at.len(), |i| self.generated(i).1 <= start)..self.at.len() {
      let (from, to) = self.generated(i);
      if from >= end {
        break;
      }
      let kept = from.saturating_sub(at) as usize;
      if expected.get(..kept)? != rest.get(..kept)? {
        return None;
      }
      // V8's text may begin or end inside inserted text (an arrow's closing pieces).
      let skipped = (to.min(end) - from.max(at)) as usize;
      rest = rest.get(kept + skipped..)?;
      expected = &expected[kept..];
      at = to;
    }
    (expected == rest).then_some(original)
  }

  /// The 1-based line and UTF-16 column in the source of `line`, `column` in the instrumented code.
  fn original_position(&self, line: u32, column: u32) -> Option<(u32, u32)> {
    let lines = self.lines.get_or_init(|| LineIndex::new(&self.source));
    let (start, end) = lines.span(line.checked_sub(1)?, self.source.len() as u32)?;
    let wanted = column.checked_sub(1)?;
    let ascii = lines.is_ascii(line - 1);
    let width =
      |from: u32, to: u32| if ascii { to - from } else { utf16_len(&self.source[from as usize..to as usize]) };
    let (mut position, mut generated, mut original) = (start, 0u32, 0u32);
    for i in partition(self.at.len(), |i| self.at[i] < start)..self.at.len() {
      let at = self.at[i];
      if at >= end {
        break;
      }
      let text = width(position, at);
      if wanted < generated + text {
        break;
      }
      generated += text;
      original += text;
      position = at;
      let inserted = self.inserted[i] - self.before(i);
      if wanted < generated + inserted {
        let place = self.calls[i];
        return Some(self.sites.get(place as usize).copied().unwrap_or((line, original + 1)));
      }
      generated += inserted;
    }
    // In source text: there, unless a rewritten call's `(` is there, which goes to where V8
    // placed the call untraced.
    let offset =
      if ascii { position + (wanted - generated) } else { advance(&self.source, position, wanted - generated) };
    if let Ok(i) = self.anchors.binary_search_by_key(&offset, |&(at, _)| at) {
      if let Some(&place) = self.sites.get(self.anchors[i].1 as usize) {
        return Some(place);
      }
    }
    Some((line, original + (wanted - generated) + 1))
  }
}

/// How many of `0..n` hold `holds`, which holds for a prefix of them.
fn partition(n: usize, holds: impl Fn(usize) -> bool) -> usize {
  let (mut low, mut high) = (0, n);
  while low < high {
    let middle = low + (high - low) / 2;
    if holds(middle) {
      low = middle + 1;
    } else {
      high = middle;
    }
  }
  low
}

/// The byte offset `units` UTF-16 units after byte `from` of `text`.
fn advance(text: &str, from: u32, units: u32) -> u32 {
  let mut left = units;
  for (i, c) in text[from as usize..].char_indices() {
    if left == 0 {
      return from + i as u32;
    }
    left = left.saturating_sub(c.len_utf16() as u32);
  }
  text.len() as u32
}

fn utf16_len(text: &str) -> u32 {
  if text.is_ascii() {
    text.len() as u32
  } else {
    text.encode_utf16().count() as u32
  }
}

/// The first `__mt$` hook call with a number in `text` (`__mt$c(7`, `(__mt$n)(~12`): the byte
/// offset of its `__mt$`, and the number.
pub fn first_mark(text: &str) -> Option<(usize, u64)> {
  let bytes = text.as_bytes();
  let mut from = 0;
  while let Some(found) = text.get(from..)?.find("__mt$") {
    let at = from + found;
    let rest = &bytes[at + 5..];
    let open = if rest.get(1) == Some(&b')') { 2 } else { 1 };
    if rest.len() > open + 1 && rest[0].is_ascii_alphabetic() && rest[open] == b'(' {
      let rest = &rest[open + 1..];
      let digits = if rest[0] == b'~' { &rest[1..] } else { rest };
      let length = digits.iter().take_while(|b| b.is_ascii_digit()).count();
      if length > 0 {
        let number = std::str::from_utf8(&digits[..length]).ok()?.parse().ok()?;
        return Some((at, number));
      }
    }
    from = at + 5;
  }
  None
}

#[derive(Default)]
struct Registry {
  by_key: HashMap<Key, Arc<Script>>,
  /// In the order registered, which is the order of their ids.
  by_id: Vec<Arc<Script>>,
  /// The scripts of each file, the newest last.
  by_file: HashMap<Arc<str>, Vec<Arc<Script>>>,
}

static REGISTRY: OnceLock<RwLock<Registry>> = OnceLock::new();

fn registry() -> &'static RwLock<Registry> {
  REGISTRY.get_or_init(Default::default)
}

/// The first id of the script `key` names, if it was instrumented before.
pub fn known(key: &Key) -> Option<u64> {
  let registry = registry().read().unwrap_or_else(|poisoned| poisoned.into_inner());
  registry.by_key.get(key).map(|script| script.first_id)
}

/// Keeps what `plan` inserted in `source` with ids from `first_id` (where: `layout`), as the
/// script `key` names.
pub fn keep(key: Key, source: &str, plan: &Plan, first_id: u64, layout: Layout) {
  let script = Arc::new(Script::new(source, plan, first_id, layout));
  let mut registry = registry().write().unwrap_or_else(|poisoned| poisoned.into_inner());
  registry.by_file.entry(key.file.clone()).or_default().push(script.clone());
  registry.by_id.push(script.clone());
  registry.by_key.insert(key, script);
}

/// The source text of an instrumented function (or class) whose instrumented text is `text`;
/// None when `text` holds nothing memtrace inserted, or does not come from a script kept here.
pub fn original_text(text: &str) -> Option<String> {
  let (mark_at, id) = first_mark(text)?;
  let registry = registry().read().unwrap_or_else(|poisoned| poisoned.into_inner());
  let after = registry.by_id.partition_point(|script| script.first_id <= id);
  let script = registry.by_id.get(after.checked_sub(1)?)?;
  if id >= script.first_id + script.ids() {
    return None;
  }
  script.original_text(text, mark_at, (id - script.first_id) as usize).map(str::to_string)
}

/// The 1-based line and UTF-16 column in `file`'s source of a place V8 gives in its instrumented
/// code; None when the file was not instrumented here. A file instrumented twice with different
/// sources (required, then compiled by a test runner after its own transform) is taken as the
/// newest.
pub fn original_position(file: &str, line: u32, column: u32) -> Option<(u32, u32)> {
  let registry = registry().read().unwrap_or_else(|poisoned| poisoned.into_inner());
  registry.by_file.get(file)?.last()?.original_position(line, column)
}

#[cfg(test)]
mod tests {
  use super::super::{instrument, Options, SourceKind};
  use super::*;

  const CALLS: Options = Options { lines: false, native_calls: true };

  /// Instruments `source` as `file`, and returns the code.
  fn code(source: &str, file: &str, options: Options) -> String {
    instrument(source, file, SourceKind::CommonJs, options, None, false, true).unwrap().code
  }

  /// V8's text of the function (or class) that starts with `start` in `code`: up to the `}`
  /// that closes the first `{` outside parentheses, found by counting (the tests' sources have
  /// no brackets in strings).
  fn function_text<'a>(code: &'a str, start: &str) -> &'a str {
    let from = code.find(start).unwrap();
    let (mut parens, mut braces) = (0, 0);
    for (i, c) in code[from..].char_indices() {
      match c {
        '(' => parens += 1,
        ')' => parens -= 1,
        '{' if parens == 0 || braces > 0 => braces += 1,
        '}' if braces > 0 => {
          braces -= 1;
          if braces == 0 {
            return &code[from..from + i + 1];
          }
        }
        _ => {}
      }
    }
    panic!("no end")
  }

  #[test]
  fn every_function_gives_back_its_source_text() {
    let source = "class A {\n  x = () => 1;\n  m(a, b) { return Math.max(a, b) + 1 }\n  get g() { return this.x() }\n}\nfunction add(a, b = () => 2) { return Math.max(a, b) + 1; }\nasync function* gen() { for await (const x of []) yield x; return }\n";
    let file = "/t/texts.js";
    let instrumented = code(source, file, CALLS);
    for start in ["class A", "m(a, b)", "get g()", "function add", "async function* gen"] {
      let text = function_text(&instrumented, start);
      assert_ne!(text, function_text(source, start), "{start} was instrumented");
      assert_eq!(original_text(text).as_deref(), Some(function_text(source, start)), "{start}");
    }
    // An arrow with an expression body: V8's text ends inside memtrace's closing text.
    let arrow = instrumented.find("() => {").unwrap();
    let end = instrumented[arrow..].find("}}").unwrap() + 2;
    assert_eq!(original_text(&instrumented[arrow..arrow + end]).as_deref(), Some("() => 1"));
  }

  #[test]
  fn text_that_is_not_an_instrumented_function_gets_no_answer() {
    let source = "function f() { return 1 }\n";
    let instrumented = code(source, "/t/other.js", Options::default());
    let text = function_text(&instrumented, "function f");
    assert_eq!(original_text("function g() { [native code] }"), None);
    // The same hooks around other text.
    let forged = text.replace("function f", "function g");
    assert_eq!(original_text(&forged), None);
  }

  #[test]
  fn non_ascii_sources_give_back_their_text() {
    let source = "const s = 'é𝄞';\nfunction ü(a) { return s + a }\n";
    let instrumented = code(source, "/t/unicode.js", CALLS);
    let text = function_text(&instrumented, "function ü");
    assert_eq!(original_text(text).as_deref(), Some("function ü(a) { return s + a }"));
  }

  /// 1-based line and UTF-16 column of the `n`th `needle` in `text`.
  fn place(text: &str, needle: &str, n: usize) -> (u32, u32) {
    let at = text.match_indices(needle).nth(n).unwrap().0;
    let line = text[..at].matches('\n').count() as u32 + 1;
    let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    (line, text[start..at].encode_utf16().count() as u32 + 1)
  }

  #[test]
  fn positions_go_back_to_the_source() {
    let source = "function f(a) { const b = a + 1; return o.m(b) }\nconst é = f(1); g()\n";
    let file = "/t/positions.js";
    let instrumented = code(source, file, CALLS);
    let back = |needle: &str, n| {
      let (line, column) = place(&instrumented, needle, n);
      original_position(file, line, column)
    };
    assert_eq!(back("const b", 0), Some(place(source, "const b", 0)));
    assert_eq!(back("+ 1", 0), Some(place(source, "+ 1", 0)));
    // V8 places the rewritten call at its `(`; untraced, at the method's name.
    assert_eq!(back("($mt$f0,$mt$o0,(__mt$n)", 0), Some(place(source, "m(b)", 0)));
    // Inside the check that throws "o.m is not a function": there too.
    assert_eq!(back("__mt$n", 0), Some(place(source, "m(b)", 0)));
    // Inside a prologue: where it was inserted.
    assert_eq!(back("__mt$c", 1), Some(place(source, " const b", 0)));
    // A line with a non-ASCII name.
    assert_eq!(back("g/*", 0), Some(place(source, "g()", 0)));
    assert_eq!(original_position("/t/never.js", 1, 1), None);
  }

  #[test]
  fn a_file_loaded_again_is_the_same_script() {
    let source = "function f() { return 1 }\n";
    let first = code(source, "/t/again.js", CALLS);
    assert_eq!(code(source, "/t/again.js", CALLS), first);
    assert_ne!(code(source, "/t/again-other.js", CALLS), first);
  }

  #[test]
  fn marks_are_hook_calls_with_numbers() {
    assert_eq!(first_mark("var $mt$d;$mt$d=__mt$c(17);try{"), Some((16, 17)));
    assert_eq!(first_mark("__mt$x($mt$d) (__mt$n)(~42,"), Some((15, 42)));
    assert_eq!(first_mark("function f() { [native code] }"), None);
    assert_eq!(first_mark("__mt$c("), None);
  }
}
