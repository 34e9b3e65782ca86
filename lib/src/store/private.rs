//! State is private to root (issue 12; the CVE-2021-41091 class): the modes of everything
//! berth keeps, in one table, and the one-time tightening of a store made by an older berth.
//!
//! A container's rootfs holds what its image and its processes put there: setuid binaries,
//! device nodes, world-writable directories. Whoever can walk a path to it can run or open
//! them on the host, outside the container's device cgroup, and read the secrets in
//! `config.json`, the record and the logs. So the gates are the top directories, `<root>` and
//! `<run>`, plus every directory that holds one container's or one volume's things:
//!
//! | path | mode | Docker |
//! | --- | --- | --- |
//! | `<root>`, `<run>` | 0700 | `/var/lib/docker` 0710 root:remap-gid |
//! | `containers/`, `containers/<id>/` | 0700 (0710 root:G with a user namespace) | 0710 |
//! | `layers/`, `images/`, `volumes/`, `volumes/<name>/`, ... | 0700 | 0710 / 0700 / 0701 |
//! | `rootfs/`, `upper/`, `_data/` | 0755 (the container's `/`) | `diff/` 0755 |
//! | records, `config.json`, `state.json`, metadata, `events.log` | 0600 | 0600 |
//! | json-file logs | 0640 | 0640 |
//! | hosts, resolv.conf, hostname | 0644 (read inside the container) | 0644 |
//!
//! Docker's root is 0710 with the daemon's one remapped group so that the remapped root can
//! reach its per-remap tree. berth remaps per container (`--userns HOSTID[:SIZE]`), so no
//! shared directory carries a group: a container's init reaches its rootfs and bind sources
//! through descriptors it opens before it becomes the mapped root (`runtime::init::reach`),
//! and only that container's own directory lets its mapped group through
//! ([`let_mapped_group_traverse`]).
//!
//! The gates, each 0700: `<root>`, `<run>`, `containers/` and each `<id>/`, `images/`,
//! `layers/`, `volumes/` and each `<name>/`, `networks/`, `names/`, `locks/`, `tmp/`,
//! `creating/`, `<run>/<id>/`, `<run>/attach/`, `<run>/netns/`. [`crate::store::atomic`]'s
//! writes and [`create_dir_all`]/[`mkdir`] take their modes from here; the monitor (libc
//! only) keeps the log's number itself. Files that are the user's rather than berth's state
//! (`--cidfile`, `--pid-file`, `berth-unpack --to DIR`) keep Docker's and runc's 0644/0755.
//!
//! A store made by an older berth is tightened once ([`secure`], run by every tool): a
//! `<root>` or `<run>` that lets others in gets its known directories and files set by the
//! table (never the content of layers, rootfs or volumes), the top directory last, so an
//! interrupted tightening is done again. A missing `<root>`/`<run>` is made 0700.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{IoContext, IoError};
use crate::paths::Paths;

/// Every directory berth makes for its own state.
pub const DIR: u32 = 0o700;
/// A container directory whose container runs in a user namespace: its mapped root's group
/// may pass through (owner root, group the mapped root's host gid).
pub const MAPPED_DIR: u32 = 0o710;
/// Directories that are a container's own filesystem (rootfs, upper, a volume's `_data`):
/// what the image or Docker says, since non-root users inside must walk them.
pub const CONTENT_DIR: u32 = 0o755;
/// Records, config.json, OCI state, metadata, reservations, locks.
pub const FILE: u32 = 0o600;
/// json-file logs: Docker's `jsonfilelog` mode (the monitor, which links libc only, keeps
/// its own copy of this number).
pub const LOG: u32 = 0o640;
/// Files bind-mounted into a container (hosts, resolv.conf, hostname): any user inside must
/// read them. The container's directory above them is the gate.
pub const MOUNTED: u32 = 0o644;

/// Makes one directory with [`DIR`].
pub fn mkdir(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new().mode(DIR).create(path)
}

/// Makes one directory with exactly `mode` (not filtered by the umask).
pub fn mkdir_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().mode(mode).create(path)?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// `mkdir -p` where every directory made is [`DIR`]; existing ones are left as they are.
pub fn create_dir_all(path: &Path) -> Result<(), IoError> {
    if path.as_os_str().is_empty() || path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        create_dir_all(parent)?;
    }
    match mkdir(path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        r => r.with_path("create directory", path),
    }
}

/// Sets the mode of `path` (not following a final symlink's target: a symlink is left alone).
fn chmod(path: &Path, mode: u32) {
    if fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_symlink()) {
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(mode));
    }
}

/// Called once per tool run (`berth_cli::main`): creates `<root>` and `<run>` private if they are
/// missing, and tightens a store an older berth left open (its top directory let others in).
/// The usual case costs two `stat`s; the top directory is tightened last, so an interrupted
/// tightening is done again next time.
pub fn secure(paths: &Paths) -> Result<(), IoError> {
    secure_top(&paths.root, || tighten_root(paths))?;
    secure_top(&paths.run, || tighten_run(&paths.run))
}

