//! Container bundles: `<root>/containers/<id>/` with `config.json` and `rootfs/`.
//!
//! ```text
//! <root>/containers/<id>/record.json  the record
//! <root>/containers/<id>/config.json  the OCI runtime config
//! <root>/containers/<id>/rootfs/      overlay of the image's layers + upper (or a full copy)
//! <root>/containers/<id>/upper/       the container's writable layer   (overlay driver)
//! <root>/containers/<id>/work/        overlayfs's work directory        (overlay driver)
//! ```
//!
//! A container is built in a staging directory (`.new-<pid>-<rand>-<id>`, see
//! [`Containers::staging_dir`]): layers unpacked (or found), the overlay mounted, the user
//! resolved against the image's own /etc/passwd, config.json and record.json written; only
//! then is it renamed to `<id>`. A container directory therefore always holds a complete
//! bundle, and a create killed half-way leaves a staging directory (and perhaps a mount) that
//! the next create removes, and a name reservation that counts as free.
//!
//! The name is reserved after the staging directory exists, so a reservation whose id has
//! neither a container directory nor a live staging directory is free
//! (`Containers::is_stale_name`).
//!
//! Mounts do not survive a reboot: [`ensure_mounted`] remounts a container's rootfs from its
//! record's `bundle.layers` (berth-spawn calls it before starting a container; the tool verb
//! is `berth-unpack mount ID`). `berth-unpack rm ID` unmounts everything under the container's
//! directory, deletes it and frees the name.
//!
//! **Drivers.** Overlay by default (`overlay`). Where overlay cannot work (the root is on
//! overlayfs, or the mount fails) `rootfs/` is a copy merged from the layer directories with
//! overlayfs's own rules (`copy`), so both drivers show the same tree: one warning on stderr,
//! `driver: copy` in the record. `--storage-driver overlay|copy` (`BERTH_STORAGE_DRIVER`)
//! forces one. `berth-unpack IMAGE --to DIR` uses the same merge into a new or empty DIR.
//!
//! **config.json** follows the image spec's conversion rules with Docker's defaults
//! ([`defaults`]: capabilities, masked and read-only paths, devices, device cgroup rules,
//! mounts, namespaces). The image's VOLUMEs and ExposedPorts stay in the record's
//! `bundle.config` (Docker's `.Config`) for berth-vol and berth-netns.

pub mod copy;
pub mod defaults;
pub mod overlay;
pub mod spec;
pub mod user;

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::error::{Code, Coded, Error, IoContext, Result};
use crate::layer::{LayerBlob, LayerStore, UnpackOptions};
use crate::paths::Paths;
use crate::protocol::{BundleSection, ImageSection, LayerRef, Record, RootfsDriver};
use crate::state::{Containers, StateError, ids};
use crate::store::{ImageStore, atomic, layout::StoredImage, private};

pub use spec::Overrides;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}")]
    BadOverride(String),
    #[error("{0} (check the image's /etc/passwd and /etc/group, or pass -u UID:GID)")]
    User(String),
    #[error(
        "no command specified: the image has no Entrypoint or Cmd (give one after the image name)"
    )]
    NoCommand,
    #[error(
        "image {image}: its config lists {diff_ids} layer diff ids but its manifest has {layers} layers (the image is corrupt; pull it again)"
    )]
    LayerCount {
        image: String,
        diff_ids: usize,
        layers: usize,
    },
    #[error("cannot mount the rootfs of container {id}: {source}")]
    Mount {
        id: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot copy the image into {}: {source}", path.display())]
    Copy {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} exists and is not an empty directory (choose a new or empty directory)", .0.display())]
    NotEmpty(PathBuf),
    #[error(
        "layer {0} of this container is no longer unpacked (was its image removed?); remove the container and create it again"
    )]
    LayerGone(String),
}

impl Coded for BundleError {
    fn code(&self) -> Code {
        match self {
            BundleError::BadOverride(_) => Code::BAD_ARGS,
            BundleError::User(_) | BundleError::NoCommand => Code::INVALID_CONFIG,
            BundleError::LayerCount { .. } => Code::INVALID_CONFIG,
            BundleError::Mount { .. } => Code::HOST_UNSUPPORTED,
            BundleError::Copy { .. } => Code::IO,
            BundleError::NotEmpty(_) => Code::CONFLICT,
            BundleError::LayerGone(_) => Code::NOT_FOUND,
        }
    }
}

