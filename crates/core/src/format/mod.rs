//! The profiler's log: a fixed-width text format, one row per line, compatible with the
//! cPyMemTrace log of pymemtrace 0.1 (the seed's technical note) so that `grep`, `awk` and
//! `sort` work on it and tools written for one read the other.
//!
//! ```text
//! An optional message line, as given by the user
//! SOF
//! HEDR: Event        dEvent  Clock        What     File                                     #line Function                          RSS         dRSS
//! FRST: 0            +0      0.000021     LINE     /app/main.js                             #  12 main                          45109248     45109248
//! NEXT: 117          +117    0.004113     CALL     /app/lib/parse.js                        #  40 parseAll                      49303552      4194304
//! PREV: 301          +184    0.004912     CALL     /app/lib/parse.js                        #  88 readChunk                     49303552            0
//! NEXT: 302          +185    0.004918     RETURN   /app/lib/parse.js                        #  88 readChunk                     53497856      4194304
//! MSG:  302          +185    0.005002     # after the first pass
//! LAST: 4210         +3908   0.031977     LINE     /app/main.js                             #  30 main                          53497856            0
//! EOF
//! ```
//! (The File column is 80 wide; it is narrowed above.) Columns, as `printf` would write them:
//! `%-12u +%-6d %-12.6f %-8s %-80s#%4d %-32s %12u %12d`. A value wider than its column
//! pushes the rest of the row right, as in the seed; nothing is cut. A line may end in spaces,
//! which keep it within one page of the file (see `sink`); readers ignore them.
//!
//! * Event: the number of the event, counting every event whether logged or not. FRST is
//!   event 0 (where the profiler started); events are 1, 2, …; LAST is one past the last event
//!   (where it stopped).
//! * dEvent and dRSS: against the last FRST or NEXT row, the filter's reference point. A NEXT
//!   row is written when |dRSS| reaches the trigger; a PREV row is the event just before a
//!   NEXT, written when that event was not itself logged.
//! * Clock: seconds since the profiler started, on a monotonic clock. (cPyMemTrace writes the
//!   process's CPU time; wall time lines up with the monitor's timeline and with what a user
//!   waited for.)
//! * RSS: bytes.
//! * GC rows (What `GC`, with the profiler's `gc` option): a garbage collection (or a phase V8
//!   reports as one: incremental marking, weak callbacks), after the last event counted before
//!   it. File is `<gc>`, Function its kind and duration (`scavenge (0.412 ms)`, see [`gc`]),
//!   Clock its start, RSS just after it, and dRSS what RSS moved while it ran, filtered by the
//!   trigger. It is no reference for the rows after it: they count from the event row before,
//!   as JS filters events, so their dRSS may count the collection's again.
//! * HEAP: V8's heap just after each collection (with `gc`), after its GC row, at the clock it
//!   ended: `HEAP: 302 +0 0.005102 # used 10934512 total 16777216 external 2351230 arrayBuffers 1048576`,
//!   bytes of the JS heap used and reserved, of memory outside it that JS objects hold
//!   (external), and of that, what ArrayBuffers and Buffers hold (arrayBuffers, where the
//!   runtime lets it be read; the figure is left out otherwise). A series, not events: one for
//!   every collection, unfiltered.
//! * STCK: a call stack, written before the first row that names it (with the profiler's
//!   `stacks`, the default): `STCK: @17 @12 <File> #<line> <Function>` is stack 17, stack 12
//!   with that function called on top of it. Stack `@0` is the empty one: top-level code.
//!   FRST, NEXT, PREV and LAST rows then end in the stack they happened in, `@17`, after dRSS:
//!   the instrumented functions running, outermost first. For CALL, RETURN, EXCEPT, YIELD and
//!   RESUME the row's own function is the top of it; for the other rows (C_CALL, LINE, …) the
//!   row's site is inside the top of it. The rows the writer makes up itself name none: a GC
//!   row (a collection is of no stack), the LAST row of a log ended by a signal.
//!   Readers that split on spaces find the seed's columns where they were; the stack is the
//!   last field.
//! * MSG: a user message, with the Event, dEvent and Clock at which it was written. Its text,
//!   like the message line, is written as given but for a few escapes that keep it one line
//!   and give back any string exactly (see [`text`]).

