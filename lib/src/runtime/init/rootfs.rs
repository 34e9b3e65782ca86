//! The root filesystem: propagation and the self-bind pivot_root needs, /dev (nodes, links,
//! the console), pivot_root itself and the configured propagation on the new root, then what
//! is done from inside: masked and read-only paths, sysctls and a read-only root. Also the
//! plain chroot of a container without a mount namespace.
//!
//! Everything created or mounted inside the container's root goes through one descriptor of
//! that root (openat2 `RESOLVE_IN_ROOT`, see fs.rs): device nodes are made with `mknodat` in
//! a parent resolved inside the root, never by a path string, and an existing file is never
//! removed to make room. Nothing on an error path touches anything outside the rootfs.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::fs::{
    Kind, MountOptions, RESOLVE_MOUNTS, Root, attach, clone_fd, clone_path, create_new, explain,
    mount, mount_point, new_fs, rel, set_flags,
};
use crate::confine::os;

/// Before the pivot, in the container's new mount namespace (runc's `prepareRoot`):
///
/// 1. `/` becomes rslave, or rprivate when the config asks for a private root, so nothing
///    done here propagates back to the host and pivot_root finds no shared mount;
/// 2. the mount holding the rootfs becomes private (slave when the config asks for a slave
///    root, which keeps receiving the host's mounts): the self-bind then copies no peer group
///    and, on its own, pivot_root's rule that the new root's parent is not shared holds;
/// 3. the rootfs is bound onto itself (pivot_root needs a mount).
///
/// The configured propagation itself goes on the new root after the pivot ([`propagate_root`]):
/// `shared` here would make pivot_root fail (EINVAL), `unbindable` would refuse the self-bind.
/// `rootfs` is a trusted host path (the bundle's), walked with the host root's credentials.
pub fn prepare(spec: &Spec, rootfs: &Path) -> Result<(), String> {
    // A rootfs that is the host's own root would make "inside the root" mean the host.
    let same = |a: &rfs::Stat, b: &rfs::Stat| a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    if let (Ok(r), Ok(h)) = (rfs::stat(rootfs), rfs::stat("/"))
        && same(&r, &h)
    {
        return Err(format!(
            "the rootfs {} is the host's root directory (root.path in config.json must name the container's own)",
            rootfs.display()
        ));
    }
    let configured = propagation(spec)?;
    let private = configured.is_some_and(|f| f & libc::MS_PRIVATE != 0);
    let slave = configured.is_some_and(|f| f & libc::MS_SLAVE != 0);
    let root = if private {
        libc::MS_PRIVATE
    } else {
        libc::MS_SLAVE
    };
    mount(None, Path::new("/"), None, root | libc::MS_REC, None)?;
    rootfs_mount_private(
        rootfs,
        if slave {
            libc::MS_SLAVE
        } else {
            libc::MS_PRIVATE
        },
    )?;
    mount(
        Some(&rootfs.to_string_lossy()),
        rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    Ok(())
}

/// `linux.rootfsPropagation` as mount flags (checked at create by `validate`).
fn propagation(spec: &Spec) -> Result<Option<libc::c_ulong>, String> {
    crate::runtime::validate::propagation_flags(spec).map_err(|e| e.to_string())
}

/// Gives the mount that holds `rootfs` the propagation `flag`: the rootfs itself when it is a
/// mount point, else the nearest mount above it (EINVAL: not a mount point, go up).
fn rootfs_mount_private(rootfs: &Path, flag: libc::c_ulong) -> Result<(), String> {
    let flags = nix::mount::MsFlags::from_bits_truncate(flag);
    let mut at = rootfs;
    loop {
        match nix::mount::mount(None::<&str>, at, None::<&str>, flags, None::<&str>) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EINVAL) if at != Path::new("/") => {
                at = at.parent().unwrap_or(Path::new("/"));
            }
            Err(e) => {
                return Err(format!(
                    "making the mount of the rootfs {} private (at {}): {e}",
                    rootfs.display(),
                    at.display()
                ));
            }
        }
    }
}

/// After the pivot: `linux.rootfsPropagation` on the container's `/` (runc and crun apply it
/// there too). `shared` makes a peer group of the container's own: the host is in none of it.
pub fn propagate_root(spec: &Spec) -> Result<(), String> {
    match propagation(spec)? {
        Some(flags) => mount(None, Path::new("/"), None, flags, None)
            .map_err(|e| format!("linux.rootfsPropagation: {e}")),
        None => Ok(()),
    }
}

