//! COPY and ADD sources: resolved inside a root by descriptor (the build context, or another
//! stage's or image's rootfs for `--from`), so a symlink in the context that points out of it
//! resolves inside it (`openat2 RESOLVE_IN_ROOT`) and a `..` that climbs out is refused;
//! wildcards matched per path component; the checksum of what a step copies (the cache key),
//! with each file's content digest kept in `<root>/build/sums.json` by
//! path+size+mtime+inode, so an unchanged context is not read again; and the copy itself,
//! through `cp`'s tar machinery (`container::copytar`): archived from the source root,
//! extracted into the step's rootfs, both by descriptor.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::ignore::Ignore;
use crate::confine::{RESOLVE, Root, clean_path};
use crate::container::copy::{CopyOptions, Side};
use crate::container::copytar::{Counter, Skip, archive, extract};
use crate::error::{Code, Error, Result};
use crate::paths::Paths;

fn err(m: impl Into<String>) -> Error {
    Error::new(Code::NOT_FOUND, m)
}

/// Resolves COPY's source patterns in `root`: cleaned relative paths, wildcards expanded.
pub fn sources(root: &Root, patterns: &[String], ignore: Option<&Ignore>) -> Result<Vec<Vec<u8>>> {
    let gone = |rel: &[u8]| ignore.is_some_and(|i| i.excluded(&String::from_utf8_lossy(rel)));
    let mut out = Vec::new();
    for p in patterns {
        let rel = clean_path(p.as_bytes()).map_err(|_| {
            Error::new(
                Code::UNSAFE,
                format!("forbidden path outside the build context: {p}"),
            )
        })?;
        if !rel.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            if gone(&rel) || root.open_at(&rel, OFlags::PATH).is_err() {
                return Err(err(format!(
                    "\"/{}\": not found",
                    String::from_utf8_lossy(&rel)
                )));
            }
            out.push(rel);
            continue;
        }
        let mut found = vec![Vec::new()];
        for comp in rel.split(|b| *b == b'/') {
            let s = String::from_utf8_lossy(comp);
            let pat = glob::Pattern::new(&s)
                .map_err(|e| Error::new(Code::BAD_ARGS, format!("bad pattern {p:?}: {e}")))?;
            let mut next = Vec::new();
            for base in found {
                let join = |n: &[u8]| {
                    if base.is_empty() {
                        n.to_vec()
                    } else {
                        [&base[..], b"/", n].concat()
                    }
                };
                if !comp.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                    next.push(join(comp));
                    continue;
                }
                for n in list(root, &base) {
                    if pat.matches(&String::from_utf8_lossy(&n)) {
                        next.push(join(&n));
                    }
                }
            }
            found = next;
        }
        found.retain(|r| !gone(r) && root.open_at(r, OFlags::PATH).is_ok());
        if found.is_empty() {
            return Err(err(format!(
                "no source files were specified (nothing matches {p})"
            )));
        }
        out.extend(found);
    }
    Ok(out)
}

fn list(root: &Root, rel: &[u8]) -> Vec<Vec<u8>> {
    let Ok(fd) = root.open_at(rel, OFlags::RDONLY | OFlags::DIRECTORY) else {
        return Vec::new();
    };
    let Ok(dir) = rfs::Dir::read_from(&fd) else {
        return Vec::new();
    };
    let mut v: Vec<Vec<u8>> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_bytes().to_vec())
        .filter(|n| n != b"." && n != b"..")
        .collect();
    v.sort();
    v
}

/// Content digests by path+size+mtime+inode.
#[derive(Default, Serialize, Deserialize)]
pub struct Sums {
    map: BTreeMap<String, String>,
    #[serde(skip)]
    changed: bool,
}

impl Sums {
    pub fn load(paths: &Paths) -> Sums {
        std::fs::read(paths.build_sums())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, paths: &Paths) {
        if self.changed {
            let bytes = serde_json::to_vec(self).expect("json");
            let _ = crate::store::atomic::write_volatile(&paths.build_sums(), &bytes);
        }
    }
}

/// The checksum of the trees at `rels` in `root` (names, types, modes, link targets,
/// contents), content digests reused from `sums` (keyed by `ctx_id`, the context's path).
pub fn checksum(
    root: &Root,
    ctx_id: &str,
    rels: &[Vec<u8>],
    sums: &mut Sums,
    ignore: Option<&Ignore>,
) -> Result<String> {
    let mut h = crate::digest::Hasher::new();
    for rel in rels {
        let fd = root
            .open_at(rel, OFlags::PATH)
            .map_err(|e| err(format!("{}: {e}", String::from_utf8_lossy(rel))))?;
        let st = rfs::fstat(&fd).map_err(|e| Error::new(Code::IO, e.to_string()))?;
        let mut w = Walk {
            ctx_id,
            h: &mut h,
            sums,
            ignore,
        };
        w.walk(&fd, None, &st, rel)?;
    }
    Ok(h.digest())
}

struct Walk<'a> {
    ctx_id: &'a str,
    h: &'a mut crate::digest::Hasher,
    sums: &'a mut Sums,
    ignore: Option<&'a Ignore>,
}

