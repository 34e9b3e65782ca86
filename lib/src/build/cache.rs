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
