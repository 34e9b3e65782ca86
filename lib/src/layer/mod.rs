//! The layer store: each layer unpacked once, overlay-ready, shared by every container.
//!
//! ```text
//! <root>/layers/sha256/<hex>/diff/       the layer's files (overlayfs whiteouts)
//! <root>/layers/sha256/<hex>/layer.json  completion marker: what was unpacked, from which blob
//! <root>/layers/l/<LINK>                 -> ../sha256/<hex>/diff (26-char name, for mount(2))
//! <root>/locks/layers/<hex>              flock: exclusive to unpack or delete, shared to use
//! ```
//!
//! `<hex>` is the diff id's: the sha256 of the uncompressed tar, verified while streaming.
//!
//! A layer is unpacked into `<root>/layers/sha256/.tmp-<pid>-<rand>-<hex>/` under its lock,
//! verified, given its marker, and only then renamed into place: a directory named `<hex>` is
//! always complete, and a kill -9 half-way leaves a temporary directory that the next unpack
//! removes (its pid is gone). Two unpacks of the same layer serialise on the lock; the second
//! finds the work done.
//!
//! - **Who may delete.** Whoever deletes layers (`rmi`, `image prune`: `image::gc`) holds the
//!   layer's lock exclusively, taken without waiting (a busy layer is kept), and skips every
//!   layer a container record names (`image.layers`, `bundle.layers`). Creating a container
//!   holds each of its layers' locks shared until its record is in place.
//! - **Durability.** The completion marker is written with fsync; the layer's files are not
//!   (as Docker and umoci): safe against kill -9, not against a power loss.
//! - **Short links.** `l/<LINK>` is the first 128 bits of the diff id in base32 (26
//!   characters): derived, so no coordination is needed. `bundle::overlay` uses them where
//!   the new mount API's `lowerdir+` is missing.
//! - **A store on overlayfs** cannot hold overlayfs whiteouts (the kernel refuses the 0:0
//!   device and `trusted.overlay.*` there): its layers keep OCI `.wh.` files (`"whiteouts":
//!   "oci"` in `layer.json`), and only the copy driver (`bundle::copy`) uses them.
//! - **Errors of a layer**: 106 unsafe content (a path climbing out with `..`, a whiteout
//!   naming `..`, the root replaced by a non-directory, a decompression bomb past
//!   `--max-layer-size` / `BERTH_MAX_LAYER_SIZE`, default [`DEFAULT_MAX_LAYER_SIZE`] = 64 GiB);
//!   102 a diff id mismatch; 103 a truncated stream; 6 a corrupt stream or an inconsistent tar
//!   (a hardlink to a missing target, a write through a dangling symlink); 2 bzip2/xz layers.
//!   Every input from an image or a registry has a fuzz target in `fuzz/` (`tar_entries` here;
//!   `image_config`, `manifest`, `index`, `archive_manifest` for the other documents).

pub mod diff;
pub mod extract;
pub mod stream;
pub mod whiteout;

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::{self, DigestError};
use crate::error::{Code, Coded, IoContext, IoError};
use crate::paths::{Paths, digest_hex};
use crate::store::{Lock, atomic};

pub use extract::ExtractError;

/// Default bound on a layer's uncompressed size: far above any real layer, far below what a
/// decompression bomb would fill.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 64 << 30;

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error("layer {digest}: {source}")]
    Extract {
        digest: String,
        #[source]
        source: ExtractError,
    },
    #[error(
        "layer {digest}: diff id mismatch: the image config says {expected}, the content is {actual} (the image is corrupt or was tampered with; pull it again)"
    )]
    DiffIdMismatch {
        digest: String,
        expected: String,
        actual: String,
    },
    #[error("layer {digest}: corrupt compressed stream: {source} (pull the image again)")]
    Corrupt {
        digest: String,
        #[source]
        source: io::Error,
    },
    #[error("layer {digest}: the compressed stream ends early: {source} (pull the image again)")]
    Truncated {
        digest: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "layer {digest}: uncompressed size exceeds the limit of {limit} bytes (a decompression bomb?); raise --max-layer-size if the image is genuine"
    )]
    TooLarge { digest: String, limit: u64 },
    #[error("layer {digest}: {message}")]
    Unsupported { digest: String, message: String },
    #[error("layer blob {0} is missing from the image store (pull the image again)")]
    MissingBlob(String),
    #[error(
        "layer link {link} points to {found}, not to layer {diff_id} (remove {link} and retry)"
    )]
    LinkConflict {
        link: PathBuf,
        found: String,
        diff_id: String,
    },
}

