//! Data-packed volumes: a new (empty) volume mounted over a directory that holds files in the
//! image starts with a copy of them, with owners, modes, times, extended attributes and hard
//! links kept, as moby's `copyExistingContents` does. The volume's root takes the owner and
//! mode of the image's directory even when that directory is empty (moby's
//! `copyOwnership`), so e.g. a database image's data directory stays writable by its user.
//!
//! The image's content is untrusted. The directory is found inside the rootfs with
//! `confine::Root` (openat2 `RESOLVE_IN_ROOT`, retried on EAGAIN: a symlink such as
//! `/data -> /etc` resolves inside the rootfs, as the runtime resolves the mount's
//! destination, never to the host's /etc), and the walk acts on file descriptors with
//! `O_NOFOLLOW` and `*at` calls only, so no symlink in the image is ever followed; a file is
//! read only once its descriptor shows the regular file the walk listed (never a FIFO or a
//! device swapped in). Hand-written because no crate copies a tree by descriptor while
//! keeping owners, device nodes and hard links.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{
    FileStat, Mode, SFlag, UtimensatFlags, fchmod, fstat, fstatat, futimens, mkdirat, mknodat,
    utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat, linkat, symlinkat};
use rustix::fs::OFlags;

use crate::confine::Root;

/// Copies the image's `destination` (inside `rootfs`) into the volume directory `data` if
/// `data` is empty. Returns whether anything was done: false when the volume already has
/// content or the image has no directory there.
pub fn seed(rootfs: &Path, destination: &str, data: &Path) -> io::Result<bool> {
    // The image's own filesystem: no mount is crossed (confine::RESOLVE).
    let root = Root::open(rootfs)?;
    let rel = destination.trim_start_matches('/').as_bytes();
    let src = match root.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY) {
        Ok(fd) => fd,
        // Nothing there, or not a directory: nothing to copy (the runtime makes the mount
        // point).
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
            return Ok(false);
        }
        Err(e) => return Err(e),
    };
    let dst = nix::fcntl::open(
        data,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    if !names(&dst)?.is_empty() {
        return Ok(false);
    }
    let st = fstat(&src)?;
    let mut copier = Copier {
        dev: st.st_dev,
        data: dst.try_clone()?,
        links: HashMap::new(),
    };
    copier.copy_dir(&src, &dst, &mut Vec::new())?;
    // The volume's root takes the directory's owner and mode (not its times: it is new).
    fchown(
        &dst,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    fchmod(&dst, mode_bits(&st))?;
    Ok(true)
}

fn mode_bits(st: &FileStat) -> Mode {
    Mode::from_bits_truncate(st.st_mode & 0o7777)
}

fn file_type(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// The entries of a directory, without `.` and `..`.
fn names(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let fd = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            out.push(n.to_vec());
        }
    }
    Ok(out)
}

