//! The volume store: `<root>/volumes/<name>/{_data,volume.json}`.
//!
//! A volume appears whole or not at all: it is built in a staging directory beside the others
//! (`.tmp-<pid>-...`, collected when its process is gone) and renamed into place; a removal
//! renames it away first, then deletes. Which containers use a volume is never stored: it is
//! read from the container records (see the module docs of [`crate::volume`]).

use std::collections::BTreeMap;
use std::fs;
use std::io;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{IoContext, IoError};
use crate::paths::Paths;
use crate::protocol::{MountKind, PROTOCOL_VERSION};
use crate::state::{Containers, ids};
use crate::store::{Lock, atomic, private};
use crate::volume::spec::valid_volume_name;
use crate::volume::{Result, VolumeError};

/// The label Docker (23+) puts on anonymous volumes.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// `volume.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub berth: u32,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[serde(default = "local")]
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (`-v /path`, image VOLUME): `rm -v` may remove it.
    #[serde(default)]
    pub anonymous: bool,
}

fn local() -> String {
    "local".into()
}

/// A container that uses a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
}

impl std::fmt::Display for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.name.is_empty() {
            f.write_str(ids::short(&self.id))
        } else {
            write!(f, "{} ({})", self.name, ids::short(&self.id))
        }
    }
}

/// Volume name -> the containers whose records mount it.
#[derive(Debug, Clone, Default)]
pub struct Usage(pub BTreeMap<String, Vec<User>>);

