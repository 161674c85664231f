//! The call stacks of a log merged into one tree of frames, with the RSS change of each NEXT row
//! put down to the node where it was made: growth by stack, the flame graph and the exports
//! that take stacks (`export::collapsed`, `export::speedscope`, `export::pprof`) are read off it.
//!
//! The log defines each stack once, in a STCK row, and a row names its stack (see `format`).
//! Each log stack becomes a node of the tree, whose root is the empty stack (top-level code).
//! Where a row's change goes:
//! * RETURN, EXCEPT, YIELD: the row's stack, whose top is the row's function.
//! * CALL, RESUME: its parent. The change was seen as the function started, so it was made
//!   before, by the caller; this is what takes the place of the `(at entry)` rows of a log
//!   without stacks.
//! * C_CALL: the row's stack: the native callee had not started, the function calling it made it.
//! * C_RETURN, C_EXCEPT, LINE: the row's stack with the row's site (the native callee, the
//!   statement) as one more frame on top.
//! * GC: a frame of the collection's kind, right under the root: a collection is no call.
//!
//! Memory grows with the number of distinct stacks, not with the length of the log.

use std::collections::HashMap;

use crate::format::{gc, EventRow, What};

/// One frame: a function, or what a row adds on top of its stack (a native callee and the site
/// it was called from, a statement).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
  pub file: String,
  pub line: u32,
  pub function: String,
  pub kind: FrameKind,
}

impl Frame {
  /// The frame as one word of a stack names it: `leak`, `Buffer.alloc (native)`,
  /// `line 12 of leak`, `scavenge (GC)`.
  pub fn name(&self) -> String {
    match self.kind {
      FrameKind::Function => self.function.clone(),
      FrameKind::Native => format!("{} (native)", self.function),
      FrameKind::Line => format!("line {} of {}", self.line, self.function),
      FrameKind::Gc => format!("{} (GC)", self.function),
    }
  }
}

/// What the root stands for when growth is put down to it: memory that moved before any traced
/// function ran (as the first was called), or in code that is not traced.
pub const OUTSIDE: &str = "(outside any traced function)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
  /// An instrumented JavaScript function, at the line where it starts.
  Function,
  /// A native callee; `file` and `line` are where it was called.
  Native,
  /// A statement (a LINE row); `function` is the function it is in.
  Line,
  /// A garbage collection; `function` is its kind.
  Gc,
}

/// A node of the tree: the stack of its parent with `frame` on top. The RSS change put down to
/// it, not to the stacks above it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
  pub parent: u32,
  /// Index into [`StackTree::frames`]; [`ROOT_FRAME`] for the root.
  pub frame: u32,
  pub growth: u64,
  pub release: u64,
  pub rows: u64,
  /// When its row with the most growth was logged (seconds on the log's clock); a log read
  /// from several logs keeps one of them. Negative while it has grown nothing.
  pub largest_at: f64,
  largest: u64,
}

impl Node {
  fn new(parent: u32, frame: u32) -> Node {
    Node { parent, frame, growth: 0, release: 0, rows: 0, largest_at: -1.0, largest: 0 }
  }
}

/// The root's frame, which is none.
pub const ROOT_FRAME: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq)]
pub struct StackTree {
  pub frames: Vec<Frame>,
  /// Node 0 is the root; a node comes after its parent.
  pub nodes: Vec<Node>,
  frame_ids: HashMap<Frame, u32>,
  children: HashMap<(u32, u32), u32>,
  /// Node of each stack id of the log.
  by_log_id: HashMap<u64, u32>,
}

impl Default for StackTree {
  fn default() -> Self {
    StackTree {
      frames: Vec::new(),
      nodes: vec![Node::new(0, ROOT_FRAME)],
      frame_ids: HashMap::new(),
      children: HashMap::new(),
      by_log_id: HashMap::from([(0, 0)]),
    }
  }
}

impl StackTree {
  /// A tree given whole (V8's heap profile, read in JavaScript): each node `(parent, frame,
  /// growth, release, rows)` after its parent, node 0 the root (its parent and frame ignored).
  pub fn from_parts(frames: Vec<Frame>, nodes: impl IntoIterator<Item = (u32, u32, u64, u64, u64)>) -> StackTree {
    let mut tree = StackTree { frame_ids: frames.iter().cloned().zip(0..).collect(), frames, ..StackTree::default() };
    for (i, (parent, frame, growth, release, rows)) in nodes.into_iter().enumerate() {
      let node = if i == 0 {
        0
      } else {
        let node = tree.nodes.len() as u32;
        tree.nodes.push(Node::new(parent.min(node - 1), frame));
        tree.children.insert((parent, frame), node);
        node
      };
      let totals = &mut tree.nodes[node as usize];
      (totals.growth, totals.release, totals.rows) = (growth, release, rows);
    }
    tree
  }

