use super::*;

/// The instrumented text with ids counted from 0, for reading in assertions.
fn rewrite(source: &str, kind: SourceKind) -> String {
  plan(source, "/t/input.js", kind).unwrap().apply(source, 0)
}

/// The names of the functions (not of the module's top level, `<module>`).
fn names(source: &str) -> Vec<String> {
  let sites = plan(source, "/t/input.js", SourceKind::Module).unwrap().sites;
  sites.into_iter().map(|site| site.name).filter(|name| name != "<module>").collect()
}

#[test]
fn a_function_body_is_wrapped_on_its_own_lines() {
  assert_eq!(
    rewrite("function f(a) {\n  return a\n}", SourceKind::Script),
    "function f(a) {var $mt$d;$mt$d=__mt$c(0);try{\n  return  (__mt$h)(a,++$mt$d)\n}finally{__mt$g(0,$mt$d)}}"
  );
}

#[test]
fn empty_bodies_open_before_they_close() {
  assert_eq!(
    rewrite("function f() {}", SourceKind::Script),
    "function f() {var $mt$d;$mt$d=__mt$c(0);try{;++$mt$d}finally{__mt$g(0,$mt$d)}}"
  );
  assert_eq!(
    rewrite("function f() {'use strict'}", SourceKind::Script),
    "function f() {'use strict';var $mt$d;$mt$d=__mt$c(0);try{;++$mt$d}finally{__mt$g(0,$mt$d)}}"
  );
}

#[test]
fn keywords_are_never_glued_to_what_follows_them() {
  // Minified code, as tsx and bundlers write it.
  let out = rewrite("async function a(p){return await(p)}function*b(){yield[1];yield*[2]}", SourceKind::Script);
  assert!(
    out.contains("await (__mt$y)(0,(p),")
      && out.contains("yield (__mt$y)(1,[1],")
      && out.contains("yield* (__mt$y)(1,[2],"),
    "{out}"
  );
  let out = rewrite("async function c(){for await(const x of[p])f(x)}", SourceKind::Script);
  assert!(out.contains("of (__mt$i)(0,[p],"), "{out}");
  let out = rewrite("function d(){return(1)}function e(){return\n1}", SourceKind::Script);
  assert!(out.contains("return (__mt$h)((1),++$mt$d)") && out.contains("{++$mt$d;return}\n1"), "{out}");
  // A sequence is one value, its last.
  let out = rewrite("function f(){return a(),b}", SourceKind::Script);
  assert!(out.contains("return  (__mt$h)((0,a(),b),++$mt$d)"), "{out}");
}

#[test]
fn a_bare_yield_still_ends_its_statement_at_a_line_break() {
  let out = rewrite("function* g(){ yield\n [1,2].forEach(f) }", SourceKind::Script);
  assert!(out.contains("--$mt$s);\n [1,2]"), "{out}");
  // Where the next line could not continue an expression anyway, nothing is added.
  let out = rewrite("function* g(){ f(yield\n, 2) }", SourceKind::Script);
  assert!(out.contains("--$mt$s)\n, 2)"), "{out}");
}

#[test]
fn bodies_whose_declarations_would_clash_in_a_block_are_left_alone() {
  for source in [
    "function f(){ var g = 1; function g(){} return g }",
    "function f(){ function g(){} var g }",
    "function f(){ function g(){} function g(){} }",
    "function f(){ function g(){} eval('var g = 5') }",
    // V8 rejects these; in a block it would not.
    "function f(a){ let a; function g(){} }",
    "async function f({ a }){ const a = 1; function g(){} }",
  ] {
    let plan = plan(source, "/t.js", SourceKind::Script).unwrap();
    let out = plan.apply(source, 0);
    assert!(!out.contains("__mt$c(0)"), "{source} -> {out}");
    assert!(out.contains("__mt$c(1)"), "the inner function is still instrumented: {out}");
    assert_eq!(plan.skipped.len(), 1, "{source}");
  }
  assert!(plan("function f(){ function g(){} var h }", "/t.js", SourceKind::Script).unwrap().skipped.is_empty());
  assert!(plan("function f(a){ { let a } }", "/t.js", SourceKind::Script).unwrap().skipped.is_empty());
}

