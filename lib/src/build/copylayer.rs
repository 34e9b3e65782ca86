//! COPY and ADD written straight as a layer tar, without a step container.
//!
//! The sources (the context, a heredoc's directory, or another stage's or image's
//! filesystem) are walked by descriptor as cp's archiver does (`*at` calls, no link followed
//! out, a file opened only once its descriptor shows a regular file), and each entry goes
//! into the layer under its destination path, with `--chown`/`--chmod` in its header.
//! The image below is looked up read-only ([`Lower`]: a detached overlay of its layers), as
//! BuildKit's copy does against its snapshot:
//!
//! - the destination is resolved in the image's root (`fs.RootPath`): a symlink on the way,
//!   the last component's too, is followed inside the root, so `COPY . /ctx/` over a `/ctx`
//!   that links to `/data` writes under `data/`;
//! - each directory on the way is in the layer: one that exists keeps its mode, owner and
//!   mtime; one that does not is created 0755, owned by `--chown`'s user (root without it),
//!   with the first source's mtime (so the same tree gives the same layer);
//! - a directory's contents replace what is below, entry by entry; a file over a directory
//!   (`cannot replace to directory ... with file`) or a directory over a non-directory
//!   (`cannot copy to non-directory: ...`) is refused in BuildKit's words.
//!
//! Entries are in sorted order and hard links within the copy stay links.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::io::{self, BufWriter, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};

use super::ignore::Ignore;
use super::{ImageState, Layer};
use crate::confine::{RESOLVE, Root};
use crate::container::copytar::{header_for, open_regular};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;
use crate::store::{ImageStore, Lock};

/// Symlinks followed while resolving one path, as Linux's MAXSYMLINKS.
const MAX_LINKS: usize = 40;

/// An image's filesystem, read-only, for lookups by descriptor.
pub(super) struct Lower {
    pub(super) root: Root,
    _held: Vec<Lock>,
    _empty: Option<super::steps::TmpDir>,
}

