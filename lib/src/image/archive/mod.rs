//! Image archives: `berth save` writes, and `berth load` reads, Docker's archive format
//! (`manifest.json`, `repositories`, a config and layer tars), laid out as Docker 25 does it:
//! the files are also an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`), so
//! `skopeo inspect docker-archive:FILE` and `oci-archive:FILE` both read it. `load` also takes
//! the classic layout (`<id>/layer.tar`), skopeo's (`<digest>.tar` plus symlinks), compressed
//! layers, a gzip- or zstd-compressed archive, and a plain OCI layout tar.
//!
//! `load` stages the tar in `<root>/tmp`, verifies every diff id and every content-addressed
//! name, and only then moves blobs into the store and sets refs. A Docker archive carries no
//! manifest: berth builds an OCI one, deterministically (`oneshot::oci_manifest`), so save
//! then load keeps the manifest digest; the config bytes are kept as they are, so image ids
//! match Docker's.

pub mod load;
pub mod save;
mod staging;

use serde::{Deserialize, Serialize};

/// One image in `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ArchiveManifest {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}

/// Where the archive came from, for messages: a path or `stdin`.
pub(crate) fn describe(path: Option<&std::path::Path>) -> String {
    path.map_or_else(|| "stdin".to_string(), |p| p.display().to_string())
}