fn os(name: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(name)
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

struct Copier {
    /// The image's filesystem: nothing on another device (a mount) is copied.
    dev: u64,
    /// The volume's data directory, for hard links.
    data: OwnedFd,
    /// (dev, inode) of multiply-linked files already copied -> their path in the volume.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl Copier {
    fn copy_dir(&mut self, src: &OwnedFd, dst: &OwnedFd, rel: &mut Vec<u8>) -> io::Result<()> {
        for name in names(src)? {
            let st = fstatat(src, os(&name), AtFlags::AT_SYMLINK_NOFOLLOW)?;
            if st.st_dev != self.dev {
                continue;
            }
            let len = rel.len();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(&name);
            let r = self.copy_entry(src, dst, &name, &st, rel);
            rel.truncate(len);
            r.map_err(|e| {
                io::Error::new(e.kind(), format!("{}: {e}", String::from_utf8_lossy(&name)))
            })?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: &OwnedFd,
        dst: &OwnedFd,
        name: &[u8],
        st: &FileStat,
        rel: &mut Vec<u8>,
    ) -> io::Result<()> {
        let n = os(name);
        let (atime, mtime) = times(st);
        let owner = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        let kind = file_type(st);
        if kind == SFlag::S_IFDIR {
            mkdirat(dst, n, Mode::from_bits_truncate(0o700))?;
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let s = openat(src, n, flags, Mode::empty())?;
            let d = openat(dst, n, flags, Mode::empty())?;
            self.copy_dir(&s, &d, rel)?;
            finish(&s, &d, st)?;
            return Ok(());
        }
        if kind != SFlag::S_IFDIR && st.st_nlink > 1 {
            if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)) {
                linkat(&self.data, os(first), dst, n, AtFlags::empty())?;
                return Ok(());
            }
            self.links.insert((st.st_dev, st.st_ino), rel.clone());
        }
        match kind {
            SFlag::S_IFREG => {
                let s = open_regular(src, n, st)?;
                let d = openat(
                    dst,
                    n,
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )?;
                let (mut sf, mut df) = (File::from(s), File::from(d));
                io::copy(&mut sf, &mut df)?;
                finish(&OwnedFd::from(sf), &OwnedFd::from(df), st)?;
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(src, n)?;
                symlinkat(target.as_os_str(), dst, n)?;
                fchownat(dst, n, owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW)?;
                utimensat(dst, n, &atime, &mtime, UtimensatFlags::NoFollowSymlink)?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO | SFlag::S_IFSOCK => {
                #[allow(clippy::useless_conversion)]
                mknodat(dst, n, kind, mode_bits(st), st.st_rdev.into())?;
                fchownat(dst, n, owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW)?;
                nix::sys::stat::fchmodat(
                    dst,
                    n,
                    mode_bits(st),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )?;
                utimensat(dst, n, &atime, &mtime, UtimensatFlags::NoFollowSymlink)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Opens the regular file `name` of `dir` that was listed as `st` for reading. O_NONBLOCK:
/// a FIFO put there since the listing is not waited for; and the descriptor must be that
/// same regular file, or the copy stops.
fn open_regular(dir: &OwnedFd, name: &std::ffi::OsStr, st: &FileStat) -> io::Result<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::empty())?;
    let now = fstat(&fd)?;
    if file_type(&now) != SFlag::S_IFREG || (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
        return Err(io::Error::other("changed while it was being copied"));
    }
    Ok(fd)
}

/// Owner, then mode (a chown clears set-id bits), then extended attributes (a chown clears
/// `security.capability`), then times (last, or writing would change them).
fn finish(src: &OwnedFd, dst: &OwnedFd, st: &FileStat) -> io::Result<()> {
    fchown(
        dst,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    fchmod(dst, mode_bits(st))?;
    copy_xattrs(src, dst);
    let (atime, mtime) = times(st);
    futimens(dst, &atime, &mtime)?;
    Ok(())
}

/// Best effort: a filesystem without xattr support, or a namespace we may not write
/// (`trusted.*` of overlayfs), does not stop the copy.
fn copy_xattrs(src: &OwnedFd, dst: &OwnedFd) {
    use xattr::FileExt;
    let (Ok(s), Ok(d)) = (src.try_clone(), dst.try_clone()) else {
        return;
    };
    let (s, d) = (File::from(s), File::from(d));
    let Ok(list) = s.list_xattr() else {
        return;
    };
    for attr in list {
        if attr.as_bytes().starts_with(b"trusted.overlay.") {
            continue;
        }
        if let Ok(Some(value)) = s.get_xattr(&attr)
            && let Err(e) = d.set_xattr(&attr, &value)
        {
            log::debug!("not copying xattr {attr:?}: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    #[test]
    fn copies_files_owners_modes_links_and_stays_in_the_root() {
        let d = tempfile::tempdir().unwrap();
        let rootfs = d.path().join("rootfs");
        let cfg = rootfs.join("etc/app");
        fs::create_dir_all(cfg.join("sub")).unwrap();
        fs::write(cfg.join("a.conf"), b"a=1\n").unwrap();
        fs::hard_link(cfg.join("a.conf"), cfg.join("sub/a-link.conf")).unwrap();
        fs::write(cfg.join("secret"), b"s").unwrap();
        fs::set_permissions(cfg.join("secret"), fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(cfg.join("secret"), Some(1000), Some(1001)).unwrap();
        std::os::unix::fs::chown(&cfg, Some(1000), Some(1000)).unwrap();
        fs::set_permissions(&cfg, fs::Permissions::from_mode(0o750)).unwrap();
        // An absolute symlink is copied as a symlink, never followed.
        symlink("/etc/shadow", cfg.join("shadow")).unwrap();
        // A symlinked destination resolves inside the rootfs, not on the host.
        symlink("/etc/app", rootfs.join("app")).unwrap();
        symlink("/etc", rootfs.join("escape")).unwrap();

        let data = d.path().join("_data");
        fs::create_dir(&data).unwrap();
        assert!(seed(&rootfs, "/app", &data).unwrap());
        assert_eq!(fs::read(data.join("a.conf")).unwrap(), b"a=1\n");
        let m = fs::metadata(data.join("secret")).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o640));
        assert_eq!(
            fs::metadata(data.join("a.conf")).unwrap().ino(),
            fs::metadata(data.join("sub/a-link.conf")).unwrap().ino()
        );
        assert_eq!(
            fs::read_link(data.join("shadow")).unwrap(),
            Path::new("/etc/shadow")
        );
        let root = fs::metadata(&data).unwrap();
        assert_eq!((root.uid(), root.mode() & 0o7777), (1000, 0o750));

        // A non-empty volume is left alone.
        assert!(!seed(&rootfs, "/app", &data).unwrap());
        // /escape -> /etc resolves to the rootfs's own /etc (which has only app/).
        let data2 = d.path().join("_data2");
        fs::create_dir(&data2).unwrap();
        assert!(seed(&rootfs, "/escape", &data2).unwrap());
        let names: Vec<_> = fs::read_dir(&data2)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("app")]);
        // Nothing there: nothing to do.
        let data3 = d.path().join("_data3");
        fs::create_dir(&data3).unwrap();
        assert!(!seed(&rootfs, "/nope", &data3).unwrap());
        assert!(!seed(&rootfs, "/etc/app/a.conf", &data3).unwrap());
    }

    /// openat2 refuses a resolution inside a root that walked `..` while anything was renamed
    /// anywhere on the system (EAGAIN: the kernel cannot prove the walk stayed inside), which
    /// berth itself does all the time (every record is saved by rename). The seed retries, as
    /// `confine::Root` does, instead of failing the volume.
    #[test]
    fn renames_elsewhere_during_the_walk_do_not_fail_the_seed() {
        let d = tempfile::tempdir().unwrap();
        let rootfs = d.path().join("rootfs");
        fs::create_dir_all(rootfs.join("etc/app")).unwrap();
        fs::create_dir_all(rootfs.join("etc/x")).unwrap();
        fs::write(rootfs.join("etc/app/a.conf"), b"a=1\n").unwrap();
        let spin = d.path().join("spin");
        fs::create_dir_all(spin.join("a")).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let renamer = {
            let (stop, spin) = (stop.clone(), spin.clone());
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = fs::rename(spin.join("a"), spin.join("b"));
                    let _ = fs::rename(spin.join("b"), spin.join("a"));
                }
            })
        };
        let results: Vec<io::Result<bool>> = (0..300)
            .map(|i| {
                let data = d.path().join(format!("_data{i}"));
                fs::create_dir(&data).unwrap();
                seed(&rootfs, "/etc/x/../../etc/app", &data)
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        renamer.join().unwrap();
        for (i, r) in results.into_iter().enumerate() {
            assert!(r.as_ref().is_ok_and(|&done| done), "seed {i}: {r:?}");
            let data = d.path().join(format!("_data{i}"));
            assert_eq!(fs::read(data.join("a.conf")).unwrap(), b"a=1\n");
        }
    }
}
