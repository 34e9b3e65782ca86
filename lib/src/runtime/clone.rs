//! fork(2) with namespace flags: `clone3` where the kernel has it, `clone` otherwise; and
//! `CLONE_INTO_CGROUP`, so that the child is born in its v2 cgroup rather than moved there
//! (`cgroups::join`).

use std::os::fd::{AsRawFd, BorrowedFd};

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7; not in libc 0.2 for every target).
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks with the namespace `flags`, into the v2 cgroup `cgroup` when given. Where the kernel
/// refuses `CLONE_INTO_CGROUP` (older than 5.7, or a cgroup it will not take), the error is
/// returned with `into_refused` set, and the caller forks without it and moves the child.
pub fn clone_process(
    flags: libc::c_int,
    cgroup: Option<BorrowedFd>,
) -> Result<libc::pid_t, (std::io::Error, bool)> {
    let mut args = CloneArgs {
        flags: flags as u32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: clone3 with a fully initialised CloneArgs of the size passed, no stack and no
    // CLONE_VM: the child is a copy-on-write fork that returns here as in fork(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r >= 0 {
        return Ok(r as libc::pid_t);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return Err((e, cgroup.is_some()));
    }
    if cgroup.is_some() {
        // No clone3 at all: no CLONE_INTO_CGROUP either.
        return Err((e, true));
    }
    // SAFETY: clone(2) without CLONE_VM and with a null stack behaves as fork(2): the child
    // gets its own copy of this address space.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if r < 0 {
        return Err((std::io::Error::last_os_error(), false));
    }
    Ok(r as libc::pid_t)
}

/// Forks into `cgroup` if the kernel lets us; `Ok((pid, false))` when the child was born
/// elsewhere and must be moved by the caller.
pub fn clone_into(
    flags: libc::c_int,
    cgroup: Option<BorrowedFd>,
) -> std::io::Result<(libc::pid_t, bool)> {
    match clone_process(flags, cgroup) {
        Ok(pid) => Ok((pid, cgroup.is_some())),
        Err((e, true)) => {
            log::debug!("clone3(CLONE_INTO_CGROUP) refused ({e}): moving the child instead");
            clone_process(flags, None)
                .map(|pid| (pid, false))
                .map_err(|(e, _)| e)
        }
        Err((e, false)) => Err(e),
    }
}
