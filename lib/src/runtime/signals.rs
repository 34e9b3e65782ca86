//! The foreground: berth-spawn waits for its container while forwarding signals to it, and
//! with `-t` copies between the user's terminal (raw mode, window size followed on SIGWINCH)
//! and the container's. One thread, one poll loop over a signalfd and the terminal fds.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::console;

/// Signals forwarded to the container.
const FORWARDED: &[libc::c_int] = &[
    libc::SIGHUP,
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGTERM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGCONT,
];

fn set() -> libc::sigset_t {
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        for &sig in FORWARDED.iter().chain(&[libc::SIGCHLD, libc::SIGWINCH]) {
            libc::sigaddset(&mut s, sig);
        }
        s
    }
}

/// Blocks the forwarded signals (and SIGCHLD, SIGWINCH) so they queue for the signalfd.
/// Call before creating the container so none is lost; the container's init unblocks them.
pub fn block() {
    let s = set();
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &s, std::ptr::null_mut()) };
}

/// Decodes a wait status the way a shell does: the exit code, or 128+N for signal N.
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
    /// Read ends of the process' stdout/stderr, each with our descriptor it goes to.
    pub out: Vec<(OwnedFd, RawFd)>,
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors, which we then own.
    unsafe {
        if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])))
    }
}

impl Relay {
    /// A pipe for each of our descriptors 0-2 that is a terminal (0 only when `stdin`): the
    /// process' ends, to give it as stdio (`None` where it keeps ours), and the relay.
    pub fn for_terminals(stdin: bool) -> std::io::Result<([Option<OwnedFd>; 3], Relay)> {
        let mut child: [Option<OwnedFd>; 3] = [None, None, None];
        let mut relay = Relay::default();
        // SAFETY: isatty only looks at the descriptor.
        let tty = |fd: RawFd| unsafe { libc::isatty(fd) } == 1;
        if stdin && tty(0) {
            let (r, w) = pipe()?;
            child[0] = Some(r);
            relay.stdin = Some(w);
        }
        for fd in [1, 2] {
            if tty(fd) {
                let (r, w) = pipe()?;
                // SAFETY: a flag change on our own descriptor: drained without blocking.
                unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
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
    Master,
    Stdin,
    Out(usize),
}

fn write_all(fd: RawFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        buf = &buf[n as usize..];
    }
}

/// Waits for `pid` to exit, forwarding signals; returns its exit code (128+N if killed).
pub fn wait(f: Foreground) -> i32 {
    block();
    let s = set();
    // SAFETY: signalfd makes a new descriptor, which we then own.
    let sfd = unsafe { OwnedFd::from_raw_fd(libc::signalfd(-1, &s, libc::SFD_CLOEXEC)) };
    let _raw = match &f.master {
        Some(m) if unsafe { libc::isatty(0) } == 1 => {
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
        let mut fds = vec![pollin(sfd.as_raw_fd())];
        let mut sources = vec![Source::Master];
        if let (Some(m), true) = (&f.master, master_open) {
            fds.push(pollin(m.as_raw_fd()));
            sources.push(Source::Master);
        }
        if stdin_open {
            fds.push(pollin(0));
            sources.push(Source::Stdin);
        }
        for (i, (r, _)) in relay.out.iter().enumerate() {
            if out_open[i] {
                fds.push(pollin(r.as_raw_fd()));
                sources.push(Source::Out(i));
            }
        }
        // SAFETY: poll on descriptors we hold, with the vector's length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue;
        }
        for (p, src) in fds[1..].iter().zip(&sources[1..]) {
            if p.revents == 0 {
                continue;
            }
            // SAFETY: reads into our buffer, within its length.
            let r = unsafe { libc::read(p.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            let data = &buf[..r.max(0) as usize];
            match *src {
                Source::Master if r <= 0 => master_open = false,
                Source::Master => write_all(1, data),
                Source::Stdin => {
                    if r <= 0 {
                        stdin_open = false;
                        // End of input: the terminal's EOF character, as a typed Ctrl-D
                        // would be; or the end of the process' stdin pipe.
                        if let Some(m) = &f.master {
                            write_all(m.as_raw_fd(), &[4]);
                        }
                        relay.stdin = None;
                    } else if let Some(m) = &f.master {
                        write_all(m.as_raw_fd(), data);
                    } else if let Some(w) = &relay.stdin {
                        write_all(w.as_raw_fd(), data);
                    }
                }
                Source::Out(i) if r <= 0 => out_open[i] = false,
                Source::Out(i) => write_all(relay.out[i].1, data),
            }
        }
        if fds[0].revents == 0 {
            continue;
        }
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        // SAFETY: reads one siginfo record into a local of its size.
        let r = unsafe {
            libc::read(
                sfd.as_raw_fd(),
                &mut info as *mut _ as *mut libc::c_void,
                std::mem::size_of::<libc::signalfd_siginfo>(),
            )
        };
        if r <= 0 {
            continue;
        }
        let sig = info.ssi_signo as libc::c_int;
        match sig {
            libc::SIGCHLD => {
                let mut status = 0;
                // SAFETY: waitpid writes the status into a local.
                let w = unsafe { libc::waitpid(f.pid, &mut status, libc::WNOHANG) };
                if w == f.pid {
                    if let (Some(m), true) = (&f.master, master_open) {
                        drain(m.as_raw_fd(), 1, &mut buf);
                    }
                    for (i, (r, to)) in relay.out.iter().enumerate() {
                        if out_open[i] {
                            drain(r.as_raw_fd(), *to, &mut buf);
                        }
                    }
                    return exit_code(status);
                }
            }
            libc::SIGWINCH => {
                if let Some(m) = &f.master {
                    console::copy_size(0, m.as_raw_fd());
                }
            }
            // SAFETY: a signal to the process we wait for.
            _ => unsafe {
                libc::kill(f.pid, sig);
            },
        }
    }
}

fn pollin(fd: RawFd) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// Copies what a terminal or pipe still holds after the process exited to `to`.
fn drain(fd: RawFd, to: RawFd, buf: &mut [u8]) {
    loop {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut p, 1, 0) } <= 0 {
            return;
        }
        let r = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if r <= 0 {
            return;
        }
        write_all(to, &buf[..r as usize]);
    }
}
