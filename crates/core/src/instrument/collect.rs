//! The walk over the AST that finds every function and plans what to insert around it.
//!
//! One visitor keeps the stack of ancestors (for names) and the stack of open functions (so an
//! `await`, a `yield`, a `return` or a `catch` belongs to its own function, not to one nested in
//! it). What a function needs is decided when the walk leaves it, once all of it is known, so its
//! insertions wait in its frame until then. What it learns is kept as owned data, so the AST and
//! its arena can go as soon as the walk ends.

use std::collections::HashSet;

use oxc_allocator::Vec as ArenaVec;
use oxc_ast::ast::{
  Argument, ArrowFunctionExpression, ComputedMemberExpression, Expression, ForOfStatement, FormalParameters, Function,
  MethodDefinitionKind, PropertyKind, Statement, VariableDeclarationKind,
};
use oxc_ast::AstKind;
use oxc_ast_visit::{walk, Visit};
use oxc_span::{GetSpan, Span};

use super::lines::LineIndex;
use super::names::{self, ANONYMOUS};
use super::{Anchor, Insertion, Options, Piece, TEMPORARIES};
use crate::functions::Site;

/// A function being walked.
#[derive(Default)]
struct Frame {
  /// Index into `sites`; `None` for the program's top level, which is not a function.
  local: Option<u32>,
  depth: u32,
  shape: Shape,
  /// Whether it has an `await`, `yield` or `for await`: it gets the suspension bookkeeping.
  suspends: bool,
  /// Whether it is a generator, which can be ended from outside (`gen.return()`).
  generator: bool,
  /// Whether its body surely never completes normally (it ends in a `return` or `throw`).
  never_completes: bool,
  /// Starts of its catch and finally blocks (just inside the `{`), with their depth.
  resumes: Vec<(u32, u32)>,
  /// Its `return` statements: statement span, argument span.
  returns: Vec<Return>,
  /// Insertions for its awaits, yields and for-awaits, kept until it is known to be wrapped.
  pending: Vec<(SortKey, Insertion)>,
  /// Insertions for its native calls and catch clauses (with native calls on): they use its
  /// temporaries, so they go in only if it is wrapped.
  calls: Vec<(SortKey, Insertion)>,
  anchors: Vec<Anchor>,
  /// How deep the walk is in arguments (and computed keys) of its calls: the temporary a call
  /// found there uses, so that one inside another's arguments does not overwrite it.
  call_depth: u32,
  /// How many temporaries its calls use.
  temporaries: u32,
  /// Whether the walk is in its parameters, whose default values cannot see its variables.
  in_parameters: u32,
  /// Names of function declarations directly in its body, names declared with `var` in it, and
  /// whether it calls `eval` directly: what decides whether its body may be wrapped in a block.
  functions_declared: Vec<String>,
  vars: HashSet<String>,
  /// Whether its body declares with `let`, `const` or `class` a name of a parameter: V8 rejects
  /// that, and would not once the body is in a block.
  redeclares_parameter: bool,
  direct_eval: bool,
}

/// A `return` statement of a function.
struct Return {
  statement: Span,
  /// Its argument, and whether that is a sequence (`return a, b`).
  argument: Option<(Span, bool)>,
  depth: u32,
}

#[derive(Clone, Copy, Default)]
enum Shape {
  #[default]
  Program,
  /// `{ … }`: prologue goes at `enter` (after the `{` and any directives), epilogue at `exit`
  /// (before the `}`); `semicolon` when the last directive has no `;` of its own.
  Block { enter: u32, exit: u32, semicolon: bool },
  /// An arrow's expression body, from `start` to `end`.
  Expression { start: u32, end: u32 },
  /// An ES module's top level: CALL at `enter`, RETURN at `exit` (the end of the file), with no
  /// block around it, where imports and exports could not stand.
  Module { enter: u32, exit: u32, semicolon: bool },
}

/// The name of a module's top level in the function table.
pub const MODULE: &str = "<module>";

pub struct Collector<'a> {
  source: &'a str,
  lines: &'a LineIndex,
  /// Whether each statement reports a LINE event.
  statements: bool,
  native_calls: bool,
  /// How many `with` statements the walk is in: there a called name may be a property.
  in_with: u32,
  parents: Vec<AstKind<'a>>,
  frames: Vec<Frame>,
  pub sites: Vec<Site>,
  /// Insertions with their sort key.
  pub insertions: Vec<(SortKey, Insertion)>,
  pub anchors: Vec<Anchor>,
  /// Starts of expression statements after a statement that no `;` ends: a piece there that
  /// starts with `(` would continue that statement (`a = b` then `(__mt$q)(…)`).
  pub continued: Vec<u32>,
  /// Whether a `using` or `await using` declaration was seen.
  pub declares_using: bool,
  /// Functions left as they were, and why (for MEMTRACE_DEBUG).
  pub skipped: Vec<(String, &'static str)>,
  planned: u32,
}

/// Insertions at the same offset go closers first (innermost first), then openers (outermost
/// first), then in the order they were planned.
pub type SortKey = (u32, bool, u32, u32);

/// Sort levels per depth of the AST: a call's pieces go at levels between its parent's and its
/// children's (see [`Collector::call`]), so that they nest with both.
const LEVELS: u32 = 4;

