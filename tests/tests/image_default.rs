//! `berth image default`: busybox:latest from the host's static busybox, with no registry.

use berth_e2e::argv;
use berth_e2e::world::World;
use berth_e2e::{TestEnv, fixtures};
use serde_json::Value;

#[test]
fn default_image_is_built_offline_reproducibly_and_is_a_real_image() {
    let env = TestEnv::new();
    let first = env
        .run(&["berth", "image", "default", "--json"])
        .success()
        .json();
    assert_eq!(first["name"], "busybox:latest");
    assert_eq!(first["changed"], true);
    assert!(first["applets"].as_u64().unwrap() > 100);
    // Again: the same binary gives the same image, and nothing changes.
    let again = env.run(&["berth-image", "default"]).success().json();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["changed"], false);
    // A second store gets the very same image id.
    let other = TestEnv::new();
    let theirs = other
        .run(&["berth", "image", "default", "--json"])
        .success()
        .json();
    assert_eq!(theirs["id"], first["id"]);

    let doc = env
        .run(&["berth", "image", "inspect", "--json", "busybox"])
        .success()
        .json()[0]
        .clone();
    assert_eq!(doc["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(
        doc["Config"]["Env"][0]
            .as_str()
            .unwrap()
            .starts_with("PATH=")
    );
    assert_eq!(doc["Os"], "linux");

    // Other tools read it: skopeo, and umoci unpacks a working root filesystem.
    let images = env.root.join("images");
    let sk: Value = serde_json::from_str(&env.ok(&argv!(
        "skopeo inspect {}",
        &format!("oci:{}:busybox:latest", images.display())
    )))
    .unwrap();
    assert_eq!(sk["Layers"].as_array().unwrap().len(), 1);
    let bundle = env.dir().join("bundle");
    env.ok(&argv!(
        "umoci unpack --image {} {}",
        &format!("{}:busybox:latest", images.display()),
        bundle.to_str().unwrap()
    ));
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("bin/busybox").is_file());
    for applet in ["sh", "echo", "ls", "wget", "nc"] {
        assert_eq!(
            std::fs::read_link(rootfs.join("bin").join(applet)).unwrap(),
            std::path::Path::new("busybox"),
            "{applet}"
        );
    }
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/sh\n"));
    assert!(
        std::fs::read_to_string(rootfs.join("etc/group"))
            .unwrap()
            .contains("nogroup:x:65534:")
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(rootfs.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    // The binary runs from the unpacked root on its own (it is static).
    let out = env.ok(&argv!(
        "chroot {} /bin/sh -c 'echo hello'",
        rootfs.to_str().unwrap()
    ));
    assert_eq!(out, "hello\n");
}

#[test]
fn default_image_never_replaces_someone_elses_busybox() {
    let env = TestEnv::new();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let index = std::fs::read(env.root.join("images/index.json")).unwrap();
    let r = env
        .run(&["berth", "image", "default", "--json"])
        .fails_with(104);
    assert!(r.error_line().contains("--force"), "{}", r.stderr);
    assert_eq!(
        std::fs::read(env.root.join("images/index.json")).unwrap(),
        index
    );
    // Under another name it is fine; with --force it replaces (the old one stays, dangling).
    env.ok(&["berth", "image", "default", "--tag", "bb:host"]);
    env.ok(&["berth", "image", "default", "--force"]);
    let rows = env.run(&["berth", "images", "--json"]).success().json();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    // A busybox that is not static is refused with the fix.
    let r = env
        .run(&argv!(
            "berth image default --json --tag x:1 --busybox /bin/ls"
        ))
        .fails_with(107);
    assert!(r.error_line().contains("busybox-static"), "{}", r.stderr);
}

#[test]
fn default_image_runs_offline_and_its_container_pins_it() {
    // A World: its container runs under the test's own cgroup parent, removed with it.
    let env = World::new();
    env.run(&["berth", "image", "default"]).success();
    // The stages, as `berth run --rm busybox echo hello` composes them, with no registry.
    let r = env
        .sh("berth-pull busybox | berth-unpack - echo hello | berth-spawn start --rm -")
        .success();
    assert_eq!(
        r.stdout.trim_end().lines().last(),
        Some("hello"),
        "{}",
        r.stderr
    );

    // A container made from it pins the image and its unpacked layer.
    let rec = env
        .sh("berth-pull busybox | berth-unpack - --name pinned")
        .success()
        .json();
    let diff_id = rec["bundle"]["layers"][0].as_str().unwrap().to_string();
    let layer = env.paths().layer(&diff_id);
    assert!(layer.join("diff/bin/busybox").exists());
    let r = env
        .run(&["berth", "rmi", "--json", "busybox"])
        .fails_with(104);
    assert!(r.error_line().contains("pinned"), "{}", r.stderr);
    env.run(&["berth", "rmi", "-f", "busybox"]).success();
    env.run(&["berth", "image", "prune", "-a", "-f"]).success();
    assert!(layer.exists(), "the container still needs its layer");
    env.run(&["berth-unpack", "rm", "pinned"]).success();
    env.run(&["berth", "image", "prune", "-f"]).success();
    assert!(!layer.exists(), "nothing needs the layer any more");
    let links: Vec<_> = std::fs::read_dir(env.paths().layer_links())
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(links.is_empty(), "its short link went too");
    let rows = env.run(&["berth", "images", "--json"]).success().json();
    assert!(rows.as_array().unwrap().is_empty(), "{rows}");
}
