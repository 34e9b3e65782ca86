//! berth-spawn as the pipeline's last stage, in the foreground: what a default container may
//! and may not do, the Docker flags that change it, and exit codes.

use berth_e2e::argv;
use berth_e2e::world::World;

const SCRIPT: &str = "ps -o pid,comm; \
    mount -t tmpfs none /tmp && echo MOUNT-OK || echo MOUNT-FAILED; \
    echo KCORE=$(cat /proc/kcore 2>/dev/null | wc -c) TIMER_LIST=$(cat /proc/timer_list | wc -c); \
    grep CapEff /proc/self/status; \
    unshare -U true 2>&1 && echo UNSHARE-OK || echo UNSHARE-FAILED; \
    touch /probe && echo WRITE-OK || echo WRITE-FAILED; \
    hostname";

#[test]
fn a_default_container_is_confined_like_docker() {
    let w = World::new();
    let (id, r) = w.run_container("confined", &[], &["sh", "-c", SCRIPT]);
    let r = r.success();
    let out = &r.stdout;
    // ps: only the container's own processes (sh, ps).
    let pids: Vec<&str> = out
        .lines()
        .skip(1)
        .take_while(|l| !l.contains("MOUNT"))
        .collect();
    assert!(
        pids.len() <= 3,
        "ps shows more than the container's processes:\n{out}"
    );
    assert!(
        out.lines().nth(1).unwrap().trim_start().starts_with("1 "),
        "{out}"
    );
    assert!(out.contains("MOUNT-FAILED"), "mount worked:\n{out}");
    // /proc/kcore is masked (this kernel may not have one); /proc/timer_list, which the host
    // has, reads empty.
    assert!(
        out.contains("KCORE=0 TIMER_LIST=0"),
        "masked paths are readable:\n{out}"
    );
    assert!(std::fs::read("/proc/timer_list").is_ok_and(|b| !b.is_empty()));
    assert!(out.contains("CapEff:\t00000000a80425fb"), "{out}");
    assert!(
        out.contains("UNSHARE-FAILED") && out.contains("Operation not permitted"),
        "{out}"
    );
    assert!(out.contains("WRITE-OK"), "{out}");
    assert!(out.contains(&id[..12]), "hostname: {out}");
    let rec = w.record(&id);
    assert_eq!(rec["state"]["status"], "exited");
    assert_eq!(rec["state"]["exit_code"], 0);
    assert!(
        w.container_cgroups().is_empty(),
        "{:?}",
        w.container_cgroups()
    );
    assert!(!w.paths().run_container(&id).exists());
}

#[test]
fn flags_loosen_and_tighten_the_confinement() {
    let w = World::new();
    let (_, r) = w.run_container(
        "unconfined",
        &["--security-opt", "seccomp=unconfined"],
        &["sh", "-c", SCRIPT],
    );
    assert!(r.success().stdout.contains("UNSHARE-OK"));
    let (_, r) = w.run_container("priv", &["--privileged"], &["sh", "-c", SCRIPT]);
    let out = r.success().stdout;
    assert!(out.contains("MOUNT-OK"), "{out}");
    assert!(!out.contains("CapEff:\t00000000a80425fb"), "{out}");
    let (_, r) = w.run_container(
        "nocaps",
        &["--cap-drop", "ALL", "--cap-add", "KILL"],
        &["grep", "CapEff", "/proc/self/status"],
    );
    assert!(r.success().stdout.contains("CapEff:\t0000000000000020"));
    let (id, rec) = w.container("ro", &["sh", "-c", SCRIPT]);
    berth_e2e::world::edit_config(&w.paths().container(&id), |c| {
        c["root"]["readonly"] = true.into()
    });
    let out = w.start(&rec, &[]).success().stdout;
    assert!(
        out.contains("WRITE-FAILED"),
        "--read-only root is writable:\n{out}"
    );
    let (_, r) = w.run_container(
        "cpuset",
        &["--cpuset-cpus", "0"],
        &["grep", "Cpus_allowed_list", "/proc/self/status"],
    );
    assert!(r.success().stdout.contains("Cpus_allowed_list:\t0\n"));
}

