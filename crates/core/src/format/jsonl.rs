//! JSON Lines, for the monitor's log (and JSON objects for the exports): one object per line,
//! built by hand because the rows are few and flat (a serializer would be a dependency for
//! eight field types).

use std::fmt::Write;

/// One JSON object, built field by field: `Object::new().number("t", 1).finish()`.
pub struct Object(String);

/// What [`Object::number`] writes: integers as they are, floats as JSON allows (no NaN).
pub trait Number {
  fn write(&self, out: &mut String);
}

impl Number for u64 {
  fn write(&self, out: &mut String) {
    out.push_str(itoa::Buffer::new().format(*self));
  }
}

impl Number for u32 {
  fn write(&self, out: &mut String) {
    out.push_str(itoa::Buffer::new().format(*self));
  }
}

impl Number for i64 {
  fn write(&self, out: &mut String) {
    out.push_str(itoa::Buffer::new().format(*self));
  }
}

impl Number for i32 {
  fn write(&self, out: &mut String) {
    out.push_str(itoa::Buffer::new().format(*self));
  }
}

impl Number for f64 {
  fn write(&self, out: &mut String) {
    if self.is_finite() {
      let _ = write!(out, "{self}");
    } else {
      out.push_str("null");
    }
  }
}

impl Default for Object {
  fn default() -> Self {
    Object::new()
  }
}

impl Object {
  pub fn new() -> Object {
    Object(String::from("{"))
  }

  fn key(&mut self, key: &str) {
    if self.0.len() > 1 {
      self.0.push(',');
    }
    push_string(&mut self.0, key);
    self.0.push(':');
  }

  pub fn string(mut self, key: &str, value: &str) -> Object {
    self.key(key);
    push_string(&mut self.0, value);
    self
  }

  /// A string given as UTF-16 code units (a JavaScript string), lone surrogates included.
  pub fn string_utf16(mut self, key: &str, units: &[u16]) -> Object {
    self.key(key);
    push_chars(&mut self.0, char::decode_utf16(units.iter().copied()).map(|c| c.map_err(|e| e.unpaired_surrogate())));
    self
  }

  pub fn number(mut self, key: &str, value: impl Number) -> Object {
    self.key(key);
    value.write(&mut self.0);
    self
  }

  /// Seconds, to the microsecond.
  pub fn seconds(mut self, key: &str, value: f64) -> Object {
    self.key(key);
    let _ = write!(self.0, "{value:.6}");
    self
  }

  pub fn null(mut self, key: &str) -> Object {
    self.key(key);
    self.0.push_str("null");
    self
  }

  /// A value that is JSON already.
  pub fn raw(mut self, key: &str, json: &str) -> Object {
    self.key(key);
    self.0.push_str(json);
    self
  }

  /// The object as a line of the log.
  pub fn finish(mut self) -> String {
    self.0.push_str("}\n");
    self.0
  }

  /// The object as a value inside another.
  pub fn finish_inline(mut self) -> String {
    self.0.push('}');
    self.0
  }
}

fn push_string(out: &mut String, text: &str) {
  push_chars(out, text.chars().map(Ok));
}

/// A JSON string of `chars`, where `Err` is a lone surrogate (written as `\uXXXX`, which JSON
/// allows and JavaScript reads back as the same string).
fn push_chars(out: &mut String, chars: impl Iterator<Item = Result<char, u16>>) {
  out.push('"');
  for ch in chars {
    let Ok(ch) = ch.map_err(|unit| write!(out, "\\u{unit:04x}")) else { continue };
    match ch {
      '"' => out.push_str("\\\""),
      '\\' => out.push_str("\\\\"),
      '\n' => out.push_str("\\n"),
      '\r' => out.push_str("\\r"),
      '\t' => out.push_str("\\t"),
      // Also U+2028/2029, which JavaScript before ES2019 could not have in a string literal.
      c if c < ' ' || c == '\u{2028}' || c == '\u{2029}' => {
        let _ = write!(out, "\\u{:04x}", c as u32);
      }
      c => out.push(c),
    }
  }
  out.push('"');
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn objects_are_json_on_one_line() {
    let row = Object::new()
      .string("type", "mark")
      .seconds("t", 1.5)
      .number("rss", 4096u64)
      .number("ratio", 0.25)
      .number("nan", f64::NAN)
      .string("label", "a \"quoted\"\\ line\nbreak\u{1}\u{2028}é")
      .null("signal")
      .raw("list", "[1,2]")
      .finish();
    assert_eq!(
      row,
      "{\"type\":\"mark\",\"t\":1.500000,\"rss\":4096,\"ratio\":0.25,\"nan\":null,\
       \"label\":\"a \\\"quoted\\\"\\\\ line\\nbreak\\u0001\\u2028é\",\"signal\":null,\"list\":[1,2]}\n"
    );
    assert_eq!(row.matches('\n').count(), 1);
  }
}