/// Which rootfs driver to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DriverChoice {
    /// Overlay, or the copying driver where overlay is impossible.
    #[default]
    Auto,
    Overlay,
    Copy,
}

/// What a create needs beyond the image.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub name: Option<String>,
    pub overrides: Overrides,
    pub driver: DriverChoice,
    pub unpack: UnpackOptions,
    /// The command line that made the container, kept in the record.
    pub argv: Vec<String>,
    /// Mount the overlay `volatile` (see [`overlay::OverlaySpec::volatile`]): for berth
    /// build's step containers and `run --rm`'s, thrown away after one run.
    pub volatile: bool,
}

/// An image ready to unpack: the pull section plus its manifest and config.
pub struct ResolvedImage {
    pub section: ImageSection,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl ResolvedImage {
    /// From a user's image argument (name, digest or id prefix), looked up in the store only.
    pub fn from_store(store: &ImageStore, arg: &str) -> Result<ResolvedImage> {
        let img = store.image(arg, None)?;
        Ok(Self::from_stored(img))
    }

    pub fn from_stored(img: StoredImage) -> ResolvedImage {
        let diff_ids = img.config.rootfs().diff_ids();
        let layers = img
            .manifest
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| LayerRef {
                digest: l.digest().to_string(),
                diff_id: diff_ids.get(i).cloned().unwrap_or_default(),
                size: l.size(),
                media_type: l.media_type().to_string(),
            })
            .collect();
        let name = full_name(&img.name);
        let index_digest = (img.target.digest() != img.manifest_desc.digest())
            .then(|| img.target.digest().to_string());
        let section = ImageSection {
            reference: img.name.clone(),
            name,
            digest: img.manifest_desc.digest().to_string(),
            index_digest,
            id: img.id(),
            media_type: img.manifest_desc.media_type().to_string(),
            platform: format!("{}/{}", img.config.os(), img.config.architecture()),
            layers,
            ..Default::default()
        };
        ResolvedImage {
            section,
            manifest: img.manifest,
            config: img.config,
        }
    }

    /// From the `image` section a berth-pull record carries.
    pub fn from_section(store: &ImageStore, section: &ImageSection) -> Result<ResolvedImage> {
        let manifest = store.read_manifest(&section.digest)?;
        let config = store.read_config(manifest.config().digest().as_ref())?;
        Ok(ResolvedImage {
            section: section.clone(),
            manifest,
            config,
        })
    }

    /// The layers to unpack, bottom first, with their blobs and diff ids.
    pub fn layer_blobs(&self, store: &ImageStore) -> Result<Vec<LayerBlob>> {
        let diff_ids = self.config.rootfs().diff_ids();
        let layers = self.manifest.layers();
        if diff_ids.len() != layers.len() {
            return Err(BundleError::LayerCount {
                image: self.section.reference.clone(),
                diff_ids: diff_ids.len(),
                layers: layers.len(),
            }
            .into());
        }
        Ok(layers
            .iter()
            .zip(diff_ids)
            .map(|(l, d)| LayerBlob {
                digest: l.digest().to_string(),
                blob: store.blob_path(l.digest().as_ref()),
                diff_id: d.clone(),
                media_type: l.media_type().to_string(),
            })
            .collect())
    }
}

/// The fully qualified form of a stored (familiar) ref name, by Docker's normalisation: a first
/// component with a `.` or `:`, or `localhost`, is a registry; otherwise docker.io, with
/// `library/` for single-component names. (Without parsing: see `ImageStore::image`.)
fn full_name(familiar: &str) -> String {
    match familiar.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => {
            familiar.to_string()
        }
        Some(_) => format!("{}/{familiar}", crate::reference::DOCKER_HUB),
        None if familiar.starts_with("sha256:") => familiar.to_string(),
        None => format!("{}/library/{familiar}", crate::reference::DOCKER_HUB),
    }
}

/// Removes what interrupted creates left: staging directories of dead processes, after
/// unmounting their rootfs. (Their name reservations count as free from then on: see
/// [`Containers::is_stale_name`].)
pub fn collect_garbage(paths: &Paths) {
    let containers = Containers::new(paths);
    for (dir, pid, _id) in containers.staging_dirs() {
        if pid != std::process::id() && !Path::new("/proc").join(pid.to_string()).exists() {
            overlay::unmount_all_under(&dir);
            let _ = fs::remove_dir_all(&dir);
        }
    }
}

