//! The instrumenter: rewrites JavaScript so that every function reports its calls and returns.
//!
//! Each function body is wrapped, on the lines it already occupies, in
//!
//! ```js
//! function f(a) {var $mt$d;$mt$d=__mt$c(7);try{ …body… ;++$mt$d}finally{__mt$g(7,$mt$d)}}
//! ```
//!
//! where 7 is the function's id in the process-wide [function table](crate::functions), and
//! `__mt$c` / `__mt$g` are the hot-path functions of `src/profile/hotpath.ts` (CALL; RETURN or
//! EXCEPT). `$mt$d` is four times the depth of the shadow call stack the function was called at,
//! which its exit goes back to (when the stack overflows, a callee's `finally` may fail to call
//! its hook, and the first caller whose does puts the shadow stack right), plus one for each
//! normal completion: at the end of the body (unless the body surely never gets there), and at
//! every `return`, which becomes `return (__mt$h)(x,++$mt$d)`. An exception
//! passes through the `finally` untouched, so Node still reports it where it was thrown. The
//! inserted code has no branch of its own, so coverage tools see only the user's, and gives V8 no
//! name to infer for the user's functions (see [`Piece::parts`]). Text is only ever inserted,
//! never moved or removed, and never contains a line break: every original token stays on its
//! line. [`scripts`] keeps what was inserted where, so that `Function.prototype.toString` and
//! stack traces give the source's text and places; `map` makes the source map coverage tools
//! read.
//!
//! Async functions and generators also report each suspension and resumption, so that the
//! CALL/RETURN nesting of one thread stays balanced:
//!
//! ```js
//! await x      →  (__mt$u)(7,await (__mt$y)(7,x,++$mt$s),--$mt$s)     // YIELD, then RESUME
//! yield        →  (__mt$u)(7,yield (__mt$y)(7,void 0,++$mt$s),--$mt$s)
//! ```
//!
//! `$mt$s` (a `var` of the function) is 1 while the function is suspended. When it resumes by a
//! throw (a rejected await, `gen.throw()`) or a return (`gen.return()`), control reaches a
//! `catch` or `finally` instead, and each of those starts with `$mt$s=__mt$k(7,$mt$s);`, which
//! reports the RESUME there if it was suspended. `for await` suspends inside the loop machinery,
//! so its iterable is wrapped (`__mt$i`) to report the YIELD, and the loop body and the code after
//! the loop report the RESUME. A generator's `finally` cannot tell `gen.return()` from a throw, so
//! a generator that suspends reports EXCEPT from a `catch` that re-throws.
//!
//! Other function-like code: an arrow with an expression body becomes a block that returns the
//! expression; a class field initialiser reports CALL before its value and RETURN after,
//! `x = ((__mt$c)(7),(__mt$p)(7,(value)/*$mt$*/))`, and no EXCEPT (it is no function of its own).
//!
//! With native calls on (the default), each call may report C_CALL and C_RETURN around it; see
//! `collect::Collector::call`.
//!
//! A body whose function declarations would clash once inside a block (see `collect::unwrappable`)
//! is left as it is: that function reports no events, the functions in it still do.
//!
//! With lines on (`MEMTRACE_LINES=1`, `memtrace run --lines`), each statement also reports a
//! LINE event as it completes, `;__mt$l(9);` after it, where 9 is a site of the statement's line
//! in the enclosing function: the growth a LINE row shows is what that statement did (the `;`
//! ends a statement that relied on a line break). A statement that stands alone where a block
//! could (`if (a) f()`) is put in one, `if (a) {f();__mt$l(9);}`. Statements that never complete
//! (`return`, `throw`, `break`, `continue`), function declarations (hoisted), imports and type
//! declarations report none, and a label's statement none of its own.
//!
//! A module's top level reports as a function of its own, `<module>` at line 1, so that what its
//! evaluation allocates is its own: a CommonJS module's top level is a function body (Node wraps
//! it in one) and is wrapped as above; an ES module's cannot be (imports and exports must stay at
//! the top level), so it gets `__mt$c(7);` first and `;__mt$r(7);` last, and no EXCEPT. A file
//! that ends inside a line comment gets a line break before that last insertion: the only one
//! memtrace ever adds, after every line of the file.

