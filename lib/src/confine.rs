//! File operations confined to a root directory **by construction**: berth's one
//! filesystem-confinement module, used wherever a path comes from a container or an image
//! (layer extraction, `cp`, volume seeding, the init's mounts, the copy driver, `exec -u`).
//!
//! Every path taken from untrusted content (a tar entry, a hardlink target, a whiteout) is
//! resolved by the kernel with `openat2(2)` and `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV`: `..` stops at the root, absolute symlinks are taken relative to the root,
//! `/proc/self/fd`-style magic links are refused, and no mount is crossed. The last component
//! is then acted on through the parent's file descriptor with `*at` calls and `O_NOFOLLOW`, so a
//! symlink planted by an earlier entry is replaced, never followed. This is the fix for the
//! class of bugs behind umoci's CVE-2021-29136 and Docker's CVE-2018-15664: no string check
//! decides where a write lands.
//!
//! The lexical clean of entry names ([`clean_path`]) only gives the error a clear message; the
//! guarantee comes from the resolution.
//!
//! The same primitive serves every place that touches a container's files: the unpacker (one
//! layer directory, [`RESOLVE`]), and `cp` and the container's init, which see a container's
//! whole tree with its mounts ([`RESOLVE_MOUNTS`]). A descriptor that was resolved once is the
//! thing acted on; no path string of the container's is walked by the kernel a second time.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};

/// The resolution every untrusted path goes through.
pub const RESOLVE: ResolveFlags = ResolveFlags::IN_ROOT
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// The resolution of a container's tree as its processes see it (`cp`, the init's mounts): like
/// [`RESOLVE`], but mounts are crossed, since volumes, /dev and /proc are part of that tree.
pub const RESOLVE_MOUNTS: ResolveFlags = ResolveFlags::IN_ROOT.union(ResolveFlags::NO_MAGICLINKS);

/// Why a name was refused before any resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Escape {
    /// `..` climbs above the root.
    DotDot,
    /// A NUL byte (the kernel would cut the name there).
    Nul,
}

/// Cleans a tar-style path lexically: drops empty and `.` components and leading `/`
/// (absolute names are taken relative to the root, as GNU tar and Docker do), and folds `..`.
/// A `..` that would climb above the root is refused. The result has no leading or trailing
/// slash; empty means the root itself.
pub fn clean_path(raw: &[u8]) -> Result<Vec<u8>, Escape> {
    if raw.contains(&0) {
        return Err(Escape::Nul);
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(Escape::DotDot);
                }
            }
            c => parts.push(c),
        }
    }
    Ok(parts.join(&b'/'))
}

/// Splits a cleaned path into its parent and last component (`a/b/c` -> `a/b`, `c`).
pub fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}

pub fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// A directory that untrusted paths are resolved inside.
#[derive(Debug)]
pub struct Root {
    fd: OwnedFd,
    resolve: ResolveFlags,
}

impl Root {
    /// Opens `path` (trusted: it comes from berth's own layout) as a root that no resolution
    /// leaves, mount points included ([`RESOLVE`]).
    pub fn open(path: &Path) -> io::Result<Root> {
        Root::open_with(path, RESOLVE)
    }

