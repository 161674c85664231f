//! Reading a profiler log as a stream of rows, each checked against where it may stand
//! (`[message] SOF HEDR STCK* FRST (NEXT|PREV|MSG|HEAP|STCK)* LAST EOF`): what every form of a report is
//! made from, the totals of [`crate::report`] and the files of [`crate::export`]. One line at a
//! time, so a log of any size streams through in constant memory.

use std::io::{self, BufRead};

use crate::format::binary::{self, TextOf};
use crate::format::{parse_row, text, LogRow, RowKind, START_OF_FILE};

/// The longest line read. Rows are a few hundred bytes, and file names and messages rarely
/// more; a longer line is garbage (a crash can leave a file full of NULs), and reading it
/// whole would take memory without bound.
pub const MAX_LINE: usize = 1 << 20;

/// Why a log could not be read: what is wrong and on which line (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ReportError {
  pub line: u64,
  pub reason: String,
}

/// A log's bytes: a text log's as they are, a binary log's as the text it holds.
enum Input<R> {
  Text(R),
  Binary(TextOf<R>),
}

impl<R: BufRead> Input<R> {
  fn of(mut input: R) -> Input<R> {
    // An input that cannot be read says so at the first line.
    if input.fill_buf().is_ok_and(binary::is_binary) {
      Input::Binary(TextOf::new(input))
    } else {
      Input::Text(input)
    }
  }
}

impl<R: BufRead> io::Read for Input<R> {
  fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
    match self {
      Input::Text(input) => input.read(buf),
      Input::Binary(input) => input.read(buf),
    }
  }
}

impl<R: BufRead> BufRead for Input<R> {
  fn fill_buf(&mut self) -> io::Result<&[u8]> {
    match self {
      Input::Text(input) => input.fill_buf(),
      Input::Binary(input) => input.fill_buf(),
    }
  }

  fn consume(&mut self, amount: usize) {
    match self {
      Input::Text(input) => input.consume(amount),
      Input::Binary(input) => input.consume(amount),
    }
  }
}

/// The text of a log, text or binary (see [`binary`]): a binary log formatted row by row.
pub fn text_of<R: BufRead>(input: R) -> impl BufRead {
  Input::of(input)
}

/// Reads lines of at most [`MAX_LINE`] bytes (without their line break).
struct Lines<R> {
  input: Input<R>,
  line: Vec<u8>,
}

/// What [`Lines::next`] read into its buffer.
enum Line {
  /// A whole line; `ended` says whether a line break followed it.
  Text {
    ended: bool,
  },
  TooLong,
  /// NUL bytes: what a file holds where a crash cut it short, never text.
  Nul,
}

impl<R: BufRead> Lines<R> {
  fn next(&mut self) -> io::Result<Option<Line>> {
    self.line.clear();
    loop {
      let chunk = self.input.fill_buf()?;
      if chunk.is_empty() {
        return Ok((!self.line.is_empty()).then_some(Line::Text { ended: false }));
      }
      let (take, ended) = match chunk.iter().position(|&b| b == b'\n') {
        Some(at) => (at, true),
        None => (chunk.len(), false),
      };
      if chunk[..take].contains(&0) {
        return Ok(Some(Line::Nul));
      }
      if self.line.len() + take > MAX_LINE {
        return Ok(Some(Line::TooLong));
      }
      self.line.extend_from_slice(&chunk[..take]);
      self.input.consume(take + usize::from(ended));
      if ended {
        return Ok(Some(Line::Text { ended: true }));
      }
    }
  }
}

/// A log, text or binary, row by row.
pub struct LogReader<R> {
  lines: Lines<R>,
  number: u64,
  state: State,
  message: Option<String>,
}

impl<R: BufRead> LogReader<R> {
  pub fn new(input: R) -> Self {
    LogReader {
      lines: Lines { input: Input::of(input), line: Vec::new() },
      number: 0,
      state: State::Start,
      message: None,
    }
  }

