//! Authentication, trust and settings: htpasswd Basic auth with config.json credentials
//! (inline, credHelpers, credsStore), a Bearer token flow, TLS trusted through certs.d,
//! insecure-registries, and docker.io mirrors.

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use berth_e2e::proxy::{BearerGate, Proxy};
use berth_e2e::registry::{Format, Registry, base64};
use berth_e2e::{TestEnv, tool_path};

/// Installs `docker-credential-<name>` (a script answering `get` for `server` with
/// user/password) in the test's own bin dir; returns a PATH that finds it.
fn credential_helper(
    env: &TestEnv,
    name: &str,
    server: &str,
    user: &str,
    password: &str,
) -> String {
    let bin = env.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join(format!("docker-credential-{name}"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nif [ \"$server\" = '{server}' ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'; exit 1\nfi\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), tool_path())
}

fn pull_with_path(env: &TestEnv, path: &str, image: &str) -> Output {
    env.cmd("berth-pull")
        .env("PATH", path)
        .arg(image)
        .output()
        .unwrap()
}

fn write_config(env: &TestEnv, v: serde_json::Value) {
    std::fs::write(env.docker_config.join("config.json"), v.to_string()).unwrap();
}

#[test]
fn basic_auth_with_saved_credentials() {
    let env = TestEnv::new();
    let reg = Registry::start_with_auth("ann", "s3cret");
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let image = reg.image("bb:1");

    let r = env.run(&["berth-pull", &image]).fails_with(100);
    assert!(
        r.error_line().contains("no credentials are saved"),
        "{}",
        r.stderr
    );
    reg.login(&env, Some("wrong"));
    let r = env.run(&["berth-pull", &image]).fails_with(100);
    let line = r.error_line();
    assert!(
        line.starts_with("berth-pull: error: unauthorized"),
        "{line}"
    );
    assert!(
        !line.contains("wrong") && !line.contains("s3cret"),
        "no secrets in messages"
    );
    assert!(
        !env.root.join("images/blobs/sha256").exists()
            || std::fs::read_dir(env.root.join("images/blobs/sha256"))
                .unwrap()
                .count()
                == 0
    );
    reg.login(&env, None);
    let v = env.run(&["berth-pull", &image]).success().json();
    assert_eq!(v["image"]["reference"], image);
}

#[test]
fn credential_helpers_and_stores_answer_for_docker_login() {
    let env = TestEnv::new();
    let reg = Registry::start_with_auth("bob", "pw");
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let image = reg.image("bb:1");

    // credHelpers for this registry.
    let path = credential_helper(&env, "berthtest", &reg.host(), "bob", "pw");
    write_config(
        &env,
        serde_json::json!({"credHelpers": {reg.host(): "berthtest"}}),
    );
    let out = pull_with_path(&env, &path, &image);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // credsStore for every registry; the helper knows nothing about this one -> 100.
    let env = TestEnv::new();
    let path = credential_helper(&env, "store", &reg.host(), "bob", "wrong");
    write_config(
        &env,
        serde_json::json!({"credsStore": "store", "auths": {reg.host(): {}}}),
    );
    let out = pull_with_path(&env, &path, &image);
    assert_eq!(
        out.status.code(),
        Some(100),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = credential_helper(&env, "store", &reg.host(), "bob", "pw");
    let out = pull_with_path(&env, &path, &image);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A helper that is not installed: a clear error naming it.
    let env = TestEnv::new();
    write_config(&env, serde_json::json!({"credsStore": "missing-helper"}));
    let r = env.run(&["berth-pull", &image]).fails_with(100);
    assert!(
        r.error_line().contains("docker-credential-missing-helper"),
        "{}",
        r.stderr
    );
}

#[test]
fn bearer_token_flow_with_scope() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "team/bb:1", Format::V2s2);
    let gate = Proxy::start(reg.port());
    gate.set_bearer(BearerGate {
        user: Some(("carol".into(), "tok-pw".into())),
        token: "T0KEN".into(),
    });
    let image = gate.image("team/bb:1");

    let r = env.run(&["berth-pull", &image]).fails_with(100);
    assert!(r.error_line().contains("unauthorized"), "{}", r.stderr);
    write_config(
        &env,
        serde_json::json!({"auths": {gate.host(): {"auth": base64("carol:tok-pw")}}}),
    );
    gate.forget_requests();
    env.run(&["berth-pull", &image]).success();
    let reqs = gate.requests();
    let token_reqs: Vec<_> = reqs
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .collect();
    assert_eq!(
        token_reqs.len(),
        1,
        "one token for the repository, cached: {reqs:#?}"
    );
    let q = &token_reqs[0].path;
    assert!(
        q.contains("service=berth-test") && q.contains("scope=repository%3Ateam%2Fbb%3Apull"),
        "{q}"
    );
    assert!(
        reqs.iter()
            .filter(|s| s.path.contains("/blobs/"))
            .all(|s| s.header("authorization") == Some("Bearer T0KEN"))
    );
}

#[test]
fn tls_registry_trusted_through_certs_d_or_listed_insecure() {
    let env = TestEnv::new();
    let reg = Registry::start_tls();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let image = reg.image("bb:1");

    // Loopback registries are tried over HTTP, then HTTPS verified: the unknown CA is refused.
    let r = env.run(&["berth-pull", &image]).fails_with(101);
    let line = r.error_line();
    assert!(line.contains("TLS") && line.contains("certs.d"), "{line}");

    // Listed insecure: HTTPS without verification.
    std::fs::write(
        env.docker_config.join("registries.json"),
        serde_json::json!({"insecure-registries": [reg.host()]}).to_string(),
    )
    .unwrap();
    env.run(&["berth-pull", &image]).success();

    // Trusted through <DOCKER_CONFIG>/certs.d/<host:port>/ca.crt, verified.
    let env = TestEnv::new();
    reg.trust(&env);
    let v = env.run(&["berth-pull", &image]).success().json();
    assert_eq!(v["image"]["reference"], image);

    // A broken settings file is an invalid-config error, not a silent default.
    std::fs::write(env.docker_config.join("registries.json"), "{nope").unwrap();
    let r = env
        .run(&["berth-pull", "--pull=always", &image])
        .fails_with(7);
    assert!(r.error_line().contains("registries.json"), "{}", r.stderr);
}

#[test]
fn docker_hub_mirror_serves_official_images() {
    let env = TestEnv::new();
    let mirror = Registry::start();
    mirror.push_fixture("busybox", "library/busybox:latest", Format::V2s2);
    std::fs::write(
        env.docker_config.join("registries.json"),
        serde_json::json!({"registry-mirrors": [mirror.url()]}).to_string(),
    )
    .unwrap();
    let v = env.run(&["berth-pull", "busybox"]).success().json();
    assert_eq!(v["image"]["reference"], "busybox:latest");
    assert_eq!(v["image"]["name"], "docker.io/library/busybox:latest");
    // Not on the mirror: falls back to docker.io itself, which the test guard refuses.
    let r = env.run(&["berth-pull", "alpine"]).fails_with(101);
    assert!(r.error_line().contains("docker.io"), "{}", r.stderr);
}
