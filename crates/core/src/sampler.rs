//! The sampler: one thread per process that keeps the current RSS and clock fresh in the ring of
//! every profiler that is recording, so that the JS hot path reads them like variables instead
//! of asking the kernel (~0.5 µs here, against a few ns for the event itself). RSS is the
//! process's, so one read serves every ring; a profiler that is suspended (another one is
//! nested inside it) unsubscribes and costs nothing, and with no subscriber the thread sleeps.
//!
//! Its period bounds how stale an event's RSS can be while memory is still. While memory moves
//! (two reads in a row differ) it reads again at once instead of sleeping (yielding its core
//! first when as many threads record as there are cores, as a worker pool's do), so that the growth
//! of one long native call (a big `Buffer.alloc`) is seen, to within one kernel read
//! (~0.5-1 µs), by the event that follows it: RETURN of the function that allocated, not an
//! event after it. A period of zero never sleeps at all, at the price of a CPU core; with
//! several subscribers the shortest period is kept.
//!
//! When RSS cannot be read, each ring keeps the last value read and counts the failure (the
//! writer marks it in the log), and stderr says so once per process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ring::Ring;
use crate::rss::{self, RssError};

/// A ring the sampler keeps fresh, until this is dropped.
pub struct Subscription {
  id: u64,
}

struct Subscriber {
  id: u64,
  ring: Arc<Ring>,
  period: Duration,
  started: Instant,
}

struct Subscribers {
  list: Vec<Subscriber>,
  next_id: u64,
  /// Bumped on every change, so that the thread knows when to look at the list again.
  generation: u64,
  thread_started: bool,
}

static SUBSCRIBERS: Mutex<Subscribers> =
  Mutex::new(Subscribers { list: Vec::new(), next_id: 0, generation: 0, thread_started: false });
static CHANGED: Condvar = Condvar::new();

fn subscribers() -> MutexGuard<'static, Subscribers> {
  SUBSCRIBERS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Publishes a sample into `ring` now, then keeps it fresh every `period` until the returned
/// subscription is dropped. `started` is when the ring's clock reads zero.
pub fn subscribe(ring: Arc<Ring>, period: Duration, started: Instant) -> std::io::Result<Subscription> {
  let target = (ring.clone(), started);
  sample(rss::current, std::slice::from_ref(&target));
  let mut subs = subscribers();
  if !subs.thread_started {
    std::thread::Builder::new().name("memtrace-sampler".into()).spawn(run)?;
    subs.thread_started = true;
  }
  let id = subs.next_id;
  subs.next_id += 1;
  subs.list.push(Subscriber { id, ring, period, started });
  subs.generation += 1;
  CHANGED.notify_all();
  Ok(Subscription { id })
}

impl Drop for Subscription {
  fn drop(&mut self) {
    let mut subs = subscribers();
    subs.list.retain(|s| s.id != self.id);
    subs.generation += 1;
  }
}

/// The sampler thread: reads RSS once for all subscribed rings.
fn run() {
  lower_timer_slack();
  let mut seen = u64::MAX;
  let mut targets: Vec<(Arc<Ring>, Instant)> = Vec::new();
  let mut period = Duration::ZERO;
  let cores = std::thread::available_parallelism().map_or(1, usize::from);
  let mut crowded = false;
  loop {
    {
      let mut subs = subscribers();
      while subs.list.is_empty() {
        // Nothing to keep fresh: the rings of the last round are let go, and nothing runs.
        targets.clear();
        subs = CHANGED.wait(subs).unwrap_or_else(|p| p.into_inner());
      }
      if subs.generation != seen {
        seen = subs.generation;
        targets = subs.list.iter().map(|s| (s.ring.clone(), s.started)).collect();
        period = subs.list.iter().map(|s| s.period).min().unwrap_or_default();
        crowded = targets.len() >= cores;
      }
    }
    if sample(rss::current, &targets) {
      // Memory moves: read again at once; but with as many threads recording as there are
      // cores, one of them may be waiting for this one, so let it run first.
      if crowded {
        std::thread::yield_now();
      }
    } else if !period.is_zero() {
      std::thread::sleep(period);
    }
  }
}

