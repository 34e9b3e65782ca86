//! `berth tag` and `berth rmi`, with Docker's rules: `rmi NAME` untags, and deletes the image
//! only with its last name; an image a container uses is refused without `-f`, and with `-f`
//! it is untagged but kept (dangling) until the container is gone.

use serde::Serialize;

use super::gc::{self, Collected};
use super::inventory::Inventory;
use super::usage::{self, ContainerUse};
use super::{ImageError, Result};
use crate::paths::Paths;
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::layout::{ref_name, unnamed};

/// `berth tag SOURCE TARGET`: names the image SOURCE resolves to. Returns the new name.
pub fn tag(store: &ImageStore, source: &str, target: &str) -> Result<String> {
    let r = Reference::parse(target)?;
    if r.digest().is_some() {
        return Err(ImageError::BadArgs(format!(
            "refusing to create a tag with a digest reference: {target:?} (give NAME[:TAG])"
        )));
    }
    let name = r.familiar();
    let _l = store.lock()?;
    let inv = Inventory::load(store)?;
    let found = inv.resolve(source)?;
    let entry = found
        .name
        .as_deref()
        .and_then(|n| {
            found
                .image
                .entries
                .iter()
                .find(|e| e.name.as_deref() == Some(n))
        })
        .or_else(|| found.image.entries.iter().find(|e| e.name.is_some()))
        .or_else(|| found.image.entries.first())
        .expect("an image has at least one entry");
    store.set_ref_locked(&name, &unnamed(&entry.target))?;
    let img = found.image;
    crate::events::image(store.root(), &img.id, &name, "tag", img.labels());
    Ok(name)
}

/// moby's events for what `rmi` or `image prune` removed of one image: `untag` per name,
/// `delete` for the image (both name the image by its id).
pub(super) fn emit_removals(
    store: &ImageStore,
    id: &str,
    labels: &std::collections::BTreeMap<String, String>,
    removed: &[Removal],
) {
    for r in removed {
        match r {
            Removal::Untagged(_) => {
                crate::events::image(store.root(), id, id, "untag", labels.clone())
            }
            Removal::Deleted(d) if d == id => {
                crate::events::image(store.root(), id, id, "delete", Default::default())
            }
            Removal::Deleted(_) => {}
        }
    }
}

/// One line of `rmi`'s report (Docker's `ImageDeleteResponseItem`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Removal {
    Untagged(String),
    Deleted(String),
}

impl std::fmt::Display for Removal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Removal::Untagged(n) => write!(f, "Untagged: {n}"),
            Removal::Deleted(d) => write!(f, "Deleted: {d}"),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct RmiOptions {
    pub force: bool,
    /// `--no-prune`: keep the blobs and unpacked layers (a later `image prune` collects them).
    pub no_prune: bool,
}

/// The outcome of `rmi IMAGE...`: what was removed, and the error of each argument that
/// failed (Docker carries on with the next argument).
#[derive(Debug, Default)]
pub struct RmiReport {
    pub removed: Vec<Removal>,
    pub errors: Vec<ImageError>,
    pub collected: Collected,
}

/// `berth rmi [-f] IMAGE...`.
pub fn rmi(store: &ImageStore, paths: &Paths, args: &[String], opts: RmiOptions) -> RmiReport {
    let mut report = RmiReport::default();
    // Blobs go only if no pull or load is in flight; otherwise `image prune` gets them later.
    let gc_lock = match (opts.no_prune, store.gc_lock(false)) {
        (false, Ok(l)) => l,
        (_, _) => None,
    };
    let uses = usage::scan(paths);
    let mut deleted_any = false;
    for arg in args {
        let result = (|| -> Result<Vec<Removal>> {
            let _l = store.lock()?;
            let inv = Inventory::load(store)?;
            let img = inv.resolve(arg)?.image;
            let removed = remove_one(store, &inv, arg, &uses, opts.force)?;
            emit_removals(store, &img.id, &img.labels(), &removed);
            Ok(removed)
        })();
        match result {
            Ok(removed) => {
                deleted_any |= removed.iter().any(|r| matches!(r, Removal::Deleted(_)));
                report.removed.extend(removed);
            }
            Err(e) => report.errors.push(e),
        }
    }
    if deleted_any && gc_lock.is_some() {
        match gc::collect(store, paths) {
            Ok(c) => {
                report
                    .removed
                    .extend(c.layer_blobs.iter().map(|d| Removal::Deleted(d.clone())));
                report.collected = c;
            }
            Err(e) => report.errors.push(e),
        }
    }
    report
}

