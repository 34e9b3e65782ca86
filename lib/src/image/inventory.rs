//! The images in the store, grouped as Docker groups them: by image id (the config digest),
//! each with its names (tags and digests) and, for a dangling image, none.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageManifest};

use super::compress::Compression;
use super::{ImageError, Result};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::layout::ref_name;

/// One entry of `index.json`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The ref name (familiar form), or `None` for a dangling image.
    pub name: Option<String>,
    pub target: Descriptor,
}

impl Entry {
    /// The digest the registry knows this image by, when it came from (or went to) one:
    /// berth-pull's `io.berth.image.repo-digest` annotation.
    pub fn repo_digest(&self) -> Option<&str> {
        self.target
            .annotations()
            .as_ref()
            .and_then(|a| a.get(crate::registry::pull::ANNOTATION_REPO_DIGEST))
            .map(String::as_str)
    }
}

/// An image: every index entry that leads to the same config.
#[derive(Debug, Clone)]
pub struct LocalImage {
    /// Docker's image id: `sha256:` + the config digest. For an entry the store cannot
    /// resolve (a missing blob), the target's digest, so it can still be listed and removed.
    pub id: String,
    pub entries: Vec<Entry>,
    /// The platform manifest (the host's, for a multi-platform entry).
    pub manifest_desc: Option<Descriptor>,
    pub manifest: Option<ImageManifest>,
    pub config: Option<ImageConfiguration>,
    /// The config as stored, with fields oci-spec does not model (Docker's Healthcheck,
    /// OnBuild, container_config...), for `inspect`.
    pub config_raw: serde_json::Value,
    pub created: Option<DateTime<Utc>>,
    /// Uncompressed size of the layers, as Docker reports it.
    pub size: u64,
    /// Each layer's uncompressed size, bottom first.
    pub layer_sizes: Vec<u64>,
    /// Why the entry could not be resolved, if it could not.
    pub problem: Option<String>,
}

impl LocalImage {
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().filter_map(|e| e.name.as_deref())
    }

    pub fn is_dangling(&self) -> bool {
        self.names().next().is_none()
    }

    /// The 12 hex characters Docker prints.
    pub fn short_id(&self) -> &str {
        let hex = crate::paths::digest_hex(&self.id);
        &hex[..hex.len().min(12)]
    }

    /// The manifest digest, when the image resolved.
    pub fn manifest_digest(&self) -> Option<String> {
        self.manifest_desc.as_ref().map(|d| d.digest().to_string())
    }

    /// The layers' diff ids, bottom first.
    pub fn diff_ids(&self) -> Vec<String> {
        self.config
            .as_ref()
            .map(|c| c.rootfs().diff_ids().clone())
            .unwrap_or_default()
    }

    /// The image's labels (config.Labels).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.config().as_ref())
            .and_then(|c| c.labels().clone())
            .map(|l| l.into_iter().collect())
            .unwrap_or_default()
    }

    /// Docker's `RepoDigests`: `repo@digest` for each name the registry knows by a digest.
    pub fn repo_digests(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .iter()
            .filter_map(|e| {
                let r = Reference::parse(e.name.as_deref()?).ok()?;
                Some(format!("{}@{}", r.familiar_name(), e.repo_digest()?))
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}

/// What a user's argument resolved to.
#[derive(Debug)]
pub struct Resolved<'a> {
    pub image: &'a LocalImage,
    /// The name the argument named, if it named one (`rmi busybox:1` untags just that).
    pub name: Option<String>,
}

/// Every image in the store.
#[derive(Debug, Default)]
pub struct Inventory {
    pub images: Vec<LocalImage>,
}

impl Inventory {
    pub fn load(store: &ImageStore) -> Result<Self> {
        let index = store.index()?;
        let mut by_id: BTreeMap<String, LocalImage> = BTreeMap::new();
        let mut order = Vec::new();
        for d in index.manifests() {
            let entry = Entry {
                name: ref_name(d).map(str::to_string),
                target: d.clone(),
            };
            let name = entry.name.clone().unwrap_or_else(|| d.digest().to_string());
            let image = resolve_entry(store, &name, d);
            match by_id.get_mut(&image.id) {
                Some(existing) => existing.entries.push(entry),
                None => {
                    order.push(image.id.clone());
                    by_id.insert(
                        image.id.clone(),
                        LocalImage {
                            entries: vec![entry],
                            ..image
                        },
                    );
                }
            }
        }
        Ok(Inventory {
            images: order
                .into_iter()
                .filter_map(|id| by_id.remove(&id))
                .collect(),
        })
    }

    pub fn by_id(&self, id: &str) -> Option<&LocalImage> {
        self.images.iter().find(|i| i.id == id)
    }

    /// Resolves a user's argument as Docker does: a reference first (`busybox`, `busybox:1`,
    /// `busybox@sha256:...`), then an image id or a unique prefix of one (`sha256:` optional).
    pub fn resolve(&self, arg: &str) -> Result<Resolved<'_>> {
        if let Ok(r) = Reference::parse(arg) {
            let familiar = r.familiar();
            for img in &self.images {
                if img.names().any(|n| n == familiar) {
                    return Ok(Resolved {
                        image: img,
                        name: Some(familiar),
                    });
                }
            }
            if let Some(d) = r.digest() {
                // name@digest: any image of that repository whose target or manifest is d.
                for img in &self.images {
                    let hit = img.entries.iter().any(|e| {
                        e.name.as_deref().is_some_and(|n| {
                            Reference::parse(n)
                                .is_ok_and(|n| n.familiar_name() == r.familiar_name())
                        }) && (e.target.digest().to_string() == d
                            || img.manifest_digest().as_deref() == Some(d))
                    });
                    if hit {
                        return Ok(Resolved {
                            image: img,
                            name: None,
                        });
                    }
                }
            }
        }
        let hex = arg.strip_prefix("sha256:").unwrap_or(arg);
        let is_hex =
            !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        if is_hex {
            let hex = hex.to_ascii_lowercase();
            let hits: Vec<&LocalImage> = self
                .images
                .iter()
                .filter(|i| {
                    crate::paths::digest_hex(&i.id).starts_with(&hex)
                        || i.entries
                            .iter()
                            .any(|e| e.target.digest().digest().starts_with(&hex))
                })
                .collect();
            match hits.as_slice() {
                [one] => {
                    return Ok(Resolved {
                        image: one,
                        name: None,
                    });
                }
                [] => {}
                _ => {
                    return Err(ImageError::BadArgs(format!(
                        "image id prefix {arg:?} is ambiguous: it matches {} images (give more characters)",
                        hits.len()
                    )));
                }
            }
        }
        Err(ImageError::NoSuchImage(arg.to_string()))
    }
}

