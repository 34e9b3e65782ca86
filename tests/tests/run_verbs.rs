//! The everyday verbs through the dispatcher, as Docker's users type them: create with a
//! cidfile then start, restart, kill -s, pause/unpause, rename, exec's flags, cp both ways,
//! container prune, --restart, --init, --stop-signal; names, ids and id prefixes.

use berth_e2e::argv;
use berth_e2e::session::Session;
use berth_e2e::until;

#[test]
fn create_with_cidfile_then_start() {
    let b = Session::new();
    let cid = b.w.env.dir().join("cid");
    let cidp = cid.to_str().unwrap();
    let out = b.ok(&argv!(
        "create --name made --cidfile {} busybox sh -c 'echo ran; exit 2'",
        cidp
    ));
    let id = out.trim().to_string();
    assert_eq!(id.len(), 64);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), id);
    assert_eq!(b.ps()[0]["State"], "created");
    // An existing cidfile is refused, and nothing is made.
    let r = b
        .berth(&["run", "--cidfile", cidp, "busybox", "true"])
        .fails_with(125);
    assert!(
        r.error_line().contains("container ID file found"),
        "{}",
        r.stderr
    );
    assert_eq!(b.container_ids(), vec![id.clone()]);
    // start (by the id in the file) prints what was typed; -a waits and passes the code on.
    assert_eq!(b.ok(&["start", &id]), format!("{id}\n"));
    assert_eq!(b.ok(&["wait", "made"]), "2\n");
    assert_eq!(b.ok(&["logs", "made"]), "ran\n");
    let r = b.berth(&["start", "-a", "made"]).fails_with(2);
    assert_eq!(r.stdout, "ran\n");
    b.ok(&["rm", "made"]);
    // A failed run removes the cidfile it wrote.
    std::fs::remove_file(&cid).unwrap();
    b.berth(&["run", "--cidfile", cidp, "-p", "1:2:3:4", "busybox", "true"])
        .fails_with(125);
    assert!(!cid.exists());
    b.assert_clean(&[&id]);
}

#[test]
fn stop_restart_kill_pause_and_the_stop_signal() {
    let b = Session::new();
    // A shell that reports the signals it gets, and exits on USR2 (its --stop-signal).
    let script = "trap 'echo got-USR1' USR1; trap 'echo bye; exit 9' USR2; \
                  echo up; while :; do sleep 0.05; done";
    let id = b.detach(&argv!(
        "--name sig --stop-signal USR2 busybox sh -c {}",
        script
    ));
    until("the shell", || {
        b.ok(&["logs", "sig"]).contains("up").then_some(())
    });
    assert_eq!(b.ok(&["kill", "-s", "USR1", "sig"]), "sig\n");
    until("USR1", || {
        b.ok(&["logs", "sig"]).contains("got-USR1").then_some(())
    });
    // pause freezes it (ps says so, exec is refused), unpause thaws it; by id prefix.
    assert_eq!(b.ok(&["pause", &id[..10]]), format!("{}\n", &id[..10]));
    assert_eq!(b.ps()[0]["State"], "paused");
    let r = b.berth(&["exec", "sig", "true"]).fails_with(1);
    assert!(r.error_line().contains("unpause"), "{}", r.stderr);
    let r = b.berth(&["pause", "sig"]).fails_with(1);
    assert!(r.error_line().contains("already paused"), "{}", r.stderr);
    assert_eq!(b.ok(&["unpause", "sig"]), "sig\n");
    assert_eq!(b.ok(&["exec", "sig", "echo", "thawed"]), "thawed\n");
    // stop sends the stop signal: the shell says bye and exits 9, no SIGKILL needed.
    assert_eq!(b.ok(&["stop", "sig"]), "sig\n");
    assert_eq!(b.ok(&["wait", "sig"]), "9\n");
    assert!(b.ok(&["logs", "sig"]).ends_with("bye\n"));
    // restart: up again (a new process), then kill (SIGKILL) returns once it is down.
    assert_eq!(b.ok(&["restart", "sig"]), "sig\n");
    assert_eq!(b.ps()[0]["State"], "running");
    assert_eq!(b.ok(&["kill", "sig"]), "sig\n");
    assert_eq!(b.ps()[0]["State"], "exited");
    assert_eq!(b.ok(&["wait", "sig"]), "137\n");
    let r = b.berth(&["kill", "sig"]).fails_with(1);
    assert!(r.error_line().contains("not running"), "{}", r.stderr);
    // Unknown names are exit 1, with Docker's words.
    let r = b.berth(&["stop", "nosuch"]).fails_with(1);
    assert!(
        r.error_line().contains("No such container: nosuch"),
        "{}",
        r.stderr
    );
    b.ok(&["rm", "sig"]);
    b.assert_clean(&[&id]);
}

