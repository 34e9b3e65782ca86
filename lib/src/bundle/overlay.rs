//! Mounting a container's rootfs: overlayfs over the shared layer directories.
//!
//! The legacy `mount(2)` takes all options in one page (4096 bytes), which 64-hex layer paths
//! exhaust at about 40 layers. Two ways around it, tried in order:
//!
//! 1. the new mount API (`fsopen`/`fsconfig`/`fsmount`/`move_mount`) with one `lowerdir+`
//!    option per layer (Linux >= 6.8), each in its own page;
//! 2. `mount(2)` from a thread that has its own working directory (`unshare(CLONE_FS)`) set
//!    to `<root>/layers`, with the layers named by their 26-character links (`l/<LINK>`), as
//!    Docker's overlay2 does: about 140 layers fit.
//!
//! `BERTH_OVERLAY_MOUNT=legacy` forces the second way (for tests on new kernels), and makes
//! [`detached_lower`] answer that the kernel has none.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, fsconfig_create,
    fsconfig_set_string, fsmount, fsopen, move_mount,
};

use crate::layer::LayerStore;

/// Linux's OVERLAYFS_SUPER_MAGIC.
pub const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// The one page of `mount(2)` data.
const PAGE: usize = 4096;

/// What overlay needs: layers top first, and the container's upper and work dirs.
#[derive(Debug, Clone)]
pub struct OverlaySpec {
    /// Diff ids, top layer first.
    pub lowers_top_first: Vec<String>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Overlay's `volatile` (Linux >= 5.10): no sync of the upper filesystem at unmount, for
    /// a container whose upper directory is archived or thrown away right after (berth
    /// build's steps, `run --rm`, as podman does for `--rm`). Without it, each unmount syncs
    /// the whole host filesystem (70-200 ms on a busy host).
    pub volatile: bool,
}

/// Before mounting again the overlay of a container that was mounted `volatile` (a `run
/// --rm` container, after a reboot): the kernel refuses a work directory that holds
/// `work/incompat/volatile` (the upper directory may have lost writes in a crash), and such a
/// container is disposable by definition, so the marker is removed and the overlay mounted
/// `volatile` again. Returns whether it was a volatile one.
pub fn forget_volatile(work: &Path) -> bool {
    let marker = work.join("work/incompat/volatile");
    if !marker.exists() {
        return false;
    }
    if let Err(e) = std::fs::remove_dir_all(&marker) {
        log::warn!("removing {}: {e}", marker.display());
    }
    true
}

/// Mounts the overlay on `target`.
pub fn mount(store: &LayerStore, spec: &OverlaySpec, target: &Path) -> io::Result<()> {
    match mount_any(store, spec, target) {
        // A kernel without `volatile` (before 5.10): a plain mount.
        Err(_) if spec.volatile => {
            let plain = OverlaySpec {
                volatile: false,
                ..spec.clone()
            };
            mount_any(store, &plain, target)
        }
        r => r,
    }
}

fn mount_any(store: &LayerStore, spec: &OverlaySpec, target: &Path) -> io::Result<()> {
    let forced_legacy = std::env::var("BERTH_OVERLAY_MOUNT").is_ok_and(|v| v == "legacy");
    if !forced_legacy {
        match mount_new_api(store, spec, target) {
            Err(NewApi::Unavailable) => {}
            Err(NewApi::Failed(e)) => return Err(e),
            Ok(()) => return Ok(()),
        }
    }
    mount_legacy(store, spec, target)
}

enum NewApi {
    /// The kernel lacks the new API or `lowerdir+`: use mount(2).
    Unavailable,
    Failed(io::Error),
}

fn mount_new_api(store: &LayerStore, spec: &OverlaySpec, target: &Path) -> Result<(), NewApi> {
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|_| NewApi::Unavailable)?;
    let failed = |what: &str, e: rustix::io::Errno| {
        NewApi::Failed(io::Error::new(
            io::Error::from(e).kind(),
            format!("{what}: {}{}", io::Error::from(e), kernel_log(&fs)),
        ))
    };
    for (i, d) in spec.lowers_top_first.iter().enumerate() {
        if let Err(e) = fsconfig_set_string(&fs, "lowerdir+", store.diff(d).as_path()) {
            // Kernels before 6.8 reject the key itself.
            if i == 0 && e == rustix::io::Errno::INVAL {
                return Err(NewApi::Unavailable);
            }
            return Err(failed("overlay lowerdir", e));
        }
    }
    fsconfig_set_string(&fs, "upperdir", spec.upper.as_path())
        .map_err(|e| failed("overlay upperdir", e))?;
    fsconfig_set_string(&fs, "workdir", spec.work.as_path())
        .map_err(|e| failed("overlay workdir", e))?;
    // Docker sets index=off: with the inodes index on, a lower layer shared by several
    // containers' overlays may be refused.
    let _ = fsconfig_set_string(&fs, "index", "off");
    if spec.volatile {
        rustix::mount::fsconfig_set_flag(&fs, "volatile")
            .map_err(|e| failed("overlay volatile", e))?;
    }
    fsconfig_create(&fs).map_err(|e| failed("overlay mount", e))?;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| failed("overlay fsmount", e))?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| failed("overlay move_mount", e))
}