    /// Opens `path` (trusted) as a root resolved with `resolve`.
    pub fn open_with(path: &Path, resolve: ResolveFlags) -> io::Result<Root> {
        let fd = rfs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Root { fd, resolve })
    }

    /// The root directory of process `pid` (its `/proc/PID/root`: a running container's tree
    /// as its processes see it, mounts included), resolved with `resolve`. `start` is the
    /// process' start time (`/proc/PID/stat` field 22; 0: not checked). The root is opened
    /// relative to a descriptor of `/proc/PID`, which stays bound to the process it was
    /// opened for: once the start time matched, a pid reused by another process is never
    /// entered (its `root` is no longer there).
    pub fn of_process(pid: i32, start: u64, resolve: ResolveFlags) -> io::Result<Root> {
        let gone = || io::Error::new(io::ErrorKind::NotFound, format!("process {pid} is gone"));
        if pid <= 0 {
            return Err(gone());
        }
        let proc = rfs::open(
            format!("/proc/{pid}"),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|_| gone())?;
        if start != 0 {
            let stat = rfs::openat(
                &proc,
                "stat",
                OFlags::RDONLY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|_| gone())?;
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::fs::File::from(stat), &mut text)?;
            if crate::state::liveness::parse_start_time(&text) != Some(start) {
                return Err(gone());
            }
        }
        let fd = rfs::openat(
            &proc,
            "root",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::NOENT | rustix::io::Errno::SRCH => gone(),
            e => e.into(),
        })?;
        Ok(Root { fd, resolve })
    }

    /// A directory already open (e.g. one resolved inside another root) as a root.
    pub fn from_fd(fd: OwnedFd, resolve: ResolveFlags) -> Root {
        Root { fd, resolve }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens `rel` (a cleaned path) inside the root with `flags`, following symlinks only
    /// inside the root. With `O_NOFOLLOW` the last component is not followed.
    pub fn open_at(&self, rel: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        self.open_at_with(rel, flags, ResolveFlags::empty())
    }

    /// [`open_at`](Self::open_at) with `extra` resolve flags on top of the root's own (such
    /// as `NO_SYMLINKS`, to tell whether a path is what it says).
    pub fn open_at_with(
        &self,
        rel: &[u8],
        flags: OFlags,
        extra: ResolveFlags,
    ) -> io::Result<OwnedFd> {
        let rel: &[u8] = if rel.is_empty() { b"." } else { rel };
        // EAGAIN: a `..` was walked while a rename or a mount happened anywhere on the
        // system, and the kernel could not prove it stayed inside. Retry, as libpathrs does.
        let mut tries = 0;
        loop {
            match rfs::openat2(
                &self.fd,
                os(rel),
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                self.resolve | extra,
            ) {
                Err(rustix::io::Errno::AGAIN) if tries < 128 => tries += 1,
                r => return Ok(r?),
            }
        }
    }

    /// The directory `rel`, which must exist, as an `O_PATH` descriptor.
    pub fn dir(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        self.open_at(rel, OFlags::PATH | OFlags::DIRECTORY)
    }

    /// The directory `rel`, created (with its missing parents, mode 0755, owned by the caller)
    /// if needed. A component that exists but is not a directory, or is a symlink whose target
    /// is missing, is an error: berth never creates a directory through a dangling symlink.
    pub fn mkdir_all(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        match self.dir(rel) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let mut cur = self.dir(b"")?;
        let mut end = 0;
        for comp in rel.split(|b| *b == b'/') {
            end += comp.len();
            let prefix = &rel[..end];
            end += 1;
            cur = match self.dir(prefix) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    match rfs::mkdirat(&cur, os(comp), Mode::from_raw_mode(0o755)) {
                        Ok(()) => {}
                        Err(rustix::io::Errno::EXIST) => {
                            return Err(io::Error::new(
                                io::ErrorKind::NotFound,
                                format!(
                                    "{} is a symlink to a missing directory",
                                    String::from_utf8_lossy(prefix)
                                ),
                            ));
                        }
                        Err(e) => return Err(e.into()),
                    }
                    let fd = rfs::openat(
                        &cur,
                        os(comp),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )?;
                    // mkdir's mode passes through the umask; implicit parents are 0755 always.
                    rfs::fchmod(&fd, Mode::from_raw_mode(0o755))?;
                    fd
                }
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }

    /// The parent directory of `rel` (created with its missing parents, as [`mkdir_all`]
    /// does) and `rel`'s last component, for creating `rel` itself with `*at` calls. The root
    /// itself has no parent: an empty `rel` is an error.
    ///
    /// [`mkdir_all`]: Root::mkdir_all
    pub fn mkdir_parent<'p>(&self, rel: &'p [u8]) -> io::Result<(OwnedFd, &'p [u8])> {
        let (parent, name) = split_parent(rel);
        if name.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the root directory itself",
            ));
        }
        Ok((self.mkdir_all(parent)?, name))
    }
}

/// Reopens `fd` (typically `O_PATH`, its type already checked with `fstat`) with real access
/// `flags`, through `/proc/self/fd` as runc's `pathrs.Reopen` does. It is the same inode, so
/// what was checked cannot have been swapped for a FIFO or a device in between.
pub fn reopen(fd: impl AsFd, flags: OFlags) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    let path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    Ok(rfs::open(path, flags | OFlags::CLOEXEC, Mode::empty())?)
}

/// Creates `name` in `dir` as a new regular file: `O_CREAT | O_EXCL | O_NOFOLLOW`, so an
/// existing file, device, FIFO or symlink is never opened (EEXIST instead).
pub fn create_new(dir: impl AsFd, name: &[u8], flags: OFlags, mode: u32) -> io::Result<OwnedFd> {
    Ok(rfs::openat(
        dir,
        os(name),
        flags | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )?)
}

