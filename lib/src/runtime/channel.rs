//! The sync channel between berth-spawn and the container's init: a `SOCK_SEQPACKET`
//! socketpair carrying one JSON message per packet, plus file descriptors (SCM_RIGHTS,
//! `berth_monitor_proto::fdpass`, shared with the monitor) where a terminal is handed over. An unexpected message is an error that names what was expected
//! (youki's `channel.rs` lesson). Both ends are close-on-exec, so the parent reads end-of-file
//! exactly when the container's `execve` succeeded.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// Messages from the container's init to berth-spawn.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToParent {
    /// The namespaces exist and the mounts are prepared; run the prestart and createRuntime
    /// hooks now (before pivot_root), then answer [`ToChild::HooksDone`].
    Hooks,
    /// The terminal's master side travels with this message.
    Terminal,
    /// Everything is set up; the process waits for the start signal.
    Ready,
    /// With `--timings`, right before [`ToParent::Ready`]: how long the init's own phases took.
    Timings(ChildTimings),
    /// The exec fifo, opened for writing now that `start` opened it for reading; its
    /// descriptor travels with this message (from the helper that opens it for a container
    /// without a mount namespace, which has no /proc to reopen it through).
    Fifo,
    /// Setup failed; `code` is the protocol code (126/127 for exec failures).
    Error { code: u8, message: String },
    /// The command's execve failed in berth-dmz (`runtime::exeseal`), with this errno; the
    /// dmz writes this message itself, by hand (`dmz.c`): keep its JSON form.
    ExecFailed(i32),
}

/// The init's phases, in microseconds, for `--timings` (`crate::timings`).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct ChildTimings {
    /// Joining its v1 cgroups.
    pub cgroups: u64,
    /// Entering namespaces, the cgroup namespace and a session keyring.
    pub namespaces: u64,
    /// The root filesystem and every mount.
    pub mounts: u64,
    /// Descriptors, cwd, rlimits, LSM, seccomp, identity and capabilities, the command lookup.
    pub confine: u64,
}

impl ChildTimings {
    /// Adds the init's phases to this process' (berth-spawn's) record.
    pub fn record(&self) {
        use std::time::Duration;
        crate::timings::add("cgroups", Duration::from_micros(self.cgroups));
        crate::timings::add("namespaces", Duration::from_micros(self.namespaces));
        crate::timings::add("mounts", Duration::from_micros(self.mounts));
        crate::timings::add("confine", Duration::from_micros(self.confine));
    }
}

/// Messages from berth-spawn to the container's init.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToChild {
    /// Cgroups joined and id maps written: go on with the setup.
    Go,
    /// The prestart and createRuntime hooks ran; `state` is the state document, for the
    /// container's own createContainer and startContainer hooks.
    HooksDone { state: serde_json::Value },
    /// Exec the container's process now.
    Start,
}

#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
}

impl Channel {
    /// A connected pair: (parent end, child end).
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        let r = unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                fds.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: socketpair succeeded: both descriptors are new and owned only here.
        unsafe {
            Ok((
                Channel {
                    fd: OwnedFd::from_raw_fd(fds[0]),
                },
                Channel {
                    fd: OwnedFd::from_raw_fd(fds[1]),
                },
            ))
        }
    }

    pub fn send<T: Serialize>(&self, msg: &T) -> io::Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
        self.send_raw(&bytes, None)
    }

    /// Sends `msg` together with a file descriptor.
    pub fn send_with_fd<T: Serialize>(&self, msg: &T, fd: RawFd) -> io::Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(io::Error::other)?;
        self.send_raw(&bytes, Some(fd))
    }

    fn send_raw(&self, bytes: &[u8], fd: Option<RawFd>) -> io::Result<()> {
        send_packet(self.fd.as_raw_fd(), bytes, fd)
    }

    /// The next message, or `None` at end-of-file (the peer exec'd or died).
    pub fn recv<T: DeserializeOwned>(&self) -> io::Result<Option<T>> {
        Ok(self.recv_with_fd()?.map(|(m, _)| m))
    }

    pub fn recv_with_fd<T: DeserializeOwned>(&self) -> io::Result<Option<(T, Option<OwnedFd>)>> {
        // Room for the largest message, not zeroed: the kernel writes only what it sends.
        let mut buf = Vec::with_capacity(64 * 1024);
        let recv =
            |buf: &mut Vec<u8>| berth_monitor_proto::fdpass::recv_vec(self.fd.as_raw_fd(), buf);
        let fd = match recv(&mut buf) {
            // The peer is gone with a message of ours unread (an init that failed while its
            // go was on the way): the kernel says so once, before what the peer sent.
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => recv(&mut buf)?,
            r => r?,
        };
        if buf.is_empty() {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad message on the sync channel: {e}"),
            )
        })?;
        Ok(Some((msg, fd)))
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Sends one packet on a socket, with an optional file descriptor (SCM_RIGHTS).
pub fn send_packet(sock: RawFd, bytes: &[u8], fd: Option<RawFd>) -> io::Result<()> {
    berth_monitor_proto::fdpass::send(sock, bytes, fd).map(drop)
}

/// Receives one packet and any file descriptor passed with it (close-on-exec).
pub fn recv_packet(sock: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    berth_monitor_proto::fdpass::recv(sock, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross_the_pair() {
        let (a, b) = Channel::pair().unwrap();
        a.send(&ToChild::Go).unwrap();
        assert!(matches!(b.recv::<ToChild>().unwrap(), Some(ToChild::Go)));
        let f = std::fs::File::open("/dev/null").unwrap();
        b.send_with_fd(&ToParent::Ready, f.as_raw_fd()).unwrap();
        let (m, fd) = a.recv_with_fd::<ToParent>().unwrap().unwrap();
        assert!(matches!(m, ToParent::Ready));
        assert!(fd.is_some());
        drop(b);
        assert!(a.recv::<ToParent>().unwrap().is_none());
    }

    #[test]
    fn what_a_peer_said_before_it_went_is_read_though_ours_was_unread() {
        let (parent, child) = Channel::pair().unwrap();
        // The init fails and says so; the go crosses its error; it is gone with the go unread.
        child
            .send(&ToParent::Error {
                code: 7,
                message: "bind source".into(),
            })
            .unwrap();
        parent.send(&ToChild::Go).unwrap();
        drop(child);
        match parent.recv::<ToParent>().unwrap() {
            Some(ToParent::Error { code: 7, message }) => assert_eq!(message, "bind source"),
            other => panic!("{other:?}"),
        }
        assert!(parent.recv::<ToParent>().unwrap().is_none());
    }
}
