//! berth-pull's job: a reference in, an image in the local store out, described by the
//! record's `image` section.
//!
//! Order of work, so that a crash at any instant leaves a store that reads correctly: layers
//! and config first (each verified and renamed into `blobs/`), then the manifest blob, then
//! the ref in `index.json` (under the store lock). A ref therefore never names a missing blob;
//! blobs without a ref are garbage for `image prune`.
//!
//! With `--pull=missing` (the default) an image already in the store is used as is, without a
//! single network request.

use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use oci_spec::image::{ImageConfiguration, ImageManifest};

use super::client::Client;
use super::config::RegistryConfig;
use super::download::{BlobEvent, Outcome, fetch_blob, sync_blobs_dir};
use super::manifest::{
    OCI_MANIFEST, Parsed, check_image, choose_platform, classify, docker_to_oci,
};
use super::{RegistryError, Result};
use crate::protocol::{ImageSection, LayerRef};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::layout::{PlatformSpec, StoredImage, descriptor};

/// Annotation on a ref in `index.json`: the manifest digest the registry served, where the
/// store keeps a converted manifest.
pub const ANNOTATION_REPO_DIGEST: &str = "io.berth.image.repo-digest";
/// Annotation on a ref in `index.json`: the index (manifest list) the manifest was chosen from.
pub const ANNOTATION_INDEX_DIGEST: &str = "io.berth.image.index-digest";

/// Image configs are JSON documents; refuse absurd ones.
pub const MAX_CONFIG: u64 = 64 << 20;

/// How many layers download at once (Docker: 3, skopeo: 6).
pub const PARALLEL_LAYERS: usize = 4;

/// Docker's `--pull` policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only if the image is not in the store.
    #[default]
    Missing,
    /// Always ask the registry (blobs already stored are not downloaded again).
    Always,
    /// Never pull: fail if the image is not in the store.
    Never,
}

impl FromStr for PullPolicy {
    type Err = crate::Error;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "missing" => Ok(PullPolicy::Missing),
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            _ => Err(crate::Error::new(
                crate::Code::BAD_ARGS,
                format!("invalid pull policy {s:?}: expected missing, always or never"),
            )),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    pub policy: PullPolicy,
    /// The platform to pick from an index; `None` means the host's. When given, a
    /// single-platform image for another platform is refused.
    pub platform: Option<PlatformSpec>,
}

/// Where a layer stands, for progress displays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    Blob(BlobEvent),
    Done(Outcome),
}

