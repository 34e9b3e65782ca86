//! The foreground: berth-spawn waits for its container while forwarding signals to it, and
//! with `-t` copies between the user's terminal (raw mode, window size followed on SIGWINCH)
//! and the container's. One thread, one poll loop over a signalfd and the terminal fds.
//!
//! No host terminal reaches a container: every process berth-spawn starts in one calls
//! `setsid()` first (its controlling terminal is the container's pty with `-t`, else none),
//! and an `exec`, or a foreground `run`/`start -`, without `-t` whose caller's stdio is a
//! terminal gets pipes in place of each terminal descriptor (stdin only with `-i`, else
//! /dev/null), which berth-spawn relays ([`Relay`]), as Docker's daemon does. Pipes and files
//! are passed as they are.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{Pid, isatty, pipe2, read, write};

use super::console;

/// Signals forwarded to the container.
const FORWARDED: &[Signal] = &[
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGCONT,
];

fn set() -> SigSet {
    let mut s = SigSet::empty();
    for &sig in FORWARDED.iter().chain(&[Signal::SIGCHLD, Signal::SIGWINCH]) {
        s.add(sig);
    }
    s
}

/// Blocks the forwarded signals (and SIGCHLD, SIGWINCH) so they queue for the signalfd.
/// Call before creating the container so none is lost; the container's init unblocks them.
pub fn block() {
    let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set()), None);
}

/// Decodes a wait status the way a shell does: the exit code, or 128+N for signal N.
///
/// Raw status rather than nix's `WaitStatus`: nix turns a status for a signal it has no
/// `Signal` variant for (SIGRTMIN+n, which a container may well die of) into an error, and
/// the container's exit code must be 128+n there as in Docker.
pub fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

pub struct Foreground {
    pub pid: i32,
    /// The container's terminal, when it has one.
    pub master: Option<OwnedFd>,
    /// Copy our stdin to the terminal (`-i` with `-t`).
    pub stdin: bool,
    /// Pipes standing in for our terminal, without `-t`.
    pub relay: Relay,
}

/// Pipes that stand in for the caller's terminal when a process without `-t` would get it as
/// stdio (`exec` from an interactive shell): a process in the container must not hold a
/// descriptor of a host terminal (to read what is typed into it later, or to TIOCSTI with
/// CAP_SYS_ADMIN), so berth-spawn copies between the terminal and the pipes instead, as
/// Docker's daemon does.
#[derive(Default)]
pub struct Relay {
    /// Our stdin is copied into this write end (the process' stdin).
    pub stdin: Option<OwnedFd>,
    /// Read ends of the process' stdout/stderr, each with our descriptor it goes to (1 or 2).
    pub out: Vec<(OwnedFd, RawFd)>,
}

/// Our standard stream `fd` (0, 1 or 2).
fn stdio(fd: RawFd) -> BorrowedFd<'static> {
    debug_assert!((0..=2).contains(&fd));
    // SAFETY: descriptors 0-2 are the process' standard streams; berth-spawn never closes
    // them, so they stay open for the life of the process.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(pipe2(OFlag::O_CLOEXEC)?)
}

