//! The `.heapprofile` file, as V8's inspector writes it (`HeapProfiler.getSamplingProfile`):
//! for the binding, which reads V8's sampling heap profile natively where JavaScript cannot run
//! any more, to write the same file Chrome DevTools and `memtrace report` read.
//!
//! ```text
//! {"head":{"callFrame":{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},
//!          "selfSize":0,"id":1,"children":[…]},
//!  "samples":[{"size":262144,"nodeId":7,"ordinal":3},…],
//!  "collectedSamples":[…]}
//! ```
//!
//! `collectedSamples`, memtrace's own, are the samples of objects already collected, where V8
//! says which those are; DevTools reads the rest and passes it by.

use super::jsonl::Object;

/// A frame of the profile's tree, with what was sampled in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallNode {
  pub function: String,
  pub script_id: i64,
  pub url: String,
  /// 0-based, -1 where V8 has none, as the inspector gives them.
  pub line: i64,
  pub column: i64,
  /// Bytes sampled in this frame itself.
  pub self_size: u64,
  pub id: u64,
  pub children: Vec<CallNode>,
}

/// A sampled allocation still alive: its bytes, the frame that made it, and its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
  pub size: u64,
  pub node: u64,
  pub ordinal: u64,
}

/// The profile as JSON: `samples` alive, and `collected` ones where they are known.
pub fn encode(head: &CallNode, samples: &[Sample], collected: Option<&[Sample]>) -> String {
  let profile = Object::new().raw("head", &node(head)).raw("samples", &list(samples));
  match collected {
    Some(collected) => profile.raw("collectedSamples", &list(collected)),
    None => profile,
  }
  .finish_inline()
}

fn list(samples: &[Sample]) -> String {
  let mut list = String::from("[");
  for (n, sample) in samples.iter().enumerate() {
    if n > 0 {
      list.push(',');
    }
    let object =
      Object::new().number("size", sample.size).number("nodeId", sample.node).number("ordinal", sample.ordinal);
    list.push_str(&object.finish_inline());
  }
  list.push(']');
  list
}

fn node(frame: &CallNode) -> String {
  let call = Object::new()
    .string("functionName", &frame.function)
    .string("scriptId", &frame.script_id.to_string())
    .string("url", &frame.url)
    .number("lineNumber", frame.line)
    .number("columnNumber", frame.column)
    .finish_inline();
  let mut children = String::from("[");
  for (n, child) in frame.children.iter().enumerate() {
    if n > 0 {
      children.push(',');
    }
    children.push_str(&node(child));
  }
  children.push(']');
  Object::new()
    .raw("callFrame", &call)
    .number("selfSize", frame.self_size)
    .number("id", frame.id)
    .raw("children", &children)
    .finish_inline()
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn a_profile_is_the_inspectors_json() {
    let leaf = CallNode {
      function: "retain".into(),
      script_id: 42,
      url: "file:///app/a \"b\".js".into(),
      line: 6,
      column: 16,
      self_size: 524_288,
      id: 2,
      children: vec![],
    };
    let head = CallNode {
      function: "(root)".into(),
      script_id: 0,
      url: String::new(),
      line: -1,
      column: -1,
      self_size: 0,
      id: 1,
      children: vec![leaf],
    };
    let json = encode(&head, &[Sample { size: 262_144, node: 2, ordinal: 7 }], None);
    assert_eq!(
      json,
      concat!(
        r#"{"head":{"callFrame":{"functionName":"(root)","scriptId":"0","url":"","lineNumber":-1,"columnNumber":-1},"#,
        r#""selfSize":0,"id":1,"children":[{"callFrame":{"functionName":"retain","scriptId":"42","#,
        r#""url":"file:///app/a \"b\".js","lineNumber":6,"columnNumber":16},"selfSize":524288,"id":2,"children":[]}]},"#,
        r#""samples":[{"size":262144,"nodeId":2,"ordinal":7}]}"#
      )
    );
    let with_collected = encode(&head, &[], Some(&[Sample { size: 4096, node: 2, ordinal: 8 }]));
    assert!(with_collected.ends_with(r#""samples":[],"collectedSamples":[{"size":4096,"nodeId":2,"ordinal":8}]}"#));
  }
}
