//! Ending logs when SIGINT or SIGTERM ends the process.
//!
//! With no JavaScript listener, Node lets these signals kill the process at once: no `exit`
//! event, no cleanup hook, and a JS handler of ours would wait for a busy event loop, changing
//! what Ctrl-C does. So the handler is native and does the least a handler may: it writes the
//! signal number to a pipe. A watcher thread reads it, ends every running log (the writer drains
//! the ring and writes LAST and EOF), puts back the handler that was there before (Node's, which
//! restores the terminal) and raises the signal again, so the process ends as it would have.
//!
//! What else must be done first (the heap profiles, each written on its own thread) is a
//! [`LastWord`]: the watcher says them all at once, after the logs end, and waits for them as
//! long as [`LAST_WORDS_PATIENCE`] at most, so that the process still dies promptly.
//!
//! If JavaScript later listens for the signal, libuv installs its own handler over ours and the
//! program's handler decides; the `exit` event then ends the logs. When the last listener goes,
//! libuv puts back the default action, and JavaScript calls [`install`] again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

#[cfg(unix)]
pub use unix::install;

/// Work to finish before a caught signal ends the process, by a deadline: it returns when done,
/// or at the deadline at the latest.
pub type LastWord = Arc<dyn Fn(Instant) + Send + Sync>;

/// How long last words may take, together.
pub const LAST_WORDS_PATIENCE: Duration = Duration::from_secs(2);

static LAST_WORDS: Mutex<Vec<(u64, LastWord)>> = Mutex::new(Vec::new());
static NEXT_WORD: AtomicU64 = AtomicU64::new(0);

/// Has `word` said before a caught signal ends the process, until [`forget`] is given the id.
pub fn add_last_word(word: LastWord) -> u64 {
  let id = NEXT_WORD.fetch_add(1, Ordering::Relaxed);
  LAST_WORDS.lock().unwrap_or_else(|p| p.into_inner()).push((id, word));
  id
}

pub fn forget(id: u64) {
  LAST_WORDS.lock().unwrap_or_else(|p| p.into_inner()).retain(|(word, _)| *word != id);
}

/// Says every last word at once, each on a thread of its own, and returns when all are done or
/// `patience` is up (one still at work then is left to the end of the process).
pub fn say_last_words(patience: Duration) {
  let words: Vec<LastWord> =
    LAST_WORDS.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(_, word)| word.clone()).collect();
  let deadline = Instant::now() + patience;
  let (done, finished) = mpsc::channel();
  for word in &words {
    let (word, done) = (word.clone(), done.clone());
    std::thread::spawn(move || {
      word(deadline);
      let _ = done.send(());
    });
  }
  for _ in &words {
    if finished.recv_timeout(deadline.saturating_duration_since(Instant::now())).is_err() {
      return;
    }
  }
}

/// Signals are not caught on this OS; logs end through the `exit` event only.
#[cfg(not(unix))]
pub fn install(_signals: &[i32]) -> std::io::Result<()> {
  Ok(())
}

#[cfg(unix)]
mod unix {
  use std::io;
  use std::mem::MaybeUninit;
  use std::sync::atomic::{AtomicI32, Ordering};
  use std::sync::Mutex;
  use std::time::Duration;

  use crate::profiler::finish_all_for_signal;

  /// How long the watcher waits for writers before letting the signal through anyway.
  const PATIENCE: Duration = Duration::from_secs(5);

  /// The write end of the self-pipe, read by the handler; -1 until installed.
  static PIPE: AtomicI32 = AtomicI32::new(-1);
  /// Handlers we replaced, to put back before re-raising.
  static PREVIOUS: Mutex<Vec<(i32, libc::sigaction)>> = Mutex::new(Vec::new());

  extern "C" fn on_signal(signal: libc::c_int) {
    let byte = signal as u8;
    // SAFETY: write(2) is async-signal-safe; the pipe is non-blocking, so a full pipe drops the
    // byte instead of blocking the handler (one byte per signal is all that is needed).
    unsafe {
      libc::write(PIPE.load(Ordering::Relaxed), (&byte as *const u8).cast(), 1);
    }
  }