impl<'a> Collector<'a> {
  pub fn new(source: &'a str, lines: &'a LineIndex, options: Options) -> Collector<'a> {
    Collector {
      source,
      lines,
      statements: options.lines,
      native_calls: options.native_calls,
      in_with: 0,
      parents: Vec::with_capacity(64),
      frames: vec![Frame::default()],
      sites: Vec::new(),
      insertions: Vec::new(),
      anchors: Vec::new(),
      skipped: Vec::new(),
      planned: 0,
      continued: Vec::new(),
      declares_using: false,
    }
  }

  fn depth(&self) -> u32 {
    self.parents.len() as u32
  }

  /// The sort key of an insertion made for a node `depth` deep (or for its child, at the
  /// child's depth).
  fn key(&mut self, at: u32, opener: bool, depth: u32) -> SortKey {
    self.key_at_level(at, opener, depth * LEVELS)
  }

  fn key_at_level(&mut self, at: u32, opener: bool, level: u32) -> SortKey {
    self.planned += 1;
    (at, opener, if opener { level } else { u32::MAX - level }, self.planned)
  }

  fn insert(&mut self, at: u32, opener: bool, depth: u32, piece: Piece, function: u32) {
    let key = self.key(at, opener, depth);
    self.insertions.push((key, Insertion { at, piece, function }));
  }

  /// An insertion that waits in the innermost function's frame until the function is closed.
  fn defer(&mut self, at: u32, opener: bool, depth: u32, piece: Piece) {
    let key = self.key(at, opener, depth);
    if let Some(frame) = self.frames.last_mut() {
      if let Some(function) = frame.local {
        frame.pending.push((key, Insertion { at, piece, function }));
      }
    }
  }

  fn site(&mut self, at: u32, name: String) -> u32 {
    let (line, column) = self.lines.line_column(self.source, at);
    self.sites.push(Site { line, column, name });
    self.sites.len() as u32 - 1
  }

  fn open(&mut self, at: u32, name: String, shape: Shape, body: &[Statement]) {
    let local = self.site(at, name);
    let depth = self.depth();
    let functions_declared = declared_functions(body);
    let never_completes = body.iter().any(never_completes);
    self.frames.push(Frame {
      local: Some(local),
      depth,
      shape,
      functions_declared,
      never_completes,
      ..Frame::default()
    });
  }

  fn close(&mut self) {
    let Some(frame) = self.frames.pop() else { return };
    let Some(id) = frame.local else { return };
    if let Some(reason) = unwrappable(&frame) {
      self.skipped.push((self.sites[id as usize].name.clone(), reason));
      return;
    }
    let depth = frame.depth;
    // Functions use a `finally` and a flag that only a normal completion clears, so that an
    // exception is never caught and re-thrown (Node would then report it where it was
    // re-thrown). A generator that suspends reports EXCEPT from a `catch` instead: it can be
    // ended from outside (`gen.return()`), which its `finally` could not tell from a throw.
    let caught = frame.suspends && frame.generator;
    // One that suspends resumes at whatever depth its resumer runs at: it keeps no depth, and its
    // state is `$mt$s`, not `$mt$d` (see `Piece::parts`).
    let (vars, arrow_vars, call_piece, call_value_piece, exit_piece, close_piece) =
      match (frame.suspends, frame.generator) {
        (true, true) => {
          (Piece::VarsAsync, Piece::ArrowVars, Piece::Try, Piece::TryValue, Piece::ExitGenerator, Piece::ArrowClose)
        }
        (true, false) => (
          Piece::VarsAsync,
          Piece::ArrowVarsAsync,
          Piece::Try,
          Piece::TryValue,
          Piece::ExitAsync,
          Piece::ArrowCloseAsync,
        ),
        (false, _) => (Piece::Vars, Piece::ArrowVars, Piece::TryAt, Piece::TryValueAt, Piece::Exit, Piece::ArrowClose),
      };
    let (completed, return_close, bare_return) = match frame.suspends {
      true => (Piece::CompletedAsync, Piece::ReturnCloseAsync, Piece::BareReturnAsync),
      false => (Piece::Completed, Piece::ReturnClose, Piece::BareReturn),
    };
    // The prologue: the function's variables, the temporaries its calls use, its CALL.
    let temporaries = frame.temporaries;
    let prologue = |collector: &mut Self, at: u32, pieces: &[Piece]| {
      for &piece in pieces {
        if piece == Piece::Temporaries {
          for temporary in 0..temporaries {
            collector.insert(at, true, depth, piece, temporary);
          }
        } else {
          collector.insert(at, true, depth, piece, id);
        }
      }
    };
    match frame.shape {
      Shape::Program => {}
      Shape::Module { enter, exit, semicolon } => {
        // Awaits at an ES module's top level would need the suspension bookkeeping, which a
        // module's top level cannot have: such a module reports no <module> events.
        if frame.suspends {
          self.skipped.push((self.sites[id as usize].name.clone(), "its top level awaits"));
          return;
        }
        if semicolon {
          prologue(self, enter, &[Piece::Semicolon]);
        }
        if temporaries > 0 {
          prologue(self, enter, &[Piece::ModuleVars, Piece::Temporaries, Piece::Semicolon]);
        }
        prologue(self, enter, &[Piece::ModuleEnter]);
        self.insert(exit, false, depth, Piece::ModuleExit, id);
        self.insertions.extend(frame.calls);
        self.anchors.extend(frame.anchors);
        return;
      }
      Shape::Block { enter, exit, semicolon } => {
        if semicolon {
          prologue(self, enter, &[Piece::Semicolon]);
        }
        prologue(self, enter, &[vars, Piece::Temporaries, call_piece]);
        // An empty body (`{}`, or directives only) opens and closes at one offset: the exit
        // then goes in as an opener too, after the entry.
        if !caught && !frame.never_completes {
          self.insert(exit, enter == exit, depth, completed, id);
        }
        self.insert(exit, enter == exit, depth, exit_piece, id);
      }
      Shape::Expression { start, end } => {
        prologue(self, start, &[arrow_vars, Piece::Temporaries, call_value_piece]);
        self.insert(end, false, depth, close_piece, id);
      }
    }
    self.insertions.extend(frame.calls);
    self.anchors.extend(frame.anchors);
    if frame.suspends {
      for (at, depth) in frame.resumes {
        self.insert(at, true, depth, Piece::Resume, id);
      }
      self.insertions.extend(frame.pending);
    }
    if caught {
      return;
    }
    for Return { statement, argument, depth } in frame.returns {
      match argument {
        Some((argument, sequence)) => {
          self.insert(argument.start, true, depth, Piece::ReturnOpen, id);
          // `return a, b` returns `b`: one argument of the hook's.
          if sequence {
            self.insert(argument.start, true, depth + 1, Piece::SequenceOpen, id);
            self.insert(argument.end, false, depth + 1, Piece::SequenceClose, id);
          }
          self.insert(argument.end, false, depth, return_close, id);
        }
        // In a block with the completion marked before it: `return expr` would be another
        // return in an async generator, which awaits what it returns.
        None => {
          self.insert(statement.start, true, depth, bare_return, id);
          self.insert(statement.end, false, depth, Piece::BodyClose, id);
        }
      }
    }
  }

  /// The innermost function, unless we are at the top level.
  fn current(&mut self) -> Option<(u32, &mut Frame)> {
    let frame = self.frames.last_mut()?;
    Some((frame.local?, frame))
  }

  fn name_of(&self, span: Span) -> String {
    names::infer(&self.parents, span, self.source).unwrap_or_else(|| ANONYMOUS.into())
  }

  /// A call that may be of a native function (native calls on): it becomes one that reports
  /// C_CALL and C_RETURN around it when what it calls turns out not to be instrumented.
  ///
  /// ```js
  /// f(a, b)   →  (__mt$q)(S,($mt$f0=(__mt$h)(f),$mt$f0)(a,(__mt$n)(S,$mt$f0,b/*$mt$*/))/*$mt$*/)
  /// o.m(a)    →  (__mt$q)(S,($mt$f0=(__mt$h)(($mt$o0=(__mt$h)(o),$mt$o0).m),__mt$a)($mt$f0,$mt$o0,(__mt$n)(S,$mt$f0,a/*$mt$*/))/*$mt$*/)
  /// f()       →  (__mt$q)(S,(__mt$f)(S,f/*$mt$*/)()/*$mt$*/)
  /// new C(a)  →  (__mt$q)(S,new ($mt$f0=(__mt$h)(C),$mt$f0)((__mt$n)(~S,$mt$f0,a/*$mt$*/))/*$mt$*/)
  /// ```
  ///
  /// S is the call site's id (a temporary takes the value of `__mt$h`, a call, so that V8 names no
  /// function after the temporary). The callee is evaluated once, where it was, and kept in a
  /// temporary of the function; `__mt$n` looks at it only after the last argument is evaluated,
  /// right before the call, and reports C_CALL then (a call nested in the arguments uses the
  /// next temporary, so it cannot change the one it reads). A method is called through `__mt$a`
  /// with its receiver, read right after the callee: `this` is what it was. Nothing is moved,
  /// so evaluation order is the original's; the call's value passes through `__mt$q`, which
  /// reports C_RETURN. `__mt$n` throws V8's own "… is not a function" for a callee that is not.
  ///
  /// Left as they are: direct `eval` (it must stay direct), `super` calls, optional chains, what a
  /// `throw` throws (`throw new Error(…)`: its line is what Node shows of an uncaught error),
  /// calls in parameters (their defaults cannot see the function's temporaries), a name called
  /// in a `with` (it may be a method of the object), TypeScript's wrappers around a callee
  /// (they may hide a method), decorators, and calls nested deeper than [`TEMPORARIES`].
  fn call(
    &mut self,
    span: Span,
    callee: &Expression<'a>,
    type_arguments: Option<Span>,
    arguments: &[Argument<'a>],
    new: bool,
  ) {
    // What a `throw` throws is left as it is: Node shows the line of an uncaught throw.
    if !self.native_calls
      || matches!(
        self.parents.last(),
        Some(AstKind::Decorator(_) | AstKind::ChainExpression(_) | AstKind::ThrowStatement(_))
      )
    {
      return;
    }
    let in_with = self.in_with > 0;
    let Some(frame) = self.frames.last() else { return };
    if frame.local.is_none() || frame.in_parameters > 0 || frame.call_depth >= TEMPORARIES {
      return;
    }
    let temporary = frame.call_depth;
    let mut inner = callee;
    while let Expression::ParenthesizedExpression(p) = inner {
      inner = &p.expression;
    }
    let receiver = match inner {
      Expression::Super(_) | Expression::ChainExpression(_) => return,
      e if e.is_typescript_syntax() => return,
      Expression::Identifier(id) if !new && (id.name == "eval" || in_with) => return,
      Expression::StaticMemberExpression(m) if !new => Some(&m.object),
      Expression::ComputedMemberExpression(m) if !new => Some(&m.object),
      Expression::PrivateFieldExpression(m) if !new => Some(&m.object),
      _ => None,
    };
    if receiver.is_some_and(|object| matches!(object, Expression::Super(_))) || has_optional(inner) {
      return;
    }
    let after_callee = type_arguments.map_or(callee.span().end, |t| t.end);
    let open =
      next_token(self.source, after_callee).filter(|&at| at < span.end && self.source.as_bytes()[at as usize] == b'(');
    if open.is_none() && !new {
      return;
    }
    // Where V8 places the call: `new` at its keyword; a call at the name just before its `(`
    // (`f(`, `o.m(`) unless that is a keyword (`p.catch(`), or else at the `(` (`o[k](`,
    // `(f)(`, `f()(`, `o.#m(`).
    let at = match callee {
      _ if new => span.start,
      Expression::Identifier(id) if type_arguments.is_none() => id.span.start,
      Expression::StaticMemberExpression(m) if type_arguments.is_none() && !is_keyword(&m.property.name) => {
        m.property.span.start
      }
      _ => open.unwrap_or(span.start),
    };
    let text = names::callee(inner, self.source);
    let site = self.site(at, if new { format!("new {text}") } else { text });
    let callee_span = callee.span();
    // (offset, opener, piece, number): all but the first and the last wrap the call's parts.
    let mut plan: Vec<(u32, bool, Piece, u32)> = vec![(span.start, true, Piece::CallOpen, site)];
    let last = arguments.last();
    match (receiver, last) {
      (_, None) if new => {
        plan.push((callee_span.start, true, Piece::CheckNewOpen, site));
        plan.push((callee_span.end, false, Piece::CheckNewClose, site));
      }
      (None, None) => {
        plan.push((callee_span.start, true, Piece::CheckOpen, site));
        plan.push((callee_span.end, false, Piece::CallClose, site));
      }
      (None, Some(_)) => {
        plan.push((callee_span.start, true, Piece::CalleeOpen, temporary));
        plan.push((callee_span.end, false, Piece::CalleeClose, temporary));
      }
      (Some(object), _) => {
        let object = object.span();
        plan.push((span.start, true, Piece::MethodOpen, temporary));
        plan.push((object.start, true, Piece::ReceiverOpen, temporary));
        plan.push((object.end, false, Piece::ReceiverClose, temporary));
        plan.push((callee_span.end, false, Piece::ApplyClose, site));
        let first = open.map_or(span.end, |open| open + 1);
        if last.is_some() {
          plan.push((first, true, Piece::ApplyArguments, temporary));
        } else {
          plan.push((first, true, Piece::CheckOpen, site));
          plan.push((first, true, Piece::ApplyNoArguments, temporary));
        }
      }
    }
    match last {
      Some(Argument::SpreadElement(spread)) => {
        let check = if new { Piece::CheckNewSpreadOpen } else { Piece::CheckSpreadOpen };
        plan.push((spread.span.end, false, check, site));
        plan.push((spread.span.end, false, Piece::CheckedSpread, temporary));
      }
      Some(argument) => {
        let argument = argument.span();
        let check = if new { Piece::CheckNewArgumentOpen } else { Piece::CheckArgumentOpen };
        plan.push((argument.start, true, check, site));
        plan.push((argument.start, true, Piece::CheckedArgument, temporary));
        plan.push((argument.end, false, Piece::CallClose, site));
      }
      None => {}
    }
    plan.push((span.end, false, Piece::CallClose, site));
    let outer = self.depth() * LEVELS + 1;
    let last = plan.len() - 1;
    for (i, (at, opener, piece, number)) in plan.into_iter().enumerate() {
      let key = self.key_at_level(at, opener, if i == 0 || i == last { outer } else { outer + 1 });
      if let Some(frame) = self.frames.last_mut() {
        frame.calls.push((key, Insertion { at, piece, function: number }));
      }
    }
    let Some(frame) = self.frames.last_mut() else { return };
    // Only a call without arguments of a callee that is no method needs no temporary.
    if receiver.is_some() || !arguments.is_empty() {
      frame.temporaries = frame.temporaries.max(temporary + 1);
    }
    if let Some(open) = open {
      frame.anchors.push(Anchor { at: open, site });
    }
  }

  /// A [`Piece::Mark`] before the `}` that ends `span`, if that brace starts its line and code
  /// follows it there (source maps are for coverage tools too; see the piece).
  fn mark_brace(&mut self, span: Span) {
    let bytes = self.source.as_bytes();
    let brace = span.end as usize - 1;
    if bytes.get(brace) != Some(&b'}') || !(brace == 0 || matches!(bytes[brace - 1], b'\n' | b'\r')) {
      return;
    }
    let rest = self.source[brace + 1..].split(['\n', '\r']).next().unwrap_or("");
    if rest.trim().is_empty() {
      return;
    }
    // After every closer at that offset, before the brace.
    let key = self.key_at_level(brace as u32, true, u32::MAX);
    self.insertions.push((key, Insertion { at: brace as u32, piece: Piece::Mark, function: 0 }));
  }

  /// Runs `walk` one call deeper in the innermost function (see [`Frame::call_depth`]).
  fn deeper(&mut self, walk: impl FnOnce(&mut Self)) {
    let frame = self.frames.len() - 1;
    self.frames[frame].call_depth += 1;
    walk(self);
    self.frames[frame].call_depth -= 1;
  }

  fn function(&mut self, function: &Function<'a>) {
    let Some(body) = &function.body else { return };
    // Methods and accessors: name them by their key, locate them at it.
    let (name, at) = match self.parents.iter().rev().find(|kind| !names::is_wrapper(kind)) {
      Some(AstKind::MethodDefinition(m)) => {
        let class = names::class_name(&self.parents, self.source);
        let name = match m.kind {
          MethodDefinitionKind::Constructor => format!("{class}.constructor"),
          MethodDefinitionKind::Get => format!("{class}.get {}", names::key_name(&m.key, self.source)),
          MethodDefinitionKind::Set => format!("{class}.set {}", names::key_name(&m.key, self.source)),
          MethodDefinitionKind::Method => format!("{class}.{}", names::key_name(&m.key, self.source)),
        };
        (name, m.key.span().start)
      }
      Some(AstKind::ObjectProperty(p)) if p.method || p.kind != PropertyKind::Init => {
        (self.name_of(function.span), p.key.span().start)
      }
      _ => {
        let name = match &function.id {
          Some(id) => id.name.to_string(),
          None => self.name_of(function.span),
        };
        (name, function.span.start)
      }
    };
    let shape = self.block_shape(body.span, body.directives.last().map(|d| d.span.end));
    self.open(at, name, shape, &body.statements);
    if let Some(frame) = self.frames.last_mut() {
      frame.generator = function.generator;
      frame.redeclares_parameter = redeclares(&function.params, &body.statements);
    }
  }

  fn arrow(&mut self, arrow: &ArrowFunctionExpression<'a>) {
    let name = self.name_of(arrow.span);
    let (shape, body) = match arrow.get_function_body() {
      Some(body) if !arrow.is_expression() => {
        (self.block_shape(body.span, body.directives.last().map(|d| d.span.end)), &body.statements[..])
      }
      _ => {
        let body = arrow.body.span();
        (Shape::Expression { start: body.start, end: body.end }, &[][..])
      }
    };
    self.open(arrow.span.start, name, shape, body);
    if let Some(frame) = self.frames.last_mut() {
      frame.redeclares_parameter = redeclares(&arrow.params, body);
    }
  }

  /// Opens the frame of a module's top level, `<module>` at line 1, before the walk:
  /// CommonJS, whose top level is a function body, is wrapped like one; an ES module gets CALL
  /// and RETURN only. The first statement goes after a hashbang line and the directives; a file
  /// that ends in a line comment gets a line break before the last insertion.
  pub fn open_module(&mut self, program: &oxc_ast::ast::Program<'a>, commonjs: bool) {
    let start = match &program.hashbang {
      Some(hashbang) => self.source[hashbang.span.end as usize..]
        .find('\n')
        .map_or(self.source.len(), |i| hashbang.span.end as usize + i + 1) as u32,
      None => 0,
    };
    let end = self.source.len() as u32;
    let in_line_comment = program.comments.last().is_some_and(|c| c.is_line() && c.span.end == end);
    let enter = program.directives.last().map_or(start, |d| d.span.end);
    // A last directive with no `;` of its own gets one before the first insertion.
    let semicolon = program.directives.last().is_some_and(|d| self.source.as_bytes()[d.span.end as usize - 1] != b';');
    let shape = if commonjs {
      Shape::Block { enter, exit: end, semicolon }
    } else {
      Shape::Module { enter, exit: end, semicolon }
    };
    self.open(0, MODULE.into(), shape, if commonjs { &program.body } else { &[] });
    if in_line_comment {
      // A closer deeper than the module's own, so that it goes in before it.
      let depth = self.depth() + 1;
      self.insert(end, false, depth, Piece::LineBreak, self.sites.len() as u32 - 1);
    }
  }

  /// Closes the frame [`Self::open_module`] opened, after the walk.
  pub fn close_module(&mut self) {
    self.close();
  }

  /// A body in braces: its prologue after the `{` and any directives, its epilogue before the `}`.
  fn block_shape(&self, body: Span, directives_end: Option<u32>) -> Shape {
    let (enter, semicolon) = match directives_end {
      Some(end) => (end, self.source.as_bytes()[end as usize - 1] != b';'),
      None => (body.start + 1, false),
    };
    Shape::Block { enter, exit: body.end - 1, semicolon }
  }

  /// `static { … }`: the span starts at `static`; the block's `{` comes after it.
  fn static_block_open(&self, span: Span) -> u32 {
    let bytes = self.source.as_bytes();
    let mut i = span.start as usize + "static".len();
    while i < span.end as usize {
      match (bytes[i], bytes.get(i + 1)) {
        (b'{', _) => return i as u32,
        (b'/', Some(b'/')) => {
          while i < bytes.len() && bytes[i] != b'\n' {
            i += 1
          }
        }
        (b'/', Some(b'*')) => {
          i += 2;
          while i + 1 < bytes.len() && &bytes[i..i + 2] != b"*/" {
            i += 1
          }
          i += 1;
        }
        _ => {}
      }
      i += 1;
    }
    span.start
  }

  fn field(&mut self, key: Span, value: &Expression<'a>, class_depth_name: String) {
    // An anonymous function or class takes its name from the field (`x = () => {}` is named
    // "x"); wrapping it would lose that, and creating it runs no code worth an event.
    let mut inner = value;
    while let Expression::ParenthesizedExpression(p) = inner {
      inner = &p.expression;
    }
    let anonymous = match inner {
      Expression::ArrowFunctionExpression(_) => true,
      Expression::FunctionExpression(f) => f.id.is_none(),
      Expression::ClassExpression(c) => c.id.is_none(),
      _ => false,
    };
    if anonymous {
      return;
    }
    let local = self.site(key.start, class_depth_name);
    let depth = self.depth();
    let span = value.span();
    self.insert(span.start, true, depth, Piece::FieldOpen, local);
    self.insert(span.end, false, depth, Piece::FieldClose, local);
  }

  /// LINE events: one as each statement of a list (a block, a body, a case) completes, and
  /// one in a block made around a statement that stands alone (`if (a) f()`).
  fn line_events(&mut self, statements: &[Statement<'a>]) {
    for statement in statements {
      if let Some(span) = self.line_event_at(statement) {
        let depth = self.depth() + 1;
        let site = self.line_site(span.start);
        self.insert(span.end, false, depth, Piece::Line, site);
      }
    }
  }

  fn lone_line_event(&mut self, statement: &Statement<'a>) {
    if matches!(statement, Statement::BlockStatement(_)) {
      return;
    }
    if let Some(span) = self.line_event_at(statement) {
      let depth = self.depth() + 1;
      let site = self.line_site(span.start);
      self.insert(span.start, true, depth, Piece::LineOpen, site);
      self.insert(span.end, false, depth, Piece::LineClose, site);
    }
  }

  /// The statement whose completion is a LINE event, unless it has none: statements that only
  /// declare (hoisted functions, imports, re-exports, types) run no code of their own.
  fn line_event_at(&self, statement: &Statement<'a>) -> Option<Span> {
    use oxc_ast::ast::Declaration;
    let declares_only = |declaration: &Declaration| match declaration {
      Declaration::FunctionDeclaration(_) => true,
      Declaration::VariableDeclaration(d) => d.declare,
      Declaration::ClassDeclaration(c) => c.declare,
      Declaration::TSEnumDeclaration(e) => e.declare,
      other => other.is_typescript_syntax(),
    };
    match statement {
      // Statements that never complete: what they did shows at the next event.
      Statement::ReturnStatement(_)
      | Statement::ThrowStatement(_)
      | Statement::BreakStatement(_)
      | Statement::ContinueStatement(_)
      | Statement::ImportDeclaration(_)
      | Statement::ExportAllDeclaration(_)
      | Statement::ExportNamedDeclaration(_)
      | Statement::ExportFromDeclaration(_)
      | Statement::TSExportAssignment(_)
      | Statement::TSNamespaceExportDeclaration(_)
      | Statement::EmptyStatement(_) => None,
      Statement::ExportDeclaration(e) if declares_only(&e.declaration) => None,
      other => match other.as_declaration() {
        Some(declaration) if declares_only(declaration) => None,
        _ => Some(other.span()),
      },
    }
  }

  /// A site for a LINE event at `at`: the statement's line, in the function around it.
  fn line_site(&mut self, at: u32) -> u32 {
    let name = match self.frames.last().and_then(|frame| frame.local) {
      Some(local) => self.sites[local as usize].name.clone(),
      None => "<top level>".into(),
    };
    self.site(at, name)
  }

  /// `await x` and `yield x`: record the suspension before, the resumption after.
  fn suspension(&mut self, span: Span, argument: Option<Span>) {
    let depth = self.depth();
    let Some((_, frame)) = self.current() else { return };
    frame.suspends = true;
    self.defer(span.start, true, depth, Piece::SuspendOpen);
    match argument {
      Some(argument) => {
        self.defer(argument.start, true, depth + 1, Piece::ArgumentOpen);
        self.defer(span.end, false, depth, Piece::SuspendClose);
      }
      None => {
        self.defer(span.end, false, depth, Piece::BareYieldClose);
        // A bare `yield` ends its statement at a line break; the call it becomes would not.
        if ends_at_line_break(self.source, span.end) {
          self.defer(span.end, false, depth.saturating_sub(1), Piece::Semicolon);
        }
      }
    }
  }

  fn for_await(&mut self, statement: &ForOfStatement<'a>) {
    let depth = self.depth();
    let Some((_, frame)) = self.current() else { return };
    frame.suspends = true;
    // Labels stay on the loop: the block that ends with the resumption check goes around them.
    let labels = self.parents.iter().rev().take_while(|kind| matches!(kind, AstKind::LabeledStatement(_))).count();
    let start = match labels {
      0 => statement.span.start,
      n => self.parents[self.parents.len() - n].span().start,
    };
    let outer = depth - labels as u32;
    self.defer(start, true, outer, Piece::LoopOpen);
    self.defer(statement.span.end, false, outer, Piece::LoopClose);
    let iterable = statement.right.span();
    self.defer(iterable.start, true, depth + 1, Piece::IterableOpen);
    self.defer(iterable.end, false, depth + 1, Piece::IterableClose);
    match &statement.body {
      Statement::BlockStatement(block) => self.defer(block.span.start + 1, true, depth + 2, Piece::Resume),
      body => {
        let span = body.span();
        self.defer(span.start, true, depth + 1, Piece::BodyOpen);
        self.defer(span.end, false, depth + 1, Piece::BodyClose);
      }
    }
  }
}

/// Why a function's body cannot be wrapped in a block, if it cannot. Inside a block, function
/// declarations are block-scoped: one that shares its name with a `var` (or, in strict code,
/// another declaration) becomes a redeclaration error, and a direct `eval` declaring a `var` of
/// such a name would fail at run time.
fn unwrappable(frame: &Frame) -> Option<&'static str> {
  if frame.redeclares_parameter {
    return Some("it declares a parameter's name again, which is an error V8 reports");
  }
  let declared = &frame.functions_declared;
  if declared.is_empty() {
    return None;
  }
  if declared.iter().any(|name| frame.vars.contains(name)) {
    return Some("it declares a function and a `var` of the same name");
  }
  if declared.iter().enumerate().any(|(i, name)| declared[..i].contains(name)) {
    return Some("it declares two functions of the same name");
  }
  frame.direct_eval.then_some("it declares functions and calls eval")
}

