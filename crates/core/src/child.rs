//! The command that `memtrace run` and `memtrace monitor` run, in a process group of its own, so
//! that a signal reaches it exactly once.
//!
//! Sharing memtrace's group, the command got every signal sent to the group (a terminal's
//! Ctrl-C, `kill -INT -<pgid>`) directly, and memtrace could not tell those from signals sent to
//! it alone, which it must pass on; so it passed them on when the command was still running a
//! second later, and a program whose graceful shutdown takes longer got a second SIGINT. In a
//! group of its own, the command gets what is sent to it or to its group, and memtrace passes on
//! what is sent to memtrace or to memtrace's group: each signal once.
//!
//! On a terminal the command's group is made the foreground one, as a shell does for a job, so
//! that it reads the terminal and gets its Ctrl-C; when it stops (Ctrl-Z), memtrace takes the
//! terminal back and stops too, so that the shell sees the job stopped, and hands it back when
//! continued. Elsewhere than Unix there are no process groups: the command is spawned plainly.

use std::ffi::OsString;
use std::io;
use std::process::Command;

/// How the command ended: its exit code, or the signal that killed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
  Code(i32),
  Signal(i32),
}

/// A running command.
pub struct Child {
  pid: u32,
  #[cfg(unix)]
  terminal: Option<unix::Terminal>,
  #[cfg(not(unix))]
  child: std::process::Child,
}

impl Child {
  /// Starts `program` with `args` and the environment `env` (the whole of it), with memtrace's
  /// standard input, output and error.
  pub fn spawn(program: &OsString, args: &[OsString], env: &[(OsString, OsString)]) -> io::Result<Child> {
    let mut command = Command::new(program);
    command.args(args).env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    #[cfg(unix)]
    {
      let terminal = unix::Terminal::foreground();
      unix::own_group(&mut command, terminal.is_some());
      // Node marks its standard descriptors close-on-exec, so inheriting them as they are would
      // leave the command with none: they are given as copies, which exec keeps.
      command.stdin(unix::copy_of(0)).stdout(unix::copy_of(1)).stderr(unix::copy_of(2));
      let child = command.spawn()?;
      let pid = child.id();
      // Not waited for through std: `wait` does it, and sees stops too. Dropping a Child neither
      // waits nor kills.
      drop(child);
      if let Some(terminal) = &terminal {
        // Also here, for the race with the child's own call (as shells do).
        terminal.give_to(pid as libc::pid_t);
      }
      Ok(Child { pid, terminal })
    }
    #[cfg(not(unix))]
    {
      let child = command.spawn()?;
      Ok(Child { pid: child.id(), child })
    }
  }

  pub fn pid(&self) -> u32 {
    self.pid
  }

  /// Sends `signal` to the command's process group.
  pub fn signal(&self, signal: i32) -> io::Result<()> {
    signal_group(self.pid, signal)
  }

  /// Waits until the command has ended (blocking), taking the terminal back then.
  #[cfg(unix)]
  pub fn wait(self) -> io::Result<Exit> {
    unix::wait(self.pid as libc::pid_t, self.terminal.as_ref())
  }

  /// Waits until the command has ended (blocking).
  #[cfg(not(unix))]
  pub fn wait(mut self) -> io::Result<Exit> {
    let status = self.child.wait()?;
    Ok(Exit::Code(status.code().unwrap_or(1)))
  }
}

/// Sends `signal` to the process group that the command `pid` leads (Unix). Elsewhere there are
/// no groups to signal: a console's Ctrl-C already reaches the command, and nothing is sent.
pub fn signal_group(pid: u32, signal: i32) -> io::Result<()> {
  #[cfg(unix)]
  {
    // SAFETY: kill(2) with a negative pid signals the process group the command leads.
    if unsafe { libc::kill(-(pid as libc::pid_t), signal) } != 0 {
      return Err(io::Error::last_os_error());
    }
    Ok(())
  }
  #[cfg(not(unix))]
  {
    let _ = (pid, signal);
    Ok(())
  }
}

#[cfg(unix)]
mod unix {
  use std::io;
  use std::os::fd::BorrowedFd;
  use std::os::unix::process::CommandExt;
  use std::process::{Command, Stdio};

  use super::Exit;

  /// The controlling terminal on standard input, when memtrace's group is its foreground one.
  pub struct Terminal {
    fd: libc::c_int,
    /// memtrace's own group, which gets the terminal back.
    own: libc::pid_t,
  }

  impl Terminal {
    pub fn foreground() -> Option<Terminal> {
      // SAFETY: isatty, tcgetpgrp and getpgrp only read state of this process and fd 0.
      unsafe {
        let own = libc::getpgrp();
        (libc::isatty(0) == 1 && libc::tcgetpgrp(0) == own).then_some(Terminal { fd: 0, own })
      }
    }

