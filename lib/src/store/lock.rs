//! Advisory file locks (`flock(2)`) around every read-modify-write of shared state.
//!
//! A lock is never on the data it guards, because the data is replaced by rename and a lock on
//! the old inode would guard nothing: it is on a lock file beside it, or ([`Lock::dir`]) on the
//! directory that holds it, which is never replaced (a container's record). The lock is
//! released when the guard drops, and by the kernel if the process dies, so a kill -9 never
//! leaves a stale lock.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{IoContext, IoError};

/// A held lock. Dropping it unlocks.
#[derive(Debug)]
pub struct Lock {
    _file: Flock<File>,
    path: PathBuf,
}

impl Lock {
    /// Blocks until the exclusive lock on `path` is held. Creates the file (and its parent).
    pub fn exclusive(path: &Path) -> Result<Lock, IoError> {
        Self::take(path, FlockArg::LockExclusive)
    }

    /// Blocks until a shared lock on `path` is held.
    pub fn shared(path: &Path) -> Result<Lock, IoError> {
        Self::take(path, FlockArg::LockShared)
    }

    /// Takes the exclusive lock if it is free; `Ok(None)` when someone else holds it.
    pub fn try_exclusive(path: &Path) -> Result<Option<Lock>, IoError> {
        match Self::take(path, FlockArg::LockExclusiveNonblock) {
            Ok(l) => Ok(Some(l)),
            Err(e) if e.source.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Blocks until the exclusive lock on the directory `dir` itself is held. Nothing is
    /// created: a lock file would be one more inode made and unlinked with every container
    /// (a cost on a busy ext4), and a directory that is gone is an error (`NotFound`), not
    /// one to make again.
    pub fn dir(dir: &Path) -> Result<Lock, IoError> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(dir)
            .with_path("open lock", dir)?;
        Self::hold(file, dir, FlockArg::LockExclusive)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn take(path: &Path, arg: FlockArg) -> Result<Lock, IoError> {
        if let Some(parent) = path.parent() {
            super::private::create_dir_all(parent)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(super::private::FILE)
            .open(path)
            .with_path("open lock", path)?;
        Self::hold(file, path, arg)
    }

    fn hold(file: File, path: &Path, arg: FlockArg) -> Result<Lock, IoError> {
        let file = Flock::lock(file, arg).map_err(|(_, errno)| IoError {
            op: "lock",
            path: path.to_path_buf(),
            source: errno.into(),
        })?;
        Ok(Lock {
            _file: file,
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_until_dropped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l");
        let held = Lock::exclusive(&p).unwrap();
        assert!(Lock::try_exclusive(&p).unwrap().is_none());
        drop(held);
        assert!(Lock::try_exclusive(&p).unwrap().is_some());
    }

    #[test]
    fn a_directory_lock_excludes_and_creates_nothing() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("c");
        let e = Lock::dir(&dir).unwrap_err();
        assert_eq!(e.source.kind(), std::io::ErrorKind::NotFound);
        assert!(!dir.exists(), "a missing directory is not made");
        std::fs::create_dir(&dir).unwrap();
        let held = Lock::dir(&dir).unwrap();
        // flock excludes between open file descriptions, even in one process.
        let try_lock = || Flock::lock(File::open(&dir).unwrap(), FlockArg::LockExclusiveNonblock);
        assert!(try_lock().is_err(), "held");
        drop(held);
        assert!(try_lock().is_ok(), "released");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}
