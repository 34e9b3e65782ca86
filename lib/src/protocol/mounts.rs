//! The `mounts` section, written by berth-vol: one entry per mount it added to config.json,
//! shaped like Docker's `.Mounts`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountEntry {
    pub kind: MountKind,
    /// The volume's name, for volumes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host path (the volume's `_data` for volumes; empty for tmpfs).
    #[serde(default)]
    pub source: PathBuf,
    pub destination: String,
    /// Docker's Mode string: `""`, `ro`, `rw`, `z`...
    #[serde(default)]
    pub mode: String,
    pub rw: bool,
    #[serde(default)]
    pub propagation: String,
    /// An anonymous volume made for this container (removed by `rm -v`).
    #[serde(default)]
    pub anonymous: bool,
    /// Where the definition came from: `-v`, `--mount`, `--tmpfs`, `image`, or
    /// `volumes-from:<id>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin: String,
    /// tmpfs options, e.g. `size=64m,mode=1777`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub options: String,
    /// What the user typed (`data:/data`, `type=bind,src=/a,dst=/b`), for Docker's
    /// `HostConfig.Binds`; empty for image volumes and copies.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spec: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    #[default]
    Volume,
    Bind,
    Tmpfs,
}