/// Reads one entry's manifest and config, never failing: problems are recorded.
fn resolve_entry(store: &ImageStore, name: &str, target: &Descriptor) -> LocalImage {
    let broken = |why: String| LocalImage {
        id: target.digest().to_string(),
        entries: Vec::new(),
        manifest_desc: None,
        manifest: None,
        config: None,
        config_raw: serde_json::Value::Null,
        created: None,
        size: 0,
        layer_sizes: Vec::new(),
        problem: Some(why),
    };
    let manifest_desc = match store.platform_manifest(name, target, None) {
        Ok(d) => d,
        Err(e) => return broken(e.to_string()),
    };
    let manifest = match store.read_manifest(manifest_desc.digest().as_ref()) {
        Ok(m) => m,
        Err(e) => return broken(e.to_string()),
    };
    let config_digest = manifest.config().digest().to_string();
    let raw = match store.read_blob(&config_digest) {
        Ok(b) => b,
        Err(e) => return broken(e.to_string()),
    };
    let config = match ImageConfiguration::from_reader(&raw[..]) {
        Ok(c) => c,
        Err(e) => return broken(format!("cannot decode image config {config_digest}: {e}")),
    };
    let created = config
        .created()
        .as_deref()
        .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|c| c.with_timezone(&Utc));
    let layer_sizes: Vec<u64> = manifest
        .layers()
        .iter()
        .map(|l| {
            let digest = l.digest().to_string();
            super::compress::uncompressed_size(
                &store.blob_path(&digest),
                Compression::from_media_type(l.media_type().as_ref()),
                l.size(),
            )
        })
        .collect();
    LocalImage {
        id: config_digest,
        entries: Vec::new(),
        manifest_desc: Some(manifest_desc),
        manifest: Some(manifest),
        config: Some(config),
        config_raw: serde_json::from_slice(&raw).unwrap_or(serde_json::Value::Null),
        created,
        size: layer_sizes.iter().sum(),
        layer_sizes,
        problem: None,
    }
}
