//! Detached berth containers: the monitor's logs, exit records and restarts, and the Docker
//! lifecycle verbs (exec, pause, stop, kill, wait, delete) on them.

use berth_e2e::argv;
use berth_e2e::world::{World, alive};

fn log_lines(w: &World, id: &str, suffix: &str) -> Vec<serde_json::Value> {
    let p = format!("{}{suffix}", w.paths().log(id).display());
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad log line {l:?}: {e}")))
        .collect()
}

fn detached(w: &World, name: &str, flags: &[&str], args: &[&str]) -> String {
    let (id, rec) = w.container(name, args);
    let mut f = vec!["-d"];
    f.extend_from_slice(flags);
    let out = w.start(&rec, &f).success().stdout;
    assert_eq!(out.trim(), id, "start -d prints the container id");
    id
}

#[test]
fn a_detached_containers_logs_and_exit_survive_it() {
    let w = World::new();
    let id = detached(
        &w,
        "talker",
        &[],
        &["sh", "-c", "echo out1; echo err1 >&2; echo out2; exit 4"],
    );
    let rec = w.wait_record(&id, "exit", |r| r["state"]["status"] == "exited");
    assert_eq!(rec["state"]["exit_code"], 4);
    assert!(rec["state"]["finished_at"].is_string());
    assert_eq!(
        w.run(&["berth-spawn", "wait", "talker"]).success().stdout,
        "4\n"
    );
    let lines = log_lines(&w, &id, "");
    let get = |s: &str| {
        lines
            .iter()
            .filter(|l| l["stream"] == s)
            .map(|l| l["log"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("stdout"), vec!["out1\n", "out2\n"]);
    assert_eq!(get("stderr"), vec!["err1\n"]);
    assert!(lines.iter().all(|l| {
        l["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 30)
    }));
    assert!(w.container_cgroups().is_empty());
    assert!(!w.paths().run_container(&id).exists());
}

#[test]
fn the_monitor_refuses_a_bad_argument_and_says_why_on_its_report_pipe() {
    let w = World::new();
    // As berth-spawn starts it, but with a pid that is not a number: the monitor used to
    // read it as 0. Its report pipe (`--ready`, here fd 3) is our stdout.
    let base = "berth-monitor --id=c1 --log=/nonexistent/c1-json.log --max-size=0 \
        --max-file=1 --spawn=/nonexistent/berth-spawn --root=/nonexistent \
        --run-root=/nonexistent --ready=3";
    let r = w
        .run(&["sh", "-c", &format!("exec {base} --pid=12x 3>&1")])
        .fails_with(4);
    let line: serde_json::Value = serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("report line {:?}: {e}", r.stdout));
    assert_eq!(line["code"], 4);
    let message = line["message"].as_str().unwrap();
    assert!(
        message.starts_with("berth-monitor: bad value for --pid: \"12x\" (a process id above 0)"),
        "{message}"
    );
    assert_eq!(r.stderr.trim(), message, "the same line on stderr");
    assert_eq!(r.stdout.lines().count(), 1);
    // A flag it does not know is refused too, not ignored.
    let r = w
        .run(&argv!(
            "sh -c {}",
            &format!("exec {base} --pid=1 --colour=red 3>&1")
        ))
        .fails_with(4);
    let line: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let message = line["message"].as_str().unwrap();
    assert!(
        message.starts_with("berth-monitor: unknown argument \"--colour=red\""),
        "{message}"
    );
}

#[test]
fn logs_rotate_by_size() {
    let w = World::new();
    let id = detached(
        &w,
        "chatty",
        &["--log-opt", "max-size=2k", "--log-opt", "max-file=2"],
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done",
        ],
    );
    w.wait_record(&id, "exit", |r| r["state"]["status"] == "exited");
    let cur = log_lines(&w, &id, "");
    let old = log_lines(&w, &id, ".1");
    assert!(!std::path::Path::new(&format!("{}.2", w.paths().log(&id).display())).exists());
    assert_eq!(cur.last().unwrap()["log"], "line-299\n");
    assert!(!old.is_empty());
    assert!(std::fs::metadata(w.paths().log(&id)).unwrap().len() <= 2048);
}

#[test]
fn the_restart_backoff_grows_until_stopped() {
    let w = World::new();
    let id = detached(
        &w,
        "flappy",
        &["--restart", "always"],
        &["sh", "-c", "echo up; exit 1"],
    );
    // When each exit that led to a restart happened, by restart count: the record says
    // "restarting" for the whole backoff delay, so a poll cannot miss it (a running phase of
    // `exit 1` lasts a few milliseconds and can be missed).
    let mut exits: std::collections::BTreeMap<u64, chrono::DateTime<chrono::Utc>> =
        Default::default();
    while exits.len() < 5 {
        let r = w.record(&id);
        let s = &r["state"];
        if s["status"] == "restarting"
            && let (Some(c), Some(t)) = (s["restart_count"].as_u64(), s["finished_at"].as_str())
        {
            exits.entry(c).or_insert_with(|| t.parse().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Docker's backoff: 100 ms before the first restart, twice as long each time after. The
    // exit that follows restart c cannot come before that delay has passed, whatever the
    // machine's load; a backoff that did not grow fails the later, longer bounds.
    let mut compared = 0;
    for (c, t) in &exits {
        if let Some(next) = exits.get(&(c + 1)) {
            let gap = (*next - *t).num_milliseconds();
            let delay = 100i64 << (c - 1);
            assert!(
                gap >= delay,
                "exit {}: {gap} ms after the previous one, backoff {delay} ms ({exits:?})",
                c + 1
            );
            compared += 1;
        }
    }
    assert!(compared >= 3, "{exits:?}");
    w.run(&["berth-spawn", "stop", "flappy"]).success();
    let rec = w.record(&id);
    assert_eq!(rec["state"]["status"], "exited", "{rec:#}");
    assert_eq!(rec["state"]["manually_stopped"], true);
    let n = rec["state"]["restart_count"].as_u64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(w.record(&id)["state"]["restart_count"].as_u64().unwrap(), n);
    assert!(log_lines(&w, &id, "").len() >= 5);
    // on-failure:2 gives up after two restarts.
    let id = detached(
        &w,
        "twice",
        &["--restart", "on-failure:2"],
        &["sh", "-c", "exit 2"],
    );
    let rec = w.wait_record(&id, "giving up", |r| {
        r["state"]["status"] == "exited" && r["state"]["restart_count"] == 2
    });
    assert_eq!(rec["state"]["exit_code"], 2);
}

#[test]
fn exec_pause_stop_and_init() {
    let w = World::new();
    let id = detached(&w, "sleeper", &[], &["sleep", "1000"]);
    let out = w
        .run(&argv!(
            "berth-spawn exec sleeper sh -c 'grep CapEff /proc/self/status; ps -o pid,comm'"
        ))
        .success()
        .stdout;
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(out.contains("    1 sleep"), "{out}");
    let r = w
        .run(&["berth-spawn", "exec", "sleeper", "nosuch"])
        .fails_with(127);
    assert!(
        r.stderr.contains("executable file not found"),
        "{}",
        r.stderr
    );
    w.run(&["berth-spawn", "exec", "sleeper", "sh", "-c", "exit 5"])
        .fails_with(5);
    let out = w
        .run(&["berth-spawn", "exec", "-u", "nobody", "sleeper", "id", "-u"])
        .success()
        .stdout;
    assert_eq!(out, "65534\n");
    w.run(&["berth-spawn", "pause", "sleeper"]).success();
    assert_eq!(w.record(&id)["state"]["status"], "paused");
    assert!(
        w.run(&["berth-spawn", "state", &id])
            .success()
            .stdout
            .contains("\"status\":\"paused\"")
    );
    w.run(&["berth-spawn", "exec", "sleeper", "true"])
        .fails_with(105);
    w.run(&["berth-spawn", "unpause", "sleeper"]).success();
    assert_eq!(w.record(&id)["state"]["status"], "running");
    // PID 1 ignores SIGTERM without a handler: stop ends with SIGKILL after the timeout.
    w.run(&["berth-spawn", "stop", "-t", "1", "sleeper"])
        .success();
    let rec = w.record(&id);
    assert_eq!(
        (
            rec["state"]["status"].as_str(),
            rec["state"]["exit_code"].as_i64()
        ),
        (Some("exited"), Some(137))
    );
    // With --init, the signal reaches the command.
    let id = detached(&w, "inited", &["--init"], &["sleep", "1000"]);
    let out = w
        .run(&["berth-spawn", "exec", "inited", "ps", "-o", "pid,comm"])
        .success()
        .stdout;
    assert!(out.contains("    1 berth-init"), "{out}");
    w.run(&["berth-spawn", "stop", "inited"]).success();
    assert_eq!(w.record(&id)["state"]["exit_code"], 143);
    // start brings an exited container back, detached.
    w.run(&["berth-spawn", "start", "inited"]).success();
    let rec = w.wait_record(&id, "running again", |r| r["state"]["status"] == "running");
    assert!(alive(rec["state"]["pid"].as_i64().unwrap()));
    w.run(&["berth-spawn", "kill", "inited"]).success();
    assert_eq!(
        w.run(&["berth-spawn", "wait", "inited"]).success().stdout,
        "137\n"
    );
}

#[test]
fn a_killed_monitor_is_reported_truthfully() {
    let w = World::new();
    let id = detached(&w, "orphan", &[], &["sleep", "1000"]);
    let rec = w.record(&id);
    let (pid, monitor) = (
        rec["state"]["pid"].as_i64().unwrap(),
        rec["state"]["monitor_pid"].as_i64().unwrap(),
    );
    assert!(alive(pid) && alive(monitor));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    while alive(monitor) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // The container still runs, and says so.
    assert!(
        w.run(&["berth-spawn", "state", &id])
            .success()
            .stdout
            .contains("\"status\":\"running\"")
    );
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert_eq!(
        w.run(&["berth-spawn", "wait", "orphan"]).success().stdout,
        "255\n"
    );
    let rec = w.record(&id);
    assert_eq!(rec["state"]["status"], "exited");
    assert!(
        rec["state"]["error"]
            .as_str()
            .unwrap()
            .contains("no monitor"),
        "{rec:#}"
    );
}

#[test]
fn delete_force_leaves_nothing_behind() {
    let w = World::new();
    let id = detached(&w, "doomed", &["--restart", "always"], &["sleep", "1000"]);
    w.run(&["berth-spawn", "exec", "-d", "doomed", "sleep", "999"])
        .success();
    let rec = w.record(&id);
    let (pid, monitor) = (
        rec["state"]["pid"].as_i64().unwrap(),
        rec["state"]["monitor_pid"].as_i64().unwrap(),
    );
    assert!(!w.container_cgroups().is_empty());
    w.run(&["berth-spawn", "delete", "--force", &id]).success();
    assert!(!alive(pid) && !alive(monitor));
    assert!(
        w.container_cgroups().is_empty(),
        "{:?}",
        w.container_cgroups()
    );
    assert!(!w.paths().run_container(&id).exists());
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&id));
    let procs = std::fs::read_dir("/proc").unwrap().flatten().filter(|p| {
        std::fs::read(p.path().join("cmdline"))
            .is_ok_and(|c| c.windows(9).any(|x| x == b"sleep\x00999"))
    });
    assert_eq!(procs.count(), 0, "the exec'd process survived");
    assert_eq!(w.record(&id)["state"]["status"], "exited");
    // Idempotent.
    w.run(&["berth-spawn", "delete", "--force", &id]).success();
    w.run(&["berth-spawn", "delete", "--force", "nosuchcontainer"])
        .success();
    w.run(&["berth-spawn", "delete", "nosuchcontainer"])
        .fails_with(3);
}