#[test]
fn rename_and_name_conflicts() {
    let b = Session::new();
    let a = b.detach(&["--name", "first", "busybox", "sleep", "1000"]);
    let c = b.detach(&["--name", "second", "busybox", "sleep", "1000"]);
    let r = b.berth(&["rename", "first", "second"]).fails_with(1);
    assert!(r.error_line().contains("already in use"), "{}", r.stderr);
    assert_eq!(b.ok(&["rename", "first", "renamed"]), "");
    assert_eq!(b.names(), vec!["renamed".to_string(), "second".to_string()]);
    // The old name is free again, and the new one works everywhere.
    assert_eq!(b.ok(&["exec", "renamed", "hostname"]).trim(), &a[..12]);
    let r = b
        .berth(&["run", "--rm", "--name", "renamed", "busybox", "true"])
        .fails_with(125);
    assert!(r.error_line().contains("already in use"), "{}", r.stderr);
    b.ok(&["run", "--rm", "--name", "first", "busybox", "true"]);
    let r = b.berth(&["rename", "nosuch", "x"]).fails_with(1);
    assert!(r.error_line().contains("nosuch"), "{}", r.stderr);
    b.ok(&["rm", "-f", "renamed", &c[..12]]);
    b.assert_clean(&[&a, &c]);
}

#[test]
fn exec_flags() {
    let b = Session::new();
    let id = b.detach(&argv!("--name box -e FROM_RUN=1 busybox sleep 1000"));
    let out = b.ok(&argv!(
        "exec -u 1000:1001 -e 'X=y z' -w /tmp box sh -c \
         'id -u; id -g; echo \"$X\"; pwd; echo $FROM_RUN'"
    ));
    assert_eq!(out, "1000\n1001\ny z\n/tmp\n1\n");
    // -i: our stdin; without it, an empty one.
    assert_eq!(
        b.berth_in(&["exec", "-i", "box", "cat"], b"piped\n")
            .success()
            .stdout,
        "piped\n"
    );
    assert_eq!(
        b.berth_in(&["exec", "box", "cat"], b"dropped\n")
            .success()
            .stdout,
        ""
    );
    // -t: a terminal inside.
    assert_eq!(b.ok(&["exec", "-t", "box", "tty"]), "/dev/pts/0\r\n");
    // -d: returns at once, the process runs on.
    assert_eq!(
        b.ok(&argv!("exec -d box sh -c 'sleep 0.2; echo done > /tmp/d'")),
        ""
    );
    until("exec -d's process", || {
        b.berth(&["exec", "box", "cat", "/tmp/d"])
            .status
            .success()
            .then_some(())
    });
    // 126/127 for the command; its own code otherwise.
    b.berth(&["exec", "box", "nosuch"]).fails_with(127);
    b.berth(&["exec", "box", "/etc/passwd"]).fails_with(126);
    b.berth(&["exec", "box", "sh", "-c", "exit 42"])
        .fails_with(42);
    b.ok(&["rm", "-f", "box"]);
    let r = b.berth(&["exec", "box", "true"]).fails_with(1);
    assert!(r.error_line().contains("box"), "{}", r.stderr);
    b.assert_clean(&[&id]);
}

