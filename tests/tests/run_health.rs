//! Health checks as Docker 28 runs them: the `--health-*` flags and the image's HEALTHCHECK,
//! probed by the monitor of a detached container; `State.Health` in `inspect`, `(healthy)` in
//! `ps`'s STATUS, `ps -f health=`; the start period; `--no-healthcheck`; the probe's timeout;
//! the flags' errors; a foreground run's checks (its monitor runs them). Intervals are 1s,
//! and every wait is `until` a state is seen. Also the `--log-driver` refusals that name the
//! host service a driver needs.

use berth_e2e::argv;
use berth_e2e::crafted::{Layer, busybox_tar, put_image};
use berth_e2e::fixtures::PATH_ENV;
use berth_e2e::session::Session;
use berth_e2e::until;
use serde_json::Value;

/// `.State.Health` as JSON (`null` without a check).
fn health(b: &Session, name: &str) -> Value {
    serde_json::from_str(&b.inspect(name, "{{json .State.Health}}")).unwrap()
}

/// `{{json TEMPLATE}}` of `name`, parsed.
fn json(b: &Session, name: &str, what: &str) -> Value {
    serde_json::from_str(&b.inspect(name, &format!("{{{{json {what}}}}}"))).unwrap()
}

/// Waits until the health status is `status`; returns `.State.Health`.
#[track_caller]
fn wait_health(b: &Session, name: &str, status: &str) -> Value {
    until(&format!("{name} to be {status}"), || {
        let h = health(b, name);
        (h["Status"] == status).then_some(h)
    })
}

/// `ps -a --format '{{.Names}}' -f health=VALUE`, as lines.
fn ps_health(b: &Session, value: &str) -> Vec<String> {
    let out = b.ok(&argv!(
        "ps -a --format '{{.Names}}' -f {}",
        format!("health={value}")
    ));
    let mut v: Vec<String> = out.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn a_passing_check_is_healthy_in_inspect_and_ps_and_unhealthy_once_stopped() {
    let b = Session::new();
    let id = b.detach(&argv!(
        "--name ok --health-cmd 'echo probed; true' --health-interval 1s busybox sleep 1000"
    ));
    let h = wait_health(&b, "ok", "healthy");
    // Docker's shape: Status, FailingStreak, Log of {Start, End, ExitCode, Output}.
    let keys: Vec<&String> = h.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["FailingStreak", "Log", "Status"]);
    assert_eq!(h["FailingStreak"], 0);
    let first = &h["Log"][0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["End", "ExitCode", "Output", "Start"]);
    assert_eq!(first["ExitCode"], 0);
    assert_eq!(first["Output"], "probed\n");
    let start = first["Start"].as_str().unwrap();
    assert!(start.len() > 20 && start.contains('T'), "{start}");
    assert_eq!(
        json(&b, "ok", ".Config.Healthcheck"),
        serde_json::json!({"Test": ["CMD-SHELL", "echo probed; true"], "Interval": 1_000_000_000u64})
    );
    // ps, piped: Docker's STATUS text, and the filter.
    let status = b.ok(&argv!("ps --format '{{.Status}}' -f name=ok"));
    assert!(
        status.starts_with("Up ") && status.ends_with(" (healthy)\n"),
        "{status:?}"
    );
    assert_eq!(ps_health(&b, "healthy"), ["ok"]);
    assert!(ps_health(&b, "none").is_empty());
    assert!(ps_health(&b, "starting").is_empty());
    // At most 5 results are kept.
    until("a sixth probe", || {
        let h = health(&b, "ok");
        (h["Log"].as_array().unwrap().len() == 5 && h["Log"][0]["Start"] != start).then_some(())
    });
    // Stopped: Docker reports the check's last status as unhealthy.
    b.ok(&["stop", "-t", "0", "ok"]);
    assert_eq!(health(&b, "ok")["Status"], "unhealthy");
    let status = b.ok(&argv!("ps -a --format '{{.Status}}' -f name=ok"));
    assert!(status.starts_with("Exited ("), "{status:?}");
    // A new start begins at `starting` again.
    b.ok(&["start", "ok"]);
    assert_eq!(health(&b, "ok")["Status"], "starting");
    wait_health(&b, "ok", "healthy");
    b.ok(&["rm", "-f", "ok"]);
    b.assert_clean(&[&id]);
}