impl Usage {
    /// The users of `name` other than `except` (a container id).
    pub fn users(&self, name: &str, except: Option<&str>) -> Vec<User> {
        self.0
            .get(name)
            .map(|u| {
                u.iter()
                    .filter(|u| Some(u.id.as_str()) != except)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Joins users for a message: `web (4f3a..), db (9c1e..)`.
pub fn list_users(users: &[User]) -> String {
    users
        .iter()
        .map(User::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Handle on `<root>/volumes`.
#[derive(Debug, Clone)]
pub struct Volumes {
    paths: Paths,
}

impl Volumes {
    pub fn new(paths: &Paths) -> Self {
        Volumes {
            paths: paths.clone(),
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The lock a stage holds (shared) from finding or creating a volume until its record is
    /// saved.
    pub fn lock_shared(&self) -> Result<Lock> {
        Ok(Lock::shared(&self.paths.volumes_lock())?)
    }

    /// The lock removals hold (exclusive) while they scan usage and delete.
    pub fn lock_exclusive(&self) -> Result<Lock> {
        Ok(Lock::exclusive(&self.paths.volumes_lock())?)
    }

    fn check_name(name: &str) -> Result<()> {
        if valid_volume_name(name) {
            Ok(())
        } else {
            Err(VolumeError::InvalidName(name.to_string()))
        }
    }

    /// The volume `name`.
    pub fn get(&self, name: &str) -> Result<VolumeMeta> {
        if !valid_volume_name(name) {
            return Err(VolumeError::NoSuchVolume(name.to_string()));
        }
        let p = self.paths.volume_meta(name);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                IoError {
                    op: "decode",
                    path: p,
                    source: io::Error::new(io::ErrorKind::InvalidData, e),
                }
                .into()
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(VolumeError::NoSuchVolume(name.to_string()))
            }
            Err(e) => Err(IoError {
                op: "read",
                path: p,
                source: e,
            }
            .into()),
        }
    }

    /// Creates the volume `name` (a new 64-hex anonymous one when `None`), or returns the
    /// existing one, as `docker volume create` does. The bool says whether it was made now.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: &[(String, String)],
    ) -> Result<(VolumeMeta, bool)> {
        self.create_with(name, labels, |_, _| Ok(()))
    }

    /// As [`create`](Self::create); a volume made now is first filled by `fill(data dir,
    /// name)` while it is still staged, so it appears with its content or not at all (a
    /// seeding killed half-way leaves only a staging directory, collected later).
    pub fn create_with(
        &self,
        name: Option<&str>,
        labels: &[(String, String)],
        fill: impl FnOnce(&std::path::Path, &str) -> Result<()>,
    ) -> Result<(VolumeMeta, bool)> {
        let anonymous = name.is_none();
        let name = match name {
            Some(n) => {
                Self::check_name(n)?;
                n.to_string()
            }
            None => ids::new_id(),
        };
        match self.get(&name) {
            Ok(v) => return Ok((v, false)),
            Err(VolumeError::NoSuchVolume(_)) => {}
            Err(e) => return Err(e),
        }
        let mut meta = VolumeMeta {
            berth: PROTOCOL_VERSION,
            name: name.clone(),
            created_at: Utc::now(),
            driver: local(),
            labels: labels.iter().cloned().collect(),
            options: BTreeMap::new(),
            anonymous,
        };
        if anonymous {
            meta.labels.insert(ANONYMOUS_LABEL.into(), String::new());
        }
        // Private, down to each volume's directory: `_data` holds what containers wrote,
        // setuid binaries and device nodes included (store::private). Docker's volumes
        // directory is 0701 under a 0710 root; berth's root lets nobody in, and neither do
        // these.
        let root = self.paths.volumes();
        private::create_dir_all(&root)?;
        let dir = self.paths.volume(&name);
        let staging = atomic::temp_path_for(&dir);
        let build = || -> Result<()> {
            private::mkdir(&staging).with_path("create directory", &staging)?;
            let data = staging.join("_data");
            private::mkdir_mode(&data, private::CONTENT_DIR)
                .with_path("create directory", &data)?;
            fill(&data, &name)?;
            atomic::write_json(&staging.join("volume.json"), &meta)?;
            Ok(())
        };
        if let Err(e) = build() {
            let _ = fs::remove_dir_all(&staging);
            return Err(e);
        }
        match fs::rename(&staging, &dir) {
            Ok(()) => {
                atomic::sync_dir(&root)?;
                crate::events::volume(&self.paths.root, &name, "create", &[]);
                Ok((meta, true))
            }
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) => {
                // Someone else made it first: theirs is the volume.
                let _ = fs::remove_dir_all(&staging);
                meta = self.get(&name)?;
                Ok((meta, false))
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&staging);
                Err(IoError {
                    op: "rename into place",
                    path: dir,
                    source: e,
                }
                .into())
            }
        }
    }

    /// Every volume, sorted by name. Unreadable metadata is skipped with a warning.
    pub fn list(&self) -> Result<Vec<VolumeMeta>> {
        let dir = self.paths.volumes();
        let entries = crate::store::list_dir(&dir)?;
        let mut out = Vec::new();
        for e in entries {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !valid_volume_name(&name) {
                continue;
            }
            match self.get(&name) {
                Ok(v) => out.push(v),
                Err(VolumeError::NoSuchVolume(_)) => {}
                Err(e) => log::warn!("skipping volume {name}: {e}"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Which containers use which volumes, from one scan of the records.
    pub fn usage(&self) -> Result<Usage> {
        let containers = Containers::new(&self.paths);
        let mut usage = Usage::default();
        for id in containers.list_ids()? {
            let r = match containers.load(&id) {
                Ok(r) => r,
                // A directory without a record is a create in progress, before any mounts.
                Err(crate::state::StateError::NoSuchContainer(_)) => continue,
                Err(e) => {
                    log::warn!("skipping container {id}: {e}");
                    continue;
                }
            };
            for m in r.mounts.iter().flatten() {
                if let (MountKind::Volume, Some(n)) = (m.kind, &m.name) {
                    let users = usage.0.entry(n.clone()).or_default();
                    if !users.iter().any(|u| u.id == r.id) {
                        users.push(User {
                            id: r.id.clone(),
                            name: r.name.clone(),
                        });
                    }
                }
            }
        }
        Ok(usage)
    }

    /// Deletes a volume's directory (rename away, then delete). Missing is fine.
    pub fn delete(&self, name: &str) -> Result<()> {
        Self::check_name(name)?;
        let dir = self.paths.volume(name);
        let doomed = atomic::temp_path_for(&dir);
        match fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(IoError {
                    op: "remove",
                    path: dir,
                    source: e,
                }
                .into());
            }
        }
        // std's remove_dir_all never follows symlinks (CVE-2022-21658), so whatever a
        // container left in the volume cannot point the deletion elsewhere.
        // Gone from every listing from here on: the volume is destroyed.
        crate::events::volume(&self.paths.root, name, "destroy", &[]);
        fs::remove_dir_all(&doomed).with_path("remove", &doomed)?;
        Ok(())
    }

    /// `volume rm [-f]`: refuses a volume any container uses unless `force`, and then returns
    /// the containers that used it (for the warning).
    pub fn remove(&self, name: &str, force: bool) -> Result<Vec<User>> {
        let _l = self.lock_exclusive()?;
        self.get(name)?;
        let users = self.usage()?.users(name, None);
        if !users.is_empty() && !force {
            return Err(VolumeError::InUse {
                name: name.to_string(),
                users: list_users(&users),
            });
        }
        self.delete(name)?;
        Ok(users)
    }

    /// `volume prune`: removes the volumes no container references and that `keep` does not
    /// exclude. Returns the names removed and the bytes reclaimed.
    pub fn prune(&self, keep: impl Fn(&VolumeMeta) -> bool) -> Result<(Vec<String>, u64)> {
        let _l = self.lock_exclusive()?;
        let usage = self.usage()?;
        let mut removed = Vec::new();
        let mut bytes = 0;
        for v in self.list()? {
            if usage.0.contains_key(&v.name) || keep(&v) {
                continue;
            }
            let size = disk_usage(&self.paths.volume_data(&v.name));
            self.delete(&v.name)?;
            bytes += size;
            removed.push(v.name);
        }
        Ok((removed, bytes))
    }

    /// Docker's `volume prune [-a] [--filter]`: the anonymous volumes no container uses (Docker
    /// 23+), named ones too with `all` or the filter `all=true`, that pass the `label` /
    /// `label!` filters. Returns the names removed and the bytes reclaimed.
    pub fn prune_filtered(&self, all: bool, filter: &[String]) -> Result<(Vec<String>, u64)> {
        let f = super::view::Filter::parse(filter, &["label", "all"])?;
        if all && f.all().is_some() {
            return Err(VolumeError::BadSpec(
                "conflicting options: cannot specify both --all and --filter all=true".into(),
            ));
        }
        let all = all || f.all() == Some(true);
        let empty = Default::default();
        self.prune(|v| !(all || v.anonymous) || !f.matches(v, &empty))
    }

    /// Held while a volume that already exists is seeded in place, so two stages do not copy
    /// into it at once.
    pub fn lock_one(&self, name: &str) -> Result<Lock> {
        Ok(Lock::exclusive(&self.paths.volume(name).join(".lock"))?)
    }

    /// Leftovers of interrupted creates and removals.
    pub fn collect_garbage(&self) -> usize {
        atomic::collect_garbage(&self.paths.volumes())
    }
}

/// Bytes used by the files under `dir`, each inode counted once (Docker's `directory.Size`).
pub fn disk_usage(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| !m.is_dir() && (m.nlink() < 2 || seen.insert((m.dev(), m.ino()))))
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Code, Coded};
    use crate::protocol::{MountEntry, Record};

    fn store() -> (tempfile::TempDir, Volumes) {
        let d = tempfile::tempdir().unwrap();
        let v = Volumes::new(&Paths::new(d.path().join("r"), d.path().join("run")));
        (d, v)
    }

    fn use_volume(v: &Volumes, name: &str, vol: &str) -> String {
        let c = Containers::new(v.paths());
        let (id, name) = c.create(Some(name)).unwrap();
        let mut r = Record::new();
        r.id = id.clone();
        r.name = name;
        r.mounts = Some(vec![MountEntry {
            kind: MountKind::Volume,
            name: Some(vol.into()),
            destination: "/data".into(),
            ..Default::default()
        }]);
        c.save(&r).unwrap();
        id
    }

    #[test]
    fn create_is_idempotent_and_anonymous_names_are_hex() {
        let (_d, v) = store();
        let (a, made) = v.create(Some("data"), &[("k".into(), "v".into())]).unwrap();
        assert!(made && !a.anonymous);
        assert!(v.paths().volume_data("data").is_dir());
        let (b, made) = v.create(Some("data"), &[]).unwrap();
        assert!(!made);
        assert_eq!(a, b);
        let (anon, _) = v.create(None, &[]).unwrap();
        assert!(ids::is_full_id(&anon.name) && anon.anonymous);
        assert!(anon.labels.contains_key(ANONYMOUS_LABEL));
        let names: Vec<String> = v.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        assert_eq!(
            v.create(Some("../x"), &[]).unwrap_err().code(),
            Code::BAD_ARGS
        );
        assert_eq!(v.get("nope").unwrap_err().code(), Code::NOT_FOUND);
        // No staging directories are left.
        let left: Vec<_> = fs::read_dir(v.paths().volumes())
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(left.len(), 2);
    }

    #[test]
    fn a_volume_appears_filled_or_not_at_all() {
        let (_d, v) = store();
        let e = v
            .create_with(Some("half"), &[], |data, _| {
                fs::write(data.join("part"), b"x").unwrap();
                Err(VolumeError::BadSpec("seeding failed".into()))
            })
            .unwrap_err();
        assert_eq!(e.to_string(), "seeding failed");
        assert!(v.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(v.paths().volumes()).unwrap().count(), 0);
        let (_, made) = v
            .create_with(Some("full"), &[], |data, name| {
                assert_eq!(name, "full");
                fs::write(data.join("f"), b"x").map_err(|e| VolumeError::BadSpec(e.to_string()))
            })
            .unwrap();
        assert!(made && v.paths().volume_data("full").join("f").exists());
        // An existing volume is returned as it is; fill is not called.
        let (_, made) = v
            .create_with(Some("full"), &[], |_, _| panic!("filled again"))
            .unwrap();
        assert!(!made);
    }

    #[test]
    fn in_use_volumes_need_force_and_prune_keeps_them() {
        let (_d, v) = store();
        v.create(Some("used"), &[]).unwrap();
        v.create(Some("free"), &[]).unwrap();
        fs::write(v.paths().volume_data("free").join("f"), b"12345").unwrap();
        let id = use_volume(&v, "web", "used");
        let e = v.remove("used", false).unwrap_err();
        assert_eq!(e.code(), Code::CONFLICT);
        assert!(e.to_string().contains("web ("), "{e}");
        assert!(v.get("used").is_ok());
        let (removed, bytes) = v.prune(|_| false).unwrap();
        assert_eq!((removed, bytes), (vec!["free".to_string()], 5));
        let users = v.remove("used", true).unwrap();
        assert_eq!(users[0].id, id);
        assert_eq!(v.get("used").unwrap_err().code(), Code::NOT_FOUND);
        assert_eq!(v.remove("used", true).unwrap_err().code(), Code::NOT_FOUND);
    }
}
