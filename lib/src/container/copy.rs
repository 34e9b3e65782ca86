//! Docker `cp`: between a container's filesystem and the host, or a tar stream (`-`).
//!
//! Both directions go through a tar stream, as Docker's do: the source side writes one (its
//! top entry renamed by Docker's rules), the destination side extracts it. A container is seen
//! as its processes see it: a running container through `/proc/PID/root` (its mount namespace,
//! volumes included), a stopped one through its rootfs with its volume and bind mounts mapped
//! to their host directories.
//!
//! The container's content is untrusted (it may be changing while we copy). Every path inside
//! a root is resolved by the kernel with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! (confine's [`Root`]), so a symlink planted in the container resolves inside it, never
//! on the host (Docker's CVE-2018-15664 and CVE-2019-14271 class); walks and writes act on
//! descriptors with `O_NOFOLLOW`. Nothing that exists is ever opened for writing: a file is
//! replaced by unlinking it and creating a new one with `O_EXCL`, so a device node or a FIFO
//! the container planted is replaced, never written through or blocked on. A device, FIFO or
//! socket named as the source or the destination is refused, as Docker's cli refuses a device
//! (`ValidateOutputPath`). Hand-written over the `tar` crate's headers because its own unpack
//! follows paths by name.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{self as rfs, FileType, OFlags};

use super::ContainerError;
use super::copytar::{Counter, archive, extract};
use crate::confine::{RESOLVE_MOUNTS, Root, clean_path, special_kind, split_parent};
use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::protocol::{MountKind, Record};
use crate::state::{Containers, liveness, truth};

/// One side of a copy, as Docker reads its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Host(PathBuf),
    Container {
        container: String,
        path: String,
    },
    /// `-`: a tar stream on stdin or stdout.
    Stream,
}

impl Endpoint {
    /// Docker's `splitCpArg`: an absolute path, or one whose part before `:` starts with `.`,
    /// is local; otherwise `NAME:PATH` names a container.
    pub fn parse(arg: &str) -> Endpoint {
        if arg == "-" {
            return Endpoint::Stream;
        }
        if arg.starts_with('/') {
            return Endpoint::Host(arg.into());
        }
        match arg.split_once(':') {
            Some((c, p)) if !c.is_empty() && !c.starts_with('.') && !c.contains('/') => {
                Endpoint::Container {
                    container: c.to_string(),
                    path: p.to_string(),
                }
            }
            _ => Endpoint::Host(arg.into()),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `-a`: keep the source's owners (else root in the container, the caller on the host).
    pub archive: bool,
    /// `-L`: follow a symlink named as the source.
    pub follow: bool,
}

pub(super) fn bad(m: impl Into<String>) -> Error {
    ContainerError::BadArgs(m.into()).into()
}

pub(super) fn io_err(what: &str, path: &str, e: impl Into<io::Error>) -> Error {
    let e: io::Error = e.into();
    match e.raw_os_error() {
        Some(libc::ENOENT) => {
            ContainerError::NotFound(format!("{what} {path}: no such file or directory")).into()
        }
        Some(libc::EROFS) => ContainerError::WrongState(format!(
            "{what} {path}: read-only file system (the container's rootfs or that mount is read-only)"
        ))
        .into(),
        _ => Error::new(crate::error::Code::IO, format!("{what} {path}: {e}")),
    }
}

/// A directory that paths are resolved inside: a container's root (or one of its mounts, for
/// a stopped container), or `/` on the host.
pub(crate) struct Side {
    pub(crate) root: Root,
    /// The path inside `root` (cleaned, no leading slash).
    pub(crate) rel: Vec<u8>,
    /// What the user typed, for messages.
    pub(crate) shown: String,
    /// Writes are refused (read-only rootfs or mount of a stopped container).
    pub(crate) read_only: bool,
    pub(crate) container: bool,
}

fn open_dir(path: &Path) -> io::Result<Root> {
    Root::open_with(path, RESOLVE_MOUNTS)
}

fn host_side(path: &Path) -> Result<Side> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| io_err("cannot resolve", &path.display().to_string(), e))?
            .join(path)
    };
    let rel = clean_path(abs.as_os_str().as_bytes()).map_err(|_| bad("invalid host path"))?;
    Ok(Side {
        root: open_dir(Path::new("/")).map_err(|e| io_err("cannot open", "/", e))?,
        rel,
        shown: path.display().to_string(),
        read_only: false,
        container: false,
    })
}