mod cache;
mod collect;
mod lines;
mod map;
mod names;
pub mod scripts;
mod sources;

use std::path::Path;

use oxc_allocator::Allocator;
use oxc_ast_visit::Visit;
use oxc_parser::{ParseOptions, Parser};
use oxc_span::SourceType;

pub use cache::Cache;
use collect::Collector;
use lines::LineIndex;

use crate::functions::{self, Site};

/// Bumped whenever planning changes (where pieces go, the sites and their names), so that cached
/// plans of older versions are not reused. A change to the pieces' text needs no bump: the cache
/// key holds a hash of it.
pub const VERSION: u32 = 19;

/// How a source is to be parsed, as Node will run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
  /// A classic script (`vm.Script`, `<script>`).
  Script,
  /// An ES module.
  Module,
  /// A CommonJS module: a script in a function wrapper, so top-level `return` is allowed.
  CommonJs,
}

/// What to insert where: the result of the walk, independent of function ids (which are handed
/// out when the file is loaded), so that it can be cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
  /// The functions, in source order; an insertion's `function` indexes this.
  pub sites: Vec<Site>,
  /// Sorted by offset, in the order they go in at equal offsets.
  pub insertions: Vec<Insertion>,
  /// Characters of the source that stand for a call site in the source map (see `map`).
  pub anchors: Vec<Anchor>,
  /// Functions left unwrapped, and why: known when the plan is made, not kept in the cache.
  pub skipped: Vec<String>,
  /// Whether the source declares with `using` or `await using`, which older V8s reject.
  pub declares_using: bool,
}

/// The `(` of a call that memtrace rewrote: V8 places the call there now, where it placed it at
/// the callee before (`o.m(x)` at `m`), so the source map sends it to the call's site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
  /// Byte offset of the `(` in the original source.
  pub at: u32,
  /// The call's site, an index into `sites`.
  pub site: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insertion {
  /// Byte offset in the original source.
  pub at: u32,
  pub piece: Piece,
  /// The site (function, statement or call) the piece's number names, an index into `sites`;
  /// for pieces that name a temporary, its number.
  pub function: u32,
}

/// The snippets the instrumenter inserts. `ID` stands for the function's (or call site's) id,
/// `D` for a temporary's number (see [`Piece::numbers_temporary`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Piece {
  Semicolon,
  Vars,
  VarsAsync,
  ArrowVars,
  ArrowVarsAsync,
  ModuleVars,
  Temporaries,
  Try,
  TryValue,
  TryAt,
  TryValueAt,
  Completed,
  CompletedAsync,
  Exit,
  ExitAsync,
  ExitGenerator,
  ArrowClose,
  ArrowCloseAsync,
  FieldOpen,
  FieldClose,
  ReturnOpen,
  ReturnClose,
  ReturnCloseAsync,
  SequenceOpen,
  SequenceClose,
  BareReturn,
  BareReturnAsync,
  SuspendOpen,
  ArgumentOpen,
  SuspendClose,
  BareYieldClose,
  Resume,
  LoopOpen,
  LoopClose,
  IterableOpen,
  IterableClose,
  BodyOpen,
  BodyClose,
  ModuleEnter,
  ModuleExit,
  LineBreak,
  Line,
  LineOpen,
  LineClose,
  CallOpen,
  CallClose,
  CalleeOpen,
  CalleeClose,
  MethodOpen,
  ReceiverOpen,
  ReceiverClose,
  ApplyClose,
  ApplyArguments,
  ApplyNoArguments,
  CheckOpen,
  CheckNewOpen,
  CheckNewClose,
  CheckArgumentOpen,
  CheckNewArgumentOpen,
  CheckedArgument,
  CheckSpreadOpen,
  CheckNewSpreadOpen,
  CheckedSpread,
  Catch,
  Mark,
}

