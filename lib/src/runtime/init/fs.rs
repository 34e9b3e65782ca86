//! Filesystem primitives for the container's init.
//!
//! Every path inside the container's root is resolved **once, by descriptor**: confine's
//! openat2 with `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS` (mounts crossed), missing parents
//! made with `mkdirat` on descriptors. Every mount is then attached onto that descriptor with
//! the new mount API: `open_tree` (binds) or `fsopen`/`fsmount` (kernel filesystems), flags set
//! with `mount_setattr` on the detached mount, and `move_mount` onto the resolved target. The
//! kernel never walks a path string of the container's a second time, which closes the
//! CVE-2021-30465 race (a symlink swapped in between a check and a `mount(2)`) and the
//! symlink-chain escape (a chain longer than the kernel follows fails with ELOOP instead of
//! being handed back half-resolved). runc does the same with `pathrs` and `mountViaFds`.
//!
//! Only trusted host paths (the bundle's rootfs, `/`, the sources in config.json) still go
//! through `mount(2)` or `open_tree` by name. Also: mount option parsing (mount(8)'s names).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{self as rfs, FileType, OFlags};
use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, OpenTreeFlags, fsconfig_create,
    fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount, open_tree,
};

pub use crate::confine::{RESOLVE_MOUNTS, Root, create_new};

pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn cstr_s(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// mount(2) on a trusted host path (`/`, the bundle's rootfs), with the target in the error.
pub fn mount(
    source: Option<&str>,
    target: &Path,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), String> {
    let src = source.map(cstr_s);
    let ty = fstype.map(cstr_s);
    let dat = data.filter(|d| !d.is_empty()).map(cstr_s);
    let r = nix::mount::mount(
        src.as_deref(),
        cstr(target).as_c_str(),
        ty.as_deref(),
        nix::mount::MsFlags::from_bits_retain(flags),
        dat.as_deref(),
    );
    if let Err(e) = r {
        let e = std::io::Error::from(e);
        return Err(format!(
            "mount {} on {} ({}): {e}",
            source.unwrap_or("none"),
            target.display(),
            fstype.unwrap_or("")
        ));
    }
    Ok(())
}

/// Options as mount(8) spells them.
#[derive(Debug, Default, Clone)]
pub struct MountOptions {
    pub flags: libc::c_ulong,
    /// Flags explicitly cleared (`rw`, `suid`...), so a bind does not keep them.
    pub cleared: libc::c_ulong,
    pub propagation: Vec<libc::c_ulong>,
    pub data: Vec<String>,
    pub bind: bool,
    pub recursive: bool,
}

pub fn parse_options(options: &[String]) -> MountOptions {
    use libc::*;
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear): (c_ulong, c_ulong) = match opt.as_str() {
            "ro" => (MS_RDONLY, 0),
            "rw" => (0, MS_RDONLY),
            "nosuid" => (MS_NOSUID, 0),
            "suid" => (0, MS_NOSUID),
            "nodev" => (MS_NODEV, 0),
            "dev" => (0, MS_NODEV),
            "noexec" => (MS_NOEXEC, 0),
            "exec" => (0, MS_NOEXEC),
            "sync" => (MS_SYNCHRONOUS, 0),
            "async" => (0, MS_SYNCHRONOUS),
            "dirsync" => (MS_DIRSYNC, 0),
            "remount" => (MS_REMOUNT, 0),
            "mand" => (MS_MANDLOCK, 0),
            "nomand" => (0, MS_MANDLOCK),
            "noatime" => (MS_NOATIME, 0),
            "atime" => (0, MS_NOATIME),
            "nodiratime" => (MS_NODIRATIME, 0),
            "diratime" => (0, MS_NODIRATIME),
            "relatime" => (MS_RELATIME, 0),
            "norelatime" => (0, MS_RELATIME),
            "strictatime" => (MS_STRICTATIME, 0),
            "nostrictatime" => (0, MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                continue;
            }
            "rbind" => {
                o.bind = true;
                o.recursive = true;
                continue;
            }
            "private" => {
                o.propagation.push(MS_PRIVATE);
                continue;
            }
            "rprivate" => {
                o.propagation.push(MS_PRIVATE | MS_REC);
                continue;
            }
            "shared" => {
                o.propagation.push(MS_SHARED);
                continue;
            }
            "rshared" => {
                o.propagation.push(MS_SHARED | MS_REC);
                continue;
            }
            "slave" => {
                o.propagation.push(MS_SLAVE);
                continue;
            }
            "rslave" => {
                o.propagation.push(MS_SLAVE | MS_REC);
                continue;
            }
            "unbindable" => {
                o.propagation.push(MS_UNBINDABLE);
                continue;
            }
            "runbindable" => {
                o.propagation.push(MS_UNBINDABLE | MS_REC);
                continue;
            }
            // Podman's and Docker's own markers, not mount options.
            "tmpcopyup" | "notmpcopyup" | "z" | "Z" | "U" | "copy" | "nocopy" => continue,
            other => {
                o.data.push(other.to_string());
                continue;
            }
        };
        o.flags = (o.flags | set) & !clear;
        o.cleared = (o.cleared | clear) & !set;
    }
    o
}

