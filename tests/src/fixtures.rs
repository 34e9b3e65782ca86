//! Fixture images, built by an independent writer (umoci) from Debian's busybox-static, and
//! cached for the whole test run under `target/berth-fixtures/`.
//!
//! The cache is an OCI layout; [`seed`] copies one of its images into a test's own store, so
//! tests that are not about pulling do not need a registry.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth::store::{ImageStore, Lock};

/// Bump when a fixture's content changes, so stale caches are rebuilt.
const FIXTURE_VERSION: u32 = 4;

pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The host's static busybox (Debian's busybox-static).
pub fn host_busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("busybox-static is not installed (apt-get install busybox-static)");
}

/// Runs a command, panicking with its output on failure.
#[track_caller]
pub fn must(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fills `rootfs` with busybox, its applet links, and a minimal /etc.
pub fn populate_busybox(rootfs: &Path) {
    let bin = rootfs.join("bin");
    fs::create_dir_all(&bin).unwrap();
    fs::copy(host_busybox(), bin.join("busybox")).unwrap();
    let list = must(Command::new(host_busybox()).arg("--list"));
    for applet in list.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    for d in [
        "etc", "root", "home", "tmp", "var", "usr/bin", "sbin", "dev", "proc", "sys",
    ] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n",
    )
    .unwrap();
}

/// Adds one layer to the umoci `image` (LAYOUT:TAG): unpacked into `bundle` (which must not
/// exist), its rootfs edited by `edit`, repacked.
pub fn add_layer(image: &str, bundle: &Path, edit: &dyn Fn(&Path)) {
    must(
        Command::new("umoci")
            .args(["unpack", "--image", image])
            .arg(bundle),
    );
    edit(&bundle.join("rootfs"));
    must(
        Command::new("umoci")
            .args(["repack", "--image", image])
            .arg(bundle),
    );
}

/// Builds the image `name` in `layout` with umoci: each step in `layers` edits the rootfs and
/// becomes one layer; `config` are extra `umoci config` flags.
pub fn build_with_umoci(layout: &Path, name: &str, layers: &[&dyn Fn(&Path)], config: &[&str]) {
    let image = format!("{}:{name}", layout.display());
    if !layout.join("index.json").exists() {
        must(Command::new("umoci").args(["init", "--layout"]).arg(layout));
    }
    must(Command::new("umoci").args(["new", "--image", &image]));
    let work = tempfile::tempdir().unwrap();
    for (i, edit) in layers.iter().enumerate() {
        add_layer(&image, &work.path().join(format!("b{i}")), *edit);
    }
    let mut c = Command::new("umoci");
    c.args([
        "config",
        "--image",
        &image,
        "--os",
        "linux",
        "--architecture",
        "amd64",
    ]);
    c.args(config);
    must(&mut c);
    must(Command::new("umoci").args(["gc", "--layout"]).arg(layout));
}