/// How many temporaries (`$mt$f0`…, `$mt$o0`…) a function has for its native calls: calls
/// nested deeper in arguments than this report none.
pub const TEMPORARIES: u32 = 4;

impl Piece {
  pub const ALL: [Piece; 65] = [
    Piece::Semicolon,
    Piece::Vars,
    Piece::VarsAsync,
    Piece::ArrowVars,
    Piece::ArrowVarsAsync,
    Piece::ModuleVars,
    Piece::Temporaries,
    Piece::Try,
    Piece::TryValue,
    Piece::TryAt,
    Piece::TryValueAt,
    Piece::Completed,
    Piece::CompletedAsync,
    Piece::Exit,
    Piece::ExitAsync,
    Piece::ExitGenerator,
    Piece::ArrowClose,
    Piece::ArrowCloseAsync,
    Piece::FieldOpen,
    Piece::FieldClose,
    Piece::ReturnOpen,
    Piece::ReturnClose,
    Piece::ReturnCloseAsync,
    Piece::SequenceOpen,
    Piece::SequenceClose,
    Piece::BareReturn,
    Piece::BareReturnAsync,
    Piece::SuspendOpen,
    Piece::ArgumentOpen,
    Piece::SuspendClose,
    Piece::BareYieldClose,
    Piece::Resume,
    Piece::LoopOpen,
    Piece::LoopClose,
    Piece::IterableOpen,
    Piece::IterableClose,
    Piece::BodyOpen,
    Piece::BodyClose,
    Piece::ModuleEnter,
    Piece::ModuleExit,
    Piece::LineBreak,
    Piece::Line,
    Piece::LineOpen,
    Piece::LineClose,
    Piece::CallOpen,
    Piece::CallClose,
    Piece::CalleeOpen,
    Piece::CalleeClose,
    Piece::MethodOpen,
    Piece::ReceiverOpen,
    Piece::ReceiverClose,
    Piece::ApplyClose,
    Piece::ApplyArguments,
    Piece::ApplyNoArguments,
    Piece::CheckOpen,
    Piece::CheckNewOpen,
    Piece::CheckNewClose,
    Piece::CheckArgumentOpen,
    Piece::CheckNewArgumentOpen,
    Piece::CheckedArgument,
    Piece::CheckSpreadOpen,
    Piece::CheckNewSpreadOpen,
    Piece::CheckedSpread,
    Piece::Catch,
    Piece::Mark,
  ];

