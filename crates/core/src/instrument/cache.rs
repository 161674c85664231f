//! The plan cache: a file per (source text, parse mode, events, instrumenter version and pieces),
//! so that the second run of a program skips parsing unchanged files.
//!
//! A plan holds no function ids (those are handed out when a file is loaded), so it is valid
//! for any process. Entries are written to a temporary name and renamed into place, so readers
//! never see half a file; an entry that fails any check (magic, version, length, checksum) is
//! ignored and rewritten, never trusted.
//!
//! ```text
//! "MTPLAN\0\0" | version u32 | last insertion offset u64 | sites u32 | insertions u32 | anchors u32
//! flags u8 (1: declares with `using`)
//! sites:      line u32 | column u32 | name bytes u32 | name
//! insertions: at u32 | piece u8 | function u32
//! anchors:    at u32 | site u32
//! xxh3-64 of everything before it, u64                                 (all little-endian)
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

use super::{Anchor, Insertion, Options, Piece, Plan, SourceKind, VERSION};
use crate::functions::Site;

const MAGIC: &[u8; 8] = b"MTPLAN\0\0";

pub struct Cache {
  dir: PathBuf,
}

/// The name of a cache entry.
pub struct Key(String);

impl Cache {
  /// A cache in `dir`, which is created when the first entry is written.
  pub fn new(dir: impl Into<PathBuf>) -> Cache {
    Cache { dir: dir.into() }
  }

  pub fn dir(&self) -> &Path {
    &self.dir
  }

  pub fn key(&self, source: &str, path: &str, kind: SourceKind, options: Options) -> Key {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let extension = Path::new(path).extension().and_then(|e| e.to_str()).unwrap_or("");
    let dialect = match extension {
      "ts" | "mts" | "cts" => "ts",
      "tsx" => "tsx",
      "jsx" => "jsx",
      _ => "js",
    };
    let hash = xxh3_128(source.as_bytes());
    // The crate's version too: a new oxc may parse the same text into other spans.
    let crate_version = env!("CARGO_PKG_VERSION");
    let lines = if options.lines { "-lines" } else { "" };
    let native_calls = if options.native_calls { "-native" } else { "" };
    let pieces = pieces_fingerprint();
    Key(
      format!("{hash:032x}-{dialect}-{kind:?}{lines}{native_calls}-v{VERSION}-{pieces:08x}-{crate_version}.plan")
        .to_lowercase(),
    )
  }

  /// The cached plan for `key`, if there is a sound one for a source of `source_len` bytes.
  pub fn get(&self, key: &Key, source_len: usize) -> Option<Plan> {
    let bytes = fs::read(self.dir.join(&key.0)).ok()?;
    decode(&bytes, source_len)
  }

  /// Stores `plan`; failures are ignored (the cache is an optimisation, not a store).
  pub fn put(&self, key: &Key, plan: &Plan) {
    let bytes = encode(plan);
    let _ = fs::create_dir_all(&self.dir);
    let temp = self.dir.join(format!("{}.{}.{:x}.tmp", key.0, std::process::id(), xxh3_64(&bytes)));
    if fs::write(&temp, &bytes).is_ok() && fs::rename(&temp, self.dir.join(&key.0)).is_err() {
      let _ = fs::remove_file(&temp);
    }
  }
}

/// A hash of the text of every piece: a plan names pieces by number, so one made when they read
/// otherwise must not be applied.
fn pieces_fingerprint() -> u32 {
  static FINGERPRINT: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
  *FINGERPRINT.get_or_init(|| {
    let text: Vec<&str> = Piece::ALL.iter().flat_map(|piece| piece.parts().iter().copied().chain(["\0"])).collect();
    xxh3_64(text.concat().as_bytes()) as u32
  })
}

fn encode(plan: &Plan) -> Vec<u8> {
  let last_offset = plan.insertions.last().map_or(0, |i| i.at);
  let mut out = Vec::with_capacity(32 + plan.sites.len() * 24 + plan.insertions.len() * 9);
  out.extend_from_slice(MAGIC);
  out.extend_from_slice(&VERSION.to_le_bytes());
  out.extend_from_slice(&u64::from(last_offset).to_le_bytes());
  out.extend_from_slice(&(plan.sites.len() as u32).to_le_bytes());
  out.extend_from_slice(&(plan.insertions.len() as u32).to_le_bytes());
  out.extend_from_slice(&(plan.anchors.len() as u32).to_le_bytes());
  out.push(u8::from(plan.declares_using));
  for site in &plan.sites {
    out.extend_from_slice(&site.line.to_le_bytes());
    out.extend_from_slice(&site.column.to_le_bytes());
    out.extend_from_slice(&(site.name.len() as u32).to_le_bytes());
    out.extend_from_slice(site.name.as_bytes());
  }
  for insertion in &plan.insertions {
    out.extend_from_slice(&insertion.at.to_le_bytes());
    out.push(insertion.piece as u8);
    out.extend_from_slice(&insertion.function.to_le_bytes());
  }
  for anchor in &plan.anchors {
    out.extend_from_slice(&anchor.at.to_le_bytes());
    out.extend_from_slice(&anchor.site.to_le_bytes());
  }
  let checksum = xxh3_64(&out);
  out.extend_from_slice(&checksum.to_le_bytes());
  out
}

