//! `cp`'s tar side: a tree archived from a container or host directory (walking with `*at`
//! calls under the side's root, never following a link out, and opening a file for reading
//! only after its descriptor shows a regular file, so a FIFO swapped in never blocks us), and
//! an archive extracted into a destination directory the same way (an existing non-directory
//! is unlinked and a new file created with `O_EXCL`, never opened). Split from copy.rs, which
//! resolves the two sides.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps};

use super::ContainerError;
use super::copy::{CopyOptions, Side, bad, io_err};
use crate::confine::{Root, clean_path, create_new, reopen, split_parent};
use crate::error::{Error, Result};

/// Whether to leave out an entry: its path in the archive, and whether it is a directory.
pub(crate) type Skip = Box<dyn Fn(&[u8], bool) -> bool + Send>;

#[derive(Default)]
pub(crate) struct Counter {
    pub(crate) bytes: u64,
    /// Every archived entry's owner and permission bits replaced (`COPY --chown/--chmod`);
    /// when extracting, every extracted entry's owner (`ADD --chown` of an archive).
    pub(crate) owner: Option<(u32, u32)>,
    pub(crate) chmod: Option<u32>,
    /// Entries to leave out, by their path in the archive (a build's `.dockerignore`).
    pub(crate) skip: Option<Skip>,
}

// ---------------------------------------------------------------------------------------
// Archiving: a walk by descriptors.

pub(crate) fn header_for(st: &rfs::Stat) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

pub(crate) fn archive<W: Write>(
    b: &mut tar::Builder<W>,
    top: &OwnedFd,
    st: &rfs::Stat,
    name: Option<&[u8]>,
    c: &mut Counter,
) -> Result<()> {
    let mut links = HashMap::new();
    match name {
        Some(n) => entry(b, top, None, st, n, &mut links, c),
        None => {
            let dir = reopen_dir(top)?;
            children(b, &dir, b"", &mut links, c)
        }
    }
}

pub(super) fn reopen_dir(fd: &OwnedFd) -> Result<OwnedFd> {
    rfs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("cannot open", "directory", e))
}

