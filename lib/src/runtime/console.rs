//! Terminals: a pty from the container's own devpts, window sizes, raw mode for the user's
//! terminal, and handing a master to a `--console-socket` (SCM_RIGHTS), as runc does.

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};

/// Opens a new pty pair's master and returns it with the slave's path.
pub fn open_pty() -> std::io::Result<(OwnedFd, PathBuf)> {
    let m = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&m)?;
    unlockpt(&m)?;
    let name = ptsname_r(&m)?;
    Ok((m.into(), PathBuf::from(name)))
}

// The window size ioctls stay raw: nix has no wrapper for TIOCGWINSZ/TIOCSWINSZ beyond its
// ioctl macros, which generate the same unsafe call.

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ only reads a winsize, and `ws` is one that lives across the call.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// Copies the window size of terminal `from` to `to`.
pub fn copy_size(from: RawFd, to: RawFd) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, a local of that type.
    if unsafe { libc::ioctl(from, libc::TIOCGWINSZ, &mut ws) } == 0 {
        // SAFETY: TIOCSWINSZ only reads the winsize filled in above.
        unsafe { libc::ioctl(to, libc::TIOCSWINSZ, &ws) };
    }
}

/// The user's terminal in raw mode until dropped.
pub struct RawMode {
    fd: RawFd,
    saved: Termios,
}

impl RawMode {
    /// `fd` must stay open while the returned guard lives (callers pass 0, their stdin).
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        // SAFETY: used for this call only, on the caller's open descriptor.
        let t = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = tcgetattr(t).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        // Keep output post-processing off too: the container's tty does it.
        let _ = tcsetattr(t, SetArg::TCSANOW, &raw);
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: `enter`'s caller keeps the descriptor open while the guard lives.
        let t = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = tcsetattr(t, SetArg::TCSANOW, &self.saved);
    }
}

/// Sends a terminal master to the AF_UNIX socket at `path` (runc's --console-socket).
pub fn send_to_socket(path: &Path, master: RawFd) -> std::io::Result<()> {
    let sock = std::os::unix::net::UnixStream::connect(path)?;
    use std::os::fd::AsRawFd;
    super::channel::send_packet(sock.as_raw_fd(), b"/dev/ptmx", Some(master))
}
