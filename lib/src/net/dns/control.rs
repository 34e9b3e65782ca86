//! The starter's side: bringing the resolver up, telling it of changes, and stopping it with
//! the last container. Everything here runs as berth-netns (root) under `<run>/dns/lock`.
//!
//! The resolver's sockets are made here, not by the resolver: a helper thread enters the
//! container's namespace (`setns`), binds UDP and TCP 127.0.0.11:53, and the descriptors go
//! to the resolver over the control socket (SCM_RIGHTS), so the resolver itself needs no
//! capability at all.

use std::io;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_monitor_proto::fdpass;
use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};

use super::table::Table;
use super::{ADDRESS, CTL, PIDFILE};
use crate::error::{IoContext, IoError};
use crate::net::error::{NetError, Result};
use crate::net::netns;
use crate::paths::Paths;
use crate::state::liveness;

/// How long a stopping resolver may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// A container's two bound sockets (UDP, TCP listener) on 127.0.0.11:53 in its namespace.
pub(super) fn bind_in(netns_path: &Path) -> Result<(OwnedFd, OwnedFd)> {
    let ns = netns::open(netns_path)?;
    let made = std::thread::spawn(move || -> io::Result<(OwnedFd, OwnedFd)> {
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
        let u = UdpSocket::bind((ADDRESS, 53))?;
        let t = TcpListener::bind((ADDRESS, 53))?;
        Ok((u.into(), t.into()))
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("helper thread panicked")));
    made.map_err(|e| {
        NetError::Io(IoError {
            op: "bind 127.0.0.11:53 in",
            path: netns_path.to_path_buf(),
            source: e,
        })
    })
}

/// The running resolver's pid, if the pid file names a live one.
pub(super) fn running(dir: &Path) -> Option<i32> {
    let s = std::fs::read_to_string(dir.join(PIDFILE)).ok()?;
    let mut w = s.split_whitespace();
    let pid: i32 = w.next()?.parse().ok()?;
    let start: u64 = w.next()?.parse().ok()?;
    liveness::is_alive(pid, start).then_some(pid)
}

/// Tells a running resolver of `new` containers' sockets and has it reload the table.
/// `Err` means it could not be told (gone, or not answering): the caller restarts it.
pub(super) fn tell(dir: &Path, new: &[(String, (OwnedFd, OwnedFd))]) -> io::Result<String> {
    let conn = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let timeout = nix::sys::time::TimeVal::new(EXIT_GRACE.as_secs() as i64, 0);
    socket::setsockopt(&conn, socket::sockopt::ReceiveTimeout, &timeout)?;
    socket::setsockopt(&conn, socket::sockopt::SendTimeout, &timeout)?;
    socket::connect(conn.as_raw_fd(), &UnixAddr::new(&dir.join(CTL))?)?;
    for (id, (udp, tcp)) in new {
        fdpass::send(
            conn.as_raw_fd(),
            format!("udp {id}").as_bytes(),
            Some(udp.as_raw_fd()),
        )?;
        fdpass::send(
            conn.as_raw_fd(),
            format!("tcp {id}").as_bytes(),
            Some(tcp.as_raw_fd()),
        )?;
    }
    fdpass::send(conn.as_raw_fd(), b"sync", None)?;
    let mut buf = [0u8; 64];
    let (n, _) = fdpass::recv(conn.as_raw_fd(), &mut buf)?;
    let word = String::from_utf8_lossy(&buf[..n]).into_owned();
    if word.starts_with("ok") || word == "exit" {
        Ok(word)
    } else {
        Err(io::Error::other(format!("unexpected answer {word:?}")))
    }
}

