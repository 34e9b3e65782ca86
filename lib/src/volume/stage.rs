//! The pipeline stage (`berth-vol - -v ... --mount ... --tmpfs ... --volumes-from ...`) and
//! its teardown verb (`berth-vol detach ID [--volumes]`).
//!
//! The stage works in three steps, so that bad input leaves nothing behind:
//! 1. decide: parse every flag, refuse duplicates, check `--mount` bind sources, resolve and
//!    read the `--volumes-from` containers; nothing is made yet;
//! 2. make (under the shared volumes lock): volumes, missing `-v` host directories, seeded
//!    content; an error undoes what this run made;
//! 3. record: config.json's mounts (one locked edit), then the record, restoring config.json
//!    if the record cannot be saved.
//!
//! Which mount wins at one destination follows Docker (moby `registerMountPoints`):
//! `--volumes-from` copies first, later sources replacing earlier ones; then the user's own
//! `-v`/`--mount`/`--tmpfs`, which may not repeat a destination among themselves; the image's
//! VOLUMEs only where nothing else is mounted (anonymous, seeded). `--volumes-from` copies
//! include what the source copied (transitive), never its tmpfs, and `:ro` makes every copy
//! read-only.
//!
//! In config.json a mount replaces any earlier one at the same destination (`/dev/shm`,
//! berth-netns's `/etc/hosts`), and ours are appended parents first. Binds and volumes are
//! `bind` with `rbind,rprivate|<propagation>,rw|ro`; tmpfs is `noexec,nosuid,nodev,rprivate`
//! plus the user's options. Running the stage again replaces its earlier mounts. A volume the
//! stage makes is seeded while still staged, so it appears filled or not at all; an existing
//! empty volume is seeded in place under its `.lock`.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, MountBuilder, Spec};

use crate::error::IoContext;
use crate::ocispec;
use crate::paths::Paths;
use crate::protocol::{MountEntry, MountKind, Record};
use crate::state::{Containers, StateError, ids, truth};
use crate::volume::spec::{
    self, ORIGIN_FROM, ORIGIN_IMAGE, Request, RequestKind, clean_destination,
};
use crate::volume::store::{Usage, list_users};
use crate::volume::{Result, VolumeError, Volumes, seed};

/// The stage's flags, as typed.
#[derive(Debug, Clone, Default)]
pub struct VolOpts {
    /// `-v/--volume`.
    pub volumes: Vec<String>,
    /// `--mount`.
    pub mounts: Vec<String>,
    /// `--tmpfs`.
    pub tmpfs: Vec<String>,
    /// `--volumes-from`.
    pub volumes_from: Vec<String>,
}

/// A mount decided on in step 1.
#[derive(Debug, Clone)]
enum Planned {
    /// The user's own flag.
    Request(Request),
    /// Copied from another container (`--volumes-from`).
    Copy(MountEntry),
    /// An image VOLUME nothing else covers: a new anonymous volume.
    Image,
}

/// What this run made, undone if it fails.
#[derive(Default)]
struct Undo {
    volumes: Vec<String>,
    dirs: Vec<PathBuf>,
}