/// Creates a container from `image`: see the module docs. `base` is the record to extend (the
/// one read from stdin, or a new one). Returns the record, saved.
pub fn create(
    paths: &Paths,
    image: &ResolvedImage,
    opts: &CreateOptions,
    base: Record,
) -> Result<Record> {
    collect_garbage(paths);
    let store = ImageStore::open(paths)?;
    let layers = LayerStore::new(paths);
    let blobs = image.layer_blobs(&store)?;
    let _held = {
        let _p = crate::timings::phase("layers");
        layers.ensure_held(&blobs, &opts.unpack)?
    };
    let containers = Containers::new(paths);
    let id = ids::new_id();
    let staging = containers.staging_dir(&id);
    private::create_dir_all(&paths.containers())?;
    // Private: the rootfs below holds the image's setuid binaries and device nodes, and
    // config.json the container's environment (store::private).
    private::mkdir(&staging).with_path("create directory", &staging)?;
    let mut name = None;
    let result = (|| {
        name = Some(reserve_name(&containers, opts.name.as_deref(), &id)?);
        let name = name.as_deref().unwrap_or_default();
        build(paths, image, &blobs, opts, &id, name, &staging, base)
    })();
    match result {
        Ok(record) => Ok(record),
        Err(e) => {
            overlay::unmount_all_under(&staging);
            let _ = fs::remove_dir_all(&staging);
            if let Some(n) = name {
                containers.release_name(&n, &id);
            }
            Err(e)
        }
    }
}

/// Reserves the name; a reservation left by a create that died is taken over.
fn reserve_name(containers: &Containers, name: Option<&str>, id: &str) -> Result<String> {
    match containers.reserve(name, id) {
        Err(StateError::NameInUse { name: n, .. }) if containers.is_stale_name(&n) => {
            let _l =
                crate::store::Lock::exclusive(&containers.paths().locks().join("names").join(&n))?;
            if containers.is_stale_name(&n) {
                let _ = fs::remove_file(containers.paths().names().join(&n));
            }
            Ok(containers.reserve(Some(&n), id)?)
        }
        r => Ok(r?),
    }
}

/// The image's HEALTHCHECK (`config.Healthcheck` of its config blob: Docker's, which the OCI
/// image spec and oci-spec's types leave out).
fn image_healthcheck(paths: &Paths, image: &ResolvedImage) -> Option<crate::protocol::Healthcheck> {
    let blob = ImageStore::open(paths)
        .ok()?
        .read_blob(image.manifest.config().digest().as_ref())
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&blob).ok()?;
    serde_json::from_value(v.get("config")?.get("Healthcheck")?.clone()).ok()
}