impl Relay {
    /// A pipe for each of our descriptors 0-2 that is a terminal (0 only when `stdin`): the
    /// process' ends, to give it as stdio (`None` where it keeps ours), and the relay.
    pub fn for_terminals(stdin: bool) -> std::io::Result<([Option<OwnedFd>; 3], Relay)> {
        let mut child: [Option<OwnedFd>; 3] = [None, None, None];
        let mut relay = Relay::default();
        let tty = |fd: RawFd| isatty(stdio(fd)).unwrap_or(false);
        if stdin && tty(0) {
            let (r, w) = pipe()?;
            child[0] = Some(r);
            relay.stdin = Some(w);
        }
        for fd in [1, 2] {
            if tty(fd) {
                let (r, w) = pipe()?;
                // Drained without blocking once the process is gone.
                let _ = fcntl(&r, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
                child[fd as usize] = Some(w);
                relay.out.push((r, fd));
            }
        }
        Ok((child, relay))
    }

    pub fn is_empty(&self) -> bool {
        self.stdin.is_none() && self.out.is_empty()
    }
}

/// What a polled descriptor is.
#[derive(Clone, Copy)]
enum Source {
    Signal,
    Master,
    Stdin,
    Out(usize),
}

fn write_all(fd: BorrowedFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        match write(fd, buf) {
            Ok(0) => return,
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// Reads what `fd` has into `buf`: 0 at its end or on an error.
fn read_some(fd: BorrowedFd, buf: &mut [u8]) -> usize {
    read(fd, buf).unwrap_or(0)
}

/// Waits for `pid` to exit, forwarding signals; returns its exit code (128+N if killed).
pub fn wait(f: Foreground) -> i32 {
    block();
    let sfd = match SignalFd::with_flags(&set(), SfdFlags::SFD_CLOEXEC) {
        Ok(sfd) => sfd,
        // Without a signalfd nothing can be forwarded: just wait.
        Err(_) => return reap(f.pid),
    };
    let _raw = match &f.master {
        Some(m) if isatty(stdio(0)).unwrap_or(false) => {
            console::copy_size(0, m.as_raw_fd());
            console::RawMode::enter(0)
        }
        _ => None,
    };
    let mut relay = f.relay;
    let mut stdin_open = (f.stdin && f.master.is_some()) || relay.stdin.is_some();
    let mut master_open = f.master.is_some();
    let mut out_open = vec![true; relay.out.len()];
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let mut sources = vec![Source::Signal];
        if let (Some(m), true) = (&f.master, master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            sources.push(Source::Master);
        }
        if stdin_open {
            fds.push(PollFd::new(stdio(0), PollFlags::POLLIN));
            sources.push(Source::Stdin);
        }
        for (i, (r, _)) in relay.out.iter().enumerate() {
            if out_open[i] {
                fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
                sources.push(Source::Out(i));
            }
        }
        if poll(&mut fds, PollTimeout::NONE).is_err() {
            continue;
        }
        let ready: Vec<(BorrowedFd, Source)> = fds
            .iter()
            .zip(&sources)
            .filter(|(p, _)| p.any().unwrap_or(false))
            .map(|(p, src)| (p.as_fd(), *src))
            .collect();
        let mut signalled = false;
        for (fd, src) in ready {
            let n = match src {
                Source::Signal => {
                    signalled = true;
                    continue;
                }
                _ => read_some(fd, &mut buf),
            };
            let data = &buf[..n];
            match src {
                Source::Signal => {}
                Source::Master if n == 0 => master_open = false,
                Source::Master => write_all(stdio(1), data),
                Source::Stdin => {
                    if n == 0 {
                        stdin_open = false;
                        // End of input: the terminal's EOF character, as a typed Ctrl-D
                        // would be; or the end of the process' stdin pipe.
                        if let Some(m) = &f.master {
                            write_all(m.as_fd(), &[4]);
                        }
                        relay.stdin = None;
                    } else if let Some(m) = &f.master {
                        write_all(m.as_fd(), data);
                    } else if let Some(w) = &relay.stdin {
                        write_all(w.as_fd(), data);
                    }
                }
                Source::Out(i) if n == 0 => out_open[i] = false,
                Source::Out(i) => write_all(stdio(relay.out[i].1), data),
            }
        }
        if !signalled {
            continue;
        }
        let Ok(Some(info)) = sfd.read_signal() else {
            continue;
        };
        let sig = info.ssi_signo as libc::c_int;
        match Signal::try_from(sig) {
            Ok(Signal::SIGCHLD) => {
                let mut status = 0;
                // waitpid from libc, not nix: see `exit_code`.
                // SAFETY: waitpid only writes the status into a local we own.
                let w = unsafe { libc::waitpid(f.pid, &mut status, libc::WNOHANG) };
                if w == f.pid {
                    if let (Some(m), true) = (&f.master, master_open) {
                        drain(m.as_fd(), stdio(1), &mut buf);
                    }
                    for (i, (r, to)) in relay.out.iter().enumerate() {
                        if out_open[i] {
                            drain(r.as_fd(), stdio(*to), &mut buf);
                        }
                    }
                    return exit_code(status);
                }
            }
            Ok(Signal::SIGWINCH) => {
                if let Some(m) = &f.master {
                    console::copy_size(0, m.as_raw_fd());
                }
            }
            Ok(s) => {
                let _ = kill(Pid::from_raw(f.pid), s);
            }
            Err(_) => {}
        }
    }
}

/// Waits for `pid` without forwarding anything; its exit code.
fn reap(pid: i32) -> i32 {
    loop {
        let mut status = 0;
        // waitpid from libc, not nix: see `exit_code`.
        // SAFETY: waitpid only writes the status into a local we own.
        let w = unsafe { libc::waitpid(pid, &mut status, 0) };
        if w == pid {
            return exit_code(status);
        }
        if w < 0 && Errno::last() != Errno::EINTR {
            return 255;
        }
    }
}

/// Copies what a terminal or pipe still holds after the process exited to `to`.
fn drain(fd: BorrowedFd, to: BorrowedFd, buf: &mut [u8]) {
    loop {
        let mut p = [PollFd::new(fd, PollFlags::POLLIN)];
        if !matches!(poll(&mut p, PollTimeout::ZERO), Ok(n) if n > 0) {
            return;
        }
        let n = read_some(fd, buf);
        if n == 0 {
            return;
        }
        write_all(to, &buf[..n]);
    }
}
