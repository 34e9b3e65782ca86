//! `berth run` as a user types it: output, exit codes (Docker's 125/126/127/container's own),
//! `--rm`, `-d` with a name and a published port, and the everyday verbs on it (exec, logs,
//! stop, start, wait, rm), with nothing left behind.

use berth_e2e::argv;
use berth_e2e::net;
use berth_e2e::net::port_open;
use berth_e2e::session::Session;
use berth_e2e::until;

#[test]
fn run_rm_prints_the_output_and_leaves_nothing() {
    let b = Session::new();
    let r = b
        .berth(&["run", "--rm", "busybox", "echo", "hello"])
        .success();
    assert_eq!(r.stdout, "hello\n");
    assert_eq!(r.stderr, "");
    b.assert_clean(&[]);
}

#[test]
fn exit_codes_follow_docker() {
    let b = Session::new();
    // The container's own code.
    let r = b.berth(&argv!(
        "run --rm busybox sh -c 'echo out; echo err >&2; exit 3'"
    ));
    let r = r.fails_with(3);
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "err\n");
    // 127: the command does not exist; the error is said once.
    let r = b
        .berth(&["run", "--rm", "busybox", "nosuchcommand"])
        .fails_with(127);
    assert!(r.error_line().contains("nosuchcommand"), "{}", r.stderr);
    // 126: it exists but cannot be executed.
    let r = b
        .berth(&["run", "--rm", "busybox", "/etc/passwd"])
        .fails_with(126);
    assert!(r.error_line().contains("/etc/passwd"), "{}", r.stderr);
    b.assert_clean(&[]);
    // Without --rm Docker keeps the container that could not start, with that code.
    b.berth(&["run", "--name", "kept", "busybox", "nosuchcommand"])
        .fails_with(127);
    let st = b.state(&b.container_ids()[0]);
    assert_eq!(st["exit_code"], 127, "{st}");
    b.ok(&["rm", "kept"]);
    // 125: berth itself fails: unknown flag, missing image, bad flag value.
    let r = b
        .berth(&["run", "--bogus", "busybox", "true"])
        .fails_with(125);
    assert!(
        r.stderr
            .starts_with("unknown flag: --bogus\n\nUsage:  berth run [OPTIONS] IMAGE"),
        "{}",
        r.stderr
    );
    let r = b
        .berth(&["run", "--rm", "nosuchimage:1", "true"])
        .fails_with(125);
    assert!(
        r.error_line().starts_with("berth-pull: error: "),
        "{}",
        r.stderr
    );
    let r = b.berth(&["run", "--restart", "sometimes", "busybox", "true"]);
    let r = r.fails_with(125);
    assert!(r.error_line().contains("sometimes"), "{}", r.stderr);
    // docker/cli's RequiresMinArgs: status 1, the use line.
    let r = b.berth(&["run"]).fails_with(1);
    assert_eq!(
        r.stderr,
        "berth: 'berth run' requires at least 1 argument\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nSee 'berth run --help' for more information\n"
    );
    b.assert_clean(&[]);
    // Once more through the stages' own codes: `berth-run` is the same script.
    b.w.run(&["berth-run", "--rm", "busybox", "true"]).success();
}