#[test]
fn a_source_that_declares_with_using_is_left_alone_where_the_runtime_does_not_know_using() {
  let source = "function f() {\n  using r = open()\n  return r.read()\n}\n";
  assert!(plan(source, "/t.js", SourceKind::CommonJs).unwrap().declares_using);
  assert!(!plan("const using = 1; using\n", "/t.js", SourceKind::CommonJs).unwrap().declares_using);
  let options = Options::default();
  assert!(instrument(source, "/t/using.js", SourceKind::CommonJs, options, None, false, false).is_err());
  let code = instrument(source, "/t/using.js", SourceKind::CommonJs, options, None, false, true).unwrap().code;
  assert!(code.contains("using r = open()"), "{code}");
}

#[test]
fn directives_stay_first() {
  assert_eq!(
    rewrite("function f() { 'use strict'\n  g() }", SourceKind::Script),
    "function f() { 'use strict';var $mt$d;$mt$d=__mt$c(0);try{\n  g() ;++$mt$d}finally{__mt$g(0,$mt$d)}}"
  );
  assert!(rewrite("function f() { \"use strict\"; }", SourceKind::Script)
    .starts_with("function f() { \"use strict\";var $mt$d;$mt$d=__mt$c(0);try{"));
}

#[test]
fn an_expression_arrow_becomes_a_block_that_returns_it() {
  assert_eq!(
    rewrite("const f = x => ({ x })", SourceKind::Script),
    "const f = x => {var $mt$d;$mt$d=__mt$c(0);try{return(__mt$h)(({ x }),++$mt$d)}finally{__mt$g(0,$mt$d)}}"
  );
}

#[test]
fn awaits_report_suspension_and_catch_blocks_report_resumption() {
  let out = rewrite("async function f() { try { await g() } catch (e) { h(e) } }", SourceKind::Script);
  assert_eq!(
    out,
    "async function f() {var $mt$s;$mt$s=__mt$b(0);try{ try { (__mt$u)(0,await  (__mt$y)(0,g(),++$mt$s),--$mt$s) } \
     catch (e) {$mt$s=__mt$k(0,$mt$s); h(e) } ;++$mt$s;++$mt$s}finally{$mt$s=__mt$k(0,$mt$s);__mt$w(0,$mt$s)}}"
  );
  // A generator can be ended from outside, which its `finally` cannot tell from a throw: it
  // reports EXCEPT from a `catch` that re-throws.
  let out = rewrite("function* g() { yield 1; return 2 }", SourceKind::Script);
  assert!(
    out.ends_with(
      "return 2 }catch($mt$e){$mt$s=__mt$k(0,$mt$s);__mt$x(0);throw $mt$e}finally{$mt$s=__mt$k(0,$mt$s);__mt$r(0)}}"
    ),
    "{out}"
  );
}

#[test]
fn nested_awaits_close_innermost_first() {
  let out = rewrite("async () => await await x", SourceKind::Script);
  assert!(
    out.contains("(__mt$u)(0,await  (__mt$y)(0,(__mt$u)(0,await  (__mt$y)(0,x,++$mt$s),--$mt$s),++$mt$s),--$mt$s)"),
    "{out}"
  );
}

#[test]
fn yields_with_and_without_arguments() {
  let out = rewrite("function* g() { yield; yield 1; yield* h() }", SourceKind::Script);
  assert!(out.contains("(__mt$u)(0,yield (__mt$y)(0,void 0,++$mt$s),--$mt$s);"), "{out}");
  assert!(out.contains("(__mt$u)(0,yield  (__mt$y)(0,1,++$mt$s),--$mt$s);"), "{out}");
  assert!(out.contains("(__mt$u)(0,yield*  (__mt$y)(0,h(),++$mt$s),--$mt$s)"), "{out}");
}

#[test]
fn for_await_wraps_its_iterable_and_reports_resumption_in_and_after_the_loop() {
  let out = rewrite("async function f(xs) { outer: for await (const x of xs) use(x) }", SourceKind::Script);
  assert!(
    out.contains(
      "{outer: for await (const x of  (__mt$i)(0,xs,()=>++$mt$s)) {$mt$s=__mt$k(0,$mt$s);use(x)};$mt$s=__mt$k(0,$mt$s)}"
    ),
    "{out}"
  );
}