/// A container without a mount namespace of its own whose root was set up (mounts, pivot,
/// masks...) in a private mount namespace of the init's: the finished tree, the root and every
/// mount below it, is copied, detached and private all the way down; then we go back into the
/// runtime's mount namespace `ns` (whose table never saw any of it) and make the copy our
/// root. No namespace lists the copy, no propagation links it to the host, and it vanishes
/// with the container.
pub fn back_to(ns: &OwnedFd) -> Result<(), String> {
    let root = rfs::open(
        "/",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("opening the container's root: {e}"))?;
    let tree = clone_fd(root.as_fd(), true, Path::new("/"))?;
    let private = MountOptions {
        propagation: vec![libc::MS_PRIVATE | libc::MS_REC],
        ..Default::default()
    };
    super::fs::propagate(&tree, &private, Path::new("/"))?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("returning to the runtime's mount namespace: {e}"))?;
    chroot_fd(tree.as_raw_fd())
}

/// A container without a mount namespace of its own: the directory `fd` (an `O_PATH`
/// descriptor of its root, opened by berth-spawn on the host) becomes our root, and the host's
/// mount table is left as it is.
pub fn chroot_fd(fd: i32) -> Result<(), String> {
    // SAFETY: `fd` is a descriptor berth-spawn opened for us; fchdir only reads it.
    if unsafe { libc::fchdir(fd) } < 0 {
        return Err(format!(
            "entering the container's root: {}",
            std::io::Error::last_os_error()
        ));
    }
    nix::unistd::chroot(".").map_err(|e| format!("chroot into the container's root: {e}"))?;
    nix::unistd::chdir("/").map_err(|e| format!("chdir / in the container's root: {e}"))
}

