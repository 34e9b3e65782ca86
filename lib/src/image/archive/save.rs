//! `berth save`: images to a Docker archive, the way Docker 25 writes one. Layers are written
//! uncompressed (a Docker archive's layer tars are, and each one's digest is then its diff id),
//! and every byte is checked against its digest on the way out, so a damaged store is reported
//! instead of copied.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::ArchiveManifest;
use crate::digest::{HashingReader, HashingWriter};
use crate::error::IoContext;
use crate::image::compress::{self, Compression};
use crate::image::inventory::{Inventory, LocalImage};
use crate::image::oneshot::{LayerDesc, OCI_MANIFEST, oci_manifest};
use crate::image::{ImageError, Result};
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::atomic;

/// What `save` wrote, for the caller to report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Saved {
    pub id: String,
    pub names: Vec<String>,
}

/// Which images (and under which names) `args` ask for, as `docker save` reads them: a name
/// with a tag or digest is that name; a bare repository is every tag of it; an id is the
/// image without names.
fn select(inv: &Inventory, args: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |id: &str, name: Option<String>| {
        let slot = match out.iter_mut().position(|(i, _)| i == id) {
            Some(p) => &mut out[p].1,
            None => {
                out.push((id.to_string(), Vec::new()));
                &mut out.last_mut().unwrap().1
            }
        };
        if let Some(n) = name
            && !slot.contains(&n)
        {
            slot.push(n);
        }
    };
    for arg in args {
        let bare_repo = Reference::parse(arg).ok().filter(|_| {
            let last = arg.rsplit('/').next().unwrap_or(arg);
            !last.contains(':') && !last.contains('@')
        });
        if let Some(r) = bare_repo {
            let repo = r.familiar_name();
            let mut hit = false;
            for img in &inv.images {
                for n in img.names() {
                    if crate::image::list::split_name(n).0 == repo {
                        add(&img.id, Some(n.to_string()));
                        hit = true;
                    }
                }
            }
            if hit {
                continue;
            }
        }
        let found = inv.resolve(arg)?;
        add(&found.image.id, found.name.clone());
    }
    Ok(out)
}

/// Writes the archive for `args` to `out`. Staging space for decompressed layers is `tmp`.
pub fn save(store: &ImageStore, args: &[String], out: impl Write) -> Result<Vec<Saved>> {
    let _lease = store.lease()?;
    let inv = Inventory::load(store)?;
    let selected = select(&inv, args)?;
    let mut w = ArchiveWriter::new(out);
    let mut written = BTreeSet::new();
    let mut manifest_json = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut index_entries = Vec::new();
    let mut saved = Vec::new();
    w.dir("blobs/")?;
    w.dir("blobs/sha256/")?;
    for (id, names) in &selected {
        let img = inv.by_id(id).expect("selected from the inventory");
        let (manifest, config) = match (&img.manifest, &img.config) {
            (Some(m), Some(c)) => (m, c),
            _ => {
                return Err(ImageError::Decode {
                    what: format!("image {}", img.short_id()),
                    reason: img.problem.clone().unwrap_or_default(),
                });
            }
        };
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(ImageError::Decode {
                what: format!("image {}", img.short_id()),
                reason: "its config and manifest disagree on the number of layers".into(),
            });
        }
        let mut layers = Vec::new();
        for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
            let size = if written.insert(diff_id.clone()) {
                write_layer(store, &mut w, layer, diff_id)?
            } else {
                w.size_of(diff_id)
            };
            layers.push(LayerDesc {
                media_type: Compression::None.oci_layer_type().to_string(),
                digest: diff_id.clone(),
                size,
            });
        }
        let config_digest = manifest.config().digest().to_string();
        let config_bytes = store.read_blob(&config_digest)?;
        if written.insert(config_digest.clone()) {
            w.blob(&config_digest, &config_bytes)?;
        }
        let m = oci_manifest(&config_digest, config_bytes.len() as u64, &layers);
        let mdigest = crate::digest::sha256(&m);
        if written.insert(mdigest.clone()) {
            w.blob(&mdigest, &m)?;
        }
        let mut repo_tags = Vec::new();
        for n in names {
            let Ok(r) = Reference::parse(n) else { continue };
            let Some(tag) = r.tag() else { continue };
            repo_tags.push(n.clone());
            repositories
                .entry(r.familiar_name())
                .or_default()
                .insert(tag.to_string(), hex(&config_digest).to_string());
            index_entries.push(json!({
                "mediaType": OCI_MANIFEST, "digest": mdigest, "size": m.len(),
                "annotations": {
                    "io.containerd.image.name": r.full(),
                    "org.opencontainers.image.ref.name": tag,
                },
            }));
        }
        if repo_tags.is_empty() {
            index_entries
                .push(json!({"mediaType": OCI_MANIFEST, "digest": mdigest, "size": m.len()}));
        }
        manifest_json.push(ArchiveManifest {
            config: blob_path(&config_digest),
            repo_tags: (!repo_tags.is_empty()).then(|| repo_tags.clone()),
            layers: layers.iter().map(|l| blob_path(&l.digest)).collect(),
        });
        saved.push(Saved {
            id: img.id.clone(),
            names: repo_tags,
        });
        let _: &LocalImage = img;
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index_entries});
    w.file("index.json", &serde_json::to_vec(&index).expect("json"))?;
    w.file(
        "manifest.json",
        &serde_json::to_vec(&manifest_json).expect("json"),
    )?;
    w.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    if !repositories.is_empty() {
        w.file(
            "repositories",
            &serde_json::to_vec(&repositories).expect("json"),
        )?;
    }
    w.finish()?;
    for s in &saved {
        crate::events::image(store.root(), &s.id, &s.id, "save", Default::default());
    }
    Ok(saved)
}