#[allow(clippy::too_many_arguments)]
fn build(
    paths: &Paths,
    image: &ResolvedImage,
    blobs: &[LayerBlob],
    opts: &CreateOptions,
    id: &str,
    name: &str,
    staging: &Path,
    mut record: Record,
) -> Result<Record> {
    let layers = LayerStore::new(paths);
    let rootfs = staging.join("rootfs");
    let upper = staging.join("upper");
    let work = staging.join("work");
    // rootfs and upper are the container's `/` (the overlay's root takes upper's mode), which
    // its non-root users must walk; work is overlayfs's own.
    for (d, mode) in [
        (&rootfs, private::CONTENT_DIR),
        (&upper, private::CONTENT_DIR),
        (&work, private::DIR),
    ] {
        private::mkdir_mode(d, mode).with_path("create directory", d)?;
    }
    let diff_ids: Vec<String> = blobs.iter().map(|b| b.diff_id.clone()).collect();
    let driver = {
        let _p = crate::timings::phase("rootfs");
        make_rootfs(&layers, paths, opts, &diff_ids, staging, id)?
    };
    if driver == RootfsDriver::Copy {
        let _ = fs::remove_dir(&upper);
        let _ = fs::remove_dir(&work);
    }

    let short = ids::short(id);
    let getenv = |k: &str| std::env::var(k).ok();
    // Docker's `.Config.Image` is the reference as typed.
    let typed = match image.section.given.as_str() {
        "" => &image.section.reference,
        g => g,
    };
    let mut cfg = spec::merge(&image.config, typed, short, &opts.overrides, &getenv)
        .map_err(|e| BundleError::BadOverride(e.0))?;
    cfg.healthcheck = crate::protocol::Healthcheck::merged(
        opts.overrides.healthcheck.clone(),
        image_healthcheck(paths, image),
    );
    if spec::args(&cfg).is_empty() {
        return Err(BundleError::NoCommand.into());
    }
    let user = user::resolve(&rootfs, &cfg.user).map_err(BundleError::User)?;
    if !cfg.working_dir.is_empty() {
        // Docker creates a missing working directory (owned by root).
        let root = crate::confine::Root::open(&rootfs).with_path("open", &rootfs)?;
        let rel = crate::confine::clean_path(cfg.working_dir.as_bytes()).unwrap_or_default();
        root.mkdir_all(&rel)
            .with_path("create working directory", &cfg.working_dir)?;
    }
    let annotations = spec::annotations(&image.config, &cfg);
    let runtime = spec::runtime_spec(&cfg, &user, &annotations);
    crate::ocispec::save(staging, &runtime)?;

    let _p = crate::timings::phase("save");
    let dir = paths.container(id);
    record.id = id.to_string();
    record.name = name.to_string();
    record.created = Some(chrono::Utc::now());
    if record.argv.is_empty() {
        record.argv = opts.argv.clone();
    }
    record.image = Some(image.section.clone());
    record.bundle = Some(BundleSection {
        path: dir.clone(),
        rootfs: dir.join("rootfs"),
        driver,
        config: cfg,
        layers: diff_ids,
    });
    atomic::write_json_volatile(&staging.join("record.json"), &record)?;
    atomic::rename_volatile(staging, &dir)?;
    Ok(record)
}

/// Mounts (or copies) the rootfs in `staging`; returns the driver used.
fn make_rootfs(
    layers: &LayerStore,
    paths: &Paths,
    opts: &CreateOptions,
    diff_ids: &[String],
    staging: &Path,
    id: &str,
) -> Result<RootfsDriver> {
    let choice = opts.driver;
    let rootfs = staging.join("rootfs");
    let use_copy = match choice {
        DriverChoice::Copy => true,
        DriverChoice::Overlay => false,
        DriverChoice::Auto => match overlay_impossible(&paths.containers()).or_else(|| {
            diff_ids
                .iter()
                .any(|d| layers.info(d).is_some_and(|i| i.whiteouts == "oci"))
                .then(|| "the layer store is on overlayfs".to_string())
        }) {
            Some(why) => {
                log::warn!(
                    "{why}; using the copying driver (each container gets a full copy of its image)"
                );
                true
            }
            None => false,
        },
    };
    if !use_copy {
        let spec = overlay::OverlaySpec {
            lowers_top_first: diff_ids.iter().rev().cloned().collect(),
            upper: staging.join("upper"),
            work: staging.join("work"),
            volatile: opts.volatile,
        };
        match overlay::mount(layers, &spec, &rootfs) {
            Ok(()) => return Ok(RootfsDriver::Overlay),
            Err(e) if choice == DriverChoice::Auto => log::warn!(
                "overlay cannot be mounted here ({e}); using the copying driver (each container gets a full copy of its image)"
            ),
            Err(source) => {
                return Err(BundleError::Mount {
                    id: id.to_string(),
                    source,
                }
                .into());
            }
        }
    }
    copy::flatten(layers, diff_ids, &rootfs).map_err(|source| BundleError::Copy {
        path: rootfs.clone(),
        source,
    })?;
    Ok(RootfsDriver::Copy)
}

/// Why overlay cannot work with its upper dirs under `dir`, if we can tell beforehand: an
/// overlayfs upper layer cannot itself live on overlayfs.
fn overlay_impossible(dir: &Path) -> Option<String> {
    let st = rustix::fs::statfs(dir).ok()?;
    (st.f_type == overlay::OVERLAYFS_MAGIC).then(|| {
        format!(
            "{} is on overlayfs, which cannot hold overlay upper dirs",
            dir.display()
        )
    })
}