#[test]
fn a_stage_failing_half_way_is_undone_and_said_once() {
    let b = Session::new();
    let port = b.net.default_slot().port(0);
    let web = b.detach(&argv!(
        "--name web -p {} busybox httpd -f -p 80",
        &format!("{port}:80")
    ));
    // Busy name: refused by berth-unpack, before anything was made.
    let r = b
        .berth(&["run", "--name", "web", "busybox", "true"])
        .fails_with(125);
    let line = r.error_line();
    assert!(line.starts_with("berth-unpack: error: "), "{line}");
    assert!(line.contains("\"/web\" is already in use"), "{line}");
    // Port in use: berth-netns fails after berth-unpack made the container; the container
    // is undone (no record, no name, no mount), and the user sees netns's error once.
    let r = b
        .berth(&argv!(
            "run --name second -p {} busybox true",
            &format!("{port}:80")
        ))
        .fails_with(125);
    let line = r.error_line();
    assert!(line.starts_with("berth-netns: error: "), "{line}");
    assert!(line.contains("already allocated"), "{line}");
    assert_eq!(b.container_ids(), vec![web.clone()]);
    assert_eq!(b.names(), vec!["web".to_string()]);
    // A bad volume: berth-vol fails after unpack and netns: both are undone.
    let r = b
        .berth(&argv!("run --name third -v relative:/x:bad busybox true"))
        .fails_with(125);
    assert!(
        r.error_line().starts_with("berth-vol: error: "),
        "{}",
        r.stderr
    );
    // A bad spawn flag: the last stage fails, the three before it are undone.
    let r = b
        .berth(&argv!("run --name fourth --ulimit nofile=x busybox true"))
        .fails_with(125);
    assert!(
        r.error_line().starts_with("berth-spawn: error: "),
        "{}",
        r.stderr
    );
    assert_eq!(b.container_ids(), vec![web.clone()]);
    assert_eq!(b.names(), vec!["web".to_string()]);
    // A port a host process holds: refused by berth-netns, nothing left.
    let held = std::net::TcpListener::bind(("0.0.0.0", b.net.default_slot().port(4))).unwrap();
    let port4 = held.local_addr().unwrap().port().to_string();
    let r = b
        .berth(&["run", "-p", &format!("{port4}:80"), "busybox", "true"])
        .fails_with(125);
    assert!(
        r.error_line().starts_with("berth-netns: error: "),
        "{}",
        r.stderr
    );
    assert!(r.error_line().contains(&port4), "{}", r.stderr);
    drop(held);
    assert_eq!(b.container_ids(), vec![web.clone()]);
    b.ok(&["rm", "-f", "web"]);
    b.assert_clean(&[&web]);
}

#[test]
fn rm_v_removes_anonymous_volumes_and_keeps_named_ones() {
    let b = Session::new();
    let id = b.detach(&argv!("-v /anon -v named:/named busybox sleep 1000"));
    let vols = b.ok(&["volume", "ls", "-q"]);
    assert_eq!(vols.lines().count(), 2, "{vols}");
    let r = b.berth(&["rm", &id[..12]]).fails_with(1);
    assert!(r.error_line().contains("rm -f"), "{}", r.stderr);
    assert_eq!(
        b.ok(&["rm", "-f", "-v", &id[..12]]),
        format!("{}\n", &id[..12])
    );
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "named\n");
    // Several at once; a missing one is reported, the others removed, the status is 1.
    let a = b.detach(&["--name", "aa", "busybox", "true"]);
    let c = b.detach(&["--name", "cc", "busybox", "true"]);
    assert_eq!(b.ok(&["wait", "aa", "cc"]), "0\n0\n");
    let r = b.berth(&["rm", "aa", "nosuch", "cc"]).fails_with(1);
    assert!(r.stdout.starts_with("aa\ncc\n"), "{}", r.stdout);
    assert!(r.stderr.contains("nosuch"), "{}", r.stderr);
    b.assert_clean(&[&id, &a, &c]);
}

