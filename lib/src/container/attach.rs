//! Attaching to a detached container: `berth attach`, `berth start -a [-i]`, and the
//! foreground `berth run -t` (which runs the container under its monitor and attaches, so that
//! Ctrl-P Ctrl-Q can leave it running). The monitor owns the container's stdio; the client
//! speaks the protocol of `berth_monitor_proto::attach` over `<run>/attach/<id>`, or over a
//! socketpair handed to the monitor at start (nothing the container prints is missed).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use berth_monitor_proto::attach::{self as proto, Decoder};

use super::{ContainerError, load_true, sys};
use crate::error::{Code, Error};
use crate::paths::Paths;
use crate::runtime::console;
use crate::state::Containers;

/// How a client attaches.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// Send our stdin to the container.
    pub stdin: bool,
    /// Close the container's stdin when ours ends (Docker's StdinOnce: `run -i`, `start -ai`).
    pub stdin_once: bool,
    /// The detach sequence (`--detach-keys`), default Ctrl-P Ctrl-Q.
    pub detach_keys: Vec<u8>,
    /// Forward the signals we receive to the container (`--sig-proxy`).
    pub sig_proxy: bool,
}

impl Default for AttachOptions {
    fn default() -> Self {
        AttachOptions {
            stdin: false,
            stdin_once: false,
            detach_keys: vec![0x10, 0x11],
            sig_proxy: true,
        }
    }
}

/// How an attached session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The container exited with this code.
    Exited(i32),
    /// The user typed the detach sequence; the container runs on.
    Detached,
}

/// Parses Docker's `--detach-keys`: comma-separated `ctrl-X` (X one of a-z, @, [, \, ], ^,
/// _) or single characters, e.g. `ctrl-p,ctrl-q` or `ctrl-a,a`. Empty disables detaching.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, Error> {
    let bad = || {
        Error::new(
            Code::BAD_ARGS,
            format!(
                "invalid detach keys {spec:?}: use e.g. ctrl-p,ctrl-q (ctrl-<a-z@[\\]^_> or single characters)"
            ),
        )
    };
    let mut out = Vec::new();
    for k in spec.split(',').filter(|k| !k.is_empty()) {
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_')] => b & 0x1f,
                _ => return Err(bad()),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(bad());
        }
    }
    Ok(out)
}

/// Connects to the monitor of container `id`.
pub fn connect(paths: &Paths, id: &str, name: &str) -> Result<OwnedFd, Error> {
    let p = paths.attach_socket(id);
    match UnixStream::connect(&p) {
        Ok(s) => Ok(s.into()),
        Err(e) => Err(Error::new(
            Code::WRONG_STATE,
            format!(
                "cannot attach to container {name}: its monitor does not answer at {} ({e}); is it running?",
                p.display()
            ),
        )),
    }
}

/// A pair: the client's end, and the end handed to the monitor at start.
pub fn pair() -> Result<(OwnedFd, OwnedFd), Error> {
    let (a, b) = UnixStream::pair().map_err(|e| sys("socketpair", e))?;
    Ok((a.into(), b.into()))
}

fn write_all(fd: RawFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return false;
        }
        buf = &buf[n as usize..];
    }
    true
}

/// Detach-sequence matching over the input stream: bytes that might start the sequence are
/// held back until they do or do not complete it.
struct Keys {
    seq: Vec<u8>,
    matched: usize,
}

