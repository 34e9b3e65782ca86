//! `berth load`: an archive made by `docker save`, `skopeo copy ... docker-archive:`, or
//! `berth save` (or an OCI layout tar) into the store. Everything is verified before anything
//! is stored: a corrupt, truncated or tampered archive leaves the store as it was.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde::Serialize;

use super::ArchiveManifest;
use super::staging::{Staged, Staging};
use crate::digest::HashingReader;
use crate::error::IoContext;
use crate::image::compress::{self, Compression};
use crate::image::oneshot::{LayerDesc, commit_image, oci_manifest};
use crate::image::{ImageError, Result};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::layout::{is_index_type, is_manifest_type};

/// One image loaded.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Loaded {
    /// The image id (config digest).
    pub id: String,
    /// The names it was stored under (familiar form); empty for an untagged image.
    pub names: Vec<String>,
}

/// What was verified and is ready to store.
struct Planned {
    id: String,
    names: Vec<String>,
    /// Staged files to move into the store, with their digests.
    blobs: Vec<Staged>,
    /// The manifest to store: built by berth for a Docker archive, or the archive's own.
    kind: PlannedKind,
}

enum PlannedKind {
    /// A manifest berth built (Docker archives carry none).
    Built(Vec<u8>),
    /// An OCI layout entry: its target descriptor, stored as is.
    Entry(Box<oci_spec::image::Descriptor>),
}

/// Loads an archive from `path` (or stdin when `None`).
pub fn load(store: &ImageStore, path: Option<&Path>) -> Result<Vec<Loaded>> {
    let source = super::describe(path);
    let _lease = store.lease()?;
    let staging = match path {
        Some(p) => {
            let f = File::open(p).with_path("open", p)?;
            Staging::read(f, store.tmp_dir(), source)?
        }
        None => Staging::read(std::io::stdin().lock(), store.tmp_dir(), source)?,
    };
    let plan = if staging.has("manifest.json") {
        plan_docker(&staging)?
    } else if staging.has("index.json") {
        plan_oci(&staging)?
    } else {
        return Err(staging.corrupt(
            "it has neither manifest.json (Docker archive) nor index.json (OCI layout)".into(),
        ));
    };
    // Verified: now store. Blobs first, then the names that point at them.
    let mut loaded = Vec::new();
    for p in plan {
        for b in &p.blobs {
            if store.has_blob(&b.digest) {
                continue;
            }
            if b.path.exists() {
                store.adopt_blob(&b.path, &b.digest)?;
            } else {
                // The same staged file adopted for an earlier image: it is in the store.
                continue;
            }
        }
        match &p.kind {
            PlannedKind::Built(manifest) => {
                commit_image(store, manifest, &p.names)?;
            }
            PlannedKind::Entry(desc) => {
                let _l = store.lock()?;
                if p.names.is_empty() {
                    crate::image::remove::add_unnamed(store, desc)?;
                }
                for n in &p.names {
                    store.set_ref_locked(n, desc)?;
                }
            }
        }
        crate::events::image(store.root(), &p.id, &p.id, "load", Default::default());
        loaded.push(Loaded {
            id: p.id,
            names: p.names,
        });
    }
    Ok(loaded)
}

/// A Docker archive: `manifest.json` lists each image's config and layer tars.
fn plan_docker(s: &Staging) -> Result<Vec<Planned>> {
    let manifests: Vec<ArchiveManifest> = s.json("manifest.json", "manifest.json")?;
    if manifests.is_empty() {
        return Err(s.corrupt("manifest.json lists no images".into()));
    }
    let mut plans = Vec::new();
    for m in manifests {
        let config = s.require(&m.config, "config")?;
        check_named_digest(s, &m.config, config, "config")?;
        let config_bytes = s.read_bytes(config)?;
        let parsed = ImageConfiguration::from_reader(&config_bytes[..])
            .map_err(|e| s.corrupt(format!("config {:?} is not an image config: {e}", m.config)))?;
        let diff_ids = parsed.rootfs().diff_ids();
        if diff_ids.len() != m.layers.len() {
            return Err(s.corrupt(format!(
                "manifest.json lists {} layers but the config has {} diff ids",
                m.layers.len(),
                diff_ids.len()
            )));
        }
        let mut blobs = vec![config.clone()];
        let mut layers = Vec::new();
        for (i, (path, diff_id)) in m.layers.iter().zip(diff_ids).enumerate() {
            let staged = s.require(path, "layer")?;
            check_named_digest(s, path, staged, "layer")?;
            let c = sniff_file(&staged.path)?;
            let actual = uncompressed_digest(s, staged, c, path)?;
            if &actual != diff_id {
                return Err(ImageError::ArchiveDigest {
                    file: s.source.clone(),
                    what: format!("layer {} ({path})", i + 1),
                    expected: diff_id.clone(),
                    actual,
                });
            }
            layers.push(LayerDesc {
                media_type: c.oci_layer_type().to_string(),
                digest: staged.digest.clone(),
                size: staged.size,
            });
            blobs.push(staged.clone());
        }
        let names = repo_tags(s, m.repo_tags.as_deref().unwrap_or_default())?;
        let manifest = oci_manifest(&config.digest, config.size, &layers);
        plans.push(Planned {
            id: config.digest.clone(),
            names,
            blobs,
            kind: PlannedKind::Built(manifest),
        });
    }
    Ok(plans)
}