/// Whether `body` declares a name of `parameters` with `let`, `const`, `using` or `class`.
fn redeclares(parameters: &FormalParameters, body: &[Statement]) -> bool {
  let mut names = Vec::new();
  for parameter in &parameters.items {
    names.extend(parameter.pattern.get_binding_identifiers().iter().map(|id| id.name.as_str()));
  }
  if let Some(rest) = &parameters.rest {
    names.extend(rest.rest.argument.get_binding_identifiers().iter().map(|id| id.name.as_str()));
  }
  if names.is_empty() {
    return false;
  }
  body.iter().any(|statement| match statement {
    Statement::VariableDeclaration(d) if d.kind != VariableDeclarationKind::Var => {
      d.declarations.iter().any(|d| d.id.get_binding_identifiers().iter().any(|id| names.contains(&id.name.as_str())))
    }
    Statement::ClassDeclaration(c) => c.id.as_ref().is_some_and(|id| names.contains(&id.name.as_str())),
    _ => false,
  })
}

fn declared_functions(statements: &[Statement]) -> Vec<String> {
  statements
    .iter()
    .filter_map(|statement| match statement {
      Statement::FunctionDeclaration(f) => f.id.as_ref().map(|id| id.name.to_string()),
      _ => None,
    })
    .collect()
}