/// Mounts a container's rootfs again if it is not mounted (after a reboot, or a crash between
/// an unmount and a delete). Idempotent; nothing to do for the copying driver.
pub fn ensure_mounted(paths: &Paths, record: &Record) -> Result<()> {
    let Some(bundle) = &record.bundle else {
        return Ok(());
    };
    if bundle.driver != RootfsDriver::Overlay || overlay::is_mounted(&bundle.rootfs) {
        return Ok(());
    }
    let layers = LayerStore::new(paths);
    if let Some(gone) = bundle.layers.iter().find(|d| !layers.is_complete(d)) {
        return Err(BundleError::LayerGone(gone.clone()).into());
    }
    let work = bundle.path.join("work");
    let spec = overlay::OverlaySpec {
        lowers_top_first: bundle.layers.iter().rev().cloned().collect(),
        upper: bundle.path.join("upper"),
        volatile: overlay::forget_volatile(&work),
        work,
    };
    overlay::mount(&layers, &spec, &bundle.rootfs).map_err(|source| {
        Error::from(BundleError::Mount {
            id: record.id.clone(),
            source,
        })
    })
}

/// `berth-unpack rm`: unmounts the rootfs, deletes the container directory, frees the name.
/// Idempotent: a full id that no longer exists is not an error. Returns the id removed.
pub fn remove(paths: &Paths, arg: &str) -> Result<Option<String>> {
    let containers = Containers::new(paths);
    let id = match containers.resolve(arg) {
        Ok(id) => id,
        Err(StateError::NoSuchContainer(_)) if ids::is_full_id(arg) => {
            release_orphan_name(&containers, arg);
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let dir = paths.container(&id);
    overlay::unmount_all_under(&dir);
    // A readable record's name went with it; only one without (a create that died before
    // writing it) may have left a name behind, found by reading them all.
    if !containers.remove(&id)? {
        release_orphan_name(&containers, &id);
    }
    Ok(Some(id))
}

/// Frees any name still reserved for `id` once its directory is gone.
fn release_orphan_name(containers: &Containers, id: &str) {
    let Ok(entries) = fs::read_dir(containers.paths().names()) else {
        return;
    };
    for e in entries.flatten() {
        if fs::read_to_string(e.path()).is_ok_and(|owner| owner.trim() == id)
            && let Some(n) = e.file_name().to_str()
        {
            containers.release_name(n, id);
        }
    }
}

/// `berth-unpack IMAGE --to DIR`: the image's flattened filesystem in a plain directory, no
/// container. DIR must be new or empty; it appears complete or not at all.
pub fn unpack_to(
    paths: &Paths,
    image: &ResolvedImage,
    dir: &Path,
    opts: &UnpackOptions,
) -> Result<()> {
    if let Ok(mut entries) = fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(BundleError::NotEmpty(dir.to_path_buf()).into());
        }
    } else if fs::symlink_metadata(dir).is_ok() {
        return Err(BundleError::NotEmpty(dir.to_path_buf()).into());
    }
    let store = ImageStore::open(paths)?;
    let layers = LayerStore::new(paths);
    let blobs = image.layer_blobs(&store)?;
    let _held = layers.ensure_held(&blobs, opts)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).with_path("create directory", &parent)?;
    let staging = atomic::temp_path_for(&parent.join(dir.file_name().unwrap_or_default()));
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&staging)
        .with_path("create directory", &staging)?;
    let diff_ids: Vec<String> = blobs.iter().map(|b| b.diff_id.clone()).collect();
    let result = copy::flatten(&layers, &diff_ids, &staging)
        .map_err(|source| {
            Error::from(BundleError::Copy {
                path: dir.to_path_buf(),
                source,
            })
        })
        .and_then(|()| Ok(atomic::rename(&staging, dir)?));
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_without_a_record_leaves_no_name_behind() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths::new(d.path().join("r"), d.path().join("run"));
        let c = Containers::new(&paths);
        // A create that died after reserving its name and making its directory.
        let (id, _) = c.create(Some("half")).unwrap();
        assert_eq!(remove(&paths, &id).unwrap(), Some(id.clone()));
        assert!(c.name_owner("half").is_none());
        assert!(!paths.container(&id).exists());
        // A name reserved with no directory at all.
        let orphan = crate::state::ids::new_id();
        c.reserve(Some("lone"), &orphan).unwrap();
        assert_eq!(remove(&paths, &orphan).unwrap(), None);
        assert!(c.name_owner("lone").is_none());
    }
}
