//! berth-spawn as an OCI runtime driven by others: runc's verbs on a bundle from `umoci
//! unpack`, and Debian's podman with `--runtime berth-spawn`.

use std::process::Command;

use berth_e2e::argv;
use berth_e2e::capture;
use berth_e2e::world::World;
use berth_e2e::{fixtures, have};

fn umoci_bundle(w: &World, args: &[&str]) -> std::path::PathBuf {
    let b = w.env.dir().join("bundle");
    fixtures::must(
        Command::new("umoci")
            .args([
                "unpack",
                "--image",
                &format!("{}:busybox", fixtures::layout().display()),
            ])
            .arg(&b),
    );
    berth_e2e::world::edit_config(&b, |c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(args);
    });
    b
}

#[test]
fn runc_verbs_on_a_umoci_bundle() {
    let w = World::new();
    let b = umoci_bundle(&w, &["sleep", "1000"]);
    let hooks = w.env.dir().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    berth_e2e::world::edit_config(&b, |c| {
        let hook = |name: &str| serde_json::json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{name}", hooks.display())]}]);
        c["hooks"] = serde_json::json!({
            "prestart": hook("prestart"), "createRuntime": hook("createRuntime"),
            "poststart": hook("poststart"), "poststop": hook("poststop"),
        });
    });
    let root = w.env.dir().join("rt");
    let rt = |args: &[&str]| {
        let mut v = vec!["berth-spawn", "--root", root.to_str().unwrap()];
        v.extend_from_slice(args);
        w.run(&v)
    };
    let pidfile = w.env.dir().join("pid");
    // The created container keeps create's stdio (as with runc): give it none to hold.
    let status = w
        .cmd("berth-spawn")
        .args([
            "--root",
            root.to_str().unwrap(),
            "create",
            "--bundle",
            b.to_str().unwrap(),
        ])
        .args(["--pid-file", pidfile.to_str().unwrap(), "c1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let pid: i64 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let state = rt(&["state", "c1"]).success().json();
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("created"), Some(pid))
    );
    assert_eq!(state["bundle"], b.canonicalize().unwrap().to_str().unwrap());
    rt(&["create", "--bundle", b.to_str().unwrap(), "c1"]).fails_with(104);
    rt(&["start", "c1"]).success();
    assert_eq!(rt(&["state", "c1"]).success().json()["status"], "running");
    rt(&["start", "c1"]).fails_with(105);
    let out = rt(&["exec", "c1", "ps", "-o", "pid,comm"]).success().stdout;
    assert!(out.contains("    1 sleep"), "{out}");
    let list = rt(&["list", "--format", "json"]).success().json();
    assert_eq!(list[0]["id"], "c1");
    rt(&["pause", "c1"]).success();
    assert_eq!(rt(&["state", "c1"]).success().json()["status"], "paused");
    rt(&["resume", "c1"]).success();
    rt(&["delete", "c1"]).fails_with(105);
    rt(&["kill", "c1", "KILL"]).success();
    berth_e2e::until("the container to die", || {
        (!berth_e2e::world::alive(pid)).then_some(())
    });
    assert_eq!(rt(&["state", "c1"]).success().json()["status"], "stopped");
    rt(&["delete", "c1"]).success();
    rt(&["state", "c1"]).fails_with(3);
    // Each hook ran once, with the state on stdin.
    for (hook, status) in [
        ("prestart", "created"),
        ("createRuntime", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(hooks.join(hook)).unwrap()).unwrap();
        assert_eq!(
            (doc["id"].as_str(), doc["status"].as_str()),
            (Some("c1"), Some(status)),
            "{hook}"
        );
    }
    berth_e2e::world::edit_config(&b, |c| {
        c.as_object_mut().unwrap().remove("hooks");
    });
    assert!(w.container_cgroups().is_empty() && w.cgroup_dirs().iter().all(|d| !d.ends_with("c1")));
    // run: foreground with the exit code, and the error for a missing command.
    berth_e2e::world::edit_config(&b, |c| {
        c["process"]["args"] = serde_json::json!(["sh", "-c", "echo hi; exit 7"])
    });
    let r = rt(&["run", "--bundle", b.to_str().unwrap(), "c2"]).fails_with(7);
    assert_eq!(r.stdout, "hi\n");
    berth_e2e::world::edit_config(&b, |c| c["process"]["args"] = serde_json::json!(["nosuch"]));
    let r = rt(&argv!(
        "--log {} --log-format json run -b {} c3",
        w.env.dir().join("log.json").to_str().unwrap(),
        b.to_str().unwrap()
    ))
    .fails_with(127);
    assert!(r.stderr.contains("executable file not found in $PATH"));
    let log = std::fs::read_to_string(w.env.dir().join("log.json")).unwrap();
    let line: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(line["level"], "error");
    // OCI run does not wait for a start message (`Launch::RunNow`): `--pid-file` is written
    // before run returns; a file that fails at the execve itself, after the init said Ready,
    // is still run's error (126), and leaves no pid file behind.
    let pid_file = w.env.dir().join("c4.pid");
    berth_e2e::world::edit_config(&b, |c| c["process"]["args"] = serde_json::json!(["true"]));
    rt(&argv!(
        "run --pid-file {} -b {} c4",
        pid_file.to_str().unwrap(),
        b.to_str().unwrap()
    ))
    .success();
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(pid.trim().parse::<u32>().is_ok_and(|p| p > 1), "{pid:?}");
    let junk = b.join("rootfs/bin/junk");
    std::fs::write(&junk, "\0 not a program\n").unwrap();
    std::fs::set_permissions(&junk, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    berth_e2e::world::edit_config(&b, |c| {
        c["process"]["args"] = serde_json::json!(["/bin/junk"])
    });
    let r = rt(&argv!(
        "run --pid-file {} -b {} c4",
        pid_file.to_str().unwrap(),
        b.to_str().unwrap()
    ))
    .fails_with(126);
    assert!(
        r.stderr.contains("exec: \"/bin/junk\": exec format error"),
        "{}",
        r.stderr
    );
    assert!(!pid_file.exists());
    assert!(rt(&["list", "-q"]).success().stdout.is_empty());
}

/// Debian's podman with berth-spawn as its runtime, in private roots (images loaded from
/// the fixture layout; no network; cgroupfs manager).
struct Podman<'a> {
    w: &'a World,
    base: Vec<String>,
}

