//! Folded stacks, the input of `flamegraph.pl`, inferno and most flame graph tools: one line
//! per stack that grew memory, its frames outermost first joined by `;`, then a space and the
//! bytes it grew. A frame is its name and where it is, `leak (/app/a.js:2)`.

use std::io::Write;

use super::{frame_names, stack_of};
use crate::stacks::StackTree;

/// Writes the stacks of `tree` that grew memory; returns how many.
pub fn write(tree: &StackTree, mut out: impl Write) -> std::io::Result<u64> {
  let names = frame_names(tree);
  let labels: Vec<String> = names
    .iter()
    .enumerate()
    .map(|(i, name)| {
      // `;` separates frames and a line ends the stack: neither may be inside one.
      let label = match tree.frames.get(i) {
        Some(frame) => format!("{name} ({}:{})", frame.file, frame.line),
        None => name.clone(),
      };
      label.replace(';', ",").replace(['\n', '\r'], " ")
    })
    .collect();
  let mut written = 0;
  for (node, totals) in tree.nodes.iter().enumerate() {
    if totals.growth == 0 {
      continue;
    }
    let stack: Vec<&str> = stack_of(tree, node as u32).into_iter().map(|frame| labels[frame].as_str()).collect();
    writeln!(out, "{} {}", stack.join(";"), totals.growth)?;
    written += 1;
  }
  out.flush()?;
  Ok(written)
}
