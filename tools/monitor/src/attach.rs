//! Attached clients (`berth attach`, `berth start -a`, `berth run -it`): the monitor owns
//! the container's stdio, so attaching is talking to it over a unix socket
//! (`<run>/attach/<id>`, or a socketpair end handed over at start so nothing is missed).
//!
//! Protocol, client to monitor: one mode byte (bit 0: the client sends input, bit 1: close
//! the container's stdin when the client's input ends, Docker's StdinOnce), then frames
//! `[kind, len: u32 BE] payload`: kind 0 input, kind 1 end of input. A client that goes away
//! without ending its input (a detach) leaves the container's stdin open.
//! Monitor to client: one greeting byte, `t` (a terminal: its master comes along with
//! SCM_RIGHTS, for the client's window-size changes) or `p` (pipes); then Docker's
//! multiplexed frames `[kind, 0, 0, 0, len: u32 BE] payload`, kind 1 stdout, 2 stderr (a
//! terminal's output is kind 1), and berth's kind 3, the exit code in decimal, sent before
//! the monitor closes the connection when the container ends.

use std::os::fd::RawFd;

const INPUT: u8 = 1;
const STDIN_ONCE: u8 = 2;

struct Client {
    fd: RawFd,
    /// The mode byte, once read.
    mode: Option<u8>,
    /// Still reading input from it.
    reading: bool,
    /// Input frames not yet complete.
    buf: Vec<u8>,
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
        // SAFETY: plain socket calls on a descriptor this function owns.
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
            unsafe { libc::unlink(p.as_ptr()) };
        }
        if let Some(fd) = self.listen.take() {
            unsafe { libc::close(fd) };
        }
    }

    /// A client that connected (or was handed over): greet it.
    pub fn add(&mut self, fd: RawFd, master: Option<RawFd>) {
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        send_timeout(fd);
        let ok = match master {
            Some(m) => send_with_fd(fd, b"t", m),
            None => write_all(fd, b"p"),
        };
        if ok {
            self.clients.push(Client {
                fd,
                mode: None,
                reading: true,
                buf: Vec::new(),
            });
        } else {
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
        c.buf.extend_from_slice(data);
        let mode = c.mode.unwrap_or(0);
        let mut ended = false;
        let mut at = 0;
        while c.buf.len() - at >= 5 {
            let len =
                u32::from_be_bytes([c.buf[at + 1], c.buf[at + 2], c.buf[at + 3], c.buf[at + 4]])
                    as usize;
            if c.buf.len() - at - 5 < len {
                break;
            }
            let payload = &c.buf[at + 5..at + 5 + len];
            match c.buf[at] {
                0 if mode & INPUT != 0 => {
                    if let Some(to) = input {
                        write_fd(to, payload);
                    }
                }
                1 => ended = mode & (INPUT | STDIN_ONCE) == INPUT | STDIN_ONCE,
                _ => {}
            }
            at += 5 + len;
        }
        c.buf.drain(..at);
        ended
    }

    /// Sends output of stream `kind` (1 stdout, 2 stderr) to every client.
    pub fn output(&mut self, kind: u8, data: &[u8]) {
        if self.clients.is_empty() || data.is_empty() {
            return;
        }
        let mut frame = Vec::with_capacity(8 + data.len());
        frame.push(kind);
        frame.extend_from_slice(&[0, 0, 0]);
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(data);
        self.clients.retain(|c| {
            let ok = write_all(c.fd, &frame);
            if !ok {
                unsafe { libc::close(c.fd) };
            }
            ok
        });
    }

    /// The container ended with `code`: tell every client, and let them go.
    pub fn ended(&mut self, code: i32) {
        let text = code.to_string();
        self.output(3, text.as_bytes());
        for c in self.clients.drain(..) {
            unsafe { libc::close(c.fd) };
        }
    }
}

/// One byte with a descriptor attached (SCM_RIGHTS).
fn send_with_fd(sock: RawFd, byte: &[u8], fd: RawFd) -> bool {
    let mut iov = libc::iovec {
        iov_base: byte.as_ptr() as *mut libc::c_void,
        iov_len: byte.len(),
    };
    let mut cbuf = [0u64; 4];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as _;
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) == 1
    }
}