/// The devices every container gets (OCI runtime spec, "Default Devices").
fn default_devices() -> Vec<(&'static str, u32, u32)> {
    vec![
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

fn open_root(path: &Path) -> Result<Root, String> {
    Root::open_with(path, RESOLVE_MOUNTS).map_err(|e| format!("opening {}: {e}", path.display()))
}

/// Creates the device nodes in the container's /dev. In a user namespace mknod is not
/// allowed, so the host's node is bind-mounted instead (runc does both the same way).
pub fn create_devices(spec: &Spec, rootfs: &Path, userns: bool) -> Result<(), String> {
    let mut devs: Vec<LinuxDevice> = Vec::new();
    for (p, maj, min) in default_devices() {
        let mut d = LinuxDevice::default();
        d.set_path(p.into());
        d.set_typ(LinuxDeviceType::C);
        d.set_major(maj as i64);
        d.set_minor(min as i64);
        d.set_file_mode(Some(0o666));
        d.set_uid(Some(0));
        d.set_gid(Some(0));
        devs.push(d);
    }
    if let Some(extra) = spec.linux().as_ref().and_then(|l| l.devices().as_ref()) {
        for d in extra {
            devs.retain(|x| x.path() != d.path());
            devs.push(d.clone());
        }
    }
    let root = open_root(rootfs)?;
    for d in &devs {
        create_device(&root, d, userns)?;
    }
    Ok(())
}

fn create_device(root: &Root, d: &LinuxDevice, userns: bool) -> Result<(), String> {
    let shown = d.path();
    let rel = rel(shown);
    let (parent, name) = root
        .mkdir_parent(&rel)
        .map_err(|e| format!("creating device {}: {}", shown.display(), explain(e)))?;
    if !userns {
        match mknod(&parent, name, d) {
            Ok(()) => return finish_node(&parent, name, d),
            // Already there (a /dev that is not a fresh tmpfs): kept, as runc does. It is
            // never removed by name: that is how a host node could be replaced.
            Err(Errno::EXIST) => return Ok(()),
            // The device cgroup or the kernel refuses mknod: bind the host's node instead.
            Err(Errno::PERM) => {}
            Err(e) => return Err(format!("mknod {}: {e}", shown.display())),
        }
    }
    let target = match rfs::openat(
        &parent,
        os(name),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => create_new(&parent, name, OFlags::RDONLY, 0o600)
            .map_err(|e| format!("creating {}: {e}", shown.display()))?,
        Err(e) => return Err(format!("opening {}: {e}", shown.display())),
    };
    let st = rfs::fstat(&target).map_err(|e| format!("{}: {e}", shown.display()))?;
    if matches!(
        FileType::from_raw_mode(st.st_mode),
        FileType::Symlink | FileType::Directory
    ) {
        return Err(format!(
            "cannot bind the device {} over the container's {}",
            shown.display(),
            if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                "symlink"
            } else {
                "directory"
            }
        ));
    }
    let tree = clone_path(shown, false)?;
    attach(&tree, &target, shown)
}

/// mknodat in the resolved parent, then a check by descriptor that the node made is the one
/// asked for before its mode and owner are set (runc's mknodDevice).
fn mknod(parent: &OwnedFd, name: &[u8], d: &LinuxDevice) -> Result<(), Errno> {
    let kind = device_kind(d);
    let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
    let dev = rfs::makedev(d.major() as u32, d.minor() as u32);
    rfs::mknodat(parent, os(name), kind, Mode::from_raw_mode(mode), dev)
}

fn device_kind(d: &LinuxDevice) -> FileType {
    match d.typ() {
        LinuxDeviceType::B => FileType::BlockDevice,
        LinuxDeviceType::P => FileType::Fifo,
        _ => FileType::CharacterDevice,
    }
}

/// The node just made, checked by descriptor to be what was asked for, then given its mode
/// (mknod's is filtered by the umask) and owner, without opening the device.
fn finish_node(parent: &OwnedFd, name: &[u8], d: &LinuxDevice) -> Result<(), String> {
    let shown = d.path().display();
    let fd = rfs::openat(
        parent,
        os(name),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("opening the new device {shown}: {e}"))?;
    let st = rfs::fstat(&fd).map_err(|e| format!("{shown}: {e}"))?;
    let kind = device_kind(d);
    let dev = rfs::makedev(d.major() as u32, d.minor() as u32);
    if FileType::from_raw_mode(st.st_mode) != kind || (kind != FileType::Fifo && st.st_rdev != dev)
    {
        return Err(format!(
            "the new device {shown} is not the node that was made (replaced meanwhile?)"
        ));
    }
    let mode = d.file_mode().unwrap_or(0o666) & 0o7777;
    // chmod through the descriptor's /proc/self/fd link changes that inode and opens nothing.
    rfs::chmod(
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| format!("chmod {shown}: {e}"))?;
    rfs::chownat(
        &fd,
        "",
        Some(rustix::process::Uid::from_raw(d.uid().unwrap_or(0))),
        Some(rustix::process::Gid::from_raw(d.gid().unwrap_or(0))),
        AtFlags::EMPTY_PATH,
    )
    .map_err(|e| format!("chown {shown}: {e}"))
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx links, made in /dev's descriptor.
pub fn dev_links(rootfs: &Path) {
    let Ok(root) = open_root(rootfs) else { return };
    let Ok(dev) = root.dir(b"dev") else { return };
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        let _ = rfs::symlinkat(target, &dev, link);
    }
    let ptmx = rfs::statat(&dev, "pts/ptmx", AtFlags::SYMLINK_NOFOLLOW);
    if ptmx.is_ok() {
        let _ = rfs::unlinkat(&dev, "ptmx", AtFlags::empty());
        let _ = rfs::symlinkat("pts/ptmx", &dev, "ptmx");
    }
}

/// pivot_root(".", ".") then a lazy unmount of the old root stacked beneath (runc's trick:
/// no temporary directory in the image is needed).
pub fn pivot(rootfs: &Path) -> Result<(), String> {
    let os = std::io::Error::from;
    nix::unistd::chdir(rootfs).map_err(|e| format!("chdir {}: {}", rootfs.display(), os(e)))?;
    nix::unistd::pivot_root(".", ".")
        .map_err(|e| format!("pivot_root {}: {}", rootfs.display(), os(e)))?;
    // The old root must not propagate the unmount to the host.
    mount(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )?;
    nix::mount::umount2(".", nix::mount::MntFlags::MNT_DETACH)
        .map_err(|e| format!("unmounting the old root: {}", os(e)))?;
    let _ = nix::unistd::chdir("/");
    Ok(())
}

/// A path of the container's own (after pivot_root), resolved inside its root; `None` if it
/// does not exist.
fn existing(root: &Root, p: &Path) -> Result<Option<OwnedFd>, String> {
    match root.open_at(&rel(p), OFlags::PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(format!("{}: {}", p.display(), explain(e))),
    }
}

/// The container's /dev/null, checked to be the null device: a container that replaced it
/// (with a symlink to a /proc file, say) must not get that file bound over a masked path
/// (runc's CVE-2025-31133).
fn dev_null(root: &Root) -> Result<OwnedFd, String> {
    let fd = root
        .open_at(b"dev/null", OFlags::PATH | OFlags::NOFOLLOW)
        .map_err(|e| format!("/dev/null: {e}"))?;
    let st = rfs::fstat(&fd).map_err(|e| format!("/dev/null: {e}"))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::CharacterDevice
        || st.st_rdev != rfs::makedev(1, 3)
    {
        return Err("/dev/null in the container is not the null device (1:3)".into());
    }
    Ok(fd)
}

/// Hides paths: a read-only tmpfs over directories, /dev/null over files (runc's maskPath).
pub fn mask(paths: &[String]) -> Result<(), String> {
    let root = open_root(Path::new("/"))?;
    let mut null: Option<OwnedFd> = None;
    for p in paths {
        let path = Path::new(p);
        let Some(fd) = existing(&root, path)? else {
            continue;
        };
        let st = rfs::fstat(&fd).map_err(|e| format!("{p}: {e}"))?;
        let tree = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            let ro = MountOptions {
                flags: libc::MS_RDONLY,
                ..Default::default()
            };
            new_fs("tmpfs", Some("tmpfs"), &ro).map_err(|(_, e)| format!("masking {p}: {e}"))?
        } else {
            if null.is_none() {
                null = Some(dev_null(&root)?);
            }
            let n = null.as_ref().map(|n| n.as_fd());
            clone_fd(n.expect("set above"), false, Path::new("/dev/null"))?
        };
        attach(&tree, &fd, path)?;
    }
    Ok(())
}

