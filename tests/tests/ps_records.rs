//! berth-ps against records as the stages write them (synthetic records, real processes):
//! ps's selection, formats and filters, truth after kill -9 of a container and its monitor,
//! inspect, logs across rotated files, port, top through a real cgroup.

use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};

use berth::protocol::*;
use berth::state::Containers;
use berth_e2e::TestEnv;
use berth_e2e::argv;
use chrono::{Duration, Utc};
use serde_json::Value;

/// A process that dies with the test.
struct Proc(Child);

impl Proc {
    fn sleep(env: &TestEnv) -> Proc {
        let child = env
            .cmd("sleep")
            .arg("1000")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Proc(child)
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
    fn start(&self) -> u64 {
        berth::state::liveness::start_time(self.pid()).unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Saves a record as unpack/netns/vol/spawn would have left it.
fn container(
    env: &TestEnv,
    name: &str,
    status: Status,
    age_s: i64,
    proc_: Option<&Proc>,
) -> Record {
    let c = Containers::new(&env.paths());
    let (id, name) = c.create(Some(name)).unwrap();
    let mut r = Record::new();
    r.id = id.clone();
    r.name = name;
    r.created = Some(Utc::now() - Duration::seconds(age_s));
    r.image = Some(ImageSection {
        reference: "busybox:latest".into(),
        name: "docker.io/library/busybox:latest".into(),
        id: "sha256:".to_string() + &"c".repeat(64),
        ..Default::default()
    });
    let mut b = BundleSection {
        path: env.paths().container(&id),
        rootfs: env.paths().container(&id).join("rootfs"),
        ..Default::default()
    };
    b.config.image = "busybox".into();
    b.config.cmd = Some(vec!["sleep".into(), "1000".into()]);
    b.config
        .labels
        .insert("tier".into(), name_tier(&r.name).into());
    r.bundle = Some(b);
    r.state = Some(StateSection {
        status,
        pid: proc_.map_or(0, Proc::pid),
        pid_start: proc_.map_or(0, Proc::start),
        started_at: (status != Status::Created).then(|| Utc::now() - Duration::seconds(age_s)),
        finished_at: (status == Status::Exited).then(|| Utc::now() - Duration::seconds(2)),
        exit_code: if status == Status::Exited { 137 } else { 0 },
        ..Default::default()
    });
    c.save(&r).unwrap();
    r
}

fn name_tier(name: &str) -> &'static str {
    if name.starts_with("web") {
        "front"
    } else {
        "back"
    }
}

#[test]
fn ps_selects_formats_and_filters_like_docker() {
    let env = TestEnv::new();
    let p = Proc::sleep(&env);
    let old = container(&env, "db", Status::Exited, 300, None);
    let web = container(&env, "web", Status::Running, 180, Some(&p));
    let new = container(&env, "fresh", Status::Created, 60, None);

    // Piped, without flags: JSON rows, nothing truncated, running only.
    let rows = env.run(&["berth-ps"]).success().json();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["ID"], web.id);
    assert_eq!(rows[0]["Names"], "web");
    assert_eq!(rows[0]["Status"], "Up 3 minutes");
    assert_eq!(rows[0]["State"], "running");
    assert_eq!(rows[0]["Command"], "\"sleep 1000\"");

    let ids = env.ok(&["berth-ps", "-aq"]);
    assert_eq!(
        ids,
        format!("{}\n{}\n{}\n", &new.id[..12], &web.id[..12], &old.id[..12])
    );
    assert_eq!(
        env.ok(&["berth-ps", "-lq", "--no-trunc"]),
        format!("{}\n", new.id)
    );
    assert_eq!(
        env.ok(&["berth-ps", "-n", "2", "--format", "{{.Names}}"]),
        "fresh\nweb\n"
    );

    let table = env.ok(&argv!(
        "berth-ps -a --format 'table {{.Names}}\\t{{.Status}}'"
    ));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "NAMES     STATUS");
    assert_eq!(lines[1], "fresh     Created");
    assert!(
        lines[3].starts_with("db        Exited (137) 2 seconds ago"),
        "{table}"
    );

