//! The sampler: a thread that keeps the current RSS and clock fresh in a profiler's ring, so
//! that the JS hot path reads them like variables instead of asking the kernel (~0.5 µs here,
//! against a few ns for the event itself).
//!
//! Its period bounds how stale an event's RSS can be while memory is still. While memory moves
//! (two reads in a row differ) it reads again at once instead of sleeping, so that the growth
//! of one long native call (a big `Buffer.alloc`) is seen, to within one kernel read
//! (~0.5-1 µs), by the event that follows it: RETURN of the function that allocated, not an
//! event after it. A period of zero never sleeps at all, at the price of a CPU core.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::ring::Ring;
use crate::rss;

pub struct Sampler {
  stop: Arc<AtomicBool>,
  thread: Option<JoinHandle<()>>,
}

impl Sampler {
  /// Publishes one sample now, then starts the thread.
  pub fn start(ring: Arc<Ring>, period: Duration, started: Instant) -> std::io::Result<Sampler> {
    let page = rss::page_size();
    // Returns whether RSS moved since the last sample.
    let sample = move |ring: &Ring| {
      let before = ring.rss_pages();
      let pages = match rss::current() {
        Ok(bytes) => (bytes / page).min(u64::from(u32::MAX)) as u32,
        // Keep the last good RSS and move the clock on; the failure is the kernel's, not the
        // program's, and stopping the trace would lose more than a stale value.
        Err(_) => before,
      };
      ring.publish_sample(pages, started.elapsed().as_secs_f64());
      pages != before
    };
    sample(&ring);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
      let stop = stop.clone();
      std::thread::Builder::new().name("memtrace-sampler".into()).spawn(move || {
        lower_timer_slack();
        while !stop.load(Ordering::Relaxed) {
          if !sample(&ring) && !period.is_zero() {
            std::thread::sleep(period);
          }
        }
      })?
    };
    Ok(Sampler { stop, thread: Some(thread) })
  }

  pub fn stop(mut self) {
    self.halt();
  }

  fn halt(&mut self) {
    self.stop.store(true, Ordering::Relaxed);
    if let Some(thread) = self.thread.take() {
      let _ = thread.join();
    }
  }
}

impl Drop for Sampler {
  fn drop(&mut self) {
    self.halt();
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
    let sampler = Sampler::start(ring.clone(), Duration::from_micros(200), Instant::now()).unwrap();
    assert!(u64::from(ring.rss_pages()) * rss::page_size() > 1 << 20);
    let first = ring.clock();
    let block = vec![1u8; 64 << 20];
    let now = rss::current().unwrap();
    crate::wait_until("the sampled RSS to see 64 MiB more", || {
      u64::from(ring.rss_pages()) * rss::page_size() + (8 << 20) >= now
    });
    assert!(ring.clock() > first);
    std::hint::black_box(&block);
    sampler.stop();
    let clock = ring.clock();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(ring.clock(), clock, "no sample after stop");
  }
}