fn container_side(paths: &Paths, arg: &str, path: &str) -> Result<Side> {
    if path.is_empty() {
        return Err(bad(format!(
            "no path given for container {arg} (use {arg}:/PATH)"
        )));
    }
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let record = truth::observe(&containers, containers.load(&id)?)?;
    let shown = format!("{arg}:{path}");
    let rel = clean_path(path.as_bytes()).map_err(|_| bad(format!("invalid path {shown}")))?;
    let running = record
        .state
        .as_ref()
        .filter(|s| s.status.is_active() && s.pid > 0 && liveness::is_alive(s.pid, s.pid_start));
    if let Some(s) = running {
        // By a descriptor of /proc/PID checked against the start time: a pid reused since
        // the record was read is never entered.
        let root = Root::of_process(s.pid, s.pid_start, RESOLVE_MOUNTS)
            .map_err(|e| io_err("cannot enter", &shown, e))?;
        return Ok(Side {
            root,
            rel,
            shown,
            read_only: false,
            container: true,
        });
    }
    stopped_side(paths, &record, rel, shown)
}

/// A stopped container: its rootfs, or the host directory of the mount that holds the path.
fn stopped_side(paths: &Paths, record: &Record, rel: Vec<u8>, shown: String) -> Result<Side> {
    let bundle = record.require(&record.bundle, "bundle", "berth-unpack")?;
    let mut best: Option<(usize, &crate::protocol::MountEntry)> = None;
    for m in record.mounts.iter().flatten() {
        if m.kind == MountKind::Tmpfs {
            continue;
        }
        let dest = clean_path(m.destination.as_bytes()).unwrap_or_default();
        let under = rel == dest || (rel.starts_with(&dest) && rel.get(dest.len()) == Some(&b'/'));
        if under && best.is_none_or(|(n, _)| dest.len() > n) {
            best = Some((dest.len(), m));
        }
    }
    if let Some((n, m)) = best {
        let rest = rel[n..].strip_prefix(b"/").unwrap_or(&rel[n..]).to_vec();
        return Ok(Side {
            root: open_dir(&m.source).map_err(|e| io_err("cannot open", &shown, e))?,
            rel: rest,
            shown,
            read_only: !m.rw,
            container: true,
        });
    }
    crate::bundle::ensure_mounted(paths, record)?;
    Ok(Side {
        root: open_dir(&bundle.rootfs).map_err(|e| io_err("cannot open", &shown, e))?,
        rel,
        shown,
        read_only: bundle.config.read_only,
        container: true,
    })
}

fn base_name(rel: &[u8]) -> Vec<u8> {
    split_parent(rel).1.to_vec()
}

