//! A `berth run` interrupted mid-pipeline (Ctrl-C, kill -9 of berth-run, kill -9 of the whole
//! run) leaves no half-made container: no record, name, mount, veth, cgroup or rule.
//!
//! A stage is held at a known point by a FIFO it has to read (berth-unpack's `--env-file`,
//! berth-spawn's `--security-opt seccomp=FILE`): opening the FIFO for writing returns once the
//! stage opened it, so the test knows where the pipeline is without any sleep.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use berth_e2e::argv;
use berth_e2e::session::Session;
use berth_e2e::until;

fn fifo(b: &Session, name: &str) -> PathBuf {
    let p = b.w.env.dir().join(name);
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    p
}

/// `berth ARGS` as the leader of its own process group (as a shell's job is).
fn start(b: &Session, args: &[&str]) -> Child {
    let mut c = b.cmd("berth");
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    c.spawn().unwrap()
}

/// Blocks until a stage has opened `fifo` for reading; returns the writing end.
fn reached(fifo: &Path) -> std::fs::File {
    std::fs::OpenOptions::new().write(true).open(fifo).unwrap()
}

/// Waits until no process of group `pgid` is left (hang protection in `until`).
fn group_gone(pgid: i32) {
    until("the run's processes to end", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(-pgid), None)
            .is_err()
            .then_some(())
    });
}

#[test]
fn ctrl_c_mid_pipeline_undoes_the_stages_done() {
    let b = Session::new();
    let port = b.net.default_slot().port(2);
    let f = fifo(&b, "seccomp");
    let child = start(
        &b,
        &argv!(
            "run --name half -p {} -v anon:/data --security-opt {} busybox true",
            &format!("{port}:80"),
            &format!("seccomp={}", f.display())
        ),
    );
    let pgid = child.id() as i32;
    // berth-spawn is reading the profile: unpack, netns and vol are done.
    let w = reached(&f);
    let id = b.container_ids().pop().expect("the record exists");
    assert!(b.w.env.run.join("netns").join(&id).exists());
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-pgid),
        nix::sys::signal::Signal::SIGINT,
    );
    drop(w);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    group_gone(pgid);
    b.assert_clean(&[&id]);
    // The named volume the run made stays (Docker never removes named volumes).
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "anon\n");
}

#[test]
fn kill_9_of_berth_run_stops_the_pipeline_before_the_container_starts() {
    let b = Session::new();
    let f = fifo(&b, "env");
    let child = start(
        &b,
        &argv!(
            "run --name orphan --env-file {} busybox sleep 1000",
            f.to_str().unwrap()
        ),
    );
    let pgid = child.id() as i32;
    let mut w = reached(&f);
    // berth-run dies; its stages carry on (berth-unpack is reading the env file).
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let mut child = child;
    child.wait().unwrap();
    w.write_all(b"A=1\n").unwrap();
    drop(w);
    group_gone(pgid);
    // berth-spawn found the run gone and removed what the stages before it made.
    b.assert_clean(&[]);
}

#[test]
fn kill_9_of_the_whole_run_is_swept_by_the_next_run() {
    let b = Session::new();
    let port = b.net.default_slot().port(3);
    let f = fifo(&b, "seccomp");
    let child = start(
        &b,
        &argv!(
            "run --name killed -p {} --security-opt {} busybox true",
            &format!("{port}:80"),
            &format!("seccomp={}", f.display())
        ),
    );
    let pgid = child.id() as i32;
    let w = reached(&f);
    let id = b.container_ids().pop().expect("the record exists");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let mut child = child;
    child.wait().unwrap();
    drop(w);
    group_gone(pgid);
    // Everything is still there: nobody could undo it...
    assert_eq!(b.container_ids(), vec![id.clone()]);
    // ...until the next run, which sweeps runs whose process is gone first; the name and the
    // port are free again.
    let r = b
        .berth(&argv!(
            "run --rm --name killed -p {} busybox echo ok",
            &format!("{port}:80")
        ))
        .success();
    assert_eq!(r.stdout, "ok\n");
    b.assert_clean(&[&id]);
    // `berth-ctl undo` alone does the same sweep (nothing left to do here).
    assert_eq!(b.w.run(&["berth-ctl", "undo"]).success().stdout, "");
}