/// A read-only overlay of `lowers_top_first` (two or more: overlayfs needs that much
/// without an upper directory) that is mounted nowhere: the descriptor of its root, for
/// looking paths up in an image's filesystem by descriptor (`confine::Root`). It is gone
/// when the descriptor is closed. None: the kernel lacks `lowerdir+` (before Linux 6.8).
pub fn detached_lower(
    store: &LayerStore,
    lowers_top_first: &[String],
) -> io::Result<Option<std::os::fd::OwnedFd>> {
    // `BERTH_OVERLAY_MOUNT=legacy` stands for a kernel without the new API here too.
    if std::env::var("BERTH_OVERLAY_MOUNT").is_ok_and(|v| v == "legacy") {
        return Ok(None);
    }
    let Ok(fs) = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) else {
        return Ok(None);
    };
    let failed = |what: &str, e: rustix::io::Errno| {
        io::Error::new(
            io::Error::from(e).kind(),
            format!("{what}: {}{}", io::Error::from(e), kernel_log(&fs)),
        )
    };
    for (i, d) in lowers_top_first.iter().enumerate() {
        if let Err(e) = fsconfig_set_string(&fs, "lowerdir+", store.diff(d).as_path()) {
            if i == 0 && e == rustix::io::Errno::INVAL {
                return Ok(None);
            }
            return Err(failed("overlay lowerdir", e));
        }
    }
    let _ = fsconfig_set_string(&fs, "index", "off");
    fsconfig_create(&fs).map_err(|e| failed("overlay mount", e))?;
    let attrs = MountAttrFlags::MOUNT_ATTR_RDONLY
        | MountAttrFlags::MOUNT_ATTR_NOSUID
        | MountAttrFlags::MOUNT_ATTR_NODEV
        | MountAttrFlags::MOUNT_ATTR_NOEXEC;
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)
        .map_err(|e| failed("overlay fsmount", e))?;
    Ok(Some(mnt))
}

/// The messages the kernel left in the filesystem context (`e overlayfs: ...`), which say what
/// a bare EINVAL does not.
fn kernel_log(fs: &impl std::os::fd::AsFd) -> String {
    let mut out = String::new();
    let Ok(dup) = fs.as_fd().try_clone_to_owned() else {
        return out;
    };
    let mut f = std::fs::File::from(dup);
    let mut buf = [0u8; 1024];
    for _ in 0..8 {
        match f.read(&mut buf) {
            Ok(n) if n > 0 => {
                let _ = write!(out, " ({})", String::from_utf8_lossy(&buf[..n]).trim());
            }
            _ => break,
        }
    }
    out
}

fn mount_legacy(store: &LayerStore, spec: &OverlaySpec, target: &Path) -> io::Result<()> {
    let mut lower = String::new();
    for (i, d) in spec.lowers_top_first.iter().enumerate() {
        store.ensure_link(d).map_err(io::Error::other)?;
        if i > 0 {
            lower.push(':');
        }
        lower.push_str("l/");
        lower.push_str(&crate::layer::link_name(d));
    }
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={},index=off{}",
        spec.upper.display(),
        spec.work.display(),
        if spec.volatile { ",volatile" } else { "" }
    );
    if data.len() >= PAGE {
        return Err(io::Error::other(format!(
            "{} layers do not fit in one page of overlay mount options on this kernel (Linux >= 6.8 mounts any number)",
            spec.lowers_top_first.len()
        )));
    }
    let base = store.base();
    let target = target.to_path_buf();
    // The working directory is per process; a thread that unshares CLONE_FS gets its own, so
    // the relative lowerdirs resolve from the layers directory without disturbing the caller.
    std::thread::spawn(move || -> io::Result<()> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS)?;
        std::env::set_current_dir(&base)?;
        nix::mount::mount(
            Some("overlay"),
            &target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(io::Error::from)
    })
    .join()
    .map_err(|_| io::Error::other("overlay mount thread panicked"))?
}

/// Whether `path` is the root of a mount (its device differs from its parent's, or it is an
/// overlay).
pub fn is_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(me), Some(Ok(parent))) = (
        std::fs::symlink_metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    me.dev() != parent.dev() || rustix::fs::statfs(path).is_ok_and(|s| s.f_type == OVERLAYFS_MAGIC)
}

/// Detaches every mount at or under `dir`, deepest first. Idempotent. One read of the mount
/// table is enough: it lists shadowed mounts too (a mount over a mount is its path twice),
/// each path is detached until nothing is mounted there, and a lazy unmount takes a mount's
/// submounts with it.
pub fn unmount_all_under(dir: &Path) {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in points {
        for _ in 0..8 {
            if nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH).is_err() {
                break;
            }
        }
    }
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push(((b[i + 1] - b'0') << 6) | ((b[i + 2] - b'0') << 3) | (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}