fn secure_top(top: &Path, tighten: impl FnOnce()) -> Result<(), IoError> {
    if top.parent().is_none() {
        // `/` is nobody's state directory.
        return Ok(());
    }
    match fs::metadata(top) {
        Ok(m) if m.mode() & 0o077 == 0 => Ok(()),
        Ok(_) => {
            tighten();
            fs::set_permissions(top, fs::Permissions::from_mode(DIR)).with_path("chmod", top)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = top.parent() {
                // Above the state directory: ordinary system directories (/var/lib, /run).
                fs::create_dir_all(parent).with_path("create directory", parent)?;
            }
            match mkdir(top) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                r => r.with_path("create directory", top),
            }
        }
        Err(e) => Err(e).with_path("stat", top),
    }
}

/// The directories under `<root>` that hold only berth's own state, each a gate.
fn state_dirs(paths: &Paths) -> Vec<std::path::PathBuf> {
    let layers = paths.layers();
    let mut v = vec![
        paths.containers(),
        paths.images(),
        layers.parent().map(Path::to_path_buf).unwrap_or_default(),
        layers,
        paths.layer_links(),
        paths.volumes(),
        paths.networks(),
        paths.names(),
        paths.locks(),
        paths.tmp(),
        paths.creating(),
    ];
    v.retain(|p| !p.as_os_str().is_empty());
    v
}

/// Tightens what an older berth made (0755 directories, 0644 records and logs). Only the
/// known places, never the content of layers or rootfs trees.
fn tighten_root(paths: &Paths) {
    for d in state_dirs(paths) {
        chmod(&d, DIR);
    }
    let log = paths.events_log();
    chmod(&log, FILE);
    chmod(&log.with_extension("log.1"), FILE);
    for id in names_in(&paths.containers()) {
        tighten_container(paths, &id);
    }
    for name in names_in(&paths.volumes()) {
        let dir = paths.volume(&name);
        chmod(&dir, DIR);
        chmod(&paths.volume_meta(&name), FILE);
        chmod(&dir.join(".lock"), FILE);
    }
}

fn tighten_container(paths: &Paths, id: &str) {
    let dir = paths.container(id);
    let Ok(m) = fs::symlink_metadata(&dir) else {
        return;
    };
    if !m.is_dir() {
        return;
    }
    // A directory already opened to its container's mapped group keeps that group's pass.
    chmod(&dir, if m.gid() == 0 { DIR } else { MAPPED_DIR });
    chmod(&paths.record(id), FILE);
    chmod(&crate::ocispec::config_path(&dir), FILE);
    chmod(&dir.join(".config.lock"), FILE);
    let log = paths.log(id);
    let log_name = log.file_name().map(|n| n.to_string_lossy().into_owned());
    for name in names_in(&dir) {
        if log_name.as_deref().is_some_and(|l| name.starts_with(l)) {
            chmod(&dir.join(&name), LOG);
        }
    }
}