/// What a file is, for messages ("a directory", "a FIFO"...); `None` for the kinds a copy
/// may read or write (directories, regular files and symlinks).
pub fn special_kind(st: &rfs::Stat) -> Option<&'static str> {
    match rfs::FileType::from_raw_mode(st.st_mode) {
        rfs::FileType::CharacterDevice | rfs::FileType::BlockDevice => Some("a device"),
        rfs::FileType::Fifo => Some("a FIFO"),
        rfs::FileType::Socket => Some("a socket"),
        rfs::FileType::Directory | rfs::FileType::RegularFile | rfs::FileType::Symlink => None,
        _ => Some("an irregular file"),
    }
}

/// `lstat` of `name` in `dir`, or `None` if it does not exist.
pub fn lstat_at(dir: impl AsFd, name: &[u8]) -> io::Result<Option<rfs::Stat>> {
    match rfs::statat(dir, os(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn is_dir(st: &rfs::Stat) -> bool {
    rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory
}

/// Removes `name` in `dir`, recursively if it is a directory, never following a symlink.
/// Missing is fine.
pub fn remove_all_at(dir: impl AsFd, name: &[u8]) -> io::Result<()> {
    let dir = dir.as_fd();
    match rfs::unlinkat(dir, os(name), AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) | Err(rustix::io::Errno::PERM) => {}
        Err(e) => return Err(e.into()),
    }
    let sub = rfs::openat(
        dir,
        os(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if rfs::fstat(&sub)?.st_dev != rfs::fstat(dir)?.st_dev {
        return Err(io::Error::other(format!(
            "refusing to remove {}: it is a mount point",
            String::from_utf8_lossy(name)
        )));
    }
    empty_dir(&sub)?;
    match rfs::unlinkat(dir, os(name), AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes everything inside the directory `dir` (not `dir` itself), never following symlinks
/// and never descending into a mount point.
pub fn empty_dir(dir: &OwnedFd) -> io::Result<()> {
    for n in sorted_names(dir)? {
        remove_all_at(dir, &n)?;
    }
    Ok(())
}

/// The names in the directory `dir`, without `.` and `..`, sorted by their bytes (so that
/// an archive of the same tree comes out the same).
pub fn sorted_names(dir: impl AsFd) -> rustix::io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for ent in rfs::Dir::read_from(dir)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_folds_and_refuses_escapes() {
        assert_eq!(clean_path(b"./a//b/./c/").unwrap(), b"a/b/c");
        assert_eq!(clean_path(b"/etc/passwd").unwrap(), b"etc/passwd");
        assert_eq!(clean_path(b"a/../b").unwrap(), b"b");
        assert_eq!(clean_path(b"./").unwrap(), b"");
        assert_eq!(clean_path(b"../x"), Err(Escape::DotDot));
        assert_eq!(clean_path(b"a/../../x"), Err(Escape::DotDot));
        assert_eq!(clean_path(b"a\0b"), Err(Escape::Nul));
        assert_eq!(split_parent(b"a/b/c"), (&b"a/b"[..], &b"c"[..]));
        assert_eq!(split_parent(b"c"), (&b""[..], &b"c"[..]));
    }

    #[test]
    fn a_process_root_is_entered_only_for_the_process_that_was_meant() {
        let me = std::process::id() as i32;
        let start = crate::state::liveness::start_time(me).unwrap();
        let root = Root::of_process(me, start, RESOLVE_MOUNTS).unwrap();
        let st = rfs::fstat(root.fd()).unwrap();
        let host = std::fs::metadata("/").unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((st.st_dev, st.st_ino), (host.dev(), host.ino()));
        // Another start time: a reused pid.
        let e = Root::of_process(me, start + 1, RESOLVE_MOUNTS).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
        assert!(Root::of_process(0, 0, RESOLVE_MOUNTS).is_err());
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let root_path = d.path().join("root");
        std::fs::create_dir(&root_path).unwrap();
        std::os::unix::fs::symlink("/", root_path.join("up")).unwrap();
        std::os::unix::fs::symlink("../../outside", root_path.join("dotdot")).unwrap();
        let root = Root::open(&root_path).unwrap();
        // `up` -> `/` is the root itself; creating through it stays inside.
        let fd = root.mkdir_all(b"up/made").unwrap();
        drop(fd);
        assert!(root_path.join("made").is_dir());
        // `dotdot` -> ../../outside clamps at the root: outside/ is never reached.
        assert!(root.mkdir_all(b"dotdot/x").is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        // Removal never follows a symlink.
        std::fs::write(outside.join("keep"), b"x").unwrap();
        std::os::unix::fs::symlink(&outside, root_path.join("link")).unwrap();
        remove_all_at(root.dir(b"").unwrap(), b"link").unwrap();
        assert!(outside.join("keep").exists());
    }
}