  /// Whether the log (the last one read into the tree) defined any stack: a log made without
  /// stacks has none.
  pub fn is_empty(&self) -> bool {
    self.by_log_id.len() == 1
  }

  /// Starts reading another log into the tree (another thread of the program, another run):
  /// its stack ids are its own, its stacks are merged with those of the same frames.
  pub fn next_log(&mut self) {
    self.by_log_id.clear();
    self.by_log_id.insert(0, 0);
  }

  /// A STCK row. A parent the log never defined (a damaged log) is taken to be the root.
  pub fn define(&mut self, id: u64, parent: u64, file: &str, line: u32, function: &str) {
    let parent = self.by_log_id.get(&parent).copied().unwrap_or(0);
    let frame = Frame { file: file.to_string(), line, function: function.to_string(), kind: FrameKind::Function };
    let node = self.child(parent, frame);
    self.by_log_id.insert(id, node);
  }

  /// Counts a NEXT row's dRSS at the node where it was made (see the module documentation);
  /// returns that node. A row of a stack the log did not define counts at the root.
  pub fn count(&mut self, row: &EventRow) -> u32 {
    let stack = row.stack.map_or(0, |id| self.node_of(id));
    let site = |kind| Frame { file: row.file.to_string(), line: row.line, function: row.function.to_string(), kind };
    let node = match row.what {
      What::Return | What::Except | What::Yield | What::CCall => stack,
      What::Call | What::Resume => self.nodes[stack as usize].parent,
      What::CReturn | What::CExcept => self.child(stack, site(FrameKind::Native)),
      What::Line => self.child(stack, site(FrameKind::Line)),
      What::Gc => {
        let kind = gc::parse(row.function).map_or(row.function, |(kind, _)| kind);
        let frame = Frame { file: gc::FILE.to_string(), line: 0, function: kind.to_string(), kind: FrameKind::Gc };
        self.child(0, frame)
      }
    };
    let totals = &mut self.nodes[node as usize];
    totals.rows += 1;
    if row.d_rss >= 0 {
      totals.growth += row.d_rss as u64;
      if row.d_rss as u64 > totals.largest {
        (totals.largest, totals.largest_at) = (row.d_rss as u64, row.clock);
      }
    } else {
      totals.release += row.d_rss.unsigned_abs();
    }
    node
  }

  /// The node of a stack id of the log (the root for one it did not define).
  pub fn node_of(&self, id: u64) -> u32 {
    self.by_log_id.get(&id).copied().unwrap_or(0)
  }

  /// The frame on top of `node`'s stack (None for the root).
  pub fn top(&self, node: u32) -> Option<&Frame> {
    self.frames.get(self.nodes[node as usize].frame as usize)
  }

  /// The frames of `node`'s stack, outermost first.
  pub fn path(&self, mut node: u32) -> Vec<&Frame> {
    let mut frames = Vec::new();
    while node != 0 {
      let n = &self.nodes[node as usize];
      frames.push(&self.frames[n.frame as usize]);
      node = n.parent;
    }
    frames.reverse();
    frames
  }