impl Walk<'_> {
    fn walk(
        &mut self,
        fd: &OwnedFd,
        parent: Option<(&OwnedFd, &[u8])>,
        st: &rfs::Stat,
        path: &[u8],
    ) -> Result<()> {
        let (ctx_id, ignore) = (self.ctx_id, self.ignore);
        let io = |e: rustix::io::Errno| {
            Error::new(Code::IO, format!("{}: {e}", String::from_utf8_lossy(path)))
        };
        self.h.update(path);
        self.h.update(format!("\0{:o}\0", st.st_mode).as_bytes());
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => {
                let dir = match parent {
                    Some((p, n)) => rfs::openat(
                        p,
                        OsStr::from_bytes(n),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    ),
                    None => crate::confine::reopen(fd, OFlags::RDONLY | OFlags::DIRECTORY).map_err(
                        |e| rustix::io::Errno::from_io_error(&e).unwrap_or(rustix::io::Errno::IO),
                    ),
                }
                .map_err(io)?;
                let mut names: Vec<Vec<u8>> = Vec::new();
                for e in rfs::Dir::read_from(&dir).map_err(io)? {
                    let e = e.map_err(io)?;
                    let n = e.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        names.push(n.to_vec());
                    }
                }
                names.sort();
                for n in names {
                    let Ok(cst) =
                        rfs::statat(&dir, OsStr::from_bytes(&n), AtFlags::SYMLINK_NOFOLLOW)
                    else {
                        continue;
                    };
                    let p = [path, b"/", &n].concat();
                    let is_dir = FileType::from_raw_mode(cst.st_mode) == FileType::Directory;
                    if let Some(i) = ignore
                        && i.excluded(&String::from_utf8_lossy(&p))
                        && !(is_dir && i.has_exceptions())
                    {
                        continue;
                    }
                    self.walk(&dir, Some((&dir, &n)), &cst, &p)?;
                }
            }
            FileType::RegularFile => {
                let key = format!(
                    "{ctx_id}\0{}\0{}\0{}.{}\0{}",
                    String::from_utf8_lossy(path),
                    st.st_size,
                    st.st_mtime,
                    st.st_mtime_nsec,
                    st.st_ino
                );
                let sum = match self.sums.map.get(&key) {
                    Some(s) => s.clone(),
                    None => {
                        let f = match parent {
                            Some((p, n)) => rfs::openat(
                                p,
                                OsStr::from_bytes(n),
                                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                                Mode::empty(),
                            )
                            .map_err(io)?,
                            None => crate::confine::reopen(fd, OFlags::RDONLY)
                                .map_err(|e| Error::new(Code::IO, e.to_string()))?,
                        };
                        let mut r =
                            crate::digest::HashingReader::new(BufReader::new(File::from(f)));
                        io::copy(&mut r, &mut io::sink())
                            .map_err(|e| Error::new(Code::IO, e.to_string()))?;
                        let s = r.hasher().digest();
                        self.sums.map.insert(key, s.clone());
                        self.sums.changed = true;
                        s
                    }
                };
                self.h.update(sum.as_bytes());
            }
            FileType::Symlink => {
                let (p, n) = parent.map_or((fd, &b""[..]), |(p, n)| (p, n));
                let t = rfs::readlinkat(p, OsStr::from_bytes(n), Vec::new()).map_err(io)?;
                self.h.update(t.as_bytes());
            }
            _ => {}
        }
        Ok(())
    }
}

/// How a COPY writes.
pub struct CopyInto<'a> {
    /// The destination inside the rootfs (cleaned, relative).
    pub dest: &'a [u8],
    /// The destination is a directory (it ends in `/`, there are several sources, or it is
    /// an existing directory).
    pub dest_is_dir: bool,
    /// `--chown` (None: the sources' own owners, as `COPY --from` keeps them).
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
}

/// Copies `rel` from `src` into `dst` as Docker's COPY does: a directory's contents into the
/// destination directory, a file into it (or as the destination file).
pub fn copy(
    src: &Root,
    rel: &[u8],
    dst: &Root,
    how: &CopyInto,
    ignore: Option<Arc<Ignore>>,
) -> Result<()> {
    let shown = String::from_utf8_lossy(rel).into_owned();
    let fd = src
        .open_at(rel, OFlags::PATH)
        .map_err(|_| err(format!("\"/{shown}\": not found")))?;
    let st = rfs::fstat(&fd).map_err(|e| Error::new(Code::IO, format!("{shown}: {e}")))?;
    let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    let (into, name): (&[u8], Option<Vec<u8>>) = if is_dir {
        (how.dest, None)
    } else if how.dest_is_dir {
        (how.dest, Some(crate::confine::split_parent(rel).1.to_vec()))
    } else {
        let (p, n) = crate::confine::split_parent(how.dest);
        (p, Some(n.to_vec()))
    };
    let dir = dst.mkdir_all(into).map_err(|e| {
        Error::new(
            Code::IO,
            format!("cannot create {}: {e}", String::from_utf8_lossy(into)),
        )
    })?;
    let (r, w) = io::pipe().map_err(|e| Error::new(Code::IO, format!("pipe: {e}")))?;
    let (owner, chmod) = (how.owner, how.chmod);
    std::thread::scope(|s| {
        let t = s.spawn(move || {
            let mut b = tar::Builder::new(w);
            let prefix = rel.to_vec();
            let skip = ignore.map(|i| {
                Box::new(move |p: &[u8], is_dir: bool| {
                    let ctx = [&prefix[..], b"/", p].concat();
                    i.excluded(&String::from_utf8_lossy(&ctx)) && !(is_dir && i.has_exceptions())
                }) as Skip
            });
            let mut c = Counter {
                owner,
                chmod,
                skip,
                ..Default::default()
            };
            let r = archive(&mut b, &fd, &st, name.as_deref(), &mut c);
            let _ = b.finish();
            r
        });
        let res = extract_into(r, dir, None);
        let a = t
            .join()
            .unwrap_or_else(|_| Err(Error::new(Code::IO, "archiving failed")));
        a.and(res)
    })
}

