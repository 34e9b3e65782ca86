//! Garbage collection: blobs no index entry reaches, unpacked layers no image or container
//! needs, and what interrupted work left in `<root>/tmp` (staged blobs, partial downloads,
//! half-unpacked layers). Run only under the store's exclusive gc lock, so nothing a live
//! pull, load or unpack holds a lease on can go.
//!
//! A blob goes when no entry (and no container's recorded manifest) reaches it. A layer
//! directory goes when no stored image and no container (`image.layers`, `bundle.layers`)
//! needs it, under its layer lock taken without waiting (a busy layer is kept), renamed into
//! `<root>/tmp` first so it leaves the store in one step. Dangling short links in
//! `layers/l/` go too. In `<root>/tmp`, whatever no live process owns by its `.tmp-<pid>-`
//! name goes, except a partial download still flocked by its pull.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::inventory::Inventory;
use super::remove::{Removal, remove_unnamed};
use super::usage;
use super::{ImageError, Result};
use crate::error::IoContext;
use crate::paths::Paths;
use crate::store::ImageStore;
use crate::store::Lock;
use crate::store::atomic;
use crate::store::layout::{descriptor, is_manifest_type};

/// What a collection removed.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Collected {
    /// Every blob removed.
    pub blobs: Vec<String>,
    /// The layer blobs among them (what Docker reports as deleted layers).
    pub layer_blobs: Vec<String>,
    /// Diff ids of the unpacked layers removed from `<root>/layers`.
    pub layers: Vec<String>,
    /// Leftovers removed from `<root>/tmp` (and stale temporaries elsewhere).
    pub leftovers: usize,
    /// Bytes freed.
    pub reclaimed: u64,
}

/// Removes every blob, unpacked layer and leftover that nothing needs. The caller holds
/// `store.gc_lock`.
pub fn collect(store: &ImageStore, paths: &Paths) -> Result<Collected> {
    let _l = store.lock()?;
    let mut out = Collected::default();
    let uses = usage::scan(paths);

    // Blobs: reachable from index.json, or from the manifest a container records (its image
    // may have been removed from the index by another tool; its content is still in use).
    let mut roots = store.index()?.manifests().clone();
    for u in &uses {
        if store.has_blob(&u.manifest) {
            let size = fs::metadata(store.blob_path(&u.manifest)).map_or(0, |m| m.len());
            roots.push(descriptor(
                "application/vnd.oci.image.manifest.v1+json",
                &u.manifest,
                size,
            ));
        }
    }
    let reachable = store.reachable_from(roots)?;
    let inv = Inventory::load(store)?;
    let mut layer_digests = BTreeSet::new();
    for img in &inv.images {
        if let Some(m) = &img.manifest {
            layer_digests.extend(m.layers().iter().map(|l| l.digest().to_string()));
        }
    }
    let blobs_dir = store.dir().join("blobs/sha256");
    let mut doomed_layers = BTreeSet::new();
    // Layers of what is about to go, for reporting: read manifests before deleting them.
    for entry in read_dir(&blobs_dir)? {
        let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
        if crate::digest::validate(&digest).is_err() || reachable.contains(&digest) {
            continue;
        }
        if let Ok(bytes) = fs::read(entry.path())
            && bytes.len() < 4 << 20
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
            && v["mediaType"].as_str().is_none_or(is_manifest_type)
            && let Some(layers) = v["layers"].as_array()
        {
            doomed_layers.extend(
                layers
                    .iter()
                    .filter_map(|l| l["digest"].as_str().map(str::to_string)),
            );
        }
    }
    for entry in read_dir(&blobs_dir)? {
        let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
        if crate::digest::validate(&digest).is_err() || reachable.contains(&digest) {
            continue;
        }
        let size = entry.metadata().map_or(0, |m| m.len());
        fs::remove_file(entry.path()).with_path("remove", entry.path())?;
        out.reclaimed += size;
        if doomed_layers.contains(&digest) {
            out.layer_blobs.push(digest.clone());
        }
        out.blobs.push(digest);
    }
    out.blobs.sort();
    out.layer_blobs.sort();

    // Unpacked layers: kept while any image in the index, or any container, names them.
    let mut needed: BTreeSet<String> = usage::layers_in_use(&uses);
    for img in &inv.images {
        needed.extend(img.diff_ids());
    }
    let layers = paths.layers();
    for entry in read_dir(&layers)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let diff_id = format!("sha256:{name}");
        if crate::digest::validate(&diff_id).is_err() || needed.contains(&diff_id) {
            continue;
        }
        // berth-unpack holds a layer's lock while it unpacks it (exclusive) or builds a
        // container on it (shared, until the record names the layer): skip a busy layer.
        let Some(_held) = Lock::try_exclusive(&paths.layer_lock(&diff_id))? else {
            log::info!("layer {diff_id} is in use by an unpack; kept");
            continue;
        };
        out.reclaimed += remove_tree(&entry.path(), &paths.tmp())?;
        out.layers.push(diff_id);
    }
    out.layers.sort();
    remove_dangling_links(&paths.layer_links());

    // Leftovers: under the gc lock no pull or load is running, so whatever is in tmp that no
    // live process owns (by its `.tmp-<pid>-` name) is what an interrupted one left: staged
    // blobs and partial downloads.
    out.leftovers += atomic::collect_garbage(&layers);
    out.leftovers += atomic::collect_garbage(&paths.layer_links());
    out.leftovers += atomic::collect_garbage(&blobs_dir);
    out.leftovers += collect_tmp(&paths.tmp());
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Ok(rd) => Ok(rd.flatten().collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ImageError::Io(crate::error::IoError {
            op: "list",
            path: dir.to_path_buf(),
            source: e,
        })),
    }
}