/// The filesystem of `state`: a detached overlay of its layers (unpacked first, and held so
/// gc keeps them), its one layer's directory, or an empty directory (`FROM scratch`). None:
/// this kernel cannot mount an overlay detached (the caller uses a step container).
pub(super) fn lower(
    paths: &Paths,
    store: &ImageStore,
    state: &ImageState,
) -> Result<Option<Lower>> {
    let layers = crate::layer::LayerStore::new(paths);
    let image = super::exec::materialize(store, state)?;
    let blobs = image.layer_blobs(store)?;
    let held = layers.ensure_held(&blobs, &Default::default())?;
    let top_first: Vec<String> = blobs.iter().rev().map(|b| b.diff_id.clone()).collect();
    let (fd, empty) = match top_first.len() {
        0 => {
            let dir = super::steps::TmpDir::new(paths, "empty")?;
            let fd = rfs::open(
                dir.path(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::new(Code::IO, format!("{}: {e}", dir.path().display())))?;
            (fd, Some(dir))
        }
        1 => {
            let d = layers.diff(&top_first[0]);
            let fd = rfs::open(
                &d,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::new(Code::IO, format!("{}: {e}", d.display())))?;
            (fd, None)
        }
        _ => match crate::bundle::overlay::detached_lower(&layers, &top_first)
            .map_err(|e| Error::new(Code::IO, format!("the image's filesystem: {e}")))?
        {
            Some(fd) => (fd, None),
            None => return Ok(None),
        },
    };
    Ok(Some(Lower {
        root: Root::from_fd(fd, RESOLVE),
        _held: held,
        _empty: empty,
    }))
}

fn io_at(path: &[u8], e: impl std::fmt::Display) -> Error {
    Error::new(Code::IO, format!("/{}: {e}", String::from_utf8_lossy(path)))
}

/// What is at `rel` (not following a last symlink), or None. overlayfs's whiteout (a 0:0
/// character device, in a single layer's directory) is nothing.
fn lstat(root: &Root, rel: &[u8]) -> io::Result<Option<rfs::Stat>> {
    match root.open_at(rel, OFlags::PATH | OFlags::NOFOLLOW) {
        Ok(fd) => {
            let st = rfs::fstat(&fd)?;
            Ok((!is_whiteout(&st)).then_some(st))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_whiteout(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

/// `rel` (cleaned, relative) resolved in `root` as BuildKit's `fs.RootPath`: every symlink,
/// the last component's too, followed inside the root (`..` stops at `/`); from the first
/// component that does not exist on, the rest is kept as written. Returns the resolved
/// path and what is there (None: nothing).
pub(super) fn resolve(root: &Root, rel: &[u8]) -> Result<(Vec<u8>, Option<rfs::Stat>)> {
    let mut todo: Vec<Vec<u8>> = comps(rel).rev().map(<[u8]>::to_vec).collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == b".." {
            done.pop();
            continue;
        }
        done.push(c);
        let path = done.join(&b'/');
        let Some(st) = lstat(root, &path).map_err(|e| io_at(&path, e))? else {
            done.extend(todo.drain(..).rev().filter(|c| c != b".."));
            return Ok((done.join(&b'/'), None));
        };
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            links += 1;
            if links > MAX_LINKS {
                return Err(io_at(&path, "too many levels of symbolic links"));
            }
            let fd = root
                .open_at(&path, OFlags::PATH | OFlags::NOFOLLOW)
                .map_err(|e| io_at(&path, e))?;
            let target = rfs::readlinkat(&fd, "", Vec::new()).map_err(|e| io_at(&path, e))?;
            done.pop();
            let target = target.as_bytes();
            if target.starts_with(b"/") {
                done.clear();
            }
            todo.extend(comps(target).rev().map(<[u8]>::to_vec));
            continue;
        }
        if !todo.is_empty() && FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(io_at(&path, "not a directory"));
        }
    }
    let path = done.join(&b'/');
    // What is there now: the root itself for an empty path (`COPY f .` in `/`).
    let st = match path.is_empty() {
        true => Some(rfs::fstat(root.fd()).map_err(|e| io_at(&path, e))?),
        false => lstat(root, &path).map_err(|e| io_at(&path, e))?,
    };
    Ok((path, st))
}

fn comps(p: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    p.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// The layer being written.
pub(super) struct LayerTar<'a> {
    b: tar::Builder<BufWriter<crate::store::layout::BlobWriter>>,
    lower: &'a Root,
    links: HashMap<(u64, u64), Vec<u8>>,
    /// Directories already in the layer (several sources share their parents).
    dirs: HashSet<Vec<u8>>,
    /// `--chown` (None: each entry keeps its source's owner, as `COPY --from` does).
    pub(super) owner: Option<(u32, u32)>,
    pub(super) chmod: Option<u32>,
    /// The owner and mtime of the directories the copy creates.
    pub(super) created: ((u32, u32), u64),
}

impl<'a> LayerTar<'a> {
    pub(super) fn new(store: &ImageStore, lower: &'a Root) -> Result<LayerTar<'a>> {
        let mut b = tar::Builder::new(BufWriter::with_capacity(256 << 10, store.blob_writer()?));
        b.follow_symlinks(false);
        Ok(LayerTar {
            b,
            lower,
            links: HashMap::new(),
            dirs: HashSet::new(),
            owner: None,
            chmod: None,
            created: ((0, 0), 0),
        })
    }

    /// Stores the layer; returns it.
    pub(super) fn finish(self) -> Result<Layer> {
        let w = self
            .b
            .into_inner()
            .map_err(|e| Error::new(Code::IO, format!("write the layer: {e}")))?;
        let w = w
            .into_inner()
            .map_err(|e| Error::new(Code::IO, format!("write the layer: {}", e.error())))?;
        super::exec::finish_layer(w)
    }

    /// The directory `dir` (resolved) and each one above it, as the layer has them: an
    /// existing one with its own metadata, a missing one created.
    pub(super) fn dirs_to(&mut self, dir: &[u8]) -> Result<()> {
        let mut path = Vec::new();
        for c in comps(dir) {
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(c);
            if self.dirs.contains(&path) {
                continue;
            }
            let st = lstat(self.lower, &path).map_err(|e| io_at(&path, e))?;
            let h = match st {
                Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                    header_for(&st)
                }
                Some(_) => {
                    return Err(Error::new(
                        Code::INVALID_CONFIG,
                        format!(
                            "cannot copy to non-directory: /{}",
                            String::from_utf8_lossy(&path)
                        ),
                    ));
                }
                None => {
                    let mut h = tar::Header::new_gnu();
                    h.set_mode(0o755);
                    h.set_uid(self.created.0.0.into());
                    h.set_gid(self.created.0.1.into());
                    h.set_mtime(self.created.1);
                    h
                }
            };
            self.dir_entry(h, &path)?;
        }
        Ok(())
    }

    fn dir_entry(&mut self, mut h: tar::Header, path: &[u8]) -> Result<()> {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        self.b
            .append_data(&mut h, OsStr::from_bytes(path), io::empty())
            .map_err(|e| io_at(path, e))?;
        self.dirs.insert(path.to_vec());
        Ok(())
    }

    /// A directory's contents (`src`, an `O_PATH` descriptor) into the existing or new
    /// directory `dest`: the directory itself keeps its metadata or is created, as BuildKit's.
    pub(super) fn contents(&mut self, src: &OwnedFd, dest: &[u8], skip: &Skip) -> Result<()> {
        self.dirs_to(dest)?;
        let dir = crate::confine::reopen(src, OFlags::RDONLY | OFlags::DIRECTORY)
            .map_err(|e| io_at(dest, e))?;
        let low = self.lower_dir(dest);
        self.children(&dir, low.as_ref(), dest, b"", skip)
    }

    /// One source (`fd`, an `O_PATH` descriptor whose type `st` says) at `dest`, its
    /// parents already in the layer.
    pub(super) fn one(&mut self, fd: &OwnedFd, st: &rfs::Stat, dest: &[u8]) -> Result<()> {
        let (parent, name) = crate::confine::split_parent(dest);
        let low = self.lower_dir(parent);
        self.entry(None, fd, st, low.as_ref(), name, dest, b"", &|_, _| false)
    }

    /// The directory `rel` of the image below, opened for listing (None: not a directory).
    fn lower_dir(&self, rel: &[u8]) -> Option<OwnedFd> {
        self.lower
            .open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW)
            .ok()
    }

    fn children(
        &mut self,
        dir: &OwnedFd,
        low: Option<&OwnedFd>,
        dest: &[u8],
        src_path: &[u8],
        skip: &Skip,
    ) -> Result<()> {
        if super::interrupted() {
            return Err(super::BuildError::Interrupted.into());
        }
        let names = crate::confine::sorted_names(dir).map_err(|e| io_at(dest, e))?;
        for n in names {
            let st = match rfs::statat(dir, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(rustix::io::Errno::NOENT) => continue,
                Err(e) => return Err(io_at(&join(dest, &n), e)),
            };
            let sp = join(src_path, &n);
            if skip(
                &sp,
                FileType::from_raw_mode(st.st_mode) == FileType::Directory,
            ) {
                continue;
            }
            self.entry(Some(dir), dir, &st, low, &n, &join(dest, &n), &sp, skip)?;
        }
        Ok(())
    }

    /// One entry: `name` in `parent` (or `fd` itself when there is no parent), written at
    /// `path`, checked against `name` in `low`, the image's directory there.
    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        parent: Option<&OwnedFd>,
        fd: &OwnedFd,
        st: &rfs::Stat,
        low: Option<&OwnedFd>,
        name: &[u8],
        path: &[u8],
        src_path: &[u8],
        skip: &Skip,
    ) -> Result<()> {
        let kind = FileType::from_raw_mode(st.st_mode);
        check_below(kind, low, name, path)?;
        let mut h = header_for(st);
        if let Some((u, g)) = self.owner {
            h.set_uid(u.into());
            h.set_gid(g.into());
        }
        if let Some(m) = self.chmod {
            h.set_mode(m);
        }
        let io = |e: io::Error| io_at(path, e);
        if kind != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return self
                    .b
                    .append_link(&mut h, OsStr::from_bytes(path), OsStr::from_bytes(&first))
                    .map_err(io);
            }
            self.links.insert(key, path.to_vec());
        }
        let pair = parent.map(|p| (p, name));
        match kind {
            FileType::Directory => {
                self.dir_entry(h, path)?;
                let dir = match parent {
                    Some(p) => rfs::openat(
                        p,
                        OsStr::from_bytes(name),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| io_at(path, e))?,
                    None => crate::confine::reopen(fd, OFlags::RDONLY | OFlags::DIRECTORY)
                        .map_err(io)?,
                };
                let sub = low.and_then(|l| {
                    rfs::openat(
                        l,
                        OsStr::from_bytes(name),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .ok()
                });
                self.children(&dir, sub.as_ref(), path, src_path, skip)
            }
            FileType::RegularFile => {
                let f = open_regular(fd, pair, st).map_err(io)?;
                let size = st.st_size.max(0) as u64;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(size);
                // A file that grows or shrinks meanwhile is cut or padded, as tar does.
                let data = std::fs::File::from(f)
                    .take(size)
                    .chain(io::repeat(0))
                    .take(size);
                self.b
                    .append_data(&mut h, OsStr::from_bytes(path), data)
                    .map_err(io)
            }
            FileType::Symlink => {
                let (p, n): (&OwnedFd, &[u8]) = parent.map_or((fd, &b""[..]), |p| (p, name));
                let target = rfs::readlinkat(p.as_fd(), OsStr::from_bytes(n), Vec::new())
                    .map_err(|e| io_at(path, e))?;
                h.set_entry_type(tar::EntryType::Symlink);
                let target = target.as_bytes();
                // The target as it is (`set_link_name` would make `/` into `//`); a long one
                // goes in a GNU long-link record.
                if target.len() <= 100 {
                    h.set_link_name_literal(target).map_err(io)?;
                    return self
                        .b
                        .append_data(&mut h, OsStr::from_bytes(path), io::empty())
                        .map_err(io);
                }
                self.b
                    .append_link(&mut h, OsStr::from_bytes(path), OsStr::from_bytes(target))
                    .map_err(io)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                h.set_device_major(rfs::major(st.st_rdev))
                    .and_then(|()| h.set_device_minor(rfs::minor(st.st_rdev)))
                    .map_err(io)?;
                self.b
                    .append_data(&mut h, OsStr::from_bytes(path), io::empty())
                    .map_err(io)
            }
            // Sockets cannot be archived; tar skips them too.
            _ => Ok(()),
        }
    }
}