  /// The text, in parts: the number goes between consecutive parts. Pieces that may follow a
  /// keyword (`await`, `yield`, `of`, `return`, `in`) start with a space, or minified code such as
  /// `yield[1]` would glue the keyword to them.
  ///
  /// V8 gives an anonymous function the name of what it is assigned to, or of a variable
  /// initialised after it, in stack traces (its "inferred name", from the parser's names of the
  /// expression at hand). So the pieces assign nothing but the value of a call (which V8 never
  /// names after), initialise no variable, and call the hooks inside parentheses wherever they
  /// stand in the user's expressions: no name of memtrace's reaches a function of the user's.
  ///
  /// A function keeps its state in one small integer, counted up and down (`++`, no allocation,
  /// no name): `$mt$d`, four times the depth of the shadow stack it was called at, plus one for
  /// each normal completion; or, in one that suspends (which keeps no depth), `$mt$s`, 1 while
  /// suspended, plus two for each normal completion.
  pub fn parts(self) -> &'static [&'static str] {
    match self {
      Piece::Semicolon => &[";"],
      // A function's prologue is its variables, then its temporaries, then its CALL.
      Piece::Vars => &["var $mt$d"],
      Piece::VarsAsync => &["var $mt$s"],
      Piece::ArrowVars => &["{var $mt$d"],
      Piece::ArrowVarsAsync => &["{var $mt$s"],
      Piece::ModuleVars => &["var $mt$d"],
      Piece::Temporaries => &[",$mt$f", ",$mt$o", ""],
      // `__mt$b` reports CALL of a function that suspends and gives 0.
      Piece::Try => &[";$mt$s=__mt$b(", ");try{"],
      // A value passes through `__mt$h`, which gives back its first argument, so that the
      // completion is counted after the value (an exception there is the function's).
      Piece::TryValue => &[";$mt$s=__mt$b(", ");try{return(__mt$h)("],
      // `__mt$c` reports CALL and gives four times the depth it was called at; the `finally`
      // puts the shadow stack back there whatever happened above.
      Piece::TryAt => &[";$mt$d=__mt$c(", ");try{"],
      Piece::TryValueAt => &[";$mt$d=__mt$c(", ");try{return(__mt$h)("],
      // The epilogue: the body completed (left out where it never can, after a last `return`),
      // then a `finally` with no branch of its own (the hooks decide between RETURN and
      // EXCEPT): coverage tools see no code the user did not write.
      Piece::Completed => &[";++$mt$d"],
      Piece::CompletedAsync => &[";++$mt$s;++$mt$s"],
      Piece::Exit => &["}finally{__mt$g(", ",$mt$d)}"],
      Piece::ExitAsync => &["}finally{$mt$s=__mt$k(", ",$mt$s);__mt$w(", ",$mt$s)}"],
      Piece::ExitGenerator => &[
        "}catch($mt$e){$mt$s=__mt$k(",
        ",$mt$s);__mt$x(",
        ");throw $mt$e}finally{$mt$s=__mt$k(",
        ",$mt$s);__mt$r(",
        ")}",
      ],
      Piece::ArrowClose => &[",++$mt$d)}finally{__mt$g(", ",$mt$d)}}"],
      Piece::ArrowCloseAsync => &[",++$mt$s,++$mt$s)}finally{$mt$s=__mt$k(", ",$mt$s);__mt$w(", ",$mt$s)}}"],
      // A class field's initialiser reports CALL before and RETURN after its value.
      Piece::FieldOpen => &["((__mt$c)(", "),(__mt$p)(", ",("],
      Piece::FieldClose => &[")/*$mt$*/))"],
      Piece::ReturnOpen => &[" (__mt$h)("],
      Piece::ReturnClose => &[",++$mt$d)"],
      Piece::ReturnCloseAsync => &[",++$mt$s,++$mt$s)"],
      Piece::SequenceOpen => &["(0,"],
      Piece::SequenceClose => &[")"],
      Piece::BareReturn => &["{++$mt$d;"],
      Piece::BareReturnAsync => &["{++$mt$s;++$mt$s;"],
      Piece::SuspendOpen => &["(__mt$u)(", ","],
      Piece::ArgumentOpen => &[" (__mt$y)(", ","],
      Piece::SuspendClose => &[",++$mt$s),--$mt$s)"],
      Piece::BareYieldClose => &[" (__mt$y)(", ",void 0,++$mt$s),--$mt$s)"],
      Piece::Resume => &["$mt$s=__mt$k(", ",$mt$s);"],
      Piece::LoopOpen => &["{"],
      Piece::LoopClose => &[";$mt$s=__mt$k(", ",$mt$s)}"],
      Piece::IterableOpen => &[" (__mt$i)(", ","],
      Piece::IterableClose => &[",()=>++$mt$s)"],
      Piece::BodyOpen => &["{$mt$s=__mt$k(", ",$mt$s);"],
      Piece::BodyClose => &["}"],
      Piece::ModuleEnter => &["__mt$c(", ");"],
      Piece::ModuleExit => &[";__mt$r(", ");"],
      Piece::LineBreak => &["\n"],
      Piece::Line => &[";__mt$l(", ");"],
      Piece::LineOpen => &["{"],
      Piece::LineClose => &[";__mt$l(", ");}"],
      // A call that may be native (see `collect::Collector::call`): `__mt$q` reports its
      // C_RETURN, `__mt$n` and `__mt$f` its C_CALL once the arguments are evaluated (`~ID`: a
      // `new`), `__mt$a` calls with the receiver kept (a bound `Function.prototype.call`), and
      // `__mt$0` is an empty array. A temporary takes the value of a call (`__mt$h` gives back
      // what it is given), as V8 names no function after that.
      Piece::CallOpen => &[" (__mt$q)(", ","],
      Piece::CallClose => &["/*$mt$*/)"],
      Piece::CalleeOpen => &["($mt$f", "=(__mt$h)("],
      Piece::CalleeClose => &["),$mt$f", ")"],
      Piece::MethodOpen => &["($mt$f", "=(__mt$h)("],
      Piece::ReceiverOpen => &["($mt$o", "=(__mt$h)("],
      Piece::ReceiverClose => &["),$mt$o", ")"],
      Piece::ApplyClose => &["),__mt$a)"],
      Piece::ApplyArguments => &["$mt$f", ",$mt$o", ","],
      Piece::ApplyNoArguments => &["$mt$f", "/*$mt$*/),$mt$o", ""],
      Piece::CheckOpen => &["(__mt$f)(", ","],
      Piece::CheckNewOpen => &["((__mt$f)(~", ","],
      Piece::CheckNewClose => &["/*$mt$*/))"],
      Piece::CheckArgumentOpen => &["(__mt$n)(", ","],
      Piece::CheckNewArgumentOpen => &["(__mt$n)(~", ","],
      Piece::CheckedArgument => &["$mt$f", ","],
      Piece::CheckSpreadOpen => &[",...(__mt$n)(", ","],
      Piece::CheckNewSpreadOpen => &[",...(__mt$n)(~", ","],
      Piece::CheckedSpread => &["$mt$f", ",__mt$0)"],
      Piece::Catch => &["__mt$z();"],
      // Before a `}` that starts a line and has code after it (`};`, `})`): v8-to-istanbul reads
      // a range that ends at column 1 of mapped code as ending one column later, over that code.
      Piece::Mark => &["/*$mt$*/"],
    }
  }

  /// Whether the number in the piece is a temporary's (`$mt$f2`), not a function's id.
  pub fn numbers_temporary(self) -> bool {
    matches!(
      self,
      Piece::Temporaries
        | Piece::CalleeOpen
        | Piece::CalleeClose
        | Piece::MethodOpen
        | Piece::ReceiverOpen
        | Piece::ReceiverClose
        | Piece::ApplyArguments
        | Piece::ApplyNoArguments
        | Piece::CheckedArgument
        | Piece::CheckedSpread
    )
  }

  fn write(self, id: u64, out: &mut String) {
    let mut digits = itoa::Buffer::new();
    let id = digits.format(id);
    for (i, part) in self.parts().iter().enumerate() {
      if i > 0 {
        out.push_str(id);
      }
      out.push_str(part);
    }
  }
}

