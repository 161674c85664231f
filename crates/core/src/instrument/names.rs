//! Names for functions in the function table: the declared name, or the one a reader would give
//! an anonymous function from where it stands (`const f = () => {}` is `f`, a method is
//! `Class.method`, `a.b = function () {}` is `a.b`), or `<anonymous>`.

use oxc_ast::ast::{AssignmentTarget, Expression, MethodDefinitionKind, PropertyKey, PropertyKind};
use oxc_ast::AstKind;
use oxc_span::{GetSpan, Span};

pub const ANONYMOUS: &str = "<anonymous>";

/// Nodes that only wrap an expression: `(x)`, and TypeScript's `x as T`, `x!`, `x satisfies T`.
pub fn is_wrapper(kind: &AstKind) -> bool {
  matches!(
    kind,
    AstKind::ParenthesizedExpression(_)
      | AstKind::TSAsExpression(_)
      | AstKind::TSSatisfiesExpression(_)
      | AstKind::TSNonNullExpression(_)
      | AstKind::TSTypeAssertion(_)
  )
}

/// `key`, `#private`, `'str-key'`, `[computed]`.
pub fn key_name(key: &PropertyKey, source: &str) -> String {
  match key {
    PropertyKey::PrivateIdentifier(private) => format!("#{}", private.name),
    _ => match key.static_name() {
      Some(name) => name.into_owned(),
      None => format!("[{}]", key.span().source_text(source)),
    },
  }
}

fn accessor(kind: MethodDefinitionKind) -> &'static str {
  match kind {
    MethodDefinitionKind::Get => "get ",
    MethodDefinitionKind::Set => "set ",
    _ => "",
  }
}

/// The name of the node at `span`, from its ancestors (innermost last).
pub fn infer(parents: &[AstKind], span: Span, source: &str) -> Option<String> {
  let mut i = parents.len();
  while i > 0 && is_wrapper(&parents[i - 1]) {
    i -= 1;
  }
  let within = |outer: Span| outer.start <= span.start && span.end <= outer.end;
  let class = || class_name(&parents[..i - 1], source);
  match parents.get(i.checked_sub(1)?)? {
    AstKind::VariableDeclarator(d) if d.init.as_ref().is_some_and(|e| within(e.span())) => {
      d.id.get_identifier_name().map(|name| name.to_string())
    }
    AstKind::AssignmentExpression(a) if within(a.right.span()) => match &a.left {
      AssignmentTarget::AssignmentTargetIdentifier(id) => Some(id.name.to_string()),
      target if target.as_member_expression().is_some() => Some(target.span().source_text(source).to_string()),
      _ => None,
    },
    AstKind::ObjectProperty(p) if within(p.value.span()) => {
      let prefix = match p.kind {
        PropertyKind::Get => "get ",
        PropertyKind::Set => "set ",
        PropertyKind::Init => "",
      };
      let key = format!("{prefix}{}", key_name(&p.key, source));
      // `obj = { key() {} }` reads best as `obj.key`.
      Some(match object_owner(&parents[..i - 1], source) {
        Some(owner) => format!("{owner}.{key}"),
        None => key,
      })
    }
    AstKind::MethodDefinition(m) if m.kind == MethodDefinitionKind::Constructor => {
      Some(format!("{}.constructor", class()))
    }
    AstKind::MethodDefinition(m) => Some(format!("{}.{}{}", class(), accessor(m.kind), key_name(&m.key, source))),
    AstKind::PropertyDefinition(p) if p.value.as_ref().is_some_and(|v| within(v.span())) => {
      Some(format!("{}.{}", class(), key_name(&p.key, source)))
    }
    AstKind::FormalParameter(p) if p.initializer.as_ref().is_some_and(|e| within(e.span())) => {
      p.pattern.get_identifier_name().map(|name| name.to_string())
    }
    AstKind::AssignmentPattern(p) if within(p.right.span()) => {
      p.left.get_identifier_name().map(|name| name.to_string())
    }
    AstKind::AssignmentTargetWithDefault(t) if within(t.init.span()) => {
      t.binding.get_identifier_name().map(|name| name.to_string())
    }
    AstKind::ExportDefaultDeclaration(_) => Some("default".to_string()),
    AstKind::CallExpression(call) => helper_name(call, span, class),
    _ => None,
  }
}

