//! Putting a new container process into its cgroups without a migration.
//!
//! Writing another process' pid to `cgroup.procs` (what runc does on v1) write-locks the
//! kernel's global `cgroup_threadgroup_rwsem`, and taking that lock waits for an RCU grace
//! period when the lock was idle: 15-40 ms per container start on the shared 2-core host,
//! more than everything else berth-spawn does. Two ways in take no write lock at all:
//!
//! - **v2** (the unified hierarchy of a v2 or hybrid host): the process is born in its cgroup,
//!   `clone3(CLONE_INTO_CGROUP)` with a descriptor of the directory (Linux 5.7; crun does the
//!   same). Where the kernel refuses it, berth-spawn writes the pid as before.
//! - **v1**: the new process moves itself, writing `0` to each hierarchy's `tasks` file
//!   (a single thread, itself: the kernel skips the threadgroup lock for that case). It is
//!   single-threaded, so its thread is its process. The files are opened by berth-spawn
//!   before the clone (as root, in the host's namespaces: the kernel checks the opener's
//!   credentials) and inherited close-on-exec; the child writes them first thing, before it
//!   waits for berth-spawn's go, so it is in every cgroup before any of its own setup.
//!   Without a user namespace, berth-spawn makes the v1 directories after the clone, while
//!   the child makes its namespaces (`runtime::process`); the child, root in the host's user
//!   namespace, then opens the `tasks` files itself once berth-spawn says go
//!   ([`Entry::join_later`]), still before any of its setup.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use super::{Cgroup, CgroupError, fs_err};

/// The descriptors a new process enters its cgroups with (made by [`Cgroup::entry`]).
#[derive(Debug, Default)]
pub struct Entry {
    /// The v2 directory, for `clone3(CLONE_INTO_CGROUP)`.
    pub v2: Option<(PathBuf, OwnedFd)>,
    /// Each v1 hierarchy's `tasks` file, open for writing: the child writes `0` to each.
    pub v1_tasks: Vec<(PathBuf, File)>,
    /// Each v1 hierarchy's `tasks` file by path, for a child cloned before the directories
    /// were made ([`Cgroup::entry_before_finish`]).
    pub v1_later: Vec<PathBuf>,
}

impl Entry {
    /// The v2 directory's descriptor, for the clone.
    pub fn v2_fd(&self) -> Option<BorrowedFd<'_>> {
        self.v2.as_ref().map(|(_, fd)| fd.as_fd())
    }

    /// In the new process: moves it into every v1 hierarchy's cgroup. `strict`: the first
    /// failure is the error (create); otherwise a cgroup that refuses is skipped (exec).
    pub fn join_self(&self, strict: bool) -> Result<(), String> {
        for (path, f) in &self.v1_tasks {
            let mut f: &File = f;
            if let Err(e) = f.write_all(b"0")
                && strict
            {
                return Err(format!("joining the cgroup {}: {e}", path.display()));
            }
        }
        Ok(())
    }

    /// In the new process, once berth-spawn made the v1 directories: opens each `tasks` file
    /// of [`v1_later`](Self::v1_later) and moves itself in, as [`join_self`](Self::join_self).
    pub fn join_later(&self) -> Result<(), String> {
        for path in &self.v1_later {
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut f| f.write_all(b"0"))
                .map_err(|e| format!("joining the cgroup {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

impl Cgroup {
    /// Opens what a new process needs to enter this (existing) cgroup: the v2 directory and
    /// every v1 hierarchy's `tasks` file. `strict`: a file that cannot be opened is the
    /// error; otherwise it is skipped (`exec` joins what it can).
    pub fn entry(&self, strict: bool) -> Result<Entry, CgroupError> {
        let mut e = Entry::default();
        for h in &self.h.v1 {
            let path = h.mount.join(self.rel()).join("tasks");
            match std::fs::OpenOptions::new().write(true).open(&path) {
                Ok(f) => e.v1_tasks.push((path, f)),
                Err(err) if strict => return Err(fs_err("opening", &path)(err)),
                Err(_) => {}
            }
        }
        self.open_v2(&mut e, strict)?;
        Ok(e)
    }

    /// What a process cloned between [`Cgroup::begin`] and [`Cgroup::finish`] enters with:
    /// the v2 directory (made by `begin`), and the v1 `tasks` files by path, for
    /// [`Entry::join_later`]. Only for a process that stays root in the host's user namespace.
    pub fn entry_before_finish(&self) -> Result<Entry, CgroupError> {
        let mut e = Entry {
            v1_later: self
                .h
                .v1
                .iter()
                .map(|h| h.mount.join(self.rel()).join("tasks"))
                .collect(),
            ..Entry::default()
        };
        self.open_v2(&mut e, true)?;
        Ok(e)
    }

    fn open_v2(&self, e: &mut Entry, strict: bool) -> Result<(), CgroupError> {
        if let Some(dir) = self.v2_dir() {
            let opened = nix::fcntl::open(
                &dir,
                nix::fcntl::OFlag::O_RDONLY
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            );
            match opened {
                Ok(fd) => e.v2 = Some((dir, fd)),
                Err(err) if strict => return Err(fs_err("opening", &dir)(err.into())),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// The fallback where the kernel refused `CLONE_INTO_CGROUP`: berth-spawn writes the
    /// pid into the v2 cgroup (the v1 ones the process joins itself).
    pub fn add_v2(&self, pid: i32) -> Result<(), crate::runtime::RuntimeError> {
        match self.v2_dir() {
            Some(d) => super::write(&d.join("cgroup.procs"), &pid.to_string()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_is_an_error_only_when_strict() {
        // /dev/full refuses every write (ENOSPC), as a cgroup that refuses a task would.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let e = Entry {
            v1_tasks: vec![(PathBuf::from("/sys/fs/cgroup/pids/x/tasks"), f)],
            ..Entry::default()
        };
        let err = e.join_self(true).unwrap_err();
        assert!(
            err.starts_with("joining the cgroup /sys/fs/cgroup/pids/x/tasks: "),
            "{err}"
        );
        assert_eq!(e.join_self(false), Ok(()));
    }
}
