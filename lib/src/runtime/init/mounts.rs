//! The config's `mounts`, done inside the new mount namespace before pivot_root. Each
//! destination is resolved once inside the rootfs by descriptor ([`fs::mount_point`]) and the
//! mount is attached onto that descriptor: binds are `open_tree` clones whose flags (read-only,
//! nosuid...) are set before they are attached, kernel filesystems are `fsmount`ed with their
//! flags, and propagation is set on the attached mount. Also the cgroup hierarchy view and
//! /sys, which is a fresh sysfs whenever the container has a network namespace.

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::fs::{
    Kind, MountOptions, RESOLVE_MOUNTS, Root, attach, clone_path, mount_point, new_fs,
    parse_options, propagate, rel, set_flags, setattr,
};

/// A cgroup hierarchy to show inside the container: its name under /sys/fs/cgroup and the
/// container's own directory in it on the host.
#[derive(Debug, Clone)]
pub struct CgroupView {
    pub name: String,
    pub host_dir: PathBuf,
}

pub struct Ctx<'a> {
    pub rootfs: &'a Path,
    /// The config has a network namespace, made by the clone or joined by path (berth-netns,
    /// `--network container:`): /sys is a fresh sysfs of that namespace. Without one the
    /// container shares the host's, and sees the host's /sys read-only, submounts included.
    pub netns: bool,
    /// The container has a user namespace (new or joined).
    pub userns: bool,
    pub cgroups: &'a [CgroupView],
    /// Pure cgroup v2 with a cgroup namespace: mount cgroup2 directly.
    pub cgroup2: bool,
    /// `linux.mountLabel`: the SELinux context of the in-memory filesystems ([`fs_data`]).
    pub mount_label: Option<&'a str>,
    /// Called before the cgroup view is mounted: it needs the container's cgroups made and
    /// joined (the init's `Go`).
    pub before_cgroups: &'a dyn Fn() -> Result<(), String>,
    /// The cgroup view berth-spawn built and sent with the go ([`view_tree`]), once.
    pub built_view: &'a dyn Fn() -> Option<OwnedFd>,
}

pub fn mount_all(ctx: &Ctx, mounts: &[Mount]) -> Result<(), String> {
    // Opened after rootfs::prepare's self-bind, so mounts land on that bind, and every
    // destination is resolved from this one descriptor.
    let root = Root::open_with(ctx.rootfs, RESOLVE_MOUNTS)
        .map_err(|e| format!("opening the rootfs {}: {e}", ctx.rootfs.display()))?;
    // The root's own path, for telling where a destination leads (`check_proc_mount`): read
    // only for a destination with a symlink on its way.
    let top = std::cell::OnceCell::new();
    for m in mounts {
        mount_one(ctx, &root, &top, m)?;
    }
    Ok(())
}

/// The root's path as the host's procfs gives it, read once when first needed.
type Top = std::cell::OnceCell<Option<PathBuf>>;

fn mount_one(ctx: &Ctx, root: &Root, top: &Top, m: &Mount) -> Result<(), String> {
    let options: Vec<String> = m.options().clone().unwrap_or_default();
    let mut o = parse_options(&options);
    let typ = m
        .typ()
        .as_deref()
        .unwrap_or(if o.bind { "bind" } else { "none" });
    if !o.bind {
        o.data = fs_data(typ, &o.data, ctx.mount_label);
    }
    let dest = m.destination();
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned());
    let is_bind = o.bind || typ == "bind";
    check_proc_mount(root, top, dest, typ, is_bind, source.as_deref())?;
    if is_bind {
        let src = PathBuf::from(source.unwrap_or_default());
        return bind(root, &src, dest, &o);
    }
    match typ {
        "cgroup" | "cgroup2" => {
            let target = mount_point(root, dest, Kind::Dir)?;
            mount_cgroups(ctx, &target, dest, &o)
        }
        "sysfs" => sysfs(ctx, root, source.as_deref(), dest, &o),
        _ => {
            let kind = if typ == "proc" {
                Kind::Plain("proc")
            } else {
                Kind::Dir
            };
            let target = mount_point(root, dest, kind)?;
            let mnt = new_fs(typ, source.as_deref().or(Some(typ)), &o)
                .map_err(|(_, e)| format!("{e} (on {})", dest.display()))?;
            attach(&mnt, &target, dest)?;
            propagate(&mnt, &o, dest)
        }
    }
}