#[test]
fn failures_past_the_retries_are_unhealthy() {
    let b = Session::new();
    let id = b.detach(&argv!(
        "--name sick --health-cmd 'echo failing >&2; exit 3' --health-interval 1s \
         --health-retries 2 busybox sleep 1000"
    ));
    let h = wait_health(&b, "sick", "unhealthy");
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    for l in h["Log"].as_array().unwrap() {
        assert_eq!(l["ExitCode"], 3);
        assert_eq!(l["Output"], "failing\n");
    }
    let status = b.ok(&argv!("ps --format '{{.Status}}' -f name=sick"));
    assert!(status.ends_with(" (unhealthy)\n"), "{status:?}");
    assert_eq!(ps_health(&b, "unhealthy"), ["sick"]);
    b.ok(&["rm", "-f", "sick"]);
    b.assert_clean(&[&id]);
}

#[test]
fn failures_in_the_start_period_do_not_count_and_the_first_success_ends_it() {
    let b = Session::new();
    // A start period of an hour, probed every second while starting; the interval after it
    // is an hour.
    let id = b.detach(&argv!(
        "--name slow --health-cmd 'test -e /tmp/ready' --health-interval 1h \
         --health-retries 1 --health-start-period 1h --health-start-interval 1s \
         busybox sleep 1000"
    ));
    assert_eq!(health(&b, "slow")["Status"], "starting");
    let h = until("three failed probes", || {
        let h = health(&b, "slow");
        (h["Log"].as_array().unwrap().len() >= 3).then_some(h)
    });
    assert_eq!(h["Status"], "starting");
    assert_eq!(h["FailingStreak"], 0);
    assert_eq!(h["Log"][0]["ExitCode"], 1);
    let status = b.ok(&argv!("ps --format '{{.Status}}' -f name=slow"));
    assert!(status.ends_with(" (health: starting)\n"), "{status:?}");
    assert_eq!(ps_health(&b, "starting"), ["slow"]);
    b.ok(&["exec", "slow", "touch", "/tmp/ready"]);
    wait_health(&b, "slow", "healthy");
    b.ok(&["rm", "-f", "slow"]);
    b.assert_clean(&[&id]);
}