impl Keys {
    /// Feeds input; returns what to send on, and whether the sequence completed.
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        if self.seq.is_empty() {
            out.extend_from_slice(data);
            return (out, false);
        }
        for &b in data {
            if b == self.seq[self.matched] {
                self.matched += 1;
                if self.matched == self.seq.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.seq[..self.matched]);
            self.matched = 0;
            if b == self.seq[0] {
                self.matched = 1;
                if self.seq.len() == 1 {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Runs an attached session on `sock` until the container ends or the user detaches.
/// `name` is what the user typed (for messages); the container's pid (for `--sig-proxy`) is
/// read from its record when a signal arrives.
pub fn session(
    paths: &Paths,
    id: &str,
    sock: OwnedFd,
    opts: &AttachOptions,
) -> Result<Ended, Error> {
    let s = sock.as_raw_fd();
    let mode = proto::mode(opts.stdin, opts.stdin_once);
    // A monitor that already left (a container that ended at once, removed with --rm)
    // still left its greeting and frames in our socket: read them whatever this write does.
    write_all(s, &[mode]);
    // The greeting: a terminal, with its master (for window sizes), or pipes.
    let mut g = [0u8; 1];
    let (n, master) =
        crate::runtime::channel::recv_packet(s, &mut g).map_err(|e| sys("attach", e))?;
    if n == 0 {
        return Err(gone(id));
    }
    let tty = g[0] == proto::GREET_TTY;
    // SAFETY: isatty only inspects the descriptor.
    let on_terminal = unsafe { libc::isatty(0) } == 1;
    let _raw = (tty && opts.stdin && on_terminal)
        .then(|| console::RawMode::enter(0))
        .flatten();
    // SAFETY: isatty only inspects the descriptor.
    if let (Some(m), true) = (&master, unsafe { libc::isatty(1) } == 1 || on_terminal) {
        console::copy_size(if on_terminal { 0 } else { 1 }, m.as_raw_fd());
    }
    let set = signal_set(opts.sig_proxy);
    // SAFETY: `set` is a valid sigset_t; no old mask wanted.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    // SAFETY: `set` is a valid sigset_t.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
    if sfd < 0 {
        return Err(sys("signalfd", std::io::Error::last_os_error()).into());
    }
    // SAFETY: signalfd returned a new descriptor, owned only here.
    let sfd = unsafe { OwnedFd::from_raw_fd(sfd) };
    let mut keys = Keys {
        seq: opts.detach_keys.clone(),
        matched: 0,
    };
    let mut frames = Decoder::output();
    let mut stdin_open = opts.stdin;
    let mut code = None;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![
            libc::pollfd {
                fd: s,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if stdin_open {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of its length.
        if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::read(s, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                break;
            }
            frames.push(&buf[..n as usize], |kind, data| match kind {
                proto::OUT_STDOUT => {
                    write_all(1, data);
                }
                proto::OUT_STDERR => {
                    write_all(2, data);
                }
                proto::OUT_EXIT => code = proto::exit_code(data),
                _ => {}
            });
        }
        if fds[1].revents != 0 {
            // SAFETY: signalfd_siginfo is plain data; all-zero is valid.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: `info` is valid for writes of its size.
            let r = unsafe {
                libc::read(
                    sfd.as_raw_fd(),
                    &mut info as *mut _ as *mut libc::c_void,
                    std::mem::size_of::<libc::signalfd_siginfo>(),
                )
            };
            if r > 0 {
                match info.ssi_signo as libc::c_int {
                    libc::SIGWINCH => {
                        if let Some(m) = &master {
                            console::copy_size(0, m.as_raw_fd());
                        }
                    }
                    libc::SIGCHLD => {}
                    sig => forward(paths, id, sig),
                }
            }
        }
        if stdin_open && fds.get(2).is_some_and(|p| p.revents != 0) {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::read(0, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n <= 0 {
                if n < 0
                    && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                {
                    continue;
                }
                stdin_open = false;
                // Our input ended: the monitor ends the container's (StdinOnce) and keeps
                // sending output.
                write_all(s, &proto::input_frame(proto::IN_END, b""));
                continue;
            }
            let (send, detach) = keys.feed(&buf[..n as usize]);
            if !send.is_empty() {
                write_all(s, &proto::input_frame(proto::IN_DATA, &send));
            }
            if detach {
                return Ok(Ended::Detached);
            }
        }
    }
    match code {
        // The monitor sends the exit frame once the exit is recorded (and a `--rm`
        // container removed).
        Some(c) => Ok(Ended::Exited(c)),
        // The monitor went away without a word (killed): the record tells.
        None => Ok(Ended::Exited(super::wait::wait(paths, id)?)),
    }
}

/// Docker `start -a [-i]` and the foreground `run -t`: starts the container under its
/// monitor with a client already attached, and stays attached.
pub fn start_attached(paths: &Paths, arg: &str, opts: &AttachOptions) -> Result<Ended, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    // The signals to proxy are blocked before the container starts, so one that comes as
    // soon as it runs waits for the session's signalfd instead of ending us.
    let set = signal_set(opts.sig_proxy);
    // SAFETY: `set` is a valid sigset_t; no old mask wanted.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let (mine, theirs) = pair()?;
    let r = load_true(paths, &id)?;
    if r.state.as_ref().is_some_and(|s| s.status.is_active()) {
        // Already running: Docker attaches to it.
        drop((mine, theirs));
        return attach_to(paths, arg, opts);
    }
    super::start::prepare_start(paths, arg, &id, &r)?;
    super::monitor::start_detached(paths, &id, Some(theirs))?;
    session(paths, &id, mine, opts)
}

/// Docker `attach`: to a running container's monitor.
pub fn attach_to(paths: &Paths, arg: &str, opts: &AttachOptions) -> Result<Ended, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    let r = load_true(paths, &id)?;
    let s = r.state.clone().unwrap_or_default();
    if !s.status.is_active() {
        return Err(ContainerError::Status {
            id: arg.into(),
            status: s.status.as_str().into(),
            what: "You cannot attach to a stopped container, start it first".into(),
        }
        .into());
    }
    let sock = connect(paths, &id, arg)?;
    crate::events::container(&paths.root, &r, "attach", &[]);
    session(paths, &id, sock, opts)
}

fn gone(id: &str) -> Error {
    ContainerError::Status {
        id: id.into(),
        status: "gone".into(),
        what: "its monitor closed the connection".into(),
    }
    .into()
}

fn signal_set(proxy: bool) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    unsafe {
        let mut s: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut s);
        libc::sigaddset(&mut s, libc::SIGWINCH);
        if proxy {
            for sig in [
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTERM,
                libc::SIGUSR1,
                libc::SIGUSR2,
            ] {
                libc::sigaddset(&mut s, sig);
            }
        }
        s
    }
}

/// Docker's sig-proxy: a signal the client gets goes to the container's process.
fn forward(paths: &Paths, id: &str, sig: libc::c_int) {
    let c = Containers::new(paths);
    if let Ok(r) = c.load(id)
        && let Some(s) = r.state
        && s.pid > 0
        && crate::state::liveness::is_alive(s.pid, s.pid_start)
    {
        // SAFETY: kill has no memory effects; the pid was just checked against its start
        // time.
        unsafe { libc::kill(s.pid, sig) };
    }
}

/// `run -a STREAM`: in a foreground run, the output streams not named get /dev/null (Docker
/// sends them to the log only). `attach` empty is Docker's default: both attached.
pub fn unattached_to_null(
    attach: &[String],
    stdio: Option<[Option<std::os::fd::OwnedFd>; 3]>,
) -> std::io::Result<Option<[Option<std::os::fd::OwnedFd>; 3]>> {
    if attach.is_empty() {
        return Ok(stdio);
    }
    let mut fds = stdio.unwrap_or([None, None, None]);
    for (i, name) in [(1, "stdout"), (2, "stderr")] {
        if !attach.iter().any(|a| a == name) {
            let null = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
            fds[i] = Some(null.into());
        }
    }
    Ok(Some(fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_docker() {
        assert_eq!(
            parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
            vec![0x10, 0x11]
        );
        assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_detach_keys("ctrl-@").unwrap(), vec![0]);
        assert!(parse_detach_keys("ctrl-1").is_err());
        assert!(parse_detach_keys("abc").is_err());
    }

    #[test]
    fn the_sequence_is_held_back_and_released_when_it_does_not_complete() {
        let mut k = Keys {
            seq: vec![0x10, 0x11],
            matched: 0,
        };
        assert_eq!(k.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(k.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(k.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(k.feed(b"\x11rest"), (Vec::new(), true));
    }
}
