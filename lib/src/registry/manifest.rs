//! Manifests as registries serve them: which kind a document is, what berth accepts, and the
//! platform choice in an index or manifest list.
//!
//! Accepted: OCI image manifests and indexes, Docker v2 schema 2 manifests and manifest lists.
//! Refused with a clear message: Docker schema 1 (deprecated since 2015, and its `v1Compatibility`
//! history is not an image config), anything else (artifacts, Helm charts, ...), and layers of
//! media types berth cannot unpack (foreign/non-distributable layers included).

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::client::FetchedManifest;
use super::{RegistryError, Result};
use crate::store::layout::{
    DOCKER_CONFIG, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, PlatformSpec, StoreError,
};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";
pub const DOCKER_SCHEMA1_SIGNED: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// The `Accept` header for manifest requests: every type berth handles.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// Layer media types berth pulls (and berth-unpack unpacks).
pub const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];

/// A fetched document, classified.
#[derive(Debug, Clone)]
pub enum Parsed {
    Image {
        manifest: Box<ImageManifest>,
        media_type: String,
    },
    Index {
        index: Box<ImageIndex>,
        media_type: String,
    },
}

/// Decides what `fetched` is, by its `mediaType` field, else the `Content-Type`, else its
/// shape; refuses schema 1 and unknown types. `what` names it in messages.
///
/// The kind is told from a loose look at the JSON, but the document itself is parsed typed
/// from the bytes, exactly as the store reads it back (`ImageManifest::from_reader`): a
/// document that reader refuses, such as one with a duplicate key (where a loose parse lets
/// the last one win), is refused here, before anything is stored.
pub fn classify(fetched: &FetchedManifest, what: &str) -> Result<Parsed> {
    let invalid = |detail: String| RegistryError::Invalid {
        what: what.to_string(),
        detail,
    };
    let v: serde_json::Value = serde_json::from_slice(&fetched.bytes)
        .map_err(|e| invalid(format!("the manifest is not valid JSON: {e}")))?;
    let ct = fetched.content_type.as_str();
    if v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1)
        || ct == DOCKER_SCHEMA1
        || ct == DOCKER_SCHEMA1_SIGNED
    {
        return Err(RegistryError::Schema1 {
            reference: what.to_string(),
        });
    }
    let field = v.get("mediaType").and_then(|m| m.as_str()).unwrap_or("");
    let media_type = if !field.is_empty() {
        field.to_string()
    } else if is_known(ct) {
        ct.to_string()
    } else if v.get("manifests").is_some() {
        OCI_INDEX.to_string()
    } else if v.get("config").is_some() && v.get("layers").is_some() {
        OCI_MANIFEST.to_string()
    } else {
        ct.to_string()
    };
    match media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let index: ImageIndex = typed(&fetched.bytes, "image index").map_err(invalid)?;
            Ok(Parsed::Index {
                index: Box::new(index),
                media_type,
            })
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let manifest: ImageManifest =
                typed(&fetched.bytes, "image manifest").map_err(invalid)?;
            Ok(Parsed::Image {
                manifest: Box::new(manifest),
                media_type,
            })
        }
        other => Err(RegistryError::UnsupportedMediaType {
            what: what.to_string(),
            media_type: if other.is_empty() {
                "(none)".to_string()
            } else {
                other.to_string()
            },
        }),
    }
}

/// The typed document, from the bytes the registry sent (the digest covers them), as the
/// store's reader parses what berth-pull stores.
fn typed<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    kind: &str,
) -> std::result::Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        let hint = if e.to_string().starts_with("duplicate field") {
            " (a key appears twice, which the OCI and Docker specs do not allow: ask the image's publisher to push it again)"
        } else {
            ""
        };
        format!("invalid {kind}: {e}{hint}")
    })
}

fn is_known(mt: &str) -> bool {
    matches!(
        mt,
        OCI_INDEX | DOCKER_MANIFEST_LIST | OCI_MANIFEST | DOCKER_MANIFEST
    )
}