/// The cached layout holding every fixture image, built on first use (under a lock, into a
/// temporary directory renamed into place, so a killed build is never mistaken for a cache).
pub fn layout() -> PathBuf {
    let base = crate::target_dir().join("berth-fixtures");
    let dir = base.join(format!("v{FIXTURE_VERSION}"));
    if dir.join("index.json").exists() {
        return dir;
    }
    let _l = Lock::exclusive(&base.join("lock")).unwrap();
    if dir.join("index.json").exists() {
        return dir;
    }
    let tmp = base.join(format!("building-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    build_all(&tmp);
    fs::rename(&tmp, &dir).unwrap();
    dir
}

fn build_all(layout: &Path) {
    build_with_umoci(
        layout,
        "busybox",
        &[&populate_busybox],
        &["--config.cmd", "sh", "--config.env", PATH_ENV],
    );
    build_layered(layout);
    build_zstd(layout);
    build_multiarch(layout);
    build_packed(layout);
}

/// Fixture images (beside `busybox`) for pull and unpack tests:
///
/// - `layered`: four layers. 1: busybox. 2: adds `/data/{a,b,keep}` and
///   `/opaque/{old1,sub/old2}`. 3 (umoci repack): deletes `/data/a`, so umoci writes the
///   whiteout `data/.wh.a`. 4 (a hand-made tar added verbatim with `umoci raw add-layer`):
///   whiteout `data/.wh.b`, opaque marker `opaque/.wh..wh..opq` and `opaque/new`. Unpacked, the
///   image has `/data/keep` and `/opaque/new` only.
/// - `busybox-zstd`: `busybox` with its layer recompressed as zstd (skopeo).
/// - `multiarch`: an OCI index of `platform-amd64` and `platform-arm64` (variant v8), whose
///   `/etc/platform` says which one it is.
pub const LAYERED: &str = "layered";
pub const ZSTD: &str = "busybox-zstd";
pub const MULTIARCH: &str = "multiarch";

/// True for fixtures whose ref is an index (push them with `skopeo copy --all`).
pub fn is_index(name: &str) -> bool {
    name == MULTIARCH
}

fn build_layered(layout: &Path) {
    let add = |root: &Path| {
        fs::create_dir_all(root.join("data")).unwrap();
        fs::create_dir_all(root.join("opaque/sub")).unwrap();
        for f in [
            "data/a",
            "data/b",
            "data/keep",
            "opaque/old1",
            "opaque/sub/old2",
        ] {
            fs::write(root.join(f), format!("{f}\n")).unwrap();
        }
    };
    let delete = |root: &Path| fs::remove_file(root.join("data/a")).unwrap();
    build_with_umoci(
        layout,
        LAYERED,
        &[&populate_busybox, &add, &delete],
        &["--config.cmd", "sh", "--config.env", PATH_ENV],
    );
    // umoci writes only plain whiteouts; an opaque directory needs a hand-made layer.
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    fs::create_dir_all(tree.join("opaque")).unwrap();
    fs::create_dir_all(tree.join("data")).unwrap();
    fs::write(tree.join("opaque/.wh..wh..opq"), "").unwrap();
    fs::write(tree.join("opaque/new"), "new\n").unwrap();
    fs::write(tree.join("data/.wh.b"), "").unwrap();
    let tar = work.path().join("layer.tar");
    must(
        Command::new("tar")
            .args(["--owner=0", "--group=0", "--numeric-owner", "-C"])
            .arg(&tree)
            .arg("-cf")
            .arg(&tar)
            .args(["opaque", "data"]),
    );
    must(
        Command::new("umoci")
            .args(["raw", "add-layer", "--image"])
            .arg(format!("{}:{LAYERED}", layout.display()))
            .arg(&tar),
    );
}

fn build_zstd(layout: &Path) {
    // Through a second layout: copying within one layout would reuse the gzip blob.
    let work = tempfile::tempdir().unwrap();
    let (l, w) = (layout.display(), work.path().join("z"));
    let w = w.display();
    for (src, dst, recompress) in [
        (format!("oci:{l}:busybox"), format!("oci:{w}:z"), true),
        (format!("oci:{w}:z"), format!("oci:{l}:{ZSTD}"), false),
    ] {
        let mut c = Command::new("skopeo");
        c.env("HOME", work.path())
            .args(["--insecure-policy", "copy", "-q"]);
        if recompress {
            c.args(["--dest-compress", "--dest-compress-format", "zstd"]);
        }
        must(c.arg(src).arg(dst));
    }
}

fn build_multiarch(layout: &Path) {
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8"))] {
        let name = format!("platform-{arch}");
        let mark = move |root: &Path| {
            populate_busybox(root);
            fs::write(root.join("etc/platform"), format!("linux/{arch}\n")).unwrap();
        };
        build_with_umoci(
            layout,
            &name,
            &[&mark],
            &["--config.cmd", "sh", "--config.env", PATH_ENV],
        );
        must(Command::new("umoci").args([
            "config",
            "--image",
            &format!("{}:{name}", layout.display()),
            "--architecture",
            arch,
        ]));
        let index = read_json(&layout.join("index.json"));
        let desc = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
            .unwrap()
            .clone();
        let mut platform = serde_json::json!({"os": "linux", "architecture": arch});
        if let Some(v) = variant {
            platform["variant"] = v.into();
        }
        entries.push(serde_json::json!({
            "mediaType": desc["mediaType"],
            "digest": desc["digest"],
            "size": desc["size"],
            "platform": platform,
        }));
    }
    let blob = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries,
    }))
    .unwrap();
    let digest = berth::digest::sha256(&blob);
    fs::write(
        layout.join("blobs/sha256").join(&digest["sha256:".len()..]),
        &blob,
    )
    .unwrap();
    let mut index = read_json(&layout.join("index.json"));
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": blob.len(),
            "annotations": {"org.opencontainers.image.ref.name": MULTIARCH},
        }));
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

/// Copies fixture `name` from the cache into `env`'s image store as `as_ref` (familiar form,
/// e.g. `busybox:latest`). Blobs are hard-linked when possible.
pub fn seed(env: &crate::TestEnv, name: &str, as_ref: &str) {
    seed_from(env, &layout(), name, as_ref);
}

/// As [`seed`], from another cached layout (`src`), e.g. [`crate::seed_images::layout`].
pub fn seed_from(env: &crate::TestEnv, src: &Path, name: &str, as_ref: &str) {
    let store = ImageStore::open(&env.paths()).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(src.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
        .unwrap_or_else(|| panic!("no fixture image {name}"))
        .clone();
    for blob in fs::read_dir(src.join("blobs/sha256")).unwrap().flatten() {
        let digest = format!("sha256:{}", blob.file_name().to_string_lossy());
        let dest = store.blob_path(&digest);
        if !dest.exists() && fs::hard_link(blob.path(), &dest).is_err() {
            fs::copy(blob.path(), &dest).unwrap();
        }
    }
    let desc = berth::store::layout::descriptor(
        entry["mediaType"].as_str().unwrap(),
        entry["digest"].as_str().unwrap(),
        entry["size"].as_u64().unwrap(),
    );
    store.set_ref(as_ref, &desc).unwrap();
}

/// `packed`: a data-packed image for volume tests. busybox plus `/config` (owner 1000:1000,
/// mode 0750) holding `packedData` ("packed data\n", 0644), `sub/owned` (1000:1001, 0640)
/// and the symlink `link -> packedData`; the image declares `VOLUME /config`.
pub const PACKED: &str = "packed";

fn build_packed(layout: &Path) {
    use std::os::unix::fs::{PermissionsExt, chown, symlink};
    let pack = |root: &Path| {
        let cfg = root.join("config");
        fs::create_dir_all(cfg.join("sub")).unwrap();
        fs::write(cfg.join("packedData"), "packed data\n").unwrap();
        fs::write(cfg.join("sub/owned"), "owned\n").unwrap();
        symlink("packedData", cfg.join("link")).unwrap();
        chown(cfg.join("sub/owned"), Some(1000), Some(1001)).unwrap();
        fs::set_permissions(cfg.join("sub/owned"), fs::Permissions::from_mode(0o640)).unwrap();
        chown(&cfg, Some(1000), Some(1000)).unwrap();
        fs::set_permissions(&cfg, fs::Permissions::from_mode(0o750)).unwrap();
    };
    build_with_umoci(
        layout,
        PACKED,
        &[&populate_busybox, &pack],
        &[
            "--config.cmd",
            "sh",
            "--config.env",
            PATH_ENV,
            "--config.volume",
            "/config",
        ],
    );
}
