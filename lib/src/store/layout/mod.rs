//! The image store: an OCI image layout at `<root>/images`.
//!
//! ```text
//! <root>/images/oci-layout           {"imageLayoutVersion":"1.0.0"}
//! <root>/images/index.json           one descriptor per ref, named by the
//!                                    org.opencontainers.image.ref.name annotation
//! <root>/images/blobs/sha256/<hex>   content-addressed blobs
//! ```
//!
//! Ref names are Docker's familiar form (`busybox:latest`, `127.0.0.1:5000/app:v1`), so that
//! `skopeo inspect oci:<root>/images:busybox:latest` and `umoci unpack --image
//! <root>/images:busybox:latest` read what berth stored.
//!
//! Crash safety: blobs are staged in `<root>/tmp`, verified, then renamed into `blobs/`; a blob
//! is therefore either absent or complete. `index.json` is replaced atomically under
//! `<root>/locks/images.lock`. Blobs are written before the ref that names them, so a ref
//! never points at a missing blob.
//!
//! Here: the store's blobs, index and refs; `resolve`: finding an image; `blob`: writing a
//! blob; `platform`: `--platform`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use oci_spec::image::{
    ANNOTATION_REF_NAME, Descriptor, Digest, ImageConfiguration, ImageIndex, ImageIndexBuilder,
    ImageManifest, MediaType,
};

use crate::digest::{self, DigestError, HashingWriter};
use crate::error::{Code, Coded, IoContext, IoError};
use crate::paths::Paths;
use crate::store::lock::Lock;
use crate::store::{atomic, private};

mod blob;
mod platform;
mod resolve;

pub use blob::BlobWriter;
pub use platform::PlatformSpec;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("no such image: {0} (pull it first: berth-pull {0})")]
    NoSuchImage(String),
    #[error("image {reference}: blob {digest} is missing from the store (pull the image again)")]
    MissingBlob { reference: String, digest: String },
    #[error("cannot decode {what} {digest}: {source}")]
    Decode {
        what: &'static str,
        digest: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "image {reference}: no manifest for platform {platform} in its index (available: {available})"
    )]
    NoPlatform {
        reference: String,
        platform: String,
        available: String,
    },
    #[error("{0}: unsupported media type {1} (berth handles OCI and Docker v2 schema 2 images)")]
    UnsupportedMediaType(String, String),
}

impl Coded for StoreError {
    fn code(&self) -> Code {
        match self {
            StoreError::Io(e) => e.code(),
            StoreError::Digest(e) => e.code(),
            StoreError::NoSuchImage(_) | StoreError::NoPlatform { .. } => Code::NOT_FOUND,
            StoreError::MissingBlob { .. } => Code::NOT_FOUND,
            StoreError::Decode { .. } => Code::DECODE,
            StoreError::UnsupportedMediaType(..) => Code::UNSUPPORTED,
        }
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An image resolved from the store: the platform manifest and its config.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// The ref name it was found under (familiar form), or the digest it was asked by.
    pub name: String,
    /// Descriptor of the ref's target (a manifest, or an index for multi-platform refs).
    pub target: Descriptor,
    /// Descriptor of the platform manifest.
    pub manifest_desc: Descriptor,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
}

impl StoredImage {
    /// The image id, Docker's: the config digest.
    pub fn id(&self) -> String {
        self.manifest.config().digest().to_string()
    }
}

/// Handle on the OCI layout in `<root>/images`.
///
/// A handle from [`open`](Self::open) holds a [`lease`](Self::lease) for as long as it (or a
/// clone) lives, so blobs a pull has written but not yet named, or layers an unpack is about
/// to use, are never collected under it. Garbage collection opens the store with
/// [`open_for_gc`](Self::open_for_gc) and takes [`gc_lock`](Self::gc_lock).
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
    tmp: PathBuf,
    lock: PathBuf,
    _lease: Option<std::sync::Arc<Lock>>,
}

impl ImageStore {
    /// Opens the store, creating an empty layout on first use, and takes a lease on it.
    pub fn open(paths: &Paths) -> Result<Self> {
        let mut store = Self::open_for_gc(paths)?;
        store._lease = Some(std::sync::Arc::new(store.lease()?));
        Ok(store)
    }

    /// The berth root the store lives in (`<root>/images`'s parent): where its events go.
    pub fn root(&self) -> &Path {
        self.dir.parent().unwrap_or(&self.dir)
    }