#[test]
fn class_fields_are_wrapped_but_anonymous_functions_in_them_keep_their_names() {
  let out = rewrite("class A { x = make(); y = () => 1; static z = (function () {}) }", SourceKind::Script);
  assert!(out.starts_with("class A { x = ((__mt$c)(0),(__mt$p)(0,(make())/*$mt$*/));"), "{out}");
  assert!(out.contains("y = () => {var $mt$d;$mt$d=__mt$c(1)"), "{out}");
  assert!(out.contains("static z = (function () {var $mt$d;$mt$d=__mt$c(2)"), "{out}");
  assert_eq!(names("class A { x = make(); y = () => 1 }"), ["A.x", "A.y"]);
}

#[test]
fn names_follow_where_a_function_stands() {
  let source = "
    function decl() {}
    const arrow = () => {}, expr = function () {}, named = function inner() {};
    a.b.c = function () {};
    module.exports.run = async () => {};
    const obj = { key() {}, get x() { return 1 }, set x(v) {}, 'str-key': () => {}, [Symbol.iterator]: function* () {} };
    class K { constructor() {} method() {} static s() {} get g() { return 1 } set g(v) {} #p() {} static { } }
    const Anon = class { m() {} };
    export default function () {}
    function withDefault(cb = () => {}) {}
    call(() => {});
  ";
  assert_eq!(
    names(source),
    [
      "decl",
      "arrow",
      "expr",
      "inner",
      "a.b.c",
      "module.exports.run",
      "obj.key",
      "obj.get x",
      "obj.set x",
      "obj.str-key",
      "obj.[Symbol.iterator]",
      "K.constructor",
      "K.method",
      "K.s",
      "K.get g",
      "K.set g",
      "K.#p",
      "K.static",
      "Anon.m",
      "default",
      "withDefault",
      "cb",
      "<anonymous>",
    ]
  );
}

#[test]
fn sites_are_where_the_function_starts_in_the_original() {
  let source = "// é😀\nconst f = () => 1;\nclass A {\n  static async *gen() {}\n}";
  let sites = plan(source, "/t.js", SourceKind::Module).unwrap().sites;
  let at: Vec<(u32, u32)> = sites.iter().map(|s| (s.line, s.column)).collect();
  assert_eq!(at, [(1, 1), (2, 11), (4, 17)]);
}

#[test]
fn every_original_line_keeps_its_number() {
  let source = include_str!("../../tests/fixtures/constructs.js");
  let out = rewrite(source, SourceKind::Module);
  // The file ends in a line comment, after which the module's last insertion needs a line of
  // its own: one more line, after all the others.
  assert_eq!(out.lines().count(), source.lines().count() + 1);
  assert_eq!(out.lines().last(), Some(";__mt$r(0);"));
  for (original, instrumented) in source.lines().zip(out.lines()) {
    // What was on the line is still there, in order, with only insertions between.
    let mut rest = instrumented;
    for ch in original.chars() {
      let at = rest.find(ch).unwrap_or_else(|| panic!("{original:?} -> {instrumented:?}"));
      rest = &rest[at + ch.len_utf8()..];
    }
  }
}

#[test]
fn typescript_is_parsed_as_typescript_and_bodiless_declarations_are_skipped() {
  let source = "declare function d(): void;\nfunction o(a: string): void;\nfunction o(a: any) { return a as number }";
  let plan = plan(source, "/t/input.ts", SourceKind::Script).unwrap();
  assert_eq!(plan.sites.len(), 1);
  assert_eq!(plan.sites[0].name, "o");
}

#[test]
fn syntax_errors_say_where() {
  let err = plan("let x = 1;\nx +;\n", "/t.js", SourceKind::Script).unwrap_err();
  assert_eq!((err.line, err.column), (2, 4));
  assert!(err.to_string().ends_with("(2:4)"), "{err}");
  // A top-level return is fine in CommonJS and an error elsewhere.
  assert!(plan("return 1", "/t.js", SourceKind::CommonJs).is_ok());
  assert!(plan("return 1", "/t.js", SourceKind::Module).is_err());
}

#[test]
fn ids_start_where_the_table_says() {
  let source = "function a() {} function b() {}";
  let out = instrument(source, "/t/ids.js", SourceKind::Script, Options::default(), None, false, true).unwrap();
  let first: u64 =
    out.code["function a() {var $mt$d;$mt$d=__mt$c(".len()..].split(')').next().unwrap().parse().unwrap();
  let name = |id| crate::functions::with(id, |f| (f.file.to_string(), f.name.to_string())).unwrap();
  assert_eq!(name(first), ("/t/ids.js".into(), "a".into()));
  assert_eq!(name(first + 1), ("/t/ids.js".into(), "b".into()));
  assert!(out.code.contains(&format!("function b() {{var $mt$d;$mt$d=__mt$c({});", first + 1)));
  assert_eq!(out.functions, 2);
}

#[test]
fn names_given_by_bundler_helpers_are_kept() {
  assert_eq!(
    names("const f = /* @__PURE__ */ __name((x) => x * 2, \"f\");\nclass A { constructor() { __publicField(this, \"onTick\", () => 1) } }\n__name(function () {}, 42)"),
    ["f", "A.constructor", "A.onTick", "<anonymous>"]
  );
}

#[test]
fn a_commonjs_module_top_level_is_a_function_of_its_own() {
  assert_eq!(
    rewrite("'use strict'\nconst a = f()\nif (a) return\nmodule.exports = a", SourceKind::CommonJs),
    "'use strict';var $mt$d;$mt$d=__mt$c(0);try{\nconst a = f()\nif (a) {++$mt$d;return}\nmodule.exports = a;++$mt$d}finally{__mt$g(0,$mt$d)}"
  );
  let plan = plan("#!/usr/bin/env node\nrun() // go", "/t/bin.js", SourceKind::CommonJs).unwrap();
  assert_eq!((plan.sites[0].name.as_str(), plan.sites[0].line), ("<module>", 1));
  assert_eq!(
    plan.apply("#!/usr/bin/env node\nrun() // go", 0),
    "#!/usr/bin/env node\nvar $mt$d;$mt$d=__mt$c(0);try{run() // go\n;++$mt$d}finally{__mt$g(0,$mt$d)}"
  );
  // Declarations that would clash in a block leave the top level as it is, as for a function.
  assert!(!rewrite("var g = 1\nfunction g() {}", SourceKind::CommonJs).contains("__mt$c(0)"));
}

#[test]
fn an_es_module_top_level_reports_call_and_return_around_its_statements() {
  assert_eq!(
    rewrite("import x from 'y'\nexport default function f() {}", SourceKind::Module),
    "__mt$c(0);import x from 'y'\nexport default function f() {var $mt$d;$mt$d=__mt$c(1);try{;++$mt$d}finally{__mt$g(1,$mt$d)}};__mt$r(0);"
  );
  assert!(rewrite("'use strict'\nf()", SourceKind::Module).starts_with("'use strict';__mt$c(0);\nf()"));
  // A top level that awaits reports nothing of its own; its functions still do.
  let out = rewrite("await g()\nfunction h() {}", SourceKind::Module);
  assert!(!out.contains("__mt$c(0);await") && !out.contains("__mt$y(0,"), "{out}");
}

/// With LINE events: the instrumented text, ids from 0.
fn rewrite_lines(source: &str, kind: SourceKind) -> String {
  plan_with(source, "/t/input.js", kind, Options { lines: true, native_calls: false }).unwrap().apply(source, 0)
}

#[test]
fn lines_report_each_statement_as_it_completes_and_put_lone_ones_in_blocks() {
  let out =
    rewrite_lines("function f(a) {\n  const b = a + 1\n  if (b) g(b)\n  else h()\n  return b\n}", SourceKind::Script);
  assert_eq!(
    out,
    "function f(a) {var $mt$d;$mt$d=__mt$c(0);try{\n  const b = a + 1;__mt$l(1);\n  if (b) {g(b);__mt$l(3);}\n  else {h();__mt$l(4);};__mt$l(2);\n  return  (__mt$h)(b,++$mt$d)\n}finally{__mt$g(0,$mt$d)}}"
  );
  let plan = plan_with(
    "function f() {\n  g()\n}\nf()",
    "/t.js",
    SourceKind::Script,
    Options { lines: true, native_calls: false },
  )
  .unwrap();
  let lines: Vec<(&str, u32)> = plan.sites.iter().map(|s| (s.name.as_str(), s.line)).collect();
  assert_eq!(lines, [("<top level>", 4), ("f", 1), ("f", 2)]);
}

#[test]
fn lines_leave_declarations_labels_and_module_syntax_as_they_are() {
  let out = rewrite_lines(
    "import x from 'y'\nfunction f() {}\nouter: for (;;) break outer\nexport { x }\nexport const z = 1",
    SourceKind::Module,
  );
  assert!(out.contains("import x from 'y'\nfunction f() {"), "{out}");
  assert!(out.contains("outer: for (;;) break outer;__mt$l(1);\nexport { x }\n"), "{out}");
  assert!(out.contains("export const z = 1;__mt$l(2);"), "{out}");
  // Two statements that a line break ends, and one that it does not.
  assert_eq!(rewrite_lines("a = b\nc()", SourceKind::Script), "a = b;__mt$l(0);\nc();__mt$l(1);");
  assert_eq!(rewrite_lines("let a = b\n(c || d).run()", SourceKind::Script), "let a = b\n(c || d).run();__mt$l(0);");
  // Without lines, none of it.
  assert!(!rewrite("f()\ng()", SourceKind::Script).contains("__mt$l"));
}

/// The instrumented text with native calls on, ids counted from 0.
fn rewrite_calls(source: &str, kind: SourceKind) -> String {
  plan_with(source, "/t/input.js", kind, Options { lines: false, native_calls: true }).unwrap().apply(source, 0)
}

#[test]
fn calls_keep_their_receiver_and_report_after_their_arguments() {
  let body = |source: &str| {
    let out = rewrite_calls(&format!("function f(){{{source}}}"), SourceKind::Script);
    let start = out.find("try{").unwrap() + 4;
    out[start..out.rfind(";++$mt$d}").unwrap()].to_string()
  };
  assert_eq!(body("g(a, b)"), " (__mt$q)(1,($mt$f0=(__mt$h)(g),$mt$f0)(a, (__mt$n)(1,$mt$f0,b/*$mt$*/))/*$mt$*/)");
  assert_eq!(
    body("o.m(a)"),
    " (__mt$q)(1,($mt$f0=(__mt$h)(($mt$o0=(__mt$h)(o),$mt$o0).m),__mt$a)($mt$f0,$mt$o0,(__mt$n)(1,$mt$f0,a/*$mt$*/))/*$mt$*/)"
  );
  assert_eq!(
    body("o.m()"),
    " (__mt$q)(1,($mt$f0=(__mt$h)(($mt$o0=(__mt$h)(o),$mt$o0).m),__mt$a)((__mt$f)(1,$mt$f0/*$mt$*/),$mt$o0)/*$mt$*/)"
  );
  assert_eq!(body("g()"), " (__mt$q)(1,(__mt$f)(1,g/*$mt$*/)()/*$mt$*/)");
  assert_eq!(body("new C(a)"), " (__mt$q)(1,new ($mt$f0=(__mt$h)(C),$mt$f0)((__mt$n)(~1,$mt$f0,a/*$mt$*/))/*$mt$*/)");
  assert_eq!(body("new C"), " (__mt$q)(1,new ((__mt$f)(~1,C/*$mt$*/))/*$mt$*/)");
  assert_eq!(body("g(...xs)"), " (__mt$q)(1,($mt$f0=(__mt$h)(g),$mt$f0)(...xs,...(__mt$n)(1,$mt$f0,__mt$0))/*$mt$*/)");
  // A call in another's arguments uses the next temporary; one in its callee the same.
  assert!(
    body("g(h(x))").contains("($mt$f0=(__mt$h)(g),$mt$f0)((__mt$n)(1,$mt$f0, (__mt$q)(2,($mt$f1=(__mt$h)(h),$mt$f1)"),
    "{}",
    body("g(h(x))")
  );
  assert!(body("a.b(x).c(y)").starts_with(
    " (__mt$q)(1,($mt$f0=(__mt$h)(($mt$o0=(__mt$h)( (__mt$q)(2,($mt$f0=(__mt$h)(($mt$o0=(__mt$h)(a),$mt$o0).b),"
  ));
  // A computed key is evaluated after the receiver is kept: it uses the next temporaries.
  assert!(body("o[k(1)](x)").contains("[ (__mt$q)(2,($mt$f1=(__mt$h)(k),$mt$f1)"), "{}", body("o[k(1)](x)"));
  // `(o.m)()` is still a method call.
  assert!(body("(o.m)(1)").contains("(($mt$o0=(__mt$h)(o),$mt$o0).m)),__mt$a)"), "{}", body("(o.m)(1)"));
}

#[test]
fn calls_that_must_stay_as_they_are_do() {
  for source in [
    "function f(){ eval('x') }",
    "function f(){ o?.m(1) }",
    "function f(){ a?.b.c(1) }",
    "function f(){ f?.(1) }",
    "function f(){ throw new Error('x') }",
    "function f(a = g(1)){ }",
    "function f(){ with (o) { g(1) } }",
    "class A extends B { constructor(){ super(1); super.m(2) } }",
    "function f(){ (o.m as any)(1) }",
    "function f(){ tag`x${1}` }",
  ] {
    let path = if source.contains(" as ") { "/t/input.ts" } else { "/t/input.js" };
    let options = Options { lines: false, native_calls: true };
    let out = plan_with(source, path, SourceKind::Script, options).unwrap().apply(source, 0);
    assert!(!out.contains("__mt$q"), "{source} -> {out}");
  }
  // Calls nested deeper than the temporaries are left as they are, the outer ones are not.
  let out = rewrite_calls("function f(){ a(b(c(d(e(1))))) }", SourceKind::Script);
  assert_eq!(out.matches("(__mt$q)(").count(), TEMPORARIES as usize, "{out}");
  // A script's top level has no function to hold temporaries.
  assert!(!rewrite_calls("g(1)", SourceKind::Script).contains("__mt$q"));
  assert!(rewrite_calls("g(1)", SourceKind::CommonJs).contains("(__mt$q)("));
  assert!(rewrite_calls("g(1)", SourceKind::Module).starts_with("var $mt$d,$mt$f0,$mt$o0;__mt$c(0);"));
}

#[test]
fn catch_clauses_report_the_native_calls_that_threw() {
  let out = rewrite_calls("function f(){ try { g(1) } catch { h() } }", SourceKind::Script);
  assert!(out.contains("catch {__mt$z();  (__mt$q)("), "{out}");
  // Without native calls, nothing is added.
  assert!(!rewrite("function f(){ try { g(1) } catch { h() } }", SourceKind::Script).contains("__mt$z"));
}

#[test]
fn call_sites_are_named_as_v8_prints_the_callee() {
  let options = Options { lines: false, native_calls: true };
  let source = "function f(){\n  JSON.parse(s)\n  this.items.push(1)\n  list[0].at(1)\n  o['x'](1)\n  make().run(1)\n  new Map()\n  'abc'.repeat(2)\n}";
  let sites = plan_with(source, "/t.js", SourceKind::Script, options).unwrap().sites;
  let calls: Vec<(u32, &str)> = sites[1..].iter().map(|site| (site.line, site.name.as_str())).collect();
  assert_eq!(
    calls,
    [
      (2, "JSON.parse"),
      (3, "this.items.push"),
      (4, "list[0].at"),
      (5, "o.x"),
      (6, "make(...).run"),
      (6, "make"),
      (7, "new Map"),
      (8, "\"abc\".repeat"),
    ]
  );
}

#[test]
fn a_name_called_in_with_stays_as_it_is_with_lines_too() {
  let options = Options { lines: true, native_calls: true };
  let source = "function f(o){ with (o) g(1); h(2) }";
  let out = plan_with(source, "/t.js", SourceKind::Script, options).unwrap().apply(source, 0);
  assert!(out.contains("with (o) {g(1);;__mt$l("), "{out}");
  assert!(out.contains(" (__mt$q)(") && out.contains("=(__mt$h)(h),"), "h() is outside the with: {out}");
}
