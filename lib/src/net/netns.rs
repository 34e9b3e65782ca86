//! Network namespaces bind-mounted at `<run>/netns/<id>`, as `ip netns` does with /run/netns,
//! so that berth-spawn (and `nsenter --net=PATH`) can join them and the namespace outlives
//! any process.
//!
//! `unshare(CLONE_NEWNET)` and `setns` change the calling *thread* only, so the namespace is
//! made on a short-lived helper thread: the main thread of the tool never leaves the host's
//! namespace. That thread also gives the new namespace Docker's network sysctls and brings
//! its loopback up. A namespace is made before its container's id is known ([`Fresh`], held
//! by descriptors only) and bound to `<run>/netns/<id>` once the record's journal names it.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

use super::error::NetError;
use super::netlink::Netlink;
use crate::error::{IoContext, IoError};

/// A new network namespace, not yet bound to a path: Docker's sysctls written, loopback up,
/// and a netlink socket inside it. Only these descriptors hold it, so until [`Fresh::bind`]
/// mounts it at its path it vanishes with the process (a kill -9 leaves nothing), which is
/// what lets berth-netns make it while it still waits for its record.
pub struct Fresh {
    pub ns: OwnedFd,
    /// A socket in the namespace, for its interfaces.
    pub inner: Netlink,
}

impl Fresh {
    /// Makes the namespace on a short-lived helper thread (the calling thread never leaves
    /// the host's namespace).
    pub fn make() -> Result<Fresh, NetError> {
        Fresh::start().join().unwrap_or_else(|_| {
            Err(NetError::Io(IoError {
                op: "create network namespace",
                path: PathBuf::new(),
                source: io::Error::other("helper thread panicked"),
            }))
        })
    }

    /// Starts making the namespace on a helper thread of its own and returns at once; `join`
    /// the handle for the namespace.
    pub fn start() -> std::thread::JoinHandle<Result<Fresh, NetError>> {
        std::thread::spawn(Fresh::make_on_this_thread)
    }

    /// Moves the calling thread into a new namespace and makes it ready: only for a thread
    /// that ends afterwards ([`Fresh::start`]'s).
    fn make_on_this_thread() -> Result<Fresh, NetError> {
        let me = Path::new("/proc/thread-self/ns/net");
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)
            .with_path("unshare a network namespace as", me)?;
        docker_sysctls()?;
        let ns: OwnedFd = File::open(me).with_path("open", me)?.into();
        let mut inner = Netlink::open().map_err(NetError::netlink("open in namespace"))?;
        inner.set_up(1).map_err(NetError::netlink("set lo up"))?;
        Ok(Fresh { ns, inner })
    }

    /// Bind-mounts the namespace at `path` (as `ip netns` does under /run/netns), so that
    /// berth-spawn (and `nsenter --net=PATH`) can join it and it outlives the process.
    pub fn bind(&self, path: &Path) -> Result<(), IoError> {
        if let Some(dir) = path.parent() {
            crate::store::private::create_dir_all(dir)?;
        }
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_path("create", path)?;
        let source = format!("/proc/self/fd/{}", self.ns.as_raw_fd());
        let bound = nix::mount::mount(
            Some(source.as_str()),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_path("bind-mount network namespace on", path);
        if bound.is_err() {
            let _ = fs::remove_file(path);
        }
        bound
    }
}

/// A new network namespace (Docker's sysctls, loopback up) bind-mounted at `path`, and a
/// descriptor on it.
pub fn create(path: &Path) -> Result<OwnedFd, NetError> {
    let fresh = Fresh::make()?;
    fresh.bind(path)?;
    Ok(fresh.ns)
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