impl Podman<'_> {
    fn run(&self, args: &[&str]) -> berth_e2e::Run {
        let mut c = self.w.cmd("podman");
        // podman reads DOCKER_CONFIG for credentials and fails if the file is missing.
        c.env_remove("DOCKER_CONFIG").args(&self.base).args(args);
        let mut argv = vec!["podman"];
        argv.extend_from_slice(args);
        capture(c, &argv, None)
    }
}

impl Drop for Podman<'_> {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "-f", "-a"]);
    }
}

#[test]
fn podman_runs_containers_with_berth_spawn() {
    if !have("podman") {
        panic!("podman is not installed (scripts/deps.sh installs it)");
    }
    let w = World::new();
    let d = w.env.dir();
    // podman's clean-up after a container exits (`podman container cleanup`, run by conmon)
    // calls the runtime without --runtime-flag and without our environment, so the test's
    // run root is given by a wrapper rather than by `--runtime-flag root=`.
    let spawn = d.join("berth-spawn-test-root");
    std::fs::write(
        &spawn,
        format!(
            "#!/bin/sh\nexec {} --root={} \"$@\"\n",
            berth_e2e::bin_dir().join("berth-spawn").display(),
            w.paths().run.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&spawn, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let conf = d.join("containers.conf");
    std::fs::write(&conf, "").unwrap();
    let p = Podman {
        w: &w,
        base: vec![
            format!("--root={}", d.join("proot").display()),
            format!("--runroot={}", d.join("prun").display()),
            format!("--tmpdir={}", d.join("ptmp").display()),
            "--cgroup-manager=cgroupfs".into(),
            "--storage-driver=vfs".into(),
            "--events-backend=file".into(),
            format!("--runtime={}", spawn.display()),
        ],
    };
    let image = p
        .run(&argv!(
            "pull -q {}",
            &format!("oci:{}:busybox", fixtures::layout().display())
        ))
        .success()
        .stdout
        .trim()
        .to_string();
    let cg = format!("--cgroup-parent=/{}", w.env.cgroup);
    let r = p
        .run(&argv!(
            "run {} --rm --network none {} sh -c 'echo hello; grep CapEff /proc/self/status'",
            &cg,
            &image
        ))
        .success();
    assert!(r.stdout.starts_with("hello\n"), "{}", r.stdout);
    p.run(&argv!(
        "run {} --rm --network none {} sh -c 'exit 3'",
        &cg,
        &image
    ))
    .fails_with(3);
    let cid = p
        .run(&argv!(
            "run {} -d --network none {} sh -c {}",
            &cg,
            &image,
            "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done"
        ))
        .success()
        .stdout
        .trim()
        .to_string();
    assert_eq!(
        p.run(&["exec", &cid, "sh", "-c", "echo in-exec"])
            .success()
            .stdout,
        "in-exec\n"
    );
    p.run(&["exec", &cid, "sh", "-c", "exit 4"]).fails_with(4);
    p.run(&["stop", "-t", "5", &cid]).success();
    let logs = p.run(&["logs", &cid]).success().stdout;
    assert_eq!(logs, "started\nbye\n");
    let ps = p
        .run(&["ps", "-a", "--format", "{{.Status}}"])
        .success()
        .stdout;
    assert!(ps.starts_with("Exited (0)"), "{ps}");
    p.run(&["rm", &cid]).success();
    let cgroups = w.container_cgroups();
    assert!(
        cgroups.is_empty(),
        "cgroups left after podman rm: {cgroups:?}"
    );
    let run = w.paths().run_container(&cid);
    assert!(
        !run.exists(),
        "{} left after podman rm: {:?}",
        run.display(),
        std::fs::read_dir(&run).map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
}

#[test]
fn features_says_what_berth_spawn_applies_in_runcs_schema() {
    let w = World::new();
    // --systemd-cgroup (which the runc shim passes to every call) is refused only where
    // cgroups are made.
    let f = w
        .run(&["berth-spawn", "--systemd-cgroup", "features"])
        .success()
        .json();
    assert_eq!(f["ociVersionMax"], "1.2.0");
    assert_eq!(f["linux"]["cgroup"]["systemd"], false);
    assert_eq!(f["linux"]["cgroup"]["v1"], true);
    let has = |v: &serde_json::Value, s: &str| v.as_array().unwrap().iter().any(|x| x == s);
    assert!(has(&f["hooks"], "prestart") && has(&f["hooks"], "poststop"));
    assert!(has(&f["linux"]["namespaces"], "user"));
    assert!(has(&f["linux"]["capabilities"], "CAP_SYS_ADMIN"));
    let seccomp = &f["linux"]["seccomp"];
    assert!(!has(&seccomp["actions"], "SCMP_ACT_NOTIFY"), "{seccomp}");
    assert!(has(&seccomp["operators"], "SCMP_CMP_MASKED_EQ"));
    // Every field is one runc's `features` has too (same schema for the engines reading it).
    if !have("runc") {
        eprintln!("skipped the comparison with runc: runc is not installed");
        return;
    }
    let runc = w.run(&["runc", "features"]).success().json();
    for (k, v) in f.as_object().unwrap() {
        assert!(runc.get(k).is_some(), "runc has no {k}");
        if let Some(o) = v.as_object() {
            for k2 in o.keys() {
                assert!(runc[k].get(k2).is_some(), "runc has no {k}.{k2}");
            }
        }
    }
}

/// Without a user namespace the init does its mounts while berth-spawn still makes the
/// cgroups, before its go (`runtime::init`'s `Go`): a mount that fails then is the error
/// `run` and `create` give (berth-spawn finds its end closed when it sends the go), and
/// nothing of the container is left, its cgroups included.
#[test]
fn a_mount_that_fails_while_the_cgroups_are_made_is_the_error() {
    let w = World::new();
    let b = umoci_bundle(&w, &["true"]);
    let missing = w.env.dir().join("missing");
    berth_e2e::world::edit_config(&b, |c| {
        let m = serde_json::json!({"destination": "/mnt", "type": "bind",
            "source": missing.to_str().unwrap(), "options": ["rbind"]});
        c["mounts"].as_array_mut().unwrap().insert(0, m);
        // No network namespace to make: the init is at its mounts long before the go.
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "network");
    });
    let root = w.env.dir().join("rt");
    for verb in ["run", "create"] {
        let r = w
            .run(&[
                "berth-spawn",
                "--root",
                root.to_str().unwrap(),
                verb,
                "--bundle",
                b.to_str().unwrap(),
                "c1",
            ])
            .fails_with(7);
        let line = r.error_line();
        assert!(
            line.contains(&format!("bind source {}: No such file", missing.display())),
            "{verb}: {line}"
        );
        let left = w
            .run(&[
                "berth-spawn",
                "--root",
                root.to_str().unwrap(),
                "list",
                "-q",
            ])
            .success();
        assert_eq!(left.stdout.trim(), "", "{verb}");
        assert_eq!(
            w.container_cgroups(),
            Vec::<std::path::PathBuf>::new(),
            "{verb}"
        );
    }
}