  fn child(&mut self, parent: u32, frame: Frame) -> u32 {
    let frame = match self.frame_ids.get(&frame) {
      Some(&id) => id,
      None => {
        let id = self.frames.len() as u32;
        self.frame_ids.insert(frame.clone(), id);
        self.frames.push(frame);
        id
      }
    };
    let next = self.nodes.len() as u32;
    let node = *self.children.entry((parent, frame)).or_insert(next);
    if node == next {
      self.nodes.push(Node::new(parent, frame));
    }
    node
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::format::RowKind;

  fn row(what: What, function: &'static str, stack: u64, d_rss: i64) -> EventRow<'static> {
    EventRow {
      kind: RowKind::Next,
      event: 1,
      d_event: 1,
      clock: 0.0,
      what,
      file: "/app/a.js",
      line: 1,
      function,
      rss: 0,
      d_rss,
      stack: Some(stack),
    }
  }

  fn names(tree: &StackTree, node: u32) -> Vec<&str> {
    tree.path(node).iter().map(|f| f.function.as_str()).collect()
  }

  /// main (1) → a (2) → leak (3), and main (1) → b (4) → leak (5).
  fn two_paths() -> StackTree {
    let mut tree = StackTree::default();
    for (id, parent, function) in [(1, 0, "main"), (2, 1, "a"), (3, 2, "leak"), (4, 1, "b"), (5, 4, "leak")] {
      tree.define(id, parent, "/app/a.js", 1, function);
    }
    tree
  }

  #[test]
  fn growth_goes_to_the_stack_that_made_it() {
    let mut tree = two_paths();
    let through_a = tree.count(&row(What::Return, "leak", 3, 3000));
    let through_b = tree.count(&row(What::Return, "leak", 5, 1000));
    assert_eq!(names(&tree, through_a), ["main", "a", "leak"]);
    assert_eq!(names(&tree, through_b), ["main", "b", "leak"]);
    let growth = |node: u32| tree.nodes[node as usize].growth;
    assert_eq!((growth(through_a), growth(through_b)), (3000, 1000));
    assert_eq!(tree.nodes.iter().map(|n| n.growth).sum::<u64>(), 4000);
  }

  #[test]
  fn growth_seen_at_entry_is_the_callers() {
    let mut tree = two_paths();
    let call = tree.count(&row(What::Call, "leak", 3, 4096));
    assert_eq!(names(&tree, call), ["main", "a"]);
    let resume = tree.count(&row(What::Resume, "main", 1, 4096));
    assert_eq!(resume, 0, "top-level code resumed main");
    let native_call = tree.count(&row(What::CCall, "Buffer.alloc", 2, 4096));
    assert_eq!(names(&tree, native_call), ["main", "a"]);
  }

  #[test]
  fn native_callees_and_statements_are_one_more_frame() {
    let mut tree = two_paths();
    let native = tree.count(&row(What::CReturn, "Buffer.alloc", 2, 8192));
    assert_eq!(names(&tree, native), ["main", "a", "Buffer.alloc"]);
    assert_eq!(tree.top(native).unwrap().kind, FrameKind::Native);
    let line = tree.count(&row(What::Line, "a", 2, 8192));
    assert_eq!(tree.top(line).unwrap().kind, FrameKind::Line);
    let gc_site = format!("{} (1.000 ms)", gc::KINDS[0]);
    let gc = tree.count(&EventRow { function: Box::leak(gc_site.into_boxed_str()), ..row(What::Gc, "", 0, -4096) });
    assert_eq!(names(&tree, gc), [gc::KINDS[0]]);
    assert_eq!((tree.nodes[gc as usize].release, tree.nodes[gc as usize].growth), (4096, 0));
  }

  #[test]
  fn the_stacks_of_two_logs_merge_by_their_frames() {
    let mut tree = two_paths();
    let first = tree.count(&row(What::Return, "leak", 3, 1000));
    tree.next_log();
    assert!(tree.is_empty());
    for (id, parent, function) in [(1, 0, "main"), (2, 1, "a"), (3, 2, "leak"), (7, 1, "c")] {
      tree.define(id, parent, "/app/a.js", 1, function);
    }
    assert_eq!(tree.count(&row(What::Return, "leak", 3, 500)), first);
    let other = tree.count(&row(What::Return, "c", 7, 500));
    assert_eq!(names(&tree, other), ["main", "c"]);
    assert_eq!(tree.nodes[first as usize].growth, 1500);
  }

  #[test]
  fn a_tree_given_whole_is_walked_as_a_read_one() {
    let frame =
      |function: &str| Frame { file: "/a.js".into(), line: 1, function: function.into(), kind: FrameKind::Function };
    let tree =
      StackTree::from_parts(vec![frame("main"), frame("leak")], [(0, 0, 0, 0, 0), (0, 0, 10, 0, 1), (1, 1, 90, 0, 3)]);
    assert_eq!(names(&tree, 2), ["main", "leak"]);
    let totals: Vec<_> = tree.nodes.iter().map(|n| (n.parent, n.growth, n.rows)).collect();
    assert_eq!(totals, [(0, 0, 0), (0, 10, 1), (1, 90, 3)]);
  }

  #[test]
  fn an_undefined_stack_counts_at_the_root() {
    let mut tree = StackTree::default();
    assert!(tree.is_empty());
    assert_eq!(tree.count(&row(What::Return, "f", 99, 1)), 0);
    assert!(!two_paths().is_empty());
  }
}