  /// The next row, or None at the end of the input. An error names the line that is not what
  /// the log should hold there; an input with no SOF at all is one too.
  pub fn next_row(&mut self) -> Result<Option<LogRow<'_>>, ReportError> {
    loop {
      self.number += 1;
      let number = self.number;
      let fail = |reason: String| ReportError { line: number, reason };
      // What the line is, in values that do not hold on to it, so that a line that is no row
      // can be stepped over and the next one read into the same buffer.
      let ended = match self.lines.next().map_err(|err| fail(format!("cannot be read: {err}")))? {
        None if self.state == State::Start => {
          return Err(ReportError { line: 1, reason: "the file is empty or is not a memtrace log (no SOF)".into() });
        }
        None => return Ok(None),
        Some(Line::TooLong) => return Err(fail(format!("is longer than {} MiB: not a row of a log", MAX_LINE >> 20))),
        Some(Line::Nul) => return Err(fail("holds NUL bytes, as a file does where a crash cut it short".into())),
        Some(Line::Text { ended }) => ended,
      };
      // Lines that are no rows are stepped over before the row is parsed: the row holds on to
      // the line, and the next line is read into the same buffer.
      let skip = {
        let text = row_text(&self.lines.line).ok_or_else(|| fail("is not UTF-8 text".into()))?;
        match self.state {
          State::Ended if text.is_empty() => true,
          State::Ended => return Err(fail("comes after EOF".into())),
          State::Start if text != START_OF_FILE && number == 1 => {
            text::unescape(text).map_err(|err| fail(format!("the message line: {}", err.0)))?;
            self.message = Some(text.to_string());
            true
          }
          State::Start if text != START_OF_FILE => {
            return Err(fail("the log does not start with SOF (or a message line and then SOF)".into()));
          }
          _ => false,
        }
      };
      if skip {
        continue;
      }
      let text = row_text(&self.lines.line).unwrap_or_default();
      let row = parse_row(text).map_err(|err| {
        fail(if ended { err.0 } else { format!("the row is cut short (was the file truncated?): {}", err.0) })
      })?;
      if let LogRow::Message { text, .. } = &row {
        text::unescape(text).map_err(|err| fail(format!("the MSG: row's text: {}", err.0)))?;
      }
      self.state = match (self.state, &row) {
        (State::Start, LogRow::Start) => State::Header,
        // The message line was "SOF" itself.
        (State::Header, LogRow::Start) if number == 2 && self.message.is_none() => {
          self.message = Some(START_OF_FILE.to_string());
          State::Header
        }
        (State::Header, LogRow::Header) => State::First,
        (State::First, LogRow::Event(e)) if e.kind == RowKind::First => State::Rows,
        (State::First | State::Rows, LogRow::Message { .. } | LogRow::Heap { .. } | LogRow::Stack { .. }) => self.state,
        (State::Rows, LogRow::Event(e)) if matches!(e.kind, RowKind::Next | RowKind::Prev) => State::Rows,
        (State::Rows, LogRow::Event(e)) if e.kind == RowKind::Last => State::Last,
        (State::Last, LogRow::End) => State::Ended,
        (state, _) => return Err(fail(format!("{} was expected here", state.expected()))),
      };
      return Ok(Some(row));
    }
  }

  /// The line above SOF, as written (escaped).
  pub fn message(&self) -> Option<&str> {
    self.message.as_deref()
  }

  /// Whether the FRST row has been read: a log damaged after it is still worth reading up to
  /// the damage, one damaged before it is no log.
  pub fn started(&self) -> bool {
    matches!(self.state, State::Rows | State::Last | State::Ended)
  }
}

/// A line as text: rows may end in spaces (see `sink`), and a log edited on Windows in '\r'.
fn row_text(line: &[u8]) -> Option<&str> {
  std::str::from_utf8(line).ok().map(|text| text.trim_end_matches([' ', '\r']))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
  Start,
  Header,
  First,
  Rows,
  Last,
  Ended,
}

impl State {
  fn expected(self) -> &'static str {
    match self {
      State::Start => "SOF",
      State::Header => "the HEDR: row",
      State::First => "the FRST: row",
      State::Rows => "a NEXT:, PREV:, MSG:, HEAP:, STCK: or LAST: row",
      State::Last => "EOF",
      State::Ended => "nothing",
    }
  }
}