/// Reads a cache entry, checking everything; `None` for anything unsound.
fn decode(bytes: &[u8], source_len: usize) -> Option<Plan> {
  let (body, checksum) = bytes.split_at_checked(bytes.len().checked_sub(8)?)?;
  if xxh3_64(body) != u64::from_le_bytes(checksum.try_into().ok()?) {
    return None;
  }
  let mut reader = Reader(body);
  if reader.take(8)? != MAGIC || reader.u32()? != VERSION {
    return None;
  }
  // The offset of the last insertion, which must lie inside the source.
  if reader.u64()? > source_len as u64 {
    return None;
  }
  let (site_count, insertion_count, anchor_count) = (reader.u32()?, reader.u32()?, reader.u32()?);
  let declares_using = match reader.take(1)?[0] {
    0 => false,
    1 => true,
    _ => return None,
  };
  let mut sites = Vec::with_capacity(site_count.min(1 << 20) as usize);
  for _ in 0..site_count {
    let (line, column, len) = (reader.u32()?, reader.u32()?, reader.u32()?);
    let name = String::from_utf8(reader.take(len as usize)?.to_vec()).ok()?;
    sites.push(Site { line, column, name });
  }
  let mut insertions = Vec::with_capacity(insertion_count.min(1 << 22) as usize);
  for _ in 0..insertion_count {
    let at = reader.u32()?;
    let piece = *Piece::ALL.get(usize::from(reader.take(1)?[0]))?;
    let function = reader.u32()?;
    // Pieces with no number (a `;`, a mark) may name no site.
    let numbered = piece.parts().len() > 1;
    if (numbered && !piece.numbers_temporary() && function >= site_count) || at as usize > source_len {
      return None;
    }
    insertions.push(Insertion { at, piece, function });
  }
  let mut anchors = Vec::with_capacity(anchor_count.min(1 << 22) as usize);
  for _ in 0..anchor_count {
    let (at, site) = (reader.u32()?, reader.u32()?);
    if site >= site_count || at as usize >= source_len {
      return None;
    }
    anchors.push(Anchor { at, site });
  }
  reader.0.is_empty().then_some(Plan { sites, insertions, anchors, skipped: Vec::new(), declares_using })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
  fn take(&mut self, n: usize) -> Option<&'a [u8]> {
    let (head, rest) = self.0.split_at_checked(n)?;
    self.0 = rest;
    Some(head)
  }
  fn u32(&mut self) -> Option<u32> {
    Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
  }
  fn u64(&mut self) -> Option<u64> {
    Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
  }
}

#[cfg(test)]
mod tests {
  use super::*;
  use crate::instrument::plan;

  const SOURCE: &str = "function a() { return async () => { await b() } }\nclass C { x = f(); get y() { return 1 } }";

  fn temp_cache(name: &str) -> Cache {
    let dir = std::env::temp_dir().join(format!("memtrace-cache-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    Cache::new(dir)
  }

  #[test]
  fn a_plan_round_trips() {
    let cache = temp_cache("round");
    let plan = plan(SOURCE, "/x.js", SourceKind::CommonJs).unwrap();
    let key = cache.key(SOURCE, "/x.js", SourceKind::CommonJs, Options::default());
    assert!(cache.get(&key, SOURCE.len()).is_none());
    cache.put(&key, &plan);
    assert_eq!(cache.get(&key, SOURCE.len()), Some(plan));
    fs::remove_dir_all(cache.dir()).unwrap();
  }

  #[test]
  fn keys_tell_sources_modes_and_dialects_apart() {
    let cache = Cache::new("/unused");
    let key = |source: &str, path: &str, kind| cache.key(source, path, kind, Options::default()).0;
    let base = key(SOURCE, "/a.js", SourceKind::CommonJs);
    assert_eq!(base, key(SOURCE, "/elsewhere/b.js", SourceKind::CommonJs));
    assert_ne!(base, key(SOURCE, "/a.js", SourceKind::Module));
    assert_ne!(base, key(SOURCE, "/a.ts", SourceKind::CommonJs));
    assert_ne!(base, key("function a() {}", "/a.js", SourceKind::CommonJs));
    let lines = Options { lines: true, native_calls: false };
    let native_calls = Options { lines: false, native_calls: true };
    assert_ne!(base, cache.key(SOURCE, "/a.js", SourceKind::CommonJs, lines).0);
    assert_ne!(base, cache.key(SOURCE, "/a.js", SourceKind::CommonJs, native_calls).0);
  }

  #[test]
  fn damaged_entries_are_ignored() {
    let plan = plan(SOURCE, "/x.js", SourceKind::CommonJs).unwrap();
    let good = encode(&plan);
    assert_eq!(decode(&good, SOURCE.len()), Some(plan));
    // Every truncation and every single flipped byte is caught.
    for len in 0..good.len() {
      assert_eq!(decode(&good[..len], SOURCE.len()), None, "truncated to {len}");
    }
    for at in 0..good.len() {
      let mut bad = good.clone();
      bad[at] ^= 0x40;
      assert_eq!(decode(&bad, SOURCE.len()), None, "flipped byte {at}");
    }
    // A plan for a longer source does not apply to a shorter one.
    assert_eq!(decode(&good, 10), None);
  }
}