pub mod binary;
pub mod gc;
pub mod heapprofile;
pub mod jsonl;
mod parse;
mod row;
pub mod text;

pub use parse::{parse_row, EventRow, LogRow, ParseError};
pub use row::{header, heap_row, message_row, RowWriter};

pub const START_OF_FILE: &str = "SOF";
/// The prefix of a HEAP row, which is no event.
pub const HEAP_PREFIX: &str = "HEAP: ";

/// V8's heap, as a HEAP row gives it: bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Heap {
  pub used: u64,
  pub total: u64,
  pub external: u64,
  /// Part of `external`: the memory of ArrayBuffers (Buffers among them), as
  /// `process.memoryUsage().arrayBuffers` counts it; None where it could not be read.
  pub array_buffers: Option<u64>,
}
/// Where a row stands in the event stream: its Event, dEvent and Clock (µs) columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
  pub event: u64,
  pub d_event: u64,
  pub clock_us: u64,
}

/// An event row as the writer has it, before its function's columns: RSS and dRSS in pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagedRow {
  pub kind: RowKind,
  pub what: What,
  pub at: At,
  pub pages: u64,
  pub d_pages: i64,
  /// The stack the row happened in, when the log has stacks.
  pub stack: Option<u64>,
}

pub const END_OF_FILE: &str = "EOF";
/// What marks a stack id, at the end of a row and in STCK rows.
pub const STACK_MARK: char = '@';

/// Width of the File column; longer paths overflow it.
pub const FILE_WIDTH: usize = 80;
/// Width of the Function column; longer names overflow it.
pub const FUNCTION_WIDTH: usize = 32;

/// The kind of row, written as its 6-character prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
  First,
  Next,
  Prev,
  Message,
  Last,
  Stack,
}

impl RowKind {
  pub const fn prefix(self) -> &'static str {
    match self {
      RowKind::First => "FRST: ",
      RowKind::Next => "NEXT: ",
      RowKind::Prev => "PREV: ",
      RowKind::Message => "MSG:  ",
      RowKind::Last => "LAST: ",
      RowKind::Stack => "STCK: ",
    }
  }
}

/// What happened at an event: the What column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum What {
  Call = 0,
  Return = 1,
  Except = 2,
  Yield = 3,
  Resume = 4,
  CCall = 5,
  CReturn = 6,
  CExcept = 7,
  Line = 8,
  Gc = 9,
}

impl What {
  pub const ALL: [What; 10] = [
    What::Call,
    What::Return,
    What::Except,
    What::Yield,
    What::Resume,
    What::CCall,
    What::CReturn,
    What::CExcept,
    What::Line,
    What::Gc,
  ];

  /// The column text, padded to the column's width of 8.
  pub const fn padded(self) -> &'static str {
    match self {
      What::Call => "CALL    ",
      What::Return => "RETURN  ",
      What::Except => "EXCEPT  ",
      What::Yield => "YIELD   ",
      What::Resume => "RESUME  ",
      What::CCall => "C_CALL  ",
      What::CReturn => "C_RETURN",
      What::CExcept => "C_EXCEPT",
      What::Line => "LINE    ",
      What::Gc => "GC      ",
    }
  }

  pub fn name(self) -> &'static str {
    self.padded().trim_end()
  }

  /// Whether the event comes as a function starts or resumes: the memory a row of it shows
  /// grew before, in whatever ran until then, not in this function.
  pub fn is_entry(self) -> bool {
    matches!(self, What::Call | What::Resume | What::CCall)
  }

  /// Whether the event is of a native call (C_CALL, C_RETURN, C_EXCEPT).
  pub fn is_native(self) -> bool {
    matches!(self, What::CCall | What::CReturn | What::CExcept)
  }

  pub fn from_code(code: u8) -> Option<What> {
    What::ALL.get(usize::from(code)).copied()
  }

  pub fn from_name(name: &str) -> Option<What> {
    What::ALL.into_iter().find(|what| what.name() == name)
  }
}
