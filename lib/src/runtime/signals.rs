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
    let sfd = unsafe { libc::signalfd(-1, &s, libc::SFD_CLOEXEC) };
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    let _raw = match &f.master {
        Some(m) if unsafe { libc::isatty(0) } == 1 => {
            console::copy_size(0, m.as_raw_fd());
            console::RawMode::enter(0)
        }
        _ => None,
    };
    let mut stdin_open = f.stdin && f.master.is_some();
    let mut master_open = f.master.is_some();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![libc::pollfd {
            fd: sfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let (Some(m), true) = (&f.master, master_open) {
            fds.push(libc::pollfd {
                fd: m.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if stdin_open {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue;
        }
        for p in &fds[1..] {
            if p.revents == 0 {
                continue;
            }
            let r = unsafe { libc::read(p.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if p.fd == 0 {
                if r <= 0 {
                    stdin_open = false;
                    // End of input: the terminal's EOF character, as a typed Ctrl-D would be.
                    if let Some(m) = &f.master {
                        write_all(m.as_raw_fd(), &[4]);
                    }
                } else if let Some(m) = &f.master {
                    write_all(m.as_raw_fd(), &buf[..r as usize]);
                }
            } else if r <= 0 {
                master_open = false;
            } else {
                write_all(1, &buf[..r as usize]);
            }
        }
        if fds[0].revents == 0 {
            continue;
        }
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
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
                let w = unsafe { libc::waitpid(f.pid, &mut status, libc::WNOHANG) };
                if w == f.pid {
                    if let (Some(m), true) = (&f.master, master_open) {
                        drain(m.as_raw_fd(), &mut buf);
                    }
                    return exit_code(status);
                }
            }
            libc::SIGWINCH => {
                if let Some(m) = &f.master {
                    console::copy_size(0, m.as_raw_fd());
                }
            }
            _ => unsafe {
                libc::kill(f.pid, sig);
            },
        }
    }
}

/// Copies what the terminal still holds after the process exited.
fn drain(fd: RawFd, buf: &mut [u8]) {
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
        write_all(1, &buf[..r as usize]);
    }
}
