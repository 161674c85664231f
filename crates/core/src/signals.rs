//! Ending logs when SIGINT or SIGTERM ends the process.
//!
//! With no JavaScript listener, Node lets these signals kill the process at once: no `exit`
//! event, no cleanup hook, and a JS handler of ours would wait for a busy event loop, changing
//! what Ctrl-C does. So the handler is native and does the least a handler may: it writes the
//! signal number to a pipe. A watcher thread reads it, ends every running log (the writer drains
//! the ring and writes LAST and EOF), puts back the handler that was there before (Node's, which
//! restores the terminal) and raises the signal again, so the process ends as it would have.
//!
//! If JavaScript later listens for the signal, libuv installs its own handler over ours and the
//! program's handler decides; the `exit` event then ends the logs. When the last listener goes,
//! libuv puts back the default action, and JavaScript calls [`install`] again.

#[cfg(unix)]
pub use unix::install;

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
    let previous = PREVIOUS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, old)) = previous.iter().find(|(caught, _)| *caught == signal) {
      // SAFETY: `old` is the action sigaction gave us for this signal.
      unsafe { libc::sigaction(signal, old, std::ptr::null_mut()) };
    }
    // SAFETY: raising a signal in our own process.
    unsafe { libc::raise(signal) };
  }
}
