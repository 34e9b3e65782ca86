//! `berth push`: an image from the local store to a registry (the distribution spec's push
//! flow), over the same [`Client`] as pull: same auth, TLS and insecure rules.
//!
//! For each blob (layers, then config): `HEAD` it and skip it if the registry has it; else try
//! a cross-repository mount from a repository of the same registry that the store knows holds
//! it (`POST .../blobs/uploads/?mount=D&from=R`: 201 means mounted); else upload it, in one
//! `PUT` (monolithic) when it is small, or as `PATCH` chunks then a closing `PUT` when it is
//! larger than the chunk size. Then the manifest (children first for an index), byte for byte
//! as stored, so its digest is the one the store has. Nothing in the store changes, except
//! the ref's `io.berth.image.repo-digest` annotation once the registry has the image.

use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use oci_spec::image::Descriptor;
use ureq::http::Request;

use super::RegistryError;
use super::auth::repository_scope;
use super::client::Client;
use super::config::RegistryConfig;
use super::pull::ANNOTATION_REPO_DIGEST;
use super::transport::{header, registry_error_text, status_error};
use crate::error::{Code, Coded, IoContext};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::layout::{is_index_type, is_manifest_type, ref_name};

/// Blobs up to this size go up in one request; larger ones in chunks of this size.
pub const DEFAULT_CHUNK: u64 = 16 << 20;
/// Blobs uploaded at once (Docker: 5; skopeo: 6).
pub const PARALLEL_UPLOADS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] crate::store::layout::StoreError),
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    #[error(transparent)]
    Digest(#[from] crate::digest::DigestError),
    #[error("{registry} rejected {what}: {detail}")]
    Rejected {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("{0}")]
    BadArgs(String),
    #[error(
        "An image does not exist locally with the tag: {0} (tag an image with that name first: berth tag IMAGE {0})"
    )]
    NoSuchImage(String),
}

impl Coded for PushError {
    fn code(&self) -> Code {
        match self {
            PushError::Registry(e) => e.code(),
            PushError::Store(e) => e.code(),
            PushError::Io(e) => e.code(),
            PushError::Digest(e) => e.code(),
            PushError::Rejected { .. } => Code::REJECTED,
            PushError::BadArgs(_) => Code::BAD_ARGS,
            PushError::NoSuchImage(_) => Code::NOT_FOUND,
        }
    }
}

type Result<T, E = PushError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs larger than this are uploaded in chunks of this size.
    pub chunk_size: u64,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: DEFAULT_CHUNK,
        }
    }
}

/// What happened to one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The registry had it already.
    Exists,
    /// Mounted from another repository of the same registry.
    Mounted(String),
    /// Uploaded in this many requests (1: monolithic).
    Pushed(u32),
}

/// Receives push progress. Every method has a default that does nothing.
pub trait PushProgress: Sync {
    /// A blob is on the registry; `layer` is false for the config.
    fn blob(&self, _digest: &str, _size: u64, _layer: bool, _outcome: &BlobOutcome) {}
}

pub struct NoPushProgress;
impl PushProgress for NoPushProgress {}

/// One blob in the push report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlobReport {
    pub digest: String,
    pub size: u64,
    /// `layer` or `config`.
    pub kind: &'static str,
    /// `exists`, `mounted` or `pushed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mounted_from: Option<String>,
    /// HTTP requests the upload took (1: monolithic, more: chunked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
}

/// The result of pushing one name.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    /// The name as pushed, fully qualified (`127.0.0.1:5000/app:v1`).
    pub reference: String,
    /// The tag (or digest) the manifest was put under.
    pub tag: String,
    pub digest: String,
    pub size: u64,
    pub blobs: Vec<BlobReport>,
}

/// Pushes the local image `name` (familiar form) to the registry its name says.
pub fn push(
    store: &ImageStore,
    name: &str,
    opts: &PushOptions,
    progress: &dyn PushProgress,
) -> crate::Result<Pushed> {
    let r = Reference::parse(name)?;
    if r.digest().is_some() {
        return Err(PushError::BadArgs(format!(
            "cannot push a digest reference ({name}): push a tag, e.g. berth push NAME:TAG"
        ))
        .into());
    }
    let familiar = r.familiar();
    let target = store
        .lookup(&familiar)?
        .ok_or_else(|| PushError::NoSuchImage(familiar.clone()))?;
    let config = RegistryConfig::load()?;
    let client = Client::connect(&config, r.registry())?;
    let mut job = Job {
        store,
        client: &client,
        repo: r.repository().to_string(),
        opts,
        progress,
        blobs: Vec::new(),
        mount_from: mount_sources(store, &r)?,
    };
    let (digest, size) = job.push_target(&target)?;
    let tag = r.tag().unwrap_or("latest").to_string();
    let manifest_digest = target.digest().to_string();
    job.put_manifest(&tag, &target)?;
    // The registry knows the image by this digest now: Docker's RepoDigests.
    {
        let _l = store.lock()?;
        if let Some(mut d) = store.lookup(&familiar)?
            && d.digest().to_string() == manifest_digest
        {
            let mut ann = d.annotations().clone().unwrap_or_default();
            ann.insert(ANNOTATION_REPO_DIGEST.to_string(), digest.clone());
            d.set_annotations(Some(ann));
            store.set_ref_locked(&familiar, &crate::store::layout::unnamed(&d))?;
        }
    }
    crate::events::image(
        store.root(),
        &familiar,
        &r.familiar_name(),
        "push",
        Default::default(),
    );
    Ok(Pushed {
        reference: r.full(),
        tag,
        digest,
        size,
        blobs: job.blobs,
    })
}