/// The per-mount attributes (`MOUNT_ATTR_*`) to set and to clear for `o`'s flags.
pub fn attrs(o: &MountOptions) -> (u64, u64) {
    let pairs = [
        (libc::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, libc::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        (libc::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    ];
    let (mut set, mut clr) = (0, 0);
    for (ms, attr) in pairs {
        if o.flags & ms != 0 {
            set |= attr;
        }
        if o.cleared & ms != 0 {
            clr |= attr;
        }
    }
    // The access-time mode is one field: setting one mode clears the others.
    let atime = if o.flags & libc::MS_NOATIME != 0 {
        Some(libc::MOUNT_ATTR_NOATIME)
    } else if o.flags & libc::MS_STRICTATIME != 0 {
        Some(libc::MOUNT_ATTR_STRICTATIME)
    } else if o.flags & libc::MS_RELATIME != 0 {
        Some(libc::MOUNT_ATTR_RELATIME)
    } else {
        None
    };
    if let Some(a) = atime {
        set |= a;
        clr |= libc::MOUNT_ATTR__ATIME;
    }
    (set, clr)
}

/// mount_setattr(2) on the mount `fd` refers to (AT_RECURSIVE: and every mount below it).
pub(crate) fn setattr(fd: BorrowedFd, recursive: bool, attr: &libc::mount_attr) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: an empty NUL-terminated path, a live descriptor, and a `mount_attr` whose size
    // is passed alongside; the kernel only reads it.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Applies `o`'s flags to the mount `tree` (recursively when asked). A flag asked to be
/// cleared that the mount does not have is left out, so a locked flag the mount never had
/// is not an error (runc refuses only clearing a locked flag that is set).
pub fn set_flags(
    tree: &OwnedFd,
    o: &MountOptions,
    recursive: bool,
    shown: &Path,
) -> Result<(), String> {
    let (set, mut clr) = attrs(o);
    if let Ok(st) = rfs::fstatvfs(tree) {
        let has = |f: rfs::StatVfsMountFlags| st.f_flag.contains(f);
        for (flag, attr) in [
            (rfs::StatVfsMountFlags::RDONLY, libc::MOUNT_ATTR_RDONLY),
            (rfs::StatVfsMountFlags::NOSUID, libc::MOUNT_ATTR_NOSUID),
            (rfs::StatVfsMountFlags::NODEV, libc::MOUNT_ATTR_NODEV),
            (rfs::StatVfsMountFlags::NOEXEC, libc::MOUNT_ATTR_NOEXEC),
        ] {
            if !has(flag) && !recursive {
                clr &= !attr;
            }
        }
    }
    if set == 0 && clr == 0 {
        return Ok(());
    }
    let attr = libc::mount_attr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    setattr(tree.as_fd(), recursive, &attr)
        .map_err(|e| format!("setting the flags of the mount on {}: {e}", shown.display()))
}

/// Applies `o`'s propagation (`rprivate`...) to the attached mount `tree`.
pub fn propagate(tree: &OwnedFd, o: &MountOptions, shown: &Path) -> Result<(), String> {
    for p in &o.propagation {
        let attr = libc::mount_attr {
            attr_set: 0,
            attr_clr: 0,
            propagation: p & !libc::MS_REC,
            userns_fd: 0,
        };
        setattr(tree.as_fd(), p & libc::MS_REC != 0, &attr).map_err(|e| {
            format!(
                "setting the propagation of the mount on {}: {e}",
                shown.display()
            )
        })?;
    }
    Ok(())
}

/// A detached copy of the mount tree at the trusted host path `src` (a bind's source).
pub fn clone_path(src: &Path, recursive: bool) -> Result<OwnedFd, String> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(rfs::CWD, src, flags).map_err(|e| format!("bind source {}: {e}", src.display()))
}

/// A detached copy of the mount at the file `fd` already refers to (resolved by descriptor).
pub fn clone_fd(fd: BorrowedFd, recursive: bool, shown: &Path) -> Result<OwnedFd, String> {
    let mut flags = OpenTreeFlags::OPEN_TREE_CLONE
        | OpenTreeFlags::OPEN_TREE_CLOEXEC
        | OpenTreeFlags::AT_EMPTY_PATH;
    if recursive {
        flags |= OpenTreeFlags::AT_RECURSIVE;
    }
    open_tree(fd, "", flags).map_err(|e| format!("binding {}: {e}", shown.display()))
}

/// A new, detached instance of the filesystem `typ` (`fsopen`, `fsconfig`, `fsmount`) with
/// `o`'s data options and flags. The error keeps the errno (sysfs falls back on EPERM).
pub fn new_fs(
    typ: &str,
    source: Option<&str>,
    o: &MountOptions,
) -> Result<OwnedFd, (Errno, String)> {
    let fs =
        fsopen(typ, FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| (e, format!("mount {typ}: {e}")))?;
    let fail = |what: &str, e: Errno| (e, format!("mount {typ} ({what}): {e}{}", fs_log(&fs)));
    if let Some(s) = source.filter(|s| !s.is_empty()) {
        fsconfig_set_string(&fs, "source", s).map_err(|e| fail("source", e))?;
    }
    for d in &o.data {
        match d.split_once('=') {
            Some((k, v)) => fsconfig_set_string(&fs, k, v),
            None => fsconfig_set_flag(&fs, d.as_str()),
        }
        .map_err(|e| fail(d, e))?;
    }
    // Superblock flags, as mount(2) would pass them for a new mount.
    for (ms, key) in [
        (libc::MS_RDONLY, "ro"),
        (libc::MS_SYNCHRONOUS, "sync"),
        (libc::MS_DIRSYNC, "dirsync"),
    ] {
        if o.flags & ms != 0 {
            fsconfig_set_flag(&fs, key).map_err(|e| fail(key, e))?;
        }
    }
    fsconfig_create(&fs).map_err(|e| fail("create", e))?;
    let (set, _) = attrs(o);
    fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::from_bits_retain(set as u32),
    )
    .map_err(|e| fail("fsmount", e))
}

