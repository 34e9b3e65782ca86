//! The container directory store: create (with an atomically reserved name), resolve a user's
//! NAME|ID|PREFIX, load, save and update records, rename, list and remove.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Code, Coded, IoContext, IoError};
use crate::paths::Paths;
use crate::protocol::{Record, parse_record};
use crate::state::{ids, names};
use crate::store::{Lock, atomic};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error(
        "the container name \"/{name}\" is already in use by container {id} (remove or rename that container, or choose another name)"
    )]
    NameInUse { name: String, id: String },
    #[error("{0}")]
    InvalidName(String),
    #[error("multiple containers match id prefix {0:?} (give more characters)")]
    Ambiguous(String),
    #[error(
        "container {id}: its record is unreadable ({message}); remove the container with: berth rm -f {id}"
    )]
    CorruptRecord { id: String, message: String },
}

impl Coded for StateError {
    fn code(&self) -> Code {
        match self {
            StateError::Io(e) => e.code(),
            StateError::NoSuchContainer(_) => Code::NOT_FOUND,
            StateError::NameInUse { .. } => Code::CONFLICT,
            StateError::InvalidName(_) | StateError::Ambiguous(_) => Code::BAD_ARGS,
            StateError::CorruptRecord { .. } => Code::DECODE,
        }
    }
}

type Result<T, E = StateError> = std::result::Result<T, E>;

/// Prefix of the directories containers are built in before they are renamed into place.
pub const STAGING_PREFIX: &str = ".new-";

/// Handle on `<root>/containers` and `<root>/names`.
#[derive(Debug, Clone)]
pub struct Containers {
    paths: Paths,
}