/// Whether `statement` surely never completes normally: a `return` or `throw`, or a block, `if`,
/// `try` or `switch` whose every way out is one. In doubt (loops, labels), it may complete.
fn never_completes(statement: &Statement) -> bool {
  match statement {
    Statement::ReturnStatement(_) | Statement::ThrowStatement(_) => true,
    Statement::BlockStatement(block) => block.body.iter().any(never_completes),
    Statement::IfStatement(s) => never_completes(&s.consequent) && s.alternate.as_ref().is_some_and(never_completes),
    Statement::TryStatement(s) => {
      let finalizer = s.finalizer.as_ref().is_some_and(|f| f.body.iter().any(never_completes));
      let block = s.block.body.iter().any(never_completes);
      let handler = s.handler.as_ref().is_none_or(|h| h.body.body.iter().any(never_completes));
      finalizer || (block && handler)
    }
    // With a `default` and no `break`, every case falls through to the last, which must not end.
    Statement::SwitchStatement(s) => {
      s.cases.iter().any(|case| case.test.is_none())
        && s.cases.last().is_some_and(|case| case.consequent.iter().any(never_completes))
        && !s.cases.iter().any(|case| case.consequent.iter().any(breaks))
    }
    _ => false,
  }
}

/// Whether `statement` holds a `break` that could leave a `switch` around it: any unlabeled one
/// outside nested loops and switches, and any labeled one at all.
fn breaks(statement: &Statement) -> bool {
  let labeled = |s: &Statement| {
    let mut finder = LabeledBreak(false);
    finder.visit_statement(s);
    finder.0
  };
  match statement {
    Statement::BreakStatement(_) => true,
    Statement::BlockStatement(block) => block.body.iter().any(breaks),
    Statement::IfStatement(s) => breaks(&s.consequent) || s.alternate.as_ref().is_some_and(breaks),
    Statement::TryStatement(s) => {
      s.block.body.iter().any(breaks)
        || s.handler.as_ref().is_some_and(|h| h.body.body.iter().any(breaks))
        || s.finalizer.as_ref().is_some_and(|f| f.body.iter().any(breaks))
    }
    Statement::LabeledStatement(s) => breaks(&s.body),
    Statement::FunctionDeclaration(_) | Statement::ClassDeclaration(_) => false,
    other => labeled(other),
  }
}