/// Extracts a tar stream into the directory `dir` (a rootfs's), every entry resolved inside
/// it, owned by `owner` (None: the archive's owners).
pub fn extract_into(mut input: impl Read, dir: OwnedFd, owner: Option<(u32, u32)>) -> Result<()> {
    let root = Root::from_fd(dir, RESOLVE);
    let dup = root
        .fd()
        .try_clone_to_owned()
        .map_err(|e| Error::new(Code::IO, e.to_string()))?;
    let side = Side {
        root: Root::from_fd(dup, RESOLVE),
        rel: Vec::new(),
        shown: "/".into(),
        read_only: false,
        container: true,
    };
    let mut c = Counter {
        owner,
        ..Default::default()
    };
    extract(
        &mut input,
        root,
        &side,
        CopyOptions {
            archive: true,
            follow: false,
        },
        &mut c,
    )?;
    // Drain what the archiver may still write after the end-of-archive blocks.
    let _ = io::copy(&mut input, &mut io::sink());
    Ok(())
}

/// Whether `rel` is a tar (plain, gzip or zstd) that ADD extracts.
pub fn is_archive(src: &Root, rel: &[u8]) -> bool {
    sniff(src, rel).is_some()
}

/// `rel`'s file, its compression and its first bytes, if it is a tar ADD extracts.
fn sniff(src: &Root, rel: &[u8]) -> Option<(File, crate::image::compress::Compression, Vec<u8>)> {
    use crate::image::compress::Compression;
    // Looked up without opening it, so a FIFO planted there cannot block the build.
    let p = src.open_at(rel, OFlags::PATH).ok()?;
    let st = rfs::fstat(&p).ok()?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return None;
    }
    let mut f = File::from(crate::confine::reopen(&p, OFlags::RDONLY).ok()?);
    let mut head = vec![0u8; 512];
    let n = read_full(&mut f, &mut head);
    head.truncate(n);
    let c = Compression::sniff(&head);
    let is_tar = |h: &[u8]| h.len() >= 262 && &h[257..262] == b"ustar";
    let tarball = match c {
        Compression::None => is_tar(&head),
        Compression::Gzip | Compression::Zstd => true,
        _ => false,
    };
    tarball.then_some((f, c, head))
}

/// ADD of a local archive: true if `rel` is a tar (plain, gzip or zstd), extracted into
/// `dest` in `dst` through the same confined extraction, its members owned by `owner`
/// (`--chown`; None: the archive's owners). As BuildKit's, `--chmod` does not apply to them.
pub fn add_archive(
    src: &Root,
    rel: &[u8],
    dst: &Root,
    dest: &[u8],
    owner: Option<(u32, u32)>,
) -> Result<bool> {
    let Some((f, c, head)) = sniff(src, rel) else {
        return Ok(false);
    };
    let r = io::Cursor::new(head).chain(f);
    let dec = crate::image::compress::decoder(c, BufReader::new(r))
        .map_err(|e| Error::new(Code::DECODE, e.to_string()))?;
    let dir = dst.mkdir_all(dest).map_err(|e| {
        Error::new(
            Code::IO,
            format!("cannot create {}: {e}", String::from_utf8_lossy(dest)),
        )
    })?;
    extract_into(dec, dir, owner)?;
    Ok(true)
}

fn read_full(f: &mut File, buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// The path of the context directory, for keys.
pub fn context_id(p: &Path) -> String {
    p.display().to_string()
}

/// A context sent as a tar (plain or gzip) on stdin, extracted into `dir` through the
/// confined extraction.
pub fn extract_stream(data: &[u8], dir: &Path) -> Result<()> {
    let c = crate::image::compress::Compression::sniff(data);
    let dec = crate::image::compress::decoder(c, BufReader::new(data))
        .map_err(|e| Error::new(Code::DECODE, format!("the context on stdin: {e}")))?;
    let fd = rfs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::new(Code::IO, format!("{}: {e}", dir.display())))?;
    extract_into(dec, fd, None)
}