/// `<run>`: every container's runtime directory, the attach sockets and the netns mounts.
fn tighten_run(run: &Path) {
    for name in names_in(run) {
        let dir = run.join(&name);
        if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            continue;
        }
        chmod(&dir, DIR);
        chmod(&dir.join("state.json"), FILE);
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Lets a container's mapped root (its host gid `gid`) traverse `dir`, the directory holding
/// its rootfs, which its init walks into after it has become the mapped root: the group
/// becomes `gid` and gains search permission (Docker's 0710 root:remap-gid, for this
/// container only). Only a root-owned directory shaped by berth (0700, or 0710 for an earlier
/// map) is changed, so nobody else loses access; one others may already pass is left alone.
pub fn let_mapped_group_traverse(dir: &Path, gid: u32) -> Result<(), IoError> {
    let m = fs::metadata(dir).with_path("stat", dir)?;
    let mode = m.mode() & 0o7777;
    let passes = mode & 0o001 != 0 || (m.gid() == gid && mode & 0o010 != 0);
    let ours = m.uid() == 0 && (mode & 0o077 == 0 || mode == MAPPED_DIR);
    if passes || !ours {
        return Ok(());
    }
    nix::unistd::chown(dir, None, Some(nix::unistd::Gid::from_raw(gid))).with_path("chown", dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(MAPPED_DIR)).with_path("chmod", dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Lock, atomic};

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    fn set(p: &Path, m: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
    }

    #[test]
    fn what_berth_writes_is_private_unless_a_container_reads_it() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths::new(d.path().join("root"), d.path().join("run"));
        secure(&paths).unwrap();
        assert_eq!(mode(&paths.root), DIR);
        assert_eq!(mode(&paths.run), DIR);
        let rec = paths.record("c1");
        atomic::write_json_volatile(&rec, &serde_json::json!({"env": ["DB_PASSWORD=x"]})).unwrap();
        assert_eq!(mode(&rec), FILE);
        assert_eq!(mode(&paths.containers()), DIR);
        assert_eq!(mode(&paths.container("c1")), DIR);
        atomic::write(&paths.networks().join("default.json"), b"{}").unwrap();
        assert_eq!(mode(&paths.networks()), DIR);
        assert_eq!(mode(&paths.networks().join("default.json")), FILE);
        assert!(atomic::create_exclusive_volatile(&paths.names().join("web"), b"c1").unwrap());
        assert_eq!(mode(&paths.names().join("web")), FILE);
        let hosts = paths.container("c1").join("hosts");
        atomic::write_volatile_mode(&hosts, b"127.0.0.1 localhost\n", MOUNTED).unwrap();
        assert_eq!(mode(&hosts), MOUNTED);
        let lock = Lock::exclusive(&paths.locks().join("volumes")).unwrap();
        assert_eq!(mode(lock.path()), FILE);
        assert_eq!(mode(&paths.locks()), DIR);
        let data = d.path().join("_data");
        mkdir_mode(&data, CONTENT_DIR).unwrap();
        assert_eq!(mode(&data), CONTENT_DIR);
    }

    /// What berth before issue 12 left: everything open to others.
    fn old_store(paths: &Paths) {
        let id = "c1";
        for dir in [
            paths.container(id).join("rootfs"),
            paths.layers().join("abc/diff"),
            paths.images().join("blobs/sha256"),
            paths.volume_data("v1"),
            paths.run_container(id),
            paths.netns_dir(),
        ] {
            fs::create_dir_all(&dir).unwrap();
        }
        for f in [
            paths.record(id),
            crate::ocispec::config_path(&paths.container(id)),
            paths.log(id),
            paths.container(id).join(format!("{id}-json.log.1")),
            paths.container(id).join("hosts"),
            paths.volume_meta("v1"),
            paths.run_container(id).join("state.json"),
        ] {
            fs::write(&f, b"DB_PASSWORD=secret").unwrap();
            set(&f, 0o644);
        }
        set(&paths.root, 0o755);
        set(&paths.run, 0o755);
        set(&paths.container(id), 0o711);
        set(&paths.volumes(), 0o701);
    }

    #[test]
    fn a_store_left_open_is_tightened_once() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths::new(d.path().join("root"), d.path().join("run"));
        fs::create_dir_all(&paths.root).unwrap();
        fs::create_dir_all(&paths.run).unwrap();
        old_store(&paths);
        secure(&paths).unwrap();
        let id = "c1";
        for dir in [
            paths.root.clone(),
            paths.containers(),
            paths.container(id),
            paths.images(),
            paths.layers().parent().unwrap().to_path_buf(),
            paths.layers(),
            paths.volumes(),
            paths.volume("v1"),
            paths.run.clone(),
            paths.run_container(id),
            paths.netns_dir(),
        ] {
            assert_eq!(mode(&dir), DIR, "{}", dir.display());
        }
        for f in [
            paths.record(id),
            crate::ocispec::config_path(&paths.container(id)),
            paths.volume_meta("v1"),
            paths.run_container(id).join("state.json"),
        ] {
            assert_eq!(mode(&f), FILE, "{}", f.display());
        }
        assert_eq!(mode(&paths.log(id)), LOG);
        assert_eq!(
            mode(&paths.container(id).join(format!("{id}-json.log.1"))),
            LOG
        );
        // What a container sees stays as it was: the gates are above it.
        assert_eq!(mode(&paths.container(id).join("hosts")), 0o644);
        assert_eq!(mode(&paths.container(id).join("rootfs")), 0o755);
        assert_eq!(mode(&paths.volume_data("v1")), 0o755);
        assert_eq!(mode(&paths.layers().join("abc/diff")), 0o755);
        // Once: with the top private, nothing below is looked at again.
        set(&paths.record(id), 0o644);
        secure(&paths).unwrap();
        assert_eq!(mode(&paths.record(id)), 0o644);
    }

    #[test]
    fn only_a_mapped_containers_own_dir_lets_its_group_through() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let bundle = d.path().join("c1");
        mkdir(&bundle).unwrap();
        let_mapped_group_traverse(&bundle, 100_000).unwrap();
        let m = fs::metadata(&bundle).unwrap();
        assert_eq!((m.gid(), m.mode() & 0o7777), (100_000, MAPPED_DIR));
        // Another map on the next start: the group follows it.
        let_mapped_group_traverse(&bundle, 200_000).unwrap();
        assert_eq!(fs::metadata(&bundle).unwrap().gid(), 200_000);
        // The tightening keeps the pass of a mapped container's directory.
        let paths = Paths::new(d.path().join("root"), d.path().join("run"));
        fs::create_dir_all(paths.containers()).unwrap();
        set(&paths.root, 0o755);
        fs::rename(&bundle, paths.container("c1")).unwrap();
        secure(&paths).unwrap();
        assert_eq!(mode(&paths.container("c1")), MAPPED_DIR);
        // Not berth's shape: a directory others may enter, or one a group uses, is left alone.
        let open = d.path().join("open");
        mkdir_mode(&open, 0o755).unwrap();
        let_mapped_group_traverse(&open, 100_000).unwrap();
        assert_eq!(fs::metadata(&open).unwrap().gid(), 0);
        let shared = d.path().join("shared");
        mkdir_mode(&shared, 0o750).unwrap();
        let_mapped_group_traverse(&shared, 100_000).unwrap();
        assert_eq!(mode(&shared), 0o750);
    }
}