    let json_lines = env.ok(&["berth-ps", "-a", "--format", "json"]);
    assert_eq!(json_lines.lines().count(), 3);
    let first: Value = serde_json::from_str(json_lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["ID"], &new.id[..12]);
    assert_eq!(
        env.ok(&argv!("berth-ps -a --format '{{json .Names}}' -f name=db")),
        "\"db\"\n"
    );

    let names = |args: &[&str]| {
        let mut argv = vec!["berth-ps", "--format", "{{.Names}}"];
        argv.extend_from_slice(args);
        env.ok(&argv)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&["-f", "status=exited"]), ["db"]);
    assert_eq!(names(&["-f", "exited=137"]), ["db"]);
    assert_eq!(names(&["-a", "-f", "label=tier=back"]), ["fresh", "db"]);
    // docker/cli's row method `.Label "KEY"`, in a row and in a table's header.
    assert_eq!(
        env.ok(&argv!(
            "berth-ps -a -f name=db --format '{{.Names}}={{.Label \"tier\"}}{{.Label \"nope\"}}'"
        )),
        "db=back\n"
    );
    assert_eq!(
        env.ok(&argv!(
            "berth-ps -a -f name=db --format 'table {{.Names}}\\t{{.Label \"tier\"}}'"
        )),
        "NAMES     tier\ndb        back\n"
    );
    assert_eq!(names(&["-a", "-f", "name=^/web$"]), ["web"]);
    assert_eq!(
        names(&["-a", "-f", &format!("id={}", &old.id[..8])]),
        ["db"]
    );
    assert_eq!(
        names(&["-a", "-f", "ancestor=busybox", "-f", "status=created"]),
        ["fresh"]
    );
    assert!(names(&["-a", "-f", "ancestor=alpine"]).is_empty());

    // Bad input: one line, a distinct code, nothing else.
    let r = env.run(&["berth-ps", "-f", "colour=red"]).fails_with(4);
    assert!(
        r.error_line().contains("invalid filter 'colour'"),
        "{}",
        r.stderr
    );
    let r = env
        .run(&["berth-ps", "--format", "{{.Nmes}}"])
        .fails_with(4);
    assert!(
        r.error_line().contains("can't evaluate field Nmes"),
        "{}",
        r.stderr
    );
    env.run(&["berth-ps", "-f", "status=asleep"]).fails_with(4);
    env.run(&["berth-ps", "-f", "before=nosuch"]).fails_with(3);
}

