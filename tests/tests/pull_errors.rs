//! Bad input, each case: a one-line error, a distinct exit code, and nothing stored (no ref, no
//! blob of the failing content, no temporary file but a resumable partial download).

use std::path::Path;

use berth_e2e::proxy::{Fault, Proxy, Rule};
use berth_e2e::registry::{Format, Options, Registry};
use berth_e2e::{TestEnv, fixtures};

/// Asserts that the store holds no ref and no blob, and no temporary files (partial downloads
/// are allowed when `partial_ok`).
#[track_caller]
fn assert_nothing_stored(env: &TestEnv, partial_ok: bool) {
    let images = env.root.join("images");
    if let Ok(index) = std::fs::read_to_string(images.join("index.json")) {
        let v: serde_json::Value = serde_json::from_str(&index).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 0, "refs: {index}");
    }
    assert_eq!(
        entries(&images.join("blobs/sha256")),
        Vec::<String>::new(),
        "blobs"
    );
    let tmp: Vec<String> = entries(&env.root.join("tmp"))
        .into_iter()
        .filter(|n| !(partial_ok && n.starts_with("partial-sha256-")))
        .collect();
    assert_eq!(tmp, Vec::<String>::new(), "temporary files");
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The layer digest of the fixture `busybox` (the one blob bigger than a kilobyte).
fn layer_of(reg: &Registry, repo_tag: &str) -> (String, u64) {
    let (repo, tag) = repo_tag.split_once(':').unwrap();
    let m = ureq_get(&format!("{}/v2/{repo}/manifests/{tag}", reg.url()));
    let l = &m["layers"][0];
    (
        l["digest"].as_str().unwrap().to_string(),
        l["size"].as_u64().unwrap(),
    )
}

fn ureq_get(url: &str) -> serde_json::Value {
    let out = berth_e2e::fixtures::must(std::process::Command::new("curl").args([
        "-sf",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        url,
    ]));
    serde_json::from_str(&out).unwrap()
}

#[test]
fn malformed_reference_is_exit_4() {
    let env = TestEnv::new();
    for bad in [
        "Busybox",
        "a b",
        "busybox:",
        "x@sha256:abc",
        "a//b",
        "x:y:z",
        "",
    ] {
        let r = env.run(&["berth-pull", bad]).fails_with(4);
        assert!(r.error_line().contains("invalid reference"), "{}", r.stderr);
        assert_eq!(r.json()["error"]["code"], 4);
    }
    assert_nothing_stored(&env, false);
}

#[test]
fn unknown_repository_or_tag_is_exit_3() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    for image in [reg.image("bb:nope"), reg.image("nothere:1")] {
        let r = env.run(&["berth-pull", &image]).fails_with(3);
        let line = r.error_line();
        assert!(
            line.contains("manifest unknown") || line.contains("not found"),
            "{line}"
        );
        assert_eq!(r.json()["error"]["code"], 3);
    }
    assert_nothing_stored(&env, false);
}

#[test]
fn unreachable_registry_is_exit_101() {
    let env = TestEnv::new();
    let port = berth_e2e::registry::free_port();
    let r = env
        .run(&["berth-pull", &format!("127.0.0.1:{port}/bb:1")])
        .fails_with(101);
    assert!(
        r.error_line().contains("cannot reach registry"),
        "{}",
        r.stderr
    );
    // The test guard refuses anything but loopback (a forgotten seed never reaches docker.io).
    let r = env.run(&["berth-pull", "busybox"]).fails_with(101);
    assert!(
        r.error_line().contains("BERTH_REGISTRY_LOOPBACK_ONLY"),
        "{}",
        r.stderr
    );
    assert_nothing_stored(&env, false);
}

#[test]
fn corrupt_blob_in_registry_storage_is_exit_102() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let (digest, _) = layer_of(&reg, "bb:1");
    let data = reg.blob_data(&digest);
    let mut bytes = std::fs::read(&data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&data, bytes).unwrap();
    let r = env.run(&["berth-pull", &reg.image("bb:1")]).fails_with(102);
    let line = r.error_line();
    assert!(
        line.contains("digest mismatch") && line.contains(&digest),
        "{line}"
    );
    assert_nothing_stored(&env, false);
}

#[test]
fn corrupted_in_transit_is_exit_102_and_truncated_is_exit_103() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let (digest, size) = layer_of(&reg, "bb:1");
    let proxy = Proxy::start(reg.port());
    proxy.add(Rule::new(&digest, Fault::Corrupt));
    let r = env
        .run(&["berth-pull", &proxy.image("bb:1")])
        .fails_with(102);
    assert!(r.error_line().contains("digest mismatch"), "{}", r.stderr);
    assert_nothing_stored(&env, false);

    // Every response cut short: retried with Range a bounded number of times, then 103.
    proxy.clear();
    proxy.forget_requests();
    proxy.add(Rule::new(&digest, Fault::Truncate(1000)));
    let r = env
        .run(&["berth-pull", &proxy.image("bb:1")])
        .fails_with(103);
    let line = r.error_line();
    assert!(
        line.contains("ended early") && line.contains(&format!("of {size} bytes")),
        "{line}"
    );
    let ranges: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|s| s.path.contains(&digest))
        .filter_map(|s| s.header("range").map(str::to_string))
        .collect();
    assert_eq!(
        ranges,
        ["bytes=1000-", "bytes=2000-", "bytes=3000-"],
        "resumed each time"
    );
    // What arrived is kept for the next pull (not in the store), which resumes and completes.
    assert_nothing_stored(&env, true);
    let partial = env
        .root
        .join("tmp")
        .join(format!("partial-sha256-{}", &digest[7..]));
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), 4000);
    proxy.clear();
    proxy.forget_requests();
    env.run(&["berth-pull", &proxy.image("bb:1")]).success();
    let resumed = proxy
        .requests()
        .iter()
        .filter(|s| s.path.contains(&digest))
        .map(|s| s.header("range").unwrap_or("").to_string())
        .collect::<Vec<_>>();
    assert_eq!(resumed, ["bytes=4000-"]);
    assert!(!partial.exists());
}