    /// Makes `group` the terminal's foreground group. A background group doing so would be
    /// stopped by SIGTTOU, so it is blocked meanwhile.
    pub fn give_to(&self, group: libc::pid_t) {
      give(self.fd, group);
    }
  }

  /// tcsetpgrp with SIGTTOU blocked; async-signal-safe, for the child between fork and exec too.
  fn give(fd: libc::c_int, group: libc::pid_t) {
    // SAFETY: sigset and sigprocmask calls on local sets; tcsetpgrp on a terminal fd. All are
    // async-signal-safe system calls.
    unsafe {
      let mut block: libc::sigset_t = std::mem::zeroed();
      let mut old: libc::sigset_t = std::mem::zeroed();
      libc::sigemptyset(&mut block);
      libc::sigaddset(&mut block, libc::SIGTTOU);
      libc::pthread_sigmask(libc::SIG_BLOCK, &block, &mut old);
      libc::tcsetpgrp(fd, group);
      libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
  }

  /// A copy of this process's descriptor `fd` for the child, or nothing when it is closed.
  pub fn copy_of(fd: std::os::fd::RawFd) -> Stdio {
    // SAFETY: borrowed only to be duplicated, while `fd` is open or (if closed) fails cleanly.
    match unsafe { BorrowedFd::borrow_raw(fd) }.try_clone_to_owned() {
      Ok(copy) => Stdio::from(copy),
      Err(_) => Stdio::null(),
    }
  }

  /// The child leads a new process group; on a terminal, the foreground one.
  pub fn own_group(command: &mut Command, foreground: bool) {
    command.process_group(0);
    if foreground {
      // SAFETY: runs in the child between fork and exec, and calls only async-signal-safe
      // functions (getpid, tcsetpgrp, sigprocmask).
      unsafe {
        command.pre_exec(|| {
          give(0, libc::getpid());
          Ok(())
        });
      }
    }
  }

  pub fn wait(pid: libc::pid_t, terminal: Option<&Terminal>) -> io::Result<Exit> {
    loop {
      let mut status = 0;
      // SAFETY: waitpid on our own child, with a valid pointer for the status.
      let waited = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
      if waited < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
          continue;
        }
        return Err(err);
      }
      if libc::WIFSTOPPED(status) {
        // Ctrl-Z stopped the command: the shell must see its job stopped, which is memtrace.
        if let Some(terminal) = terminal {
          terminal.give_to(terminal.own);
          // SAFETY: stops this process until the shell continues it (fg or bg sends SIGCONT).
          unsafe { libc::kill(0, libc::SIGTSTP) };
          terminal.give_to(pid);
        }
        // SAFETY: continues the command's group, stopped by the terminal or by a signal.
        unsafe { libc::kill(-pid, libc::SIGCONT) };
        continue;
      }
      if let Some(terminal) = terminal {
        terminal.give_to(terminal.own);
      }
      return Ok(if libc::WIFSIGNALED(status) {
        Exit::Signal(libc::WTERMSIG(status))
      } else {
        Exit::Code(libc::WEXITSTATUS(status))
      });
    }
  }
}

#[cfg(all(test, unix))]
mod tests {
  use super::*;

  fn sh(script: &str) -> Child {
    let env: Vec<_> = std::env::vars_os().collect();
    Child::spawn(&"sh".into(), &["-c".into(), script.into()], &env).unwrap()
  }

  #[test]
  fn the_command_leads_a_group_of_its_own_and_its_exit_is_seen() {
    let child = sh("exit 7");
    // SAFETY: getpgid reads another process's group.
    let group = unsafe { libc::getpgid(child.pid() as libc::pid_t) };
    assert!(group == child.pid() as libc::pid_t || group < 0, "its own group (or already gone)");
    assert_eq!(child.wait().unwrap(), Exit::Code(7));
  }

  #[test]
  fn a_signal_goes_to_the_whole_group_once() {
    let child = sh("trap 'echo caught; exit 3' TERM; sleep 60 & wait");
    // SigCgt: the signals the shell catches, as a hex mask; SIGTERM is bit 15.
    let catches_term = || {
      let status = std::fs::read_to_string(format!("/proc/{}/status", child.pid())).unwrap_or_default();
      let mask = status.lines().find_map(|l| l.strip_prefix("SigCgt:")).map(str::trim).unwrap_or("0");
      u64::from_str_radix(mask, 16).is_ok_and(|mask| mask & (1 << (libc::SIGTERM - 1)) != 0)
    };
    crate::wait_until("the shell to set its trap", catches_term);
    child.signal(libc::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap(), Exit::Code(3));
  }
}
