//! The `image` section, written by berth-pull (and by berth-unpack when given an image name).

use serde::{Deserialize, Serialize};

/// What was pulled: enough for the next stage to find everything in the store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageSection {
    /// The store's ref name, Docker's familiar form: `busybox:latest`.
    pub reference: String,
    /// Fully qualified: `docker.io/library/busybox:latest`.
    pub name: String,
    /// The reference as the user typed it (`busybox`), for Docker's `.Config.Image` and
    /// `ps`'s IMAGE; written by berth-pull as a stage.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub given: String,
    /// Digest of the platform manifest.
    pub digest: String,
    /// Digest of the index or manifest list the manifest was chosen from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    /// The digest the registry knows the image by (Docker's `RepoDigests`): the index or
    /// manifest list the tag resolved to, else the manifest as the registry served it, which
    /// differs from `digest` when the store keeps another form (a Docker v2 schema 2 manifest
    /// is stored as its OCI equivalent, as skopeo does). Unset for images that never met a
    /// registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_digest: Option<String>,
    /// The image id: the config digest.
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// `os/arch[/variant]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform: String,
    pub layers: Vec<LayerRef>,
}

/// One layer of the image, in order from the bottom.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Digest of the blob as stored (compressed).
    pub digest: String,
    /// Digest of the uncompressed tar (from the config's rootfs.diff_ids).
    pub diff_id: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
}
