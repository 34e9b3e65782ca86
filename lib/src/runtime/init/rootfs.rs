//! The root filesystem: propagation and the self-bind pivot_root needs, /dev (nodes, links,
//! the console), pivot_root itself, then what is done from inside: masked and read-only paths,
//! sysctls and a read-only root.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};

use super::fs::{MountOptions, cstr, ensure, locked_flags, mount, resolve_in_root};
use super::mounts::bind;

/// Makes the mount tree below `/` non-shared (pivot_root refuses shared parents, and mounts
/// must not leak back to the host) and makes the rootfs a mount point of its own.
pub fn prepare(spec: &Spec, rootfs: &Path) -> Result<(), String> {
    let prop = match spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    {
        Some("shared") | Some("rshared") => libc::MS_SHARED | libc::MS_REC,
        Some("private") | Some("rprivate") => libc::MS_PRIVATE | libc::MS_REC,
        Some("unbindable") | Some("runbindable") => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => libc::MS_SLAVE | libc::MS_REC,
    };
    mount(None, Path::new("/"), None, prop, None)?;
    mount(
        Some(&rootfs.to_string_lossy()),
        rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    Ok(())
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

/// Creates the device nodes in the container's /dev. In a user namespace mknod is not
/// allowed, so the host's node is bind-mounted instead.
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
    for d in &devs {
        let dest = resolve_in_root(rootfs, d.path());
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("mkdir {}: {e}", parent.display()))?;
        }
        if !userns && mknod(&dest, d).is_ok() {
            continue;
        }
        ensure(&dest, false)?;
        bind(&d.path().to_string_lossy(), &dest, &MountOptions::default())?;
    }
    Ok(())
}

fn mknod(dest: &Path, d: &LinuxDevice) -> Result<(), String> {
    let kind = match d.typ() {
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    };
    let _ = std::fs::remove_file(dest);
    let mode = d.file_mode().unwrap_or(0o666);
    let dev = libc::makedev(d.major() as u32, d.minor() as u32);
    let c = cstr(dest);
    if unsafe { libc::mknod(c.as_ptr(), kind | mode, dev) } < 0 {
        return Err(format!(
            "mknod {}: {}",
            dest.display(),
            std::io::Error::last_os_error()
        ));
    }
    // mknod's mode is filtered by the umask.
    let _ = std::fs::set_permissions(dest, std::fs::Permissions::from_mode(mode));
    unsafe { libc::chown(c.as_ptr(), d.uid().unwrap_or(0), d.gid().unwrap_or(0)) };
    Ok(())
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx links.
pub fn dev_links(rootfs: &Path) {
    let dev = rootfs.join("dev");
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        let _ = symlink(target, dev.join(link));
    }
    if dev.join("pts/ptmx").exists() {
        let _ = std::fs::remove_file(dev.join("ptmx"));
        let _ = symlink("pts/ptmx", dev.join("ptmx"));
    }
}

/// pivot_root(".", ".") then a lazy unmount of the old root stacked beneath (runc's trick:
/// no temporary directory in the image is needed).
pub fn pivot(rootfs: &Path) -> Result<(), String> {
    let c = cstr(rootfs);
    let dot = c".";
    unsafe {
        if libc::chdir(c.as_ptr()) < 0 {
            return Err(format!(
                "chdir {}: {}",
                rootfs.display(),
                std::io::Error::last_os_error()
            ));
        }
        if libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) < 0 {
            return Err(format!(
                "pivot_root {}: {}",
                rootfs.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    // The old root must not propagate the unmount to the host.
    mount(
        None,
        Path::new("."),
        None,
        libc::MS_SLAVE | libc::MS_REC,
        None,
    )?;
    unsafe {
        if libc::umount2(dot.as_ptr(), libc::MNT_DETACH) < 0 {
            return Err(format!(
                "unmounting the old root: {}",
                std::io::Error::last_os_error()
            ));
        }
        libc::chdir(c"/".as_ptr());
    }
    Ok(())
}

/// Hides paths: tmpfs over directories, /dev/null over files (runc's maskPath).
pub fn mask(paths: &[String]) -> Result<(), String> {
    for p in paths {
        let path = Path::new(p);
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                mount(Some("tmpfs"), path, Some("tmpfs"), libc::MS_RDONLY, None)?
            }
            Ok(_) => mount(Some("/dev/null"), path, None, libc::MS_BIND, None)?,
            Err(_) => {}
        }
    }
    Ok(())
}

/// Makes paths read-only with a bind remount.
pub fn readonly(paths: &[String]) -> Result<(), String> {
    for p in paths {
        let path = Path::new(p);
        if !path.exists() {
            continue;
        }
        mount(Some(p), path, None, libc::MS_BIND | libc::MS_REC, None)?;
        let keep = locked_flags(path);
        mount(
            None,
            path,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC | keep,
            None,
        )?;
    }
    Ok(())
}

pub fn readonly_root() -> Result<(), String> {
    let keep = locked_flags(Path::new("/"));
    mount(
        None,
        Path::new("/"),
        None,
        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | keep,
        None,
    )
}

pub fn sysctls(spec: &Spec) -> Result<(), String> {
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        for (k, v) in s {
            let p = format!("/proc/sys/{}", k.replace('.', "/"));
            std::fs::write(&p, v).map_err(|e| format!("sysctl {k}={v}: {e}"))?;
        }
    }
    Ok(())
}