    /// Opens the store without a lease: for garbage collection, which must not hold one.
    pub fn open_for_gc(paths: &Paths) -> Result<Self> {
        let store = ImageStore {
            dir: paths.images(),
            tmp: paths.tmp(),
            lock: paths.locks().join("images.lock"),
            _lease: None,
        };
        let blobs = store.dir.join("blobs/sha256");
        if !store.dir.join("index.json").exists() {
            let _l = store.lock()?;
            private::create_dir_all(&blobs)?;
            private::create_dir_all(&store.tmp)?;
            if !store.dir.join("oci-layout").exists() {
                atomic::write(
                    &store.dir.join("oci-layout"),
                    br#"{"imageLayoutVersion":"1.0.0"}"#,
                )?;
            }
            if !store.dir.join("index.json").exists() {
                store.write_index(&empty_index())?;
            }
        }
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes the store's write lock. Hold it around any read-modify-write of `index.json`.
    pub fn lock(&self) -> Result<Lock> {
        Ok(Lock::exclusive(&self.lock)?)
    }

    /// A lease: a shared lock held by anyone who relies on blobs, or unpacked layers, that no
    /// ref protects yet: a pull or load between writing blobs and naming them, an unpack
    /// between resolving an image and saving its container's record. Garbage collection
    /// (`berth image prune`, `berth rmi`) takes [`gc_lock`](Self::gc_lock), so it never
    /// deletes what a lease holder is about to use. Take it before [`lock`](Self::lock).
    pub fn lease(&self) -> Result<Lock> {
        Ok(Lock::shared(&self.gc_lock_path())?)
    }

    /// The exclusive side of [`lease`](Self::lease), for garbage collection. `None` if a lease
    /// is held and `wait` is false.
    pub fn gc_lock(&self, wait: bool) -> Result<Option<Lock>> {
        let p = self.gc_lock_path();
        if wait {
            Ok(Some(Lock::exclusive(&p)?))
        } else {
            Ok(Lock::try_exclusive(&p)?)
        }
    }

    fn gc_lock_path(&self) -> PathBuf {
        self.lock.with_file_name("images-gc.lock")
    }

    /// The staging directory for blobs in flight (same filesystem as the store).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.dir
            .join("blobs/sha256")
            .join(crate::paths::digest_hex(digest))
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        digest::validate(digest).is_ok() && self.blob_path(digest).exists()
    }

