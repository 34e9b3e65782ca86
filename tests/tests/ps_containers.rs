//! berth-ps on real containers made by the real pipeline
//! (`berth-unpack busybox ... | [berth-netns - -p ...] | berth-spawn start -d -`): ps, logs,
//! inspect, top, stats, port, and the truth after kill -9 of a container and its monitor.

use berth_e2e::argv;
use berth_e2e::fixtures;
use berth_e2e::net::TestNet;
use berth_e2e::world::{Teardown, World};

fn ps(w: &World, args: &[&str]) -> String {
    let mut argv = vec!["berth-ps"];
    argv.extend_from_slice(args);
    w.run(&argv).success().stdout
}

use berth_e2e::until;

#[test]
fn views_of_real_containers() {
    let w = World::new();
    let _net = TestNet::new(&w.env);
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    let talker = w.piped(
        "talker",
        "berth-vol - -v data:/data |",
        "",
        "for i in 1 2 3; do echo out $i; echo err $i >&2; done; exec sleep 1000",
    );
    let web = w.piped(
        "web",
        "berth-netns - -p 127.0.0.1::80 |",
        "",
        "exec sleep 1000",
    );
    let quick = w.piped("quick", "", "", "echo bye; exit 3");
    let idle = w
        .run(&argv!("berth-unpack busybox:latest --name idle -- true"))
        .success()
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let _down = Teardown(
        &w,
        vec![talker.clone(), web.clone(), quick.clone(), idle.clone()],
    );
    until("quick to exit", || {
        (ps(&w, &["-a", "-f", "name=quick", "--format", "{{.State}}"]) == "exited\n").then_some(())
    });
    until("talker's output", || {
        let r = w.run(&["berth-ps", "logs", "talker"]);
        (r.stdout.lines().count() == 3 && r.stderr.lines().count() == 3).then_some(())
    });

    // ps: running ones by default, all with -a, Docker's statuses.
    assert_eq!(ps(&w, &["--format", "{{.Names}}"]), "web\ntalker\n");
    let all = ps(
        &w,
        &argv!("-a --format {{.Names}}|{{.Status}}|{{.Image}}|{{.Command}}"),
    );
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 4, "{all}");
    assert!(lines[0].starts_with("idle|Created|busybox"), "{all}");
    assert!(lines[1].starts_with("quick|Exited (3) "), "{all}");
    assert!(lines[2].starts_with("web|Up "), "{all}");
    assert!(lines[3].starts_with("talker|Up "), "{all}");
    assert!(lines[3].ends_with("|\"sh -c for i in 1 2 …\""), "{all}");
    assert_eq!(
        ps(&w, &["-a", "-f", "exited=3", "-q"]),
        format!("{}\n", &quick[..12])
    );
    assert_eq!(
        ps(&w, &["-a", "-f", "ancestor=busybox", "-q"])
            .lines()
            .count(),
        4
    );

    // Published ports: the PORTS column, and `port` (also through the dispatcher).
    let port_line = ps(&w, &["-f", "name=web", "--format", "{{.Ports}}"]);
    assert!(
        port_line.starts_with("127.0.0.1:") && port_line.ends_with("->80/tcp\n"),
        "{port_line}"
    );
    let host = w.run(&["berth", "port", "web", "80"]).success().stdout;
    assert!(port_line.starts_with(host.trim()), "{host} vs {port_line}");
    assert_eq!(ps(&w, &["port", "talker"]), "");

    // logs: streams apart, --tail, -t; through the dispatcher too.
    let logs = w.run(&["berth", "logs", "talker"]).success();
    assert_eq!(logs.stdout, "out 1\nout 2\nout 3\n");
    assert_eq!(logs.stderr, "err 1\nerr 2\nerr 3\n");
    assert_eq!(
        w.run(&["berth-ps", "logs", "--tail", "1", "talker"])
            .success()
            .stderr,
        "err 3\n"
    );
    let ts = ps(&w, &["logs", "-t", "quick"]);
    assert!(
        ts.ends_with("Z bye\n") && ts.len() == "2024-01-01T00:00:00.000000000Z bye\n".len(),
        "{ts}"
    );
    // -f on a stopped container ends at once.
    assert_eq!(ps(&w, &["logs", "-f", "quick"]), "bye\n");

    // inspect.
    let f = |t: &str, n: &str| ps(&w, &["inspect", "-f", t, n]);
    assert_eq!(
        f("{{.State.Running}} {{.State.Status}} {{.Name}}", "talker"),
        "true running /talker\n"
    );
    assert_eq!(
        f("{{.State.ExitCode}} {{.State.Running}}", "quick"),
        "3 false\n"
    );
    assert_eq!(
        f("{{.Config.Image}} {{index .Config.Cmd 0}}", "talker"),
        "busybox:latest sh\n"
    );
    let pid: i32 = f("{{.State.Pid}}", "talker").trim().parse().unwrap();
    assert!(pid > 0);
    let ip = f("{{.NetworkSettings.IPAddress}}", "web");
    assert!(ip.starts_with("10.213."), "{ip}");
    let doc = w
        .run(&["berth", "inspect", "--json", "web"])
        .success()
        .json();
    assert_eq!(doc[0]["Id"], web);
    assert_eq!(
        doc[0]["HostConfig"]["PortBindings"]["80/tcp"][0]["HostIp"],
        "127.0.0.1"
    );

    assert_eq!(
        f(
            "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}}{{end}}",
            "talker"
        ),
        "volume data /data\n"
    );
    assert_eq!(
        f("{{json .HostConfig.Binds}}", "talker"),
        "[\"data:/data\"]\n"
    );
    // Not a container: an image, a volume, then a network, as Docker searches.
    assert_eq!(f("{{.Name}} {{.Driver}}", "data"), "data local\n");
    assert_eq!(f("{{index .RepoTags 0}}", "busybox"), "busybox:latest\n");
    assert_eq!(
        ps(&w, &argv!("inspect --type image -f {{.Os}} busybox:latest")),
        "linux\n"
    );
    assert_eq!(f("{{.Name}} {{.Driver}}", "bridge"), "bridge bridge\n");
    w.run(&["berth-ps", "inspect", "--type", "container", "busybox"])
        .fails_with(3);

    // top: the container's processes by host pid, found through its cgroup.
    let top = w.run(&["berth-ps", "top", "talker"]).success().json();
    let procs = top["Processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{top}");
    assert_eq!(procs[0][1], pid.to_string());
    assert_eq!(procs[0][7], "sleep 1000");
    w.run(&["berth-ps", "top", "quick"]).fails_with(105);

    // stats: one process, some memory, a limit.
    let st = w
        .run(&["berth", "stats", "--json", "--no-stream", "talker", "quick"])
        .success()
        .json();
    assert_eq!(st[0]["Name"], "talker");
    assert_eq!(st[0]["PIDs"], "1");
    assert!(
        !st[0]["MemUsage"].as_str().unwrap().starts_with("0B"),
        "{st}"
    );
    assert_eq!(st[1]["CPUPerc"], "0.00%");
    let listed = w
        .run(&["berth-ps", "stats", "--no-stream", "--format", "{{.Name}}"])
        .success();
    assert_eq!(listed.stdout, "web\ntalker\n");
}