impl Undo {
    fn rollback(&self, volumes: &Volumes) {
        for v in &self.volumes {
            if let Err(e) = volumes.delete(v) {
                log::warn!("could not remove volume {v} made by the failed stage: {e}");
            }
        }
        // Deepest first; a directory someone filled meanwhile stays.
        for d in self.dirs.iter().rev() {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Decides the container's mounts (step 1): destination -> what goes there.
fn plan(
    containers: &Containers,
    id: &str,
    image_volumes: &[String],
    o: &VolOpts,
) -> Result<BTreeMap<String, Planned>> {
    let mut requests = Vec::new();
    for v in &o.volumes {
        requests.push(spec::parse_volume(v)?);
    }
    for m in &o.mounts {
        requests.push(spec::parse_mount(m)?);
    }
    for t in &o.tmpfs {
        requests.push(spec::parse_tmpfs(t)?);
    }
    let froms = o
        .volumes_from
        .iter()
        .map(|f| spec::parse_volumes_from(f))
        .collect::<Result<Vec<_>>>()?;
    let mut seen = HashSet::new();
    for r in &requests {
        if !seen.insert(r.destination.as_str()) {
            return Err(VolumeError::Duplicate(r.destination.clone()));
        }
        if let RequestKind::Bind {
            source,
            create_missing: false,
            ..
        } = &r.kind
            && fs::symlink_metadata(source).is_err()
        {
            return Err(VolumeError::MissingBindSource(source.clone()));
        }
    }

    let mut plan = BTreeMap::new();
    for f in &froms {
        let src_id =
            containers
                .resolve(&f.container)
                .map_err(|source| VolumeError::VolumesFrom {
                    arg: f.spec.clone(),
                    source,
                })?;
        if src_id == id {
            return Err(VolumeError::BadSpec(format!(
                "--volumes-from {}: a container cannot take volumes from itself",
                f.spec
            )));
        }
        let src = containers
            .load(&src_id)
            .map_err(|source| VolumeError::VolumesFrom {
                arg: f.spec.clone(),
                source,
            })?;
        // Its mounts include what it copied itself, so copying is transitive. A tmpfs is
        // not shared data and is not copied (Docker keeps --tmpfs out of MountPoints).
        for m in src.mounts.iter().flatten() {
            if m.kind == MountKind::Tmpfs {
                continue;
            }
            let mut c = m.clone();
            c.rw = m.rw && f.rw;
            c.mode = if f.rw { String::new() } else { "ro".into() };
            c.origin = format!("{ORIGIN_FROM}{src_id}");
            c.spec = String::new();
            plan.insert(c.destination.clone(), Planned::Copy(c));
        }
    }
    for r in requests {
        plan.insert(r.destination.clone(), Planned::Request(r));
    }
    for v in image_volumes {
        if let Some(d) = clean_destination(v).filter(|d| d != "/") {
            plan.entry(d).or_insert(Planned::Image);
        }
    }
    Ok(plan)
}

/// Creates the missing directories of `path` (mode 0755, as Docker does for `-v`), noting
/// each one for the undo list.
fn create_dirs(path: &Path, undo: &mut Undo) -> Result<()> {
    let mut missing = Vec::new();
    let mut p = Some(path);
    while let Some(d) = p {
        if fs::symlink_metadata(d).is_ok() {
            break;
        }
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    for d in missing.into_iter().rev() {
        match fs::create_dir(&d) {
            Ok(()) => undo.dirs.push(d),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_path("create directory", &d)?,
        }
    }
    Ok(())
}

struct Maker<'a> {
    volumes: &'a Volumes,
    rootfs: &'a Path,
    undo: Undo,
}

impl Maker<'_> {
    /// A volume for `destination` (named or new), seeded from the image when asked and empty.
    fn volume(
        &mut self,
        name: Option<&str>,
        labels: &[(String, String)],
        copy: bool,
        destination: &str,
    ) -> Result<(String, bool)> {
        let rootfs = self.rootfs;
        let fill = |data: &Path, name: &str| -> Result<()> {
            if copy {
                seed::seed(rootfs, destination, data).map_err(|source| VolumeError::Seed {
                    name: name.to_string(),
                    destination: destination.to_string(),
                    source,
                })?;
            }
            Ok(())
        };
        let (meta, made) = self.volumes.create_with(name, labels, fill)?;
        if made {
            self.undo.volumes.push(meta.name.clone());
        } else if copy {
            // An existing volume is seeded in place when empty, as Docker does (it may be
            // mounted already, so it cannot be swapped for a filled copy).
            let _l = self.volumes.lock_one(&meta.name)?;
            fill(&self.volumes.paths().volume_data(&meta.name), &meta.name)?;
        }
        Ok((meta.name, meta.anonymous))
    }

    /// Step 2 for one destination: makes what it needs and returns its record entry.
    fn make(&mut self, destination: &str, p: Planned) -> Result<MountEntry> {
        let paths = self.volumes.paths().clone();
        let entry = |kind, name: Option<String>, source: PathBuf| MountEntry {
            kind,
            name,
            source,
            destination: destination.to_string(),
            rw: true,
            ..Default::default()
        };
        Ok(match p {
            Planned::Image => {
                let (name, _) = self.volume(None, &[], true, destination)?;
                MountEntry {
                    anonymous: true,
                    origin: ORIGIN_IMAGE.into(),
                    ..entry(
                        MountKind::Volume,
                        Some(name.clone()),
                        paths.volume_data(&name),
                    )
                }
            }
            Planned::Copy(c) => {
                if let (MountKind::Volume, Some(n)) = (c.kind, &c.name)
                    && let Err(VolumeError::NoSuchVolume(_)) = self.volumes.get(n)
                {
                    return Err(VolumeError::VolumeGone {
                        name: n.clone(),
                        container: c.origin.trim_start_matches(ORIGIN_FROM).to_string(),
                        destination: destination.to_string(),
                    });
                }
                c
            }
            Planned::Request(r) => {
                let mut e = match &r.kind {
                    RequestKind::Bind {
                        source,
                        create_missing,
                        ..
                    } => {
                        if *create_missing && fs::symlink_metadata(source).is_err() {
                            create_dirs(source, &mut self.undo)?;
                        }
                        entry(MountKind::Bind, None, source.clone())
                    }
                    RequestKind::Named { name, copy, labels } => {
                        let (name, _) = self.volume(Some(name), labels, *copy, destination)?;
                        entry(
                            MountKind::Volume,
                            Some(name.clone()),
                            paths.volume_data(&name),
                        )
                    }
                    RequestKind::Anonymous { copy, labels } => {
                        let (name, _) = self.volume(None, labels, *copy, destination)?;
                        MountEntry {
                            anonymous: true,
                            ..entry(
                                MountKind::Volume,
                                Some(name.clone()),
                                paths.volume_data(&name),
                            )
                        }
                    }
                    RequestKind::Tmpfs { options } => MountEntry {
                        options: options.join(","),
                        ..entry(MountKind::Tmpfs, None, PathBuf::new())
                    },
                };
                e.rw = r.rw;
                e.mode = r.mode.clone();
                e.propagation = r.propagation.clone();
                e.origin = r.origin.to_string();
                e.spec = r.spec.clone();
                e
            }
        })
    }
}

/// The config.json mount for a record entry. Binds and volumes are recursive private binds
/// (Docker's defaults); a tmpfs gets Docker's `noexec,nosuid,nodev` before the user's own
/// options, which may override them.
pub fn oci_mount(e: &MountEntry, recursive: bool) -> Mount {
    let rw = if e.rw { "rw" } else { "ro" };
    let b = MountBuilder::default().destination(&e.destination);
    let b = match e.kind {
        MountKind::Tmpfs => {
            let mut opts: Vec<String> = ["noexec", "nosuid", "nodev", "rprivate"]
                .map(String::from)
                .to_vec();
            opts.extend(
                e.options
                    .split(',')
                    .filter(|o| !o.is_empty())
                    .map(String::from),
            );
            if !e.rw {
                opts.push("ro".into());
            }
            b.typ("tmpfs").source("tmpfs").options(opts)
        }
        MountKind::Bind | MountKind::Volume => {
            let propagation = if e.propagation.is_empty() {
                "rprivate"
            } else {
                &e.propagation
            };
            let bind = if recursive { "rbind" } else { "bind" };
            b.typ("bind").source(&e.source).options(vec![
                bind.to_string(),
                propagation.to_string(),
                rw.to_string(),
            ])
        }
    };
    b.build().expect("a mount with a destination is valid")
}

/// Docker's mount order: parents before children (moby `sortMounts`, by path depth).
fn depth(dest: &str) -> usize {
    dest.split('/').filter(|c| !c.is_empty()).count()
}

/// Replaces the mounts at `replaced` (our previous ones) and at our destinations (defaults such
/// as /dev/shm, or netns's /etc/hosts, which a user's mount overrides as in Docker) with ours.
fn edit_spec(spec: &mut Spec, replaced: &HashSet<String>, ours: &[Mount]) {
    let mine: HashSet<&Path> = ours.iter().map(|m| m.destination().as_path()).collect();
    let mut mounts: Vec<Mount> = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| {
            let d = m.destination();
            !mine.contains(d.as_path()) && !replaced.contains(&*d.to_string_lossy())
        })
        .collect();
    mounts.extend(ours.iter().cloned());
    spec.set_mounts(Some(mounts));
}

/// The pipeline stage: gives the container in `record` its mounts, then saves and returns
/// with the record's `mounts` section filled. Running it again replaces the earlier set-up.
pub fn attach(paths: &Paths, record: &mut Record, o: &VolOpts) -> crate::Result<()> {
    let id = record.require_id()?.to_string();
    let bundle = record
        .require(&record.bundle, "bundle", "berth-unpack")?
        .clone();
    ocispec::load(&bundle.path)?;
    if record.state.as_ref().is_some_and(|s| s.status.is_active()) {
        return Err(VolumeError::WrongState(format!(
            "container {} is running; its mounts cannot change (create a new container)",
            record.name
        ))
        .into());
    }
    let containers = Containers::new(paths);
    let volumes = Volumes::new(paths);
    volumes.collect_garbage();

    let planned = plan(&containers, &id, &bundle.config.volumes, o)?;
    let mut nonrecursive = HashSet::new();
    for (d, p) in &planned {
        if let Planned::Request(Request {
            kind: RequestKind::Bind {
                recursive: false, ..
            },
            ..
        }) = p
        {
            nonrecursive.insert(d.clone());
        }
    }

    // Seeding reads the image through the container's rootfs, so it must be mounted (it is
    // not after a reboot).
    let seeds = planned.values().any(|p| match p {
        Planned::Image => true,
        Planned::Request(r) => matches!(
            r.kind,
            RequestKind::Named { copy: true, .. } | RequestKind::Anonymous { copy: true, .. }
        ),
        Planned::Copy(_) => false,
    });
    if seeds {
        crate::bundle::ensure_mounted(paths, record)?;
    }

    let lock = volumes.lock_shared()?;
    let mut maker = Maker {
        volumes: &volumes,
        rootfs: &bundle.rootfs,
        undo: Undo::default(),
    };
    let made = (|| -> crate::Result<Vec<MountEntry>> {
        let mut entries = Vec::new();
        for (dest, p) in planned {
            entries.push(maker.make(&dest, p)?);
        }
        entries.sort_by_key(|e| depth(&e.destination));
        Ok(entries)
    })();
    let entries = match made {
        Ok(e) => e,
        Err(e) => {
            maker.undo.rollback(&volumes);
            return Err(e);
        }
    };
    let previous = record.mounts.clone().unwrap_or_default();
    let replaced: HashSet<String> = previous.iter().map(|m| m.destination.clone()).collect();
    let ours: Vec<Mount> = entries
        .iter()
        .map(|e| oci_mount(e, !nonrecursive.contains(&e.destination)))
        .collect();
    // No mount to add and none to replace (no -v, no image VOLUME, a first run): config.json
    // stays as it is, unread and unwritten.
    let edited = if ours.is_empty() && replaced.is_empty() {
        Ok(None)
    } else {
        ocispec::load(&bundle.path)
            .map_err(crate::Error::from)
            .and_then(|original| {
                ocispec::edit(&bundle.path, |spec: &mut Spec| -> crate::Result<()> {
                    edit_spec(spec, &replaced, &ours);
                    Ok(())
                })?;
                Ok(Some(original))
            })
    };
    let saved = edited.and_then(|original| {
        let _p = crate::timings::phase("save");
        let unchanged = entries.is_empty() && previous.is_empty();
        record.mounts = Some(entries.clone());
        if unchanged {
            // Nothing mounted before or now: the record on disk already says so (an absent
            // section and an empty one are the same to every reader), and the next stage saves
            // what is printed. A save would be a temporary file made and one unlinked, for
            // nothing.
            return Ok(());
        }
        containers.save(record).map_err(|e| {
            record.mounts = Some(previous.clone());
            if let Some(original) = &original {
                let _ = ocispec::save(&bundle.path, original);
            }
            crate::Error::from(e)
        })
    });
    if let Err(e) = saved {
        maker.undo.rollback(&volumes);
        return Err(e);
    }
    drop(lock);
    // Anonymous volumes of an earlier run of this stage that this run did not keep.
    let kept: HashSet<&str> = entries.iter().filter_map(|e| e.name.as_deref()).collect();
    let stale: Vec<&MountEntry> = previous
        .iter()
        .filter(|m| {
            m.anonymous
                && m.kind == MountKind::Volume
                && m.name.as_deref().is_some_and(|n| !kept.contains(n))
                && !m.origin.starts_with(ORIGIN_FROM)
        })
        .collect();
    if !stale.is_empty() {
        let _l = volumes.lock_exclusive()?;
        let usage = volumes.usage()?;
        remove_unused(&volumes, &usage, &stale, &id)?;
    }
    Ok(())
}

/// moby's `mount` / `unmount` volume events, one per volume the container has. Docker logs
/// them when the container starts (`setupMounts`) and when it ends (`UnmountVolumes`), not
/// when berth puts them in the bundle, so they come from the start and the exit
/// (`container::attached`).
pub(crate) fn emit_mounts(paths: &Paths, id: &str, entries: &[MountEntry], action: &str) {
    for e in entries.iter().filter(|e| e.kind == MountKind::Volume) {
        let Some(name) = e.name.as_deref() else {
            continue;
        };
        let mut attrs = vec![("container", id.to_string())];
        if action == "mount" {
            attrs.push(("destination", e.destination.clone()));
            attrs.push(("propagation", e.propagation.clone()));
            attrs.push(("read/write", e.rw.to_string()));
        }
        crate::events::volume(&paths.root, name, action, &attrs);
    }
}

/// Removes the anonymous volumes of `mounts` that no container other than `id` uses.
fn remove_unused(
    volumes: &Volumes,
    usage: &Usage,
    mounts: &[&MountEntry],
    id: &str,
) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for m in mounts {
        let Some(name) = m.name.as_deref() else {
            continue;
        };
        let others = usage.users(name, Some(id));
        if others.is_empty() {
            volumes.delete(name)?;
            removed.push(name.to_string());
        } else {
            log::info!(
                "keeping volume {name}: still used by {}",
                list_users(&others)
            );
        }
    }
    Ok(removed)
}