/// The name bundlers' helpers give a function they wrap: esbuild's (and so tsx's) keep-names
/// `__name(fn, "f")`, and class fields lowered to `__publicField(this, "key", fn)`.
fn helper_name(call: &oxc_ast::ast::CallExpression, span: Span, class: impl Fn() -> String) -> Option<String> {
  let oxc_ast::ast::Expression::Identifier(callee) = &call.callee else { return None };
  let argument = |i: usize| call.arguments.get(i).and_then(|a| a.as_expression());
  let literal = |i: usize| match argument(i)? {
    oxc_ast::ast::Expression::StringLiteral(s) => Some(s.value.to_string()),
    _ => None,
  };
  let is = |i: usize| argument(i).is_some_and(|e| e.span() == span);
  match callee.name.as_str() {
    "__name" if is(0) => literal(1),
    "__publicField" if is(2) => literal(1).map(|key| format!("{}.{key}", class())),
    _ => None,
  }
}

/// For an object literal whose property is being named: the variable or member it is assigned
/// to, if any. `parents` ends with the ObjectExpression.
fn object_owner(parents: &[AstKind], source: &str) -> Option<String> {
  let (last, rest) = parents.split_last()?;
  match last {
    AstKind::ObjectExpression(object) => infer(rest, object.span, source),
    _ => None,
  }
}

/// The nearest enclosing class's name: its own, or the one it gets from where it stands
/// (`const Anon = class {}`), or `<anonymous class>`.
pub fn class_name(parents: &[AstKind], source: &str) -> String {
  for (i, kind) in parents.iter().enumerate().rev() {
    if let AstKind::Class(class) = kind {
      return match &class.id {
        Some(id) => id.name.to_string(),
        None => infer(&parents[..i], class.span, source).unwrap_or_else(|| "<anonymous class>".into()),
      };
    }
  }
  "<anonymous class>".into()
}

/// A callee as V8 prints it in "… is not a function" (and as a user would write it): `f`,
/// `JSON.parse`, `this.items.push`, `list[0].at`, `make(...).run`; what V8 would not print by
/// its text is `(intermediate value)`.
pub fn callee(expression: &Expression, source: &str) -> String {
  let mut out = String::new();
  print_callee(expression, source, &mut out);
  out
}

fn print_callee(expression: &Expression, source: &str, out: &mut String) {
  match expression {
    Expression::Identifier(id) => out.push_str(&id.name),
    Expression::ThisExpression(_) => out.push_str("this"),
    Expression::Super(_) => out.push_str("super"),
    Expression::ParenthesizedExpression(p) => print_callee(&p.expression, source, out),
    // A string that could not stand in a one-line name is just a value.
    Expression::StringLiteral(s) if s.value.len() <= 40 && !s.value.contains(char::is_control) => {
      out.push('"');
      out.push_str(&s.value);
      out.push('"');
    }
    Expression::NumericLiteral(n) => out.push_str(n.span.source_text(source)),
    Expression::StaticMemberExpression(m) => {
      print_callee(&m.object, source, out);
      out.push_str(if m.optional { "?." } else { "." });
      out.push_str(&m.property.name);
    }
    Expression::PrivateFieldExpression(m) => {
      print_callee(&m.object, source, out);
      out.push_str(if m.optional { "?.#" } else { ".#" });
      out.push_str(&m.field.name);
    }
    Expression::ComputedMemberExpression(m) => {
      print_callee(&m.object, source, out);
      match &m.expression {
        // V8 prints `o["x"]` as `o.x`.
        Expression::StringLiteral(s) if is_identifier_name(&s.value) => {
          out.push('.');
          out.push_str(&s.value);
        }
        key => {
          out.push('[');
          print_callee(key, source, out);
          out.push(']');
        }
      }
    }
    Expression::CallExpression(call) => {
      print_callee(&call.callee, source, out);
      out.push_str("(...)");
    }
    _ => out.push_str("(intermediate value)"),
  }
}

fn is_identifier_name(text: &str) -> bool {
  let mut chars = text.chars();
  chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
    && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
}
