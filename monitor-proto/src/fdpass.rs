//! One message on a unix socket with at most one descriptor attached (SCM_RIGHTS). Used by
//! the attach greeting (a terminal's master), `monitor-hook respawn`'s answer to the monitor
//! (the new pid and master), berth-spawn's sync channel and runc's `--console-socket`.
//!
//! Received descriptors are close-on-exec (`MSG_CMSG_CLOEXEC`); any beyond the first are
//! closed, so a peer cannot leave descriptors in the receiver.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Room for one control message with a few descriptors, aligned for `cmsghdr`.
type ControlBuf = [u64; 8];

const FD_SIZE: u32 = std::mem::size_of::<RawFd>() as u32;

/// Retries `f` while it fails with EINTR.
fn retry(mut f: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let r = f();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Sends `bytes` on `sock`, with `fd` attached if given. Returns the bytes sent.
pub fn send(sock: RawFd, bytes: &[u8], fd: Option<RawFd>) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    let mut cbuf: ControlBuf = [0; 8];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if let Some(fd) = fd {
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        // SAFETY: CMSG_SPACE only computes a size.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(FD_SIZE) } as _;
        // SAFETY: msg_control points at `cbuf`, which is aligned for cmsghdr and larger than
        // CMSG_SPACE(one fd), so CMSG_FIRSTHDR is non-null and its header and data lie
        // inside `cbuf`; the data may be unaligned, hence write_unaligned.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(FD_SIZE) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        }
    }
    // SAFETY: `msg` points at `iov` (which borrows `bytes`) and `cbuf`, all alive for the call.
    retry(|| unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) })
}

/// Receives one message into `buf`: its length (0 at end-of-file) and the descriptor that
/// came with it, if any.
pub fn recv(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    // SAFETY: `buf` is initialised, so viewing it as possibly uninitialised bytes is sound,
    // and recv_into only writes bytes into it.
    recv_into(sock, unsafe {
        &mut *(buf as *mut [u8] as *mut [std::mem::MaybeUninit<u8>])
    })
}

/// [`recv`] into the spare capacity of `buf`, which grows by the message's length: a
/// receiver that allows large messages reserves room for them without first zeroing it,
/// which on a freshly cloned process costs a page fault per page.
pub fn recv_vec(sock: RawFd, buf: &mut Vec<u8>) -> io::Result<Option<OwnedFd>> {
    let (n, fd) = recv_into(sock, buf.spare_capacity_mut())?;
    // SAFETY: the kernel wrote the first `n` bytes of the spare capacity (recvmsg returns how
    // many it wrote, at most the room given).
    unsafe { buf.set_len(buf.len() + n) };
    Ok(fd)
}

fn recv_into(
    sock: RawFd,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut cbuf: ControlBuf = [0; 8];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = std::mem::size_of::<ControlBuf>() as _;
    // SAFETY: `msg` points at `iov` (which borrows `buf`) and `cbuf`, alive for the call; the
    // kernel writes at most their lengths.
    let n = retry(|| unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) })?;
    let mut first = None;
    // SAFETY: the kernel filled `cbuf` with msg_controllen bytes of well-formed control
    // messages; CMSG_FIRSTHDR/CMSG_NXTHDR stay inside them, and an SCM_RIGHTS message's
    // data holds (cmsg_len - CMSG_LEN(0)) / 4 descriptors that are now ours, each read
    // unaligned and owned exactly once.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c) as *const RawFd;
                let count =
                    ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / FD_SIZE as usize;
                for i in 0..count {
                    let fd = OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i)));
                    // The first is the answer; the rest are closed here.
                    first.get_or_insert(fd);
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, first))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn bytes_and_a_descriptor_cross_a_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut r, mut w) = {
            let (r, w) = UnixStream::pair().unwrap();
            (r, w)
        };
        assert_eq!(send(a.as_raw_fd(), b"t", Some(w.as_raw_fd())).unwrap(), 1);
        let mut buf = [0u8; 8];
        let (n, fd) = recv(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..n], b"t");
        // The descriptor received is the same socket: what goes in comes out of `r`.
        let mut passed = UnixStream::from(fd.expect("a descriptor"));
        passed.write_all(b"via fd").unwrap();
        drop(passed);
        w.flush().unwrap();
        drop(w);
        let mut got = String::new();
        r.read_to_string(&mut got).unwrap();
        assert_eq!(got, "via fd");
    }

    #[test]
    fn received_descriptors_are_close_on_exec() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        send(a.as_raw_fd(), b"x", Some(f.as_raw_fd())).unwrap();
        let (_, fd) = recv(b.as_raw_fd(), &mut [0u8; 1]).unwrap();
        let fd = fd.unwrap();
        // SAFETY: F_GETFD on a descriptor we own.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
    }

    #[test]
    fn into_spare_capacity_after_what_the_vec_holds() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        send(a.as_raw_fd(), b"5678", Some(f.as_raw_fd())).unwrap();
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(b"12");
        let fd = recv_vec(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!((&buf[..], fd.is_some()), (&b"125678"[..], true));
        drop(a);
        assert!(recv_vec(b.as_raw_fd(), &mut buf).unwrap().is_none());
        assert_eq!(buf, b"125678");
    }

    #[test]
    fn without_a_descriptor_and_at_end_of_file() {
        let (a, b) = UnixStream::pair().unwrap();
        send(a.as_raw_fd(), b"1234\n", None).unwrap();
        let mut buf = [0u8; 16];
        let (n, fd) = recv(b.as_raw_fd(), &mut buf).unwrap();
        assert_eq!((&buf[..n], fd.is_none()), (&b"1234\n"[..], true));
        drop(a);
        assert_eq!(recv(b.as_raw_fd(), &mut buf).unwrap().0, 0);
    }

    #[test]
    fn a_closed_socket_is_an_error() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        assert!(send(a.as_raw_fd(), b"x", None).is_err());
    }
}
