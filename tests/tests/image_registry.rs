//! berth push / login / logout / search against a real local registry (docker-registry),
//! checked with skopeo, an independent reader.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use berth_e2e::argv;
use berth_e2e::proxy::{Fault, Proxy, Rule};
use berth_e2e::registry::{Registry, base64};
use berth_e2e::{Run, TestEnv, fixtures, tool_path};
use serde_json::Value;

fn skopeo_inspect(env: &TestEnv, image: &str) -> Value {
    let out = env.ok(&argv!(
        "skopeo inspect --tls-verify=false {}",
        &format!("docker://{image}")
    ));
    serde_json::from_str(&out).unwrap()
}

fn local_layers(env: &TestEnv, name: &str) -> Value {
    let out = env.ok(&argv!(
        "skopeo inspect {}",
        &format!("oci:{}:{name}", env.root.join("images").display())
    ));
    serde_json::from_str::<Value>(&out).unwrap()["Layers"].clone()
}

fn statuses(pushed: &Value) -> Vec<String> {
    pushed[0]["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn push_uploads_skips_mounts_and_skopeo_sees_the_same_digests() {
    let env = TestEnv::new();
    let reg = Registry::start();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let app = reg.image("team/app:v1");
    env.ok(&["berth", "tag", "busybox", &app]);

    let pushed = env.run(&["berth", "push", "--json", &app]).success().json();
    assert_eq!(statuses(&pushed), ["pushed", "pushed"]);
    assert!(
        pushed[0]["blobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["requests"] == 1)
    );
    let remote = skopeo_inspect(&env, &app);
    assert_eq!(remote["Digest"], pushed[0]["digest"]);
    assert_eq!(
        remote["Layers"],
        local_layers(&env, &format!("{}/team/app:v1", reg.host()))
    );
    // The manifest went up byte for byte: the registry's digest is the store's.
    let local = env
        .run(&["berth", "image", "inspect", "--json", &app])
        .success()
        .json();
    assert_eq!(local[0]["Descriptor"]["digest"], remote["Digest"]);
    // And the local image now knows its repo digest, as after a Docker push.
    assert_eq!(
        local[0]["RepoDigests"][0],
        format!(
            "{}/team/app@{}",
            reg.host(),
            remote["Digest"].as_str().unwrap()
        )
    );

    // Again: everything is there already.
    let again = env.run(&["berth", "push", "--json", &app]).success().json();
    assert_eq!(statuses(&again), ["exists", "exists"]);
    // Another repository of the same registry: blobs are mounted, not uploaded.
    let other = reg.image("other/app:v2");
    env.ok(&["berth", "tag", "busybox", &other]);
    let mounted = env
        .run(&["berth", "image", "push", "--json", &other])
        .success()
        .json();
    assert_eq!(statuses(&mounted), ["mounted", "mounted"]);
    assert_eq!(mounted[0]["blobs"][0]["mounted_from"], "team/app");
    assert_eq!(skopeo_inspect(&env, &other)["Digest"], remote["Digest"]);

    // The human output reads like Docker's.
    let t = env
        .sh(&format!("script -qc 'berth push {app}' /dev/null"))
        .success();
    assert!(
        t.stdout.contains(&format!(
            "The push refers to repository [{}/team/app]",
            reg.host()
        )),
        "{}",
        t.stdout
    );
    assert!(t.stdout.contains(": Layer already exists"), "{}", t.stdout);
    assert!(t.stdout.contains("v1: digest: sha256:"), "{}", t.stdout);
}

#[test]
fn chunked_uploads_round_trip_through_pull() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let name = reg.image("chunky:1");
    env.ok(&["berth", "image", "default", "--tag", &name]);
    let before = env
        .run(&["berth", "image", "inspect", "--json", &name])
        .success()
        .json();
    let pushed = env
        .run(&["berth", "push", "--json", "--chunk-size", "100000", &name])
        .success()
        .json();
    let layer = &pushed[0]["blobs"][0];
    assert_eq!(layer["kind"], "layer");
    assert_eq!(layer["status"], "pushed");
    let size = layer["size"].as_u64().unwrap();
    // size/100000 PATCH requests, rounded up, and the closing PUT.
    assert_eq!(
        layer["requests"].as_u64().unwrap(),
        size.div_ceil(100_000) + 1
    );
    assert_eq!(
        skopeo_inspect(&env, &name)["Layers"],
        local_layers(&env, &name)
    );

    // Pull it back into an empty store: the same image.
    let fresh = TestEnv::new();
    fresh.ok(&["berth", "pull", &name]);
    let after = fresh
        .run(&["berth", "image", "inspect", "--json", &name])
        .success()
        .json();
    assert_eq!(after[0]["Id"], before[0]["Id"]);
    assert_eq!(after[0]["RootFS"], before[0]["RootFS"]);

    // --all-tags pushes every tag of the repository.
    env.ok(&["berth", "tag", &name, &reg.image("chunky:2")]);
    let all = env
        .run(&["berth", "push", "--json", "-a", &reg.image("chunky")])
        .success()
        .json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(skopeo_inspect(&env, &reg.image("chunky:2"))["Digest"].is_string());
}

#[test]
fn a_rejected_push_says_why_and_changes_nothing() {
    let env = TestEnv::new();
    let reg = Registry::start();
    let proxy = Proxy::start(reg.port());
    fixtures::seed(&env, "busybox", "busybox:latest");
    let name = proxy.image("locked/app:v1");
    env.ok(&["berth", "tag", "busybox", &name]);
    let index = std::fs::read(env.root.join("images/index.json")).unwrap();
    proxy.add(
        Rule::new(
            "/manifests/",
            Fault::Respond {
                status: 403,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: br#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#.to_vec(),
            },
        )
        .method("PUT"),
    );
    let r = env.run(&["berth", "push", "--json", &name]).fails_with(108);
    let line = r.error_line();
    assert!(
        line.contains("rejected") && line.contains("requested access to the resource is denied"),
        "{line}"
    );
    assert_eq!(
        std::fs::read(env.root.join("images/index.json")).unwrap(),
        index
    );

    // An upload the registry refuses (here: as a read-only registry answers).
    proxy.clear();
    proxy.add(Rule::new(
        "/blobs/uploads/",
        Fault::Respond {
            status: 405,
            headers: vec![],
            body:
                br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#
                    .to_vec(),
        },
    ));
    let r = env
        .run(&["berth", "push", "--json", &proxy.image("ro/app:v1")])
        .fails_with(3);
    assert!(
        r.error_line().contains("does not exist locally"),
        "{}",
        r.stderr
    );
    env.ok(&["berth", "tag", "busybox", &proxy.image("ro/app:v1")]);
    let r = env
        .run(&["berth", "push", "--json", &proxy.image("ro/app:v1")])
        .fails_with(108);
    assert!(
        r.error_line().contains("The operation is unsupported"),
        "{}",
        r.stderr
    );

    // Bad names and digests are refused before any network.
    env.run(&["berth", "push", "--json", "Bad/Name"])
        .fails_with(4);
    env.run(&argv!(
        "berth push --json {}",
        &format!("{name}@sha256:{}", "a".repeat(64))
    ))
    .fails_with(4);
    // Nobody listening.
    drop(proxy);
    let r = env.run(&["berth", "push", "--json", &name]).fails_with(101);
    r.error_line();
}

/// Installs a credential helper that keeps what `store` gets in a file; returns PATH for it.
fn storing_helper(env: &TestEnv) -> String {
    let bin = env.dir().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let file = env.dir().join("helper-store.json");
    let script = bin.join("docker-credential-filestore");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nf={f}\ncase \"$1\" in\n  store) cat > \"$f\" ;;\n  get) read server; if [ -s \"$f\" ] && grep -q \"$server\" \"$f\"; then cat \"$f\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  erase) read server; if [ -s \"$f\" ]; then rm -f \"$f\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n  *) exit 1 ;;\nesac\n",
            f = file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:{}", bin.display(), tool_path())
}

fn login(env: &TestEnv, path: Option<&str>, args: &[&str], password: &str) -> Run {
    // berth's JSON answer and codes, which these tests read.
    let mut argv = vec!["berth", "login", "--json"];
    argv.extend_from_slice(args);
    let mut c = env.cmd("berth");
    c.args(&argv[1..]);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn login_and_logout_write_config_json_as_docker_does() {
    let env = TestEnv::new();
    let reg = Registry::start_with_auth("ann", "s3cret");
    let config = env.docker_config.join("config.json");
    let host = reg.host();

    // A wrong password: refused, and nothing is written.
    let r = login(
        &env,
        None,
        &["-u", "ann", "--password-stdin", &host],
        "nope",
    )
    .fails_with(100);
    assert!(
        r.error_line().contains("incorrect username or password"),
        "{}",
        r.stderr
    );
    assert!(!config.exists());
    // No TTY and no password: a clear error, nothing written.
    let r = env
        .run(&["berth", "login", "--json", "-u", "ann", &host])
        .fails_with(4);
    assert!(r.error_line().contains("non TTY"), "{}", r.stderr);
    assert!(!config.exists());

    // Other settings in config.json survive a login.
    std::fs::write(&config, r#"{"psFormat":"table {{.ID}}"}"#).unwrap();
    let r = login(
        &env,
        None,
        &["-u", "ann", "--password-stdin", &host],
        "s3cret",
    )
    .success();
    assert_eq!(r.json()["status"], "Login Succeeded");
    assert!(r.stderr.contains("stored unencrypted"), "{}", r.stderr);
    let v: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(v["auths"][&host]["auth"], base64("ann:s3cret"));
    assert_eq!(v["psFormat"], "table {{.ID}}");
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // skopeo (containers/image) reads the same file: the format is Docker's.
    let authfile = config.display().to_string();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let name = reg.image("private/app:v1");
    env.ok(&["berth", "tag", "busybox", &name]);
    env.ok(&["berth", "push", &name]);
    env.ok(&argv!(
        "skopeo inspect --tls-verify=false --authfile {} {}",
        &authfile,
        &format!("docker://{name}")
    ));
    // Logged in with saved credentials, `login` alone checks them.
    let r = env.run(&["berth", "login", &host]).success();
    assert!(r.stderr.contains("existing credentials"), "{}", r.stderr);

    let out = env
        .run(&["berth", "logout", "--json", &host])
        .success()
        .json();
    assert_eq!(out["removed"], true);
    let v: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert!(v["auths"].get(&host).is_none(), "{v}");
    let out = env
        .run(&["berth", "logout", "--json", &host])
        .success()
        .json();
    assert_eq!(out["removed"], false);
    let r = env.run(&["berth", "push", "--json", &name]).fails_with(100);
    r.error_line();
}

#[test]
fn login_through_a_credential_helper() {
    let env = TestEnv::new();
    let reg = Registry::start_with_auth("ann", "s3cret");
    let host = reg.host();
    let path = storing_helper(&env);
    let config = env.docker_config.join("config.json");
    std::fs::write(&config, r#"{"credsStore":"filestore"}"#).unwrap();
    let store = env.dir().join("helper-store.json");

    login(
        &env,
        Some(&path),
        &["-u", "ann", "--password-stdin", &host],
        "wrong",
    )
    .fails_with(100);
    assert!(!store.exists(), "a wrong password reaches no helper");
    login(
        &env,
        Some(&path),
        &["-u", "ann", "--password-stdin", &host],
        "s3cret",
    )
    .success();
    let kept: Value = serde_json::from_slice(&std::fs::read(&store).unwrap()).unwrap();
    assert_eq!(
        kept,
        serde_json::json!({"ServerURL": host, "Username": "ann", "Secret": "s3cret"})
    );
    let v: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    assert_eq!(
        v["auths"][&host],
        serde_json::json!({}),
        "Docker's marker, no secret: {v}"
    );
    assert_eq!(v["credsStore"], "filestore");

    // Push uses the helper's credential.
    fixtures::seed(&env, "busybox", "busybox:latest");
    let name = reg.image("viahelper:1");
    env.ok(&["berth", "tag", "busybox", &name]);
    let out = env
        .cmd("berth")
        .env("PATH", &path)
        .args(["push", &name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = env
        .cmd("berth")
        .env("PATH", &path)
        .args(["logout", &host])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!store.exists(), "the helper erased it");
}

#[test]
fn search_lists_matching_repositories_with_tags() {
    let env = TestEnv::new();
    let reg = Registry::start();
    fixtures::seed(&env, "busybox", "busybox:latest");
    for n in ["app:v1", "app:v2", "apple:1", "tools/app-cli:3", "other:x"] {
        let name = reg.image(n);
        env.ok(&["berth", "tag", "busybox", &name]);
        env.ok(&["berth", "push", &name]);
    }
    let found = env
        .run(&["berth", "search", "--json", &format!("{}/app", reg.host())])
        .success()
        .json();
    let found: Vec<(String, Value)> = found
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["Name"].as_str().unwrap().to_string(), f["Tags"].clone()))
        .collect();
    let h = reg.host();
    assert_eq!(
        found,
        [
            (format!("{h}/app"), serde_json::json!(["v1", "v2"])),
            (format!("{h}/apple"), serde_json::json!(["1"])),
            (format!("{h}/tools/app-cli"), serde_json::json!(["3"])),
        ]
    );
    let t = env.ok(&argv!(
        "berth search --limit 1 --format table {}",
        &format!("{h}/app")
    ));
    assert_eq!(t.lines().count(), 2, "{t}");
    assert!(t.starts_with("NAME"), "{t}");
    let t = env.ok(&argv!(
        "berth search --format {{.Name}} {}",
        &format!("{h}/nothing")
    ));
    assert_eq!(t, "");

    // A registry without a catalogue: said plainly.
    let proxy = Proxy::start(reg.port());
    proxy.add(Rule::new(
        "/v2/_catalog",
        Fault::Respond {
            status: 404,
            headers: vec![],
            body: br#"{"errors":[{"code":"UNSUPPORTED","message":"catalog disabled"}]}"#.to_vec(),
        },
    ));
    let r = env
        .run(&[
            "berth",
            "search",
            "--json",
            &format!("{}/app", proxy.host()),
        ])
        .fails_with(2);
    assert!(
        r.error_line().contains("offers no catalogue"),
        "{}",
        r.stderr
    );
}

#[test]
fn login_and_push_through_a_token_service() {
    use berth_e2e::proxy::BearerGate;
    let env = TestEnv::new();
    let reg = Registry::start();
    let gate = Proxy::start(reg.port());
    gate.set_bearer(BearerGate {
        user: Some(("carol".into(), "tok-pw".into())),
        token: "T0KEN".into(),
    });
    let config = env.docker_config.join("config.json");
    login(
        &env,
        None,
        &["-u", "carol", "--password-stdin", &gate.host()],
        "bad",
    )
    .fails_with(100);
    assert!(!config.exists());
    login(
        &env,
        None,
        &["-u", "carol", "--password-stdin", &gate.host()],
        "tok-pw",
    )
    .success();

    fixtures::seed(&env, "busybox", "busybox:latest");
    let name = gate.image("team/tok:1");
    env.ok(&["berth", "tag", "busybox", &name]);
    gate.forget_requests();
    let pushed = env
        .run(&["berth", "push", "--json", &name])
        .success()
        .json();
    assert_eq!(statuses(&pushed), ["pushed", "pushed"]);
    let reqs = gate.requests();
    let at = reqs
        .iter()
        .position(|s| s.path.starts_with("/token"))
        .expect("a token request");
    let token = &reqs[at];
    assert!(
        token
            .path
            .contains("scope=repository%3Ateam%2Ftok%3Apull%2Cpush"),
        "{}",
        token.path
    );
    // One token, then every request carries it (only the first probe went without).
    assert_eq!(
        reqs.iter().filter(|s| s.path.starts_with("/token")).count(),
        1
    );
    assert!(
        reqs[at + 1..]
            .iter()
            .all(|s| s.header("authorization") == Some("Bearer T0KEN")),
        "{reqs:#?}"
    );
}

#[test]
fn push_over_tls_follows_the_same_trust_rules_as_pull() {
    let env = TestEnv::new();
    let reg = Registry::start_tls();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let name = reg.image("secure/app:1");
    env.ok(&["berth", "tag", "busybox", &name]);
    // An unknown CA is refused, with the fix named.
    let r = env.run(&["berth", "push", "--json", &name]).fails_with(101);
    assert!(r.error_line().contains("certs.d"), "{}", r.stderr);
    // Trusted through certs.d: the push goes through, and `berth image pull` gets it back.
    reg.trust(&env);
    let pushed = env
        .run(&["berth", "push", "--json", &name])
        .success()
        .json();
    assert_eq!(statuses(&pushed), ["pushed", "pushed"]);
    let fresh = TestEnv::new();
    reg.trust(&fresh);
    fresh.ok(&["berth", "image", "pull", &name]);
    let a = env
        .run(&["berth", "image", "inspect", "--json", &name])
        .success()
        .json();
    let b = fresh
        .run(&["berth", "image", "inspect", "--json", &name])
        .success()
        .json();
    assert_eq!(a[0]["Id"], b[0]["Id"]);
}