#[test]
fn logs_follow_ends_when_the_container_stops() {
    let w = World::new();
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    let id = w.piped(
        "ticker",
        "",
        "",
        "for i in 1 2 3 4 5; do echo tick $i; sleep 0.1; done",
    );
    let _down = Teardown(&w, vec![id]);
    // Follows while it runs, and returns by itself once it stopped, with every line.
    let r = w.run(&["berth-ps", "logs", "-f", "ticker"]).success();
    assert_eq!(r.stdout, "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
    assert_eq!(ps(&w, &["-a", "--format", "{{.State}}"]), "exited\n");
}

#[test]
fn kill_9_of_a_real_container_and_its_monitor() {
    let w = World::new();
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    let id = w.piped("victim", "", "", "exec sleep 1000");
    let _down = Teardown(&w, vec![id.clone()]);
    let pid: i32 = ps(&w, &["inspect", "-f", "{{.State.Pid}}", "victim"])
        .trim()
        .parse()
        .unwrap();
    let monitor: i32 = ps(&w, &["inspect", "-f", "{{.Berth.MonitorPid}}", "victim"])
        .trim()
        .parse()
        .unwrap();
    assert!(pid > 0 && monitor > 0 && pid != monitor);
    let kill = |p: i32| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap()
    };
    // A follower started now must end when the container is found dead.
    let mut follower = w.cmd("berth-ps");
    follower
        .args(["logs", "-f", "victim"])
        .stdout(std::process::Stdio::null());
    let mut follower = follower.spawn().unwrap();
    kill(monitor);
    // The monitor is gone but the container runs: still running.
    until("the monitor to die", || {
        (berth::state::liveness::start_time(monitor).is_none()
            || berth::state::liveness::proc_state(monitor) == Some('Z'))
        .then_some(())
    });
    assert_eq!(
        ps(&w, &["--format", "{{.Names}} {{.State}}"]),
        "victim running\n"
    );
    kill(pid);
    let status = until("ps to see the death", || {
        let s = ps(&w, &["-a", "--format", "{{.Status}}"]);
        s.starts_with("Exited").then_some(s)
    });
    assert!(status.starts_with("Exited (255) "), "{status}");
    assert_eq!(ps(&w, &["--format", "{{.Names}}"]), "");
    assert_eq!(
        ps(
            &w,
            &argv!("inspect -f '{{.State.Running}} {{.State.Pid}} {{.State.ExitCode}}' victim")
        ),
        "false 0 255\n"
    );
    let st = until("the follower to end", || follower.try_wait().unwrap());
    assert!(st.success());
}

