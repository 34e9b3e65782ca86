//! `berth image inspect`: Docker's image inspect document, from the stored config (kept raw,
//! so nothing oci-spec does not model is lost).

use serde_json::{Map, Value, json};

use super::inventory::LocalImage;

/// Docker's `.Config` keys with their zero values, in Docker's order, so that templates such
/// as `{{.Config.Entrypoint}}` work on any image.
const CONFIG_DEFAULTS: &[(&str, Value)] = &[
    ("Hostname", Value::String(String::new())),
    ("Domainname", Value::String(String::new())),
    ("User", Value::String(String::new())),
    ("AttachStdin", Value::Bool(false)),
    ("AttachStdout", Value::Bool(false)),
    ("AttachStderr", Value::Bool(false)),
    ("Tty", Value::Bool(false)),
    ("OpenStdin", Value::Bool(false)),
    ("StdinOnce", Value::Bool(false)),
    ("Env", Value::Null),
    ("Cmd", Value::Null),
    ("Image", Value::String(String::new())),
    ("Volumes", Value::Null),
    ("WorkingDir", Value::String(String::new())),
    ("Entrypoint", Value::Null),
    ("OnBuild", Value::Null),
    ("Labels", Value::Null),
];

/// The inspect document of one image.
pub fn document(img: &LocalImage) -> Value {
    let raw = &img.config_raw;
    let mut config = Map::new();
    for (k, v) in CONFIG_DEFAULTS {
        config.insert((*k).to_string(), v.clone());
    }
    if let Some(c) = raw.get("config").and_then(Value::as_object) {
        for (k, v) in c {
            config.insert(k.clone(), v.clone());
        }
    }
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
    let mut doc = json!({
        "Id": img.id,
        "RepoTags": tags,
        "RepoDigests": img.repo_digests(),
        "Parent": "",
        "Comment": comment,
        "Created": raw.get("created").cloned().unwrap_or(json!("0001-01-01T00:00:00Z")),
        "DockerVersion": raw.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": raw.get("author").cloned().unwrap_or(json!("")),
        "Config": config,
        "Architecture": raw.get("architecture").cloned().unwrap_or(json!("")),
        "Os": raw.get("os").cloned().unwrap_or(json!("")),
        "Size": img.size,
        "GraphDriver": {"Name": "overlay", "Data": null},
        "RootFS": {"Type": "layers", "Layers": img.diff_ids()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    if let Some(v) = raw.get("variant") {
        doc["Variant"] = v.clone();
    }
    if let Some(d) = &img.manifest_desc {
        doc["Descriptor"] = json!({
            "mediaType": d.media_type().to_string(),
            "digest": d.digest().to_string(),
            "size": d.size(),
        });
    }
    if let Some(p) = &img.problem {
        doc["Problem"] = json!(p);
    }
    doc
}