#[test]
fn cp_both_ways_and_as_a_tar_stream() {
    let b = Session::new();
    let id = b.detach(&["--name", "files", "busybox", "sleep", "1000"]);
    let dir = b.w.env.dir();
    std::fs::write(dir.join("in.txt"), "from the host\n").unwrap();
    std::fs::create_dir_all(dir.join("tree/sub")).unwrap();
    std::fs::write(dir.join("tree/sub/leaf"), "leaf\n").unwrap();
    // host -> container: a file, and a directory
    b.ok(&argv!(
        "cp {} files:/tmp/in.txt",
        dir.join("in.txt").to_str().unwrap()
    ));
    b.ok(&["cp", dir.join("tree").to_str().unwrap(), "files:/tmp/"]);
    assert_eq!(
        b.ok(&["exec", "files", "cat", "/tmp/in.txt", "/tmp/tree/sub/leaf"]),
        "from the host\nleaf\n"
    );
    // container -> host
    b.ok(&argv!(
        "exec files sh -c 'mkdir -p /out/d && echo made > /out/d/f'"
    ));
    b.ok(&["cp", "files:/out", dir.join("back").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(dir.join("back/d/f")).unwrap(),
        "made\n"
    );
    // - : a tar stream on stdout
    let mut c = b.cmd("berth");
    c.args(["cp", "files:/out/d/f", "-"]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    let mut ar = tar::Archive::new(&out.stdout[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, vec!["f".to_string()]);
    // Missing source: exit 1, nothing written.
    let r = b
        .berth(&["cp", "files:/nope", dir.join("x").to_str().unwrap()])
        .fails_with(1);
    assert!(r.error_line().contains("/nope"), "{}", r.stderr);
    assert!(!dir.join("x").exists());
    // Works on a stopped container too.
    b.ok(&["stop", "-t", "0", "files"]);
    b.ok(&argv!(
        "cp files:/tmp/in.txt {}",
        dir.join("again.txt").to_str().unwrap()
    ));
    assert_eq!(
        std::fs::read_to_string(dir.join("again.txt")).unwrap(),
        "from the host\n"
    );
    b.ok(&["rm", "files"]);
    b.assert_clean(&[&id]);
}

#[test]
fn container_prune_removes_what_is_not_running() {
    let b = Session::new();
    let running = b.detach(&["--name", "keep", "busybox", "sleep", "1000"]);
    let done = b.detach(&["--name", "done", "busybox", "true"]);
    b.ok(&["wait", "done"]);
    let created = b.ok(&["create", "--name", "never", "busybox", "true"]);
    let created = created.trim().to_string();
    let out = b.ok(&["container", "prune", "-f"]);
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    assert!(out.contains(&done) && out.contains(&created), "{out}");
    assert!(!out.contains(&running), "{out}");
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert_eq!(b.container_ids(), vec![running.clone()]);
    b.ok(&["rm", "-f", "keep"]);
    b.assert_clean(&[&running, &done, &created]);
}

#[test]
fn restart_policies_and_init() {
    let b = Session::new();
    let id = b.detach(&argv!(
        "--name flaky --restart on-failure:2 busybox sh -c 'echo try; exit 1'"
    ));
    until("two restarts", || {
        let st = b.state(&id);
        (st["status"] == "exited" && st["restart_count"] == 2).then_some(())
    });
    assert_eq!(b.ok(&["logs", "flaky"]), "try\ntry\ntry\n");
    let r = b
        .berth(&["run", "--rm", "--restart", "always", "busybox", "true"])
        .fails_with(125);
    assert!(
        r.error_line().contains("--restart and --rm"),
        "{}",
        r.stderr
    );
    // --timings: every stage says how long it took, then berth-run the whole.
    let r = b
        .berth(&["run", "--rm", "--timings", "busybox", "true"])
        .success();
    // Each once: the teardown of --rm starts no stage tool (one would print its own time, as
    // BERTH_TIMINGS reaches every process of the run); berth-spawn does their work itself.
    for stage in [
        "berth-pull",
        "berth-unpack",
        "berth-netns",
        "berth-vol",
        "berth-spawn",
    ] {
        let lines = r
            .stderr
            .lines()
            .filter(|l| l.starts_with(&format!("{stage}: ")));
        assert_eq!(lines.count(), 1, "{stage}: {}", r.stderr);
    }
    assert!(
        r.stderr.lines().last().unwrap().starts_with("berth-run: "),
        "{}",
        r.stderr
    );
    // ... and berth-spawn each of its phases, in the order they ran, before its total (its seal
    // runs while it waits for its record: `input`).
    let phases: Vec<&str> = r
        .stderr
        .lines()
        .filter_map(|l| l.strip_prefix("berth-spawn."))
        .filter_map(|l| l.split_once(": ").filter(|(_, ms)| ms.ends_with(" ms")))
        .map(|(phase, _)| phase)
        .collect();
    assert_eq!(
        phases,
        [
            "seal",
            "input",
            "prepare",
            "cgroups",
            "namespaces",
            "mounts",
            "confine",
            "exec",
            "wait",
            "teardown.exit",
            "teardown.spawn",
            "teardown.vol",
            "teardown.netns",
            "teardown.unpack",
            "teardown"
        ],
        "{}",
        r.stderr
    );
    // --init: berth's init is PID 1, the command PID 2, and the code goes through.
    let r = b.berth(&argv!("run --rm --init busybox sh -c 'echo $$; exit 5'"));
    assert_eq!(r.fails_with(5).stdout, "2\n");
    b.ok(&["rm", "flaky"]);
    b.assert_clean(&[&id]);
}

#[test]
fn stop_uses_the_images_stop_signal_and_start_takes_several() {
    let b = Session::new();
    // An image whose STOPSIGNAL is USR2 (berth import --change, from a busybox tree).
    let dir = b.w.env.dir();
    let rootfs = dir.join("tree");
    berth_e2e::fixtures::populate_busybox(&rootfs);
    let tarball = dir.join("tree.tar");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    b.ok(&argv!(
        "import -c 'STOPSIGNAL SIGUSR2' -c 'ENV PATH=/bin' {} sig:1",
        tarball.to_str().unwrap()
    ));
    let script = "trap 'echo usr2; exit 12' USR2; echo up; while :; do sleep 0.05; done";
    let one = b.detach(&["--name", "one", "sig:1", "sh", "-c", script]);
    until("up", || b.ok(&["logs", "one"]).contains("up").then_some(()));
    assert_eq!(b.ok(&["stop", "one"]), "one\n");
    assert_eq!(b.ok(&["wait", "one"]), "12\n");
    assert_eq!(b.ok(&["logs", "one"]), "up\nusr2\n");
    // --stop-signal wins over the image's; -t 0 kills at once when it is ignored.
    let two = b.detach(&argv!(
        "--name two --stop-signal HUP sig:1 sh -c {}",
        "trap '' HUP; sleep 1000"
    ));
    assert_eq!(b.ok(&["stop", "-t", "0", "two"]), "two\n");
    assert_eq!(b.ok(&["wait", "two"]), "137\n");
    // start takes several, printing each.
    assert_eq!(
        b.ok(&["start", "one", &two[..12]]),
        format!("one\n{}\n", &two[..12])
    );
    assert_eq!(b.ps().iter().filter(|r| r["State"] == "running").count(), 2);
    let r = b.berth(&["start", "-a", "one", "two"]).fails_with(1);
    assert!(r.error_line().contains("multiple"), "{}", r.stderr);
    b.ok(&["rm", "-f", "one", "two"]);
    b.assert_clean(&[&one, &two]);
}

#[test]
fn ids_names_and_prefixes_everywhere() {
    let b = Session::new();
    // 17 containers: two of them must share their first hex digit.
    let mut ids = Vec::new();
    for i in 0..17 {
        let name = format!("c{i:02}");
        let out = b.ok(&argv!(
            "create --network none --name {} busybox true",
            &name
        ));
        ids.push(out.trim().to_string());
    }
    let shared = (0..16)
        .map(|d| format!("{d:x}"))
        .find(|p| ids.iter().filter(|id| id.starts_with(p.as_str())).count() > 1)
        .unwrap();
    // Docker's start: the error, then the names it failed to start.
    let r = b.berth(&["start", &shared]).fails_with(1);
    assert!(r.stderr.contains("multiple containers"), "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with(&format!("Error: failed to start containers: {shared}\n")),
        "{}",
        r.stderr
    );
    // A unique prefix, the full id and the name all work, for every verb family.
    let id = &ids[3];
    let unique = (1..=64)
        .map(|n| &id[..n])
        .find(|p| ids.iter().filter(|i| i.starts_with(p)).count() == 1)
        .unwrap();
    assert_eq!(b.ok(&["start", unique]), format!("{unique}\n"));
    assert_eq!(b.ok(&["wait", id]), "0\n");
    assert_eq!(b.ok(&["logs", unique]), "");
    let inspect = b.berth(&["inspect", unique]).success().json();
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(b.ok(&["rename", unique, "renamed"]), "");
    assert_eq!(b.ok(&["rm", "renamed"]), "renamed\n");
    b.ok(&["container", "prune", "-f"]);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    b.assert_clean(&refs);
}