/// One entry `path` (with `fd` an O_PATH descriptor of it, or `parent`/name to open).
pub(super) fn entry<W: Write>(
    b: &mut tar::Builder<W>,
    fd: &OwnedFd,
    parent: Option<(&OwnedFd, &[u8])>,
    st: &rfs::Stat,
    path: &[u8],
    links: &mut HashMap<(u64, u64), Vec<u8>>,
    c: &mut Counter,
) -> Result<()> {
    let shown = String::from_utf8_lossy(path).into_owned();
    let mut h = header_for(st);
    if let Some((u, g)) = c.owner {
        h.set_uid(u.into());
        h.set_gid(g.into());
    }
    if let Some(m) = c.chmod {
        h.set_mode(m);
    }
    let kind = FileType::from_raw_mode(st.st_mode);
    let append = |b: &mut tar::Builder<W>, h: &mut tar::Header, data: &mut dyn Read| {
        b.append_data(h, OsStr::from_bytes(path), data)
            .map_err(|e| io_err("archiving", &shown, e))
    };
    if kind != FileType::Directory && st.st_nlink > 1 {
        let key = (st.st_dev, st.st_ino);
        if let Some(first) = links.get(&key) {
            h.set_entry_type(tar::EntryType::Link);
            h.set_link_name(OsStr::from_bytes(first))
                .map_err(|e| io_err("archiving", &shown, e))?;
            return append(b, &mut h, &mut io::empty());
        }
        links.insert(key, path.to_vec());
    }
    match kind {
        FileType::Directory => {
            h.set_entry_type(tar::EntryType::Directory);
            append(b, &mut h, &mut io::empty())?;
            let dir = match parent {
                Some((p, n)) => rfs::openat(
                    p,
                    OsStr::from_bytes(n),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_err("cannot open", &shown, e))?,
                None => reopen_dir(fd)?,
            };
            children(b, &dir, path, links, c)
        }
        FileType::RegularFile => {
            let file =
                open_regular(fd, parent, st).map_err(|e| io_err("cannot open", &shown, e))?;
            let mut f = File::from(file);
            // The size the header promises is what was there when we looked; a file that
            // grows or shrinks meanwhile is cut or padded, as tar does.
            let size = st.st_size.max(0) as u64;
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(size);
            c.bytes += size;
            let mut data = (&mut f).take(size).chain(io::repeat(0)).take(size);
            append(b, &mut h, &mut data)
        }
        FileType::Symlink => {
            let (p, n) = parent.map_or((fd, &b""[..]), |(p, n)| (p, n));
            let target = rfs::readlinkat(p, OsStr::from_bytes(n), Vec::new())
                .map_err(|e| io_err("cannot read link", &shown, e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_link_name(OsStr::from_bytes(target.as_bytes()))
                .map_err(|e| io_err("archiving", &shown, e))?;
            append(b, &mut h, &mut io::empty())
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            h.set_entry_type(match kind {
                FileType::CharacterDevice => tar::EntryType::Char,
                FileType::BlockDevice => tar::EntryType::Block,
                _ => tar::EntryType::Fifo,
            });
            let dev = st.st_rdev;
            h.set_device_major(rfs::major(dev))
                .and_then(|()| h.set_device_minor(rfs::minor(dev)))
                .map_err(|e| io_err("archiving", &shown, e))?;
            append(b, &mut h, &mut io::empty())
        }
        // Sockets and unknown types cannot be archived; tar skips them too.
        _ => Ok(()),
    }
}

/// The regular file `st` describes, open for reading. It is looked up as `O_PATH` (which
/// opens nothing), checked to be that same regular file, and only then reopened: a FIFO or a
/// device swapped in meanwhile is never opened, so the copy cannot block or touch a device.
pub(crate) fn open_regular(
    fd: &OwnedFd,
    parent: Option<(&OwnedFd, &[u8])>,
    st: &rfs::Stat,
) -> io::Result<OwnedFd> {
    let path_fd;
    let pfd = match parent {
        Some((p, n)) => {
            path_fd = rfs::openat(
                p,
                OsStr::from_bytes(n),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            &path_fd
        }
        // The top entry is an O_PATH descriptor already.
        None => fd,
    };
    let now = rfs::fstat(pfd)?;
    if FileType::from_raw_mode(now.st_mode) != FileType::RegularFile
        || (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino)
    {
        return Err(io::Error::other("it was replaced while being copied"));
    }
    reopen(pfd, OFlags::RDONLY)
}

pub(super) fn children<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &OwnedFd,
    prefix: &[u8],
    links: &mut HashMap<(u64, u64), Vec<u8>>,
    c: &mut Counter,
) -> Result<()> {
    let names =
        crate::confine::sorted_names(dir).map_err(|e| io_err("cannot list", "directory", e))?;
    for n in names {
        let st = match rfs::statat(dir, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            // Gone meanwhile (a running container changes under us): skip it.
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(io_err("cannot stat", &String::from_utf8_lossy(&n), e)),
        };
        let path = if prefix.is_empty() {
            n.clone()
        } else {
            [prefix, b"/", &n].concat()
        };
        let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
        if c.skip.as_ref().is_some_and(|skip| skip(&path, is_dir)) {
            continue;
        }
        entry(b, dir, Some((dir, &n)), &st, &path, links, c)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Extracting: every entry resolved inside the destination directory.

/// One archive entry's metadata, as it will be written.
struct Meta {
    uid: u32,
    gid: u32,
    mode: Mode,
    mtime: u64,
    /// A link's target (the entry's, which long-name extensions can carry).
    link: Vec<u8>,
}

pub(crate) fn extract(
    input: &mut dyn Read,
    dir: Root,
    d: &Side,
    opts: CopyOptions,
    c: &mut Counter,
) -> Result<()> {
    // Docker: files copied into a container belong to root, onto the host to the caller;
    // -a keeps the archive's owners.
    // `ADD --chown` of an archive: every member's owner (BuildKit >= 0.23).
    let forced = c.owner;
    let owner = |h: &tar::Header| -> (u32, u32) {
        if let Some(o) = forced {
            o
        } else if opts.archive {
            (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32)
        } else if d.container {
            (0, 0)
        } else {
            (
                rustix::process::getuid().as_raw(),
                rustix::process::getgid().as_raw(),
            )
        }
    };
    let mut ar = tar::Archive::new(input);
    let mut dir_times: Vec<(Vec<u8>, u64)> = Vec::new();
    let entries = ar
        .entries()
        .map_err(|e| ContainerError::BadArgs(format!("reading the archive: {e}")))?;
    for e in entries {
        let mut e = e.map_err(|e| ContainerError::BadArgs(format!("reading the archive: {e}")))?;
        let raw = e.path_bytes().into_owned();
        let rel = clean_path(&raw).map_err(|_| {
            ContainerError::Unsafe(format!(
                "archive entry {:?} climbs out of the destination",
                String::from_utf8_lossy(&raw)
            ))
        })?;
        if rel.is_empty() {
            // `.`: the destination directory itself; its metadata is left alone.
            continue;
        }
        let h = e.header().clone();
        let (uid, gid) = owner(&h);
        let meta = Meta {
            uid,
            gid,
            mode: Mode::from_raw_mode(h.mode().unwrap_or(0o644) & 0o7777),
            mtime: h.mtime().unwrap_or(0),
            link: e
                .link_name_bytes()
                .map(|t| t.into_owned())
                .unwrap_or_default(),
        };
        if place(&mut e, &h, &dir, &rel, &meta, d, c)? {
            dir_times.push((rel, meta.mtime));
        }
    }
    // Directory times last, deepest first: writing into a directory changes its mtime.
    dir_times.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    for (p, t) in dir_times {
        if let Ok(fd) = dir.open_at(&p, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW) {
            set_times(&fd, t);
        }
    }
    Ok(())
}

/// Writes one entry at `rel` under `dir`; true for a directory (its time is set last).
fn place(
    e: &mut dyn Read,
    h: &tar::Header,
    dir: &Root,
    rel: &[u8],
    m: &Meta,
    d: &Side,
    c: &mut Counter,
) -> Result<bool> {
    let shown = String::from_utf8_lossy(rel).into_owned();
    let (parent_rel, name) = split_parent(rel);
    // A parent the archive did not list is made, as Docker's untar makes it (never through a
    // dangling symlink: confine's mkdir_all).
    let parent = match dir.open_at(parent_rel, OFlags::PATH | OFlags::DIRECTORY) {
        Err(er) if er.raw_os_error() == Some(libc::ENOENT) => dir.mkdir_all(parent_rel),
        r => r,
    }
    .map_err(|er| io_err("cannot open", &shown, er))?;
    let kind = h.entry_type();
    let ioe = |er: rustix::io::Errno| io_err("cannot write", &shown, er);
    let uid = Some(rustix::process::Uid::from_raw(m.uid));
    let gid = Some(rustix::process::Gid::from_raw(m.gid));
    if matches!(kind, tar::EntryType::Char | tar::EntryType::Block) && !d.container {
        // A container's device node would be a door on the host (a 0666 copy of its disk).
        return Err(ContainerError::Unsafe(format!(
            "refusing to create the device node {shown} on the host (copy the directory without it)"
        ))
        .into());
    }
    if kind == tar::EntryType::Directory {
        mkdir_entry(&parent, name, m, &shown)?;
        return Ok(true);
    }
    let in_place = make_room(&parent, name, kind, &shown)?;
    let name = OsStr::from_bytes(name);
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let fd = match in_place {
                Some(fd) => fd,
                None => create_new(
                    &parent,
                    name.as_bytes(),
                    OFlags::WRONLY,
                    m.mode.as_raw_mode(),
                )
                .map_err(|er| io_err("cannot write", &shown, er))?,
            };
            let mut f = File::from(fd);
            c.bytes += io::copy(e, &mut f).map_err(|er| io_err("cannot write", &shown, er))?;
            let fd = OwnedFd::from(f);
            fix_meta(&fd, m.uid, m.gid, m.mode).map_err(ioe)?;
            set_times(&fd, m.mtime);
        }
        tar::EntryType::Symlink => {
            rfs::symlinkat(OsStr::from_bytes(&m.link), &parent, name).map_err(ioe)?;
            let _ = rfs::chownat(&parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW);
        }
        tar::EntryType::Link => {
            let target = clean_path(&m.link).map_err(|_| {
                ContainerError::Unsafe(format!("hard link {shown} points out of the destination"))
            })?;
            let (tp, tn) = split_parent(&target);
            let tparent = dir
                .open_at(tp, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(ioe_io(&shown))?;
            rfs::linkat(
                &tparent,
                OsStr::from_bytes(tn),
                &parent,
                name,
                AtFlags::empty(),
            )
            .map_err(ioe)?;
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            let ft = match kind {
                tar::EntryType::Char => FileType::CharacterDevice,
                tar::EntryType::Block => FileType::BlockDevice,
                _ => FileType::Fifo,
            };
            let dev = rfs::makedev(
                h.device_major().ok().flatten().unwrap_or(0),
                h.device_minor().ok().flatten().unwrap_or(0),
            );
            rfs::mknodat(&parent, name, ft, m.mode, dev).map_err(ioe)?;
            let _ = rfs::chownat(&parent, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW);
        }
        // Extended headers and the like carry nothing to write.
        _ => {}
    }
    Ok(false)
}

/// A directory entry: made if missing, merged into an existing directory.
fn mkdir_entry(parent: &OwnedFd, name: &[u8], m: &Meta, shown: &str) -> Result<()> {
    let ioe = |er: rustix::io::Errno| io_err("cannot write", shown, er);
    let name = OsStr::from_bytes(name);
    match rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::Directory => {
            return Err(bad(format!(
                "cannot overwrite non-directory {shown} with a directory"
            )));
        }
        Ok(_) => {}
        Err(_) => rfs::mkdirat(parent, name, m.mode).map_err(ioe)?,
    }
    let fd = rfs::openat(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(ioe)?;
    fix_meta(&fd, m.uid, m.gid, m.mode).map_err(ioe)
}

/// Makes room for a new non-directory `name` in `parent`. An existing non-directory is
/// unlinked, never opened: a device node or a FIFO planted there is replaced, as Docker's
/// extraction replaces it. The one exception is a regular file that is a mount point (a
/// running container's bind-mounted /etc/hosts), which cannot be unlinked: it is written in
/// place, through a descriptor checked to be a regular file. Returns that descriptor.
fn make_room(
    parent: &OwnedFd,
    name: &[u8],
    kind: tar::EntryType,
    shown: &str,
) -> Result<Option<OwnedFd>> {
    let name = OsStr::from_bytes(name);
    let Ok(st) = rfs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return Ok(None);
    };
    if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
        return Err(bad(format!(
            "cannot overwrite directory {shown} with a non-directory"
        )));
    }
    match rfs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(rustix::io::Errno::BUSY)
            if kind == tar::EntryType::Regular
                && FileType::from_raw_mode(st.st_mode) == FileType::RegularFile =>
        {
            let ioe = |er| io_err("cannot write", shown, er);
            let fd = rfs::openat(
                parent,
                name,
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(ioe)?;
            let now = rfs::fstat(&fd).map_err(ioe)?;
            if FileType::from_raw_mode(now.st_mode) != FileType::RegularFile {
                return Err(bad(format!(
                    "cannot write {shown}: it is not a regular file"
                )));
            }
            let w = reopen(&fd, OFlags::WRONLY | OFlags::TRUNC)
                .map_err(|er| io_err("cannot write", shown, er))?;
            Ok(Some(w))
        }
        Err(e) => Err(io_err("cannot replace", shown, e)),
    }
}

pub(super) fn ioe_io(shown: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |e| io_err("cannot open", shown, e)
}

pub(super) fn fix_meta(fd: &OwnedFd, uid: u32, gid: u32, mode: Mode) -> rustix::io::Result<()> {
    rfs::fchown(
        fd.as_fd(),
        Some(rustix::process::Uid::from_raw(uid)),
        Some(rustix::process::Gid::from_raw(gid)),
    )?;
    // After the chown, which clears set-id bits.
    rfs::fchmod(fd.as_fd(), mode)
}

pub(super) fn set_times(fd: &OwnedFd, mtime: u64) {
    let t = rfs::Timespec {
        tv_sec: mtime as i64,
        tv_nsec: 0,
    };
    let _ = rfs::futimens(
        fd,
        &Timestamps {
            last_access: t,
            last_modification: t,
        },
    );
}