/// A source the parser rejected. The file should then run as it is, so that Node reports its
/// own SyntaxError.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} ({line}:{column})")]
pub struct SyntaxError {
  pub message: String,
  pub line: u32,
  pub column: u32,
}

/// What the instrumented code reports besides CALL and RETURN (and what suspends).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Options {
  /// A LINE event as each statement completes.
  pub lines: bool,
  /// C_CALL and C_RETURN around each call of a function that is not instrumented JavaScript.
  pub native_calls: bool,
}

/// Parses `source` and plans its instrumentation. `path` decides TypeScript and JSX by its
/// extension; `kind` decides how the JavaScript is parsed.
pub fn plan(source: &str, path: &str, kind: SourceKind) -> Result<Plan, SyntaxError> {
  plan_with(source, path, kind, Options::default())
}

/// [`plan`], with the events `options` asks for (see `collect`).
pub fn plan_with(source: &str, path: &str, kind: SourceKind, options: Options) -> Result<Plan, SyntaxError> {
  let extension = Path::new(path.split(['?', '#']).next().unwrap_or(path)).extension().and_then(|e| e.to_str());
  let source_type = match extension {
    Some("ts" | "mts" | "cts") => SourceType::ts(),
    Some("tsx") => SourceType::tsx(),
    Some("jsx") => SourceType::jsx(),
    _ => SourceType::cjs().with_javascript(true),
  };
  let source_type = match kind {
    SourceKind::Script => source_type.with_script(true),
    SourceKind::Module => source_type.with_module(true),
    SourceKind::CommonJs => source_type.with_commonjs(true),
  };
  let allocator = Allocator::default();
  let parsed = Parser::new(&allocator, source, source_type).with_options(ParseOptions::default()).parse();
  let line_index = LineIndex::new(source);
  if let Some(error) = parsed.diagnostics.errors().next() {
    let offset = error.labels.first().map_or(0, |label| label.offset());
    let (line, column) = line_index.line_column(source, offset.min(source.len() as u32));
    return Err(SyntaxError { message: error.message.to_string(), line, column });
  }
  let mut collector = Collector::new(source, &line_index, options);
  let module = matches!(kind, SourceKind::CommonJs | SourceKind::Module);
  if module {
    collector.open_module(&parsed.program, kind == SourceKind::CommonJs);
  }
  collector.visit_program(&parsed.program);
  if module {
    collector.close_module();
  }
  let mut insertions = collector.insertions;
  insertions.sort_unstable_by_key(|(key, _)| *key);
  let insertions =
    guard_statements(insertions.into_iter().map(|(_, insertion)| insertion).collect(), &collector.continued);
  let mut anchors = collector.anchors;
  anchors.sort_unstable_by_key(|anchor| anchor.at);
  let skipped = collector.skipped.into_iter().map(|(name, why)| format!("{name}: {why}")).collect();
  Ok(Plan { sites: collector.sites, insertions, anchors, skipped, declares_using: collector.declares_using })
}

