//! The seed's durable containers and clean-up (docker-notes.md, "Durable containers" to
//! "Installing specific software"): restart policies and their backoff, a supervisor inside
//! a container, entrypoint override, `rm` and `--rm`; then images as files (`save`, `rmi`,
//! `load`) and `help`.

use berth_e2e::argv;
use berth_e2e::seed_images::WEB_PAGE;
use berth_e2e::session::Session;
use berth_e2e::until;

/// RFC 3339 timestamp (as `logs -t` prints) -> seconds.
fn seconds(ts: &str) -> f64 {
    let t = chrono::DateTime::parse_from_rfc3339(ts).unwrap_or_else(|e| panic!("{ts}: {e}"));
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_nanos()) / 1e9
}

#[test]
fn restart_always_backs_off_exponentially() {
    let s = Session::seed();
    // docker run -d --name backoff-detector --restart always busybox date
    s.detach(&argv!(
        "--name backoff-detector --restart always busybox date"
    ));
    // docker logs -f backoff-detector: one date per start, ever further apart.
    let follow = s.spawn(&["logs", "-f", "-t", "backoff-detector"]);
    let out = until("six starts", || {
        let o = follow.output();
        (o.lines().filter(|l| l.contains(" UTC ")).count() >= 6).then_some(o)
    });
    let times: Vec<f64> = out
        .lines()
        .filter(|l| l.contains(" UTC "))
        .map(|l| seconds(l.split_whitespace().next().unwrap()))
        .collect();
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // Docker doubles the delay each time (100 ms, 200 ms, 400 ms...): each gap is at least
    // its delay, whatever the machine's load (lower bounds only; 5% for the clocks).
    for (k, gap) in gaps.iter().take(5).enumerate() {
        let delay = 0.1 * f64::from(1u32 << k);
        assert!(
            *gap >= delay * 0.95,
            "restart {} came {gap:.3} s after the previous start, before its {delay} s backoff: {gaps:?}\n{out}",
            k + 1
        );
    }
    let count: u32 = s
        .inspect("backoff-detector", "{{.RestartCount}}")
        .parse()
        .unwrap();
    assert!(count >= 5, "RestartCount {count}");
    // A restarting container can be stopped for good.
    s.ok(&["stop", "backoff-detector"]);
    assert_eq!(s.inspect("backoff-detector", "{{.State.Running}}"), "false");
    let n = s.logs("backoff-detector").lines().count();
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(
        s.logs("backoff-detector").lines().count(),
        n,
        "stopped means no more restarts"
    );
}