#[test]
fn kill_9_of_container_and_monitor_shows_exited_not_running() {
    let env = TestEnv::new();
    let ctr = Proc::sleep(&env);
    let mon = Proc::sleep(&env);
    let c = Containers::new(&env.paths());
    let r = container(&env, "victim", Status::Running, 30, Some(&ctr));
    c.update(&r.id, |r| {
        let s = r.state.as_mut().unwrap();
        s.monitor_pid = mon.pid();
        s.monitor_start = mon.start();
        Ok::<_, berth::state::StateError>(())
    })
    .unwrap();
    assert_eq!(env.ok(&["berth-ps", "--format", "{{.State}}"]), "running\n");
    // The container dies: its monitor is still there to record how, so ps leaves it be.
    let (mut ctr, mut mon) = (ctr, mon);
    ctr.0.kill().unwrap();
    ctr.0.wait().unwrap();
    assert_eq!(
        env.ok(&["berth-ps", "-a", "--format", "{{.State}}"]),
        "running\n"
    );
    // Now the monitor dies too, unseen: the record is corrected, once, to exited (255).
    mon.0.kill().unwrap();
    mon.0.wait().unwrap();
    assert_eq!(env.ok(&["berth-ps", "--format", "{{.Names}}"]), "");
    let out = env.ok(&["berth-ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(out.starts_with("victim Exited (255) "), "{out}");
    let state = c.load(&r.id).unwrap().state.unwrap();
    assert_eq!(
        (state.status, state.exit_code, state.pid),
        (Status::Exited, 255, 0)
    );
    assert_eq!(
        env.ok(&argv!(
            "berth-ps inspect -f '{{.State.Running}} {{.State.ExitCode}}' victim"
        )),
        "false 255\n"
    );
}

#[test]
fn a_reused_pid_is_not_the_container() {
    let env = TestEnv::new();
    let someone_else = Proc::sleep(&env);
    let c = Containers::new(&env.paths());
    let r = container(&env, "reused", Status::Running, 30, Some(&someone_else));
    // The recorded start time is not this process's: the pid was reused.
    c.update(&r.id, |r| {
        r.state.as_mut().unwrap().pid_start -= 1;
        Ok::<_, berth::state::StateError>(())
    })
    .unwrap();
    assert_eq!(
        env.ok(&["berth-ps", "-a", "--format", "{{.State}}"]),
        "exited\n"
    );
}

#[test]
fn inspect_is_docker_shaped() {
    let env = TestEnv::new();
    let p = Proc::sleep(&env);
    let c = Containers::new(&env.paths());
    let r = container(&env, "web", Status::Running, 60, Some(&p));
    c.update(&r.id, |r| {
        r.bundle.as_mut().unwrap().config.user = "nobody".into();
        r.mounts = Some(vec![MountEntry {
            kind: MountKind::Volume,
            name: Some("data".into()),
            source: "/v/data/_data".into(),
            destination: "/data".into(),
            rw: true,
            origin: "-v".into(),
            ..Default::default()
        }]);
        r.network = Some(NetworkSection {
            mode: "bridge".into(),
            network: Some("bridge".into()),
            ip_address: Some("172.30.0.5".into()),
            ports: vec![PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: 18080,
                container_port: 80,
                protocol: "tcp".into(),
            }],
            ..Default::default()
        });
        Ok::<_, berth::state::StateError>(())
    })
    .unwrap();
    let docs = env.run(&["berth-ps", "inspect", "web"]).success().json();
    let d = &docs[0];
    assert_eq!(d["Id"], r.id);
    assert_eq!(d["Name"], "/web");
    assert_eq!(d["State"]["Status"], "running");
    assert_eq!(d["State"]["Pid"], p.pid());
    assert_eq!(d["Path"], "sleep");
    assert_eq!(d["Args"][0], "1000");
    assert_eq!(d["Config"]["Image"], "busybox");
    assert_eq!(d["Image"], format!("sha256:{}", "c".repeat(64)));
    let f = |t: &str| env.ok(&["berth-ps", "inspect", "--format", t, &r.id[..10]]);
    assert_eq!(f("{{.State.Running}}"), "true\n");
    assert_eq!(f("{{.Config.User}}"), "nobody\n");
    assert_eq!(f("{{json .Volumes}}"), "{\"/data\":\"/v/data/_data\"}\n");
    assert_eq!(f("{{.NetworkSettings.IPAddress}}"), "172.30.0.5\n");
    assert_eq!(
        f("{{range $p, $b := .NetworkSettings.Ports}}{{$p}}={{(index $b 0).HostPort}}{{end}}"),
        "80/tcp=18080\n"
    );
    assert_eq!(
        f("{{(index .Mounts 0).Name}} {{.HostConfig.RestartPolicy.Name}}"),
        "data no\n"
    );
    // Several names: found ones printed, the missing one reported, exit 3.
    let r2 = env
        .run(&["berth-ps", "inspect", "-f", "{{.Name}}", "web", "ghost"])
        .fails_with(3);
    assert_eq!(r2.stdout.lines().next(), Some("/web"));
    assert!(
        r2.error_line().contains("No such object: ghost"),
        "{}",
        r2.stderr
    );
    env.run(&["berth-ps", "inspect", "--type", "container", "ghost"])
        .fails_with(3);
    env.run(&["berth-ps", "inspect", "-f", "{{.State.Running", "web"])
        .fails_with(4);
    // port: Docker's lines; a port that is not published is an error.
    assert_eq!(
        env.ok(&["berth-ps", "port", "web"]),
        "80/tcp -> 0.0.0.0:18080\n"
    );
    assert_eq!(
        env.ok(&["berth-ps", "port", "web", "80"]),
        "0.0.0.0:18080\n"
    );
    let r3 = env.run(&["berth-ps", "port", "web", "81"]).fails_with(3);
    assert!(
        r3.error_line()
            .contains("No public port '81/tcp' published for web"),
        "{}",
        r3.stderr
    );
    env.run(&["berth-ps", "port", "web", "eighty"])
        .fails_with(4);
}

fn log_line(t: chrono::DateTime<Utc>, stream: &str, text: &str) -> String {
    format!(
        "{}\n",
        serde_json::json!({"log": format!("{text}\n"), "stream": stream,
            "time": t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)})
    )
}