#[test]
fn exit_codes_propagate() {
    let w = World::new();
    for (args, code) in [
        (vec!["true"], 0),
        (vec!["sh", "-c", "exit 3"], 3),
        (vec!["/etc/passwd"], 126),
        (vec!["nosuchcommand"], 127),
        (vec!["--init", "sh", "-c", "kill -9 $$"], 137),
    ] {
        // As PID 1, a shell cannot be SIGKILLed from inside; with --init it is not PID 1.
        let (flags, args) = match args.split_first() {
            Some((&"--init", rest)) => (vec!["--init"], rest.to_vec()),
            _ => (vec![], args),
        };
        let (id, r) = w.run_container(&format!("exit{code}"), &flags, &args);
        let r = r.fails_with_or_ok(code);
        if code == 127 {
            assert!(
                r.stderr.contains("executable file not found in $PATH"),
                "{}",
                r.stderr
            );
        }
        assert_eq!(w.record(&id)["state"]["exit_code"], code, "{args:?}");
    }
    assert!(w.container_cgroups().is_empty());
}

#[test]
fn memory_and_pids_limits_hold() {
    let w = World::new();
    let (id, r) = w.run_container("hog", &["--memory", "32m"], &["tail", "/dev/zero"]);
    r.fails_with_or_ok(137);
    let rec = w.record(&id);
    assert_eq!(rec["state"]["oom_killed"], true, "{rec:#}");
    let (_, r) = w.run_container(
        "forky",
        &["--pids-limit", "8"],
        &argv!(
            "sh -c 'cat /sys/fs/cgroup/pids/pids.max; for i in $(seq 1 20); do sleep 30 & done'"
        ),
    );
    assert_ne!(r.code(), 0);
    assert!(r.stdout.starts_with("8\n"), "{}", r.stdout);
    assert!(
        r.stderr.contains("can't fork"),
        "pids limit did not hold: {}",
        r.stderr
    );
}

trait Code {
    fn fails_with_or_ok(self, code: i32) -> Self;
}

impl Code for berth_e2e::Run {
    fn fails_with_or_ok(self, code: i32) -> Self {
        if code == 0 {
            self.success()
        } else {
            self.fails_with(code)
        }
    }
}

#[test]
fn a_user_namespace_maps_root_away() {
    let w = World::new();
    let (_, rec) = w.container(
        "mapped",
        &argv!("sh -c 'id -u; cat /proc/self/uid_map; touch /etc/x || echo RO'"),
    );
    // The mapped root (host uid 100000) reaches its bundle although the store is private
    // (security_state.rs has the rest).
    let r = w.start(&rec, &["--userns", "100000:65536"]);
    let out = r.success().stdout;
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"));
    let map: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"]);
    // The image's files belong to the host's root, which is nobody in here.
    assert!(out.contains("RO"), "{out}");
}

#[test]
fn the_cgroup_view_is_the_same_built_by_berth_spawn_or_by_the_init() {
    // Without a user namespace berth-spawn builds the view and sends it with the go (it says
    // so at debug level); with one the init builds it itself (`init::mounts::view_tree`). The
    // container sees the same.
    let script = "ls /sys/fs/cgroup; cut -d' ' -f5,6 /proc/self/mountinfo | grep '^/sys/fs/cgroup' | sort; cat /sys/fs/cgroup/pids/pids.max; mkdir /sys/fs/cgroup/pids/x 2>/dev/null || echo RO";
    let w = World::new();
    let debug = ["--log-level", "debug", "--pids-limit", "9"];
    let (_, built) = w.run_container("sent", &debug, &argv!("sh -c {}", script));
    let built = built.success();
    const BUILT: &str = "built the cgroup view for the init";
    assert!(built.stderr.contains(BUILT), "{}", built.stderr);
    let sent = built.stdout;
    let (_, rec) = w.container("own", &argv!("sh -c {}", script));
    let own = w
        .start(&rec, &[&["--userns", "100000:65536"], &debug[..]].concat())
        .success();
    assert!(!own.stderr.contains(BUILT), "{}", own.stderr);
    assert_eq!(sent, own.stdout);
    let lines: Vec<&str> = sent.lines().collect();
    for name in ["pids", "memory", "devices"] {
        assert!(lines.contains(&name), "{sent}");
        let bind = format!("/sys/fs/cgroup/{name} ro,nosuid,nodev,noexec,relatime");
        assert!(lines.contains(&bind.as_str()), "{sent}");
    }
    assert!(
        lines.contains(&"/sys/fs/cgroup ro,nosuid,nodev,noexec,relatime"),
        "{sent}"
    );
    assert!(sent.ends_with("9\nRO\n"), "{sent}");
}
