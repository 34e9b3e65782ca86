//! `berth update`, as Docker's users type it: new limits for a running container (its cgroup
//! changed at once, `inspect` showing them, a restart keeping them), for a stopped one (the
//! record only, used at the next start), a new restart policy that the monitor of a running
//! container follows, several targets, and Docker's errors for bad combinations.

use berth_e2e::session::Session;
use berth_e2e::until;

/// What the container sees of its own cgroup limit: the v1 file, else the v2 one.
fn limit(b: &Session, name: &str, v1: &str, v2: &str) -> String {
    let script = format!("cat /sys/fs/cgroup/{v1} 2>/dev/null || cat /sys/fs/cgroup/{v2}");
    b.ok(&["exec", name, "sh", "-c", &script])
        .trim()
        .to_string()
}

fn memory(b: &Session, name: &str) -> String {
    limit(b, name, "memory/memory.limit_in_bytes", "memory.max")
}

fn pids(b: &Session, name: &str) -> String {
    limit(b, name, "pids/pids.max", "pids.max")
}

#[test]
fn update_changes_a_running_container_live_and_its_record() {
    let b = Session::new();
    let id = b.detach(&["--name", "up", "-m", "64m", "busybox", "sleep", "1000"]);
    assert_eq!(memory(&b, "up"), "67108864");
    // Docker prints each container as given; the cgroup changes at once.
    let out = b.ok(&[
        "update",
        "-m",
        "96m",
        "--pids-limit",
        "50",
        "--cpus",
        "0.5",
        "up",
    ]);
    assert_eq!(out, "up\n");
    assert_eq!(memory(&b, "up"), "100663296");
    assert_eq!(pids(&b, "up"), "50");
    // inspect shows the new values; the swap Docker derived at create (2 x 64m) stays.
    let t = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}";
    assert_eq!(b.inspect("up", t), "100663296 134217728 500000000 50");
    // A restart keeps them (the bundle's config has them too).
    assert_eq!(b.ok(&["restart", "-t", "0", "up"]), "up\n");
    assert_eq!(memory(&b, "up"), "100663296");
    assert_eq!(pids(&b, "up"), "50");
    // By id prefix, with the memory past the swap: both together.
    let out = b.ok(&["update", "-m", "200m", "--memory-swap", "400m", &id[..12]]);
    assert_eq!(out, format!("{}\n", &id[..12]));
    assert_eq!(memory(&b, "up"), "209715200");
    b.ok(&["rm", "-f", "up"]);
    b.assert_clean(&[&id]);
}

#[test]
fn update_of_a_stopped_container_is_used_at_its_next_start() {
    let b = Session::new();
    let out = b.ok(&[
        "create",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
    ]);
    let id = out.trim().to_string();
    assert_eq!(b.ok(&["update", "--pids-limit", "20", "later"]), "later\n");
    assert_eq!(b.inspect("later", "{{.HostConfig.PidsLimit}}"), "20");
    assert_eq!(b.ok(&["start", "-a", "later"]), "20\n");
    b.ok(&["rm", "later"]);
    b.assert_clean(&[&id]);
}

#[test]
fn a_new_restart_policy_is_followed_by_the_running_containers_monitor() {
    let b = Session::new();
    // Exits 3 once /tmp/go exists; started with Docker's default policy, no.
    let id = b.detach(&[
        "--name",
        "rp",
        "busybox",
        "sh",
        "-c",
        "while [ ! -f /tmp/go ]; do sleep 0.05; done; exit 3",
    ]);
    assert_eq!(b.ok(&["update", "--restart", "on-failure:2", "rp"]), "rp\n");
    assert_eq!(
        b.inspect(
            "rp",
            "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"
        ),
        "on-failure:2"
    );
    b.ok(&["exec", "rp", "touch", "/tmp/go"]);
    // Restarted twice (the file stays in its filesystem), then left exited with 3.
    until("two restarts, then exited", || {
        (b.inspect(
            "rp",
            "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}",
        ) == "2 exited 3")
            .then_some(())
    });
    b.ok(&["rm", "rp"]);
    b.assert_clean(&[&id]);
}

#[test]
fn update_acts_on_every_target_and_speaks_dockers_errors() {
    let b = Session::new();
    let a = b.detach(&["--name", "ua", "-m", "32m", "busybox", "sleep", "1000"]);
    let gone = b.detach(&["--rm", "--name", "gone", "busybox", "sleep", "1000"]);
    // Every target is tried; the failures come at the end, on stderr; exit 1.
    let r = b
        .berth(&["update", "--cpu-shares", "512", "ua", "nosuch", "gone"])
        .fails_with(1);
    assert_eq!(r.stdout, "ua\ngone\n");
    assert_eq!(
        r.stderr,
        "Error response from daemon: No such container: nosuch\n"
    );
    assert_eq!(b.inspect("gone", "{{.HostConfig.CpuShares}}"), "512");
    // docker/cli's own check, in its words (no "Error:").
    let r = b.berth(&["update", "ua"]).fails_with(1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "you must provide one or more flags when using this command\n"
    );
    // The daemon's checks of the request.
    let r = b.berth(&["update", "-m", "1m", "ua"]).fails_with(1);
    assert_eq!(
        r.stderr,
        "Error response from daemon: Minimum memory limit allowed is 6MB\n"
    );
    let r = b
        .berth(&["update", "-m", "64m", "--memory-swap", "32m", "ua"])
        .fails_with(1);
    assert_eq!(
        r.stderr,
        "Error response from daemon: Minimum memoryswap limit should be larger than memory limit, see usage\n"
    );
    // Against what is set: the swap Docker derived (64m) is below the new memory.
    let r = b.berth(&["update", "-m", "100m", "ua"]).fails_with(1);
    assert_eq!(
        r.stderr,
        format!(
            "Error response from daemon: Cannot update container {a}: Memory limit should be \
             smaller than already set memoryswap limit, update the memoryswap at the same time\n"
        )
    );
    b.ok(&["update", "--cpus", "1", "ua"]);
    let r = b
        .berth(&["update", "--cpu-quota", "20000", "ua"])
        .fails_with(1);
    assert_eq!(
        r.stderr,
        format!(
            "Error response from daemon: Cannot update container {a}: Conflicting options: CPU \
             Quota cannot be updated as NanoCPUs has already been set\n"
        )
    );
    // Nothing changed by the refused updates.
    assert_eq!(memory(&b, "ua"), "33554432");
    assert_eq!(b.inspect("ua", "{{.HostConfig.Memory}}"), "33554432");
    // --rm: only "no" is accepted as a policy.
    let r = b
        .berth(&["update", "--restart", "always", "gone"])
        .fails_with(1);
    assert_eq!(
        r.stderr,
        format!(
            "Error response from daemon: Cannot update container {gone}: Restart policy cannot \
             be updated because AutoRemove is enabled for the container\n"
        )
    );
    assert_eq!(b.ok(&["update", "--restart", "no", "gone"]), "gone\n");
    b.ok(&["rm", "-f", "ua", "gone"]);
    until("gone removed", || {
        b.container_ids().is_empty().then_some(())
    });
    b.assert_clean(&[&a, &gone]);
}