#[test]
fn logs_tail_since_until_timestamps_and_streams() {
    let env = TestEnv::new();
    let r = container(&env, "talker", Status::Exited, 600, None);
    let log = env.paths().log(&r.id);
    let t0 = Utc::now() - Duration::seconds(500);
    // 0-49 in `.1` (rotated), 50-99 in the current file; every 10th line on stderr.
    for (path, range) in [(log.with_extension("log.1"), 0..50), (log.clone(), 50..100)] {
        let text: String = range
            .map(|i| {
                log_line(
                    t0 + Duration::seconds(i),
                    if i % 10 == 0 { "stderr" } else { "stdout" },
                    &format!("line {i}"),
                )
            })
            .collect();
        std::fs::write(path, text).unwrap();
    }
    let all = env.run(&["berth-ps", "logs", "talker"]).success();
    assert_eq!(all.stdout.lines().count(), 90);
    assert_eq!(all.stderr.lines().count(), 10);
    assert!(all.stdout.starts_with("line 1\nline 2\n"));
    assert!(all.stderr.starts_with("line 0\nline 10\n"));
    let tail = env
        .run(&["berth-ps", "logs", "--tail", "3", "talker"])
        .success();
    assert_eq!(tail.stdout, "line 97\nline 98\nline 99\n");
    let since = (t0 + Duration::seconds(95)).to_rfc3339();
    let s = env
        .run(&["berth-ps", "logs", "--since", &since, "talker"])
        .success();
    assert_eq!(s.stdout, "line 95\nline 96\nline 97\nline 98\nline 99\n");
    // Relative times count back from now (t0 is 500 s ago, one line a second).
    let num = |l: &str| l.strip_prefix("line ").unwrap().parse::<i64>().unwrap();
    let rel = env
        .run(&["berth-ps", "logs", "--since", "450s", "talker"])
        .success();
    let first = num(rel.stdout.lines().next().unwrap());
    assert!((50..=55).contains(&first), "{}", rel.stdout);
    assert_eq!(rel.stdout.lines().last(), Some("line 99"));
    let rel = env
        .run(&["berth-ps", "logs", "--until", "450s", "talker"])
        .success();
    let last = num(rel.stdout.lines().last().unwrap());
    assert!((45..=50).contains(&last), "{}", rel.stdout);
    assert!(rel.stdout.starts_with("line 1\n"));
    let ts = env
        .run(&["berth-ps", "logs", "-t", "-n", "1", "talker"])
        .success();
    let (stamp, text) = ts.stdout.split_once(' ').unwrap();
    assert_eq!(text, "line 99\n");
    assert!(stamp.ends_with('Z') && stamp.len() == 30, "{stamp}");
    // -f on a stopped container prints and ends.
    let f = env
        .run(&["berth-ps", "logs", "-f", "-n", "1", "talker"])
        .success();
    assert_eq!(f.stdout, "line 99\n");
    env.run(&["berth-ps", "logs", "--since", "yesterday", "talker"])
        .fails_with(4);
    env.run(&["berth-ps", "logs", "--tail", "many", "talker"])
        .fails_with(4);
    env.run(&["berth-ps", "logs", "nobody"]).fails_with(3);
}

