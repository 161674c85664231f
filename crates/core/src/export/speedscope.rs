//! speedscope's file format (<https://www.speedscope.app/file-format-schema.json>): one sampled
//! profile in bytes, a sample per stack that grew memory, weighted by what it grew. speedscope
//! shows it as a flame graph ("Left Heavy") and lists the frames by their total ("Sandwich").

use std::io::Write;

use super::{frame_names, stack_of};
use crate::format::jsonl::Object;
use crate::stacks::StackTree;

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

/// Writes `tree` as a speedscope file whose profile is called `name`; returns how many stacks
/// it holds.
pub fn write(tree: &StackTree, name: &str, mut out: impl Write) -> std::io::Result<u64> {
  let names = frame_names(tree);
  let mut frames = Vec::with_capacity(names.len());
  for (i, frame_name) in names.iter().enumerate() {
    let mut frame = Object::new().string("name", frame_name);
    if let Some(at) = tree.frames.get(i) {
      frame = frame.string("file", &at.file).number("line", at.line);
    }
    frames.push(frame.finish_inline());
  }
  let (mut samples, mut weights, mut total) = (Vec::new(), Vec::new(), 0u64);
  for (node, totals) in tree.nodes.iter().enumerate() {
    if totals.growth == 0 {
      continue;
    }
    let stack: Vec<String> = stack_of(tree, node as u32).iter().map(usize::to_string).collect();
    samples.push(format!("[{}]", stack.join(",")));
    weights.push(totals.growth.to_string());
    total += totals.growth;
  }
  let profile = Object::new()
    .string("type", "sampled")
    .string("name", &format!("RSS growth by stack: {name}"))
    .string("unit", "bytes")
    .number("startValue", 0u64)
    .number("endValue", total)
    .raw("samples", &format!("[{}]", samples.join(",")))
    .raw("weights", &format!("[{}]", weights.join(",")))
    .finish_inline();
  let file = Object::new()
    .string("$schema", SCHEMA)
    .raw("shared", &Object::new().raw("frames", &format!("[{}]", frames.join(","))).finish_inline())
    .raw("profiles", &format!("[{profile}]"))
    .string("name", name)
    .number("activeProfileIndex", 0u64)
    .string("exporter", concat!("memtrace ", env!("CARGO_PKG_VERSION")))
    .finish();
  out.write_all(file.as_bytes())?;
  out.flush()?;
  Ok(samples.len() as u64)
}