/// Makes paths read-only: a recursive bind of each onto itself, read-only all the way down.
pub fn readonly(paths: &[String]) -> Result<(), String> {
    let root = open_root(Path::new("/"))?;
    let ro = MountOptions {
        flags: libc::MS_RDONLY,
        ..Default::default()
    };
    for p in paths {
        let path = Path::new(p);
        let Some(fd) = existing(&root, path)? else {
            continue;
        };
        let tree = clone_fd(fd.as_fd(), true, path)?;
        set_flags(&tree, &ro, true, path)?;
        attach(&tree, &fd, path)?;
    }
    Ok(())
}

pub fn readonly_root() -> Result<(), String> {
    let root = open_root(Path::new("/"))?;
    let fd = root
        .open_at(b"", OFlags::PATH | OFlags::DIRECTORY)
        .map_err(|e| format!("/: {e}"))?;
    let ro = MountOptions {
        flags: libc::MS_RDONLY,
        ..Default::default()
    };
    set_flags(&fd, &ro, false, Path::new("/"))
}

/// Writes the config's sysctls under /proc/sys, each file resolved inside the root and
/// checked to be on procfs before it is opened for writing.
pub fn sysctls(spec: &Spec) -> Result<(), String> {
    let Some(s) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    if s.is_empty() {
        return Ok(());
    }
    let root = open_root(Path::new("/"))?;
    for (k, v) in s {
        let p = format!("proc/sys/{}", k.replace('.', "/"));
        let err = |e: &dyn std::fmt::Display| format!("sysctl {k}={v}: {e}");
        let fd = root
            .open_at(p.as_bytes(), OFlags::PATH | OFlags::NOFOLLOW)
            .map_err(|e| err(&e))?;
        let on_proc = rfs::fstatfs(&fd).map(|f| f.f_type == libc::PROC_SUPER_MAGIC);
        if !matches!(on_proc, Ok(true)) {
            return Err(err(&"/proc/sys is not procfs in the container"));
        }
        let w = crate::confine::reopen(&fd, OFlags::WRONLY).map_err(|e| err(&e))?;
        rustix::io::write(&w, v.as_bytes()).map_err(|e| err(&e))?;
    }
    Ok(())
}

/// Binds the terminal `slave` (by its descriptor, never by its /dev/pts path, which a
/// container could swap: runc's CVE-2025-52565) over /dev/console, which is resolved inside
/// the container's root and must be a plain file or a device node.
pub fn console(slave: BorrowedFd) -> Result<(), String> {
    let root = open_root(Path::new("/"))?;
    let dest = Path::new("/dev/console");
    let target = match root.open_at(b"dev/console", OFlags::PATH | OFlags::NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => mount_point(&root, dest, Kind::File)?,
        Err(e) => return Err(format!("/dev/console: {e}")),
    };
    let st = rfs::fstat(&target).map_err(|e| format!("/dev/console: {e}"))?;
    if !matches!(
        FileType::from_raw_mode(st.st_mode),
        FileType::RegularFile | FileType::CharacterDevice
    ) {
        return Err("/dev/console in the container is neither a file nor a device".into());
    }
    let tree = clone_fd(slave, false, dest)?;
    attach(&tree, &target, dest)
}
