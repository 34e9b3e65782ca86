//! The build cache: `<root>/build/cache/<key>.json` holds the image state a step produced.
//!
//! A step's key is the sha256 of its parent's key (for FROM: the base image's id), the
//! instruction after substitution, the build args in scope and, for COPY/ADD, the checksum
//! of the files it copies ([`super::context`]). A hit is used only if every layer blob it
//! names is still in the store (an image prune may have collected it). Entries are written
//! atomically; `--no-cache` neither reads them nor skips writing them, as Docker's.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::ImageState;
use crate::digest::sha256;
use crate::error::Result;
use crate::paths::Paths;
use crate::store::{ImageStore, atomic, private};

pub struct Cache {
    dir: PathBuf,
    read: bool,
}

/// The key of a step.
pub fn key(parent: &str, text: &str, args: &BTreeMap<String, String>, extra: &str) -> String {
    let mut s = format!("{parent}\n{text}\n");
    for (k, v) in args {
        s.push_str(&format!("{k}={v}\0"));
    }
    s.push('\n');
    s.push_str(extra);
    sha256(s.as_bytes())
}

impl Cache {
    pub fn open(paths: &Paths, read: bool) -> Result<Cache> {
        let dir = paths.build_cache();
        private::create_dir_all(&dir)?;
        Ok(Cache { dir, read })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("{}.json", crate::paths::digest_hex(key)))
    }

    /// The state a step with `key` produced, if cached and complete.
    pub fn get(&self, store: &ImageStore, key: &str) -> Option<ImageState> {
        if !self.read {
            return None;
        }
        let bytes = std::fs::read(self.path(key)).ok()?;
        let st: ImageState = serde_json::from_slice(&bytes).ok()?;
        st.layers
            .iter()
            .all(|l| store.has_blob(&l.digest))
            .then_some(st)
    }

    pub fn put(&self, key: &str, state: &ImageState) -> Result<()> {
        let p = self.path(key);
        let bytes = serde_json::to_vec(state).expect("json");
        atomic::write_volatile(&p, &bytes)?;
        Ok(())
    }
}

/// What `builder prune` freed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// The cache keys removed.
    pub keys: Vec<String>,
    /// Bytes freed (cache entries, cache mounts, and the blobs only they kept).
    pub reclaimed: u64,
}

/// `berth builder prune`: forgets every cached step, the `RUN --mount=type=cache`
/// directories and the kept checksums, then collects the blobs nothing else reaches (the
/// steps' layers and unnamed intermediate images) through the image store's gc.
pub fn prune(paths: &Paths) -> crate::error::Result<Pruned> {
    let mut out = Pruned::default();
    let store = ImageStore::open_for_gc(paths)?;
    let _gc = store.gc_lock(true)?;
    let dir = paths.build_cache();
    for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let p = e.path();
        let size = e.metadata().map_or(0, |m| m.len());
        if std::fs::remove_file(&p).is_ok() {
            out.reclaimed += size;
            if let Some(k) = p.file_stem() {
                out.keys.push(format!("sha256:{}", k.to_string_lossy()));
            }
        }
    }
    let mounts = paths.build_mounts();
    for e in std::fs::read_dir(&mounts).into_iter().flatten().flatten() {
        out.reclaimed += walkdir::WalkDir::new(e.path())
            .into_iter()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum::<u64>();
        let _ = std::fs::remove_dir_all(e.path());
    }
    let _ = std::fs::remove_file(paths.build_sums());
    let c = crate::image::gc::collect(&store, paths)?;
    out.reclaimed += c.reclaimed;
    out.keys.sort();
    Ok(out)
}