#[test]
fn detached_container_with_the_everyday_verbs() {
    let b = Session::new();
    let port = b.net.default_slot().port(1);
    let id = b.detach(&argv!(
        "--name web -p {} -e 'GREETING=hi there' busybox sh -c 'mkdir -p /www && echo \
         \"$GREETING\" > /www/index.html && echo started && exec httpd -f -p 80 -h /www'",
        &format!("{port}:80")
    ));
    let body = until("the published port", || {
        net::http_get(&format!("http://127.0.0.1:{port}/"))
    });
    assert_eq!(body, "hi there\n");
    // exec by name, by id, by unique prefix; its exit code.
    assert_eq!(
        b.ok(&["exec", "web", "cat", "/www/index.html"]),
        "hi there\n"
    );
    assert_eq!(
        b.ok(&["exec", &id, "sh", "-c", "echo $GREETING"]),
        "hi there\n"
    );
    b.berth(&["exec", &id[..8], "sh", "-c", "exit 4"])
        .fails_with(4);
    b.berth(&["exec", "web", "nosuchcommand"]).fails_with(127);
    // logs
    assert_eq!(b.ok(&["logs", "web"]), "started\n");
    // ps shows it running, with its port
    let ps = b.ps();
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0]["Names"], "web");
    assert_eq!(ps[0]["State"], "running");
    // rm of a running container is refused; stop (httpd as PID 1 ignores SIGTERM: -t 1
    // then SIGKILL), wait prints the code.
    let r = b.berth(&["rm", "web"]).fails_with(1);
    assert!(r.error_line().contains("stop it first"), "{}", r.stderr);
    assert_eq!(b.ok(&["stop", "-t", "1", "web"]), "web\n");
    assert!(!port_open(port));
    assert_eq!(b.ok(&["wait", "web"]), "137\n");
    // start again (detached, with a new monitor): served again.
    assert_eq!(b.ok(&["start", &id[..12]]), format!("{}\n", &id[..12]));
    // (This once timed out in the whole suite and never alone: the state goes in the message.)
    berth_e2e::until_or(
        "the port again",
        || net::http_get(&format!("http://127.0.0.1:{port}/")),
        || {
            let ps = b.berth(&["ps", "-a"]).stdout;
            let logs = b.berth(&["logs", "web"]);
            let state = b.berth(&["inspect", "-f", "{{json .State}}", "web"]).stdout;
            let nat = b.sh("iptables -t nat -S 2>&1; ip -br addr 2>&1").stdout;
            format!(
                "ps -a:\n{ps}\nlogs:\n{}{}\nstate: {state}\n{nat}",
                logs.stdout, logs.stderr
            )
        },
    );
    assert_eq!(b.ok(&["rm", "-f", "web"]), "web\n");
    assert!(!port_open(port));
    b.assert_clean(&[&id]);
}

#[test]
fn run_d_rm_removes_itself_and_wait_reports_the_code() {
    let b = Session::new();
    let id = b.detach(&["--rm", "busybox", "sh", "-c", "sleep 0.3; exit 5"]);
    until("--rm to remove the container", || {
        (!b.w.paths().container(&id).exists() && b.names().is_empty()).then_some(())
    });
    b.assert_clean(&[&id]);
    let id = b.detach(&["--name", "quick", "busybox", "sh", "-c", "exit 6"]);
    assert_eq!(b.ok(&["wait", "quick"]), "6\n");
    b.ok(&["rm", &id]);
    b.assert_clean(&[&id]);
}

#[test]
fn dry_run_prints_the_pipeline() {
    let b = Session::new();
    let out = b.ok(&argv!(
        "run --dry-run -d --name web -p 8080:80 -v data:/data -e 'A=b c' --memory 32m busybox \
         echo {}",
        "it's"
    ));
    assert_eq!(
        out,
        "berth-pull busybox | berth-unpack --name=web '--env=A=b c' - -- echo 'it'\\''s' \
         | berth-netns --publish=8080:80 - | berth-vol --volume=data:/data - \
         | berth-spawn start --detach --memory=32m -\n"
    );
    assert!(b.container_ids().is_empty());
}

/// 40 detached runs with no network, all at once: every one succeeds and runs (cgroups,
/// records, names and monitors do not collide), and removing them leaves nothing.
#[test]
fn forty_detached_runs_at_once_all_succeed() {
    let b = Session::new();
    let names: Vec<String> = (0..40).map(|i| format!("par{i}")).collect();
    let runs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let b = &b;
                s.spawn(move || {
                    b.berth(&[
                        "run",
                        "-d",
                        "--network",
                        "none",
                        "--name",
                        n,
                        "busybox",
                        "sleep",
                        "1000",
                    ])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ids = Vec::new();
    for (n, r) in names.iter().zip(runs) {
        let id = r.success().stdout.trim().to_string();
        assert_eq!(id.len(), 64, "{n}: {id:?}");
        ids.push(id);
    }
    let running = b.ok(&["ps", "-q", "--no-trunc"]);
    for id in &ids {
        assert!(
            running.contains(id.as_str()),
            "{id} is not running: {running}"
        );
    }
    let mut rm = vec!["rm", "-f"];
    rm.extend(names.iter().map(String::as_str));
    b.ok(&rm);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    b.assert_clean(&ids);
}
