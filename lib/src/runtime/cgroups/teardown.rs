//! Removing a container's cgroup. The usual case is an empty cgroup: one rmdir per hierarchy
//! and nothing else. When a hierarchy says EBUSY (processes left, or child cgroups the
//! container made), everything in the subtree is killed (`cgroup.kill` on v2 where the kernel
//! has it, plus a SIGKILL to each process, frozen first on v1 so nothing forks away), the
//! kills are awaited on pidfds (no sleeping poll loop), and the subtree is removed deepest
//! first.

use std::fs;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{Cgroup, CgroupError};

/// How long the killed processes get to be gone, per pass (a process in uninterruptible
/// sleep can outlast SIGKILL for a while).
const GRACE: Duration = Duration::from_secs(10);

pub fn remove(cg: &Cgroup) -> Result<(), CgroupError> {
    let mut busy = rmdir_all(&cg.dirs(), false)?;
    for _ in 0..3 {
        if busy.is_empty() {
            return Ok(());
        }
        kill_and_wait(cg);
        busy = rmdir_all(&busy, true)?;
    }
    match busy.into_iter().next() {
        None => Ok(()),
        Some(path) => Err(CgroupError::Busy { path }),
    }
}

/// Removes each directory (with `tree`, its child cgroups first, deepest first); returns
/// those still busy.
fn rmdir_all(dirs: &[PathBuf], tree: bool) -> Result<Vec<PathBuf>, CgroupError> {
    let mut busy = Vec::new();
    for d in dirs {
        if tree {
            for sub in subtree(d).into_iter().rev().filter(|s| s != d) {
                let _ = fs::remove_dir(sub);
            }
        }
        match fs::remove_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => busy.push(d.clone()),
            Err(e) => return Err(super::fs_err("rmdir", d)(e)),
        }
    }
    Ok(busy)
}

/// `dir` and its descendants, parents before children (empty when `dir` is gone).
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
        out.push(d);
    }
    out
}

/// The pids in a cgroup.procs file.
pub fn procs(dir: &Path) -> Vec<i32> {
    fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

fn subtree_procs(dir: &Path) -> Vec<i32> {
    subtree(dir).iter().flat_map(|d| procs(d)).collect()
}

/// Kills everything in the cgroup and waits until it has exited.
fn kill_and_wait(cg: &Cgroup) {
    let freezer = cg.v1_dir("freezer");
    let v2 = cg.v2_dir();
    let Some(dir) = cg.procs_dir() else { return };
    // Frozen tasks cannot die; on v1 freeze again for the kill so nothing forks meanwhile
    // (the SIGKILLs are delivered at the thaw).
    if let Some(f) = &freezer {
        let _ = fs::write(f.join("freezer.state"), "FROZEN");
    }
    if let Some(d) = &v2 {
        let _ = fs::write(d.join("cgroup.freeze"), "0");
        let _ = fs::write(d.join("cgroup.kill"), "1");
    }
    let pids = subtree_procs(&dir);
    let fds: Vec<OwnedFd> = pids.iter().filter_map(|p| pidfd(*p)).collect();
    for fd in &fds {
        // SAFETY: fd is a pidfd we own; the other arguments are a signal number and nulls.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                std::os::fd::AsRawFd::as_raw_fd(fd),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    if let Some(f) = &freezer {
        let _ = fs::write(f.join("freezer.state"), "THAWED");
    }
    wait_exited(fds);
}

fn pidfd(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; a non-negative result is a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: the descriptor was just returned to us and is owned by nothing else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Blocks until every pidfd is readable (its process has exited), or the grace is over.
fn wait_exited(mut fds: Vec<OwnedFd>) {
    let deadline = Instant::now() + GRACE;
    while !fds.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(timeout) = PollTimeout::try_from(left) else {
            return;
        };
        if left.is_zero() {
            return;
        }
        let ready: Vec<bool> = {
            let mut set: Vec<PollFd> = fds
                .iter()
                .map(|f| PollFd::new(f.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut set, timeout) {
                Ok(0) => return,
                Ok(_) => set.iter().map(|p| p.any().unwrap_or(true)).collect(),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
        };
        let mut i = 0;
        fds.retain(|_| {
            i += 1;
            !ready[i - 1]
        });
    }
}