#[test]
fn paused_and_rotated_containers() {
    let w = World::new();
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    // 300 numbered lines through a log capped at 1 kB in 3 files: rotated several times.
    let chatty = w.piped(
        "chatty",
        "",
        "--log-opt max-size=1k --log-opt max-file=3",
        "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; exec sleep 1000",
    );
    let _down = Teardown(&w, vec![chatty.clone()]);
    let last = until("all lines logged", || {
        let out = ps(&w, &["logs", "--tail", "3", "chatty"]);
        out.ends_with("line 299\n").then_some(out)
    });
    assert_eq!(last, "line 297\nline 298\nline 299\n");
    let log = w.paths().log(&chatty);
    assert!(
        log.with_extension("log.1").exists(),
        "the log was not rotated"
    );
    // Everything still kept, across the files, in order and without gaps.
    let all = ps(&w, &["logs", "chatty"]);
    let nums: Vec<u32> = all.lines().map(|l| l[5..].parse().unwrap()).collect();
    assert!(
        nums.len() < 300 && nums.len() > 10,
        "{} lines kept",
        nums.len()
    );
    assert_eq!(*nums.last().unwrap(), 299);
    assert!(nums.windows(2).all(|p| p[1] == p[0] + 1), "{all}");
    let tail = ps(
        &w,
        &["logs", "--tail", &(nums.len() - 2).to_string(), "chatty"],
    );
    assert_eq!(
        tail.lines().next(),
        Some(format!("line {}", nums[2]).as_str())
    );

    // Paused: still "running" to Docker's State, "(Paused)" in STATUS.
    w.run(&["berth-spawn", "pause", "chatty"]).success();
    let s = ps(&w, &["--format", "{{.State}} {{.Status}}"]);
    assert!(
        s.starts_with("paused Up ") && s.ends_with(" (Paused)\n"),
        "{s}"
    );
    assert_eq!(
        ps(
            &w,
            &argv!("inspect -f '{{.State.Running}} {{.State.Paused}} {{.State.Status}}' chatty")
        ),
        "true true paused\n"
    );
    assert_eq!(
        ps(&w, &["-f", "status=paused", "-q"]),
        format!("{}\n", &chatty[..12])
    );
    w.run(&["berth-spawn", "resume", "chatty"]).success();
    assert_eq!(ps(&w, &["--format", "{{.State}}"]), "running\n");

    // Restarting: between attempts of a failing container with a restart policy.
    let flaky = w.piped("flaky", "", "--restart always", "exit 1");
    let _down2 = Teardown(&w, vec![flaky]);
    let s = until("a restart to be pending", || {
        let s = ps(
            &w,
            &["-f", "name=flaky", "--format", "{{.State}}|{{.Status}}"],
        );
        s.starts_with("restarting|").then_some(s)
    });
    assert!(
        s.starts_with("restarting|Restarting (1) ") && s.ends_with(" ago\n"),
        "{s}"
    );
    // Each view is one consistent reading; poll until inspect's falls between attempts too.
    let doc = until("inspect to see a pending restart", || {
        let d = w.run(&["berth-ps", "inspect", "flaky"]).success().json();
        (d[0]["State"]["Status"] == "restarting").then_some(d)
    });
    assert_eq!(doc[0]["State"]["Restarting"], true);
    assert_eq!(doc[0]["State"]["Running"], true);
    assert_eq!(doc[0]["State"]["ExitCode"], 1);
    assert!(doc[0]["RestartCount"].as_u64().unwrap() >= 1);
}
