//! berth-init: PID 1 of a container run with `--init`, in the manner of docker-init (tini)
//! and catatonit. It starts the command as its only child, forwards every signal it gets to
//! it, reaps every zombie of the container, and exits with the command's status (128+N when
//! signal N killed it).
//!
//! berth-spawn runs it from a sealed in-memory copy (`berth::runtime::exeseal`), so
//! `/proc/1/exe` in the container never leads to a host file. It depends on nothing but libc
//! and is installed static, since it runs inside the container's root (no host libc there).
//!
//! Usage: `berth-init [--] COMMAND [ARG...]`. berth-spawn has already looked the command up
//! with Docker's rules (126/127); it passes the file it found in the environment variable
//! `BERTH_INIT_EXEC`, which the command does not see (also defined in
//! lib/src/runtime/init/exec.rs). Without it, COMMAND is looked up in PATH.
//!
//! It runs the command in a process group of its own (the terminal's foreground group with
//! `-t`); its process name is `berth-init` and its command line `berth-init -- CMD...`.
//! `scripts/build-static.sh berth-init` builds it as shipped (crt-static, `--target`,
//! size-optimised, like the monitor), `scripts/install.sh` installs it beside berth-spawn,
//! the end-to-end harness builds it for the tests (`tests/src/static_init.rs`), and
//! berth-spawn refuses a dynamically linked one, saying how to build it. In the container
//! `/proc/1/exe` is `/memfd:berth-init (deleted)` for the container's whole life.

use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

/// The file berth-spawn found for the command.
const EXEC_ENV: &str = "BERTH_INIT_EXEC";

/// What the child runs, prepared before the fork.
struct Command {
    /// The file to execute; `None` to look `argv[0]` up in PATH.
    path: Option<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

fn cstring(s: OsString) -> CString {
    CString::new(s.into_vec()).unwrap_or_default()
}

fn command() -> Option<Command> {
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "--") {
        args.remove(0);
    }
    if args.is_empty() {
        return None;
    }
    let mut path = None;
    let mut envp = Vec::new();
    for (k, v) in std::env::vars_os() {
        if k == EXEC_ENV {
            path = Some(cstring(v));
            continue;
        }
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        envp.push(cstring(kv));
    }
    Some(Command {
        path,
        argv: args.into_iter().map(cstring).collect(),
        envp,
    })
}

fn ptrs(v: &[CString]) -> Vec<*const libc::c_char> {
    v.iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// In the child: its own process group, in the foreground of the terminal if there is one
/// (so a Ctrl-C reaches it once, from the terminal, not again through us), a clean signal
/// mask, and the exec. Never returns.
fn run_child(c: &Command) -> ! {
    let argv = ptrs(&c.argv);
    let envp = ptrs(&c.envp);
    // SAFETY: plain syscalls in the child of a single-threaded process; the pointers point
    // into `c`, which outlives the exec.
    unsafe {
        libc::setpgid(0, 0);
        if libc::isatty(0) == 1 {
            // SIGTTOU is blocked, so a background group may take the terminal.
            libc::tcsetpgrp(0, libc::getpid());
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        match &c.path {
            Some(p) => libc::execve(p.as_ptr(), argv.as_ptr(), envp.as_ptr()),
            None => libc::execvpe(c.argv[0].as_ptr(), argv.as_ptr(), envp.as_ptr()),
        };
    }
    let e = std::io::Error::last_os_error();
    eprintln!(
        "berth-init: exec {}: {e}",
        String::from_utf8_lossy(c.argv[0].as_bytes())
    );
    let code = if e.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    };
    // SAFETY: leaving the child without running the parent's exit handlers.
    unsafe { libc::_exit(code) }
}

/// A wait status as a shell reports it: the exit code, or 128+N for signal N.
fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Reaps every child that has ended; returns the command's status once it is among them.
fn reap(command: libc::pid_t) -> Option<libc::c_int> {
    let mut ended = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return ended;
        }
        if pid == command {
            ended = Some(status);
        }
    }
}

fn main() {
    let Some(cmd) = command() else {
        eprintln!("usage: berth-init [--] COMMAND [ARG...]");
        std::process::exit(2);
    };
    // SAFETY: process attributes and the signal mask of this single-threaded process.
    let all = unsafe {
        // The kernel named us after the memfd we were run from.
        libc::prctl(libc::PR_SET_NAME, c"berth-init".as_ptr(), 0, 0, 0);
        if libc::getpid() != 1 {
            // Not PID 1 (`--pid host`): orphans must still come to us to be reaped.
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        all
    };
    // SAFETY: fork in a single-threaded process.
    let child = unsafe { libc::fork() };
    if child < 0 {
        eprintln!("berth-init: fork: {}", std::io::Error::last_os_error());
        std::process::exit(126);
    }
    if child == 0 {
        run_child(&cmd);
    }
    loop {
        // SAFETY: waits for a blocked signal; `info` is a local.
        let sig = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::sigwaitinfo(&all, &mut info)
        };
        if sig < 0 {
            continue;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: a signal to our own child (ESRCH once it is gone is harmless).
            unsafe { libc::kill(child, sig) };
            continue;
        }
        if let Some(status) = reap(child) {
            std::process::exit(exit_code(status));
        }
    }
}