impl Containers {
    pub fn new(paths: &Paths) -> Self {
        Containers {
            paths: paths.clone(),
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Allocates a new id and reserves `name` (or a generated one) for it, and creates the
    /// container's directory. The name is taken atomically: of two concurrent creates with the
    /// same name, exactly one succeeds.
    pub fn create(&self, name: Option<&str>) -> Result<(String, String)> {
        let id = ids::new_id();
        let name = self.reserve(name, &id)?;
        let dir = self.paths.container(&id);
        if let Err(e) = crate::store::private::create_dir_all(&dir) {
            let _ = fs::remove_file(self.paths.names().join(&name));
            return Err(e.into());
        }
        Ok((id, name))
    }

    /// Reserves `name` (or a generated one) for `id` without creating the container's
    /// directory: for a caller that builds the directory elsewhere and renames it into place
    /// (berth-unpack), releasing the name with [`release_name`](Self::release_name) if that
    /// fails.
    pub fn reserve(&self, name: Option<&str>, id: &str) -> Result<String> {
        let id = id.to_string();
        Ok(match name {
            Some(n) => {
                let n = names::validate(n)
                    .map_err(StateError::InvalidName)?
                    .to_string();
                if !self.reserve_name(&n, &id)? {
                    return Err(StateError::NameInUse {
                        id: self.name_owner(&n).unwrap_or_default(),
                        name: n,
                    });
                }
                n
            }
            None => {
                let mut retry = 0;
                loop {
                    let n = names::generate(retry);
                    if self.reserve_name(&n, &id)? {
                        break n;
                    }
                    retry += 1;
                }
            }
        })
    }

    /// A fresh staging directory for building container `id` before it is renamed into place:
    /// `<root>/containers/.new-<pid>-<rand>-<id>`. While the process lives, the id counts as
    /// being created (its name is not garbage); once it is dead, the directory is.
    pub fn staging_dir(&self, id: &str) -> PathBuf {
        self.paths.containers().join(format!(
            "{STAGING_PREFIX}{}-{}-{id}",
            std::process::id(),
            ids::random_hex(4)
        ))
    }

    /// Staging directories in `<root>/containers`: `(path, pid, id)`.
    pub fn staging_dirs(&self) -> Vec<(PathBuf, u32, String)> {
        let Ok(entries) = fs::read_dir(self.paths.containers()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let rest = name.strip_prefix(STAGING_PREFIX)?;
                let mut parts = rest.splitn(3, '-');
                let pid = parts.next()?.parse().ok()?;
                let _rand = parts.next()?;
                let id = parts.next()?.to_string();
                Some((e.path(), pid, id))
            })
            .collect()
    }

    /// Whether a live process is building container `id` (see [`staging_dir`](Self::staging_dir)).
    pub fn is_being_created(&self, id: &str) -> bool {
        self.staging_dirs()
            .iter()
            .any(|(_, pid, i)| i == id && Path::new("/proc").join(pid.to_string()).exists())
    }

    /// Whether the reservation of `name` is left over from a create that died: its id has no
    /// container directory and no live process is building it.
    pub fn is_stale_name(&self, name: &str) -> bool {
        match self.name_owner(name) {
            Some(id) => !self.paths.container(&id).exists() && !self.is_being_created(&id),
            None => false,
        }
    }

    fn reserve_name(&self, name: &str, id: &str) -> Result<bool> {
        Ok(atomic::create_exclusive_volatile(
            &self.paths.names().join(name),
            id.as_bytes(),
        )?)
    }

    /// The id that holds `name`, if any.
    pub fn name_owner(&self, name: &str) -> Option<String> {
        let name = name.strip_prefix('/').unwrap_or(name);
        names::validate(name).ok()?;
        fs::read_to_string(self.paths.names().join(name))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Resolves what a user typed: a full id, a name, or a unique id prefix (Docker's order).
    pub fn resolve(&self, arg: &str) -> Result<String> {
        if ids::is_full_id(arg) && self.paths.container(arg).is_dir() {
            return Ok(arg.to_string());
        }
        if let Some(id) = self.name_owner(arg)
            && self.paths.container(&id).is_dir()
        {
            return Ok(id);
        }
        if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = self
                .list_ids()?
                .into_iter()
                .filter(|id| id.starts_with(arg));
            if let Some(first) = found.next() {
                if found.next().is_some() {
                    return Err(StateError::Ambiguous(arg.to_string()));
                }
                return Ok(first);
            }
        }
        Err(StateError::NoSuchContainer(arg.to_string()))
    }

    /// Every container id on record, in no particular order.
    pub fn list_ids(&self) -> Result<Vec<String>> {
        let dir = self.paths.containers();
        let entries = crate::store::list_dir(&dir)?;
        Ok(entries
            .into_iter()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| ids::is_full_id(n))
            .collect())
    }

    pub fn record_path(&self, id: &str) -> PathBuf {
        self.paths.record(id)
    }

    /// The record's lock: on the container's directory itself, which no write replaces (no
    /// lock file to make and unlink with every container). A container that is gone is
    /// [`StateError::NoSuchContainer`], and its directory is not made again.
    fn lock(&self, id: &str) -> Result<Lock> {
        Lock::dir(&self.paths.container(id)).map_err(|e| {
            if e.source.kind() == std::io::ErrorKind::NotFound {
                StateError::NoSuchContainer(id.to_string())
            } else {
                e.into()
            }
        })
    }

    /// Reads a record. No lock is needed: records are replaced atomically.
    pub fn load(&self, id: &str) -> Result<Record> {
        let p = self.record_path(id);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StateError::NoSuchContainer(id.to_string()));
            }
            Err(e) => {
                return Err(IoError {
                    op: "read",
                    path: p,
                    source: e,
                }
                .into());
            }
        };
        parse_record(&bytes).map_err(|e| StateError::CorruptRecord {
            id: id.to_string(),
            // The file's own fault in the file's terms (parse_record speaks of stdin).
            message: match serde_json::from_slice::<serde_json::Value>(&bytes) {
                _ if bytes.is_empty() => format!("{} is empty", p.display()),
                Err(j) => format!("{}: {j}", p.display()),
                Ok(_) => e.one_line(),
            },
        })
    }

    /// Writes a whole record (a stage saving what it produced). Takes the record's lock so it
    /// never interleaves with an [`update`](Self::update). A container that was removed
    /// meanwhile is [`StateError::NoSuchContainer`]: its record is not written back.
    pub fn save(&self, record: &Record) -> Result<()> {
        let _l = self.lock(&record.id)?;
        self.write(record)
    }

    fn write(&self, record: &Record) -> Result<()> {
        Ok(atomic::write_json_volatile(
            &self.record_path(&record.id),
            record,
        )?)
    }

    /// Read-modify-write under the record's lock. `f` may fail, and then nothing is written.
    pub fn update<T, E>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Record) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<StateError>,
    {
        let _l = self.lock(id)?;
        let mut record = self.load(id)?;
        let out = f(&mut record)?;
        self.write(&record)?;
        Ok(out)
    }

    /// [`Containers::update`] for a change that may not happen: `f` says whether it changed
    /// the record, which is written only then. Returns what `f` said.
    pub fn update_if(&self, id: &str, f: impl FnOnce(&mut Record) -> bool) -> Result<bool> {
        let _l = self.lock(id)?;
        let mut record = self.load(id)?;
        let changed = f(&mut record);
        if changed {
            self.write(&record)?;
        }
        Ok(changed)
    }

    /// Renames a container: reserve the new name, update the record, release the old name.
    pub fn rename(&self, id: &str, new_name: &str) -> Result<()> {
        let new_name = names::validate(new_name)
            .map_err(StateError::InvalidName)?
            .to_string();
        if !self.reserve_name(&new_name, id)? {
            return Err(StateError::NameInUse {
                id: self.name_owner(&new_name).unwrap_or_default(),
                name: new_name,
            });
        }
        let old = self.update(id, |r| {
            Ok::<_, StateError>(std::mem::replace(&mut r.name, new_name.clone()))
        });
        match old {
            Ok(old) => {
                if !old.is_empty() && self.name_owner(&old).as_deref() == Some(id) {
                    let _ = fs::remove_file(self.paths.names().join(&old));
                }
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(self.paths.names().join(&new_name));
                Err(e)
            }
        }
    }

    /// Deletes the container's directory and releases its name. Idempotent. The caller has
    /// already unmounted the rootfs and torn down what other stages set up. Returns whether
    /// the record was read (and so its name known).
    pub fn remove(&self, id: &str) -> Result<bool> {
        let name = self.load(id).ok().map(|r| r.name);
        let known = name.is_some();
        let dir = self.paths.container(id);
        if dir.exists() {
            // Rename first so a half-deleted directory is never mistaken for a container.
            let doomed = atomic::temp_path_for(&self.paths.containers().join(id));
            match fs::rename(&dir, &doomed) {
                Ok(()) => fs::remove_dir_all(&doomed).with_path("remove", &doomed)?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(IoError {
                        op: "remove",
                        path: dir,
                        source: e,
                    }
                    .into());
                }
            }
        }
        if let Some(n) = name.filter(|n| !n.is_empty())
            && self.name_owner(&n).as_deref() == Some(id)
        {
            let _ = fs::remove_file(self.paths.names().join(&n));
        }
        Ok(known)
    }

    /// Releases a name reservation whose container never got a record (a failed create).
    pub fn release_name(&self, name: &str, id: &str) {
        if self.name_owner(name).as_deref() == Some(id) {
            let _ = fs::remove_file(self.paths.names().join(name));
        }
    }

    /// Removes leftovers of interrupted creates and removes: temporary directories of dead
    /// processes, and names whose container directory is gone.
    pub fn collect_garbage(&self) -> usize {
        let mut n = atomic::collect_garbage(&self.paths.containers());
        n += atomic::collect_garbage(&self.paths.names());
        let building: std::collections::HashSet<String> = self
            .staging_dirs()
            .into_iter()
            .filter(|(_, pid, _)| Path::new("/proc").join(pid.to_string()).exists())
            .map(|(_, _, id)| id)
            .collect();
        if let Ok(entries) = fs::read_dir(self.paths.names()) {
            for e in entries.flatten() {
                let Ok(name) = e.file_name().into_string() else {
                    continue;
                };
                if atomic::temp_owner(&name).is_some() {
                    continue;
                }
                let Ok(id) = fs::read_to_string(e.path()) else {
                    continue;
                };
                let id = id.trim();
                // Empty only after a power loss rolled back its (unsynced) content.
                if id.is_empty() {
                    n += fs::remove_file(e.path()).is_ok() as usize;
                    continue;
                }
                if !self.paths.container(id).exists()
                    && !building.contains(id)
                    && is_stale(&e.path())
                {
                    n += fs::remove_file(e.path()).is_ok() as usize;
                }
            }
        }
        n
    }
}