/// `berth-vol detach ID [--volumes]`, the teardown verb of [`crate::container::teardown`]:
/// forgets the container's mounts (record and config.json) and, with `remove_volumes`, deletes
/// its anonymous volumes that no other container uses. Named volumes are never removed.
/// Idempotent: a container or section already gone is not an error. Returns the volumes
/// removed.
pub fn detach(paths: &Paths, arg: &str, remove_volumes: bool) -> crate::Result<Vec<String>> {
    let containers = Containers::new(paths);
    let id = match containers.resolve(arg) {
        Ok(id) => id,
        Err(StateError::NoSuchContainer(_)) if ids::is_full_id(arg) => return Ok(vec![]),
        Err(e) => return Err(e.into()),
    };
    let Some((record, removed)) = release(paths, &id, remove_volumes)? else {
        return Ok(vec![]);
    };
    let mounts = record.mounts.unwrap_or_default();
    if let Some(b) = &record.bundle
        && ocispec::config_path(&b.path).exists()
    {
        let ours: HashSet<String> = mounts.iter().map(|m| m.destination.clone()).collect();
        ocispec::edit(&b.path, |spec: &mut Spec| -> crate::Result<()> {
            edit_spec(spec, &ours, &[]);
            Ok(())
        })?;
    }
    containers.update(&id, |r| {
        r.mounts = None;
        Ok::<_, StateError>(())
    })?;
    Ok(removed)
}