    /// Opens a blob for reading. The caller verifies it if it does not trust the store.
    pub fn open_blob(&self, digest: &str) -> Result<File> {
        digest::validate(digest)?;
        let p = self.blob_path(digest);
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => StoreError::MissingBlob {
                reference: String::new(),
                digest: digest.to_string(),
            },
            _ => StoreError::Io(IoError {
                op: "open",
                path: p,
                source: e,
            }),
        })
    }

    /// Reads a small blob (manifest, config, index) and verifies its digest.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut bytes)
            .with_path("read", self.blob_path(digest))?;
        let actual = digest::sha256(&bytes);
        if actual != digest {
            return Err(DigestError::Mismatch {
                what: format!("stored blob {}", self.blob_path(digest).display()),
                expected: digest.to_string(),
                actual,
            }
            .into());
        }
        Ok(bytes)
    }

    /// Stores `bytes` as a blob; returns its digest. Idempotent.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<String> {
        let mut w = self.blob_writer()?;
        w.write_all(bytes).with_path("write", &w.path)?;
        w.commit(None, None)
    }

    /// A writer that stages a blob in `<root>/tmp` and hashes it as it goes.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        private::create_dir_all(&self.tmp)?;
        let path = atomic::temp_path_for(&self.tmp.join("blob"));
        let file = File::options()
            .write(true)
            .create_new(true)
            .mode(private::FILE)
            .open(&path)
            .with_path("create", &path)?;
        Ok(BlobWriter {
            store: self.clone(),
            path,
            inner: Some(HashingWriter::new(file)),
        })
    }

    /// Moves an already verified file into the blob store under `digest` (rename, same fs).
    pub fn adopt_blob(&self, file: &Path, digest: &str) -> Result<()> {
        digest::validate(digest)?;
        let dest = self.blob_path(digest);
        if dest.exists() {
            let _ = fs::remove_file(file);
            return Ok(());
        }
        private::create_dir_all(dest.parent().unwrap())?;
        Ok(atomic::rename(file, &dest)?)
    }

    pub fn index(&self) -> Result<ImageIndex> {
        let p = self.dir.join("index.json");
        // Buffered: serde_json reads an unbuffered File one byte per read(2).
        let f = io::BufReader::new(File::open(&p).with_path("open", &p)?);
        ImageIndex::from_reader(f).map_err(|e| StoreError::Decode {
            what: "index",
            digest: p.display().to_string(),
            source: Box::new(e),
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<()> {
        Ok(atomic::write_json(&self.dir.join("index.json"), index)?)
    }

    /// Every (ref name, descriptor) pair in `index.json`, in index order.
    pub fn refs(&self) -> Result<Vec<(String, Descriptor)>> {
        Ok(self
            .index()?
            .manifests()
            .iter()
            .filter_map(|d| ref_name(d).map(|n| (n.to_string(), d.clone())))
            .collect())
    }

    /// The descriptor stored under `name` (familiar form).
    pub fn lookup(&self, name: &str) -> Result<Option<Descriptor>> {
        Ok(self
            .refs()?
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d))
    }

    /// Points `name` at `target`, replacing any earlier target. The blobs it names must
    /// already be stored.
    pub fn set_ref(&self, name: &str, target: &Descriptor) -> Result<()> {
        let _l = self.lock()?;
        self.set_ref_locked(name, target)
    }

    /// [`set_ref`](Self::set_ref) for a caller that already holds [`lock`](Self::lock).
    ///
    /// As in Docker, an image whose last name moves elsewhere is not forgotten: it stays in
    /// `index.json` as an entry without a ref name, a *dangling* image (`<none>:<none>` in
    /// `berth images`), until `berth image prune` or `berth rmi` removes it.
    pub fn set_ref_locked(&self, name: &str, target: &Descriptor) -> Result<()> {
        let mut d = target.clone();
        let mut ann = d.annotations().clone().unwrap_or_default();
        ann.insert(ANNOTATION_REF_NAME.to_string(), name.to_string());
        d.set_annotations(Some(ann));
        let mut index = self.index()?;
        let (displaced, mut manifests): (Vec<Descriptor>, Vec<Descriptor>) = index
            .manifests()
            .iter()
            .cloned()
            .partition(|m| ref_name(m) == Some(name));
        // An untagged entry for the image being named is now redundant.
        manifests.retain(|m| ref_name(m).is_some() || m.digest() != target.digest());
        for old in displaced {
            if old.digest() != target.digest()
                && !manifests.iter().any(|m| m.digest() == old.digest())
            {
                manifests.push(unnamed(&old));
            }
        }
        manifests.push(d);
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    /// Removes the ref `name`; returns the descriptor it pointed at, if any. Blobs stay until
    /// garbage collection.
    pub fn remove_ref(&self, name: &str) -> Result<Option<Descriptor>> {
        let _l = self.lock()?;
        self.remove_ref_locked(name)
    }

    /// [`remove_ref`](Self::remove_ref) for a caller that already holds [`lock`](Self::lock).
    pub fn remove_ref_locked(&self, name: &str) -> Result<Option<Descriptor>> {
        let mut index = self.index()?;
        let (gone, kept): (Vec<_>, Vec<_>) = index
            .manifests()
            .iter()
            .cloned()
            .partition(|m| ref_name(m) == Some(name));
        if gone.is_empty() {
            return Ok(None);
        }
        index.set_manifests(kept);
        self.write_index(&index)?;
        Ok(gone.into_iter().next())
    }

    /// Rewrites the entries of `index.json` with `edit`, for a caller that holds
    /// [`lock`](Self::lock) (dangling entries, bulk removals).
    pub fn edit_index_locked(&self, edit: impl FnOnce(&mut Vec<Descriptor>)) -> Result<()> {
        let mut index = self.index()?;
        let mut entries = index.manifests().clone();
        edit(&mut entries);
        if &entries != index.manifests() {
            index.set_manifests(entries);
            self.write_index(&index)?;
        }
        Ok(())
    }

    pub fn read_manifest(&self, digest: &str) -> Result<ImageManifest> {
        let bytes = self.read_blob(digest)?;
        ImageManifest::from_reader(&bytes[..]).map_err(|e| StoreError::Decode {
            what: "manifest",
            digest: digest.to_string(),
            source: Box::new(e),
        })
    }

    pub fn read_index_blob(&self, digest: &str) -> Result<ImageIndex> {
        let bytes = self.read_blob(digest)?;
        ImageIndex::from_reader(&bytes[..]).map_err(|e| StoreError::Decode {
            what: "index",
            digest: digest.to_string(),
            source: Box::new(e),
        })
    }

    pub fn read_config(&self, digest: &str) -> Result<ImageConfiguration> {
        let bytes = self.read_blob(digest)?;
        ImageConfiguration::from_reader(&bytes[..]).map_err(|e| StoreError::Decode {
            what: "image config",
            digest: digest.to_string(),
            source: Box::new(e),
        })
    }
}

pub fn is_index_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.index.v1+json" | DOCKER_MANIFEST_LIST
    )
}

