//! pprof's `profile.proto`, gzipped: what `go tool pprof` reads, and continuous-profiling
//! servers (Pyroscope, Parca, Grafana) take in. A sample per stack that moved memory, with three
//! values: the bytes RSS grew there (the default), the rows logged there, and the bytes it fell.
//! Each frame is a function and a location (the function at its line).
//!
//! The messages are written out below with prost's derive, from
//! <https://github.com/google/pprof/blob/main/proto/profile.proto>, keeping its field numbers:
//! only the fields memtrace fills.

use std::io::Write;

use prost::Message;

use super::{frame_names, stack_of};
use crate::stacks::StackTree;

#[derive(Clone, PartialEq, Message)]
struct Profile {
  #[prost(message, repeated, tag = "1")]
  sample_type: Vec<ValueType>,
  #[prost(message, repeated, tag = "2")]
  sample: Vec<Sample>,
  #[prost(message, repeated, tag = "4")]
  location: Vec<Location>,
  #[prost(message, repeated, tag = "5")]
  function: Vec<Function>,
  #[prost(string, repeated, tag = "6")]
  string_table: Vec<String>,
  #[prost(int64, tag = "10")]
  duration_nanos: i64,
  #[prost(int64, repeated, tag = "13")]
  comment: Vec<i64>,
  #[prost(int64, tag = "14")]
  default_sample_type: i64,
}

#[derive(Clone, PartialEq, Message)]
struct ValueType {
  #[prost(int64, tag = "1")]
  r#type: i64,
  #[prost(int64, tag = "2")]
  unit: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
  /// Leaf first.
  #[prost(uint64, repeated, tag = "1")]
  location_id: Vec<u64>,
  #[prost(int64, repeated, tag = "2")]
  value: Vec<i64>,
}

#[derive(Clone, PartialEq, Message)]
struct Location {
  #[prost(uint64, tag = "1")]
  id: u64,
  #[prost(message, repeated, tag = "4")]
  line: Vec<Line>,
}

#[derive(Clone, PartialEq, Message)]
struct Line {
  #[prost(uint64, tag = "1")]
  function_id: u64,
  #[prost(int64, tag = "2")]
  line: i64,
}

#[derive(Clone, PartialEq, Message)]
struct Function {
  #[prost(uint64, tag = "1")]
  id: u64,
  #[prost(int64, tag = "2")]
  name: i64,
  #[prost(int64, tag = "3")]
  system_name: i64,
  #[prost(int64, tag = "4")]
  filename: i64,
  #[prost(int64, tag = "5")]
  start_line: i64,
}

/// The string table: index 0 is "", as the format requires.
#[derive(Default)]
struct Strings {
  table: Vec<String>,
  index: std::collections::HashMap<String, i64>,
}

impl Strings {
  fn id(&mut self, text: &str) -> i64 {
    if self.table.is_empty() {
      self.table.push(String::new());
      self.index.insert(String::new(), 0);
    }
    if let Some(&id) = self.index.get(text) {
      return id;
    }
    let id = self.table.len() as i64;
    self.table.push(text.to_string());
    self.index.insert(text.to_string(), id);
    id
  }
}

/// Writes `tree` as a gzipped profile, `comment` in it (the log's name); `duration` is the
/// log's, in seconds. Returns how many stacks it holds.
pub fn write(tree: &StackTree, comment: &str, duration: f64, out: impl Write) -> std::io::Result<u64> {
  let mut strings = Strings::default();
  let sample_type = [("rss_growth", "bytes"), ("rows", "count"), ("rss_release", "bytes")]
    .map(|(kind, unit)| ValueType { r#type: strings.id(kind), unit: strings.id(unit) })
    .to_vec();
  let default_sample_type = sample_type[0].r#type;
  // Frame i is function and location i + 1 (ids are never 0).
  let names = frame_names(tree);
  let mut function = Vec::with_capacity(names.len());
  let mut location = Vec::with_capacity(names.len());
  for (i, name) in names.iter().enumerate() {
    let (file, line) = tree.frames.get(i).map_or(("", 0), |f| (f.file.as_str(), i64::from(f.line)));
    let id = i as u64 + 1;
    // pprof shortens names by dropping what is between angle brackets (C++ template
    // arguments), which would leave nothing of `<module>` or `<anonymous>`.
    let name = strings.id(&name.replace('<', "(").replace('>', ")"));
    function.push(Function { id, name, system_name: name, filename: strings.id(file), start_line: line });
    location.push(Location { id, line: vec![Line { function_id: id, line }] });
  }
  let mut sample = Vec::new();
  for (node, totals) in tree.nodes.iter().enumerate() {
    if totals.rows == 0 {
      continue;
    }
    let location_id = stack_of(tree, node as u32).iter().rev().map(|&frame| frame as u64 + 1).collect();
    let value = vec![totals.growth as i64, totals.rows as i64, totals.release as i64];
    sample.push(Sample { location_id, value });
  }
  let stacks = sample.len() as u64;
  let profile = Profile {
    sample_type,
    sample,
    location,
    function,
    duration_nanos: (duration.max(0.0) * 1e9).round() as i64,
    comment: vec![strings.id(comment)],
    default_sample_type,
    string_table: Vec::new(),
  };
  let profile = Profile { string_table: strings.table, ..profile };
  let mut gzip = flate2::write::GzEncoder::new(out, flate2::Compression::default());
  gzip.write_all(&profile.encode_to_vec())?;
  gzip.finish()?.flush()?;
  Ok(stacks)
}

#[cfg(test)]
mod tests {
  use super::*;
  use std::io::Read;

  #[test]
  fn a_profile_reads_back_with_leaf_first_locations_and_three_values() {
    let (tree, read) = super::super::tests::two_paths();
    let mut gz = Vec::new();
    assert_eq!(write(&tree, "x.log", read.duration, &mut gz).unwrap(), 4);
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut bytes).unwrap();
    let profile = Profile::decode(bytes.as_slice()).unwrap();
    let s = |i: i64| profile.string_table[i as usize].as_str();
    assert_eq!(s(0), "");
    let types: Vec<_> = profile.sample_type.iter().map(|t| (s(t.r#type), s(t.unit))).collect();
    assert_eq!(types, [("rss_growth", "bytes"), ("rows", "count"), ("rss_release", "bytes")]);
    assert_eq!(s(profile.default_sample_type), "rss_growth");
    let name_of = |location: u64| s(profile.function[location as usize - 1].name);
    let samples: Vec<(Vec<&str>, Vec<i64>)> = profile
      .sample
      .iter()
      .map(|sample| (sample.location_id.iter().map(|&l| name_of(l)).collect(), sample.value.clone()))
      .collect();
    assert_eq!(
      samples,
      [
        (vec!["(outside any traced function)"], vec![1 << 20, 1, 0]),
        (vec!["leak", "a", "main"], vec![3 << 20, 1, 0]),
        (vec!["b", "main"], vec![0, 1, 1 << 20]),
        (vec!["leak", "b", "main"], vec![1 << 20, 1, 0]),
      ]
    );
    assert_eq!(profile.duration_nanos, 2_000_040_000);
    assert_eq!(s(profile.comment[0]), "x.log");
  }
}
