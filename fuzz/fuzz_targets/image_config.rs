//! Fuzzes an image config (the JSON blob a manifest's `config` names) through what berth does
//! with it: berth-pull's and the store's parsing, then berth-unpack's path to `config.json`
//! and the record (merge with no overrides, USER resolved against the image's /etc/passwd and
//! /etc/group, WORKDIR created in the rootfs, annotations, the runtime spec), the exposed ports
//! `-P` publishes, and `berth history`/`inspect`.
//!
//! Input: the config JSON, then optionally a NUL and the image's /etc/passwd, then a NUL and
//! its /etc/group. Whatever the input, nothing may panic, what berth writes must read back,
//! and nothing outside the container's rootfs may appear or change.
//!
//! Run: see fuzz/README.md (`cargo fuzz run image_config fuzz/corpus/image_config
//! fuzz/seeds/image_config`).

#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth::bundle::{Overrides, spec, user};
use berth::image::inventory::LocalImage;
use berth::image::{history, inspect};
use berth::confine::{Root, clean_path};
use berth::protocol::{BundleSection, Record, RootfsDriver};
use libfuzzer_sys::fuzz_target;
use oci_spec::image::ImageConfiguration;

struct World {
    bundle: PathBuf,
    outside: PathBuf,
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
        let bundle = dir.join("bundle");
        let outside = dir.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("sentinel"), b"host").unwrap();
        World { bundle, outside }
    })
}

/// A fresh bundle with `rootfs/etc/{passwd,group}` from the input.
fn fresh_rootfs(w: &World, passwd: &[u8], group: &[u8]) -> PathBuf {
    let _ = std::fs::remove_dir_all(&w.bundle);
    let rootfs = w.bundle.join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(rootfs.join("etc/passwd"), passwd).unwrap();
    std::fs::write(rootfs.join("etc/group"), group).unwrap();
    rootfs
}

fn check_outside(w: &World) {
    let names: Vec<_> = std::fs::read_dir(&w.outside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "something was written outside the rootfs: {names:?}"
    );
    assert_eq!(std::fs::read(w.outside.join("sentinel")).unwrap(), b"host");
    let top: Vec<_> = std::fs::read_dir(w.bundle.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        top.len(),
        2,
        "something was written beside the bundle: {top:?}"
    );
}

/// berth-unpack's steps on a parsed config (bundle::build without the layers).
fn unpack(w: &World, config: &ImageConfiguration, rootfs: &Path) {
    let getenv = |_: &str| None;
    let Ok(cfg) = spec::merge(
        config,
        "fuzz",
        "0123456789ab",
        &Overrides::default(),
        &getenv,
    ) else {
        return;
    };
    if spec::args(&cfg).is_empty() {
        return;
    }
    let Ok(user) = user::resolve(rootfs, &cfg.user) else {
        return;
    };
    if !cfg.working_dir.is_empty() {
        let root = Root::open(rootfs).unwrap();
        let rel = clean_path(cfg.working_dir.as_bytes()).unwrap_or_default();
        let _ = root.mkdir_all(&rel);
    }
    let annotations = spec::annotations(config, &cfg);
    let runtime = spec::runtime_spec(&cfg, &user, &annotations);
    berth::ocispec::save(&w.bundle, &runtime).unwrap();
    // berth-spawn reads it back.
    let back = berth::ocispec::load(&w.bundle).expect("config.json that berth wrote reads back");
    assert_eq!(
        back.process().as_ref().unwrap().args(),
        runtime.process().as_ref().unwrap().args()
    );
    // The record carries the merged config to berth-netns, berth-vol and berth-spawn.
    let mut record = Record::new();
    record.id = "f".repeat(64);
    record.bundle = Some(BundleSection {
        path: w.bundle.clone(),
        rootfs: rootfs.to_path_buf(),
        driver: RootfsDriver::Copy,
        config: cfg.clone(),
        layers: config.rootfs().diff_ids().clone(),
    });
    let bytes = serde_json::to_vec(&record).unwrap();
    let parsed = berth::protocol::parse_record(&bytes).expect("the record berth wrote reads back");
    assert_eq!(parsed.bundle.unwrap().config.env, cfg.env);
    // `-P`: every exposed port the image declares.
    for p in &cfg.exposed_ports {
        let _ = berth::net::ports::split_port(p);
    }
    let _ = berth::net::ports::expand(&[], &cfg.exposed_ports);
}

/// `berth history` and `berth image inspect` on the config.
fn views(config: ImageConfiguration, raw: &[u8]) {
    let layers = config.rootfs().diff_ids().len();
    let img = LocalImage {
        id: format!("sha256:{}", "a".repeat(64)),
        entries: Vec::new(),
        manifest_desc: None,
        manifest: None,
        created: None,
        size: 0,
        layer_sizes: vec![1000; layers.min(1000)],
        problem: None,
        config_raw: serde_json::from_slice(raw).unwrap_or_default(),
        config: Some(config),
    };
    for (no_trunc, raw) in [(false, false), (true, true)] {
        let _ = history::rows(&img, history::HistoryOptions { no_trunc, raw });
    }
    let _ = serde_json::to_vec(&inspect::document(&img)).unwrap();
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let json = parts.next().unwrap_or_default();
    let passwd = parts.next().unwrap_or_default();
    let group = parts.next().unwrap_or_default();
    // berth-pull parses with serde_json; the store (berth-unpack) with oci-spec's reader.
    let pulled = serde_json::from_slice::<ImageConfiguration>(json);
    let stored = ImageConfiguration::from_reader(json);
    assert_eq!(
        pulled.is_ok(),
        stored.is_ok(),
        "pull and store disagree on a config"
    );
    let Ok(config) = stored else {
        return;
    };
    let w = world();
    let rootfs = fresh_rootfs(w, passwd, group);
    unpack(w, &config, &rootfs);
    check_outside(w);
    views(config, json);
});
