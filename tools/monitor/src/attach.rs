//! Attached clients (`berth attach`, `berth start -a`, `berth run -it`): the monitor owns
//! the container's stdio, so attaching is talking to it over a unix socket
//! (`<run>/attach/<id>`, or a socketpair end handed over at start so nothing is missed). The
//! protocol (mode byte, greeting, frames) is defined in `berth_monitor_proto::attach`.

use std::os::fd::RawFd;

use berth_monitor_proto::attach::{self as proto, Decoder};
use berth_monitor_proto::fdpass;

struct Client {
    fd: RawFd,
    /// The mode byte, once read.
    mode: Option<u8>,
    /// Still reading input from it.
    reading: bool,
    /// Input frames not yet complete.
    frames: Decoder,
}

#[derive(Default)]
pub struct Attach {
    listen: Option<RawFd>,
    path: Option<std::ffi::CString>,
    clients: Vec<Client>,
}

/// A socket option that makes a stuck client drop instead of stalling the monitor.
fn send_timeout(fd: RawFd) {
    let tv = libc::timeval {
        tv_sec: 10,
        tv_usec: 0,
    };
    // SAFETY: `tv` is a valid timeval for the call, and its size is passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            &tv as *const _ as *const libc::c_void,
            std::mem::size_of_val(&tv) as libc::socklen_t,
        )
    };
}

fn write_all(fd: RawFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe {
            libc::send(
                fd,
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                libc::MSG_NOSIGNAL,
            )
        };
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

/// Writes to a pipe or terminal, retrying interruptions; false when it is gone.
pub fn write_fd(fd: RawFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for reads of its length.
        let n = unsafe { libc::write(fd, buf.as_ptr() as *const libc::c_void, buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            if e.kind() == std::io::ErrorKind::WouldBlock {
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, 1000) };
                continue;
            }
            return false;
        }
        buf = &buf[n as usize..];
    }
    true
}

impl Attach {
    /// Listens at `path` (replacing a stale socket). Without a socket, only handed-over
    /// clients are served.
    pub fn listen(&mut self, path: &std::ffi::OsStr) {
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_bytes();
        // SAFETY: sockaddr_un is plain data; all-zero is valid.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        if bytes.is_empty() || bytes.len() >= addr.sun_path.len() {
            return;
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        let Ok(c) = std::ffi::CString::new(bytes) else {
            return;
        };
        // SAFETY: plain socket calls on a descriptor this function owns; `addr` is a filled
        // sockaddr_un of the size passed, and `c` a NUL-terminated path.
        let fd = unsafe {
            let fd = libc::socket(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            );
            if fd < 0 {
                return;
            }
            libc::unlink(c.as_ptr());
            if libc::bind(
                fd,
                &addr as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            ) < 0
                || libc::listen(fd, 16) < 0
            {
                libc::close(fd);
                return;
            }
            libc::chmod(c.as_ptr(), 0o600);
            fd
        };
        self.listen = Some(fd);
        self.path = Some(c);
    }

    /// Removes the socket (the monitor is leaving).
    pub fn close(&mut self) {
        if let Some(p) = &self.path {
            // SAFETY: `p` is a NUL-terminated path.
            unsafe { libc::unlink(p.as_ptr()) };
        }
        if let Some(fd) = self.listen.take() {
            // SAFETY: the listening socket is ours, closed once (taken).
            unsafe { libc::close(fd) };
        }
    }

    /// A client that connected (or was handed over): greet it.
    pub fn add(&mut self, fd: RawFd, master: Option<RawFd>) {
        // SAFETY: flag changes on a descriptor the caller handed to us.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        send_timeout(fd);
        let ok = match master {
            Some(m) => fdpass::send(fd, &[proto::GREET_TTY], Some(m)).is_ok_and(|n| n == 1),
            None => write_all(fd, &[proto::GREET_PIPES]),
        };
        if ok {
            self.clients.push(Client {
                fd,
                mode: None,
                reading: true,
                frames: Decoder::input(),
            });
        } else {
            // SAFETY: the client's descriptor is ours and not kept.
            unsafe { libc::close(fd) };
        }
    }

    /// The descriptors to poll: the listening socket, then each client still reading.
    pub fn poll_fds(&self) -> Vec<RawFd> {
        let mut v: Vec<RawFd> = self.listen.into_iter().collect();
        v.extend(self.clients.iter().filter(|c| c.reading).map(|c| c.fd));
        v
    }

    /// Handles a readable descriptor from [`poll_fds`]: a new client, or a client's input,
    /// which goes to `input` (the container's stdin pipe or terminal master). Returns true
    /// when a StdinOnce client's input ended (the caller closes the container's stdin).
    pub fn ready(&mut self, fd: RawFd, master: Option<RawFd>, input: Option<RawFd>) -> bool {
        if Some(fd) == self.listen {
            // SAFETY: accept on our listening socket, no address wanted.
            let c = unsafe {
                libc::accept4(
                    fd,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if c >= 0 {
                self.add(c, master);
            }
            return false;
        }
        let Some(i) = self.clients.iter().position(|c| c.fd == fd) else {
            return false;
        };
        let mut buf = [0u8; 16 * 1024];
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            return false;
        }
        let c = &mut self.clients[i];
        if n <= 0 {
            c.reading = false;
            return false;
        }
        let mut data = &buf[..n as usize];
        if c.mode.is_none() {
            c.mode = Some(data[0]);
            data = &data[1..];
        }
        let mode = c.mode.unwrap_or(0);
        let mut ended = false;
        c.frames.push(data, |kind, payload| match kind {
            proto::IN_DATA if proto::sends_input(mode) => {
                if let Some(to) = input {
                    write_fd(to, payload);
                }
            }
            proto::IN_END => ended = proto::ends_stdin(mode),
            _ => {}
        });
        ended
    }

    /// Sends output of stream `kind` (`OUT_STDOUT`, `OUT_STDERR`) to every client.
    pub fn output(&mut self, kind: u8, data: &[u8]) {
        if self.clients.is_empty() || data.is_empty() {
            return;
        }
        self.send(&proto::output_frame(kind, data));
    }

    /// Sends a frame to every client, dropping those that are gone or stuck.
    fn send(&mut self, frame: &[u8]) {
        self.clients.retain(|c| {
            let ok = write_all(c.fd, frame);
            if !ok {
                // SAFETY: the client's descriptor is ours; dropped from the list here.
                unsafe { libc::close(c.fd) };
            }
            ok
        });
    }

    /// The container ended with `code`: tell every client, and let them go.
    pub fn ended(&mut self, code: i32) {
        self.send(&proto::exit_frame(code));
        for c in self.clients.drain(..) {
            // SAFETY: the client's descriptor is ours; drained from the list here.
            unsafe { libc::close(c.fd) };
        }
    }
}