/// A `;` before the first piece of each statement in `continued` that starts with `(`, so that the
/// statement before it stays ended (an empty statement between two is nothing).
fn guard_statements(insertions: Vec<Insertion>, continued: &[u32]) -> Vec<Insertion> {
  if continued.is_empty() {
    return insertions;
  }
  let continued: std::collections::HashSet<u32> = continued.iter().copied().collect();
  let mut guarded = Vec::with_capacity(insertions.len());
  let mut previous = None;
  for insertion in insertions {
    let first_here = previous != Some(insertion.at);
    previous = Some(insertion.at);
    if first_here && continued.contains(&insertion.at) && insertion.piece.parts()[0].trim_start().starts_with('(') {
      guarded.push(Insertion { at: insertion.at, piece: Piece::Semicolon, function: 0 });
    }
    guarded.push(insertion);
  }
  guarded
}

impl Plan {
  /// How many functions report events: each has one CALL in its prologue.
  pub fn functions(&self) -> usize {
    self
      .insertions
      .iter()
      .filter(|i| {
        matches!(
          i.piece,
          Piece::Try | Piece::TryValue | Piece::TryAt | Piece::TryValueAt | Piece::FieldOpen | Piece::ModuleEnter
        )
      })
      .count()
  }

  /// The instrumented source, with function ids starting at `first_id`.
  pub fn apply(&self, source: &str, first_id: u64) -> String {
    self.apply_each(source, first_id, |_, _| {})
  }

  /// [`Plan::apply`], handing `each` every insertion with the text it went in as.
  fn apply_each(&self, source: &str, first_id: u64, mut each: impl FnMut(&Insertion, &str)) -> String {
    let mut out = String::with_capacity(source.len() + self.insertions.len() * 40);
    let mut copied = 0;
    for insertion in &self.insertions {
      let at = insertion.at as usize;
      out.push_str(&source[copied..at]);
      copied = at;
      let number = match insertion.piece.numbers_temporary() {
        true => u64::from(insertion.function),
        false => first_id + u64::from(insertion.function),
      };
      let start = out.len();
      insertion.piece.write(number, &mut out);
      each(insertion, &out[start..]);
    }
    out.push_str(&source[copied..]);
    out
  }
}

