//! The session keyring. Keys are not namespaced (only user namespaces separate them), and a
//! process inherits its parent's session keyring: a container started from a root shell
//! would hold the caller's, with its Kerberos tickets, its NFS and CIFS credentials and
//! whatever else root's tools keep there, readable with `keyctl` wherever seccomp lets the
//! call through (`--privileged`, `seccomp=unconfined`, a custom profile). So the container's
//! init, and every process `exec` enters, joins a new session keyring first, as runc does
//! (`keys.JoinSessionKeyring`) and crun; berth's is anonymous, so no other process can join it
//! by name. Children of the process inherit it. The kernel owns the rest: a container's root
//! still shares the user keyring of uid 0 with the host's root unless it has a user
//! namespace of its own, which is why Docker's seccomp profile refuses the key syscalls.

use std::io;

/// Replaces the calling process' session keyring with a new, empty, anonymous one. A kernel
/// without keyrings (ENOSYS) is fine: there is nothing to inherit then.
pub fn join_new_session() -> io::Result<()> {
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) reads no memory: a NULL name asks
    // for an anonymous keyring.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            libc::KEYCTL_JOIN_SESSION_KEYRING as libc::c_long,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if r >= 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOSYS) {
        return Ok(());
    }
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The serial of the calling process' session keyring, made if missing.
    fn session() -> i64 {
        // SAFETY: KEYCTL_GET_KEYRING_ID takes two integers.
        unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                libc::KEYCTL_GET_KEYRING_ID as libc::c_long,
                libc::KEY_SPEC_SESSION_KEYRING as libc::c_long,
                1 as libc::c_long,
            )
        }
    }

    #[test]
    fn a_child_leaves_its_parents_session_keyring() {
        let before = session();
        assert!(before > 0, "{}", io::Error::last_os_error());
        // In a child, so the test process keeps its keyring.
        // SAFETY: the child only makes syscalls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = join_new_session().is_ok();
            let after = session();
            let again = join_new_session().is_ok() && session() != after;
            let code = if !ok {
                1
            } else if after <= 0 || after == before {
                2
            } else if !again {
                3
            } else {
                0
            };
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child we forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "status {status:#x} (1: join failed, 2: same keyring, 3: not new each time)"
        );
        assert_eq!(session(), before, "the parent's keyring changed");
    }
}
