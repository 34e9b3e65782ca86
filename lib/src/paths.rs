//! Where berth keeps things (DESIGN.md, "State on disk").
//!
//! Every path any tool uses is derived here from the two roots, so the layout is written down
//! once and tests that point the roots at temporary directories never see each other.

use std::path::{Path, PathBuf};

pub const DEFAULT_ROOT: &str = "/var/lib/berth";
pub const DEFAULT_RUN_ROOT: &str = "/run/berth";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Persistent state: images, layers, containers, volumes, networks.
    pub root: PathBuf,
    /// Runtime state that dies with the machine: OCI state, monitor pids, netns mounts.
    pub run: PathBuf,
}

impl Paths {
    pub fn new(root: impl Into<PathBuf>, run: impl Into<PathBuf>) -> Self {
        Paths {
            root: root.into(),
            run: run.into(),
        }
    }

    /// `<root>/images`: an OCI image layout.
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    /// `<root>/layers/sha256`: each layer unpacked once, keyed by diff id.
    pub fn layers(&self) -> PathBuf {
        self.root.join("layers").join("sha256")
    }
    /// `<root>/layers/sha256/<hex>` for a diff id `sha256:<hex>`.
    pub fn layer(&self, diff_id: &str) -> PathBuf {
        self.layers().join(digest_hex(diff_id))
    }
    /// `<root>/layers/l`: 26-character links to layer dirs, so legacy overlay mounts fit in
    /// one page (see `layer` and `bundle::overlay`).
    pub fn layer_links(&self) -> PathBuf {
        self.root.join("layers").join("l")
    }
    /// `<root>/locks/layers/<hex>`: a layer's lock (exclusive to unpack or delete it, shared
    /// while a container is being created on it).
    pub fn layer_lock(&self, diff_id: &str) -> PathBuf {
        self.locks().join("layers").join(digest_hex(diff_id))
    }
    /// `<root>/containers`.
    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }
    /// `<root>/containers/<id>`: bundle, record, logs, hosts, resolv.conf, hostname.
    pub fn container(&self, id: &str) -> PathBuf {
        self.containers().join(id)
    }
    /// `<root>/containers/<id>/record.json`: the container record.
    pub fn record(&self, id: &str) -> PathBuf {
        self.container(id).join("record.json")
    }
    /// `<root>/containers/<id>/<id>-json.log`: Docker's json-file log; rotated copies are
    /// `<id>-json.log.1`, `.2`, ... (newest first).
    pub fn log(&self, id: &str) -> PathBuf {
        self.container(id).join(format!("{id}-json.log"))
    }
    /// `<root>/names`: one file per container name, holding the id (atomic reservation).
    pub fn names(&self) -> PathBuf {
        self.root.join("names")
    }
    /// `<root>/volumes`.
    pub fn volumes(&self) -> PathBuf {
        self.root.join("volumes")
    }
    /// `<root>/volumes/<name>`; the data is in `_data` beneath it.
    pub fn volume(&self, name: &str) -> PathBuf {
        self.volumes().join(name)
    }
    /// `<root>/volumes/<name>/_data`: what containers mount.
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volume(name).join("_data")
    }
    /// `<root>/volumes/<name>/volume.json`: the volume's metadata (created, labels, ...).
    pub fn volume_meta(&self, name: &str) -> PathBuf {
        self.volume(name).join("volume.json")
    }
    /// `<root>/locks/volumes`: shared by stages that mount volumes, exclusive for removal.
    pub fn volumes_lock(&self) -> PathBuf {
        self.locks().join("volumes")
    }
    /// `<root>/networks`: network configs and IP allocations.
    pub fn networks(&self) -> PathBuf {
        self.root.join("networks")
    }
    /// `<root>/events.log`: the event log (`events::log`; `events.log.1` is its older half).
    pub fn events_log(&self) -> PathBuf {
        self.root.join("events.log")
    }
    /// `<root>/locks`: lock files for stores whose own layout has no room for them.
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    /// `<root>/tmp`: staging area on the same filesystem as the stores, so renames are atomic.
    /// Anything here older than the process that made it is garbage.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// `<root>/build/cache`: the build cache, one `<key>.json` per step (build::cache).
    pub fn build_cache(&self) -> PathBuf {
        self.root.join("build").join("cache")
    }
    /// `<root>/build/mounts`: `RUN --mount=type=cache` directories, one per cache id.
    pub fn build_mounts(&self) -> PathBuf {
        self.root.join("build").join("mounts")
    }
    /// `<root>/build/sums.json`: content checksums of build contexts' files, by
    /// path+size+mtime+inode (build::context).
    pub fn build_sums(&self) -> PathBuf {
        self.root.join("build").join("sums.json")
    }
    /// `<root>/creating`: one empty file `<pid>-<start>` per berth run still making its
    /// container (berth::container::undo): one whose process is gone left a half-made one.
    pub fn creating(&self) -> PathBuf {
        self.root.join("creating")
    }
    /// `<run>/<id>`: OCI state, the monitor pid, the exit status.
    pub fn run_container(&self, id: &str) -> PathBuf {
        self.run.join(id)
    }
    /// `<run>/attach/<id>`: the monitor's attach socket (kept short: a socket path holds at
    /// most 107 bytes).
    pub fn attach_socket(&self, id: &str) -> PathBuf {
        self.run.join("attach").join(id)
    }
    /// `<run>/netns`: bind-mounted network namespaces.
    pub fn netns_dir(&self) -> PathBuf {
        self.run.join("netns")
    }
    /// `<run>/netns/<id>`.
    pub fn netns(&self, id: &str) -> PathBuf {
        self.netns_dir().join(id)
    }
}

/// The hex part of `algo:hex`; a bare hex string is returned unchanged.
/// Where a sibling tool lives: next to the running executable (the installed file, not a
/// sealed copy of it: `runtime::exeseal`) if it is there, else on PATH.
pub fn tool_path(tool: &str) -> PathBuf {
    crate::runtime::exeseal::original_exe()
        .and_then(|exe| exe.parent().map(|d| d.join(tool)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(tool))
}

pub fn digest_hex(digest: &str) -> &str {
    digest.split_once(':').map_or(digest, |(_, h)| h)
}

/// Joins `rel` under `base`, refusing anything that is not a plain relative path. For names
/// that come from users or documents (volume names, digests), never for tar entries: those go
/// through the layer unpacker's in-root resolution.
pub fn join_plain(base: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let plain = !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    plain.then(|| base.join(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_design() {
        let p = Paths::new("/r", "/run/b");
        assert_eq!(p.images(), Path::new("/r/images"));
        assert_eq!(p.layer("sha256:abc"), Path::new("/r/layers/sha256/abc"));
        assert_eq!(p.record("x"), Path::new("/r/containers/x/record.json"));
        assert_eq!(p.netns("x"), Path::new("/run/b/netns/x"));
    }

    #[test]
    fn join_plain_refuses_escapes() {
        let b = Path::new("/base");
        assert_eq!(join_plain(b, "v1"), Some(PathBuf::from("/base/v1")));
        assert_eq!(join_plain(b, "../x"), None);
        assert_eq!(join_plain(b, "/etc"), None);
        assert_eq!(join_plain(b, ""), None);
        assert!(join_plain(b, "a/./b").is_some());
    }
}
