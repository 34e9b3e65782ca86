//! The `bundle` section, written by berth-unpack: where the OCI bundle is, and the effective
//! container configuration (Docker's `.Config`) after the image's settings and the user's
//! overrides were merged.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BundleSection {
    /// The bundle directory (`config.json` + `rootfs/`): `<root>/containers/<id>`.
    pub path: PathBuf,
    /// The mounted root filesystem.
    pub rootfs: PathBuf,
    /// How the rootfs was made.
    pub driver: RootfsDriver,
    /// The effective configuration.
    pub config: ContainerConfig,
    /// The image's layers (diff ids, bottom first) under `<root>/layers/sha256/`: what the
    /// overlay is (re)mounted from, and what keeps those layers from being removed.
    #[serde(default)]
    pub layers: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootfsDriver {
    /// An overlay mount of the shared layers plus a per-container upper dir.
    #[default]
    Overlay,
    /// A private copy of the layers, where overlay is impossible.
    Copy,
    /// A plain directory given by the user (`--to DIR`, or someone else's bundle).
    Dir,
}

/// Docker's `.Config`, in berth's spelling.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The image as the user named it (`busybox`, `busybox:1`).
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub domainname: String,
    /// `user`, `uid`, `user:group` or `uid:gid`, as given.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub env: Vec<String>,
    /// `None` means "not set" (the image's applies); `Some([])` means explicitly empty.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub working_dir: String,
    /// `80/tcp`, `53/udp`.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// Container paths the image declares as volumes.
    #[serde(default)]
    pub volumes: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub read_only: bool,
    /// Docker's `Config.Healthcheck`: the image's HEALTHCHECK under the `--health-*` flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<super::Healthcheck>,
}