/// Finds a labeled `break` anywhere in a statement.
struct LabeledBreak(bool);

impl<'a> Visit<'a> for LabeledBreak {
  fn visit_break_statement(&mut self, statement: &oxc_ast::ast::BreakStatement<'a>) {
    self.0 |= statement.label.is_some();
  }
}

/// Whether `name` is a keyword V8's scanner gives a token of its own, which it does not take for
/// the place of a call (`super`, which it does, is never a property name here).
fn is_keyword(name: &str) -> bool {
  matches!(
    name,
    "break"
      | "case"
      | "catch"
      | "class"
      | "const"
      | "continue"
      | "debugger"
      | "default"
      | "delete"
      | "do"
      | "else"
      | "enum"
      | "export"
      | "extends"
      | "false"
      | "finally"
      | "for"
      | "function"
      | "if"
      | "import"
      | "in"
      | "instanceof"
      | "new"
      | "null"
      | "return"
      | "switch"
      | "this"
      | "throw"
      | "true"
      | "try"
      | "typeof"
      | "var"
      | "void"
      | "while"
      | "with"
  )
}

/// Whether `callee` is part of an optional chain (`a?.b.c`): calling it is the chain's business.
fn has_optional(callee: &Expression) -> bool {
  match callee {
    Expression::StaticMemberExpression(m) => m.optional || has_optional(&m.object),
    Expression::ComputedMemberExpression(m) => m.optional || has_optional(&m.object),
    Expression::PrivateFieldExpression(m) => m.optional || has_optional(&m.object),
    Expression::CallExpression(c) => c.optional || has_optional(&c.callee),
    _ => false,
  }
}

