//! Which images and unpacked layers containers use: a scan of the `image` sections of
//! `<root>/containers/*/record.json`. There is no reference count to drift out of step: the
//! records are the truth (DESIGN.md, "No global lock, no database").

use std::collections::BTreeSet;

use crate::paths::Paths;
use crate::state::Containers;

/// A container's claim on an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUse {
    pub id: String,
    pub name: String,
    /// The image id (config digest).
    pub image_id: String,
    /// The platform manifest digest.
    pub manifest: String,
    /// The image as the container names it (`busybox:latest`).
    pub reference: String,
    /// Diff ids of its layers (what `<root>/layers/sha256/` holds).
    pub diff_ids: Vec<String>,
}

/// Every container's claim. Unreadable records are skipped with a warning; a container still
/// being created holds the store's lease instead (see [`crate::store::ImageStore::lease`]).
pub fn scan(paths: &Paths) -> Vec<ContainerUse> {
    let containers = Containers::new(paths);
    let Ok(ids) = containers.list_ids() else {
        return Vec::new();
    };
    let mut uses = Vec::new();
    for id in ids {
        match containers.load(&id) {
            Ok(rec) => {
                // The layers its overlay is mounted from (berth-unpack's `bundle.layers`),
                // and its image's.
                let mut diff_ids: Vec<String> = rec
                    .bundle
                    .as_ref()
                    .map(|b| b.layers.clone())
                    .unwrap_or_default();
                let img = rec.image.unwrap_or_default();
                diff_ids.extend(img.layers.into_iter().map(|l| l.diff_id));
                if img.id.is_empty() && img.digest.is_empty() && diff_ids.is_empty() {
                    continue;
                }
                uses.push(ContainerUse {
                    name: rec.name.clone(),
                    id: rec.id.clone(),
                    image_id: img.id,
                    manifest: img.digest,
                    reference: img.reference,
                    diff_ids,
                });
            }
            Err(e) => log::warn!("container {id}: {e}; its image, if any, is not protected"),
        }
    }
    uses
}

/// The diff ids every container needs.
pub fn layers_in_use(uses: &[ContainerUse]) -> BTreeSet<String> {
    uses.iter()
        .flat_map(|u| u.diff_ids.iter().cloned())
        .collect()
}

impl ContainerUse {
    /// Whether this container uses the image with id `image_id` or manifest `manifest`.
    pub fn uses(&self, image_id: &str, manifest: Option<&str>) -> bool {
        (!self.image_id.is_empty() && self.image_id == image_id)
            || manifest.is_some_and(|m| !self.manifest.is_empty() && self.manifest == m)
    }

    pub fn short_id(&self) -> &str {
        crate::state::ids::short(&self.id)
    }
}
