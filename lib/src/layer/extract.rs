//! One layer's tar stream -> one directory, in the form overlayfs reads.
//!
//! Everything the tar holds is kept: numeric uid/gid, the mode with setuid/setgid/sticky, mtime
//! (with PAX sub-second precision), xattrs from PAX `SCHILY.xattr.*` records (including
//! `security.capability`), hardlinks, symlinks, device nodes, fifos, sparse files (holes stay
//! holes) and names that are not UTF-8 (bytes in, bytes out).
//!
//! OCI whiteouts become overlayfs whiteouts (see [`whiteout`](super::whiteout)).
//!
//! Each entry's parent is resolved inside the root by the kernel ([`Root`]); the entry itself is
//! created through the parent's descriptor and never follows a symlink. An existing entry of
//! another type is replaced (a later tar entry wins), but the root itself can never be replaced
//! by a non-directory (umoci's CVE-2021-29136).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{
    self as rfs, AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, XattrFlags,
};

use super::whiteout::{self, Whiteout};
use crate::confine::{self as root, Escape, Root, os};

/// Why a layer could not be extracted.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("unsafe layer content: entry {entry:?}: {reason}")]
    Unsafe { entry: String, reason: String },
    #[error("corrupt layer tar: {0}")]
    Decode(#[source] io::Error),
    #[error("corrupt layer tar: entry {entry:?}: {reason}")]
    BadEntry { entry: String, reason: String },
    #[error("layer entry {entry:?}: {op}: {source}")]
    Io {
        entry: String,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error(
        "layer expands beyond the size limit of {limit} bytes (a decompression bomb?); raise --max-layer-size if the image is genuine"
    )]
    TooLarge { limit: u64 },
}

type Result<T, E = ExtractError> = std::result::Result<T, E>;

/// What one extraction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    /// Apparent bytes of file content written (holes included).
    pub bytes: u64,
    /// Whiteouts were kept in OCI form (`.wh.` files) because the layer store is on
    /// overlayfs, which refuses to hold overlayfs whiteouts; only the copying driver reads
    /// such layers.
    pub oci_whiteouts: bool,
}

