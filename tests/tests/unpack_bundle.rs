//! berth-unpack as a user drives it: a container bundle from a stored image, that runs
//! unchanged under runc; ids, names, removal, the pipeline, and errors.

use std::path::{Path, PathBuf};

use berth_e2e::argv;
use berth_e2e::{TestEnv, fixtures, have};
use serde_json::Value;

fn seeded() -> TestEnv {
    let env = TestEnv::new();
    fixtures::seed(&env, "busybox", "busybox:latest");
    env
}

fn create(env: &TestEnv, args: &[&str]) -> Value {
    let mut argv = vec!["berth-unpack"];
    argv.extend_from_slice(args);
    env.run(&argv).success().json()
}

/// Runs a bundle under Debian's runc, with runc state in the test's directory; returns stdout.
fn runc_run(env: &TestEnv, bundle: &Path) -> berth_e2e::Run {
    let state = env.dir().join("runc");
    let id = format!("t{}", std::process::id());
    let r = env.run(&argv!(
        "runc --root {} run --bundle {} {}",
        state.to_str().unwrap(),
        bundle.to_str().unwrap(),
        &id
    ));
    let _ = env.run(&argv!(
        "runc --root {} delete -f {}",
        state.to_str().unwrap(),
        &id
    ));
    r
}

fn no_leftovers(env: &TestEnv) {
    let containers = env.root.join("containers");
    let left: Vec<_> = std::fs::read_dir(&containers)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in containers/: {left:?}");
    let names: Vec<_> = std::fs::read_dir(env.root.join("names"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(names.is_empty(), "names still reserved: {names:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(env.root.to_str().unwrap()),
        "a mount is left under the root"
    );
}

#[test]
fn a_bundle_runs_unchanged_under_runc_with_dockers_defaults() {
    if !have("runc") {
        eprintln!("skipped: runc is not installed");
        return;
    }
    let env = seeded();
    let rec = create(
        &env,
        &argv!(
            "busybox sh -c 'id; hostname; grep CapEff /proc/self/status; pwd; echo HOME=$HOME; \
             cat /proc/kcore | wc -c'"
        ),
    );
    let id = rec["id"].as_str().unwrap();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let name = rec["name"].as_str().unwrap();
    assert!(name.contains('_'), "generated name {name}");
    assert!(rec["created"].is_string());
    let bundle = PathBuf::from(rec["bundle"]["path"].as_str().unwrap());
    assert_eq!(bundle, env.root.join("containers").join(id));
    assert_eq!(rec["bundle"]["driver"], "overlay");
    assert!(bundle.join("rootfs/bin/busybox").exists());
    let config: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["hostname"], &id[..12]);
    assert_eq!(config["linux"]["maskedPaths"][3], "/proc/keys");
    let out = runc_run(&env, &bundle).success().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("uid=0(root) gid=0(root)"), "{out}");
    assert_eq!(lines[1], &id[..12]);
    assert_eq!(
        lines[2], "CapEff:\t00000000a80425fb",
        "Docker's 14 capabilities"
    );
    assert_eq!(lines[3], "/");
    assert_eq!(lines[4], "HOME=/root");
    assert_eq!(lines[5].trim(), "0", "/proc/kcore is masked");
}

#[test]
fn overrides_reach_the_process() {
    if !have("runc") {
        return;
    }
    let env = seeded();
    // A user with supplementary groups, in the image's own /etc/passwd and /etc/group.
    let tar = berth_e2e::crafted::tar(|b| {
        b.file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n",
        );
        b.file("etc/group", b"root:x:0:\nweb:x:1000:\nwheel:x:10:web\n");
    });
    let base = berth_e2e::crafted::busybox_tar();
    berth_e2e::crafted::put_image(
        &env,
        "users:latest",
        &[
            berth_e2e::crafted::Layer::gz(&base),
            berth_e2e::crafted::Layer::gz(&tar),
        ],
        serde_json::json!({"Env": ["PATH=/bin", "KEEP=1", "DROP=1"], "Cmd": ["sh"], "Labels": {"a": "b"}}),
    );
    let envfile = env.dir().join("env.list");
    std::fs::write(&envfile, "# comment\nFROM_FILE=f\n\nOVER=file\n").unwrap();
    let rec = create(
        &env,
        &argv!(
            "--name ov -u web -w /srv/app -e OVER=flag -e DROP --env-file {} --hostname box \
             --read-only users sh -c 'id; pwd; hostname; env | sort; touch /x 2>&1 || echo ro'",
            envfile.to_str().unwrap()
        ),
    );
    assert_eq!(rec["name"], "ov");
    assert_eq!(rec["bundle"]["config"]["user"], "web");
    let bundle = PathBuf::from(rec["bundle"]["path"].as_str().unwrap());
    let config: Value =
        serde_json::from_slice(&std::fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["annotations"]["a"], "b");
    let out = runc_run(&env, &bundle).success().stdout;
    assert!(
        out.starts_with("uid=1000(web) gid=1000(web) groups=10(wheel)"),
        "{out}"
    );
    assert!(out.contains("\n/srv/app\nbox\n"), "{out}");
    for want in [
        "FROM_FILE=f",
        "OVER=flag",
        "KEEP=1",
        "HOME=/home/web",
        "HOSTNAME=box",
    ] {
        assert!(out.lines().any(|l| l == want), "{want} missing: {out}");
    }
    assert!(!out.contains("DROP="), "{out}");
    assert!(out.trim_end().ends_with("ro"), "{out}");
}

