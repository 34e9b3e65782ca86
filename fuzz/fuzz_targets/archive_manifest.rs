//! Fuzzes the document that drives `berth load`: a Docker archive's `manifest.json`, or an
//! OCI layout's `index.json`. Each input is put into an archive beside a valid image (config,
//! one layer, its OCI manifest and `oci-layout`, stored under `blobs/sha256/`, plus a
//! `config.json` copy and a `layer.tar` symlink) and loaded with `image::archive::load::load`
//! into a fresh store.
//!
//! Input: one byte (even: `manifest.json`, odd: `index.json`), then the document. Whatever
//! the input, nothing may panic, nothing may be written outside the store, and every name a
//! successful load reports must resolve in the store to the image it reported.
//!
//! `FUZZ_WRITE_SEEDS=DIR` makes the target write seed inputs for its fixed image into DIR
//! first (see fuzz/README.md).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use berth::Paths;
use berth::image::archive::load::load;
use berth::store::ImageStore;
use libfuzzer_sys::fuzz_target;
use serde_json::json;

struct World {
    dir: &'static std::path::Path,
    paths: Paths,
    /// (name in the archive, bytes): the fixed image.
    files: Vec<(String, Vec<u8>)>,
    layer_hex: String,
}

fn hex(bytes: &[u8]) -> String {
    berth::digest::sha256(bytes)
        .trim_start_matches("sha256:")
        .to_string()
}

fn layer_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, "hello", &b"hello\n"[..]).unwrap();
    b.into_inner().unwrap()
}

/// The directory a fuzzing process works in, kept for its whole life and removed when it
/// leaves: libFuzzer leaves by exit(), which runs no Rust destructor, hence `atexit`.
fn process_dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(d) = DIR.get() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap().keep();
        // SAFETY: registers a plain function with no captured state; it only removes `DIR`.
        unsafe { libc::atexit(remove) };
        d
    })
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let dir = process_dir();
        std::fs::create_dir(dir.join("outside")).unwrap();
        std::fs::write(dir.join("outside/sentinel"), b"host").unwrap();
        let paths = Paths::new(dir.join("root"), dir.join("run"));
        let layer = layer_tar();
        let layer_hex = hex(&layer);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{layer_hex}")]},
        }))
        .unwrap();
        let cfg_hex = hex(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": format!("sha256:{cfg_hex}"), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": format!("sha256:{layer_hex}"), "size": layer.len()}],
        }))
        .unwrap();
        let man_hex = hex(&manifest);
        let files = vec![
            (
                "oci-layout".to_string(),
                br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
            ),
            (format!("blobs/sha256/{cfg_hex}"), config.clone()),
            (format!("blobs/sha256/{layer_hex}"), layer),
            (format!("blobs/sha256/{man_hex}"), manifest.clone()),
            ("config.json".to_string(), config.clone()),
        ];
        if let Ok(out) = std::env::var("FUZZ_WRITE_SEEDS") {
            write_seeds(
                &PathBuf::from(out),
                &cfg_hex,
                &layer_hex,
                &man_hex,
                manifest.len(),
            );
        }
        World {
            dir,
            paths,
            files,
            layer_hex,
        }
    })
}

fn write_seeds(out: &std::path::Path, cfg: &str, layer: &str, man: &str, man_size: usize) {
    std::fs::create_dir_all(out).unwrap();
    let docker = json!([{
        "Config": format!("blobs/sha256/{cfg}"),
        "RepoTags": ["docker.io/library/fuzz:latest", "localhost:5000/a/b:1"],
        "Layers": [format!("blobs/sha256/{layer}")],
    }]);
    let skopeo =
        json!([{"Config": "config.json", "RepoTags": ["fuzz:2"], "Layers": ["layer.tar"]}]);
    let oci = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{man}"), "size": man_size,
        "platform": {"os": "linux", "architecture": "amd64"},
        "annotations": {"io.containerd.image.name": "docker.io/library/fuzz:oci",
                        "org.opencontainers.image.ref.name": "oci"},
    }]});
    for (name, sel, doc) in [
        ("docker", 0u8, docker),
        ("skopeo", 0, skopeo),
        ("oci", 1, oci),
    ] {
        let mut bytes = vec![sel];
        bytes.extend(serde_json::to_vec(&doc).unwrap());
        std::fs::write(out.join(name), bytes).unwrap();
    }
}

fn archive(w: &World, doc_name: &str, doc: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    for (name, data) in &w.files {
        add(name, data);
    }
    add(doc_name, doc);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "layer.tar", format!("blobs/sha256/{}", w.layer_hex))
        .unwrap();
    b.into_inner().unwrap()
}

fn check_outside(w: &World) {
    let mut top: Vec<_> = std::fs::read_dir(w.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    top.sort();
    assert!(
        top.iter()
            .all(|n| ["archive.tar", "outside", "root", "run"].contains(&n.as_str())),
        "something was written beside the store: {top:?}"
    );
    let outside: Vec<_> = std::fs::read_dir(w.dir.join("outside"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(outside.len(), 1, "something was written outside the store");
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, doc)) = data.split_first() else {
        return;
    };
    let w = world();
    let docker = sel % 2 == 0;
    let file = w.dir.join("archive.tar");
    std::fs::write(
        &file,
        archive(
            w,
            if docker {
                "manifest.json"
            } else {
                "index.json"
            },
            doc,
        ),
    )
    .unwrap();
    // A fresh index each time (the blobs, always the same ones, may stay).
    let _ = std::fs::remove_file(w.paths.images().join("index.json"));
    let store = ImageStore::open(&w.paths).unwrap();
    let loaded = load(&store, Some(&file));
    check_outside(w);
    let Ok(loaded) = loaded else {
        return;
    };
    for l in &loaded {
        for n in &l.names {
            let d = store
                .lookup(n)
                .unwrap()
                .unwrap_or_else(|| panic!("{n} was reported loaded but is not in the store"));
            if docker {
                let img = store
                    .image(n, None)
                    .unwrap_or_else(|e| panic!("{n} was loaded but does not resolve: {e}"));
                assert_eq!(
                    img.manifest.config().digest().to_string(),
                    l.id,
                    "{n}: {d:?}"
                );
            }
        }
    }
});