/// The offset of the first character after `from` that is neither white space nor a comment.
fn next_token(source: &str, from: u32) -> Option<u32> {
  let bytes = source.as_bytes();
  let mut i = from as usize;
  while i < bytes.len() {
    match bytes[i] {
      b' ' | b'\t' | b'\n' | b'\r' => i += 1,
      b'/' if bytes.get(i + 1) == Some(&b'/') => {
        while i < bytes.len() && bytes[i] != b'\n' {
          i += 1;
        }
      }
      b'/' if bytes.get(i + 1) == Some(&b'*') => {
        i = source[i + 2..].find("*/").map_or(bytes.len(), |at| i + 2 + at + 2);
      }
      _ if source[i..].starts_with(['\u{2028}', '\u{2029}', '\u{feff}', '\u{a0}']) => {
        i += source[i..].chars().next().map_or(1, char::len_utf8);
      }
      _ => return Some(i as u32),
    }
  }
  None
}

/// Whether the code after `end` continues on a later line with a token that would extend an
/// expression ending at `end` (anything but `, ) ] } : ;` or the end of the file).
fn ends_at_line_break(source: &str, end: u32) -> bool {
  let bytes = source.as_bytes();
  let mut i = end as usize;
  let mut line_break = false;
  while i < bytes.len() {
    match bytes[i] {
      b' ' | b'\t' => i += 1,
      b'\n' | b'\r' => {
        line_break = true;
        i += 1;
      }
      b'/' if bytes.get(i + 1) == Some(&b'/') => {
        while i < bytes.len() && bytes[i] != b'\n' {
          i += 1;
        }
      }
      b'/' if bytes.get(i + 1) == Some(&b'*') => {
        let close = source[i + 2..].find("*/").map_or(bytes.len(), |at| i + 2 + at + 2);
        line_break |= source[i..close].contains(['\n', '\r', '\u{2028}', '\u{2029}']);
        i = close;
      }
      _ if source[i..].starts_with(['\u{2028}', '\u{2029}']) => {
        line_break = true;
        i += 3;
      }
      next => return line_break && !matches!(next, b',' | b')' | b']' | b'}' | b':' | b';'),
    }
  }
  false
}

