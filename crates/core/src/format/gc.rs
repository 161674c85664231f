//! GC rows: how a garbage collection is named in the log, and read back. Collections are many
//! and each lasts its own time, so they are not functions of the table: a GC row's File is
//! `<gc>`, its Function the kind with the duration, `scavenge (0.412 ms)`.

/// The File column of a GC row.
pub const FILE: &str = "<gc>";

/// V8's kinds of collection, by the bit of its `GCType` (`scavenge` is bit 0).
pub const KINDS: [&str; 5] = ["scavenge", "minor-mark-sweep", "mark-compact", "incremental-marking", "weak-callbacks"];

/// The Function column of a collection of `kind` (a [`KINDS`] index) that lasted `duration_us`.
pub fn function(kind: u8, duration_us: u64) -> String {
  let kind = KINDS.get(usize::from(kind)).copied().unwrap_or("collection");
  format!("{kind} ({:.3} ms)", duration_us as f64 / 1000.0)
}

/// The kind and the duration in milliseconds of a GC row's Function column, if it is one.
pub fn parse(function: &str) -> Option<(&str, f64)> {
  let (kind, rest) = function.split_once(" (")?;
  let ms = rest.strip_suffix(" ms)")?.parse().ok()?;
  (KINDS.contains(&kind) || kind == "collection").then_some((kind, ms))
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn kind_and_duration_round_trip() {
    assert_eq!(function(2, 412), "mark-compact (0.412 ms)");
    assert_eq!(parse(&function(2, 412)), Some(("mark-compact", 0.412)));
    assert_eq!(parse("scavenge"), None);
    assert_eq!(parse("main (0.1 ms)"), None);
  }
}