/// The kernel's own messages about a filesystem context ("e tmpfs: Bad value for 'size'").
fn fs_log(fs: &OwnedFd) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = rustix::io::read(fs, &mut buf) {
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf[..n]);
        out.push_str(": ");
        out.push_str(line.trim_start_matches(['e', 'w', 'i', ' ']).trim_end());
    }
    out
}

/// Attaches the detached mount `tree` onto the resolved mount point `target`.
pub fn attach(tree: &OwnedFd, target: &OwnedFd, shown: &Path) -> Result<(), String> {
    move_mount(
        tree,
        "",
        target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|e| format!("mounting on {}: {e}", shown.display()))
}

/// `dest` (absolute, as seen in the container) as a path relative to the root, cleaned
/// lexically the way the kernel treats `..` at `/` (dropped).
pub fn rel(dest: &Path) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in dest.components() {
        match c {
            Component::Normal(n) => parts.push(n.as_bytes()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join(&b'/')
}

/// What a mount point must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory, created (with its parents) if missing.
    Dir,
    /// A file (for a bind of a file), created empty if missing.
    File,
    /// An ordinary directory that is not reached through a symlink of its own, for `proc` and
    /// `sysfs` (runc's rule: a fake /proc is a classic attack).
    Plain(&'static str),
}

/// Resolves the mount point `dest` inside `root`, once, by descriptor, creating what is
/// missing by `mkdirat`/`openat(O_EXCL)` on descriptors. A chain of symlinks that does not
/// resolve inside the root is an error naming `dest`.
pub fn mount_point(root: &Root, dest: &Path, kind: Kind) -> Result<OwnedFd, String> {
    let rel = rel(dest);
    let err = |e: &dyn std::fmt::Display| {
        format!("mount destination {} in the container: {e}", dest.display())
    };
    if rel.is_empty() {
        return Err(err(
            &"refusing to mount over the container's root directory",
        ));
    }
    let follow = match kind {
        Kind::Plain(_) => OFlags::NOFOLLOW,
        _ => OFlags::empty(),
    };
    match root.open_at(&rel, OFlags::PATH | follow) {
        Ok(fd) => {
            if let Kind::Plain(fs) = kind {
                let st = rfs::fstat(&fd).map_err(|e| err(&e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                    return Err(err(&format!(
                        "{fs} must be mounted on an ordinary directory, not on a symlink or a file"
                    )));
                }
            }
            Ok(fd)
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            create_point(root, &rel, kind).map_err(|e| err(&explain(e)))
        }
        Err(e) => Err(err(&explain(e))),
    }
}

fn create_point(root: &Root, rel: &[u8], kind: Kind) -> io::Result<OwnedFd> {
    if kind != Kind::File {
        return root.mkdir_all(rel);
    }
    let (parent, name) = root.mkdir_parent(rel)?;
    create_new(&parent, name, OFlags::RDONLY, 0o644).map_err(|e| {
        if e.raw_os_error() == Some(libc::EEXIST) {
            io::Error::new(io::ErrorKind::NotFound, "it is a symlink to a missing file")
        } else {
            e
        }
    })
}

/// ELOOP said in words: the kernel followed as many links as it will.
pub fn explain(e: io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::ELOOP) => {
            "too many levels of symbolic links (a symlink chain that does not resolve inside the container)".into()
        }
        Some(libc::EXDEV) => "it crosses out of the container's root".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_clean_like_the_kernel_at_the_root() {
        assert_eq!(rel(Path::new("/a/./b/")), b"a/b");
        assert_eq!(rel(Path::new("/../../etc")), b"etc");
        assert_eq!(rel(Path::new("/a/../b")), b"b");
        assert_eq!(rel(Path::new("/")), b"");
    }

    #[test]
    fn mount_points_resolve_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let outside = d.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let root_path = d.path().join("root");
        std::fs::create_dir(&root_path).unwrap();
        std::os::unix::fs::symlink(&outside, root_path.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", root_path.join("rel")).unwrap();
        std::os::unix::fs::symlink("/", root_path.join("up")).unwrap();
        // A chain of 50 links: more than the kernel follows.
        for i in 0..50 {
            std::os::unix::fs::symlink(format!("/c{}", i + 1), root_path.join(format!("c{i}")))
                .unwrap();
        }
        std::os::unix::fs::symlink(&outside, root_path.join("c50")).unwrap();
        let root = Root::open_with(&root_path, RESOLVE_MOUNTS).unwrap();
        // An absolute link to a host path lands inside the root, at that path there.
        let mirror = root_path.join(outside.strip_prefix("/").unwrap());
        let e = mount_point(&root, Path::new("/abs/vol"), Kind::Dir).unwrap_err();
        assert!(e.contains("symlink to a missing directory"), "{e}");
        std::fs::create_dir_all(&mirror).unwrap();
        mount_point(&root, Path::new("/abs/vol"), Kind::Dir).unwrap();
        assert!(mirror.join("vol").is_dir());
        // `..` clamps at the root; a dangling symlink is never created through.
        let e = mount_point(&root, Path::new("/rel/x"), Kind::Dir).unwrap_err();
        assert!(e.contains("/rel/x"), "{e}");
        mount_point(&root, Path::new("/up/f"), Kind::File).unwrap();
        assert!(root_path.join("f").is_file());
        let e = mount_point(&root, Path::new("/c0/x"), Kind::Dir).unwrap_err();
        assert!(e.contains("/c0/x") && e.contains("symbolic links"), "{e}");
        let e = mount_point(&root, Path::new("/up"), Kind::Plain("proc")).unwrap_err();
        assert!(e.contains("ordinary directory"), "{e}");
        assert!(mount_point(&root, Path::new("/"), Kind::Dir).is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn options_parse_like_mount8() {
        let o = parse_options(&[
            "rbind".into(),
            "ro".into(),
            "rprivate".into(),
            "mode=755".into(),
        ]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.flags, libc::MS_RDONLY);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
        assert_eq!(o.data, vec!["mode=755".to_string()]);
        let o = parse_options(&["ro".into(), "rw".into()]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        let (set, clr) = attrs(&parse_options(&[
            "noatime".into(),
            "nosuid".into(),
            "rw".into(),
        ]));
        assert_eq!(set, libc::MOUNT_ATTR_NOATIME | libc::MOUNT_ATTR_NOSUID);
        assert_eq!(clr, libc::MOUNT_ATTR__ATIME | libc::MOUNT_ATTR_RDONLY);
    }
}
