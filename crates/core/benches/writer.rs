//! How fast the writer turns records into rows: the ceiling on "every event logged", where the
//! JS thread can go no faster than the writer drains the ring. Times formatting and layout only
//! (a discarding sink), then the same into a real file, so the difference is the kernel's write;
//! for the text log and for the binary one.
//!
//!     cargo bench -p memtrace-core --bench writer

use std::sync::Arc;
use std::time::Instant;

use memtrace_core::format::{RowKind, What};
use memtrace_core::functions::{self, Site};
use memtrace_core::ring::{Record, Ring};
use memtrace_core::sink::{Discard, Sink};
use memtrace_core::writer::{LogFormat, Writer};

const ROWS: u64 = 4_000_000;

fn run(label: &str, sink: Box<dyn Sink>, format: LogFormat) {
  let sites: Vec<Site> = (0..200).map(|i| Site { line: 10 + i, column: 1, name: format!("function{i}") }).collect();
  let first = functions::register("/home/user/project/node_modules/some-package/lib/index.js", &sites);
  let ring = Arc::new(Ring::new(65536));
  let writer = Writer::start(ring.clone(), sink, None, "bench.log", format).unwrap();
  let start = Instant::now();
  for event in 1..=ROWS {
    let record = Record {
      event,
      clock: event as f64 * 2e-8,
      rss_pages: 20_000 + (event % 7),
      row: RowKind::Next,
      what: if event % 2 == 0 { What::Call } else { What::Return },
      id: first + event % 200,
      stack: Some(event % 50),
    };
    while !ring.push(&record) {
      writer.control.wait_for_space(&ring);
    }
  }
  ring.push(&Record {
    event: ROWS + 1,
    clock: 1.0,
    rss_pages: 1,
    row: RowKind::Last,
    what: What::Line,
    id: first,
    stack: None,
  });
  writer.join().unwrap();
  let elapsed = start.elapsed();
  println!(
    "{label:>36}: {:6.1} ns per row ({:.1} M rows/s)",
    elapsed.as_nanos() as f64 / ROWS as f64,
    ROWS as f64 / elapsed.as_secs_f64() / 1e6
  );
}

fn main() {
  for (format, name) in [(LogFormat::Text, "text"), (LogFormat::Binary, "binary")] {
    run(&format!("{name}: format, discard"), Box::new(Discard), format);
    let path = std::env::temp_dir().join(format!("memtrace-writer-bench-{}.log", std::process::id()));
    run(&format!("{name}: format and write to a file"), Box::new(std::fs::File::create(&path).unwrap()), format);
    let _ = std::fs::remove_file(path);
  }
}
