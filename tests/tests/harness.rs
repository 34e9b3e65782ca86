//! The harness itself: fixtures build with umoci, seed into a test's store, and the store is
//! an OCI layout that skopeo and umoci read.

use berth_e2e::argv;
use berth_e2e::{TestEnv, fixtures};

#[test]
fn seeded_store_is_readable_by_skopeo_and_umoci() {
    let env = TestEnv::new();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let images = env.root.join("images");
    let out = env.ok(&argv!(
        "skopeo inspect {}",
        &format!("oci:{}:busybox:latest", images.display())
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Layers"].as_array().unwrap().len(), 1);
    let bundle = env.dir().join("bundle");
    env.ok(&argv!(
        "umoci unpack --image {} {}",
        &format!("{}:busybox:latest", images.display()),
        bundle.to_str().unwrap()
    ));
    assert!(bundle.join("rootfs/bin/busybox").exists());
    assert!(bundle.join("rootfs/bin/sh").is_symlink());
}