/// Copies `src` to `dst` (see the module docs); `input`/`output` are the streams `-` means.
/// Returns the number of bytes of file content copied.
pub fn copy(
    paths: &Paths,
    src: &Endpoint,
    dst: &Endpoint,
    opts: CopyOptions,
    input: &mut dyn Read,
    output: &mut dyn Write,
) -> Result<u64> {
    let side = |e: &Endpoint| -> Result<Side> {
        match e {
            Endpoint::Host(p) => host_side(p),
            Endpoint::Container { container, path } => container_side(paths, container, path),
            Endpoint::Stream => unreachable!(),
        }
    };
    let raw = |e: &Endpoint| match e {
        Endpoint::Host(p) => p.as_os_str().as_bytes().to_vec(),
        Endpoint::Container { path, .. } => path.as_bytes().to_vec(),
        Endpoint::Stream => b"-".to_vec(),
    };
    let is_container = |e: &Endpoint| matches!(e, Endpoint::Container { .. });
    if is_container(src) == is_container(dst) {
        return Err(bad(if is_container(src) {
            "copying between containers is not supported (copy to the host first)"
        } else {
            "one of source and destination must be a container path (CONTAINER:PATH)"
        }));
    }
    // Docker: SRC ending in `/.` copies a directory's content, not the directory.
    let src_raw = raw(src);
    let contents_only = src_raw.ends_with(b"/.") || src_raw == b".";
    let dst_slash = raw(dst).ends_with(b"/");
    let mut stats = Counter::default();
    if *src == Endpoint::Stream {
        let d = side(dst)?;
        let dir = d
            .root
            .open_at(&d.rel, OFlags::PATH | OFlags::DIRECTORY)
            .map_err(|e| io_err("destination", &d.shown, e))?;
        check_writable(&d)?;
        extract(
            input,
            Root::from_fd(dir, RESOLVE_MOUNTS),
            &d,
            opts,
            &mut stats,
        )?;
        return Ok(stats.bytes);
    }
    let s = side(src)?;
    let follow = if opts.follow {
        OFlags::empty()
    } else {
        OFlags::NOFOLLOW
    };
    let top = s
        .root
        .open_at(&s.rel, OFlags::PATH | follow)
        .map_err(|e| io_err("could not find the file", &s.shown, e))?;
    let st = rfs::fstat(&top).map_err(|e| io_err("cannot stat", &s.shown, e))?;
    if let Some(kind) = special_kind(&st) {
        return Err(bad(format!(
            "cannot copy {}: it is {kind} (only directories, regular files and symbolic links can be copied)",
            s.shown
        )));
    }
    let src_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
    if src_raw.ends_with(b"/") && !src_dir {
        return Err(bad(format!("{} is not a directory", s.shown)));
    }
    let src_name = base_name(&s.rel);
    if *dst == Endpoint::Stream {
        let name = (!contents_only).then_some(if src_name.is_empty() {
            b".".to_vec()
        } else {
            src_name
        });
        let mut b = tar::Builder::new(output);
        archive(&mut b, &top, &st, name.as_deref(), &mut stats)?;
        b.into_inner().map_err(|e| io_err("writing", "-", e))?;
        return Ok(stats.bytes);
    }
    let d = side(dst)?;
    // Where the tree lands: (directory, name for the top entry or None for contents).
    let existing = d.root.open_at(&d.rel, OFlags::PATH).ok();
    let dst_st = existing.as_ref().and_then(|fd| rfs::fstat(fd).ok());
    if let Some(kind) = dst_st.as_ref().and_then(special_kind) {
        return Err(bad(not_a_target(&d, dst, kind)));
    }
    let dst_is_dir = dst_st.map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
    let (dir_rel, name): (Vec<u8>, Option<Vec<u8>>) = match (src_dir, dst_is_dir) {
        (_, None) if dst_slash && !src_dir => {
            return Err(ContainerError::NotFound(format!(
                "destination directory {} does not exist",
                d.shown
            ))
            .into());
        }
        (_, None) => {
            let (parent, last) = split_parent(&d.rel);
            (parent.to_vec(), Some(last.to_vec()))
        }
        (true, Some(false)) => {
            return Err(bad(format!(
                "cannot copy a directory to a file: {} is a file",
                d.shown
            )));
        }
        (false, Some(false)) => {
            let (parent, last) = split_parent(&d.rel);
            (parent.to_vec(), Some(last.to_vec()))
        }
        (true, Some(true)) if contents_only => (d.rel.clone(), None),
        (_, Some(true)) => (d.rel.clone(), Some(src_name)),
    };
    let dir = d
        .root
        .open_at(&dir_rel, OFlags::PATH | OFlags::DIRECTORY)
        .map_err(|e| {
            io_err(
                "destination directory",
                &String::from_utf8_lossy(&dir_rel),
                e,
            )
        })?;
    let dir = Root::from_fd(dir, RESOLVE_MOUNTS);
    check_writable(&d)?;
    // Through a pipe: the tree is archived by one thread and extracted by this one, so a
    // large copy never sits in memory whole.
    let (mut reader, writer) = std::io::pipe().map_err(|e| io_err("pipe", "", e))?;
    let name_ref = name.clone();
    std::thread::scope(|scope| {
        let h = scope.spawn(move || -> Result<u64> {
            let mut counter = Counter::default();
            let mut b = tar::Builder::new(writer);
            archive(&mut b, &top, &st, name_ref.as_deref(), &mut counter)?;
            b.into_inner()
                .map_err(|e| io_err("writing", "archive", e))?;
            Ok(counter.bytes)
        });
        let r = extract(&mut reader, dir, &d, opts, &mut stats);
        drop(reader);
        let sent = h
            .join()
            .unwrap_or_else(|_| Err(bad("archiving thread panicked")));
        r.and(sent)
    })
}

/// Docker's words for a destination that is neither a directory nor a regular file (its cli's
/// `ValidateOutputPath`; Docker checks devices, berth FIFOs and sockets too).
fn not_a_target(d: &Side, dst: &Endpoint, kind: &str) -> String {
    match dst {
        Endpoint::Container { container, path } => format!(
            "destination \"{container}:{path}\" must be a directory or a regular file: got {kind}"
        ),
        _ => format!(
            "invalid output path: \"{}\" must be a directory or a regular file: got {kind}",
            d.shown
        ),
    }
}

fn check_writable(d: &Side) -> Result<()> {
    if d.read_only {
        return Err(ContainerError::WrongState(format!(
            "cannot copy to {}: the container's root filesystem or that mount is read-only",
            d.shown
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_like_docker() {
        assert_eq!(Endpoint::parse("-"), Endpoint::Stream);
        assert_eq!(
            Endpoint::parse("web:/etc/hosts"),
            Endpoint::Container {
                container: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(
            Endpoint::parse("/tmp/a:b"),
            Endpoint::Host("/tmp/a:b".into())
        );
        assert_eq!(
            Endpoint::parse("./file:name.txt"),
            Endpoint::Host("./file:name.txt".into())
        );
        assert_eq!(Endpoint::parse("plain"), Endpoint::Host("plain".into()));
        assert_eq!(Endpoint::parse("dir/a:b"), Endpoint::Host("dir/a:b".into()));
    }
}