/// What lxcfs emulates inside /proc: the only mount destinations under it (runc's list).
const PROC_MOUNTS_ALLOWED: &[&str] = &[
    "proc/cpuinfo",
    "proc/diskstats",
    "proc/meminfo",
    "proc/stat",
    "proc/swaps",
    "proc/uptime",
    "proc/loadavg",
    "proc/slabinfo",
    "proc/net/dev",
    "proc/sys/kernel/ns_last_pid",
    "proc/sys/crypto/fips_enabled",
];

/// runc's proc-safety rule (`checkProcMount`): nothing goes over the container's /proc but a
/// procfs (a new one, or a bind of one), and nothing inside it but what lxcfs emulates. A
/// fake /proc turns every later `/proc/self/...` that the runtime or the kernel's users walk
/// into a path of the image's (runc's CVE-2019-16884 and CVE-2019-19921); an image's
/// `VOLUME /proc` would be one, a `-v DIR:/proc` another. The destination is checked as
/// written and as it resolves in the root, so that a symlink to /proc does not get past.
fn check_proc_mount(
    root: &Root,
    top: &Top,
    dest: &Path,
    typ: &str,
    bind: bool,
    source: Option<&str>,
) -> Result<(), String> {
    let written = rel(dest);
    for r in [Some(written.clone()), resolved_rel(root, top, &written)]
        .into_iter()
        .flatten()
    {
        let dest = if r == written {
            dest.display().to_string()
        } else {
            format!(
                "{} (which leads to /{})",
                dest.display(),
                String::from_utf8_lossy(&r)
            )
        };
        if r == b"proc" {
            let procfs = if bind {
                source.is_some_and(|s| {
                    rfs::statfs(s).is_ok_and(|st| st.f_type == libc::PROC_SUPER_MAGIC)
                })
            } else {
                typ == "proc"
            };
            if !procfs {
                return Err(format!(
                    "{} cannot be mounted on {dest} because it is not of type proc (only a procfs goes on /proc)",
                    source.unwrap_or(typ),
                ));
            }
        } else if r.starts_with(b"proc/") && !PROC_MOUNTS_ALLOWED.iter().any(|a| a.as_bytes() == r)
        {
            return Err(format!(
                "{dest} cannot be mounted because it is inside /proc (only lxcfs's files are: {})",
                PROC_MOUNTS_ALLOWED
                    .iter()
                    .map(|a| format!("/{a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

/// The path the host's procfs gives for descriptor `fd` (the init still sees the host's /proc
/// before pivot_root).
fn fd_path(fd: std::os::fd::BorrowedFd) -> Option<PathBuf> {
    std::fs::read_link(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .ok()
}

/// Where `rel` (a destination relative to the root, whose own path is `top`) leads once its
/// symlinks are followed inside the root, relative to the root: its deepest existing ancestor
/// resolved by descriptor, and the rest as written. `None` when that cannot be told.
///
/// Most destinations have no symlink on their way, and then lead where they say: one open
/// that refuses symlinks tells so (it fails with ENOENT only at a missing component, which
/// it reached without following one), without reading the path back.
fn resolved_rel(root: &Root, top: &Top, rel: &[u8]) -> Option<Vec<u8>> {
    match root.open_at_with(rel, OFlags::PATH, rustix::fs::ResolveFlags::NO_SYMLINKS) {
        Ok(_) => return Some(rel.to_vec()),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Some(rel.to_vec()),
        Err(_) => {}
    }
    let top = top.get_or_init(|| fd_path(root.fd())).as_deref()?;
    let parts: Vec<&[u8]> = rel
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty())
        .collect();
    for keep in (1..=parts.len()).rev() {
        let Ok(fd) = root.open_at(&parts[..keep].join(&b'/'), OFlags::PATH) else {
            continue;
        };
        let at = fd_path(std::os::fd::AsFd::as_fd(&fd))?;
        let inside = at.strip_prefix(top).ok()?;
        let mut out = std::os::unix::ffi::OsStrExt::as_bytes(inside.as_os_str()).to_vec();
        for p in &parts[keep..] {
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(p);
        }
        return Some(out);
    }
    None
}

/// The SELinux options that take a context as their value.
const CONTEXT_KEYS: &[&str] = &["context", "fscontext", "defcontext", "rootcontext"];

/// The filesystem options of a new mount (not a bind) of type `typ`, as fsconfig takes them:
/// - `linux.mountLabel` as `context=` on the filesystems runc labels so (tmpfs, devpts...:
///   `lsm::selinux::takes_context`), unless the config names a context itself: a config.json
///   written by hand or by an engine (containerd, podman) is labelled as `berth run`'s is,
///   which carries the option already (`lsm::selinux::label_mounts`);
/// - a context without its quotes: mount(2)'s option string needs them around an MCS level's
///   comma (go-selinux writes `context="u:r:t:s0:c1,c2"`), fsconfig takes the value whole and
///   would pass the quotes on to SELinux as part of the label.
pub(crate) fn fs_data(typ: &str, data: &[String], mount_label: Option<&str>) -> Vec<String> {
    let is_context = |d: &str| {
        d.split_once('=')
            .is_some_and(|(k, _)| CONTEXT_KEYS.contains(&k))
    };
    let mut out: Vec<String> = data
        .iter()
        .map(|d| match d.split_once('=') {
            Some((k, v)) if is_context(d) => {
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                format!("{k}={v}")
            }
            _ => d.clone(),
        })
        .collect();
    if let Some(label) = mount_label.filter(|l| !l.is_empty())
        && crate::runtime::lsm::selinux::takes_context(typ, std::iter::empty())
        && !data.iter().any(|d| is_context(d))
    {
        out.push(format!("context={label}"));
    }
    out
}

/// A bind of the trusted host path `src` onto `dest` in the container: cloned, its flags set
/// while it is still detached (a read-only bind is never writable, not even for a moment),
/// attached onto the resolved mount point, then its propagation set.
pub fn bind(root: &Root, src: &Path, dest: &Path, o: &MountOptions) -> Result<(), String> {
    let tree = clone_path(src, o.recursive)?;
    let is_dir = rfs::fstat(&tree)
        .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
        .unwrap_or(true);
    let target = mount_point(root, dest, if is_dir { Kind::Dir } else { Kind::File })?;
    set_flags(&tree, o, false, dest)?;
    attach(&tree, &target, dest)?;
    propagate(&tree, o, dest)
}

/// /sys. A sysfs instance shows the network namespace of whoever mounts it, so a container
/// with a network namespace of its own, new or joined (berth-netns's, `--network
/// container:`), gets a fresh one: its own interfaces, and none of the host's submounts
/// (tracefs, debugfs, securityfs...). As runc does. With the host's network namespace, the
/// host's /sys is bound instead, read-only all the way down.
fn sysfs(
    ctx: &Ctx,
    root: &Root,
    source: Option<&str>,
    dest: &Path,
    o: &MountOptions,
) -> Result<(), String> {
    let target = mount_point(root, dest, Kind::Plain("sysfs"))?;
    if ctx.netns {
        match new_fs("sysfs", source.or(Some("sysfs")), o) {
            Ok(mnt) => {
                attach(&mnt, &target, dest)?;
                return propagate(&mnt, o, dest);
            }
            // A user namespace may mount only the sysfs of a network namespace it owns; a
            // joined one made on the host is not. Then, as runc's rootless mode does, the
            // host's /sys read-only.
            Err((Errno::PERM, _)) if ctx.userns => {}
            Err((_, e)) => return Err(format!("{e} (on {})", dest.display())),
        }
    }
    let tree = clone_path(Path::new("/sys"), true)?;
    let ro = MountOptions {
        flags: o.flags | libc::MS_RDONLY,
        cleared: 0,
        ..o.clone()
    };
    set_flags(&tree, &ro, true, dest)?;
    attach(&tree, &target, dest)?;
    propagate(&tree, o, dest)
}

/// `/sys/fs/cgroup` inside the container. On cgroup v2 with a cgroup namespace, a fresh
/// cgroup2 mount shows the container's own subtree. On v1 and hybrid there is no such
/// thing, so (like runc) a tmpfs holds one bind mount per hierarchy of the container's own
/// cgroup directory: built by berth-spawn while we made our namespaces and first mounts
/// ([`view_tree`]), and then only attached here, or else built here, the tmpfs filled
/// through its own descriptor once attached.
fn mount_cgroups(ctx: &Ctx, target: &OwnedFd, dest: &Path, o: &MountOptions) -> Result<(), String> {
    (ctx.before_cgroups)()?;
    let ro = o.flags & libc::MS_RDONLY;
    if ctx.cgroup2 {
        let flags = MountOptions {
            flags: VIEW_FLAGS | ro,
            ..Default::default()
        };
        let mnt = new_fs("cgroup2", Some("cgroup"), &flags)
            .map_err(|(_, e)| format!("{e} (on {})", dest.display()))?;
        return attach(&mnt, target, dest);
    }
    if let Some(view) = (ctx.built_view)() {
        if ro != 0 {
            // The whole tree in one call: the tmpfs and every bind in it.
            set_ro_recursive(&view, dest)?;
        }
        return attach(&view, target, dest);
    }
    let mnt = view_tmpfs(dest)?;
    attach(&mnt, target, dest)?;
    fill_view(&mnt, ctx.cgroups, ro, dest)?;
    if ro != 0 {
        let ro = MountOptions {
            flags: libc::MS_RDONLY,
            ..Default::default()
        };
        set_flags(&mnt, &ro, false, dest)?;
    }
    Ok(())
}

/// The cgroup view's flags, before the config's read-only.
const VIEW_FLAGS: libc::c_ulong = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;

/// The cgroup view of a v1 or hybrid host, built detached by berth-spawn once it made the
/// container's cgroups, while the init makes its namespaces and first mounts
/// (`process::spawn`); it goes with the go, and the init only attaches it
/// ([`mount_cgroups`]): two syscalls there instead of about ninety. Not read-only yet (the
/// init applies the config's `ro` to the whole tree).
///
/// Its binds are clones of the host's mounts, made in berth-spawn's mount namespace, not the
/// init's: each is made a slave, as the init's own clone of a slave (its namespace is
/// rslave) would be, so that nothing mounted in the container reaches the host.
///
/// Older kernels refuse mounts inside a detached tree (Linux 6.18 allows them). Where
/// this fails, nothing is sent and the init builds the view itself. The view's mounts are
/// older than the root's, so /proc/self/mountinfo may list them before it.
pub(crate) fn view_tree(views: &[CgroupView]) -> Result<OwnedFd, String> {
    let shown = Path::new("/sys/fs/cgroup");
    let mnt = view_tmpfs(shown)?;
    fill_view(&mnt, views, 0, shown)?;
    let slave = libc::mount_attr {
        attr_set: 0,
        attr_clr: 0,
        propagation: libc::MS_SLAVE,
        userns_fd: 0,
    };
    setattr(mnt.as_fd(), true, &slave)
        .map_err(|e| format!("making the cgroup view a slave: {e}"))?;
    Ok(mnt)
}

/// The cgroup view's tmpfs, detached.
fn view_tmpfs(dest: &Path) -> Result<OwnedFd, String> {
    let mut tmpfs = MountOptions {
        flags: VIEW_FLAGS,
        ..Default::default()
    };
    tmpfs.data.push("mode=755".into());
    new_fs("tmpfs", Some("tmpfs"), &tmpfs).map_err(|(_, e)| format!("{e} (on {})", dest.display()))
}

/// Fills the view's tmpfs `mnt` (through its descriptor): a directory and a bind of the
/// container's own cgroup directory per hierarchy, nosuid, nodev, noexec, and `ro` (0 or
/// `MS_RDONLY`); `cpu` and `cpuacct` links for a `cpu,cpuacct` hierarchy, as on the host.
fn fill_view(
    mnt: &OwnedFd,
    views: &[CgroupView],
    ro: libc::c_ulong,
    dest: &Path,
) -> Result<(), String> {
    let flags = MountOptions {
        flags: VIEW_FLAGS | ro,
        ..Default::default()
    };
    for v in views {
        let shown = dest.join(&v.name);
        let mkerr = |e: Errno| format!("creating {}: {e}", shown.display());
        rfs::mkdirat(mnt, v.name.as_str(), Mode::from_raw_mode(0o755)).map_err(mkerr)?;
        if v.host_dir.is_dir() {
            let sub = rfs::openat(
                mnt,
                v.name.as_str(),
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(mkerr)?;
            let tree = clone_path(&v.host_dir, false)?;
            set_flags(&tree, &flags, false, &shown)?;
            attach(&tree, &sub, &shown)?;
        }
        if v.name.contains(',') {
            for part in v.name.split(',') {
                if rfs::statat(mnt, part, AtFlags::SYMLINK_NOFOLLOW).is_err() {
                    let _ = rfs::symlinkat(v.name.as_str(), mnt, part);
                }
            }
        }
    }
    Ok(())
}

/// Makes a whole tree read-only (`mount_setattr` with `AT_RECURSIVE`), nothing else touched.
fn set_ro_recursive(tree: &OwnedFd, shown: &Path) -> Result<(), String> {
    let attr = libc::mount_attr {
        attr_set: libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    setattr(tree.as_fd(), true, &attr)
        .map_err(|e| format!("making the mounts on {} read-only: {e}", shown.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/thread-self/mountinfo`'s lines for mounts at or under `dir`: (mount point
    /// relative to `dir`, mount options, optional fields, filesystem type).
    fn mounts_under(dir: &Path) -> Vec<(String, String, String, String)> {
        let text = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
        let dir = dir.to_str().unwrap();
        text.lines()
            .filter_map(|l| {
                let (left, right) = l.split_once(" - ")?;
                let f: Vec<&str> = left.split(' ').collect();
                let at = f[4].strip_prefix(dir)?;
                let fstype = right.split(' ').next()?;
                Some((
                    at.to_string(),
                    f[5].to_string(),
                    f[6..].join(" "),
                    fstype.to_string(),
                ))
            })
            .collect()
    }

    #[test]
    fn the_view_berth_spawn_builds_holds_slave_binds_and_nothing_goes_back_to_the_host() {
        use nix::mount::{MsFlags, mount};
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let tmp = tmp.path();
        std::thread::scope(|sc| {
            sc.spawn(|| {
                // A mount namespace of this thread's own, gone with it.
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).unwrap();
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .unwrap();
                let tmpfs_on = |dir: &Path| {
                    mount(
                        Some("tmpfs"),
                        dir,
                        Some("tmpfs"),
                        MsFlags::empty(),
                        None::<&str>,
                    )
                    .unwrap()
                };
                // The "host" hierarchies, on a shared mount as systemd makes them.
                let host = tmp.join("host");
                std::fs::create_dir(&host).unwrap();
                tmpfs_on(&host);
                mount(
                    None::<&str>,
                    &host,
                    None::<&str>,
                    MsFlags::MS_SHARED,
                    None::<&str>,
                )
                .unwrap();
                for d in ["cc/ctr/x", "pids/ctr/x"] {
                    std::fs::create_dir_all(host.join(d)).unwrap();
                }
                let views = [
                    CgroupView {
                        name: "cpu,cpuacct".into(),
                        host_dir: host.join("cc/ctr"),
                    },
                    CgroupView {
                        name: "pids".into(),
                        host_dir: host.join("pids/ctr"),
                    },
                    CgroupView {
                        name: "gone".into(),
                        host_dir: host.join("nope"),
                    },
                ];
                let view = match view_tree(&views) {
                    Ok(v) => v,
                    // A kernel that refuses mounts in a detached tree: the init builds the
                    // view itself, and there is nothing to check here.
                    Err(_) => return,
                };
                let at = tmp.join("view");
                std::fs::create_dir(&at).unwrap();
                let target = rfs::open(
                    &at,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .unwrap();
                attach(&view, &target, &at).unwrap();

                let seen = mounts_under(&at);
                let names: Vec<&str> = seen.iter().map(|m| m.0.as_str()).collect();
                assert_eq!(names, ["", "/cpu,cpuacct", "/pids"], "{seen:?}");
                for (at, opts, optional, fstype) in &seen {
                    for flag in ["nosuid", "nodev", "noexec"] {
                        assert!(opts.split(',').any(|o| o == flag), "{at}: {opts}");
                    }
                    // Not read-only yet: the init applies the config's ro.
                    assert!(opts.starts_with("rw"), "{at}: {opts}");
                    // Never a peer of the host's mount: a slave of it, or the tmpfs, private.
                    assert!(!optional.contains("shared:"), "{at}: {optional}");
                    if at.is_empty() {
                        assert_eq!(fstype, "tmpfs");
                    } else {
                        assert!(optional.contains("master:"), "{at}: {optional}");
                    }
                }
                assert!(at.join("gone").is_dir());
                for link in ["cpu", "cpuacct"] {
                    assert_eq!(
                        std::fs::read_link(at.join(link)).unwrap(),
                        Path::new("cpu,cpuacct")
                    );
                }
                // A mount made in the view does not reach the host's directory...
                tmpfs_on(&at.join("pids/x"));
                assert!(mounts_under(&host.join("pids/ctr/x")).is_empty());
                // ...and one the host makes still shows in the view, as in a slave namespace.
                tmpfs_on(&host.join("cc/ctr/x"));
                assert_eq!(mounts_under(&at.join("cpu,cpuacct/x")).len(), 1);
            })
            .join()
            .unwrap();
        });
    }

    const LABEL: &str = "system_u:object_r:container_file_t:s0:c1,c2";

    fn data(typ: &str, options: &[&str], label: Option<&str>) -> Vec<String> {
        let options: Vec<String> = options.iter().map(|s| s.to_string()).collect();
        fs_data(typ, &parse_options(&options).data, label)
    }

    #[test]
    fn a_configs_mount_label_goes_on_in_memory_filesystems() {
        // A hand-written config.json: linux.mountLabel, no context= in the mounts.
        assert_eq!(
            data("tmpfs", &["nosuid", "mode=755", "size=65536k"], Some(LABEL)),
            ["mode=755", "size=65536k", &format!("context={LABEL}")]
        );
        assert_eq!(
            data("devpts", &["newinstance", "ptmxmode=0666"], Some(LABEL)),
            ["newinstance", "ptmxmode=0666", &format!("context={LABEL}")]
        );
        assert_eq!(
            data("tmpfs", &[], Some(LABEL)),
            [format!("context={LABEL}")]
        );
        // Not where runc leaves the kernel's label, or labels mqueue after mounting.
        for typ in ["proc", "sysfs", "cgroup", "cgroup2", "mqueue"] {
            assert_eq!(
                data(typ, &["nosuid"], Some(LABEL)),
                Vec::<String>::new(),
                "{typ}"
            );
        }
        // No label, or an empty one: nothing added.
        assert_eq!(data("tmpfs", &["mode=755"], None), ["mode=755"]);
        assert_eq!(data("tmpfs", &["mode=755"], Some("")), ["mode=755"]);
    }

    #[test]
    fn a_context_in_the_options_wins_and_loses_its_quotes() {
        // berth run's config already carries go-selinux's quoted option (label_mounts).
        let quoted = crate::runtime::lsm::selinux::context_option(LABEL);
        assert_eq!(
            data("tmpfs", &["nosuid", &quoted], Some(LABEL)),
            [format!("context={LABEL}")]
        );
        // The config's own context, also without a mount label; other context keys too.
        assert_eq!(
            data("tmpfs", &["context=\"a:b:c:s0\""], Some(LABEL)),
            ["context=a:b:c:s0"]
        );
        assert_eq!(
            data("tmpfs", &["rootcontext=\"a:b:c:s0:c3,c4\"", "uid=0"], None),
            ["rootcontext=a:b:c:s0:c3,c4", "uid=0"]
        );
        assert_eq!(
            data("tmpfs", &["defcontext=a:b:c:s0"], Some(LABEL)),
            ["defcontext=a:b:c:s0"]
        );
    }
}