#[test]
fn names_are_unique_and_rm_is_idempotent() {
    let env = seeded();
    let a = create(&env, &["--name", "web", "busybox"]);
    let id = a["id"].as_str().unwrap().to_string();
    let r = env
        .run(&["berth-unpack", "--name", "web", "busybox"])
        .fails_with(104);
    assert!(r.error_line().contains("already in use"), "{}", r.stderr);
    assert!(r.error_line().contains(&id));
    assert_eq!(r.json()["error"]["code"], 104);
    // Removal: unmount, delete, free the name; again is fine.
    env.ok(&["berth-unpack", "rm", &id]);
    env.ok(&["berth-unpack", "rm", &id]);
    no_leftovers(&env);
    env.run(&["berth-unpack", "rm", "web"]).fails_with(3);
    let b = create(&env, &["--name", "web", "busybox"]);
    env.ok(&["berth-unpack", "rm", "web"]);
    assert!(
        !env.root
            .join("containers")
            .join(b["id"].as_str().unwrap())
            .exists()
    );
    no_leftovers(&env);
}

#[test]
fn a_second_container_shares_the_unpacked_layers() {
    let env = seeded();
    let a = create(&env, &["busybox"]);
    let b = create(&env, &["busybox"]);
    assert_ne!(a["id"], b["id"]);
    assert_ne!(a["name"], b["name"]);
    let layers: Vec<_> = std::fs::read_dir(env.root.join("layers/sha256"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(layers.len(), 1, "one layer directory, shared");
    // A write in one container is not seen in the other.
    let ra = PathBuf::from(a["bundle"]["rootfs"].as_str().unwrap());
    let rb = PathBuf::from(b["bundle"]["rootfs"].as_str().unwrap());
    std::fs::write(ra.join("etc/only-a"), b"x").unwrap();
    assert!(!rb.join("etc/only-a").exists());
    for r in [&a, &b] {
        env.ok(&["berth-unpack", "rm", r["id"].as_str().unwrap()]);
    }
    no_leftovers(&env);
}

#[test]
fn the_pipeline_form_reads_the_record_and_passes_errors_on() {
    let env = seeded();
    let first = create(&env, &["busybox"]);
    let pulled = serde_json::json!({"berth": 1, "image": first["image"]});
    let r = env
        .run_with_stdin(
            &["berth-unpack", "--name", "piped", "-"],
            Some(pulled.to_string().as_bytes()),
        )
        .success();
    let rec = r.json();
    assert_eq!(rec["name"], "piped");
    assert_eq!(rec["image"]["reference"], "busybox:latest");
    let saved: Value = serde_json::from_slice(
        &std::fs::read(
            env.root
                .join("containers")
                .join(rec["id"].as_str().unwrap())
                .join("record.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(saved["id"], rec["id"]);
    // An upstream error is passed on, not reported twice.
    let err = br#"{"berth":1,"error":{"code":101,"message":"registry unreachable"}}"#;
    let r = env
        .run_with_stdin(&["berth-unpack", "-"], Some(err))
        .fails_with(101);
    assert!(!r.stderr.contains("error:"), "{}", r.stderr);
    assert_eq!(r.json()["error"]["code"], 101);
}

#[test]
fn a_missing_image_says_to_pull_it() {
    let env = TestEnv::new();
    let r = env.run(&["berth-unpack", "alpine"]).fails_with(3);
    assert!(r.error_line().contains("pull it first"), "{}", r.stderr);
    no_leftovers(&env);
    let r = env.run(&["berth-unpack"]).fails_with(4);
    assert!(r.stderr.contains("image is required"), "{}", r.stderr);
}

#[test]
fn an_image_without_a_command_or_a_bad_user_is_refused() {
    let env = seeded();
    let r = env
        .run(&["berth-unpack", "--entrypoint", "", "busybox"])
        .fails_with(7);
    assert!(r.error_line().contains("no command"), "{}", r.stderr);
    let r = env
        .run(&["berth-unpack", "--name", "usr", "-u", "nosuch", "busybox"])
        .fails_with(7);
    assert!(r.error_line().contains("nosuch"), "{}", r.stderr);
    let r = env
        .run(&["berth-unpack", "-w", "rel", "busybox"])
        .fails_with(4);
    assert!(r.error_line().contains("absolute"), "{}", r.stderr);
    no_leftovers(&env);
}

#[test]
fn unpack_to_a_plain_directory() {
    let env = seeded();
    let dir = env.dir().join("out");
    env.ok(&["berth-unpack", "busybox", "--to", dir.to_str().unwrap()]);
    assert!(dir.join("bin/busybox").is_file());
    assert!(dir.join("bin/sh").is_symlink());
    assert!(!env.root.join("containers").exists() || no_containers(&env));
    let r = env
        .run(&["berth-unpack", "busybox", "--to", dir.to_str().unwrap()])
        .fails_with(104);
    assert!(
        r.error_line().contains("not an empty directory"),
        "{}",
        r.stderr
    );
}

fn no_containers(env: &TestEnv) -> bool {
    std::fs::read_dir(env.root.join("containers"))
        .map(|d| d.count() == 0)
        .unwrap_or(true)
}

#[test]
fn the_rootfs_is_mounted_again_after_an_unmount() {
    let env = seeded();
    let rec = create(&env, &["busybox"]);
    let rootfs = PathBuf::from(rec["bundle"]["rootfs"].as_str().unwrap());
    std::fs::write(rootfs.join("etc/kept"), b"upper").unwrap();
    nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH).unwrap();
    assert!(!rootfs.join("bin/busybox").exists());
    env.ok(&["berth-unpack", "mount", rec["id"].as_str().unwrap()]);
    env.ok(&["berth-unpack", "mount", rec["name"].as_str().unwrap()]);
    assert!(rootfs.join("bin/busybox").exists());
    assert_eq!(std::fs::read(rootfs.join("etc/kept")).unwrap(), b"upper");
}
