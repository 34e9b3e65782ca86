//! Concurrency and crashes: two pulls of one image at once, and kill -9 at many moments,
//! never leave a half-written blob or a ref to missing content; a killed pull resumes.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_e2e::argv;
use berth_e2e::proxy::{Fault, Proxy, Rule};
use berth_e2e::registry::{Format, Registry};
use berth_e2e::until;
use berth_e2e::{TestEnv, fixtures};

/// Every blob's content matches its name, and every ref's manifest, config and layers exist.
#[track_caller]
fn assert_store_consistent(root: &Path) {
    let blobs = root.join("images/blobs/sha256");
    if let Ok(dir) = std::fs::read_dir(&blobs) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(e.path()).unwrap();
            assert_eq!(
                berth::digest::sha256(&bytes),
                format!("sha256:{name}"),
                "blob {name} is not what its name says"
            );
        }
    }
    let Ok(index) = std::fs::read(root.join("images/index.json")) else {
        return;
    };
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    let blob = |d: &serde_json::Value| blobs.join(&d.as_str().unwrap()[7..]);
    for r in index["manifests"].as_array().unwrap() {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(blob(&r["digest"])).unwrap()).unwrap();
        assert!(blob(&m["config"]["digest"]).is_file());
        for l in m["layers"].as_array().unwrap() {
            assert!(blob(&l["digest"]).is_file(), "layer of a ref is missing");
        }
    }
}

fn spawn_pull(env: &TestEnv, image: &str) -> std::process::Child {
    env.cmd("berth-pull")
        .arg(image)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn two_concurrent_pulls_of_one_image_both_succeed() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture(fixtures::LAYERED, "layered:1", Format::V2s2);
    let image = reg.image("layered:1");
    for _round in 0..3 {
        let a = spawn_pull(&env, &image);
        let b = spawn_pull(&env, &image);
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        let ja: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
        let jb: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
        assert_eq!(ja, jb);
        assert_store_consistent(&env.root);
        let index = std::fs::read_to_string(env.root.join("images/index.json")).unwrap();
        assert_eq!(
            index.matches("org.opencontainers.image.ref.name").count(),
            1
        );
        let tmp: Vec<_> = std::fs::read_dir(env.root.join("tmp"))
            .unwrap()
            .flatten()
            .collect();
        assert!(tmp.is_empty(), "leftovers: {tmp:?}");
        // Next round starts from an empty store again.
        std::fs::remove_dir_all(&env.root).unwrap();
    }
}

#[test]
fn killed_mid_download_leaves_nothing_visible_and_resumes() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let proxy = Proxy::start(reg.port());
    let m = berth_e2e::fixtures::must(Command::new("curl").args([
        "-sf",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &format!("{}/v2/bb/manifests/1", reg.url()),
    ]));
    let m: serde_json::Value = serde_json::from_str(&m).unwrap();
    let digest = m["layers"][0]["digest"].as_str().unwrap().to_string();
    const CUT: u64 = 300_000;
    proxy.add(Rule::new(&digest, Fault::Stall(CUT as usize)));
    let image = proxy.image("bb:1");
    let mut child = spawn_pull(&env, &image);
    let partial = env
        .root
        .join("tmp")
        .join(format!("partial-sha256-{}", &digest[7..]));
    until(&format!("the download to reach {CUT} bytes"), || {
        (std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) >= CUT).then_some(())
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !env.root
            .join("images/blobs/sha256")
            .join(&digest[7..])
            .exists()
    );
    let index = std::fs::read_to_string(env.root.join("images/index.json")).unwrap();
    assert!(!index.contains("bb:1"), "no ref after a kill: {index}");
    assert_store_consistent(&env.root);

    proxy.clear();
    proxy.forget_requests();
    env.run(&["berth-pull", &image]).success();
    let ranges: Vec<_> = proxy
        .requests()
        .iter()
        .filter(|s| s.path.contains(&digest))
        .map(|s| s.header("range").unwrap_or("").to_string())
        .collect();
    assert_eq!(
        ranges,
        [format!("bytes={CUT}-")],
        "re-pull fetched only what it lacked"
    );
    assert!(!partial.exists());
    assert_store_consistent(&env.root);
    let out = env.ok(&argv!(
        "skopeo inspect {}",
        &format!("oci:{}:{image}", env.root.join("images").display())
    ));
    assert!(out.contains(&digest));
}

#[test]
fn kill_9_at_many_moments_never_corrupts_the_store() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture(fixtures::LAYERED, "layered:1", Format::Oci);
    let image = reg.image("layered:1");
    for i in 0..12u64 {
        let mut child = spawn_pull(&env, &image);
        std::thread::sleep(Duration::from_millis(i * 7));
        let _ = child.kill();
        child.wait().unwrap();
        assert_store_consistent(&env.root);
    }
    env.run(&["berth-pull", &image]).success();
    assert_store_consistent(&env.root);
    let bundle = env.dir().join("bundle");
    env.ok(&argv!(
        "umoci unpack --image {} {}",
        &format!("{}:{image}", env.root.join("images").display()),
        bundle.to_str().unwrap()
    ));
    assert!(bundle.join("rootfs/data/keep").is_file());
}