/// Extracts the tar on `reader` into `root`. `limit` bounds the apparent size of all file
/// content (a sparse file's holes count), so a crafted sparse entry cannot claim petabytes.
///
/// This is the whole surface that untrusted tar bytes reach; the fuzz target calls it.
pub fn extract(reader: impl Read, root: &Root, limit: u64) -> Result<Stats> {
    let mut archive = tar::Archive::new(reader);
    let oci_whiteouts = rustix::fs::fstatfs(root.fd())
        .is_ok_and(|st| st.f_type == crate::bundle::overlay::OVERLAYFS_MAGIC);
    let mut x = Extractor {
        oci_whiteouts,
        root,
        cache: None,
        dirs: Vec::new(),
        limit,
        stats: Stats {
            oci_whiteouts,
            ..Stats::default()
        },
        buf: vec![0u8; 256 * 1024],
    };
    for entry in archive.entries().map_err(ExtractError::Decode)? {
        let entry = entry.map_err(ExtractError::Decode)?;
        x.entry(entry)?;
    }
    x.finish()?;
    Ok(x.stats)
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: Timespec,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

struct Extractor<'r> {
    oci_whiteouts: bool,
    root: &'r Root,
    /// The last parent directory resolved: tar lists a directory's files together, so this
    /// saves a resolution per entry. Dropped whenever anything is removed.
    cache: Option<(Vec<u8>, OwnedFd)>,
    /// Directory mtimes, set at the end (creating children changes them).
    dirs: Vec<(Vec<u8>, Timespec)>,
    limit: u64,
    stats: Stats,
    buf: Vec<u8>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Extractor<'_> {
    fn entry<R: Read>(&mut self, mut e: tar::Entry<'_, R>) -> Result<()> {
        let raw = e.path_bytes().into_owned();
        let kind = e.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        self.stats.entries += 1;
        let unsafe_ = |reason: String| ExtractError::Unsafe {
            entry: lossy(&raw),
            reason,
        };
        let path = root::clean_path(&raw).map_err(|e| {
            unsafe_(match e {
                Escape::DotDot => "the path climbs out of the root with ..".into(),
                Escape::Nul => "the path holds a NUL byte".into(),
            })
        })?;
        let (dir, base) = root::split_parent(&path);
        match whiteout::parse(base) {
            // Kept as the plain files they are in the tar (see Stats::oci_whiteouts).
            Some(Whiteout::Opaque | Whiteout::Remove(_)) if self.oci_whiteouts => {}
            Some(Whiteout::Opaque) => return self.opaque(dir, &raw),
            Some(Whiteout::Remove(name)) => return self.whiteout(dir, name, &raw),
            Some(Whiteout::Invalid) => {
                return Err(unsafe_("the whiteout names no valid entry".into()));
            }
            Some(Whiteout::Ignored) => return Ok(()),
            None => {}
        }
        let meta = read_meta(&mut e).map_err(|reason| ExtractError::BadEntry {
            entry: lossy(&raw),
            reason,
        })?;
        let is_dir = kind == tar::EntryType::Directory
            || (kind.is_file() && raw.ends_with(b"/") && e.size() == 0);
        if path.is_empty() {
            if !is_dir {
                return Err(unsafe_(
                    "it would replace the root directory with a non-directory".into(),
                ));
            }
            let fd = self.io(&raw, "open root", self.root.open_at(b"", dir_flags()))?;
            self.apply(&raw, &fd, &meta)?;
            self.dirs.push((path, meta.mtime));
            return Ok(());
        }
        let parent = self.parent(dir, &raw)?;
        let name = base;
        match kind {
            _ if is_dir => self.directory(&parent, name, &path, &raw, &meta),
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                self.file(&parent, name, &raw, &meta, &mut e, kind.is_gnu_sparse())
            }
            tar::EntryType::Symlink => {
                let target = e.link_name_bytes().unwrap_or_default().into_owned();
                if target.is_empty() || target.contains(&0) {
                    return Err(ExtractError::BadEntry {
                        entry: lossy(&raw),
                        reason: "symlink without a valid target".into(),
                    });
                }
                self.replace(&parent, name, &raw, |p, n| {
                    rfs::symlinkat(os(&target), p, os(n))
                })?;
                self.cache = None;
                self.io(
                    &raw,
                    "chown",
                    rfs::chownat(
                        &parent,
                        os(name),
                        Some(Uid::from_raw(meta.uid)),
                        Some(Gid::from_raw(meta.gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(io::Error::from),
                )?;
                self.times_at(&parent, name, &raw, meta.mtime)
            }
            tar::EntryType::Link => self.hardlink(&parent, name, &path, &raw, &mut e),
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (ty, dev) = match kind {
                    tar::EntryType::Fifo => (FileType::Fifo, 0),
                    k => {
                        let h = e.header();
                        let major = h.device_major().ok().flatten().unwrap_or(0);
                        let minor = h.device_minor().ok().flatten().unwrap_or(0);
                        let ty = if k == tar::EntryType::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ty, rfs::makedev(major, minor))
                    }
                };
                self.replace(&parent, name, &raw, |p, n| {
                    rfs::mknodat(p, os(n), ty, Mode::from_raw_mode(0o600), dev)
                })?;
                self.special_meta(&parent, name, &raw, &meta)
            }
            other => {
                log::warn!(
                    "skipping layer entry {:?} of unsupported tar type {other:?}",
                    lossy(&raw)
                );
                Ok(())
            }
        }
    }

    fn io<T>(&self, raw: &[u8], op: &'static str, r: io::Result<T>) -> Result<T> {
        r.map_err(|source| ExtractError::Io {
            entry: lossy(raw),
            op,
            source,
        })
    }

    /// The parent directory of an entry, created if the tar did not list it.
    fn parent(&mut self, dir: &[u8], raw: &[u8]) -> Result<OwnedFd> {
        if let Some((p, fd)) = &self.cache
            && p == dir
        {
            return self.io(raw, "dup", fd.try_clone());
        }
        let mut made = self.root.mkdir_all(dir);
        if made
            .as_ref()
            .is_err_and(|e| e.raw_os_error() == Some(libc::ENOTDIR))
            && self.undo_whiteouts(dir)
        {
            made = self.root.mkdir_all(dir);
        }
        let fd = made.map_err(|source| match source.raw_os_error() {
            // A parent that is a file, or a symlink to nowhere inside the root: the layer's
            // content is inconsistent, not the host failing.
            Some(libc::ENOTDIR) | None | Some(libc::ENOENT) | Some(libc::ELOOP) => {
                ExtractError::BadEntry {
                    entry: lossy(raw),
                    reason: format!("cannot create its parent directory: {source}"),
                }
            }
            _ => ExtractError::Io {
                entry: lossy(raw),
                op: "create parent directory",
                source,
            },
        })?;
        let dup = self.io(raw, "dup", fd.try_clone())?;
        self.cache = Some((dir.to_vec(), fd));
        Ok(dup)
    }

    /// A path under a name this layer whited out (`.wh.d` then `d/x`): the whiteout becomes an
    /// opaque directory, as an explicit `d/` entry would make it. Returns whether one was.
    fn undo_whiteouts(&mut self, dir: &[u8]) -> bool {
        let mut changed = false;
        let mut start = 0;
        for name in dir.split(|b| *b == b'/') {
            let pp: &[u8] = if start == 0 { b"" } else { &dir[..start - 1] };
            start += name.len() + 1;
            let Ok(pfd) = self.root.dir(pp) else { break };
            let Ok(Some(st)) = root::lstat_at(&pfd, name) else {
                break;
            };
            if !whiteout::is_overlay_whiteout(&st) {
                continue;
            }
            self.cache = None;
            let ok = rfs::unlinkat(&pfd, os(name), AtFlags::empty()).is_ok()
                && rfs::mkdirat(&pfd, os(name), Mode::from_raw_mode(0o755)).is_ok()
                && rfs::openat(&pfd, os(name), dir_flags(), Mode::empty())
                    .is_ok_and(|fd| whiteout::set_opaque(&fd).is_ok());
            if !ok {
                break;
            }
            changed = true;
        }
        changed
    }

    /// Runs `create`; if the name is taken, removes what is there and runs it again.
    fn replace(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        raw: &[u8],
        create: impl Fn(&OwnedFd, &[u8]) -> rustix::io::Result<()>,
    ) -> Result<()> {
        match create(parent, name) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::EXIST) => {
                self.cache = None;
                self.io(raw, "replace", root::remove_all_at(parent, name))?;
                self.io(raw, "create", create(parent, name).map_err(io::Error::from))
            }
            Err(e) => self.io(raw, "create", Err(e.into())),
        }
    }

    fn directory(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &[u8],
        raw: &[u8],
        meta: &Meta,
    ) -> Result<()> {
        let mut opaque = false;
        match rfs::mkdirat(parent, os(name), Mode::from_raw_mode(0o700)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                let st = self.io(raw, "stat", root::lstat_at(parent, name))?;
                if !st.as_ref().is_some_and(root::is_dir) {
                    // A directory replacing this layer's own whiteout of the same name: the
                    // lower layers' directory stays hidden (OCI: the whiteout applies to them).
                    opaque = st.as_ref().is_some_and(whiteout::is_overlay_whiteout);
                    self.cache = None;
                    self.io(raw, "replace", root::remove_all_at(parent, name))?;
                    self.io(
                        raw,
                        "mkdir",
                        rfs::mkdirat(parent, os(name), Mode::from_raw_mode(0o700))
                            .map_err(io::Error::from),
                    )?;
                }
            }
            Err(e) => return self.io(raw, "mkdir", Err(e.into())),
        }
        let fd = self.io(
            raw,
            "open",
            rfs::openat(parent, os(name), dir_flags(), Mode::empty()).map_err(io::Error::from),
        )?;
        self.apply(raw, &fd, meta)?;
        if opaque {
            self.io(raw, "mark opaque", whiteout::set_opaque(&fd))?;
        }
        self.dirs.push((path.to_vec(), meta.mtime));
        Ok(())
    }

    fn file<R: Read>(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        raw: &[u8],
        meta: &Meta,
        e: &mut tar::Entry<'_, R>,
        sparse: bool,
    ) -> Result<()> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW;
        let open = |p: &OwnedFd, n: &[u8]| {
            rfs::openat(
                p,
                os(n),
                flags | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
        };
        let fd = match open(parent, name) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) => {
                self.cache = None;
                self.io(raw, "replace", root::remove_all_at(parent, name))?;
                self.io(raw, "create", open(parent, name).map_err(io::Error::from))?
            }
            Err(err) => return self.io(raw, "create", Err(err.into())),
        };
        let mut f = File::from(fd);
        let mut written: u64 = 0;
        loop {
            let n = match e.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(ExtractError::Decode(err)),
            };
            written += n as u64;
            if self.stats.bytes + written > self.limit {
                return Err(ExtractError::TooLarge { limit: self.limit });
            }
            let data = &self.buf[..n];
            let r = if sparse {
                write_sparse(&mut f, data)
            } else {
                f.write_all(data)
            };
            r.map_err(|source| ExtractError::Io {
                entry: lossy(raw),
                op: "write",
                source,
            })?;
        }
        if sparse {
            // A trailing hole: seeking past the end wrote nothing, so set the length.
            self.io(raw, "truncate", f.set_len(written))?;
        }
        self.stats.bytes += written;
        self.apply(raw, &f, meta)?;
        self.io(
            raw,
            "set times",
            rfs::futimens(&f, &times(meta.mtime)).map_err(io::Error::from),
        )
    }

    fn hardlink<R: Read>(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        path: &[u8],
        raw: &[u8],
        e: &mut tar::Entry<'_, R>,
    ) -> Result<()> {
        let target_raw = e.link_name_bytes().unwrap_or_default().into_owned();
        let target = root::clean_path(&target_raw).map_err(|_| ExtractError::Unsafe {
            entry: lossy(raw),
            reason: format!(
                "hardlink target {:?} is outside the root",
                lossy(&target_raw)
            ),
        })?;
        if target.is_empty() {
            return Err(ExtractError::Unsafe {
                entry: lossy(raw),
                reason: "hardlink to the root directory".into(),
            });
        }
        if target == path {
            return Ok(());
        }
        let (tdir, tname) = root::split_parent(&target);
        let tparent = self
            .root
            .dir(tdir)
            .map_err(|source| ExtractError::BadEntry {
                entry: lossy(raw),
                reason: format!(
                    "hardlink target {:?} does not exist in this layer ({source})",
                    lossy(&target_raw)
                ),
            })?;
        // linkat without AT_SYMLINK_FOLLOW links the target entry itself, never what a
        // symlink there points to.
        self.replace(parent, name, raw, |p, n| {
            rfs::linkat(&tparent, os(tname), p, os(n), AtFlags::empty())
        })?;
        self.cache = None;
        Ok(())
    }

    fn special_meta(&self, parent: &OwnedFd, name: &[u8], raw: &[u8], meta: &Meta) -> Result<()> {
        self.io(
            raw,
            "chown",
            rfs::chownat(
                parent,
                os(name),
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(io::Error::from),
        )?;
        // The node was just made by us in a private directory, so following is moot here.
        self.io(
            raw,
            "chmod",
            rfs::chmodat(
                parent,
                os(name),
                Mode::from_raw_mode(meta.mode),
                AtFlags::empty(),
            )
            .map_err(io::Error::from),
        )?;
        self.times_at(parent, name, raw, meta.mtime)
    }

    fn times_at(&self, parent: &OwnedFd, name: &[u8], raw: &[u8], t: Timespec) -> Result<()> {
        self.io(
            raw,
            "set times",
            rfs::utimensat(parent, os(name), &times(t), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(io::Error::from),
        )
    }

    /// Owner, then mode (chown clears setuid/setgid), then xattrs (chown also clears
    /// `security.capability`).
    fn apply(&self, raw: &[u8], fd: &impl AsFd, meta: &Meta) -> Result<()> {
        self.io(
            raw,
            "chown",
            rfs::fchown(
                fd,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
            )
            .map_err(io::Error::from),
        )?;
        self.io(
            raw,
            "chmod",
            rfs::fchmod(fd, Mode::from_raw_mode(meta.mode)).map_err(io::Error::from),
        )?;
        for (k, v) in &meta.xattrs {
            if whiteout::is_reserved_xattr(k) {
                log::debug!("dropping reserved xattr {:?} on {:?}", lossy(k), lossy(raw));
                continue;
            }
            match rfs::fsetxattr(fd, os(k), v, XattrFlags::empty()) {
                Ok(()) => {}
                Err(rustix::io::Errno::NOTSUP) => log::warn!(
                    "the filesystem does not support xattr {:?} (on {:?}); skipped",
                    lossy(k),
                    lossy(raw)
                ),
                Err(e) => return self.io(raw, "set xattr", Err(e.into())),
            }
        }
        Ok(())
    }

    /// `.wh..wh..opq` in `dir`: hide every lower layer's content of `dir`.
    fn opaque(&mut self, dir: &[u8], raw: &[u8]) -> Result<()> {
        let fd = self.io(raw, "create directory", self.root.mkdir_all(dir))?;
        let fd = self.io(
            raw,
            "open",
            rfs::openat(&fd, c".", dir_flags(), Mode::empty()).map_err(io::Error::from),
        )?;
        self.io(raw, "mark opaque", whiteout::set_opaque(&fd))
    }

    /// `.wh.NAME` in `dir`: hide NAME of the lower layers. An entry of the same name made by
    /// this layer stays (OCI: a whiteout only applies to lower layers); if it is a directory,
    /// it becomes opaque, since the lower directory it would merge with is deleted.
    fn whiteout(&mut self, dir: &[u8], name: &[u8], raw: &[u8]) -> Result<()> {
        let parent = self.parent(dir, raw)?;
        match self.io(raw, "stat", root::lstat_at(&parent, name))? {
            Some(st) if root::is_dir(&st) => {
                let fd = self.io(
                    raw,
                    "open",
                    rfs::openat(&parent, os(name), dir_flags(), Mode::empty())
                        .map_err(io::Error::from),
                )?;
                self.io(raw, "mark opaque", whiteout::set_opaque(&fd))
            }
            Some(_) => Ok(()),
            None => self.io(raw, "create whiteout", whiteout::make(&parent, name)),
        }
    }

    fn finish(&mut self) -> Result<()> {
        for (path, mtime) in std::mem::take(&mut self.dirs) {
            // A directory replaced later by another entry is skipped (ELOOP, ENOTDIR, ENOENT).
            let Ok(fd) = self.root.open_at(&path, dir_flags()) else {
                continue;
            };
            self.io(
                &path,
                "set times",
                rfs::futimens(&fd, &times(mtime)).map_err(io::Error::from),
            )?;
        }
        Ok(())
    }
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

fn times(t: Timespec) -> Timestamps {
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Writes `data` at the current offset, seeking over 4 KiB blocks that are all zero.
fn write_sparse(f: &mut File, data: &[u8]) -> io::Result<()> {
    for block in data.chunks(4096) {
        if block.iter().all(|b| *b == 0) {
            f.seek(SeekFrom::Current(block.len() as i64))?;
        } else {
            f.write_all(block)?;
        }
    }
    Ok(())
}

/// The entry's metadata, with PAX records overriding the header (large ids, sub-second mtime)
/// and PAX `SCHILY.xattr.*` records as xattrs (what Go's archive/tar, GNU tar and bsdtar
/// write).
fn read_meta<R: Read>(e: &mut tar::Entry<'_, R>) -> std::result::Result<Meta, String> {
    let h = e.header();
    let mode = h.mode().map_err(|e| e.to_string())? & 0o7777;
    let mut uid = h.uid().map_err(|e| e.to_string())?;
    let mut gid = h.gid().map_err(|e| e.to_string())?;
    let mut mtime = Timespec {
        tv_sec: h.mtime().map_err(|e| e.to_string())? as i64,
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(exts) = e.pax_extensions().map_err(|e| e.to_string())? {
        for ext in exts {
            let ext = ext.map_err(|e| e.to_string())?;
            let (k, v) = (ext.key_bytes(), ext.value_bytes());
            match k {
                b"uid" => uid = parse_u64(v).ok_or("bad PAX uid")?,
                b"gid" => gid = parse_u64(v).ok_or("bad PAX gid")?,
                b"mtime" => mtime = parse_pax_time(v).ok_or("bad PAX mtime")?,
                _ => {
                    if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                        xattrs.push((name.to_vec(), v.to_vec()));
                    }
                }
            }
        }
    }
    let id = |v: u64, what: &str| u32::try_from(v).map_err(|_| format!("{what} {v} is too large"));
    Ok(Meta {
        mode,
        uid: id(uid, "uid")?,
        gid: id(gid, "gid")?,
        mtime,
        xattrs,
    })
}

fn parse_u64(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}

/// PAX times are decimal seconds with an optional fraction: `1700000000.123456789`.
fn parse_pax_time(v: &[u8]) -> Option<Timespec> {
    let s = std::str::from_utf8(v).ok()?.trim();
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let mut tv_nsec: i64 = digits.parse().ok()?;
    if tv_sec < 0 && tv_nsec > 0 {
        tv_nsec = 1_000_000_000 - tv_nsec;
        return Some(Timespec {
            tv_sec: tv_sec - 1,
            tv_nsec,
        });
    }
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1700000000, 500_000_000));
        let t = parse_pax_time(b"12").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (12, 0));
        assert!(parse_pax_time(b"1.x").is_none());
    }
}