/// Removes a directory tree: first renamed into `tmp` (so it vanishes from its store in one
/// step, even if the deletion is interrupted), then deleted. Returns the bytes it held.
fn remove_tree(path: &Path, tmp: &Path) -> Result<u64> {
    let size = tree_size(path);
    crate::store::private::create_dir_all(tmp)?;
    let grave: PathBuf = atomic::temp_path_for(&tmp.join("layer"));
    fs::rename(path, &grave).with_path("move out of the store", path)?;
    // Directories without write permission (a layer may hold `chmod 0` dirs) do not stop
    // root; remove_dir_all handles the rest.
    fs::remove_dir_all(&grave).with_path("remove", &grave)?;
    Ok(size)
}

fn tree_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = fs::read_dir(&p) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else if md.is_file() {
                total += md.size();
            }
        }
    }
    total
}

/// Short-name symlinks (overlay2's `l/` directory) whose layer is gone.
fn remove_dangling_links(dir: &Path) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_symlink() && !p.exists() {
            let _ = fs::remove_file(&p);
        }
    }
}

/// Everything in `<root>/tmp` not owned by a live process.
fn collect_tmp(tmp: &Path) -> usize {
    let Ok(rd) = fs::read_dir(tmp) else { return 0 };
    let mut removed = 0;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = atomic::temp_owner(&name)
            && (pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists())
        {
            continue;
        }
        let p = e.path();
        let ok = if e.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&p).is_ok()
        } else {
            // A partial download is flocked by the pull writing it (registry::download):
            // one still locked is in flight, whatever the gc lock says.
            match Lock::try_exclusive(&p) {
                Ok(Some(_held)) => fs::remove_file(&p).is_ok(),
                _ => false,
            }
        };
        removed += ok as usize;
    }
    removed
}

#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// `-a`: every image no container uses, not only dangling ones.
    pub all: bool,
    /// `--filter until=TIMESTAMP`: only images created before this.
    pub until: Option<DateTime<Utc>>,
    /// `--filter label=K[=V]` (and `label!=...` as `(k, v, negate)`).
    pub labels: Vec<(String, Option<String>, bool)>,
}

impl PruneOptions {
    /// `image prune [-a] --filter`: `until=`, `label=`, `label!=`.
    pub fn parse(all: bool, filters: &[String]) -> Result<PruneOptions> {
        let mut opts = PruneOptions {
            all,
            ..Default::default()
        };
        for f in filters {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                ImageError::BadArgs(format!("bad format of filter {f:?} (expected name=value)"))
            })?;
            match k {
                "until" => {
                    let t = crate::units::time::parse_time(v, Utc::now())
                        .map_err(|e| ImageError::BadArgs(e.0))?;
                    opts.until = Some(t);
                }
                "label" | "label!" => {
                    let (lk, lv) = match v.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (v.to_string(), None),
                    };
                    opts.labels.push((lk, lv, k == "label!"));
                }
                _ => {
                    return Err(ImageError::BadArgs(format!(
                        "invalid filter {k:?} (image prune supports until and label)"
                    )));
                }
            }
        }
        Ok(opts)
    }
}

/// `image prune` with the gc lock taken: at once if free, else after calling `waiting`
/// (a pull, load or unpack holds the store) and blocking.
pub fn prune_locked(
    paths: &Paths,
    opts: &PruneOptions,
    waiting: impl FnOnce(),
) -> crate::Result<PruneReport> {
    let s = ImageStore::open_for_gc(paths)?;
    let _gc = match s.gc_lock(false)? {
        Some(l) => l,
        None => {
            waiting();
            s.gc_lock(true)?.expect("a blocking lock")
        }
    };
    Ok(prune(&s, paths, opts)?)
}

#[derive(Debug, Default, Serialize)]
pub struct PruneReport {
    /// Docker's "Deleted Images" list.
    pub deleted: Vec<Removal>,
    pub collected: Collected,
}

/// `berth image prune [-a]`. The caller holds `store.gc_lock`.
pub fn prune(store: &ImageStore, paths: &Paths, opts: &PruneOptions) -> Result<PruneReport> {
    let mut report = PruneReport::default();
    {
        let _l = store.lock()?;
        let inv = Inventory::load(store)?;
        let uses = usage::scan(paths);
        for img in &inv.images {
            let manifest = img.manifest_digest();
            if uses.iter().any(|u| u.uses(&img.id, manifest.as_deref())) {
                continue;
            }
            if !opts.all && !img.is_dangling() {
                continue;
            }
            if opts
                .until
                .is_some_and(|u| img.created.is_none_or(|c| c >= u))
            {
                continue;
            }
            let labels = img.labels();
            let label_ok = opts.labels.iter().all(|(k, v, neg)| {
                let hit = match v {
                    Some(v) => labels.get(k) == Some(v),
                    None => labels.contains_key(k),
                };
                hit != *neg
            });
            if !label_ok {
                continue;
            }
            let mut removed = Vec::new();
            for e in &img.entries {
                match &e.name {
                    Some(n) => {
                        store.remove_ref_locked(n)?;
                        removed.push(Removal::Untagged(n.clone()));
                    }
                    None => remove_unnamed(store, e.target.digest().as_ref())?,
                }
            }
            removed.push(Removal::Deleted(img.id.clone()));
            super::remove::emit_removals(store, &img.id, &labels, &removed);
            report.deleted.extend(removed);
        }
    }
    report.collected = collect(store, paths)?;
    report.deleted.extend(
        report
            .collected
            .layer_blobs
            .iter()
            .map(|d| Removal::Deleted(d.clone())),
    );
    Ok(report)
}