#[test]
fn restart_on_failure_gives_up_after_its_count() {
    let s = Session::seed();
    s.detach(&argv!(
        "--name flaky --restart on-failure:2 busybox sh -c 'echo try; exit 3'"
    ));
    until("flaky to give up", || {
        (s.inspect("flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2").then_some(())
    });
    assert_eq!(s.inspect("flaky", "{{.State.ExitCode}}"), "3");
    assert_eq!(s.logs("flaky").matches("try").count(), 3);
    assert_eq!(
        s.inspect(
            "flaky",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:2"
    );
}

/// The LAMP story with a shell loop for supervisord: killing the server inside the
/// container (found with `top` and `exec ps`) is repaired by the supervisor.
#[test]
fn a_supervisor_restarts_what_exec_kill_stopped() {
    let s = Session::seed();
    let port = s.port(0);
    let publish = format!("{port}:80");
    s.detach(&argv!(
        "-p {} --name lamp-test nginx sh -c \
         'while :; do httpd -f -p 80 -h /www; echo supervisor: httpd exited, restarting; done'",
        &publish
    ));
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(
        until("lamp-test", || berth_e2e::net::http_get(&url)),
        WEB_PAGE
    );
    assert!(s.ok(&["top", "lamp-test"]).contains("httpd -f -p 80"));
    let pid_of_httpd = || {
        let ps = s.ok(&["exec", "lamp-test", "ps"]);
        ps.lines()
            .find(|l| l.contains("httpd -f") && !l.contains("while"))
            .and_then(|l| l.split_whitespace().next())
            .map(String::from)
    };
    let old = pid_of_httpd().expect("httpd in exec ps");
    s.ok(&["exec", "lamp-test", "kill", &old]);
    s.wait_logs("lamp-test", "supervisor: httpd exited, restarting");
    let new = until("a new httpd", || pid_of_httpd().filter(|p| *p != old));
    assert_ne!(new, old);
    assert_eq!(
        until("lamp-test again", || berth_e2e::net::http_get(&url)),
        WEB_PAGE
    );
}

#[test]
fn entrypoint_override_rm_and_auto_remove() {
    let s = Session::seed();
    // docker run --entrypoint="cat" wordpress:4 /entrypoint.sh
    let script = s.ok(&argv!(
        "run --entrypoint=cat nginx:latest /usr/local/bin/start-web"
    ));
    assert!(
        script.starts_with("#!/bin/sh") && script.contains("httpd"),
        "{script}"
    );

    // docker ps -a; docker rm wp: a stopped container goes, a running one needs -f.
    let stopped = s.ok(&["create", "--name", "wp", "nginx"]);
    s.detach(&["--name", "busy", "nginx"]);
    let r = s.berth(&["rm", "busy"]);
    assert_ne!(r.code(), 0, "rm of a running container: {r:?}");
    assert!(r.error_line().contains("busy"), "{}", r.stderr);
    assert_eq!(s.ok(&["rm", "wp"]).trim(), "wp");
    assert!(!s.w.paths().container(stopped.trim()).exists());
    assert_eq!(s.ok(&["rm", "-f", "busy"]).trim(), "busy");

    // docker run --rm --name auto-exit-test busybox:latest echo Hello World
    let out = s.ok(&argv!(
        "run --rm --name auto-exit-test busybox:latest echo Hello World"
    ));
    assert_eq!(out, "Hello World\n");
    // The containers made by `run` above (the cat one) stay; --rm ones do not.
    let all = s.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!all.contains("auto-exit-test"), "{all}");
    assert_eq!(all.lines().count(), 1, "{all}");
    // Detached --rm: gone once it exits; its name is free again.
    s.detach(&["--rm", "--name", "auto-exit-test", "busybox", "true"]);
    until("the --rm container to go", || {
        (!s.ok(&["ps", "-a", "--format", "{{.Names}}"])
            .contains("auto-exit-test"))
        .then_some(())
    });
    s.ok(&["run", "--rm", "--name", "auto-exit-test", "busybox", "true"]);
}

#[test]
fn images_as_files_save_rmi_load() {
    let s = Session::seed();
    let tar = s.w.env.dir().join("myfile.tar");
    let tar = tar.to_str().unwrap();
    let id = s.ok(&["images", "-q", "busybox:latest"]).trim().to_string();
    // docker save -o myfile.tar busybox:latest; docker rmi busybox; docker images
    s.ok(&["save", "-o", tar, "busybox:latest"]);
    s.ok(&["rmi", "busybox"]);
    let images = s.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(!images.lines().any(|l| l == "busybox:latest"), "{images}");
    let r = s.berth(&["run", "--rm", "--pull", "never", "busybox", "true"]);
    assert_eq!(r.code(), 125, "{r:?}");
    // docker load -i myfile.tar
    let out = s.ok(&["load", "-i", tar]);
    assert!(out.contains("busybox:latest"), "{out}");
    assert_eq!(s.ok(&["images", "-q", "busybox:latest"]).trim(), id);
    assert_eq!(s.ok(&["run", "--rm", "busybox", "echo", "back"]), "back\n");
    std::fs::remove_file(tar).unwrap();

    // docker help; docker help cp
    let help = s.ok(&["help"]);
    assert!(help.contains("run") && help.contains("cp"), "{help}");
    let help = s.ok(&["help", "cp"]);
    assert!(help.contains("Usage"), "{help}");
}