/// Starts a resolver for `table` (killing a stale one first), hands it every container's
/// sockets and waits for its first `ok`. A container whose sockets cannot be made (its
/// namespace is gone, or its own process took 127.0.0.11:53 while no resolver ran) is left
/// out, unless it is one of `must`, whose failure is the error.
pub(super) fn restart(paths: &Paths, dir: &Path, table: &Table, must: &[String]) -> Result<()> {
    if let Some(pid) = running(dir) {
        // Alive but not answering: no grace.
        stop_pid(pid, Duration::ZERO);
    }
    let mut socks = Vec::new();
    for (id, e) in &table.containers {
        match bind_in(&e.netns) {
            Ok(s) => socks.push((id.clone(), s)),
            Err(err) if must.contains(id) => return Err(err),
            Err(err) => log::warn!("resolver: container {id} left out: {err}"),
        }
    }
    let ctl = listen(&dir.join(CTL))?;
    spawn(paths, &ctl)?;
    drop(ctl);
    let word = tell(dir, &socks).map_err(|e| {
        NetError::HostUnsupported(format!(
            "the DNS resolver (berth-netns dns-resolver) did not start: {e}"
        ))
    })?;
    let pid: i32 = word
        .strip_prefix("ok ")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(0);
    if let Some(start) = liveness::start_time(pid) {
        crate::store::atomic::write_volatile(
            &dir.join(PIDFILE),
            format!("{pid} {start}\n").as_bytes(),
        )?;
    }
    Ok(())
}

/// Asks the resolver to exit (the table is empty), then makes sure it has: a resolver that
/// does not go within [`EXIT_GRACE`] is killed.
pub(super) fn stop(dir: &Path) {
    if let Some(pid) = running(dir) {
        let _ = tell(dir, &[]);
        stop_pid(pid, EXIT_GRACE);
    }
    let _ = std::fs::remove_file(dir.join(PIDFILE));
    let _ = std::fs::remove_file(dir.join(CTL));
}

/// Waits for `pid` to exit (pidfd), killing it if it has not after `grace`.
fn stop_pid(pid: i32, grace: Duration) {
    // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return;
    }
    // SAFETY: the descriptor was just returned to us and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    if !exited(&fd, grace) {
        // SAFETY: a pidfd we own, a signal number, no info, no flags.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        exited(&fd, EXIT_GRACE);
    }
}

fn exited(pidfd: &OwnedFd, within: Duration) -> bool {
    use std::os::fd::AsFd;
    let mut p = [nix::poll::PollFd::new(
        pidfd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let ms = u16::try_from(within.as_millis()).unwrap_or(u16::MAX);
    matches!(nix::poll::poll(&mut p, ms), Ok(n) if n > 0)
}

/// The listening control socket at `path` (0600; a stale file is replaced).
fn listen(path: &Path) -> Result<OwnedFd> {
    let io = |op: &'static str| {
        let path = path.to_path_buf();
        move |e: nix::errno::Errno| {
            NetError::Io(IoError {
                op,
                path,
                source: e.into(),
            })
        }
    };
    let _ = std::fs::remove_file(path);
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io("create control socket"))?;
    let addr = UnixAddr::new(path).map_err(io("name control socket"))?;
    socket::bind(fd.as_raw_fd(), &addr).map_err(io("bind control socket"))?;
    std::fs::set_permissions(
        path,
        std::os::unix::fs::PermissionsExt::from_mode(crate::store::private::FILE),
    )
    .with_path("chmod", path)?;
    socket::listen(&fd, socket::Backlog::new(16).map_err(io("listen"))?)
        .map_err(io("listen on control socket"))?;
    Ok(fd)
}

/// Starts `berth-netns dns-resolver` detached from the caller: a new session, reparented
/// away from the caller (a second fork), stdio on /dev/null, no environment but the roots,
/// and no descriptor but the control socket (as fd 3).
fn spawn(paths: &Paths, ctl: &OwnedFd) -> Result<()> {
    let exe: PathBuf = crate::paths::tool_path("berth-netns");
    let raw = ctl.as_raw_fd();
    let mut cmd = Command::new(&exe);
    cmd.args(["dns-resolver", "--ctl-fd", "3"])
        .env_clear()
        .env("BERTH_ROOT", &paths.root)
        .env("BERTH_RUN_ROOT", &paths.run)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only async-signal-safe calls are made (setsid, fork,
    // _exit, dup2, fcntl, close_range), on descriptors this process owns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            match libc::fork() {
                -1 => return Err(io::Error::last_os_error()),
                0 => {}
                _ => libc::_exit(0),
            }
            if raw == 3 {
                if libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(raw, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            // Anything else inherited without close-on-exec stays out of the resolver.
            libc::syscall(
                libc::SYS_close_range,
                4u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            Ok(())
        });
    }
    let mut child = cmd.spawn().with_path("start", &exe)?;
    // The first child exits at once (its child is the resolver).
    let _ = child.wait();
    Ok(())
}
