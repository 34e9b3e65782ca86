//! How a container in a user namespace reaches its bundle while berth's state stays private
//! (issue 12, `store::private`).
//!
//! `<root>` and `containers/` are 0700 root: the container's mapped root (host uid 100000 for
//! `--userns 100000:65536`) cannot walk a path through them, and no group on these shared
//! directories could let every container's own map through. Docker gives its one remapped
//! group 0710 on the whole path; runc opens bind-mount sources in the host's user namespace
//! and hands them to its init as descriptors. berth does the latter for everything:
//!
//! - the init opens (`O_PATH`) the directory holding the rootfs and every bind-mount source
//!   right after the clone, while its credentials are still the host root's (the clone keeps
//!   the uid; only `setresuid` inside the namespace maps it), then becomes the mapped root
//!   and reaches them as `/proc/self/fd/N[/rootfs]`; the descriptors are closed before the
//!   container's process runs;
//! - the directory holding the rootfs is the only one the mapped root still walks into by
//!   name (`rootfs` is a mount point, and a name crosses mounts where a descriptor does not),
//!   so the parent gives that directory alone the mapped root's group, search only
//!   ([`let_mapped_root_in`]: Docker's 0710 root:remap-gid, for one container);
//! - the image's files belong to the host's root, which is nobody inside: the mapped root may
//!   not create a mount point the image lacks (/etc/hostname for berth-netns's bind, a
//!   volume's destination). The parent makes them before the clone, as the host's root, by
//!   descriptor inside the rootfs ([`make_mount_points`]); the init then only mounts.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode as FileMode;
use oci_spec::runtime::{Linux, Mount, Spec};

use super::fs::{Kind, RESOLVE_MOUNTS, Root, mount_point, parse_options, rel};
use super::{Args, Mode};
use crate::runtime::RuntimeError;

/// The rootfs and mounts as the init must name them once it is the mapped root.
pub(crate) struct Reach {
    pub rootfs: PathBuf,
    pub mounts: Vec<Mount>,
    /// Held until the rootfs is set up; close-on-exec besides.
    _fds: Vec<OwnedFd>,
}

impl Reach {
    /// For an init about to become the root of a new user namespace in a new mount namespace
    /// (where it mounts); `None` otherwise, when paths work as they are.
    pub(crate) fn open(a: &Args) -> Result<Option<Reach>, String> {
        let fresh = libc::CLONE_NEWUSER | libc::CLONE_NEWNS;
        if a.new_flags & fresh != fresh || matches!(a.mode, Mode::Exec) {
            return Ok(None);
        }
        let (Some(dir), Some(name)) = (a.rootfs.parent(), a.rootfs.file_name()) else {
            return Ok(None);
        };
        let mut fds = Vec::new();
        let held = hold(dir, &mut fds)
            .map_err(|e| format!("opening the bundle {}: {e}", dir.display()))?;
        let rootfs = held.join(name);
        let mounts = a
            .spec
            .mounts()
            .iter()
            .flatten()
            .map(|m| bind_source_by_fd(m, &mut fds))
            .collect();
        Ok(Some(Reach {
            rootfs,
            mounts,
            _fds: fds,
        }))
    }
}

/// Opens `path` as `O_PATH` and keeps the descriptor; returns the name that reaches it.
fn hold(path: &Path, fds: &mut Vec<OwnedFd>) -> nix::Result<PathBuf> {
    let fd = open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, FileMode::empty())?;
    let name = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    fds.push(fd);
    Ok(name)
}

/// A bind mount whose host source is named by a descriptor held now. A source that cannot
/// be opened is left as it is: the mount then fails with its usual message.
fn bind_source_by_fd(m: &Mount, fds: &mut Vec<OwnedFd>) -> Mount {
    let bind = m.typ().as_deref() == Some("bind")
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
    let mut m = m.clone();
    if let Some(src) = m.source().clone().filter(|s| bind && s.is_absolute())
        && let Ok(held) = hold(&src, fds)
    {
        m.set_source(Some(held));
    }
    m
}

/// In the parent, before the clone: lets the container's mapped root (the host gid its gid 0
/// maps to) search the directory that holds its rootfs. Nothing to do without a mapping of
/// gid 0 (the init could not become root then anyway).
pub(crate) fn let_mapped_root_in(rootfs: &Path, linux: &Linux) -> Result<(), RuntimeError> {
    let gid = linux
        .gid_mappings()
        .iter()
        .flatten()
        .find(|m| m.container_id() == 0 && m.size() > 0)
        .map(|m| m.host_id());
    match (gid, rootfs.parent()) {
        (Some(gid), Some(dir)) => Ok(crate::store::private::let_mapped_group_traverse(dir, gid)?),
        _ => Ok(()),
    }
}

/// In the parent, before the clone of a container with a new user namespace and a new mount
/// namespace: every mount destination of the config that the rootfs lacks is made, by
/// descriptor inside it ([`mount_point`]: openat2 `RESOLVE_IN_ROOT`, `mkdirat` and `openat`
/// `O_EXCL` on descriptors; a symlink that leaves the root is an error naming the
/// destination). A destination below an earlier one of the list (/dev/pts on /dev's tmpfs)
/// lands on a filesystem the init mounts and owns: it is left to the init.
pub(crate) fn make_mount_points(rootfs: &Path, spec: &Spec) -> Result<(), RuntimeError> {
    let root = Root::open_with(rootfs, RESOLVE_MOUNTS).map_err(|e| {
        RuntimeError::Invalid(format!("opening the rootfs {}: {e}", rootfs.display()))
    })?;
    let mut earlier: Vec<Vec<u8>> = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let dest = rel(m.destination());
        let below = |e: &Vec<u8>| dest == *e || dest.starts_with(&[e.as_slice(), b"/"].concat());
        if !earlier.iter().any(below)
            && let Some(kind) = point_kind(m)
        {
            mount_point(&root, m.destination(), kind).map_err(RuntimeError::Invalid)?;
        }
        earlier.push(dest);
    }
    Ok(())
}

/// What the mount point of `m` must be; `None` when that depends on a bind source that is
/// not there (the init's mount then says so).
fn point_kind(m: &Mount) -> Option<Kind> {
    let o = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().as_deref().unwrap_or("");
    if o.bind || typ == "bind" {
        let src = m.source().as_ref()?;
        let meta = std::fs::metadata(src).ok()?;
        return Some(if meta.is_dir() { Kind::Dir } else { Kind::File });
    }
    Some(match typ {
        "proc" => Kind::Plain("proc"),
        "sysfs" => Kind::Plain("sysfs"),
        _ => Kind::Dir,
    })
}