/// BuildKit's refusals: a directory over what is not one below, a file over a directory.
fn check_below(kind: FileType, low: Option<&OwnedFd>, name: &[u8], path: &[u8]) -> Result<()> {
    let below = low.and_then(|l| {
        rfs::statat(l, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW)
            .ok()
            .filter(|s| !is_whiteout(s))
    });
    let below_dir =
        below.is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
    let shown = String::from_utf8_lossy(path);
    if kind == FileType::Directory && below.is_some() && !below_dir {
        return Err(Error::new(
            Code::INVALID_CONFIG,
            format!("cannot copy to non-directory: /{shown}"),
        ));
    }
    if kind != FileType::Directory && below_dir {
        return Err(Error::new(
            Code::INVALID_CONFIG,
            format!("cannot replace to directory /{shown} with file"),
        ));
    }
    Ok(())
}

/// Whether to leave out an entry: its path under the source, and whether it is a directory.
pub(super) type Skip = dyn Fn(&[u8], bool) -> bool;

/// `.dockerignore` for the tree at `rel` in the context (none: keep everything).
pub(super) fn skip_for(ignore: Option<Arc<Ignore>>, rel: &[u8]) -> Box<Skip> {
    let prefix = rel.to_vec();
    match ignore {
        None => Box::new(|_, _| false),
        Some(i) => Box::new(move |p: &[u8], is_dir: bool| {
            let ctx = join(&prefix, p);
            i.excluded(&String::from_utf8_lossy(&ctx)) && !(is_dir && i.has_exceptions())
        }),
    }
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    if a.is_empty() {
        b.to_vec()
    } else {
        [a, b"/", b].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn destinations_resolve_through_symlinks_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::create_dir_all(p.join("data/sub")).unwrap();
        std::fs::write(p.join("file"), "x").unwrap();
        symlink("/data", p.join("ctx")).unwrap();
        symlink("../../../data/sub", p.join("data/up")).unwrap();
        symlink("loop", p.join("loop")).unwrap();
        symlink("/nowhere/deeper", p.join("dangling")).unwrap();
        let root = Root::open(p).unwrap();
        let r = |s: &str| resolve(&root, s.as_bytes());
        let dir = |s: &str| {
            let (path, st) = r(s).unwrap();
            let kind = st.map(|st| FileType::from_raw_mode(st.st_mode));
            (String::from_utf8(path).unwrap(), kind)
        };
        assert_eq!(dir("ctx"), ("data".into(), Some(FileType::Directory)));
        assert_eq!(dir("ctx/new/x"), ("data/new/x".into(), None));
        // `..` in a link target stops at the root.
        assert_eq!(
            dir("data/up"),
            ("data/sub".into(), Some(FileType::Directory))
        );
        assert_eq!(dir(""), ("".into(), Some(FileType::Directory)));
        assert_eq!(dir("file"), ("file".into(), Some(FileType::RegularFile)));
        assert_eq!(dir("dangling/x"), ("nowhere/deeper/x".into(), None));
        assert!(
            r("loop/x")
                .unwrap_err()
                .to_string()
                .contains("symbolic links")
        );
        assert!(
            r("file/x")
                .unwrap_err()
                .to_string()
                .contains("not a directory")
        );
    }
}