fn remove_one(
    store: &ImageStore,
    inv: &Inventory,
    arg: &str,
    uses: &[ContainerUse],
    force: bool,
) -> Result<Vec<Removal>> {
    let found = inv.resolve(arg)?;
    let img = found.image;
    let manifest = img.manifest_digest();
    let user = uses.iter().find(|u| u.uses(&img.id, manifest.as_deref()));
    let names: Vec<String> = img.names().map(str::to_string).collect();
    let who = |u: &ContainerUse| {
        if u.name.is_empty() {
            u.short_id().to_string()
        } else {
            format!("{} ({})", u.short_id(), u.name)
        }
    };
    let mut removed = Vec::new();
    match &found.name {
        Some(name) if names.len() > 1 => {
            // Other names remain: untagging is all, even for an image in use.
            store.remove_ref_locked(name)?;
            removed.push(Removal::Untagged(name.clone()));
            return Ok(removed);
        }
        Some(name) => {
            if let Some(u) = user {
                if !force {
                    return Err(ImageError::Conflict(format!(
                        "unable to remove repository reference {name:?} (must force) - container {} is using its referenced image {} (remove the container first, or use rmi -f to untag it)",
                        who(u),
                        img.short_id()
                    )));
                }
                keep_dangling(store, img, name)?;
                removed.push(Removal::Untagged(name.clone()));
                return Ok(removed);
            }
        }
        None => {
            let repos: std::collections::BTreeSet<String> =
                names.iter().map(|n| super::list::split_name(n).0).collect();
            if !force && repos.len() > 1 {
                return Err(ImageError::Conflict(format!(
                    "unable to delete {} (must be forced) - image is referenced in multiple repositories ({}); remove the names one by one, or use rmi -f",
                    img.short_id(),
                    names.join(", ")
                )));
            }
            if let Some(u) = user {
                if !force {
                    return Err(ImageError::Conflict(format!(
                        "unable to delete {} (must be forced) - image is being used by container {} (remove the container first, or use rmi -f to untag it)",
                        img.short_id(),
                        who(u)
                    )));
                }
                for n in &names {
                    keep_dangling(store, img, n)?;
                    removed.push(Removal::Untagged(n.clone()));
                }
                return Ok(removed);
            }
        }
    }
    // Nothing uses it: every entry goes, then (in `rmi`) its blobs and layers.
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
    Ok(removed)
}

/// Untags `name`, leaving the image in the index unnamed if this was its last name.
fn keep_dangling(store: &ImageStore, img: &super::LocalImage, name: &str) -> Result<()> {
    let Some(old) = store.remove_ref_locked(name)? else {
        return Ok(());
    };
    let index = store.index()?;
    let still_there = index.manifests().iter().any(|m| m.digest() == old.digest())
        || img
            .entries
            .iter()
            .any(|e| e.name.as_deref() != Some(name) && e.name.is_some());
    if !still_there {
        add_unnamed(store, &old)?;
    }
    Ok(())
}

/// Adds a dangling entry (the caller holds the store lock).
pub(super) fn add_unnamed(store: &ImageStore, d: &oci_spec::image::Descriptor) -> Result<()> {
    Ok(store.edit_index_locked(|m| {
        if !m.iter().any(|x| x.digest() == d.digest()) {
            m.push(unnamed(d));
        }
    })?)
}

/// Removes the dangling entry for `digest` (the caller holds the store lock).
pub(super) fn remove_unnamed(store: &ImageStore, digest: &str) -> Result<()> {
    Ok(store.edit_index_locked(|m| {
        m.retain(|x| !(ref_name(x).is_none() && x.digest().to_string() == digest))
    })?)
}
