//! Crafted and malicious images, written straight into a test's store: tars built entry by
//! entry (including names no honest tool writes, such as `../x`), compressed as asked, with
//! a config and manifest around them. For the unpack security and preservation tests.

use std::io::Write;

use berth::store::ImageStore;
use berth::store::layout::descriptor;
use serde_json::{Value, json};

use crate::TestEnv;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// A layer as stored: the blob, its media type, and the diff id the config will claim.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: &'static str,
    pub diff_id: String,
}

impl Layer {
    /// A layer from an uncompressed tar, with its true diff id.
    pub fn new(tar: &[u8], c: Compression) -> Layer {
        let (blob, media_type) = match c {
            Compression::None => (tar.to_vec(), "application/vnd.oci.image.layer.v1.tar"),
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(tar).unwrap();
                (
                    e.finish().unwrap(),
                    "application/vnd.oci.image.layer.v1.tar+gzip",
                )
            }
            Compression::Zstd => (
                zstd::encode_all(tar, 3).unwrap(),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
        };
        Layer {
            blob,
            media_type,
            diff_id: berth::digest::sha256(tar),
        }
    }

    /// A gzip layer from a tar.
    pub fn gz(tar: &[u8]) -> Layer {
        Layer::new(tar, Compression::Gzip)
    }
}

/// Builds a tar with `f`, which adds entries through a [`TarBuilder`].
pub fn tar(f: impl FnOnce(&mut TarBuilder)) -> Vec<u8> {
    let mut b = TarBuilder {
        inner: tar::Builder::new(Vec::new()),
    };
    f(&mut b);
    b.inner.into_inner().unwrap()
}

/// Adds entries with any name, bypassing the checks of the tar crate's path setters.
pub struct TarBuilder {
    pub inner: tar::Builder<Vec<u8>>,
}

/// Options of one entry.
#[derive(Debug, Clone)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

impl Default for Meta {
    fn default() -> Self {
        Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 1_600_000_000,
        }
    }
}

impl TarBuilder {
    /// Appends an entry whose name (and link name) are raw bytes; long names go through PAX.
    pub fn raw(
        &mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: Option<&[u8]>,
        meta: &Meta,
        pax: &[(&str, &[u8])],
        data: &[u8],
    ) {
        self.raw_with(kind, name, link, meta, pax, data, |_| {});
    }

    /// [`raw`](Self::raw), with a last edit of the header (device numbers...).
    #[allow(clippy::too_many_arguments)]
    pub fn raw_with(
        &mut self,
        kind: tar::EntryType,
        name: &[u8],
        link: Option<&[u8]>,
        meta: &Meta,
        pax: &[(&str, &[u8])],
        data: &[u8],
        tweak: impl FnOnce(&mut tar::Header),
    ) {
        let mut records: Vec<(String, Vec<u8>)> = pax
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect();
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(meta.mode);
        h.set_uid(meta.uid);
        h.set_gid(meta.gid);
        h.set_mtime(meta.mtime);
        h.set_size(data.len() as u64);
        if name.len() <= 100 {
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
        } else {
            records.push(("path".into(), name.to_vec()));
            h.as_old_mut().name[..9].copy_from_slice(b"long-name");
        }
        if let Some(l) = link {
            if l.len() <= 100 {
                h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
            } else {
                records.push(("linkpath".into(), l.to_vec()));
            }
        }
        if !records.is_empty() {
            let refs: Vec<(&str, &[u8])> = records
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_slice()))
                .collect();
            self.inner.append_pax_extensions(refs).unwrap();
        }
        tweak(&mut h);
        h.set_cksum();
        self.inner.append(&h, data).unwrap();
    }

    pub fn file(&mut self, name: &str, data: &[u8]) {
        self.raw(
            tar::EntryType::Regular,
            name.as_bytes(),
            None,
            &Meta::default(),
            &[],
            data,
        );
    }

    pub fn file_meta(&mut self, name: &[u8], meta: &Meta, pax: &[(&str, &[u8])], data: &[u8]) {
        self.raw(tar::EntryType::Regular, name, None, meta, pax, data);
    }

    pub fn dir(&mut self, name: &str, mode: u32) {
        let meta = Meta {
            mode,
            ..Meta::default()
        };
        self.raw(
            tar::EntryType::Directory,
            name.as_bytes(),
            None,
            &meta,
            &[],
            b"",
        );
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        let meta = Meta {
            mode: 0o777,
            ..Meta::default()
        };
        self.raw(
            tar::EntryType::Symlink,
            name.as_bytes(),
            Some(target.as_bytes()),
            &meta,
            &[],
            b"",
        );
    }

    pub fn hardlink(&mut self, name: &str, target: &str) {
        self.raw(
            tar::EntryType::Link,
            name.as_bytes(),
            Some(target.as_bytes()),
            &Meta::default(),
            &[],
            b"",
        );
    }

    pub fn device(&mut self, name: &str, kind: tar::EntryType, major: u32, minor: u32) {
        let meta = Meta {
            mode: 0o600,
            ..Meta::default()
        };
        self.raw_with(kind, name.as_bytes(), None, &meta, &[], b"", |h| {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        });
    }
}

/// Stores an image named `name` (familiar form, e.g. `evil:latest`) made of `layers`, with
/// `config` as the image config's `config` object (Env, Cmd, User...).
pub fn put_image(env: &TestEnv, name: &str, layers: &[Layer], config: Value) -> String {
    let store = ImageStore::open(&env.paths()).unwrap();
    let mut descs = Vec::new();
    for l in layers {
        let d = store.put_blob(&l.blob).unwrap();
        descs.push(json!({"mediaType": l.media_type, "digest": d, "size": l.blob.len()}));
    }
    let cfg = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
    });
    let cfg_bytes = serde_json::to_vec(&cfg).unwrap();
    let cfg_d = store.put_blob(&cfg_bytes).unwrap();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg_d, "size": cfg_bytes.len()},
        "layers": descs,
    });
    let m_bytes = serde_json::to_vec(&manifest).unwrap();
    let m_d = store.put_blob(&m_bytes).unwrap();
    store
        .set_ref(
            name,
            &descriptor(
                "application/vnd.oci.image.manifest.v1+json",
                &m_d,
                m_bytes.len() as u64,
            ),
        )
        .unwrap();
    m_d
}

/// The tar of a busybox root filesystem (the fixtures' content), for crafted images that run.
pub fn busybox_tar() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    crate::fixtures::populate_busybox(dir.path());
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(false);
    b.append_dir_all(".", dir.path()).unwrap();
    b.into_inner().unwrap()
}