/// The result of [`instrument`].
#[derive(Debug)]
pub struct Instrumented {
  pub code: String,
  /// The instrumented code's source map, as a `data:` URL, when it was asked for.
  pub map: Option<String>,
  /// How many functions report events (sites of statements and calls not counted).
  pub functions: usize,
  /// Functions left unwrapped and why (empty when the plan came from the cache).
  pub skipped: Vec<String>,
  /// Whether the plan came from the cache.
  pub cached: bool,
}

/// Instruments `source` (loaded from `path`): plans it (with the events `options` asks for),
/// or takes the plan from `cache`, registers its functions, and applies the plan. With
/// `source_map`, it also makes the instrumented code's source map, chained with the source's own
/// (see `map`). Where the runtime does not know `using` (`accepts_using` false), a source that
/// declares with it is left as it is, for V8 to report its own SyntaxError on the user's line.
pub fn instrument(
  source: &str,
  path: &str,
  kind: SourceKind,
  options: Options,
  cache: Option<&Cache>,
  source_map: bool,
  accepts_using: bool,
) -> Result<Instrumented, SyntaxError> {
  let key = cache.map(|cache| cache.key(source, path, kind, options));
  let cached = cache.zip(key.as_ref()).and_then(|(cache, key)| cache.get(key, source.len()));
  let from_cache = cached.is_some();
  let plan = match cached {
    Some(plan) => plan,
    None => {
      let plan = plan_with(source, path, kind, options)?;
      if let Some((cache, key)) = cache.zip(key.as_ref()) {
        cache.put(key, &plan);
      }
      plan
    }
  };
  if plan.declares_using && !accepts_using {
    return Err(SyntaxError { message: "this runtime does not know `using` declarations".into(), line: 0, column: 0 });
  }
  let original = sources::Original::of(source, path);
  let script = scripts::Key::new(path, source, kind, options);
  // Loaded before: the same ids, so the same code. Else the layout is noted as the code is made.
  let (first, mut layout) = match scripts::known(&script) {
    Some(first) => (first, None),
    None => (register(path, &plan, original.as_ref()), Some(scripts::Layout::new(&plan))),
  };
  let code = plan.apply_each(source, first, |insertion, text| {
    if let Some(layout) = layout.as_mut() {
      layout.add(insertion, text);
    }
  });
  if let Some(layout) = layout {
    scripts::keep(script, source, &plan, first, layout);
  }
  let target = original.as_ref().map_or(map::Target::Itself, map::Target::Original);
  Ok(Instrumented {
    code,
    map: source_map.then(|| map::data_url(source, path, &plan, first, target)),
    functions: plan.functions(),
    cached: from_cache,
    skipped: plan.skipped,
  })
}

/// Adds the functions of `plan` to the function table, each where the user wrote it as far as
/// the file's own source map (`original`) knows, the rest where they run; returns the first id.
fn register(path: &str, plan: &Plan, original: Option<&sources::Original>) -> u64 {
  let Some(original) = original else { return functions::register(path, &plan.sites) };
  let locate = original.locator();
  let generated: std::sync::Arc<str> = path.into();
  let sole: Option<std::sync::Arc<str>> = original.sole_file().map(Into::into);
  let located: Vec<(std::sync::Arc<str>, Site)> = plan
    .sites
    .iter()
    .map(|site| match (locate(site.line, site.column), &sole) {
      (Some(place), _) => (place.file.into(), Site { line: place.line, column: place.column, name: site.name.clone() }),
      // The top level, which compilers map from its first statement on, is the source's.
      (None, Some(file)) if site.name == collect::MODULE => {
        (file.clone(), Site { line: 1, column: 1, name: site.name.clone() })
      }
      (None, _) => (generated.clone(), site.clone()),
    })
    .collect();
  functions::register_each(located.iter().map(|(file, site)| (file.clone(), site)))
}

#[cfg(test)]
mod tests;