/// Reads RSS with `read` and publishes it, with each ring's clock, into every ring of
/// `targets`. Returns whether RSS moved since the last sample (of the first ring).
fn sample(read: fn() -> Result<u64, RssError>, targets: &[(Arc<Ring>, Instant)]) -> bool {
  let Some((first, _)) = targets.first() else { return false };
  let before = first.rss_pages();
  let pages = match read() {
    Ok(bytes) => Some((bytes / rss::page_size()).min(u64::from(u32::MAX)) as u32),
    Err(err) => {
      failed(&err);
      for (ring, _) in targets {
        ring.note_rss_failure(&err.to_string());
      }
      None
    }
  };
  for (ring, started) in targets {
    // On failure the last good RSS stays, and the clock moves on.
    ring.publish_sample(pages.unwrap_or_else(|| ring.rss_pages()), started.elapsed().as_secs_f64());
  }
  pages.is_some_and(|pages| pages != before)
}

/// Says once per process, on stderr, that RSS could not be read.
fn failed(err: &RssError) {
  static SAID: AtomicBool = AtomicBool::new(false);
  if !SAID.swap(true, Ordering::Relaxed) {
    eprintln!("memtrace: cannot read this process's RSS: {err}; logs keep the last RSS read and say where");
  }
}

/// Linux rounds sleeps up by the thread's timer slack (50 µs by default), which would make a
/// 100 µs period 150 µs; 1 µs of slack keeps the period what was asked.
fn lower_timer_slack() {
  #[cfg(target_os = "linux")]
  // SAFETY: PR_SET_TIMERSLACK takes one integer argument and affects only the calling thread.
  unsafe {
    libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
  }
}

#[cfg(test)]
mod tests {
  use super::*;

  #[test]
  fn samples_are_published_at_once_and_kept_fresh() {
    let ring = Arc::new(Ring::new(2));
    let subscription = subscribe(ring.clone(), Duration::from_micros(200), Instant::now()).unwrap();
    assert!(u64::from(ring.rss_pages()) * rss::page_size() > 1 << 20);
    let first = ring.clock();
    let block = vec![1u8; 64 << 20];
    let now = rss::current().unwrap();
    crate::wait_until("the sampled RSS to see 64 MiB more", || {
      u64::from(ring.rss_pages()) * rss::page_size() + (8 << 20) >= now
    });
    assert!(ring.clock() > first);
    std::hint::black_box(&block);
    drop(subscription);
    // Unsubscribed, the ring is let go by the thread: only this test holds it then.
    crate::wait_until("the sampler to let the ring go", || Arc::strong_count(&ring) == 1);
    let clock = ring.clock();
    crate::wait_until("another ring to be sampled", || {
      let other = Arc::new(Ring::new(2));
      let _s = subscribe(other.clone(), Duration::from_micros(200), Instant::now()).unwrap();
      other.clock() > 0.0
    });
    assert_eq!(ring.clock(), clock, "no sample after unsubscribing");
  }

  #[test]
  fn one_read_serves_every_ring_each_with_its_own_clock() {
    let (a, b) = (Arc::new(Ring::new(2)), Arc::new(Ring::new(2)));
    let early = Instant::now() - Duration::from_secs(100);
    sample(|| Ok(1 << 30), &[(a.clone(), early), (b.clone(), Instant::now())]);
    assert_eq!(a.rss_pages(), b.rss_pages());
    assert!(a.clock() >= 100.0 && b.clock() < 100.0);
  }

  #[test]
  fn a_failed_read_keeps_the_last_rss_and_is_counted() {
    let ring = Arc::new(Ring::new(2));
    let targets = [(ring.clone(), Instant::now())];
    sample(|| Ok(1 << 30), &targets);
    let good = ring.rss_pages();
    sample(|| Err(RssError::Parse { what: "statm", text: "went away".into() }), &targets);
    sample(|| Err(RssError::Parse { what: "statm", text: "went away".into() }), &targets);
    assert_eq!(ring.rss_pages(), good, "the last good RSS stays");
    let (failures, first) = ring.rss_failures();
    assert_eq!(failures, 2);
    assert!(first.is_some_and(|e| e.contains("went away")), "the first error is kept");
  }
}