pub fn is_manifest_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.manifest.v1+json" | DOCKER_MANIFEST
    )
}

/// `d` without its ref name annotation: the index entry of a dangling image.
pub fn unnamed(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    let ann = d.annotations().clone().map(|mut a| {
        a.remove(ANNOTATION_REF_NAME);
        a
    });
    d.set_annotations(ann.filter(|a| !a.is_empty()));
    d
}

/// The ref name annotation of an index entry.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REF_NAME))
        .map(String::as_str)
}

fn empty_index() -> ImageIndex {
    ImageIndexBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageIndex)
        .manifests(Vec::<Descriptor>::new())
        .build()
        .expect("static index is valid")
}

/// A descriptor for stored bytes.
pub fn descriptor(media_type: &str, digest: &str, size: u64) -> Descriptor {
    Descriptor::new(
        MediaType::from(media_type),
        size,
        Digest::from_str(digest).expect("digest validated by the store"),
    )
}

/// Annotations helper for callers building descriptors.
pub fn annotations(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::{ImageConfigurationBuilder, ImageManifestBuilder};

    fn store() -> (tempfile::TempDir, ImageStore) {
        let d = tempfile::tempdir().unwrap();
        let s = ImageStore::open(&Paths::new(d.path().join("root"), d.path().join("run"))).unwrap();
        (d, s)
    }

    fn put_image(s: &ImageStore, name: &str, layer: &[u8]) -> (String, String) {
        let layer_d = s.put_blob(layer).unwrap();
        let config = ImageConfigurationBuilder::default().build().unwrap();
        let config_bytes = serde_json::to_vec(&config).unwrap();
        let config_d = s.put_blob(&config_bytes).unwrap();
        let manifest = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(
                "application/vnd.oci.image.config.v1+json",
                &config_d,
                config_bytes.len() as u64,
            ))
            .layers(vec![descriptor(
                "application/vnd.oci.image.layer.v1.tar",
                &layer_d,
                layer.len() as u64,
            )])
            .build()
            .unwrap();
        let mbytes = serde_json::to_vec(&manifest).unwrap();
        let md = s.put_blob(&mbytes).unwrap();
        s.set_ref(
            name,
            &descriptor(
                "application/vnd.oci.image.manifest.v1+json",
                &md,
                mbytes.len() as u64,
            ),
        )
        .unwrap();
        (md, config_d)
    }

    #[test]
    fn refs_resolve_by_name_digest_and_id_prefix() {
        let (_d, s) = store();
        let (md, cd) = put_image(&s, "busybox:latest", b"layer");
        assert_eq!(s.image("busybox", None).unwrap().id(), cd);
        assert_eq!(
            s.image("docker.io/library/busybox:latest", None)
                .unwrap()
                .name,
            "busybox:latest"
        );
        assert_eq!(s.image(&cd[7..19], None).unwrap().name, "busybox:latest");
        assert_eq!(s.image(&format!("busybox@{md}"), None).unwrap().id(), cd);
        let e = s.image("nothere", None).unwrap_err();
        assert_eq!(e.code(), Code::NOT_FOUND);
        // Retagging replaces, leaving the old image dangling (Docker's <none>:<none>).
        put_image(&s, "busybox:latest", b"layer2");
        assert_eq!(s.refs().unwrap().len(), 1);
        let entries = s.index().unwrap().manifests().clone();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().any(|e| ref_name(e).is_none()));
        // Naming the dangling image again drops the unnamed entry.
        let old = descriptor(
            "application/vnd.oci.image.manifest.v1+json",
            &md,
            s.read_blob(&md).unwrap().len() as u64,
        );
        s.set_ref("busybox:old", &old).unwrap();
        assert_eq!(s.index().unwrap().manifests().len(), 2);
        assert!(s.remove_ref("busybox:latest").unwrap().is_some());
        assert!(s.remove_ref("busybox:old").unwrap().is_some());
        assert!(s.refs().unwrap().is_empty());
        assert_eq!(s.reachable_blobs().unwrap().len(), 0);
    }

    #[test]
    fn blob_writer_verifies_before_anything_is_visible() {
        let (_d, s) = store();
        let mut w = s.blob_writer().unwrap();
        w.write_all(b"hello").unwrap();
        let staged = w.path().to_path_buf();
        let wrong = digest::sha256(b"other");
        let e = w.commit(Some(&wrong), None).unwrap_err();
        assert_eq!(e.code(), Code::DIGEST_MISMATCH);
        assert!(!s.has_blob(&wrong));
        assert!(!s.has_blob(&digest::sha256(b"hello")));
        assert!(!staged.exists(), "a refused blob leaves no staged file");
    }
}