#[test]
fn the_image_healthcheck_runs_and_no_healthcheck_disables_it() {
    let b = Session::new();
    put_image(
        &b.w.env,
        "checked:latest",
        &[Layer::gz(&busybox_tar())],
        serde_json::json!({
            "Env": [PATH_ENV],
            "Cmd": ["sleep", "1000"],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000u64, "Retries": 1},
        }),
    );
    let off = b.detach(&argv!("--name off --no-healthcheck checked"));
    let on = b.detach(&argv!("--name on checked"));
    assert_eq!(
        json(&b, "on", ".Config.Healthcheck"),
        serde_json::json!({"Test": ["CMD", "true"], "Interval": 1_000_000_000u64, "Retries": 1})
    );
    wait_health(&b, "on", "healthy");
    // Meanwhile (`off` started first) nothing probed `off`: it has no health at all.
    assert_eq!(health(&b, "off"), Value::Null);
    assert_eq!(
        b.inspect("off", "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
    let status = b.ok(&argv!("ps --format '{{.Status}}' -f name=off"));
    assert!(!status.contains('('), "{status:?}");
    assert_eq!(ps_health(&b, "none"), ["off"]);
    // A flag overrides the image's field, the rest is the image's.
    let more = b.detach(&argv!("--name more --health-retries 4 checked"));
    assert_eq!(
        json(&b, "more", ".Config.Healthcheck"),
        serde_json::json!({"Test": ["CMD", "true"], "Interval": 1_000_000_000u64, "Retries": 4})
    );
    b.ok(&["rm", "-f", "on", "off", "more"]);
    b.assert_clean(&[&on, &off, &more]);
}

#[test]
fn a_probe_past_its_timeout_fails_with_dockers_message() {
    let b = Session::new();
    let id = b.detach(&argv!(
        "--name hung --health-cmd 'sleep 100' --health-interval 1s --health-timeout 1s \
         --health-retries 1 busybox sleep 1000"
    ));
    let h = wait_health(&b, "hung", "unhealthy");
    assert_eq!(h["Log"][0]["ExitCode"], -1);
    assert_eq!(h["Log"][0]["Output"], "Health check exceeded timeout (1s)");
    b.ok(&["rm", "-f", "hung"]);
    b.assert_clean(&[&id]);
}

#[test]
fn bad_health_flags_are_refused_as_docker_refuses_them() {
    let b = Session::new();
    for (flags, message) in [
        (
            argv!("--no-healthcheck --health-cmd true"),
            "--no-healthcheck conflicts with --health-* options",
        ),
        (
            argv!("--health-retries -1"),
            "--health-retries cannot be negative",
        ),
        (
            argv!("--health-interval -1s"),
            "--health-interval cannot be negative",
        ),
        (
            argv!("--health-timeout soon"),
            "invalid argument \"soon\" for \"--health-timeout\" flag: time: invalid duration \"soon\"",
        ),
    ] {
        let mut args = vec!["run", "-d"];
        args.extend(flags);
        args.extend(["busybox", "true"]);
        let r = b.berth(&args).fails_with(125);
        assert!(r.stderr.contains(message), "{args:?}: {}", r.stderr);
    }
    let r = b.ok(&argv!("ps -a -q"));
    assert_eq!(r, "");
    // (Its exit code is the output rule's, being changed to Docker's 1 beside this work.)
    let r = b.berth(&argv!("ps -f health=sick"));
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr
            .contains("Unrecognised filter value for health: sick"),
        "{}",
        r.stderr
    );
    b.assert_clean(&[]);
}

#[test]
fn a_foreground_run_is_probed_too() {
    let b = Session::new();
    // The command waits for the probe's mark: it ends only if its check ran while it ran in
    // the foreground (no -d, no -t).
    let r = b
        .berth(&[
            "run",
            "--name",
            "fgh",
            "--health-cmd",
            "touch /tmp/probed",
            "--health-interval",
            "1s",
            "busybox",
            "sh",
            "-c",
            "while [ ! -f /tmp/probed ]; do sleep 0.05; done; echo probed",
        ])
        .success();
    assert_eq!(r.stdout, "probed\n");
    let h = health(&b, "fgh");
    assert!(
        h["FailingStreak"] == 0 && !h["Log"].as_array().unwrap().is_empty(),
        "{h}"
    );
    b.ok(&["rm", "fgh"]);
    b.assert_clean(&[]);
}

#[test]
fn log_drivers_that_need_a_missing_host_service_are_refused_by_name() {
    let b = Session::new();
    for (driver, socket) in [
        ("syslog", "/dev/log"),
        ("journald", "/run/systemd/journal/socket"),
    ] {
        if std::path::Path::new(socket).exists() {
            // The host has it: the driver works (run_logdrivers.rs), nothing to refuse.
            continue;
        }
        let r = b
            .berth(&argv!("run --log-driver {} busybox true", driver))
            .fails_with(125);
        assert!(
            r.stderr.contains("needs") && r.stderr.contains(socket),
            "{}",
            r.stderr
        );
    }
    let r = b
        .berth(&argv!("run --log-driver nosuch busybox true"))
        .fails_with(125);
    assert!(
        r.stderr
            .contains("logger: no log driver named 'nosuch' is registered"),
        "{}",
        r.stderr
    );
    b.assert_clean(&[]);
}