#[test]
fn signals_reach_a_running_foreground_container() {
    let b = Session::new();
    let script = "trap 'echo got-TERM; exit 3' TERM; trap 'echo got-INT; exit 4' INT; \
                  echo ready; while :; do sleep 0.05; done";
    // kill -TERM of berth-run alone (docker's sig-proxy): passed on to the container.
    let mut child = start(&b, &["run", "--rm", "busybox", "sh", "-c", script]);
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    assert_eq!(&first, b"ready\n");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let st = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(st.code(), Some(3), "{rest}");
    assert_eq!(rest, "got-TERM\n");
    // Ctrl-C (SIGINT to the whole foreground group): the container's own answer, nothing
    // undone (it ran), and --rm still removes it.
    let mut child = start(
        &b,
        &["run", "--rm", "--name", "fg", "busybox", "sh", "-c", script],
    );
    let mut out = child.stdout.take().unwrap();
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(-(child.id() as i32)),
        nix::sys::signal::Signal::SIGINT,
    );
    let st = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(st.code(), Some(4), "{rest}");
    assert!(rest.starts_with("got-INT\n"), "{rest}");
    b.assert_clean(&[]);
}

#[test]
fn container_prune_leaves_a_run_in_flight_alone() {
    let b = Session::new();
    let f = fifo(&b, "seccomp");
    let child = start(
        &b,
        &argv!(
            "run --rm --security-opt {} busybox echo 'made it'",
            &format!("seccomp={}", f.display())
        ),
    );
    let w = reached(&f);
    assert_eq!(b.container_ids().len(), 1);
    let out = b.ok(&["container", "prune", "-f"]);
    assert!(!out.contains("Deleted"), "{out}");
    assert_eq!(b.container_ids().len(), 1);
    // The run goes on, with the profile it reads, and --rm removes its container.
    let mut w = w;
    w.write_all(br#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)
        .unwrap();
    drop(w);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"made it\n");
    b.assert_clean(&[]);
}

#[test]
fn a_teardown_killed_half_way_is_finished_by_rm_and_prune() {
    // `--rm`, `rm` and `prune` do the stages' teardown in-process and rewrite no record on the
    // way: killed after the vol and netns steps, they leave a record (and config.json) that
    // still names mounts and network whose objects are gone. Made here with the stage verbs
    // (which also forget their sections) and the two files put back as they were.
    let b = Session::new();
    let mut ids = Vec::new();
    for (name, k) in [("half", 4), ("pruned", 5)] {
        let port = b.net.default_slot().port(k);
        b.ok(&argv!(
            "run --name {} -p {} -v /data busybox true",
            name,
            &format!("{port}:80")
        ));
        let id = b.id(name);
        let dir = b.root().join("containers").join(&id);
        let saved = ["record.json", "config.json"].map(|f| {
            let p = dir.join(f);
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        });
        for argv in [
            ["berth-spawn", "delete", "--force", &id].as_slice(),
            &["berth-vol", "detach", &id, "--volumes"],
            &["berth-netns", "rm", &id],
        ] {
            b.w.run(argv).success();
        }
        for (p, bytes) in &saved {
            std::fs::write(p, bytes).unwrap();
        }
        let r = b.w.record(&id);
        assert!(r["mounts"].is_array() && r["network"].is_object(), "{r}");
        ids.push(id);
    }
    assert_eq!(
        b.ok(&["volume", "ls", "-q"]),
        "",
        "the anonymous volumes went"
    );
    b.ok(&["rm", "-v", "half"]);
    let out = b.ok(&["container", "prune", "-f"]);
    assert!(out.contains(&ids[1]), "{out}");
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    b.assert_clean(&ids);
}

#[test]
fn a_record_left_empty_by_a_power_loss_is_refused_then_removed_by_rm_f() {
    // Records are written without fsync (store::atomic): after a power loss one can come back
    // empty. `ps -a` skips it with a warning, `rm` says what to do, and `rm -f` tears down
    // what the id alone names: the process and cgroups, the veth, address and port rules
    // the journal names, the rootfs, the directory and the name.
    let b = Session::new();
    let port = b.net.default_slot().port(6);
    b.detach(&argv!(
        "--name lost -p {} busybox sleep 1000",
        &format!("{port}:80")
    ));
    let id = b.id("lost");
    std::fs::write(
        b.root().join("containers").join(&id).join("record.json"),
        b"",
    )
    .unwrap();
    let ps = b.berth(&["ps", "-a", "--format", "{{.Names}}"]).success();
    assert_eq!(ps.stdout, "", "ps lists no unreadable container");
    assert!(ps.stderr.contains(&id[..12]), "{}", ps.stderr);
    let rm = b.berth(&["rm", "lost"]).fails_with(1);
    assert!(
        rm.stderr.contains("record.json is empty") && rm.stderr.contains("berth rm -f"),
        "{}",
        rm.stderr
    );
    b.ok(&["rm", "-f", "lost"]);
    b.assert_clean(&[&id]);
}