/// A v1 (or v2) cgroup made for the test, removed on drop with its processes.
struct TestCgroup {
    dir: std::path::PathBuf,
    rel: String,
}

impl TestCgroup {
    fn new() -> Option<TestCgroup> {
        let rel = format!("berth-test-{}", berth::state::ids::random_hex(6));
        for base in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
            let b = std::path::Path::new(base);
            if b.join("cgroup.procs").exists() {
                let dir = b.join(&rel);
                if std::fs::create_dir(&dir).is_ok() {
                    return Some(TestCgroup { dir, rel });
                }
            }
        }
        None
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if let Ok(procs) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for p in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                kill9(p);
            }
        }
        for _ in 0..100 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn kill9(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn top_lists_the_processes_of_the_container_cgroup() {
    let env = TestEnv::new();
    let Some(cg) = TestCgroup::new() else {
        eprintln!("no writable cgroup hierarchy: skipping");
        return;
    };
    // The "container": a shell in the test cgroup with a child of its own.
    let procs_file = cg.dir.join("cgroup.procs");
    let mut cmd = env.cmd("sh");
    cmd.args(["-c", "sleep 1000 & exec sleep 999"]);
    // SAFETY: the hook runs in the child between fork and exec. It allocates and writes one
    // file, which glibc allows there (its fork resets malloc's locks in the child), and it
    // touches no state shared with the parent's other threads.
    unsafe {
        cmd.pre_exec(move || std::fs::write(&procs_file, std::process::id().to_string()));
    }
    let init = Proc(cmd.stdout(Stdio::null()).spawn().unwrap());
    let c = Containers::new(&env.paths());
    let r = container(&env, "busy", Status::Running, 5, Some(&init));
    c.update(&r.id, |r| {
        r.process = Some(ProcessSection {
            cgroup_path: cg.rel.clone(),
            ..Default::default()
        });
        Ok::<_, berth::state::StateError>(())
    })
    .unwrap();
    // Both processes, found through the cgroup (the child is not reachable by pid alone
    // in general), once the shell has started its child.
    let mut top = Value::Null;
    for _ in 0..100 {
        top = env
            .run(&["berth-ps", "top", "busy", "-o", "pid,args"])
            .success()
            .json();
        if top["Processes"].as_array().unwrap().len() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(top["Titles"], serde_json::json!(["PID", "COMMAND"]));
    let procs = top["Processes"].as_array().unwrap();
    assert_eq!(procs.len(), 2, "{top}");
    assert_eq!(procs[0][0], init.pid().to_string());
    assert_eq!(procs[0][1], "sleep 999");
    assert_eq!(procs[1][1], "sleep 1000");
    // Default options are Docker's -ef.
    let ef = env.run(&["berth-ps", "top", "busy"]).success().json();
    assert_eq!(ef["Titles"][0], "UID");
    assert_eq!(ef["Processes"].as_array().unwrap().len(), 2);
    let stopped = container(&env, "idle", Status::Exited, 5, None);
    env.run(&["berth-ps", "top", &stopped.name]).fails_with(105);
    // stats sees the cgroup's pids.
    let stats = env
        .run(&["berth-ps", "stats", "--no-stream", "busy"])
        .success()
        .json();
    assert_eq!(stats[0]["PIDs"], "2", "{stats}");
    assert_eq!(stats[0]["Name"], "busy");
}
