//! The `run` flags of issue 15 as a user sees them, stdout piped: the effect inside the
//! container, the `.HostConfig` field Docker names, and Docker's refusals (exit 125, the flag
//! named). Each test removes what it made, even when it fails.

use std::path::PathBuf;

use berth_e2e::session::Session;

/// `inspect NAME` as JSON: the one container's document.
fn inspect(b: &Session, name: &str) -> serde_json::Value {
    b.berth(&["inspect", name]).success().json()[0].clone()
}

/// `run --rm ARGS...` that must succeed: its stdout.
#[track_caller]
fn run_rm(b: &Session, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    b.ok(&a)
}

/// `run --rm ARGS...` that berth refuses: exit 125, nothing on stdout, nothing left behind;
/// the error line.
#[track_caller]
fn refused(b: &Session, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    let r = b.berth(&a).fails_with(125);
    assert_eq!(r.stdout, "", "{args:?}");
    b.assert_clean(&[]);
    r.error_line()
}

#[test]
fn sysctls_in_the_containers_own_namespaces_only() {
    let b = Session::new();
    let out = run_rm(
        &b,
        &[
            "--network",
            "none",
            "--sysctl",
            "net.ipv4.ip_forward=1",
            "--sysctl",
            "kernel.shmmax=65536",
            "--sysctl",
            "fs.mqueue.msg_max=64",
            "busybox",
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/kernel/shmmax",
            "/proc/sys/fs/mqueue/msg_max",
        ],
    );
    assert_eq!(out, "1\n65536\n64\n");
    // The host's namespaces, and sysctls no namespace holds, are refused by name.
    let host_swappiness = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    for (args, says) in [
        (
            vec!["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
            "--sysctl net.ipv4.ip_forward: sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace",
        ),
        (
            vec!["--ipc", "host", "--sysctl", "kernel.shmmax=1"],
            "sysctl \"kernel.shmmax\" is not allowed in the hosts ipc namespace",
        ),
        (
            vec!["--sysctl", "vm.swappiness=1"],
            "sysctl \"vm.swappiness\" is not in a separate kernel namespace",
        ),
        (
            vec!["--sysctl", "kernel.shmmax"],
            "invalid argument \"kernel.shmmax\" for \"--sysctl\" flag",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["busybox", "true"]);
        let e = refused(&b, &a);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        host_swappiness,
        "the host's sysctl changed"
    );
    b.ok(&[
        "create",
        "--name",
        "sy",
        "--sysctl",
        "net.core.somaxconn=1024",
        "busybox",
    ]);
    let v = inspect(&b, "sy");
    assert_eq!(
        v["HostConfig"]["Sysctls"],
        serde_json::json!({"net.core.somaxconn": "1024"})
    );
    b.ok(&["rm", "sy"]);
    b.assert_clean(&[]);
}

#[test]
fn oom_and_swappiness_flags_reach_the_process_and_its_cgroup() {
    let b = Session::new();
    let out = run_rm(
        &b,
        &[
            "-m",
            "64m",
            "--oom-kill-disable",
            "--memory-swappiness",
            "10",
            "--oom-score-adj",
            "500",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/oom_score_adj /sys/fs/cgroup/memory/memory.swappiness; \
             grep oom_kill_disable /sys/fs/cgroup/memory/memory.oom_control",
        ],
    );
    assert_eq!(out, "500\n10\noom_kill_disable 1\n");
    b.ok(&[
        "create",
        "--name",
        "oo",
        "--oom-score-adj",
        "-200",
        "--oom-kill-disable",
        "--memory-swappiness",
        "0",
        "busybox",
    ]);
    let hc = inspect(&b, "oo")["HostConfig"].clone();
    assert_eq!(hc["OomScoreAdj"], -200);
    assert_eq!(hc["OomKillDisable"], true);
    assert_eq!(hc["MemorySwappiness"], 0);
    b.ok(&["rm", "oo"]);
    let e = refused(&b, &["--oom-score-adj", "1001", "busybox", "true"]);
    assert!(
        e.contains("range for oom score adj is [-1000, 1000]"),
        "{e}"
    );
    let e = refused(&b, &["--memory-swappiness", "101", "busybox", "true"]);
    assert!(e.contains("valid memory swappiness range is 0-100"), "{e}");
    b.assert_clean(&[]);
}

#[test]
fn shm_size_sizes_dev_shm() {
    let b = Session::new();
    let out = run_rm(
        &b,
        &["--shm-size", "128m", "busybox", "df", "-k", "/dev/shm"],
    );
    let line = out.lines().nth(1).unwrap_or_default().to_string();
    let total: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(total.get(1), Some(&"131072"), "{out}");
    let out = run_rm(&b, &["busybox", "df", "-k", "/dev/shm"]);
    assert!(out.contains(" 65536 "), "Docker's 64 MiB by default: {out}");
    b.ok(&["create", "--name", "mm", "--shm-size", "1g", "busybox"]);
    assert_eq!(inspect(&b, "mm")["HostConfig"]["ShmSize"], 1u64 << 30);
    b.ok(&["rm", "mm"]);
    let e = refused(&b, &["--shm-size", "lots", "busybox", "true"]);
    assert!(e.contains("\"--shm-size\""), "{e}");
    b.assert_clean(&[]);
}

#[test]
fn group_add_takes_names_from_the_containers_group_file_and_numbers_as_they_are() {
    let b = Session::new();
    let out = run_rm(
        &b,
        &[
            "--group-add",
            "daemon",
            "--group-add",
            "4242",
            "busybox",
            "id",
        ],
    );
    // As runc sets them: the groups the user is a member of (root is of none here), then
    // the added ones.
    assert_eq!(out, "uid=0(root) gid=0(root) groups=1(daemon),4242\n");
    let e = refused(&b, &["--group-add", "nosuchgroup", "busybox", "true"]);
    assert!(
        e.contains("unable to find group nosuchgroup: no matching entries in group file"),
        "{e}"
    );
    b.ok(&["create", "--name", "gg", "--group-add", "daemon", "busybox"]);
    assert_eq!(
        inspect(&b, "gg")["HostConfig"]["GroupAdd"],
        serde_json::json!(["daemon"])
    );
    b.ok(&["rm", "gg"]);
    b.assert_clean(&[]);
}

/// Removes a cgroup parent the test named, in every hierarchy, when the test ends.
struct ParentGuard(String);

impl ParentGuard {
    fn dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join(&self.0))
            .filter(|p| p.is_dir())
            .collect()
    }
}

