//! The config's `mounts`, done inside the new mount namespace before pivot_root: bind/rbind
//! with read-only and propagation applied by remount (the kernel ignores them on the first
//! bind), kernel filesystems, and the cgroup hierarchy view.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use super::fs::{MountOptions, ensure, locked_flags, mount, parse_options, resolve_in_root};

/// A cgroup hierarchy to show inside the container: its name under /sys/fs/cgroup and the
/// container's own directory in it on the host.
#[derive(Debug, Clone)]
pub struct CgroupView {
    pub name: String,
    pub host_dir: PathBuf,
}

pub struct Ctx<'a> {
    pub rootfs: &'a Path,
    /// The container has its own network namespace (sysfs can be mounted fresh).
    pub own_netns: bool,
    pub cgroups: &'a [CgroupView],
    /// Pure cgroup v2 with a cgroup namespace: mount cgroup2 directly.
    pub cgroup2: bool,
}

pub fn mount_all(ctx: &Ctx, mounts: &[Mount]) -> Result<(), String> {
    for m in mounts {
        mount_one(ctx, m)?;
    }
    Ok(())
}

fn mount_one(ctx: &Ctx, m: &Mount) -> Result<(), String> {
    let options: Vec<String> = m.options().clone().unwrap_or_default();
    let o = parse_options(&options);
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if o.bind { "bind" } else { "none" });
    let dest = resolve_in_root(ctx.rootfs, m.destination());
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    if o.bind || typ == "bind" {
        let src = source.clone().unwrap_or_default();
        let is_dir = std::fs::metadata(&src).map(|m| m.is_dir()).unwrap_or(true);
        ensure(&dest, is_dir)?;
        bind(&src, &dest, &o)?;
        return Ok(());
    }
    ensure(&dest, true)?;
    match typ {
        "cgroup" | "cgroup2" => return mount_cgroups(ctx, &dest, &o),
        "sysfs" if !ctx.own_netns => {
            // A sysfs instance belongs to a network namespace; without our own, show the
            // host's read-only instead (runc does the same).
            let mut ro = o.clone();
            ro.flags |= libc::MS_RDONLY;
            return bind(
                "/sys",
                &dest,
                &MountOptions {
                    recursive: true,
                    ..ro
                },
            );
        }
        _ => {}
    }
    let flags = o.flags;
    let data = o.data.join(",");
    match mount(
        source.as_deref().or(Some(typ)),
        &dest,
        Some(typ),
        flags,
        Some(&data),
    ) {
        Ok(()) => {}
        Err(e) if typ == "sysfs" => {
            // EPERM in a user namespace without its own netns: fall back to the host's.
            let _ = e;
            let mut ro = o.clone();
            ro.flags |= libc::MS_RDONLY;
            bind(
                "/sys",
                &dest,
                &MountOptions {
                    recursive: true,
                    ..ro
                },
            )?;
        }
        Err(e) => return Err(e),
    }
    for p in &o.propagation {
        mount(None, &dest, None, *p, None)?;
    }
    Ok(())
}

/// Binds `src` on `dest`, then applies flags and propagation with remounts.
pub fn bind(src: &str, dest: &Path, o: &MountOptions) -> Result<(), String> {
    let mut flags = libc::MS_BIND;
    if o.recursive {
        flags |= libc::MS_REC;
    }
    mount(Some(src), dest, None, flags, None)?;
    let wanted = o.flags & !(libc::MS_REMOUNT | libc::MS_BIND | libc::MS_REC);
    if wanted != 0 {
        let keep = locked_flags(dest) & !o.cleared;
        mount(
            None,
            dest,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | wanted | keep,
            None,
        )?;
    }
    for p in &o.propagation {
        mount(None, dest, None, *p, None)?;
    }
    Ok(())
}

/// `/sys/fs/cgroup` inside the container. On cgroup v2 with a cgroup namespace, a fresh
/// cgroup2 mount shows the container's own subtree. On v1 and hybrid there is no such
/// thing, so (like runc) a tmpfs holds one bind mount per hierarchy of the container's own
/// cgroup directory.
fn mount_cgroups(ctx: &Ctx, dest: &Path, o: &MountOptions) -> Result<(), String> {
    let ro = o.flags & libc::MS_RDONLY;
    let base = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    if ctx.cgroup2 {
        return mount(Some("cgroup"), dest, Some("cgroup2"), base | ro, None);
    }
    mount(Some("tmpfs"), dest, Some("tmpfs"), base, Some("mode=755"))?;
    for v in ctx.cgroups {
        let target = dest.join(&v.name);
        ensure(&target, true)?;
        if v.host_dir.is_dir() {
            bind(
                &v.host_dir.to_string_lossy(),
                &target,
                &MountOptions {
                    flags: base | ro,
                    ..Default::default()
                },
            )?;
        }
        // `cpu` and `cpuacct` for a `cpu,cpuacct` hierarchy, as on the host.
        if v.name.contains(',') {
            for part in v.name.split(',') {
                let link = dest.join(part);
                if !link.exists() {
                    let _ = std::os::unix::fs::symlink(&v.name, &link);
                }
            }
        }
    }
    if ro != 0 {
        mount(
            None,
            dest,
            None,
            libc::MS_REMOUNT | base | ro,
            Some("mode=755"),
        )?;
    }
    Ok(())
}