/// Saves into `path` atomically: a temporary file beside it, renamed into place only once the
/// archive is complete, so a failed save leaves no half-written file.
pub fn save_to_file(store: &ImageStore, args: &[String], path: &Path) -> Result<Vec<Saved>> {
    let tmp = atomic::temp_path_for(path);
    let result = (|| {
        let f = File::create(&tmp).with_path("create", &tmp)?;
        let mut buf = io::BufWriter::with_capacity(1 << 20, f);
        let saved = save(store, args, &mut buf)?;
        let f = buf
            .into_inner()
            .map_err(|e| e.into_error())
            .with_path("write", &tmp)?;
        f.sync_all().with_path("fsync", &tmp)?;
        atomic::rename(&tmp, path)?;
        Ok(saved)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn hex(d: &str) -> &str {
    crate::paths::digest_hex(d)
}

fn blob_path(digest: &str) -> String {
    format!("blobs/sha256/{}", hex(digest))
}

/// Writes one layer, uncompressed, verified against its diff id. Returns its size.
fn write_layer<W: Write>(
    store: &ImageStore,
    w: &mut ArchiveWriter<W>,
    layer: &oci_spec::image::Descriptor,
    diff_id: &str,
) -> Result<u64> {
    let digest = layer.digest().to_string();
    let c = Compression::from_media_type(layer.media_type().as_ref());
    let blob = store.open_blob(&digest)?;
    if c == Compression::None {
        let size = blob
            .metadata()
            .with_path("stat", store.blob_path(&digest))?
            .len();
        w.stream(&blob_path(diff_id), size, BufReader::new(blob), diff_id)?;
        return Ok(size);
    }
    // The tar header needs the size first: decompress into a temporary file (hashing as it
    // goes), then copy that in.
    let tmp = TempFile::new(store.tmp_dir())?;
    let f = File::create(&tmp.0).with_path("create", &tmp.0)?;
    let mut hw = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, f));
    let mut dec = compress::decoder(c, BufReader::with_capacity(1 << 20, blob)).map_err(|e| {
        ImageError::Decode {
            what: format!("layer {digest}"),
            reason: e.to_string(),
        }
    })?;
    io::copy(&mut dec, &mut hw).map_err(|e| ImageError::Decode {
        what: format!("layer {digest} in the store"),
        reason: format!("{e} (pull the image again)"),
    })?;
    let (buf, hasher) = hw.into_parts();
    buf.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|mut f| f.flush())
        .with_path("write", &tmp.0)?;
    hasher.verify(&format!("layer {digest} (uncompressed)"), diff_id, None)?;
    let size = hasher.len();
    let f = File::open(&tmp.0).with_path("open", &tmp.0)?;
    w.stream(&blob_path(diff_id), size, BufReader::new(f), diff_id)?;
    Ok(size)
}

/// A temporary file removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).with_path("create directory", dir)?;
        Ok(TempFile(atomic::temp_path_for(&dir.join("save-layer"))))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// A tar writer with fixed metadata (root-owned, mode 0644, mtime 0), so the same images
/// always make the same archive.
struct ArchiveWriter<W: Write> {
    tar: tar::Builder<W>,
    sizes: BTreeMap<String, u64>,
}

impl<W: Write> ArchiveWriter<W> {
    fn new(out: W) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        ArchiveWriter {
            tar,
            sizes: BTreeMap::new(),
        }
    }

    fn header(size: u64, kind: tar::EntryType, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    fn dir(&mut self, name: &str) -> Result<()> {
        let mut h = Self::header(0, tar::EntryType::Directory, 0o755);
        self.tar
            .append_data(&mut h, name, io::empty())
            .map_err(write_err)
    }

    fn file(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut h = Self::header(bytes.len() as u64, tar::EntryType::Regular, 0o644);
        self.tar.append_data(&mut h, name, bytes).map_err(write_err)
    }

    fn blob(&mut self, digest: &str, bytes: &[u8]) -> Result<()> {
        self.sizes.insert(digest.to_string(), bytes.len() as u64);
        self.file(&blob_path(digest), bytes)
    }

    /// Streams `size` bytes from `r` as `name`, failing if they do not hash to `digest`.
    fn stream(&mut self, name: &str, size: u64, r: impl Read, digest: &str) -> Result<()> {
        let mut h = Self::header(size, tar::EntryType::Regular, 0o644);
        let mut hr = HashingReader::new(r.take(size));
        self.tar
            .append_data(&mut h, name, &mut hr)
            .map_err(write_err)?;
        hr.hasher()
            .verify(&format!("stored layer {digest}"), digest, Some(size))?;
        self.sizes.insert(digest.to_string(), size);
        Ok(())
    }

    fn size_of(&self, digest: &str) -> u64 {
        self.sizes.get(digest).copied().unwrap_or_default()
    }

    fn finish(self) -> Result<()> {
        let mut out = self.tar.into_inner().map_err(write_err)?;
        out.flush().map_err(write_err)
    }
}

fn write_err(e: io::Error) -> ImageError {
    ImageError::Io(crate::error::IoError {
        op: "write archive",
        path: PathBuf::from("-"),
        source: e,
    })
}