/// A name reservation younger than a minute may belong to a create still in progress.
fn is_stale(p: &Path) -> bool {
    fs::metadata(p)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() > 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Containers) {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(&Paths::new(d.path().join("r"), d.path().join("run")));
        (d, c)
    }

    fn saved(c: &Containers, name: Option<&str>) -> Record {
        let (id, name) = c.create(name).unwrap();
        let mut r = Record::new();
        r.id = id;
        r.name = name;
        c.save(&r).unwrap();
        r
    }

    #[test]
    fn names_are_unique_and_resolvable() {
        let (_d, c) = store();
        let a = saved(&c, Some("web"));
        let e = c.create(Some("web")).unwrap_err();
        assert_eq!(e.code(), Code::CONFLICT);
        assert!(e.to_string().contains(&a.id), "{e}");
        assert_eq!(c.resolve("web").unwrap(), a.id);
        assert_eq!(c.resolve(&a.id).unwrap(), a.id);
        assert_eq!(c.resolve(&a.id[..5]).unwrap(), a.id);
        assert_eq!(c.resolve("nope").unwrap_err().code(), Code::NOT_FOUND);
        let b = saved(&c, None);
        assert!(names::validate(&b.name).is_ok());
        assert_eq!(c.list_ids().unwrap().len(), 2);
    }

    #[test]
    fn remove_says_whether_it_read_the_record() {
        let (_d, c) = store();
        let a = saved(&c, Some("web"));
        assert!(c.remove(&a.id).unwrap());
        assert!(c.name_owner("web").is_none());
        assert!(!c.remove(&a.id).unwrap());
        // A create that died before its record: the directory goes, the name is left.
        let (id, name) = c.create(Some("half")).unwrap();
        assert!(!c.remove(&id).unwrap());
        assert_eq!(c.name_owner(&name).as_deref(), Some(id.as_str()));
    }

    #[test]
    fn rename_moves_the_reservation() {
        let (_d, c) = store();
        let a = saved(&c, Some("old"));
        saved(&c, Some("taken"));
        assert_eq!(c.rename(&a.id, "taken").unwrap_err().code(), Code::CONFLICT);
        c.rename(&a.id, "new").unwrap();
        assert_eq!(c.load(&a.id).unwrap().name, "new");
        assert!(c.name_owner("old").is_none());
        assert_eq!(c.resolve("new").unwrap(), a.id);
        c.remove(&a.id).unwrap();
        c.remove(&a.id).unwrap();
        assert!(c.name_owner("new").is_none());
        assert_eq!(c.resolve("new").unwrap_err().code(), Code::NOT_FOUND);
    }

    #[test]
    fn concurrent_updates_do_not_lose_writes() {
        let (_d, c) = store();
        let a = saved(&c, Some("counter"));
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..10 {
                        c.update(&a.id, |r| {
                            r.argv.push("x".into());
                            Ok::<_, StateError>(())
                        })
                        .unwrap();
                    }
                });
            }
        });
        assert_eq!(c.load(&a.id).unwrap().argv.len(), 80);
    }

    #[test]
    fn the_lock_is_the_directory_and_a_removed_container_stays_removed() {
        let (_d, c) = store();
        let a = saved(&c, Some("gone"));
        c.update_if(&a.id, |_| true).unwrap();
        let dir = c.paths.container(&a.id);
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["record.json"], "no lock file beside the record");
        c.remove(&a.id).unwrap();
        // A late save or update (a stage, ps observing it, a stop racing the rm) finds it
        // gone, and does not make its directory again.
        assert_eq!(c.save(&a).unwrap_err().code(), Code::NOT_FOUND);
        let e = c.update(&a.id, |_| Ok::<_, StateError>(())).unwrap_err();
        assert_eq!(e.code(), Code::NOT_FOUND);
        assert_eq!(
            c.update_if(&a.id, |_| true).unwrap_err().code(),
            Code::NOT_FOUND
        );
        assert!(!dir.exists());
        assert!(!c.list_ids().unwrap().contains(&a.id));
    }
}
