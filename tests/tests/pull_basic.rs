//! berth-pull against a real local registry, with images written by skopeo from umoci-built
//! fixtures: Docker v2s2 and OCI manifests, whiteouts, zstd, a two-platform index, digests,
//! and the store read back by skopeo and umoci.

use berth_e2e::argv;
use berth_e2e::registry::{Format, Registry};
use berth_e2e::{TestEnv, fixtures};

fn pull(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let mut argv = vec!["berth-pull"];
    argv.extend_from_slice(args);
    let run = env.run(&argv).success();
    let v = run.json();
    assert_eq!(v["berth"], 1, "{v}");
    v
}

#[test]
fn docker_v2s2_image_is_stored_as_oci_that_skopeo_and_umoci_read() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "team/bb:1.0", Format::V2s2);
    let image = reg.image("team/bb:1.0");
    let v = pull(&env, &[&image]);
    let img = &v["image"];
    assert_eq!(img["reference"], image);
    assert_eq!(img["name"], image);
    assert_eq!(img["platform"], "linux/amd64");
    assert_eq!(
        img["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    // The registry's digest of the Docker manifest is kept beside the stored OCI one.
    let repo_digest = img["repo_digest"].as_str().unwrap();
    assert_ne!(repo_digest, img["digest"].as_str().unwrap());
    let layers = img["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert!(
        layers[0]["diff_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(layers[0]["size"].as_u64().unwrap() > 100_000);

    let images = env.root.join("images");
    let inspect = env.ok(&argv!(
        "skopeo inspect {}",
        &format!("oci:{}:{image}", images.display())
    ));
    let inspect: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(inspect["Digest"], img["digest"]);
    assert_eq!(inspect["Layers"][0], layers[0]["digest"]);
    let bundle = env.dir().join("bundle");
    env.ok(&argv!(
        "umoci unpack --image {} {}",
        &format!("{}:{image}", images.display()),
        bundle.to_str().unwrap()
    ));
    assert!(bundle.join("rootfs/bin/busybox").is_file());

    // The same image by the registry's digest, and by tag plus digest.
    let by_digest = format!("{}@{repo_digest}", reg.image("team/bb"));
    let v = pull(&env, &[&by_digest]);
    assert_eq!(v["image"]["id"], img["id"]);
    assert_eq!(v["image"]["reference"], by_digest);
    let both = format!("{image}@{repo_digest}");
    assert_eq!(pull(&env, &[&both])["image"]["id"], img["id"]);
}

#[test]
fn oci_image_with_whiteouts_and_opaque_dir_unpacks_right_with_umoci() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture(fixtures::LAYERED, "layered:latest", Format::Oci);
    let image = reg.image("layered:latest");
    let v = pull(&env, &[&image]);
    assert_eq!(
        v["image"]["media_type"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    // Served as OCI, stored as served: the registry knows it by the stored digest, and
    // Docker's RepoDigests and `images --digests` show it.
    assert_eq!(v["image"]["repo_digest"], v["image"]["digest"], "{v}");
    let digest = v["image"]["digest"].as_str().unwrap();
    let repo = reg.image("layered");
    let shown = env.ok(&argv!(
        "berth image inspect -f '{{json .RepoDigests}}' {}",
        &image
    ));
    assert_eq!(shown.trim(), format!("[\"{repo}@{digest}\"]"));
    let listed = env.ok(&argv!(
        "berth images --digests --format '{{.Repository}} {{.Digest}}'"
    ));
    assert_eq!(listed.trim(), format!("{repo} {digest}"));
    let layers = v["image"]["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 4);
    for l in layers {
        assert_eq!(
            l["media_type"],
            "application/vnd.oci.image.layer.v1.tar+gzip"
        );
        assert!(
            env.root
                .join("images/blobs/sha256")
                .join(&l["digest"].as_str().unwrap()[7..])
                .is_file()
        );
    }
    let bundle = env.dir().join("bundle");
    env.ok(&argv!(
        "umoci unpack --image {} {}",
        &format!("{}:{image}", env.root.join("images").display()),
        bundle.to_str().unwrap()
    ));
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("data/keep").is_file());
    assert!(!rootfs.join("data/a").exists(), "umoci's whiteout applied");
    assert!(
        !rootfs.join("data/b").exists(),
        "hand-made whiteout applied"
    );
    assert!(rootfs.join("opaque/new").is_file());
    assert!(
        !rootfs.join("opaque/old1").exists(),
        "opaque dir hides the lower layer"
    );
    assert!(!rootfs.join("opaque/sub").exists());
}

#[test]
fn zstd_layers_are_pulled_as_they_are() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture(fixtures::ZSTD, "bb:zstd", Format::Keep);
    let v = pull(&env, &[&reg.image("bb:zstd")]);
    assert_eq!(
        v["image"]["layers"][0]["media_type"],
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    let out = env.ok(&argv!(
        "skopeo inspect {}",
        &format!(
            "oci:{}:{}",
            env.root.join("images").display(),
            reg.image("bb:zstd")
        )
    ));
    assert!(out.contains("linux"), "{out}");
}

#[test]
fn multi_platform_index_and_manifest_list_pick_the_platform() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture(fixtures::MULTIARCH, "multi:oci", Format::Oci);
    reg.push_fixture(fixtures::MULTIARCH, "multi:docker", Format::V2s2);
    for tag in ["multi:oci", "multi:docker"] {
        let image = reg.image(tag);
        let host = pull(&env, &["--pull=always", &image]);
        assert_eq!(host["image"]["platform"], "linux/amd64", "{tag}");
        assert!(
            host["image"]["index_digest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        // Docker's RepoDigests name what the tag resolved to: the index.
        assert_eq!(
            host["image"]["repo_digest"], host["image"]["index_digest"],
            "{tag}"
        );
        let arm = pull(
            &env,
            &["--pull=always", "--platform", "linux/arm64", &image],
        );
        assert_eq!(arm["image"]["platform"], "linux/arm64", "{tag}");
        assert_ne!(arm["image"]["id"], host["image"]["id"]);
        // The ref now names the arm64 image; --pull=missing with that platform finds it.
        let again = pull(&env, &["--platform", "linux/arm64/v8", &image]);
        assert_eq!(again["image"]["id"], arm["image"]["id"]);
        let r = env
            .run(&argv!(
                "berth-pull --pull=always --platform linux/s390x {}",
                &image
            ))
            .fails_with(3);
        let line = r.error_line();
        assert!(
            line.contains("linux/s390x") && line.contains("linux/arm64/v8"),
            "{line}"
        );
    }
    // umoci reads the arm64 image berth stored.
    let bundle = env.dir().join("bundle");
    env.ok(&argv!(
        "umoci unpack --image {} {}",
        &format!(
            "{}:{}",
            env.root.join("images").display(),
            reg.image("multi:oci")
        ),
        bundle.to_str().unwrap()
    ));
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/etc/platform")).unwrap(),
        "linux/arm64\n"
    );
}

#[test]
fn platform_mismatch_of_a_single_manifest_is_refused() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let r = env
        .run(&argv!(
            "berth-pull --platform linux/arm64 {}",
            &reg.image("bb:1")
        ))
        .fails_with(3);
    assert!(
        r.error_line().contains("not the requested linux/arm64"),
        "{}",
        r.stderr
    );
    assert!(
        !env.root.join("images/index.json").exists()
            || !std::fs::read_to_string(env.root.join("images/index.json"))
                .unwrap()
                .contains("bb:1")
    );
    env.run(&["berth-pull", "--platform", "linux/x", &reg.image("bb:1")])
        .fails_with(3);
    env.run(&["berth-pull", "--platform", "linux", &reg.image("bb:1")])
        .fails_with(4);
}

#[test]
fn present_image_needs_no_registry_with_pull_missing() {
    let env = TestEnv::new();
    let mut reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let image = reg.image("bb:1");
    let first = pull(&env, &[&image]);
    reg.stop();
    // Registry gone: missing (the default) and never still answer from the store.
    assert_eq!(pull(&env, &[&image]), first);
    assert_eq!(pull(&env, &["--pull=never", &image]), first);
    let r = env
        .run(&["berth-pull", "--pull=always", &image])
        .fails_with(101);
    assert!(
        r.error_line().contains("cannot reach registry"),
        "{}",
        r.stderr
    );
    let r = env
        .run(&["berth-pull", "--pull=never", &reg.image("other:1")])
        .fails_with(3);
    assert!(r.error_line().contains("--pull=never"), "{}", r.stderr);
    env.run(&["berth-pull", "--pull=sometimes", &image])
        .fails_with(4);
}

#[test]
fn always_skips_blobs_it_has_and_terminal_output_is_human() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    reg.push_fixture("busybox", "bb:2", Format::Oci);
    let image = reg.image("bb:1");
    pull(&env, &[&image]);
    let blobs = env.root.join("images/blobs/sha256");
    let layer = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path();
    let before = std::fs::metadata(&layer).unwrap();
    use std::os::unix::fs::MetadataExt;
    let v = pull(&env, &["--pull=always", &reg.image("bb:2")]);
    assert_eq!(v["image"]["reference"], reg.image("bb:2"));
    let after = std::fs::metadata(&layer).unwrap();
    assert_eq!(
        before.ino(),
        after.ino(),
        "a present blob is not written again"
    );
    // `berth pull` on a terminal (script(1) gives it a pty): Docker-style bars and lines, then
    // the name; the stage, berth-pull, prints its record whatever stdout is.
    let tty = env
        .run(&argv!(
            "script -qec {} /dev/null",
            &format!("berth pull --pull=always {}", reg.image("bb:2"))
        ))
        .success();
    let from = format!("Pulling from {}/bb", reg.host());
    assert!(tty.stdout.contains(&from), "{}", tty.stdout);
    assert!(tty.stdout.contains("Already exists"), "{}", tty.stdout);
    assert!(
        tty.stdout.contains("Status: Image is up to date"),
        "{}",
        tty.stdout
    );
    assert!(
        tty.stdout.trim_end().ends_with(&reg.image("bb:2")),
        "{}",
        tty.stdout
    );
    assert!(!tty.stdout.contains("\"berth\""), "no JSON on a terminal");
}
