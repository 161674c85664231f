//! Byte offsets to the 1-based line and UTF-16 column that JS stack traces use.
//!
//! Line terminators are ECMAScript's (and V8's): `\n`, `\r\n`, `\r`, U+2028 and U+2029.

pub struct LineIndex {
  /// Byte offset where each line starts.
  starts: Vec<u32>,
  /// Whether each line is pure ASCII, so that its UTF-16 column is a subtraction.
  ascii: Vec<bool>,
}

impl LineIndex {
  pub fn new(source: &str) -> LineIndex {
    let bytes = source.as_bytes();
    let mut starts = vec![0u32];
    let mut ascii = vec![true];
    let mut i = 0;
    while i < bytes.len() {
      match bytes[i] {
        b'\n' | b'\r' => {
          if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
          }
          starts.push(i as u32 + 1);
          ascii.push(true);
        }
        // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
        0xE2 if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)) => {
          if let Some(last) = ascii.last_mut() {
            *last = false;
          }
          i += 2;
          starts.push(i as u32 + 1);
          ascii.push(true);
        }
        byte if byte >= 0x80 => {
          if let Some(last) = ascii.last_mut() {
            *last = false;
          }
        }
        _ => {}
      }
      i += 1;
    }
    LineIndex { starts, ascii }
  }

  /// 1-based line and 1-based UTF-16 column of byte `offset` in `source`.
  pub fn line_column(&self, source: &str, offset: u32) -> (u32, u32) {
    let line = self.starts.partition_point(|&start| start <= offset) - 1;
    let start = self.starts[line];
    let column = if self.ascii[line] {
      offset - start
    } else {
      source[start as usize..offset as usize].encode_utf16().count() as u32
    };
    (line as u32 + 1, column + 1)
  }

  /// Byte offsets of the start of 0-based `line` and of the line after it (`length` for the
  /// last), so the line's terminator is in the span.
  pub fn span(&self, line: u32, length: u32) -> Option<(u32, u32)> {
    let start = *self.starts.get(line as usize)?;
    Some((start, self.starts.get(line as usize + 1).copied().unwrap_or(length)))
  }

  /// Whether 0-based `line` is pure ASCII.
  pub fn is_ascii(&self, line: u32) -> bool {
    self.ascii.get(line as usize).copied().unwrap_or(false)
  }

  #[cfg(test)]
  pub fn lines(&self) -> usize {
    self.starts.len()
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn every_ecmascript_line_terminator_counts() {
    let source = "a\nb\r\nc\rd\u{2028}e\u{2029}f";
    let index = LineIndex::new(source);
    assert_eq!(index.lines(), 6);
    for (letter, line) in [('a', 1), ('b', 2), ('c', 3), ('d', 4), ('e', 5), ('f', 6)] {
      let offset = source.find(letter).unwrap() as u32;
      assert_eq!(index.line_column(source, offset), (line, 1), "{letter}");
    }
  }

  #[test]
  fn columns_count_utf16_units() {
    let source = "const é = '😀'; function h() {}";
    let offset = source.find("function").unwrap() as u32;
    // 'é' is one UTF-16 unit, '😀' two: 16 columns before `function`.
    assert_eq!(LineIndex::new(source).line_column(source, offset), (1, 17));
  }
}