impl Coded for LayerError {
    fn code(&self) -> Code {
        match self {
            LayerError::Io(e) => e.code(),
            LayerError::Digest(e) => e.code(),
            LayerError::Extract { source, .. } => match source {
                ExtractError::Unsafe { .. } | ExtractError::TooLarge { .. } => Code::UNSAFE,
                ExtractError::Decode(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Code::TRUNCATED
                }
                ExtractError::Decode(_) | ExtractError::BadEntry { .. } => Code::DECODE,
                ExtractError::Io { .. } => Code::IO,
            },
            LayerError::DiffIdMismatch { .. } => Code::DIGEST_MISMATCH,
            LayerError::Corrupt { .. } => Code::DECODE,
            LayerError::Truncated { .. } => Code::TRUNCATED,
            LayerError::TooLarge { .. } => Code::UNSAFE,
            LayerError::Unsupported { .. } => Code::UNSUPPORTED,
            LayerError::MissingBlob(_) => Code::NOT_FOUND,
            LayerError::LinkConflict { .. } => Code::CONFLICT,
        }
    }
}

type Result<T, E = LayerError> = std::result::Result<T, E>;

/// One layer to unpack: its blob in the image store and the diff id the image config gives.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Digest of the (compressed) blob.
    pub digest: String,
    /// The blob's file.
    pub blob: PathBuf,
    /// `sha256:<hex>` of the uncompressed tar, from the image config.
    pub diff_id: String,
    pub media_type: String,
}

/// Tunables of an unpack.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    /// Bound on the uncompressed tar size and on the apparent size of its files.
    pub max_size: u64,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            max_size: DEFAULT_MAX_LAYER_SIZE,
        }
    }
}

/// The completion marker's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerInfo {
    pub diff_id: String,
    /// The blob it was unpacked from (another blob with the same diff id would give the same).
    pub digest: String,
    #[serde(default)]
    pub media_type: String,
    /// Bytes of the uncompressed tar.
    pub size: u64,
    pub entries: u64,
    pub link: String,
    /// `"oci"` when whiteouts are kept as `.wh.` files (a store on overlayfs): such a layer
    /// can only be used by the copying driver.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub whiteouts: String,
}

/// Handle on `<root>/layers`.
#[derive(Debug, Clone)]
pub struct LayerStore {
    paths: Paths,
}

impl LayerStore {
    pub fn new(paths: &Paths) -> Self {
        LayerStore {
            paths: paths.clone(),
        }
    }

    /// `<root>/layers/sha256/<hex>`.
    pub fn dir(&self, diff_id: &str) -> PathBuf {
        self.paths.layer(diff_id)
    }

    /// `<root>/layers/sha256/<hex>/diff`: what overlay mounts as a lowerdir.
    pub fn diff(&self, diff_id: &str) -> PathBuf {
        self.dir(diff_id).join("diff")
    }

    /// `<root>/layers`: the directory the short links are relative to.
    pub fn base(&self) -> PathBuf {
        self.paths.root.join("layers")
    }

    fn marker(&self, diff_id: &str) -> PathBuf {
        self.dir(diff_id).join("layer.json")
    }

    fn lock_path(&self, diff_id: &str) -> PathBuf {
        self.paths.layer_lock(diff_id)
    }

    /// Whether the layer is unpacked and complete.
    pub fn is_complete(&self, diff_id: &str) -> bool {
        digest::validate(diff_id).is_ok() && self.marker(diff_id).is_file()
    }

    /// The completion marker of an unpacked layer.
    pub fn info(&self, diff_id: &str) -> Option<LayerInfo> {
        serde_json::from_slice(&fs::read(self.marker(diff_id)).ok()?).ok()
    }