/// An OCI image layout: `index.json` names manifests (or indexes) by ref name annotation;
/// every blob is checked against the digest it is stored under.
fn plan_oci(s: &Staging) -> Result<Vec<Planned>> {
    let index: ImageIndex = s.json("index.json", "index.json")?;
    if index.manifests().is_empty() {
        return Err(s.corrupt("index.json lists no images".into()));
    }
    let mut plans = Vec::new();
    for entry in index.manifests() {
        let mut blobs = Vec::new();
        let mut id = None;
        let mut stack = vec![(entry.clone(), true)];
        while let Some((d, required)) = stack.pop() {
            let digest = d.digest().to_string();
            let path = format!("blobs/{}", digest.replacen(':', "/", 1));
            let Some(staged) = s.get(&path) else {
                if required {
                    return Err(s.truncated(format!(": blob {digest} is missing")));
                }
                continue; // another platform's manifest, left out of the archive
            };
            if staged.digest != digest || staged.size != d.size() {
                return Err(ImageError::ArchiveDigest {
                    file: s.source.clone(),
                    what: format!("blob {path} ({} bytes)", staged.size),
                    expected: digest,
                    actual: staged.digest.clone(),
                });
            }
            blobs.push(staged.clone());
            let mt = d.media_type().to_string();
            let bytes = || s.read_bytes(staged);
            if is_index_type(&mt) {
                let i = ImageIndex::from_reader(&bytes()?[..])
                    .map_err(|e| s.corrupt(format!("index {digest}: {e}")))?;
                stack.extend(i.manifests().iter().map(|m| (m.clone(), false)));
            } else if is_manifest_type(&mt) {
                let m = ImageManifest::from_reader(&bytes()?[..])
                    .map_err(|e| s.corrupt(format!("manifest {digest}: {e}")))?;
                id.get_or_insert_with(|| m.config().digest().to_string());
                stack.push((m.config().clone(), true));
                stack.extend(m.layers().iter().map(|l| (l.clone(), true)));
            }
        }
        let ann = entry.annotations().clone().unwrap_or_default();
        let name = ann
            .get("io.containerd.image.name")
            .or_else(|| ann.get(oci_spec::image::ANNOTATION_REF_NAME))
            .filter(|n| n.contains(':') || n.contains('/'));
        let names = match name {
            Some(n) => repo_tags(s, std::slice::from_ref(n))?,
            // A bare tag (`latest`) names no repository: the image loads untagged.
            None => Vec::new(),
        };
        plans.push(Planned {
            id: id.ok_or_else(|| s.corrupt("an index entry leads to no image manifest".into()))?,
            names,
            blobs,
            kind: PlannedKind::Entry(Box::new(crate::store::layout::unnamed(entry))),
        });
    }
    Ok(plans)
}

/// `RepoTags` in familiar form (`docker.io/library/busybox:latest` -> `busybox:latest`).
fn repo_tags(s: &Staging, tags: &[String]) -> Result<Vec<String>> {
    tags.iter()
        .map(|t| {
            Reference::parse(t)
                .map(|r| r.familiar())
                .map_err(|e| s.corrupt(format!("RepoTags: {e}")))
        })
        .collect()
}

/// A file stored under its own digest (`blobs/sha256/<hex>`, skopeo's `<hex>.tar` and
/// `<hex>.json`) must have that digest.
fn check_named_digest(s: &Staging, path: &str, staged: &Staged, what: &str) -> Result<()> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let hex = if path.starts_with("blobs/sha256/") {
        Some(base)
    } else {
        base.strip_suffix(".tar")
            .or_else(|| base.strip_suffix(".json"))
    };
    if let Some(hex) = hex.filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        && staged.digest != format!("sha256:{hex}")
    {
        return Err(ImageError::ArchiveDigest {
            file: s.source.clone(),
            what: format!("{what} {path}"),
            expected: format!("sha256:{hex}"),
            actual: staged.digest.clone(),
        });
    }
    Ok(())
}

fn sniff_file(path: &Path) -> Result<Compression> {
    let mut head = [0u8; 8];
    let mut f = File::open(path).with_path("open", path)?;
    let n = f.read(&mut head).with_path("read", path)?;
    Ok(Compression::sniff(&head[..n]))
}

/// The diff id of a staged layer: its own digest if uncompressed, else the digest of its
/// decompressed stream.
fn uncompressed_digest(s: &Staging, staged: &Staged, c: Compression, name: &str) -> Result<String> {
    match c {
        Compression::None => Ok(staged.digest.clone()),
        Compression::Other(kind) => Err(ImageError::Unsupported(
            format!("{}: layer {name} is {kind}-compressed", s.source),
            "uncompressed, gzip and zstd layers",
        )),
        _ => {
            let f = File::open(&staged.path).with_path("open", &staged.path)?;
            let dec = compress::decoder(c, BufReader::with_capacity(1 << 20, f))
                .map_err(|e| s.corrupt(format!("layer {name}: {e}")))?;
            let mut r = HashingReader::new(dec);
            std::io::copy(&mut r, &mut std::io::sink())
                .map_err(|e| s.corrupt(format!("layer {name}: cannot decompress: {e}")))?;
            Ok(r.hasher().digest())
        }
    }
}