/// [`detach`]'s work without forgetting the mounts: with `remove_volumes`, deletes container
/// `id`'s anonymous volumes that no other container uses (refused while it runs). Returns its
/// record and the volumes removed; `None` if it or its mounts are gone. For
/// `container::teardown`, which deletes the record and config.json next: if it is killed in
/// between, the record still names the mounts, and `detach` (or `rm`) does it again (a volume
/// already deleted is no error).
pub fn release(
    paths: &Paths,
    id: &str,
    remove_volumes: bool,
) -> crate::Result<Option<(Record, Vec<String>)>> {
    let containers = Containers::new(paths);
    let record = match containers.load(id) {
        Ok(r) => r,
        // An unreadable record names no mount to release (`rm -f` of it: container::remove).
        Err(StateError::NoSuchContainer(_) | StateError::CorruptRecord { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let record = truth::observe(&containers, record)?;
    if record.state.as_ref().is_some_and(|s| s.status.is_active()) {
        return Err(VolumeError::WrongState(format!(
            "container {} is running; stop it before removing its mounts (berth stop {})",
            record.name, record.name
        ))
        .into());
    }
    let Some(mounts) = &record.mounts else {
        return Ok(None);
    };
    let anon: Vec<&MountEntry> = mounts
        .iter()
        .filter(|m| m.anonymous && m.kind == MountKind::Volume)
        .collect();
    let mut removed = Vec::new();
    if remove_volumes && !anon.is_empty() {
        let volumes = Volumes::new(paths);
        let _l = volumes.lock_exclusive()?;
        let usage = volumes.usage()?;
        removed = remove_unused(&volumes, &usage, &anon, id)?;
    }
    Ok(Some((record, removed)))
}

#[cfg(test)]
mod tests;