    /// Unpacks `layer` unless it already is. Returns whether this call did the work.
    pub fn ensure(&self, layer: &LayerBlob, opts: &UnpackOptions) -> Result<bool> {
        digest::validate(&layer.diff_id)?;
        if self.is_complete(&layer.diff_id) {
            return Ok(false);
        }
        let _lock = Lock::exclusive(&self.lock_path(&layer.diff_id))?;
        if self.is_complete(&layer.diff_id) {
            return Ok(false);
        }
        let dir = self.dir(&layer.diff_id);
        let layers = self.paths.layers();
        crate::store::private::create_dir_all(&layers)?;
        if fs::symlink_metadata(&dir).is_ok() {
            // A directory without its marker was not made by a completed unpack (a delete
            // interrupted half-way, or a hand edit): move it out of the way.
            let aside = atomic::temp_path_for(&dir);
            fs::rename(&dir, &aside).with_path("move aside", &dir)?;
            let _ = fs::remove_dir_all(&aside);
        }
        let staging = atomic::temp_path_for(&dir);
        let result = self.unpack_into(&staging, layer, opts).and_then(|info| {
            atomic::write_json(&staging.join("layer.json"), &info)?;
            atomic::rename(&staging, &dir)?;
            self.ensure_link(&layer.diff_id)
        });
        if result.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        result.map(|()| true)
    }

