//! The health check's timer. When it is due, the monitor starts `monitor-hook health ID` (which
//! runs the probe in the container and records the result) without waiting for it: the loop
//! keeps pumping the container's output meanwhile, and reads the hook's answer, the
//! milliseconds until the next probe (or anything else: none until the next start), from a
//! pipe in its poll set. The hook process itself is reaped by the loop's `waitpid`.

use std::os::fd::{IntoRawFd, RawFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_monitor_proto::args::Args;

#[derive(Default)]
pub struct Health {
    /// From a start to the first probe; `None`: no check.
    first: Option<Duration>,
    /// When the next probe is due (none while one runs or the container is not running).
    at: Option<Instant>,
    /// The running hook's answer pipe, and what it said so far.
    probe: Option<(RawFd, Vec<u8>)>,
}

impl Health {
    pub fn new(first_ms: Option<u64>) -> Health {
        let mut h = Health {
            first: first_ms.map(Duration::from_millis),
            ..Default::default()
        };
        h.rearm();
        h
    }

    /// The container (re)started.
    pub fn rearm(&mut self) {
        self.at = self.first.map(|d| Instant::now() + d);
    }

    /// The container ended: no more probes until it starts again.
    pub fn stop(&mut self) {
        self.at = None;
    }

    /// When the loop must wake up for us.
    pub fn due(&self) -> Option<Instant> {
        self.at
    }

    /// The pipe to poll while a probe runs.
    pub fn fd(&self) -> Option<RawFd> {
        self.probe.as_ref().map(|p| p.0)
    }

    /// Starts the hook if a probe is due.
    pub fn tick(&mut self, a: &Args) {
        if self.probe.is_some() || self.at.is_none_or(|t| Instant::now() < t) {
            return;
        }
        self.at = None;
        let mut c = Command::new(&a.spawn);
        c.arg("--root")
            .arg(&a.run_root)
            .arg("--berth-root")
            .arg(&a.root)
            .args(["monitor-hook", "health", &a.id])
            .env("BERTH_ROOT", &a.root)
            .env("BERTH_RUN_ROOT", &a.run_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        match c.spawn().ok().and_then(|mut ch| ch.stdout.take()) {
            Some(out) => {
                let fd = out.into_raw_fd();
                crate::nonblock(fd);
                self.probe = Some((fd, Vec::new()));
            }
            // Try again at the next interval's worth.
            None => self.rearm(),
        }
    }

    /// The hook's pipe is readable: take its answer once it ends.
    pub fn readable(&mut self) {
        let Some((fd, out)) = self.probe.as_mut() else {
            return;
        };
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: `buf` is valid for writes of its length.
            let n = unsafe { libc::read(*fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
            if n > 0 {
                out.extend_from_slice(&buf[..n as usize]);
                continue;
            }
            if n < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
                return;
            }
            break;
        }
        let answer = String::from_utf8_lossy(out).trim().parse::<u64>().ok();
        // SAFETY: the pipe is ours, closed once (taken below).
        unsafe { libc::close(*fd) };
        self.probe = None;
        self.at = answer.map(|ms| Instant::now() + Duration::from_millis(ms));
    }
}