/// Other repositories of the same registry that the store has images from, with the blobs
/// each holds: candidates for a cross-repository mount.
fn mount_sources(store: &ImageStore, to: &Reference) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (name, desc) in store.refs()? {
        let Ok(r) = Reference::parse(&name) else {
            continue;
        };
        if r.registry() != to.registry() || r.repository() == to.repository() {
            continue;
        }
        let blobs: Vec<String> = store.reachable_from(vec![desc])?.into_iter().collect();
        match out.iter_mut().find(|(repo, _)| repo == r.repository()) {
            Some((_, b)) => b.extend(blobs),
            None => out.push((r.repository().to_string(), blobs)),
        }
    }
    Ok(out)
}

struct Job<'a> {
    store: &'a ImageStore,
    client: &'a Client,
    repo: String,
    opts: &'a PushOptions,
    progress: &'a dyn PushProgress,
    blobs: Vec<BlobReport>,
    mount_from: Vec<(String, Vec<String>)>,
}

impl Job<'_> {
    fn scope(&self) -> String {
        repository_scope(&self.repo, "pull,push")
    }

    /// Pushes what `target` needs (blobs, child manifests), not `target` itself. Returns the
    /// digest and size of `target`.
    fn push_target(&mut self, target: &Descriptor) -> Result<(String, u64)> {
        let mt = target.media_type().to_string();
        let digest = target.digest().to_string();
        if is_index_type(&mt) {
            let index = self.store.read_index_blob(&digest)?;
            let missing: Vec<String> = index
                .manifests()
                .iter()
                .filter(|m| !self.store.has_blob(m.digest().as_ref()))
                .map(|m| m.digest().to_string())
                .collect();
            if !missing.is_empty() {
                return Err(PushError::BadArgs(format!(
                    "the image's index names manifests that are not stored locally ({}); pull or load the whole image first",
                    missing.join(", ")
                )));
            }
            for m in index.manifests() {
                self.push_target(m)?;
                self.put_manifest(m.digest().as_ref(), m)?;
            }
        } else if is_manifest_type(&mt) {
            let manifest = self.store.read_manifest(&digest)?;
            let layers: Vec<(String, u64, bool)> = manifest
                .layers()
                .iter()
                .map(|l| (l.digest().to_string(), l.size(), true))
                .collect();
            self.push_blobs(&layers)?;
            let c = manifest.config();
            self.push_blobs(&[(c.digest().to_string(), c.size(), false)])?;
        } else {
            return Err(PushError::BadArgs(format!(
                "cannot push {digest}: unsupported media type {mt}"
            )));
        }
        Ok((digest, target.size()))
    }

    /// Pushes blobs, [`PARALLEL_UPLOADS`] at a time; reports them in the given order. The
    /// first failure stops the workers from starting more and is returned.
    fn push_blobs(&mut self, blobs: &[(String, u64, bool)]) -> Result<()> {
        let mut todo: Vec<&(String, u64, bool)> = Vec::new();
        for b in blobs {
            if !self.blobs.iter().any(|r| r.digest == b.0) && !todo.iter().any(|t| t.0 == b.0) {
                todo.push(b);
            }
        }
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Mutex<Vec<Option<Result<BlobOutcome>>>> =
            Mutex::new((0..todo.len()).map(|_| None).collect());
        let this: &Self = self;
        std::thread::scope(|s| {
            for _ in 0..PARALLEL_UPLOADS.min(todo.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= todo.len() || failed.load(Ordering::SeqCst) {
                            break;
                        }
                        let (digest, size, layer) = todo[i];
                        let r = this.transfer(digest, *size);
                        match &r {
                            Ok(outcome) => this.progress.blob(digest, *size, *layer, outcome),
                            Err(_) => failed.store(true, Ordering::SeqCst),
                        }
                        results.lock().unwrap()[i] = Some(r);
                    }
                });
            }
        });
        for (b, r) in todo.iter().zip(results.into_inner().unwrap()) {
            let Some(r) = r else { continue };
            let (status, mounted_from, requests) = match r? {
                BlobOutcome::Exists => ("exists", None, None),
                BlobOutcome::Mounted(from) => ("mounted", Some(from), None),
                BlobOutcome::Pushed(n) => ("pushed", None, Some(n)),
            };
            self.blobs.push(BlobReport {
                digest: b.0.clone(),
                size: b.1,
                kind: if b.2 { "layer" } else { "config" },
                status,
                mounted_from,
                requests,
            });
        }
        Ok(())
    }

    /// One blob onto the registry: already there, mounted, or uploaded.
    fn transfer(&self, digest: &str, size: u64) -> Result<BlobOutcome> {
        if self.exists(digest)? {
            Ok(BlobOutcome::Exists)
        } else {
            self.mount_or_upload(digest, size)
        }
    }

    fn exists(&self, digest: &str) -> Result<bool> {
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/{digest}", self.repo));
        let what = format!("blob {digest}");
        let resp = self.client.send(&what, &self.scope(), || {
            Request::head(&url).body(()).expect("valid request")
        })?;
        match resp.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            s => Err(self.fail(&what, s, &[])),
        }
    }

    fn mount_or_upload(&self, digest: &str, size: u64) -> Result<BlobOutcome> {
        let from = self
            .mount_from
            .iter()
            .find(|(_, blobs)| blobs.iter().any(|b| b == digest))
            .map(|(repo, _)| repo.clone());
        let query = match &from {
            Some(f) => format!("?mount={digest}&from={f}"),
            None => String::new(),
        };
        let url = self
            .client
            .url(&format!("/v2/{}/blobs/uploads/{query}", self.repo));
        let what = format!("an upload of blob {digest}");
        let resp = self.client.send(&what, &self.scope(), || {
            Request::post(&url)
                .header("Content-Length", "0")
                .body(())
                .expect("valid request")
        })?;
        let status = resp.status().as_u16();
        let location = header(&resp, "location");
        if status == 201
            && let Some(f) = from
        {
            return Ok(BlobOutcome::Mounted(f));
        }
        if status != 202 {
            let body = self
                .client
                .read_body(resp, 64 << 10, &what)
                .unwrap_or_default();
            return Err(self.fail(&what, status, &body));
        }
        let location = location.ok_or_else(|| PushError::Rejected {
            registry: self.client.registry().to_string(),
            what: what.clone(),
            detail: "the registry started an upload but gave no Location".into(),
        })?;
        self.upload(digest, size, &self.absolute(&location))
    }

    /// Uploads into the session at `location`: one PUT, or PATCH chunks and a closing PUT.
    /// Each request's body (at most one chunk) is read into memory first, so a retried request
    /// sends the same bytes.
    fn upload(&self, digest: &str, size: u64, location: &str) -> Result<BlobOutcome> {
        let path = self.store.blob_path(digest);
        let mut file = self.store.open_blob(digest)?;
        let what = format!("blob {digest}");
        let chunk = self.opts.chunk_size.max(1);
        let mut location = location.to_string();
        let mut requests = 0u32;
        let mut read = |n: u64| -> Result<Vec<u8>> {
            let mut buf = Vec::with_capacity(n as usize);
            (&mut file)
                .take(n)
                .read_to_end(&mut buf)
                .with_path("read", &path)?;
            if (buf.len() as u64) < n {
                return Err(crate::digest::DigestError::Size {
                    what: format!("stored blob {}", path.display()),
                    expected: size,
                    actual: buf.len() as u64,
                }
                .into());
            }
            Ok(buf)
        };
        let closing_body = if size > chunk {
            let mut offset = 0u64;
            while offset < size {
                let n = chunk.min(size - offset);
                let body = read(n)?;
                let url = location.clone();
                let resp = self.client.send(&what, &self.scope(), || {
                    Request::patch(&url)
                        .header("Content-Type", "application/octet-stream")
                        .header("Content-Range", format!("{offset}-{}", offset + n - 1))
                        .body(body.clone())
                        .expect("valid request")
                })?;
                requests += 1;
                let status = resp.status().as_u16();
                let next = header(&resp, "location");
                if status != 202 {
                    let body = self
                        .client
                        .read_body(resp, 64 << 10, &what)
                        .unwrap_or_default();
                    return Err(self.fail(&what, status, &body));
                }
                if let Some(l) = next {
                    location = self.absolute(&l);
                }
                offset += n;
            }
            Vec::new()
        } else {
            read(size)?
        };
        let url = with_digest(&location, digest);
        let resp = self.client.send(&what, &self.scope(), || {
            Request::put(&url)
                .header("Content-Type", "application/octet-stream")
                .body(closing_body.clone())
                .expect("valid request")
        })?;
        requests += 1;
        self.finish(resp, digest, &what)?;
        Ok(BlobOutcome::Pushed(requests))
    }

    /// Checks the closing PUT: 201, and the digest the registry computed.
    fn finish(
        &self,
        resp: ureq::http::Response<ureq::Body>,
        digest: &str,
        what: &str,
    ) -> Result<()> {
        let status = resp.status().as_u16();
        let served = header(&resp, "docker-content-digest");
        let body = self
            .client
            .read_body(resp, 64 << 10, what)
            .unwrap_or_default();
        if status != 201 && status != 204 {
            return Err(self.fail(what, status, &body));
        }
        if let Some(s) = served.filter(|s| s.starts_with("sha256:") && s != digest) {
            return Err(PushError::Rejected {
                registry: self.client.registry().to_string(),
                what: what.to_string(),
                detail: format!("it stored digest {s} instead"),
            });
        }
        Ok(())
    }

    /// PUTs the stored manifest (or index) bytes under `reference` (a tag or its digest).
    fn put_manifest(&mut self, reference: &str, desc: &Descriptor) -> Result<()> {
        let digest = desc.digest().to_string();
        let bytes = self.store.read_blob(&digest)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["mediaType"].as_str().map(str::to_string))
            .unwrap_or_else(|| desc.media_type().to_string());
        let url = self
            .client
            .url(&format!("/v2/{}/manifests/{reference}", self.repo));
        let what = format!("manifest {}:{reference}", self.repo).replace(":sha256:", "@sha256:");
        let resp = self.client.send(&what, &self.scope(), || {
            Request::put(&url)
                .header("Content-Type", media_type.as_str())
                .body(bytes.clone())
                .expect("valid request")
        })?;
        let status = resp.status().as_u16();
        let served = header(&resp, "docker-content-digest");
        let body = self
            .client
            .read_body(resp, 64 << 10, &what)
            .unwrap_or_default();
        if status != 201 && status != 200 {
            return Err(self.fail(&what, status, &body));
        }
        if let Some(s) = served.filter(|s| s.starts_with("sha256:") && *s != digest) {
            return Err(PushError::Rejected {
                registry: self.client.registry().to_string(),
                what,
                detail: format!("it computed digest {s}, not {digest}"),
            });
        }
        Ok(())
    }

    /// A registry `Location` (absolute, or a path on this registry) as a URL.
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            self.client.url(location)
        }
    }

    /// The error for an unexpected status: 401 is a credentials problem; other refusals are
    /// the registry rejecting the push (read-only, denied, invalid), in its own words.
    fn fail(&self, what: &str, status: u16, body: &[u8]) -> PushError {
        let registry = self.client.registry().to_string();
        match status {
            401 | 404 | 429 | 500..=599 => status_error(&registry, what, status, body).into(),
            _ => {
                let detail = match registry_error_text(body) {
                    Some((code, msg)) if !msg.is_empty() => {
                        format!("{msg} ({code}, HTTP {status})")
                    }
                    Some((code, _)) => format!("{code} (HTTP {status})"),
                    None => format!("HTTP {status}"),
                };
                PushError::Rejected {
                    registry,
                    what: what.to_string(),
                    detail,
                }
            }
        }
    }
}

/// `location` with `digest=D` added to its query.
fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={digest}")
}

/// Every local name of the repository `name` names (for `push --all-tags`).
pub fn all_tags(store: &ImageStore, name: &str) -> crate::Result<Vec<String>> {
    let r = Reference::parse(name)?;
    let repo = r.familiar_name();
    let mut tags: Vec<String> = store
        .index()?
        .manifests()
        .iter()
        .filter_map(|d| ref_name(d).map(str::to_string))
        .filter(|n| {
            Reference::parse(n).is_ok_and(|x| x.familiar_name() == repo && x.tag().is_some())
        })
        .collect();
    tags.sort();
    if tags.is_empty() {
        return Err(PushError::NoSuchImage(repo).into());
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    #[test]
    fn digest_goes_into_the_query() {
        assert_eq!(
            super::with_digest("http://r/v2/a/blobs/uploads/u?_state=x", "sha256:1"),
            "http://r/v2/a/blobs/uploads/u?_state=x&digest=sha256:1"
        );
        assert_eq!(
            super::with_digest("http://r/u", "sha256:1"),
            "http://r/u?digest=sha256:1"
        );
    }
}
