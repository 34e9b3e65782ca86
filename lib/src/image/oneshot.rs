//! Writing a new image into the store from parts already verified: the OCI manifest berth
//! builds (for load, import and the default image), stored and named in one place.

use oci_spec::image::Descriptor;
use serde_json::json;

use super::Result;
use super::remove::add_unnamed;
use crate::store::ImageStore;
use crate::store::layout::descriptor;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// A layer as the manifest lists it.
#[derive(Debug, Clone)]
pub struct LayerDesc {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// The OCI manifest bytes for a config and layers. Deterministic (serde_json's sorted maps),
/// so that `save` then `load` gives back the same manifest digest.
pub fn oci_manifest(config_digest: &str, config_size: u64, layers: &[LayerDesc]) -> Vec<u8> {
    let layers: Vec<_> = layers
        .iter()
        .map(|l| json!({"mediaType": l.media_type, "digest": l.digest, "size": l.size}))
        .collect();
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config_size},
        "layers": layers,
    });
    serde_json::to_vec(&m).expect("json values serialise")
}

/// Stores the manifest (its config and layers must already be in the store) and names it
/// with each of `names`, or keeps it dangling if there are none. Returns its descriptor.
pub fn commit_image(store: &ImageStore, manifest: &[u8], names: &[String]) -> Result<Descriptor> {
    let digest = store.put_blob(manifest)?;
    let desc = descriptor(OCI_MANIFEST, &digest, manifest.len() as u64);
    let _l = store.lock()?;
    if names.is_empty() {
        let named = store
            .index()?
            .manifests()
            .iter()
            .any(|m| m.digest() == desc.digest());
        if !named {
            add_unnamed(store, &desc)?;
        }
    }
    for n in names {
        store.set_ref_locked(n, &desc)?;
    }
    Ok(desc)
}
