//! `berth import FILE|- [REPOSITORY[:TAG]]`: a one-layer image from a root filesystem tar, as
//! `docker import` makes it. The tar is stored as given (plain, gzip or zstd), after checking
//! that it is a readable tar and computing its diff id.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::Path;

use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::archive::load::Loaded;
use super::compress::{self, Compression};
use super::oneshot::{LayerDesc, commit_image, oci_manifest};
use super::{ImageError, Result, changes};
use crate::digest::HashingReader;
use crate::error::IoContext;
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::layout::PlatformSpec;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `REPOSITORY[:TAG]`; without it the image is untagged, as with Docker.
    pub reference: Option<String>,
    /// `-c/--change` Dockerfile instructions.
    pub changes: Vec<String>,
    /// `-m/--message`: the history comment.
    pub message: Option<String>,
    pub platform: Option<PlatformSpec>,
}

/// Imports the tar at `source` (`None`: stdin).
pub fn import(store: &ImageStore, source: Option<&Path>, opts: &ImportOptions) -> Result<Loaded> {
    // Arguments first: a bad tag or change must fail before anything is read or stored.
    let name = match &opts.reference {
        Some(r) => {
            let r = Reference::parse(r)?;
            if r.digest().is_some() {
                return Err(ImageError::BadArgs(format!(
                    "cannot import to a digest reference {:?} (give REPOSITORY[:TAG])",
                    opts.reference.as_deref().unwrap_or_default()
                )));
            }
            Some(r.familiar())
        }
        None => None,
    };
    let mut config_section = Map::new();
    for c in &opts.changes {
        changes::apply(&mut config_section, c)?;
    }
    let what = super::archive::describe(source);

    let _lease = store.lease()?;
    let mut w = store.blob_writer()?;
    let copied = match source {
        Some(p) => {
            let mut f = File::open(p).with_path("open", p)?;
            io::copy(&mut f, &mut w).with_path("read", p)?
        }
        None => io::copy(&mut io::stdin().lock(), &mut w).with_path("read", "stdin")?,
    };
    w.flush().with_path("write", w.path())?;
    if copied == 0 {
        return Err(ImageError::BadTar {
            file: what,
            reason: "it is empty".into(),
        });
    }
    let (c, diff_id) = check_tar(w.path(), &what)?;
    let layer_digest = w.commit(None, None)?;

    let platform = opts.platform.clone().unwrap_or_else(PlatformSpec::host);
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
    let comment = opts.message.clone().unwrap_or_else(|| {
        format!(
            "Imported from {}",
            source.map_or("-".into(), |p| p.display().to_string())
        )
    });
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "created": now,
        "config": Value::Object(config_section),
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": now, "comment": comment}],
    });
    if let Some(v) = &platform.variant {
        config["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_digest = store.put_blob(&config_bytes)?;
    let manifest = oci_manifest(
        &config_digest,
        config_bytes.len() as u64,
        &[LayerDesc {
            media_type: c.oci_layer_type().to_string(),
            digest: layer_digest,
            size: copied,
        }],
    );
    let names: Vec<String> = name.into_iter().collect();
    commit_image(store, &manifest, &names)?;
    crate::events::image(
        store.root(),
        &config_digest,
        &config_digest,
        "import",
        Default::default(),
    );
    Ok(Loaded {
        id: config_digest,
        names,
    })
}

/// Reads the staged file as a (possibly compressed) tar to the end. Returns its compression
/// and its diff id (the digest of the uncompressed stream).
fn check_tar(path: &Path, what: &str) -> Result<(Compression, String)> {
    let f = File::open(path).with_path("open", path)?;
    let mut r = BufReader::with_capacity(1 << 20, f);
    let c = compress::sniff_stream(&mut r).with_path("read", path)?;
    if let Compression::Other(kind) = c {
        return Err(ImageError::Unsupported(
            format!("{what}: {kind}-compressed tar"),
            "plain, gzip and zstd tars; decompress it first",
        ));
    }
    let corrupt = |e: io::Error| match e.kind() {
        io::ErrorKind::UnexpectedEof => ImageError::Truncated {
            file: what.to_string(),
            detail: String::new(),
        },
        _ => ImageError::BadTar {
            file: what.to_string(),
            reason: super::tar_problem(&e),
        },
    };
    let dec = compress::decoder(c, r).map_err(corrupt)?;
    let mut archive = tar::Archive::new(HashingReader::new(dec));
    for e in archive.entries().map_err(corrupt)? {
        let mut e = e.map_err(corrupt)?;
        let expected = e.size();
        let n = io::copy(&mut e, &mut io::sink()).map_err(corrupt)?;
        if n != expected {
            return Err(ImageError::Truncated {
                file: what.to_string(),
                detail: String::new(),
            });
        }
    }
    let mut inner = archive.into_inner();
    // The diff id covers the whole stream, end-of-archive blocks included.
    io::copy(&mut inner, &mut io::sink()).map_err(corrupt)?;
    let hasher = inner.hasher();
    if hasher.len() < 1024 || hasher.len() % 512 != 0 {
        return Err(ImageError::BadTar {
            file: what.to_string(),
            reason: "it is too short to be a tar archive".into(),
        });
    }
    Ok((c, hasher.digest()))
}
