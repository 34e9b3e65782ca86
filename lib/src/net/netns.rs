//! Network namespaces bind-mounted at `<run>/netns/<id>`, as `ip netns` does with /run/netns,
//! so that berth-spawn (and `nsenter --net=PATH`) can join them and the namespace outlives
//! any process.
//!
//! `unshare(CLONE_NEWNET)` and `setns` change the calling *thread* only, so the namespace is
//! made on a short-lived helper thread: the main thread of the tool never leaves the host's
//! namespace. That thread also gives the new namespace Docker's network sysctls.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use crate::error::{IoContext, IoError};

/// Creates a new network namespace bind-mounted at `path` and returns an fd on it.
pub fn create(path: &Path) -> Result<OwnedFd, IoError> {
    if let Some(dir) = path.parent() {
        crate::store::private::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_path("create", path)?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> Result<(), IoError> {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)
            .with_path("unshare network namespace for", &target)?;
        docker_sysctls()?;
        nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_path("bind-mount network namespace on", &target)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(IoError {
            op: "create network namespace",
            path: path.to_path_buf(),
            source: io::Error::other("helper thread panicked"),
        })
    });
    if let Err(e) = made {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    open(path)
}

/// Docker's sysctls for a network namespace of the container's own
/// (`bundle::defaults::NETWORK_SYSCTLS`: unprivileged users may bind low ports and ping),
/// written here, as the host's root, from the helper thread that is in the new namespace:
/// a `/proc/sys/net` file acts on the namespace of the thread that opens it. The container's
/// init could not write them with `--userns`: its mapped root is not root in the user
/// namespace that owns this network namespace (the host's). Docker gets the same with
/// userns-remap by having runc make the namespace inside the container's user namespace.
/// The user's own `--sysctl`s stay in config.json and are written later, by the init.
fn docker_sysctls() -> Result<(), IoError> {
    for (key, value) in crate::bundle::defaults::NETWORK_SYSCTLS {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        fs::write(&path, value).with_path("write", &path)?;
    }
    Ok(())
}

/// Writes the sysctl `key` (like `net.ipv6.conf.eth0.disable_ipv6`) to `value` inside the
/// namespace `ns`, from a helper thread that joins it (a `/proc/sys/net` file acts on the
/// namespace of the thread that opens it). Gone with the namespace.
pub fn write_sysctl_in(ns: &OwnedFd, key: &str, value: &str) -> Result<(), IoError> {
    let path = Path::new("/proc/sys").join(key.replace('.', "/"));
    std::thread::scope(|s| {
        s.spawn(|| -> Result<(), IoError> {
            nix::sched::setns(ns, CloneFlags::CLONE_NEWNET)
                .map_err(io::Error::from)
                .with_path("enter network namespace for", &path)?;
            fs::write(&path, value).with_path("write", &path)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(IoError {
                op: "write",
                path: path.clone(),
                source: io::Error::other("helper thread panicked"),
            })
        })
    })
}

/// Opens a bind-mounted namespace.
pub fn open(path: &Path) -> Result<OwnedFd, IoError> {
    Ok(File::open(path)
        .with_path("open network namespace", path)?
        .into())
}

/// True if `path` is a mounted namespace (not just the empty file under it).
pub fn is_mounted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (Ok(file), Some(parent)) = (fs::metadata(path), path.parent()) else {
        return false;
    };
    fs::metadata(parent).is_ok_and(|d| d.dev() != file.dev())
}

/// Unmounts and deletes a namespace mount. Idempotent.
pub fn remove(path: &Path) -> Result<(), IoError> {
    // Repeat: the same path may have been mounted more than once by an interrupted set-up.
    for _ in 0..8 {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => return Err(e).with_path("unmount network namespace", path),
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_path("remove", path),
    }
}