  /// Catches `signals`. The handler that was there the first time is kept, to be put back
  /// before the signal is raised again; later calls set ours again (after libuv replaced it).
  pub fn install(signals: &[i32]) -> io::Result<()> {
    // Under the lock, so that two threads installing at once start one watcher.
    let mut previous = PREVIOUS.lock().unwrap_or_else(|p| p.into_inner());
    if PIPE.load(Ordering::Acquire) < 0 {
      start_watcher()?;
    }
    for &signal in signals {
      let first = !previous.iter().any(|(caught, _)| *caught == signal);
      let mut old = MaybeUninit::<libc::sigaction>::zeroed();
      // SAFETY: a zeroed sigaction is valid; we set the handler and an empty mask.
      let mut ours: libc::sigaction = unsafe { std::mem::zeroed() };
      ours.sa_sigaction = on_signal as *const () as libc::sighandler_t;
      ours.sa_flags = libc::SA_RESTART;
      // SAFETY: `ours.sa_mask` is a valid sigset_t to initialise.
      unsafe { libc::sigemptyset(&mut ours.sa_mask) };
      // SAFETY: both pointers are valid sigaction structures.
      if unsafe { libc::sigaction(signal, &ours, old.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
      }
      if first {
        // SAFETY: sigaction succeeded, so it filled `old`.
        previous.push((signal, unsafe { old.assume_init() }));
      }
    }
    Ok(())
  }

  fn start_watcher() -> io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
      return Err(io::Error::last_os_error());
    }
    let [read, write] = fds;
    // SAFETY: fcntl on descriptors we just created.
    unsafe {
      libc::fcntl(write, libc::F_SETFL, libc::O_NONBLOCK);
      libc::fcntl(read, libc::F_SETFD, libc::FD_CLOEXEC);
      libc::fcntl(write, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    std::thread::Builder::new().name("memtrace-signals".into()).spawn(move || loop {
      let mut byte = 0u8;
      // SAFETY: reading one byte into a local.
      let n = unsafe { libc::read(read, (&mut byte as *mut u8).cast(), 1) };
      if n == 1 {
        pass_on(i32::from(byte));
      } else if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
        return;
      }
    })?;
    PIPE.store(write, Ordering::Release);
    Ok(())
  }

  /// Ends the logs, then lets the signal do what it did before we caught it.
  fn pass_on(signal: i32) {
    finish_all_for_signal(signal, PATIENCE);
    super::say_last_words(super::LAST_WORDS_PATIENCE);
    let previous = PREVIOUS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, old)) = previous.iter().find(|(caught, _)| *caught == signal) {
      // SAFETY: `old` is the action sigaction gave us for this signal.
      unsafe { libc::sigaction(signal, old, std::ptr::null_mut()) };
    }
    // SAFETY: raising a signal in our own process.
    unsafe { libc::raise(signal) };
  }
}

#[cfg(test)]
mod tests {
  use std::sync::atomic::AtomicUsize;

  use super::*;

  /// Last words are the process's: one test at a time says them.
  static SAYING: Mutex<()> = Mutex::new(());

  #[test]
  fn last_words_are_said_at_once_until_forgotten() {
    let _one = SAYING.lock().unwrap_or_else(|p| p.into_inner());
    static SAID: AtomicUsize = AtomicUsize::new(0);
    let (started, waiting) = mpsc::channel::<()>();
    let waiting = Mutex::new(waiting);
    // This word waits for the other to start: they run at the same time, or it times out.
    let patient = add_last_word(Arc::new(move |deadline| {
      if waiting.lock().unwrap().recv_timeout(deadline.saturating_duration_since(Instant::now())).is_ok() {
        SAID.fetch_add(1, Ordering::SeqCst);
      }
    }));
    let prompt = add_last_word(Arc::new(move |_| {
      let _ = started.send(());
      SAID.fetch_add(10, Ordering::SeqCst);
    }));
    say_last_words(Duration::from_secs(60));
    assert_eq!(SAID.load(Ordering::SeqCst), 11);
    forget(patient);
    say_last_words(Duration::from_secs(60));
    assert_eq!(SAID.load(Ordering::SeqCst), 21, "only the word not forgotten is said again");
    forget(prompt);
  }

  #[test]
  fn a_word_that_does_not_finish_is_not_waited_for_past_the_deadline() {
    let _one = SAYING.lock().unwrap_or_else(|p| p.into_inner());
    let late = add_last_word(Arc::new(|_| std::thread::park_timeout(Duration::from_secs(3600))));
    // It returns: the word's thread is left behind, as the process is about to end.
    let (done, returned) = mpsc::channel();
    std::thread::spawn(move || {
      say_last_words(Duration::from_millis(50));
      done.send(()).unwrap();
    });
    assert!(returned.recv_timeout(Duration::from_secs(60)).is_ok());
    forget(late);
  }
}