#[test]
fn unsupported_media_types_and_schema1_are_exit_2() {
    let env = TestEnv::new();
    let reg = Registry::start_with(Options {
        schema1: true,
        ..Options::default()
    });
    reg.push_fixture("busybox", "bb:s1", Format::V2s1);
    let r = env.run(&["berth-pull", &reg.image("bb:s1")]).fails_with(2);
    assert!(r.error_line().contains("schema 1"), "{}", r.stderr);

    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let m = ureq_get(&format!("{}/v2/bb/manifests/1", reg.url()));
    let proxy = Proxy::start(reg.port());
    let serve = |path: &str, doc: &serde_json::Value, ct: &str| {
        proxy.add(Rule::new(
            path,
            Fault::Respond {
                status: 200,
                headers: vec![("Content-Type".into(), ct.into())],
                body: serde_json::to_vec(doc).unwrap(),
            },
        ));
    };
    let mut weird_layer = m.clone();
    weird_layer["layers"][0]["mediaType"] = "application/vnd.example.weird".into();
    serve(
        "/manifests/weird-layer",
        &weird_layer,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let mut helm = m.clone();
    helm["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json".into();
    serve(
        "/manifests/helm",
        &helm,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let artifact = serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.artifact.manifest.v1+json", "blobs": []});
    serve(
        "/manifests/artifact",
        &artifact,
        "application/vnd.oci.artifact.manifest.v1+json",
    );
    for (tag, needle) in [
        ("weird-layer", "application/vnd.example.weird"),
        ("helm", "helm.config"),
        ("artifact", "artifact.manifest"),
    ] {
        let r = env
            .run(&["berth-pull", &proxy.image(&format!("bb:{tag}"))])
            .fails_with(2);
        let line = r.error_line();
        assert!(
            line.contains("unsupported media type") && line.contains(needle),
            "{line}"
        );
    }
    assert_nothing_stored(&env, false);
}

#[test]
fn server_errors_and_resets_are_retried_then_exit_11() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let (digest, _) = layer_of(&reg, "bb:1");
    let proxy = Proxy::start(reg.port());
    let unavailable = Fault::Respond {
        status: 503,
        headers: vec![],
        body: b"busy".to_vec(),
    };
    // Two failures of each kind, then success: the pull goes through.
    proxy.add(Rule::new("/manifests/", unavailable.clone()).times(2));
    proxy.add(Rule::new(&digest, Fault::Reset).times(2));
    env.run(&["berth-pull", &proxy.image("bb:1")]).success();
    let hits = |p: &str| {
        proxy
            .requests()
            .iter()
            .filter(|s| s.path.contains(p))
            .count()
    };
    assert_eq!(hits("/manifests/"), 3);
    assert_eq!(hits(&digest), 3);

    // A registry that keeps failing: bounded retries, then "try again".
    let env = TestEnv::new();
    proxy.clear();
    proxy.forget_requests();
    proxy.add(Rule::new("/manifests/", unavailable));
    let r = env
        .run(&["berth-pull", &proxy.image("bb:1")])
        .fails_with(11);
    assert!(r.error_line().contains("HTTP 503"), "{}", r.stderr);
    assert_eq!(hits("/manifests/"), 4);
    assert_nothing_stored(&env, false);
}

#[test]
fn redirects_are_followed_and_drop_authorization_across_hosts() {
    let env = TestEnv::new();
    let reg = Registry::start_with_auth("ann", "secret");
    reg.login(&env, None);
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    // The "CDN": another host (127.0.0.2) in front of the same registry, which would refuse
    // the blob without credentials... so the proxy answers from a plain registry instead.
    let plain = Registry::start();
    plain.push_fixture("busybox", "bb:1", Format::Oci);
    let cdn = Proxy::start_on("127.0.0.2", plain.port());
    let front = Proxy::start(reg.port());
    front.add(Rule::new(
        "/blobs/",
        Fault::RedirectTo(format!("http://{}", cdn.host())),
    ));
    // The front proxy's host is not the registry's, so log in for it too.
    let cfg = env.docker_config.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    v["auths"][front.host()] = v["auths"][reg.host()].clone();
    std::fs::write(&cfg, serde_json::to_vec(&v).unwrap()).unwrap();
    env.run(&["berth-pull", &front.image("bb:1")]).success();
    let at_front: Vec<_> = front
        .requests()
        .into_iter()
        .filter(|s| s.path.contains("/blobs/"))
        .collect();
    assert!(!at_front.is_empty());
    assert!(at_front.iter().all(|s| s.header("authorization").is_some()));
    let at_cdn = cdn.requests();
    assert!(!at_cdn.is_empty(), "blobs came through the redirect");
    assert!(
        at_cdn.iter().all(|s| s.header("authorization").is_none()),
        "credentials must not follow a redirect to another host"
    );
    let _ = fixtures::layout();
}
