//! User text in a log: the message line above `SOF` and the text of `MSG:` rows.
//!
//! Any JavaScript string must come back exactly as it was given, yet stay one line that reads
//! as written and that `grep` finds. So the text is written as it is, but for these escapes:
//!
//! * `\\` for a backslash;
//! * `\n`, `\r`, `\t` for those characters;
//! * `\uXXXX` (four hex digits) for any other control or line-breaking character, for a lone
//!   surrogate (which UTF-8 cannot hold), and for a space that ends the text (readers drop the
//!   spaces that pad a row).
//!
//! The empty string is written as nothing. Strings are taken and given back as UTF-16 code units,
//! as JavaScript holds them.

use super::ParseError;

/// `units` as written in a log.
pub fn escape(units: &[u16]) -> String {
  let mut out = String::with_capacity(units.len());
  for unit in char::decode_utf16(units.iter().copied()) {
    match unit {
      Ok('\\') => out.push_str("\\\\"),
      Ok('\n') => out.push_str("\\n"),
      Ok('\r') => out.push_str("\\r"),
      Ok('\t') => out.push_str("\\t"),
      Ok(c) if c.is_control() || (c.is_whitespace() && c != ' ') => push_unit(&mut out, c as u16),
      Ok(c) => out.push(c),
      Err(lone) => push_unit(&mut out, lone.unpaired_surrogate()),
    }
  }
  if out.ends_with(' ') {
    out.pop();
    push_unit(&mut out, u16::from(b' '));
  }
  out
}

/// The same for text that is already a Rust string (no lone surrogates).
pub fn escape_str(text: &str) -> String {
  escape(&text.encode_utf16().collect::<Vec<_>>())
}

fn push_unit(out: &mut String, unit: u16) {
  out.push_str(&format!("\\u{unit:04X}"));
}

/// The UTF-16 code units that [`escape`] turned into `text`.
pub fn unescape(text: &str) -> Result<Vec<u16>, ParseError> {
  let mut out = Vec::with_capacity(text.len());
  let mut chars = text.chars();
  while let Some(c) = chars.next() {
    if c != '\\' {
      let mut buf = [0u16; 2];
      out.extend_from_slice(c.encode_utf16(&mut buf));
      continue;
    }
    match chars.next() {
      Some('\\') => out.push(u16::from(b'\\')),
      Some('n') => out.push(u16::from(b'\n')),
      Some('r') => out.push(u16::from(b'\r')),
      Some('t') => out.push(u16::from(b'\t')),
      Some('u') => {
        let hex: String = chars.by_ref().take(4).collect();
        let unit = (hex.len() == 4).then(|| u16::from_str_radix(&hex, 16).ok()).flatten();
        out.push(unit.ok_or_else(|| ParseError(format!("\\u{hex} is not \\u and four hex digits")))?);
      }
      other => {
        return Err(ParseError(format!(
          "{:?} is not an escape (\\\\, \\n, \\r, \\t or \\uXXXX)",
          other.map_or("\\".to_string(), |c| format!("\\{c}"))
        )))
      }
    }
  }
  Ok(out)
}

#[cfg(test)]
mod tests {
  use super::*;

  fn units(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
  }

  #[test]
  fn ordinary_text_is_written_as_it_is() {
    assert_eq!(escape(&units("index built: 4,096 pages # done")), "index built: 4,096 pages # done");
    assert_eq!(escape(&units("naïve 🚀 ok")), "naïve 🚀 ok");
  }

  #[test]
  fn every_string_comes_back_exactly() {
    let lone = [u16::from(b'a'), 0xD800, u16::from(b'b'), 0xDC00];
    let cases: Vec<Vec<u16>> = vec![
      units(""),
      units(" "),
      units("   "),
      units("ends with a space "),
      units("  leads with two"),
      units("two\nlines\r\n\tand a tab"),
      units("back\\slash \\n not a newline"),
      units("nul\0 bell\x07 del\x7f next\u{85} separator\u{2028}"),
      lone.to_vec(),
    ];
    for case in cases {
      let written = escape(&case);
      assert!(!written.contains(['\n', '\r']) && !written.ends_with(' '), "{written:?}");
      assert!(written.chars().all(|c| !c.is_control()), "{written:?}");
      assert_eq!(unescape(&written).unwrap(), case, "{written:?}");
    }
    assert_eq!(escape(&lone), "a\\uD800b\\uDC00");
    assert_eq!(escape(&units("x ")), "x\\u0020");
  }

  #[test]
  fn a_broken_escape_is_an_error() {
    assert!(unescape("a\\").is_err());
    assert!(unescape("a\\q").is_err());
    assert!(unescape("\\u12").is_err());
    assert!(unescape("\\u12G4").is_err());
  }
}