impl Drop for ParentGuard {
    fn drop(&mut self) {
        for d in self.dirs() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
fn cgroup_parent_and_cgroup_namespace() {
    let b = Session::new();
    let parent = ParentGuard(format!("berth-test-parent-{}", std::process::id()));
    let out = run_rm(
        &b,
        &[
            "--cgroup-parent",
            &format!("/{}", parent.0),
            "--cgroupns",
            "host",
            "busybox",
            "cat",
            "/proc/self/cgroup",
        ],
    );
    let mem = out
        .lines()
        .find(|l| l.contains(":memory:"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(mem.contains(&format!(":memory:/{}/", parent.0)), "{out}");
    // Its own cgroup went with it; the parent stays, as with Docker.
    for d in parent.dirs() {
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .collect();
        assert!(left.is_empty(), "{}: {left:?}", d.display());
    }
    let private = run_rm(
        &b,
        &[
            "--cgroupns",
            "private",
            "busybox",
            "cat",
            "/proc/self/cgroup",
        ],
    );
    assert!(private.lines().all(|l| l.ends_with(":/")), "{private}");
    // Docker's default: private where cgroup v2 alone is mounted, host otherwise.
    let v2_only = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/sys/fs/cgroup") && l.contains(" - cgroup2 "));
    let default = run_rm(&b, &["busybox", "cat", "/proc/self/cgroup"]);
    assert_eq!(
        default.lines().all(|l| l.ends_with(":/")),
        v2_only,
        "{default}"
    );
    b.ok(&[
        "create",
        "--name",
        "cg",
        "--cgroup-parent",
        "/x/y",
        "busybox",
    ]);
    let hc = inspect(&b, "cg")["HostConfig"].clone();
    assert_eq!(hc["CgroupParent"], "/x/y");
    assert_eq!(hc["CgroupnsMode"], if v2_only { "private" } else { "host" });
    b.ok(&["rm", "cg"]);
    let e = refused(&b, &["--cgroupns", "shared", "busybox", "true"]);
    assert!(
        e.contains("invalid --cgroupns \"shared\": use host or private"),
        "{e}"
    );
    let e = refused(&b, &["--cgroup-parent", "../up", "busybox", "true"]);
    assert!(e.contains("invalid --cgroup-parent"), "{e}");
    b.assert_clean(&[]);
}

#[test]
fn device_cgroup_rules_let_a_device_through() {
    let b = Session::new();
    let probe = "mknod /tmp/d c 42 0 && cat /tmp/d 2>&1; true";
    // Without the rule the device cgroup refuses the open; with it the kernel finds no
    // driver for 42:0, so the open gets past the cgroup.
    let denied = run_rm(&b, &["busybox", "sh", "-c", probe]);
    assert!(denied.contains("Operation not permitted"), "{denied}");
    let allowed = run_rm(
        &b,
        &[
            "--device-cgroup-rule",
            "c 42:* rmw",
            "busybox",
            "sh",
            "-c",
            probe,
        ],
    );
    assert!(allowed.contains("No such device"), "{allowed}");
    let e = refused(&b, &["--device-cgroup-rule", "q 1:2 r", "busybox", "true"]);
    assert!(e.contains("invalid device cgroup rule \"q 1:2 r\""), "{e}");
    b.assert_clean(&[]);
}

/// A whole block device of this host (not a loop or RAM disk), and its numbers.
fn block_device() -> (String, String) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("ram"))
        .collect();
    names.sort();
    for n in names {
        let dev = format!("/dev/{n}");
        if let Ok(m) = std::fs::metadata(&dev)
            && m.file_type().is_block_device()
        {
            let rdev = m.rdev();
            return (dev, format!("{}:{}", libc::major(rdev), libc::minor(rdev)));
        }
    }
    panic!("this host has no block device under /sys/block");
}

#[test]
fn block_io_throttles_reach_the_blkio_cgroup() {
    let b = Session::new();
    let (dev, nums) = block_device();
    let out = run_rm(
        &b,
        &[
            "--device-read-bps",
            &format!("{dev}:1mb"),
            "--device-write-bps",
            &format!("{dev}:2mb"),
            "--device-read-iops",
            &format!("{dev}:300"),
            "--device-write-iops",
            &format!("{dev}:400"),
            "busybox",
            "sh",
            "-c",
            "cd /sys/fs/cgroup/blkio && cat blkio.throttle.read_bps_device \
             blkio.throttle.write_bps_device blkio.throttle.read_iops_device \
             blkio.throttle.write_iops_device",
        ],
    );
    assert_eq!(
        out,
        format!("{nums} 1048576\n{nums} 2097152\n{nums} 300\n{nums} 400\n")
    );
    b.ok(&[
        "create",
        "--name",
        "tt",
        "--device-read-bps",
        &format!("{dev}:1mb"),
        "--device-write-iops",
        &format!("{dev}:400"),
        "busybox",
    ]);
    let hc = inspect(&b, "tt")["HostConfig"].clone();
    assert_eq!(
        hc["BlkioDeviceReadBps"],
        serde_json::json!([{"Path": dev, "Rate": 1048576}])
    );
    assert_eq!(
        hc["BlkioDeviceWriteIOps"],
        serde_json::json!([{"Path": dev, "Rate": 400}])
    );
    b.ok(&["rm", "tt"]);
    for (args, says) in [
        (
            vec!["--device-read-bps", "/dev/null:1mb"],
            "--device-read-bps: /dev/null is not a block device",
        ),
        (
            vec!["--device-write-bps", "vda:1mb"],
            "bad format for device path: vda:1mb",
        ),
        (
            vec!["--device-read-iops", "/dev/vda:lots"],
            "invalid rate for device: /dev/vda:lots",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["busybox", "true"]);
        let e = refused(&b, &a);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    b.assert_clean(&[]);
}

/// `--blkio-weight-device` needs CFQ's or BFQ's per-device weight file: where the blkio
/// cgroup has none (this kernel's), berth refuses it naming the flag, as the issue asks.
#[test]
fn blkio_weight_device_is_applied_or_refused_by_name() {
    let b = Session::new();
    let (dev, nums) = block_device();
    let args = [
        "--blkio-weight-device",
        &format!("{dev}:300"),
        "busybox",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/blkio/blkio*weight_device",
    ];
    let mut a = vec!["run", "--rm"];
    a.extend(args);
    let r = b.berth(&a);
    if r.code() == 0 {
        assert!(r.stdout.contains(&format!("{nums} 300")), "{}", r.stdout);
    } else {
        // No weight file (CFQ is gone), or BFQ's, which refuses a device BFQ does not
        // schedule: either way the error names the flag.
        let r = r.fails_with(125);
        let e = r.error_line();
        assert!(
            e.contains("--blkio-weight-device (linux.resources.blockIO.weightDevice[0].weight)"),
            "{e}"
        );
    }
    b.assert_clean(&[]);
    let e = refused(
        &b,
        &[
            "--blkio-weight-device",
            &format!("{dev}:5"),
            "busybox",
            "true",
        ],
    );
    assert!(e.contains("invalid weight for device"), "{e}");
    b.assert_clean(&[]);
}

/// The real-time CPU flags: written to cpu.rt_* where the kernel has real-time group
/// scheduling and the parent cgroup has a budget to give; otherwise the kernel's refusal,
/// naming the flag.
#[test]
fn cpu_realtime_flags_are_written_or_refused_by_name() {
    let b = Session::new();
    let r = b.berth(&[
        "run",
        "--rm",
        "--cpu-rt-period",
        "100000",
        "--cpu-rt-runtime",
        "1000",
        "busybox",
        "cat",
        "/sys/fs/cgroup/cpu/cpu.rt_period_us",
        "/sys/fs/cgroup/cpu/cpu.rt_runtime_us",
    ]);
    if r.code() == 0 {
        assert_eq!(r.stdout, "100000\n1000\n");
    } else {
        let r = r.fails_with(125);
        assert!(
            r.error_line().contains("--cpu-rt-"),
            "the error names the flag: {}",
            r.stderr
        );
    }
    let e = refused(
        &b,
        &[
            "--cpu-rt-period",
            "1000",
            "--cpu-rt-runtime",
            "2000",
            "busybox",
            "true",
        ],
    );
    assert!(
        e.contains("--cpu-rt-runtime cannot be higher than --cpu-rt-period"),
        "{e}"
    );
    b.ok(&[
        "create",
        "--name",
        "rt",
        "--cpu-rt-runtime",
        "950",
        "busybox",
    ]);
    assert_eq!(inspect(&b, "rt")["HostConfig"]["CpuRealtimeRuntime"], 950);
    b.ok(&["rm", "rt"]);
    b.assert_clean(&[]);
}

#[test]
fn label_files_and_annotations() {
    let b = Session::new();
    let f = b.w.env.dir().join("labels");
    std::fs::write(&f, "# a comment\n\na=1\nb=from-file\n  c\n").unwrap();
    b.ok(&[
        "create",
        "--name",
        "ll",
        "--label-file",
        f.to_str().unwrap(),
        "--label",
        "b=2",
        "--annotation",
        "org.example.key=v",
        "busybox",
    ]);
    let v = inspect(&b, "ll");
    assert_eq!(v["Config"]["Labels"]["a"], "1");
    assert_eq!(
        v["Config"]["Labels"]["b"], "2",
        "--label wins over the file"
    );
    assert_eq!(v["Config"]["Labels"]["c"], "");
    assert_eq!(
        v["HostConfig"]["Annotations"],
        serde_json::json!({"org.example.key": "v"})
    );
    // Passed through to the OCI runtime in config.json.
    let id = v["Id"].as_str().unwrap().to_string();
    let cfg: serde_json::Value = serde_json::from_slice(
        &std::fs::read(b.w.paths().containers().join(&id).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cfg["annotations"]["org.example.key"], "v");
    b.ok(&["rm", "ll"]);
    std::fs::write(&f, "bad key=1\n").unwrap();
    let e = refused(
        &b,
        &["--label-file", f.to_str().unwrap(), "busybox", "true"],
    );
    assert!(e.contains("variable 'bad key' contains whitespaces"), "{e}");
    let e = refused(
        &b,
        &["--label-file", "/nonexistent/labels", "busybox", "true"],
    );
    assert!(
        e.contains("cannot read label file /nonexistent/labels"),
        "{e}"
    );
    b.assert_clean(&[]);
}

#[test]
fn attach_picks_the_streams_of_a_foreground_run() {
    let b = Session::new();
    let cmd = ["busybox", "sh", "-c", "echo out; echo err >&2"];
    for (streams, out, err) in [
        (vec!["-a", "stdout"], "out\n", ""),
        (vec!["-a", "stderr"], "", "err\n"),
        (vec!["-a", "STDOUT", "--attach", "stderr"], "out\n", "err\n"),
        (vec![], "out\n", "err\n"),
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(streams.iter().copied());
        a.extend(cmd);
        let r = b.berth(&a).success();
        assert_eq!(
            (r.stdout.as_str(), r.stderr.as_str()),
            (out, err),
            "{streams:?}"
        );
    }
    let e = refused(&b, &["-a", "stdio", "busybox", "true"]);
    assert!(
        e.contains("valid streams are STDIN, STDOUT and STDERR"),
        "{e}"
    );
    b.assert_clean(&[]);
}

#[test]
fn lxc_conf_maps_cgroup_keys_to_their_flags() {
    let b = Session::new();
    // The seed's chapter 6.
    let r = b
        .berth(&[
            "run",
            "--rm",
            "--lxc-conf=lxc.cgroup.cpuset.cpus=0",
            "--lxc-conf",
            "lxc.cgroup.memory.limit_in_bytes=64m",
            "busybox",
            "cat",
            "/sys/fs/cgroup/cpuset/cpuset.cpus",
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        ])
        .success();
    assert_eq!(r.stdout, "0\n67108864\n");
    assert!(
        r.stderr.contains(
            "note: --lxc-conf lxc.cgroup.cpuset.cpus is --cpuset-cpus=0 (Docker removed --lxc-conf in 1.10)"
        ) && r.stderr.contains("--lxc-conf lxc.cgroup.memory.limit_in_bytes is --memory=64m"),
        "{}",
        r.stderr
    );
    let out = b.ok(&[
        "run",
        "--dry-run",
        "--lxc-conf",
        "lxc.cgroup.cpu.shares=512",
        "busybox",
    ]);
    assert!(out.contains("--cpu-shares=512"), "{out}");
    let e = refused(
        &b,
        &["--lxc-conf", "lxc.aa_profile=unconfined", "busybox", "true"],
    );
    assert!(
        e.contains("--lxc-conf lxc.aa_profile has no equivalent in berth"),
        "{e}"
    );
    let e = refused(
        &b,
        &["--lxc-conf", "lxc.cgroup.cpuset.cpus", "busybox", "true"],
    );
    assert!(e.contains("use KEY=VALUE"), "{e}");
    b.assert_clean(&[]);
}

#[test]
fn flags_without_a_linux_meaning_are_refused_with_the_reason() {
    let b = Session::new();
    for (args, says) in [
        (
            vec!["--gpus", "all"],
            "--gpus is not supported by berth: no GPU container toolkit here",
        ),
        (
            vec!["--kernel-memory", "64m"],
            "--kernel-memory is not supported by berth: kernel memory limits were removed from the kernel",
        ),
        (
            vec!["--storage-opt", "size=1g"],
            "--storage-opt is not supported by berth",
        ),
        (
            vec!["--cpu-count", "2"],
            "--cpu-count is not supported by berth: it is a Windows-only flag",
        ),
        (
            vec!["--isolation", "hyperv"],
            "invalid isolation \"hyperv\": on Linux only 'default' is supported",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["busybox", "true"]);
        let e = refused(&b, &a);
        assert!(e.contains(says), "{args:?}: {e}");
    }
    // `--isolation default` is Docker's own value on Linux.
    assert_eq!(
        run_rm(&b, &["--isolation", "default", "busybox", "echo", "ok"]),
        "ok\n"
    );
    b.assert_clean(&[]);
}

#[test]
fn relative_bind_sources_resolve_against_the_current_directory() {
    let b = Session::new();
    let cwd = b.w.env.dir().join("project");
    std::fs::create_dir_all(cwd.join("data")).unwrap();
    std::fs::write(cwd.join("data/f"), "from the host\n").unwrap();
    let run_in = |args: &[&str]| {
        let out = b
            .cmd("berth")
            .args(args)
            .current_dir(&cwd)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for spec in [
        vec!["-v", "./data:/x:ro"],
        vec!["-v", ".:/x"],
        vec!["--mount", "type=bind,src=./data,dst=/x"],
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(spec.iter().copied());
        a.extend([
            "busybox",
            "sh",
            "-c",
            "cat /x/f 2>/dev/null || cat /x/data/f",
        ]);
        let (code, out, err) = run_in(&a);
        assert_eq!(
            (code, out.as_str()),
            (Some(0), "from the host\n"),
            "{spec:?}: {err}"
        );
    }
    // Docker's rule: only a source starting with `.` is a relative path; `~` and `a/b` are
    // refused, and `--mount` takes `./` and `.` only.
    for spec in [
        vec!["-v", "data/sub:/x"],
        vec!["-v", "~/data:/x"],
        vec!["--mount", "type=bind,src=data,dst=/x"],
    ] {
        let mut a = vec!["run", "--rm"];
        a.extend(spec.iter().copied());
        a.extend(["busybox", "true"]);
        let (code, _, err) = run_in(&a);
        assert_eq!(code, Some(125), "{spec:?}: {err}");
        assert!(err.contains("relative"), "{spec:?}: {err}");
    }
    b.assert_clean(&[]);
}

#[test]
fn exec_env_file_and_privileged() {
    let b = Session::new();
    let id = b.detach(&["--name", "ex", "busybox", "sleep", "1000"]);
    let f = b.w.env.dir().join("env");
    std::fs::write(&f, "# comment\nA=from-file\nB=file\n").unwrap();
    let out = b.ok(&[
        "exec",
        "--env-file",
        f.to_str().unwrap(),
        "-e",
        "B=flag",
        "ex",
        "sh",
        "-c",
        "echo $A $B",
    ]);
    assert_eq!(
        out, "from-file flag\n",
        "-e wins over the file, as in Docker"
    );
    let caps = |args: &[&str]| {
        let mut a = vec!["exec"];
        a.extend_from_slice(args);
        a.extend(["ex", "grep", "CapEff", "/proc/self/status"]);
        b.ok(&a)
    };
    let plain = caps(&[]);
    let privileged = caps(&["--privileged"]);
    assert_eq!(plain, "CapEff:\t00000000a80425fb\n");
    let all = u64::from_str_radix(privileged.trim().trim_start_matches("CapEff:\t"), 16).unwrap();
    assert!(all.count_ones() >= 40, "{privileged}");
    let r = b.berth(&["exec", "--env-file", "/nonexistent/env", "ex", "true"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains("cannot read env file /nonexistent/env"),
        "{}",
        r.stderr
    );
    b.ok(&["rm", "-f", "ex"]);
    b.assert_clean(&[&id]);
}

#[test]
fn sig_proxy_false_leaves_the_container_alone() {
    let b = Session::new();
    let script = "trap 'echo got TERM; exit 3' TERM; echo ready; \
                  while [ ! -e /tmp/go ]; do sleep 0.1; done; echo done";
    // Docker's default proxies the signal: the container's trap runs.
    let child = b
        .cmd("berth")
        .args(["run", "--name", "p1", "busybox", "sh", "-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let running = |name: &str| {
        let r = b.berth(&["inspect", "-f", "{{.State.Running}}", name]);
        (r.code() == 0 && r.stdout.trim() == "true").then_some(())
    };
    berth_e2e::until("p1 running", || running("p1"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("got TERM"),
        "{out:?}"
    );
    // --sig-proxy=false: the signal ends berth-run alone; the container runs on, as with
    // Docker's client.
    let mut child = b
        .cmd("berth")
        .args([
            "run",
            "--sig-proxy=false",
            "--name",
            "p2",
            "busybox",
            "sh",
            "-c",
            script,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    berth_e2e::until("p2 running", || running("p2"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::SIGTERM,
    )
    .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(st.code(), None, "berth-run died of the signal: {st:?}");
    assert_eq!(
        b.ok(&["inspect", "-f", "{{.State.Running}}", "p2"]),
        "true\n"
    );
    b.ok(&["exec", "p2", "touch", "/tmp/go"]);
    assert_eq!(b.ok(&["wait", "p2"]), "0\n");
    b.ok(&["rm", "-f", "p1", "p2"]);
    b.assert_clean(&[]);
}

/// `--runtime runc`: the last stage hands the bundle to that OCI runtime, whose
/// state is under the run root while the container runs; the exit code and output are the
/// container's. An unknown runtime is Docker's error.
#[test]
fn runtime_runs_the_bundle_with_another_oci_runtime() {
    let b = Session::new();
    // runc only: crun (1.8) refuses hybrid cgroup hosts such as this one by itself.
    for rt in std::iter::once("runc") {
        assert!(
            berth_e2e::have(rt),
            "{rt} is not installed (scripts/deps.sh)"
        );
        let r = b
            .berth(&[
                "run",
                "--rm",
                "--runtime",
                rt,
                "busybox",
                "sh",
                "-c",
                "echo pid $$; exit 7",
            ])
            .fails_with(7);
        assert_eq!(r.stdout, "pid 1\n", "{rt}: {}", r.stderr);
        // While it runs, the runtime lists it under berth's run root.
        let mut child = b
            .cmd("berth")
            .args([
                "run",
                "--name",
                "rt1",
                "--runtime",
                rt,
                "busybox",
                "sh",
                "-c",
                "while [ ! -e /tmp/go ]; do sleep 0.1; done",
            ])
            .spawn()
            .unwrap();
        let root = b.w.paths().run.join("runtimes").join(rt);
        berth_e2e::until("the runtime lists it", || {
            let out = std::process::Command::new(rt)
                .arg("--root")
                .arg(&root)
                .arg("list")
                .output()
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("running")
                .then_some(())
        });
        // berth records the process once it has seen the runtime report it running: a moment
        // after the runtime lists it.
        let v = berth_e2e::until("the record to say running", || {
            let v = inspect(&b, "rt1");
            (v["State"]["Running"] == true).then_some(v)
        });
        assert_eq!(v["HostConfig"]["Runtime"], rt);
        let pid = v["State"]["Pid"].as_i64().unwrap();
        std::fs::write(format!("/proc/{pid}/root/tmp/go"), "").unwrap();
        assert!(child.wait().unwrap().success());
        b.ok(&["rm", "rt1"]);
    }
    let e = refused(&b, &["--runtime", "nosuch", "busybox", "true"]);
    assert!(e.contains("unknown or invalid runtime name: nosuch"), "{e}");
    let e = refused(&b, &["--runtime", "runc", "-t", "busybox", "true"]);
    assert!(
        e.contains("--runtime runc runs foreground containers without -t"),
        "{e}"
    );
    b.assert_clean(&[]);
}