/// Receives progress from a pull (called from several threads). Every method has a default
/// that does nothing.
pub trait Progress: Sync {
    /// The image was found in the store (no network).
    fn local(&self, _image: &ImageSection) {}
    /// `--pull=missing` and the store lacks the image: it is pulled now (Docker's `run` says
    /// "Unable to find image 'REF' locally").
    fn missing(&self, _reference: &Reference) {}
    /// The manifest is resolved; these layers (digest, size) will be fetched or found.
    fn layers(&self, _manifest_digest: &str, _layers: &[(String, u64)]) {}
    fn layer(&self, _digest: &str, _status: &LayerStatus) {}
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// Pulls `reference` into the store under `paths`; returns the `image` section.
pub fn pull(
    paths: &crate::Paths,
    reference: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> crate::Result<ImageSection> {
    let store = ImageStore::open(paths)?;
    if opts.policy != PullPolicy::Always
        && let Some(section) = local(&store, reference, opts.platform.as_ref())?
    {
        progress.local(&section);
        return Ok(section);
    }
    if opts.policy == PullPolicy::Never {
        return Err(RegistryError::NotPresent {
            reference: reference.familiar(),
        }
        .into());
    }
    if opts.policy == PullPolicy::Missing {
        progress.missing(reference);
    }
    crate::store::atomic::collect_garbage(store.tmp_dir());
    let config = RegistryConfig::load()?;
    let section = pull_remote(&config, &store, reference, opts, progress)?;
    // moby's pull event names the image as pulled: `busybox:latest`, name `busybox`.
    crate::events::image(
        &paths.root,
        &reference.familiar(),
        &reference.familiar_name(),
        "pull",
        Default::default(),
    );
    Ok(section)
}

/// The image as stored, if it is there (and for the requested platform, when one is given).
fn local(
    store: &ImageStore,
    reference: &Reference,
    platform: Option<&PlatformSpec>,
) -> crate::Result<Option<ImageSection>> {
    let img = match store.image(&reference.familiar(), platform) {
        Ok(i) => i,
        Err(e) if e.code() == crate::Code::NOT_FOUND => return Ok(None),
        Err(e) => return Err(e),
    };
    if let Some(want) = platform
        && !config_platform(&img.config).is_some_and(|p| p.matches(&to_oci(want)))
    {
        return Ok(None);
    }
    Ok(Some(section(reference, &img)))
}

/// The `image` section for a stored image.
pub fn section(reference: &Reference, img: &StoredImage) -> ImageSection {
    let is_index = crate::store::layout::is_index_type(img.target.media_type().as_ref());
    let annotation = |k: &str| {
        img.target
            .annotations()
            .as_ref()
            .and_then(|a| a.get(k))
            .cloned()
    };
    let diff_ids = img.config.rootfs().diff_ids();
    ImageSection {
        reference: reference.familiar(),
        name: reference.full(),
        given: String::new(),
        digest: img.manifest_desc.digest().to_string(),
        index_digest: if is_index {
            Some(img.target.digest().to_string())
        } else {
            annotation(ANNOTATION_INDEX_DIGEST)
        },
        repo_digest: annotation(ANNOTATION_REPO_DIGEST),
        id: img.id(),
        media_type: img.manifest_desc.media_type().to_string(),
        platform: config_platform(&img.config)
            .map(|p| p.to_string())
            .unwrap_or_default(),
        layers: img
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
            .collect(),
    }
}

fn config_platform(c: &ImageConfiguration) -> Option<PlatformSpec> {
    Some(PlatformSpec {
        os: c.os().to_string(),
        architecture: c.architecture().to_string(),
        variant: c.variant().clone(),
    })
}

fn to_oci(p: &PlatformSpec) -> oci_spec::image::Platform {
    let mut b = oci_spec::image::PlatformBuilder::default()
        .os(oci_spec::image::Os::from(p.os.as_str()))
        .architecture(oci_spec::image::Arch::from(p.architecture.as_str()));
    if let Some(v) = &p.variant {
        b = b.variant(v.clone());
    }
    b.build().expect("platform has os and architecture")
}

/// A manifest resolved on a registry.
struct Resolved {
    client: Client,
    manifest: ImageManifest,
    bytes: Vec<u8>,
    digest: String,
    media_type: String,
    index_digest: Option<String>,
}

fn pull_remote(
    config: &RegistryConfig,
    store: &ImageStore,
    reference: &Reference,
    opts: &PullOptions,
    progress: &dyn Progress,
) -> Result<ImageSection> {
    let want = opts.platform.clone().unwrap_or_else(PlatformSpec::host);
    let r = resolve_any(config, reference, &want)?;
    let repo = reference.repository();
    let what = reference.familiar();
    check_image(&r.manifest, &what)?;

    let layers: Vec<(String, u64)> = r
        .manifest
        .layers()
        .iter()
        .map(|l| (l.digest().to_string(), l.size()))
        .collect();
    progress.layers(&r.digest, &layers);

    // The config first: it says whether the platform is right before any big download. It
    // is stored only after the layers, so that a failed pull leaves no blob of its own.
    let cfg = r.manifest.config();
    let config_bytes = fetch_config(&r.client, repo, store, cfg)?;
    let image_config: ImageConfiguration =
        serde_json::from_slice(&config_bytes).map_err(|e| RegistryError::Invalid {
            what: format!("{what}: image config {}", cfg.digest()),
            detail: e.to_string(),
        })?;
    if image_config.rootfs().diff_ids().len() != layers.len() {
        return Err(RegistryError::Invalid {
            what: format!("{what}: image config {}", cfg.digest()),
            detail: format!(
                "it lists {} layer diff ids but the manifest has {} layers",
                image_config.rootfs().diff_ids().len(),
                layers.len()
            ),
        });
    }
    if opts.platform.is_some() {
        let found = config_platform(&image_config).expect("config has a platform");
        if !found.matches(&to_oci(&want)) {
            return Err(RegistryError::PlatformMismatch {
                reference: what,
                found: found.to_string(),
                wanted: want.to_string(),
            });
        }
    }

    fetch_layers(&r.client, repo, &layers, store, progress)?;

    store.put_blob(&config_bytes)?;
    // The store keeps OCI manifests (see manifest::docker_to_oci), so the digest the registry
    // knows the image by is remembered in the ref's annotations: Docker's RepoDigests entry,
    // which is what the tag resolved to there (the index for a multi-platform image, else the
    // manifest as the registry serves it, before any conversion).
    let (bytes, media_type) = match docker_to_oci(&r.manifest, &r.media_type) {
        Some(oci) => (
            serde_json::to_vec(&oci).expect("manifest serialises"),
            OCI_MANIFEST.to_string(),
        ),
        None => (r.bytes, r.media_type),
    };
    let digest = store.put_blob(&bytes)?;
    let mut desc = descriptor(&media_type, &digest, bytes.len() as u64);
    let repo_digest = r.index_digest.clone().unwrap_or_else(|| r.digest.clone());
    let mut ann =
        std::collections::HashMap::from([(ANNOTATION_REPO_DIGEST.to_string(), repo_digest)]);
    if let Some(d) = &r.index_digest {
        ann.insert(ANNOTATION_INDEX_DIGEST.to_string(), d.clone());
    }
    desc.set_annotations(Some(ann));
    sync_blobs_dir(store)?;
    store.set_ref(&reference.familiar(), &desc)?;
    let manifest = store.read_manifest(&digest)?;
    let img = StoredImage {
        name: reference.familiar(),
        target: desc.clone(),
        manifest_desc: desc,
        manifest,
        config: image_config,
    };
    Ok(section(reference, &img))
}

/// The image config: from the store if present, else from the registry (verified).
fn fetch_config(
    client: &Client,
    repo: &str,
    store: &ImageStore,
    desc: &oci_spec::image::Descriptor,
) -> Result<Vec<u8>> {
    let digest = desc.digest().to_string();
    if store.has_blob(&digest) {
        return Ok(store.read_blob(&digest)?);
    }
    let what = format!("image config {digest}");
    let resp = client.get_blob(repo, &digest, 0)?;
    let bytes = client.read_body(resp, MAX_CONFIG, &what)?;
    let mut h = crate::digest::Hasher::new();
    h.update(&bytes);
    h.verify(&what, &digest, Some(desc.size()))?;
    Ok(bytes)
}

/// Resolves the manifest on the mirrors (docker.io only), then on the registry itself.
fn resolve_any(
    config: &RegistryConfig,
    reference: &Reference,
    want: &PlatformSpec,
) -> Result<Resolved> {
    for mirror in config.mirrors_for(reference.registry()) {
        let attempt = Client::connect_mirror(config, reference.registry(), &mirror)
            .and_then(|c| resolve(c, reference, want));
        match attempt {
            Ok(r) => return Ok(r),
            Err(e) => log::warn!("mirror {mirror}: {e}; trying the next source"),
        }
    }
    let client = Client::connect(config, reference.registry())?;
    resolve(client, reference, want)
}

fn resolve(client: Client, reference: &Reference, want: &PlatformSpec) -> Result<Resolved> {
    let repo = reference.repository();
    let what = reference.familiar();
    let top = client.get_manifest(repo, reference.manifest_ref())?;
    match classify(&top, &what)? {
        Parsed::Image {
            manifest,
            media_type,
        } => Ok(Resolved {
            client,
            manifest: *manifest,
            bytes: top.bytes,
            digest: top.digest,
            media_type,
            index_digest: None,
        }),
        Parsed::Index { index, .. } => {
            let entry = choose_platform(&index, want, &what)?;
            let m = client.get_manifest(repo, entry.digest().as_ref())?;
            match classify(&m, &format!("{what} ({want})"))? {
                Parsed::Image {
                    manifest,
                    media_type,
                } => Ok(Resolved {
                    client,
                    manifest: *manifest,
                    bytes: m.bytes,
                    digest: m.digest,
                    media_type,
                    index_digest: Some(top.digest),
                }),
                Parsed::Index { media_type, .. } => Err(RegistryError::UnsupportedMediaType {
                    what: format!("{what}: nested index for {want}"),
                    media_type,
                }),
            }
        }
    }
}

/// Fetches the layers, [`PARALLEL_LAYERS`] at a time; the first failure cancels the rest.
fn fetch_layers(
    client: &Client,
    repo: &str,
    layers: &[(String, u64)],
    store: &ImageStore,
    progress: &dyn Progress,
) -> Result<()> {
    // Largest first: the big layers start at once and small ones fill the gaps, so the pull
    // ends when the biggest layer does, not when a big layer queued behind a small one does.
    let mut order: Vec<usize> = (0..layers.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(layers[i].1));
    let next = AtomicUsize::new(0);
    let cancel = AtomicBool::new(false);
    let first_error: Mutex<Option<RegistryError>> = Mutex::new(None);
    let workers = PARALLEL_LAYERS.min(layers.len());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= layers.len() || cancel.load(Ordering::Relaxed) {
                        return;
                    }
                    let (digest, size) = &layers[order[n]];
                    let on = |e: BlobEvent| progress.layer(digest, &LayerStatus::Blob(e));
                    match fetch_blob(client, repo, digest, *size, store, &on, &cancel) {
                        Ok(o) => progress.layer(digest, &LayerStatus::Done(o)),
                        Err(e) => {
                            cancel.store(true, Ordering::Relaxed);
                            let mut slot = first_error.lock().unwrap();
                            if slot.is_none() || matches!(*slot, Some(RegistryError::Cancelled)) {
                                *slot = Some(e);
                            }
                            return;
                        }
                    }
                }
            });
        }
    });
    match first_error.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