impl<'a> Visit<'a> for Collector<'a> {
  fn visit_statements(&mut self, statements: &ArenaVec<'a, Statement<'a>>) {
    for pair in statements.windows(2) {
      if let (before, Statement::ExpressionStatement(statement)) = (&pair[0], &pair[1]) {
        if self.source.as_bytes().get(before.span().end as usize - 1) != Some(&b';') {
          self.continued.push(statement.span.start);
        }
      }
    }
    walk::walk_statements(self, statements);
  }

  fn enter_node(&mut self, kind: AstKind<'a>) {
    // What every node of a kind needs, before the kind's own handling below.
    match kind {
      AstKind::FunctionBody(_) | AstKind::BlockStatement(_) | AstKind::StaticBlock(_) => self.mark_brace(kind.span()),
      AstKind::WithStatement(_) => self.in_with += 1,
      _ => {}
    }
    match kind {
      AstKind::Function(function) => self.function(function),
      AstKind::ArrowFunctionExpression(arrow) => self.arrow(arrow),
      AstKind::StaticBlock(block) => {
        let name = format!("{}.static", names::class_name(&self.parents, self.source));
        let open = self.static_block_open(block.span);
        let shape = self.block_shape(Span::new(open, block.span.end), None);
        self.open(block.span.start, name, shape, &block.body);
      }
      AstKind::PropertyDefinition(property) => {
        if let Some(value) = &property.value {
          let name = format!(
            "{}.{}",
            names::class_name(&self.parents, self.source),
            names::key_name(&property.key, self.source)
          );
          self.field(property.key.span(), value, name);
        }
      }
      AstKind::Program(program) if self.statements => self.line_events(&program.body),
      AstKind::FunctionBody(body) if self.statements => self.line_events(&body.statements),
      AstKind::BlockStatement(block) if self.statements => self.line_events(&block.body),
      AstKind::SwitchCase(case) if self.statements => self.line_events(&case.consequent),
      AstKind::IfStatement(statement) if self.statements => {
        self.lone_line_event(&statement.consequent);
        if let Some(alternate) = &statement.alternate {
          self.lone_line_event(alternate);
        }
      }
      AstKind::ForStatement(statement) if self.statements => self.lone_line_event(&statement.body),
      AstKind::ForInStatement(statement) if self.statements => self.lone_line_event(&statement.body),
      AstKind::ForOfStatement(statement) if self.statements && !statement.r#await => {
        self.lone_line_event(&statement.body)
      }
      AstKind::WhileStatement(statement) if self.statements => self.lone_line_event(&statement.body),
      AstKind::DoWhileStatement(statement) if self.statements => self.lone_line_event(&statement.body),
      AstKind::WithStatement(statement) if self.statements => self.lone_line_event(&statement.body),
      AstKind::AwaitExpression(e) => self.suspension(e.span, Some(e.argument.span())),
      AstKind::YieldExpression(e) => self.suspension(e.span, e.argument.as_ref().map(GetSpan::span)),
      AstKind::ForOfStatement(statement) if statement.r#await => self.for_await(statement),
      AstKind::TryStatement(statement) => {
        let depth = self.depth();
        if let Some((_, frame)) = self.current() {
          if let Some(handler) = &statement.handler {
            frame.resumes.push((handler.body.span.start + 1, depth + 2));
          }
          if let Some(finalizer) = &statement.finalizer {
            frame.resumes.push((finalizer.span.start + 1, depth + 1));
          }
        }
      }
      AstKind::ReturnStatement(statement) => {
        let depth = self.depth();
        if let Some((_, frame)) = self.current() {
          let argument =
            statement.argument.as_ref().map(|a| (a.span(), matches!(a, Expression::SequenceExpression(_))));
          frame.returns.push(Return { statement: statement.span, argument, depth });
        }
      }
      AstKind::VariableDeclaration(declaration) if declaration.kind == VariableDeclarationKind::Var => {
        if let Some((_, frame)) = self.current() {
          for declarator in &declaration.declarations {
            frame.vars.extend(declarator.id.get_binding_identifiers().iter().map(|id| id.name.to_string()));
          }
        }
      }
      AstKind::VariableDeclaration(declaration)
        if matches!(declaration.kind, VariableDeclarationKind::Using | VariableDeclarationKind::AwaitUsing) =>
      {
        self.declares_using = true;
      }
      AstKind::CallExpression(call) => {
        if call.callee.is_specific_id("eval") {
          if let Some((_, frame)) = self.current() {
            frame.direct_eval = true;
          }
        }
        let type_arguments = call.type_arguments.as_ref().map(|t| t.span);
        self.call(call.span, &call.callee, type_arguments, &call.arguments, false);
      }
      AstKind::NewExpression(new) => {
        let type_arguments = new.type_arguments.as_ref().map(|t| t.span);
        self.call(new.span, &new.callee, type_arguments, &new.arguments, true);
      }
      AstKind::CatchClause(clause) if self.native_calls => {
        // A native call that threw into this `catch` reports its C_EXCEPT here.
        let at = clause.body.span.start + 1;
        let key = self.key(at, true, self.depth() + 2);
        if let Some((local, frame)) = self.current() {
          frame.calls.push((key, Insertion { at, piece: Piece::Catch, function: local }));
        }
      }
      _ => {}
    }
    self.parents.push(kind);
  }

  fn leave_node(&mut self, kind: AstKind<'a>) {
    self.parents.pop();
    match kind {
      AstKind::Function(Function { body: Some(_), .. })
      | AstKind::ArrowFunctionExpression(_)
      | AstKind::StaticBlock(_) => self.close(),
      AstKind::WithStatement(_) => self.in_with -= 1,
      _ => {}
    }
  }

  fn visit_arguments(&mut self, arguments: &ArenaVec<'a, Argument<'a>>) {
    self.deeper(|collector| walk::walk_arguments(collector, arguments));
  }

  /// A computed key is evaluated after a method call's receiver is kept: it gets the next
  /// temporaries too.
  fn visit_computed_member_expression(&mut self, member: &ComputedMemberExpression<'a>) {
    let kind = AstKind::ComputedMemberExpression(self.alloc(member));
    self.enter_node(kind);
    self.visit_expression(&member.object);
    self.deeper(|collector| collector.visit_expression(&member.expression));
    self.leave_node(kind);
  }

  fn visit_formal_parameters(&mut self, parameters: &FormalParameters<'a>) {
    let frame = self.frames.len() - 1;
    self.frames[frame].in_parameters += 1;
    walk::walk_formal_parameters(self, parameters);
    self.frames[frame].in_parameters -= 1;
  }
}