/// Checks that an image manifest is a container image berth can use: an image config and
/// layers of known types.
pub fn check_image(manifest: &ImageManifest, what: &str) -> Result<()> {
    let config_type = manifest.config().media_type().to_string();
    if config_type != OCI_CONFIG && config_type != DOCKER_CONFIG {
        return Err(RegistryError::UnsupportedMediaType {
            what: format!("{what}: config"),
            media_type: config_type,
        });
    }
    for l in manifest.layers() {
        let mt = l.media_type().to_string();
        if !LAYER_TYPES.contains(&mt.as_str()) {
            return Err(RegistryError::UnsupportedMediaType {
                what: format!("{what}: layer {}", l.digest()),
                media_type: mt,
            });
        }
    }
    Ok(())
}

/// The OCI form of a Docker v2 schema 2 manifest (what `skopeo copy docker://... oci:...`
/// writes too): the same config and layer blobs under OCI media types. The OCI layout readers
/// (skopeo's and umoci's) only look at OCI manifests and indexes in `index.json`, so the store
/// keeps this form. `None` if `manifest` is OCI already.
pub fn docker_to_oci(manifest: &ImageManifest, media_type: &str) -> Option<ImageManifest> {
    if media_type != DOCKER_MANIFEST {
        return None;
    }
    let mut m = manifest.clone();
    m.set_media_type(Some(oci_spec::image::MediaType::ImageManifest));
    let mut config = m.config().clone();
    config.set_media_type(oci_spec::image::MediaType::ImageConfig);
    m.set_config(config);
    let layers = m
        .layers()
        .iter()
        .map(|l| {
            let mut l = l.clone();
            let oci = match l.media_type().to_string().as_str() {
                "application/vnd.docker.image.rootfs.diff.tar.gzip" => {
                    oci_spec::image::MediaType::ImageLayerGzip
                }
                "application/vnd.docker.image.rootfs.diff.tar" => {
                    oci_spec::image::MediaType::ImageLayer
                }
                _ => l.media_type().clone(),
            };
            l.set_media_type(oci);
            l
        })
        .collect();
    m.set_layers(layers);
    Some(m)
}

