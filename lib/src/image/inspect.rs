//! `berth image inspect`: Docker's image inspect document, moby's `image.InspectResponse`
//! field for field in moby's order, so that JSON keeps Docker's order and a template prints
//! Go's structs (`{{.Config}}`, `{{.RootFS}}`). `.Config` is the image's config in the shape
//! of moby's `container.Config`, every key present as Docker ≤ 28.2 shows it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::inventory::LocalImage;
use crate::format::{GoTime, go_nil_map, go_nil_slice};

/// moby `image.InspectResponse`, and berth's `Problem` (an image it cannot fully read).
#[derive(Debug, Serialize)]
#[serde(
    rename = "go-omitempty Created:s Variant:s OsVersion:s Manifests:l Problem:s",
    rename_all = "PascalCase"
)]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created: String,
    pub docker_version: String,
    pub author: String,
    pub config: ImageConfig,
    pub architecture: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    pub os: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    pub size: u64,
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<ImageDescriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// An empty Go struct (`struct{}`): `{}` in JSON and in a template.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Empty {}

/// moby `container.Config` as an image carries it (Docker's `.Config` of an image).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(
    default,
    rename = "go-omitempty ExposedPorts:m ArgsEscaped:b NetworkDisabled:b MacAddress:s \
              StopSignal:s Shell:l",
    rename_all = "PascalCase"
)]
pub struct ImageConfig {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    #[serde(serialize_with = "go_nil_slice")]
    pub env: Option<Vec<String>>,
    #[serde(serialize_with = "go_nil_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    pub image: String,
    #[serde(serialize_with = "go_nil_map")]
    pub volumes: Option<BTreeMap<String, Empty>>,
    pub working_dir: String,
    #[serde(serialize_with = "go_nil_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub network_disabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    #[serde(serialize_with = "go_nil_slice")]
    pub on_build: Option<Vec<String>>,
    #[serde(serialize_with = "go_nil_map")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
}

/// moby `storage.DriverData` (`Data` first, as moby declares it).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    #[serde(serialize_with = "go_nil_map")]
    pub data: Option<BTreeMap<String, String>>,
    pub name: String,
}

/// moby `image.RootFS`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    pub layers: Vec<String>,
}

/// moby `image.Metadata`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub last_tag_time: GoTime,
}

/// The OCI descriptor of the image's manifest.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageDescriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// The inspect document of one image.
pub fn document(img: &LocalImage) -> ImageInspect {
    let raw = &img.config_raw;
    let text = |k: &str| raw.get(k).and_then(Value::as_str).unwrap_or_default();
    // A config key of the wrong type leaves the defaults (an image berth could not read
    // fully still inspects).
    let config = raw
        .get("config")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let mut tags: Vec<String> = img
        .names()
        .filter(|n| !n.contains('@'))
        .map(str::to_string)
        .collect();
    tags.sort();
    let comment = raw["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|h| h["comment"].as_str())
        .unwrap_or_default();
    ImageInspect {
        id: img.id.clone(),
        repo_tags: tags,
        repo_digests: img.repo_digests(),
        parent: String::new(),
        comment: comment.to_string(),
        created: match text("created") {
            "" => "0001-01-01T00:00:00Z".into(),
            t => t.to_string(),
        },
        docker_version: text("docker_version").to_string(),
        author: text("author").to_string(),
        config,
        architecture: text("architecture").to_string(),
        variant: text("variant").to_string(),
        os: text("os").to_string(),
        os_version: text("os.version").to_string(),
        size: img.size,
        graph_driver: GraphDriver {
            data: None,
            name: "overlay".into(),
        },
        root_fs: RootFs {
            kind: "layers".into(),
            layers: img.diff_ids(),
        },
        metadata: Metadata {
            last_tag_time: GoTime(go_zero_time()),
        },
        descriptor: img.manifest_desc.as_ref().map(|d| ImageDescriptor {
            media_type: d.media_type().to_string(),
            digest: d.digest().to_string(),
            size: d.size(),
        }),
        manifests: None,
        problem: img.problem.clone(),
    }
}

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`): a tag time berth does not keep.
fn go_zero_time() -> chrono::DateTime<chrono::Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or_default()
}