    fn unpack_into(
        &self,
        staging: &Path,
        layer: &LayerBlob,
        opts: &UnpackOptions,
    ) -> Result<LayerInfo> {
        let diff = staging.join("diff");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(staging)
            .with_path("create directory", staging)?;
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&diff)
            .with_path("create directory", &diff)?;
        let blob = match File::open(&layer.blob) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LayerError::MissingBlob(layer.digest.clone()));
            }
            Err(source) => {
                return Err(IoError {
                    op: "open",
                    path: layer.blob.clone(),
                    source,
                }
                .into());
            }
        };
        let (mut reader, decoder) = stream::spawn(blob, opts.max_size).map_err(|e| {
            if e.kind() == io::ErrorKind::Unsupported {
                LayerError::Unsupported {
                    digest: layer.digest.clone(),
                    message: e.to_string(),
                }
            } else {
                IoError {
                    op: "read",
                    path: layer.blob.clone(),
                    source: e,
                }
                .into()
            }
        })?;
        let root = crate::confine::Root::open(&diff).with_path("open", &diff)?;
        let extracted = extract::extract(&mut reader, &root, opts.max_size);
        if extracted.is_ok() {
            reader.finish();
        } else {
            drop(reader);
        }
        let decoded = decoder
            .join()
            .unwrap_or(Err(stream::StreamError::Cancelled));
        let digest = layer.digest.clone();
        // The decoder's failure explains the extractor's (a truncated stream looks like a
        // truncated tar), so it is reported first.
        let decoded = match decoded {
            Ok(d) => Some(d),
            Err(stream::StreamError::Cancelled) => None,
            Err(stream::StreamError::Corrupt(source)) => {
                return Err(LayerError::Corrupt { digest, source });
            }
            Err(stream::StreamError::Truncated(source)) => {
                return Err(LayerError::Truncated { digest, source });
            }
            Err(stream::StreamError::TooLarge { limit }) => {
                return Err(LayerError::TooLarge { digest, limit });
            }
            Err(stream::StreamError::Read(source)) => {
                return Err(IoError {
                    op: "read",
                    path: layer.blob.clone(),
                    source,
                }
                .into());
            }
        };
        let stats = extracted.map_err(|source| LayerError::Extract {
            digest: digest.clone(),
            source,
        })?;
        let decoded = decoded.expect("a finished reader is never cancelled");
        if decoded.diff_id != layer.diff_id {
            return Err(LayerError::DiffIdMismatch {
                digest,
                expected: layer.diff_id.clone(),
                actual: decoded.diff_id,
            });
        }
        Ok(LayerInfo {
            diff_id: layer.diff_id.clone(),
            digest: layer.digest.clone(),
            media_type: layer.media_type.clone(),
            size: decoded.size,
            entries: stats.entries,
            link: link_name(&layer.diff_id),
            whiteouts: if stats.oci_whiteouts {
                "oci".into()
            } else {
                String::new()
            },
        })
    }

    /// Unpacks every layer not yet unpacked, several at a time. The first error is returned.
    pub fn ensure_all(&self, layers: &[LayerBlob], opts: &UnpackOptions) -> Result<()> {
        self.collect_garbage();
        let missing: Vec<&LayerBlob> = layers
            .iter()
            .filter(|l| !self.is_complete(&l.diff_id))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(missing.len());
        let next = std::sync::atomic::AtomicUsize::new(0);
        let first_error = std::sync::Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(layer) = missing.get(i) else { break };
                        if first_error.lock().is_ok_and(|e| e.is_some()) {
                            break;
                        }
                        if let Err(e) = self.ensure(layer, opts) {
                            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            slot.get_or_insert(e);
                            break;
                        }
                    }
                });
            }
        });
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Unpacks what is missing, then holds a shared lock on each layer, so that no layer
    /// removal (which takes the lock exclusively) can pull a layer from under a container
    /// being created. Hold the locks until the container's record, which names its layers, is
    /// in place.
    pub fn ensure_held(&self, layers: &[LayerBlob], opts: &UnpackOptions) -> Result<Vec<Lock>> {
        for _attempt in 0..3 {
            self.ensure_all(layers, opts)?;
            let mut held = Vec::with_capacity(layers.len());
            for l in layers {
                held.push(Lock::shared(&self.lock_path(&l.diff_id))?);
            }
            if layers.iter().all(|l| self.is_complete(&l.diff_id)) {
                return Ok(held);
            }
        }
        self.ensure_all(layers, opts)?;
        Ok(Vec::new())
    }

    /// Takes a layer's lock exclusively, for a caller that removes layers: remove only while
    /// holding it, and only a layer that no container record names.
    pub fn lock_exclusive(&self, diff_id: &str) -> Result<Lock> {
        Ok(Lock::exclusive(&self.lock_path(diff_id))?)
    }

    /// `<root>/layers/l/<LINK>` for a layer.
    pub fn link_path(&self, diff_id: &str) -> PathBuf {
        self.paths.layer_links().join(link_name(diff_id))
    }

    /// Makes sure the short link of a layer exists and points at it.
    pub fn ensure_link(&self, diff_id: &str) -> Result<()> {
        let link = self.link_path(diff_id);
        let want = format!("../sha256/{}/diff", digest_hex(diff_id));
        match fs::read_link(&link) {
            Ok(t) if t == Path::new(&want) => return Ok(()),
            Ok(t) => {
                return Err(LayerError::LinkConflict {
                    link,
                    found: t.display().to_string(),
                    diff_id: diff_id.to_string(),
                });
            }
            Err(_) => {}
        }
        let dir = link.parent().expect("link has a parent");
        crate::store::private::create_dir_all(dir)?;
        let tmp = atomic::temp_path_for(&link);
        std::os::unix::fs::symlink(&want, &tmp).with_path("create link", &tmp)?;
        let r = fs::rename(&tmp, &link).with_path("create link", &link);
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        Ok(r?)
    }

    /// Removes what interrupted unpacks left (temporary directories of dead processes).
    pub fn collect_garbage(&self) -> usize {
        atomic::collect_garbage(&self.paths.layers())
            + atomic::collect_garbage(&self.paths.layer_links())
    }
}

/// The short name of a layer's link: the first 128 bits of its diff id in base32 (26
/// characters, as Docker's overlay2 uses), so that a hundred lowerdirs fit the one page of
/// mount(2) data. Derived, not random, so two processes agree on it without coordination;
/// 128 bits keep a deliberate collision out of reach.
pub fn link_name(diff_id: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = hex::decode(digest_hex(diff_id)).unwrap_or_default();
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut out = String::with_capacity(26);
    for b in bytes.iter().take(16) {
        bits = (bits << 8) | *b as u32;
        nbits += 8;
        while nbits >= 5 {
            nbits -= 5;
            out.push(ALPHABET[((bits >> nbits) & 31) as usize] as char);
        }
    }
    if nbits > 0 {
        out.push(ALPHABET[((bits << (5 - nbits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_names_are_26_base32_characters() {
        let n = link_name(&format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(n.len(), 26);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert_ne!(n, link_name(&format!("sha256:{}", "ac".repeat(32))));
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod extract_tests;