/// The index entry for `want`. Entries with platform `unknown/unknown` (build attestations)
/// are never chosen.
pub fn choose_platform(index: &ImageIndex, want: &PlatformSpec, what: &str) -> Result<Descriptor> {
    let real = |d: &&Descriptor| {
        d.platform()
            .as_ref()
            .is_some_and(|p| p.os().to_string() != "unknown")
    };
    let matching: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(real)
        .filter(|d| d.platform().as_ref().is_some_and(|p| want.matches(p)))
        .collect();
    // Without a variant asked for, prefer the architecture's usual one (arm64/v8, arm/v7), as
    // containerd's platform matcher does; else the first.
    let preferred = match (want.variant.as_deref(), want.architecture.as_str()) {
        (None, "arm64") => Some("v8"),
        (None, "arm") => Some("v7"),
        _ => None,
    };
    let pick = preferred
        .and_then(|v| {
            matching
                .iter()
                .find(|d| d.platform().as_ref().and_then(|p| p.variant().as_deref()) == Some(v))
        })
        .or(matching.first())
        .copied();
    pick.cloned().ok_or_else(|| {
        RegistryError::Store(StoreError::NoPlatform {
            reference: what.to_string(),
            platform: want.to_string(),
            available: index
                .manifests()
                .iter()
                .filter(real)
                .filter_map(|m| m.platform().as_ref().map(PlatformSpec::from_oci))
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Code, Coded};

    fn fetched(body: &str, ct: &str) -> FetchedManifest {
        FetchedManifest {
            bytes: body.as_bytes().to_vec(),
            content_type: ct.into(),
            digest: crate::digest::sha256(body.as_bytes()),
        }
    }

    const CFG: &str = r#"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":2}"#;

    #[test]
    fn kinds_are_told_apart_and_odd_ones_refused() {
        let m = format!(r#"{{"schemaVersion":2,"config":{CFG},"layers":[]}}"#);
        assert!(matches!(
            classify(&fetched(&m, ""), "x").unwrap(),
            Parsed::Image { .. }
        ));
        let i = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#;
        assert!(matches!(
            classify(&fetched(i, ""), "x").unwrap(),
            Parsed::Index { .. }
        ));
        let s1 = r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let e = classify(&fetched(s1, DOCKER_SCHEMA1_SIGNED), "x").unwrap_err();
        assert_eq!(e.code(), Code::UNSUPPORTED);
        assert!(e.to_string().contains("schema 1"), "{e}");
        let art =
            r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}"#;
        assert_eq!(
            classify(&fetched(art, ""), "x").unwrap_err().code(),
            Code::UNSUPPORTED
        );
        assert_eq!(
            classify(&fetched("{", ""), "x").unwrap_err().code(),
            Code::DECODE
        );
    }

    #[test]
    fn a_duplicate_key_is_refused_as_the_store_would() {
        // The fuzz target's finding (fuzz/README.md): a loose parse lets the last key win,
        // the store's typed reader refuses the document.
        let m = format!(r#"{{"schemaVersion":2,"config":{CFG},"layers":[],"layers":[]}}"#);
        assert!(ImageManifest::from_reader(m.as_bytes()).is_err());
        let e = classify(&fetched(&m, OCI_MANIFEST), "x").unwrap_err();
        assert_eq!(e.code(), Code::DECODE);
        let text = e.to_string();
        assert!(
            text.starts_with("x: invalid image manifest: duplicate field `layers`")
                && text.contains("a key appears twice"),
            "{text}"
        );
        let mt = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","mediaType":"{OCI_MANIFEST}","config":{CFG},"layers":[]}}"#
        );
        assert_eq!(
            classify(&fetched(&mt, ""), "x").unwrap_err().code(),
            Code::DECODE
        );
        let i = r#"{"schemaVersion":2,"manifests":[],"manifests":[]}"#;
        let e = classify(&fetched(i, OCI_INDEX), "x").unwrap_err();
        assert!(
            e.to_string()
                .contains("invalid image index: duplicate field"),
            "{e}"
        );
        // A document the store reads is accepted.
        let ok = format!(r#"{{"schemaVersion":2,"config":{CFG},"layers":[]}}"#);
        assert!(ImageManifest::from_reader(ok.as_bytes()).is_ok());
        assert!(classify(&fetched(&ok, OCI_MANIFEST), "x").is_ok());
    }

    #[test]
    fn layer_and_config_types_are_checked() {
        let layer = |mt: &str| {
            format!(
                r#"{{"schemaVersion":2,"config":{CFG},"layers":[{{"mediaType":"{mt}","digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1}}]}}"#
            )
        };
        let ok = serde_json::from_str::<ImageManifest>(&layer(LAYER_TYPES[2])).unwrap();
        check_image(&ok, "x").unwrap();
        let bad = serde_json::from_str::<ImageManifest>(&layer("application/x-weird")).unwrap();
        let e = check_image(&bad, "x").unwrap_err();
        assert_eq!(e.code(), Code::UNSUPPORTED);
        assert!(e.to_string().contains("application/x-weird"));
    }

    #[test]
    fn platforms_are_chosen_with_default_variants() {
        let d = |arch: &str, v: Option<&str>, n: char| {
            let var = v
                .map(|v| format!(r#","variant":"{v}""#))
                .unwrap_or_default();
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{}","size":1,"platform":{{"os":"linux","architecture":"{arch}"{var}}}}}"#,
                n.to_string().repeat(64)
            )
        };
        let idx = format!(
            r#"{{"schemaVersion":2,"manifests":[{},{},{},{}]}}"#,
            d("amd64", None, 'a'),
            d("arm64", Some("v7"), 'b'),
            d("arm64", Some("v8"), 'c'),
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","size":1,"platform":{"os":"unknown","architecture":"unknown"}}"#
        );
        let index: ImageIndex = serde_json::from_str(&idx).unwrap();
        let pick = |p: &str| choose_platform(&index, &p.parse().unwrap(), "x");
        assert!(
            pick("linux/amd64")
                .unwrap()
                .digest()
                .to_string()
                .contains("aaaa")
        );
        assert!(
            pick("linux/arm64")
                .unwrap()
                .digest()
                .to_string()
                .contains("cccc")
        );
        assert!(
            pick("linux/arm64/v7")
                .unwrap()
                .digest()
                .to_string()
                .contains("bbbb")
        );
        let e = pick("linux/s390x").unwrap_err();
        assert_eq!(e.code(), Code::NOT_FOUND);
        assert!(
            e.to_string()
                .contains("linux/amd64, linux/arm64/v7, linux/arm64/v8"),
            "{e}"
        );
    }
}
