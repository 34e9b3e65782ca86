//! Filesystem helpers for the container's init: resolving a path inside the new root without
//! letting symlinks escape it, mount option parsing (mount(8)'s names), and small syscall
//! wrappers that report the path they failed on.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Resolves `path` (absolute, as seen inside the container) under `root`, following symlinks
/// as if `root` were `/`: `..` and absolute link targets never leave it (the CVE-2021-30465
/// class of escapes is closed by construction, not by string checks).
pub fn resolve_in_root(root: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    let mut pending: Vec<std::ffi::OsString> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            out.pop();
            continue;
        }
        let candidate = out.join(&c);
        let full = root.join(&candidate);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() && links < 40 => {
                links += 1;
                let Ok(target) = std::fs::read_link(&full) else {
                    out = candidate;
                    continue;
                };
                if target.is_absolute() {
                    out = PathBuf::new();
                }
                for tc in target.components().rev() {
                    match tc {
                        Component::Normal(n) => pending.push(n.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => out = candidate,
        }
    }
    root.join(out)
}

pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap_or_default()
}

fn cstr_s(s: &str) -> CString {
    CString::new(s).unwrap_or_default()
}

/// mount(2), with the target in the error.
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
    let tgt = cstr(target);
    let r = unsafe {
        libc::mount(
            src.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            tgt.as_ptr(),
            ty.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            flags,
            dat.as_ref()
                .map_or(std::ptr::null(), |s| s.as_ptr() as *const libc::c_void),
        )
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
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
    /// Flags explicitly cleared (`rw`, `suid`...), so a remount does not keep them.
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

/// The per-mount flags the kernel locks when a mount crosses into a less privileged user
/// namespace; a bind remount must repeat them or fail with EPERM.
pub fn locked_flags(path: &Path) -> libc::c_ulong {
    let c = cstr(path);
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } < 0 {
        return 0;
    }
    let mut f = 0;
    for (v, m) in [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if st.f_flag & v != 0 {
            f |= m;
        }
    }
    f
}

/// Makes sure `path` exists, as a directory or (for binds of files) an empty file.
pub fn ensure(path: &Path, dir: bool) -> Result<(), String> {
    if path.exists() {
        return Ok(());
    }
    let r = if dir {
        std::fs::create_dir_all(path)
    } else {
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(|_| ())
    };
    r.map_err(|e| format!("creating mount point {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("real", root.join("link")).unwrap();
        assert_eq!(
            resolve_in_root(root, Path::new("/abs/x")),
            root.join("etc/x")
        );
        assert_eq!(resolve_in_root(root, Path::new("/rel")), root.join("etc"));
        assert_eq!(
            resolve_in_root(root, Path::new("/link/y")),
            root.join("real/y")
        );
        assert_eq!(resolve_in_root(root, Path::new("/../../z")), root.join("z"));
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
    }
}
