//! The copying driver: the layers' directories merged into one plain directory with
//! overlayfs's own rules, so a container sees the same tree whichever driver made it.
//!
//! For each layer, bottom to top, each entry is merged into the target:
//! - a whiteout (character device 0:0) deletes the target's entry;
//! - a directory merges into a directory of the same name, after emptying it if the layer's
//!   directory is opaque (`trusted.overlay.opaque=y`); it replaces anything else;
//! - anything else replaces whatever is there.
//!
//! The target is walked through directory descriptors opened with `O_NOFOLLOW`: a symlink in
//! the target is replaced, never followed, so no layer can make the copy write elsewhere.
//! Hardlinks within a layer stay hardlinks. Used where overlay is impossible, and for
//! `berth-unpack IMAGE --to DIR`.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid, XattrFlags,
};

use crate::confine::{self as root, os};
use crate::layer::LayerStore;
use crate::layer::whiteout;

/// Directory depth beyond which a layer is taken as hostile (and the stack as at risk).
const MAX_DEPTH: usize = 2048;

/// Merges the layers (bottom first) into the directory `target`.
pub fn flatten(store: &LayerStore, bottom_first: &[String], target: &Path) -> io::Result<()> {
    let dst = rfs::open(target, dir_flags(), Mode::empty())?;
    for d in bottom_first {
        let src = rfs::open(store.diff(d).as_path(), dir_flags(), Mode::empty())?;
        let mut links = HashMap::new();
        merge_dir(&src, &dst, &mut links, 0)?;
    }
    Ok(())
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn ctx(name: &[u8], what: &str) -> impl FnOnce(io::Error) -> io::Error {
    let name = String::from_utf8_lossy(name).into_owned();
    let what = what.to_string();
    move |e| io::Error::new(e.kind(), format!("{what} {name}: {e}"))
}

type Links = HashMap<(u64, u64), OwnedFd>;

fn merge_dir(src: &OwnedFd, dst: &OwnedFd, links: &mut Links, depth: usize) -> io::Result<()> {
    if depth > MAX_DEPTH {
        return Err(io::Error::other("directory tree too deep"));
    }
    let mut names = Vec::new();
    for ent in rfs::Dir::read_from(src)? {
        let ent = ent?;
        let n = ent.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    // Whiteouts in OCI form (a layer store on overlayfs) apply before this layer's entries.
    names.sort_by_key(|n| !n.starts_with(whiteout::PREFIX));
    let mut kept = Vec::with_capacity(names.len());
    for name in names {
        match whiteout::parse(&name) {
            Some(whiteout::Whiteout::Remove(target)) => {
                root::remove_all_at(dst, target).map_err(ctx(target, "remove"))?;
            }
            Some(_) => {}
            None => kept.push(name),
        }
    }
    for name in kept {
        let st = rfs::statat(src, os(&name), AtFlags::SYMLINK_NOFOLLOW)?;
        if whiteout::is_overlay_whiteout(&st) {
            root::remove_all_at(dst, &name).map_err(ctx(&name, "remove"))?;
            continue;
        }
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft == FileType::Directory {
            let sfd = rfs::openat(src, os(&name), dir_flags(), Mode::empty())?;
            match root::lstat_at(dst, &name)? {
                Some(e) if root::is_dir(&e) => {
                    if whiteout::is_opaque(&sfd) {
                        let dfd = rfs::openat(dst, os(&name), dir_flags(), Mode::empty())?;
                        root::empty_dir(&dfd).map_err(ctx(&name, "empty"))?;
                    }
                }
                Some(_) => {
                    root::remove_all_at(dst, &name).map_err(ctx(&name, "replace"))?;
                    rfs::mkdirat(dst, os(&name), Mode::from_raw_mode(0o700))?;
                }
                None => rfs::mkdirat(dst, os(&name), Mode::from_raw_mode(0o700))?,
            }
            let dfd = rfs::openat(dst, os(&name), dir_flags(), Mode::empty())?;
            copy_meta(&sfd, &dfd, &st).map_err(ctx(&name, "copy metadata of"))?;
            merge_dir(&sfd, &dfd, links, depth + 1)?;
            rfs::futimens(&dfd, &times(&st))?;
            continue;
        }
        if root::lstat_at(dst, &name)?.is_some() {
            root::remove_all_at(dst, &name).map_err(ctx(&name, "replace"))?;
        }
        match ft {
            FileType::RegularFile => copy_file(src, dst, &name, &st, links)?,
            FileType::Symlink => {
                let target = rfs::readlinkat(src, os(&name), Vec::new())?;
                rfs::symlinkat(target.as_c_str(), dst, os(&name))?;
                chown_at(dst, &name, &st)?;
                rfs::utimensat(dst, os(&name), &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            }
            _ => {
                rfs::mknodat(dst, os(&name), ft, Mode::from_raw_mode(0o600), st.st_rdev)?;
                chown_at(dst, &name, &st)?;
                rfs::chmodat(dst, os(&name), perm(&st), AtFlags::empty())?;
                rfs::utimensat(dst, os(&name), &times(&st), AtFlags::SYMLINK_NOFOLLOW)?;
            }
        }
    }
    Ok(())
}

fn copy_file(
    src: &OwnedFd,
    dst: &OwnedFd,
    name: &[u8],
    st: &Stat,
    links: &mut Links,
) -> io::Result<()> {
    let key = (st.st_dev, st.st_ino);
    if st.st_nlink > 1
        && let Some(first) = links.get(&key)
    {
        // Another name of a file this layer already copied: link to the copy.
        rfs::linkat(first, c"", dst, os(name), AtFlags::EMPTY_PATH)?;
        return Ok(());
    }
    let from = File::from(rfs::openat(
        src,
        os(name),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?);
    let mut to = File::from(rfs::openat(
        dst,
        os(name),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?);
    // std uses copy_file_range, which clones extents where the filesystem can.
    io::copy(&mut &from, &mut to).map_err(ctx(name, "copy"))?;
    copy_meta(&from, &to, st).map_err(ctx(name, "copy metadata of"))?;
    rfs::futimens(&to, &times(st))?;
    if st.st_nlink > 1 {
        links.insert(key, to.into());
    }
    Ok(())
}

fn perm(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: Timespec {
            tv_sec: st.st_atime as _,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: Timespec {
            tv_sec: st.st_mtime as _,
            tv_nsec: st.st_mtime_nsec as _,
        },
    }
}

fn chown_at(dir: &OwnedFd, name: &[u8], st: &Stat) -> io::Result<()> {
    Ok(rfs::chownat(
        dir,
        os(name),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Owner, mode, then xattrs (chown clears setuid bits and file capabilities).
fn copy_meta(from: &impl AsFd, to: &impl AsFd, st: &Stat) -> io::Result<()> {
    rfs::fchown(
        to,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    rfs::fchmod(to, perm(st))?;
    let mut names = vec![0u8; 4096];
    let n = match rfs::flistxattr(from, &mut names) {
        Ok(n) => n,
        Err(rustix::io::Errno::RANGE) => {
            names.resize(rfs::flistxattr(from, &mut [0u8; 0][..])?, 0);
            rfs::flistxattr(from, &mut names)?
        }
        Err(e) => return Err(e.into()),
    };
    for key in names[..n].split(|b| *b == 0).filter(|k| !k.is_empty()) {
        if whiteout::is_reserved_xattr(key) {
            continue;
        }
        let len = rfs::fgetxattr(from, os(key), &mut [0u8; 0][..])?;
        let mut value = vec![0u8; len];
        let len = rfs::fgetxattr(from, os(key), &mut value)?;
        match rfs::fsetxattr(to, os(key), &value[..len], XattrFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOTSUP) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
