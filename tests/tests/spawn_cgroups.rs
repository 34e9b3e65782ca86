//! berth-spawn's cgroups, driven as an OCI runtime with hand-written config.json files: each
//! field of `linux.resources` either lands in its cgroup file (read back here, from the host,
//! wherever this host keeps the controller: v1, v2, or v2 beside v1 on a hybrid host) or is
//! refused at create with an error that names it. Either way nothing is left behind.
//!
//! The "v2 view" runs berth-spawn in a private mount namespace where /sys/fs/cgroup is the
//! host's cgroup2 hierarchy alone: on a hybrid host that is a pure v2 host for berth-spawn
//! (same kernel objects, no v1), so the v2 paths are tested here too.

mod spawn_cgroups_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_e2e::world::World;
use serde_json::{Value, json};
use spawn_cgroups_support::{
    Layout, Spawn, SubtreeControl, bundle, page_sizes, probe_v1, resources,
};

/// Asserts the hugetlb limits of each host page size, then an invalid size's refusal.
fn hugetlb_round(s: &Spawn, tag: &str) {
    let sizes = page_sizes();
    let limits: Vec<Value> = sizes
        .iter()
        .map(|p| json!({"pageSize": p, "limit": 2147483648_u64}))
        .collect();
    let b = bundle(
        s.w,
        &format!("huge-{tag}"),
        &["true"],
        resources(json!({"hugepageLimits": limits})),
    );
    let id = format!("huge-{tag}");
    s.create(&b, &id).unwrap();
    let (dir, v2) = s.layout.dir("hugetlb", "hugetlb", &s.rel(&id)).unwrap();
    for p in &sizes {
        let file = if v2 {
            format!("hugetlb.{p}.max")
        } else {
            format!("hugetlb.{p}.limit_in_bytes")
        };
        let got = fs::read_to_string(dir.join(&file)).unwrap();
        assert_eq!(got.trim(), "2147483648", "{}", dir.join(&file).display());
    }
    s.delete(&id);
    let b = bundle(
        s.w,
        &format!("huge3-{tag}"),
        &["true"],
        resources(json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 314572800}]})),
    );
    let line = s.refused(
        &b,
        &format!("huge3-{tag}"),
        107,
        "linux.resources.hugepageLimits[0].pageSize",
    );
    assert!(
        line.contains(&format!(
            "this host has no 3MB huge pages (it has {})",
            sizes.join(", ")
        )),
        "{line}"
    );
}

#[test]
fn hugetlb_limits_land_where_the_controller_is_on_v1_v2_and_hybrid() {
    let _restore = SubtreeControl::save();
    let w = World::new();
    if page_sizes().is_empty() {
        eprintln!("skipped: this kernel has no huge pages (/sys/kernel/mm/hugepages is empty)");
        return;
    }
    let host = Spawn::host(&w);
    // On this hybrid host hugetlb lives in v2 beside the v1 controllers.
    if host.layout.dir("hugetlb", "hugetlb", "").is_some() {
        hugetlb_round(&host, "host");
    } else {
        eprintln!("skipped on the host view: no hierarchy holds the hugetlb controller");
    }
    match Spawn::v2(&w) {
        Some(v2) if v2.layout.v2_holds("hugetlb") => hugetlb_round(&v2, "v2"),
        Some(_) => eprintln!("skipped on the v2 view: hugetlb is bound to a v1 hierarchy"),
        None => {}
    }
}

#[test]
fn memory_fields_land_in_their_files_or_are_refused_by_name() {
    let w = World::new();
    let s = Spawn::host(&w);
    let Some((_, v2)) = s.layout.dir("memory", "memory", "") else {
        eprintln!("skipped: this host has no memory cgroup controller");
        return;
    };
    let limit = 50593792_i64;
    let mut mem = json!({"limit": limit, "reservation": limit / 2, "swap": limit * 2});
    if !v2 {
        mem["kernelTCP"] = json!(limit);
        mem["swappiness"] = json!(10);
        mem["disableOOMKiller"] = json!(true);
        mem["useHierarchy"] = json!(true);
    }
    let b = bundle(&w, "mem", &["true"], resources(json!({"memory": mem})));
    s.create(&b, "mem").unwrap();
    let r = |f: &str| s.read("mem", "memory", "memory", f);
    if v2 {
        assert_eq!(r("memory.max"), limit.to_string());
        assert_eq!(r("memory.low"), (limit / 2).to_string());
        assert_eq!(r("memory.swap.max"), limit.to_string());
    } else {
        assert_eq!(r("memory.limit_in_bytes"), limit.to_string());
        assert_eq!(r("memory.soft_limit_in_bytes"), (limit / 2).to_string());
        assert_eq!(r("memory.memsw.limit_in_bytes"), (limit * 2).to_string());
        assert_eq!(r("memory.kmem.tcp.limit_in_bytes"), limit.to_string());
        assert_eq!(r("memory.swappiness"), "10");
        assert!(r("memory.oom_control").contains("oom_kill_disable 1"));
        assert_eq!(r("memory.use_hierarchy"), "1");
    }
    s.delete("mem");
    // What v2 has no file for is refused there, naming the field.
    if let Some(v2) = Spawn::v2(&w) {
        let b = bundle(
            &w,
            "swappy",
            &["true"],
            resources(json!({"memory": {"swappiness": 10}})),
        );
        let line = v2.refused(&b, "swappy", 107, "linux.resources.memory");
        let why = if v2.layout.v2_holds("memory") {
            "memory.swappiness cannot be applied on this host: cgroup v2 has no per-cgroup swappiness"
        } else {
            "memory cannot be applied on this host: this host has no memory cgroup controller mounted"
        };
        assert!(line.contains(why), "{line}");
    }
}

#[test]
fn kernel_memory_is_refused_where_the_kernel_ignores_it() {
    let w = World::new();
    let s = Spawn::host(&w);
    let Some(probe) = probe_v1(&w, "memory") else {
        eprintln!("skipped: no v1 memory hierarchy (cgroup v2 has no kernel memory limit)");
        return;
    };
    // Ask the kernel itself: does a kmem limit it accepts read back?
    let f = probe.join("memory.kmem.limit_in_bytes");
    let honoured = fs::write(&f, "50593792").is_ok()
        && fs::read_to_string(&f).is_ok_and(|v| v.trim() == "50593792");
    fs::remove_dir(&probe).unwrap();
    let b = bundle(
        &w,
        "kmem",
        &["true"],
        resources(json!({"memory": {"kernel": 50593792}})),
    );
    if honoured {
        s.create(&b, "kmem").unwrap();
        assert_eq!(
            s.read("kmem", "memory", "memory", "memory.kmem.limit_in_bytes"),
            "50593792"
        );
        s.delete("kmem");
    } else {
        let line = s.refused(
            &b,
            "kmem",
            107,
            "linux.resources.memory.kernel cannot be applied",
        );
        assert!(
            line.contains("takes memory.kmem.limit_in_bytes but ignores it"),
            "{line}"
        );
    }
}

#[test]
fn fifo_devices_get_no_cgroup_rule_and_the_rules_hold() {
    let w = World::new();
    let views: Vec<Spawn> = std::iter::once(Spawn::host(&w))
        .chain(Spawn::v2(&w))
        .collect();
    for (i, s) in views.iter().enumerate() {
        let name = format!("dev{i}");
        // A node the container did not get through linux.devices, in its rootfs: denied by the
        // cgroup (EPERM) before its (absent) driver could say ENXIO.
        let script = "echo through > /dev/pipe0 & read l < /dev/pipe0; echo \"$l\"; \
                      head -c 3 /dev/full2 | wc -c; head -c 1 /nodev 2>&1 >/dev/null; echo $?";
        let b = bundle(&w, &name, &["sh", "-c", script], |c| {
            c["linux"]["devices"] = json!([
                {"path": "/dev/pipe0", "type": "p", "major": 0, "minor": 0, "fileMode": 438},
                {"path": "/dev/full2", "type": "c", "major": 1, "minor": 7, "fileMode": 438}
            ]);
            c["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
        });
        nix::sys::stat::mknod(
            &b.join("rootfs/nodev"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(4095, 0),
        )
        .unwrap();
        let r = s
            .run(&["run", "--bundle", b.to_str().unwrap(), &name])
            .success();
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines[..2], ["through", "3"], "{}", r.stdout);
        assert!(lines[2].contains("Operation not permitted"), "{}", r.stdout);
        assert_eq!(lines[3], "1", "{}", r.stdout);
        s.assert_gone(&name);
    }
}

#[test]
fn block_io_weights_and_throttles_land_or_are_refused_by_name() {
    let w = World::new();
    let s = Spawn::host(&w);
    let Some(probe) = probe_v1(&w, "blkio") else {
        eprintln!("skipped: no v1 blkio hierarchy on this host");
        return;
    };
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| probe.join(f).exists());
    let leaf = probe.join("blkio.leaf_weight").exists();
    fs::remove_dir(&probe).unwrap();
    // A whole disk of this host (not a partition) for the throttle.
    let disk = fs::read_dir("/sys/dev/block")
        .unwrap()
        .flatten()
        .find(|e| !e.path().join("partition").exists())
        .map(|e| e.file_name().into_string().unwrap())
        .unwrap();
    let (major, minor) = disk.split_once(':').unwrap();
    let (major, minor): (i64, i64) = (major.parse().unwrap(), minor.parse().unwrap());
    let b = bundle(
        &w,
        "blk",
        &["true"],
        resources(json!({"blockIO": {
            "weight": 500,
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 102400}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 300}]
        }})),
    );
    match weight_file {
        Some(f) => {
            s.create(&b, "blk").unwrap();
            let r = |file: &str| s.read("blk", "blkio", "io", file);
            assert_eq!(r(f), "500");
            assert_eq!(
                r("blkio.throttle.read_bps_device"),
                format!("{disk} 102400")
            );
            assert_eq!(r("blkio.throttle.write_iops_device"), format!("{disk} 300"));
            s.delete("blk");
        }
        None => {
            let line = s.refused(&b, "blk", 107, "linux.resources.blockIO.weight");
            assert!(
                line.contains("has no blkio.weight or blkio.bfq.weight file"),
                "{line}"
            );
        }
    }
    // CFQ's leaf weight is gone from kernels since 5.0: refused where the file is missing.
    let b = bundle(
        &w,
        "leaf",
        &["true"],
        resources(json!({"blockIO": {"leafWeight": 300}})),
    );
    if leaf {
        s.create(&b, "leaf").unwrap();
        assert_eq!(s.read("leaf", "blkio", "io", "blkio.leaf_weight"), "300");
        s.delete("leaf");
    } else {
        let line = s.refused(&b, "leaf", 107, "linux.resources.blockIO.leafWeight");
        assert!(line.contains("has no blkio.leaf_weight file"), "{line}");
    }
    // A throttle for a device that does not exist: the kernel's refusal, named.
    let b = bundle(
        &w,
        "nodev",
        &["true"],
        resources(json!({"blockIO": {
        "throttleReadBpsDevice": [{"major": 4095, "minor": 0, "rate": 1}]}})),
    );
    let line = s.refused(
        &b,
        "nodev",
        5,
        "linux.resources.blockIO.throttleReadBpsDevice[0]",
    );
    assert!(line.contains("No such device"), "{line}");
}

#[test]
fn network_class_and_priorities_need_net_cls_and_net_prio() {
    let w = World::new();
    let s = Spawn::host(&w);
    let net = json!({"network": {"classID": 255, "priorities": [{"name": "lo", "priority": 10}]}});
    let b = bundle(&w, "net", &["true"], resources(net));
    let layout = Layout::host();
    let mounted = |c: &str| layout.v1.iter().any(|(_, cs)| cs.iter().any(|x| x == c));
    if mounted("net_cls") && mounted("net_prio") {
        s.create(&b, "net").unwrap();
        assert_eq!(s.read("net", "net_cls", "-", "net_cls.classid"), "255");
        assert!(
            s.read("net", "net_prio", "-", "net_prio.ifpriomap")
                .contains("lo 10")
        );
        s.delete("net");
    } else {
        let line = s.refused(&b, "net", 107, "linux.resources.network.classID");
        assert!(
            line.contains("no net_cls cgroup controller mounted"),
            "{line}"
        );
    }
}

#[test]
fn pids_cpu_and_unified_land_and_v2_only_keys_are_refused_on_v1() {
    let w = World::new();
    let s = Spawn::host(&w);
    let has_rt = probe_v1(&w, "cpu").is_some_and(|p| {
        let rt = p.join("cpu.rt_period_us").exists();
        fs::remove_dir(&p).unwrap();
        rt
    });
    let mut res = json!({"pids": {"limit": 42}, "cpu": {"shares": 512}});
    if has_rt {
        res["cpu"]["realtimePeriod"] = json!(500000);
    }
    let b = bundle(&w, "pc", &["true"], resources(res));
    s.create(&b, "pc").unwrap();
    assert_eq!(s.read("pc", "pids", "pids", "pids.max"), "42");
    let (_, cpu_v2) = s.layout.dir("cpu", "cpu", "").unwrap();
    if cpu_v2 {
        assert_eq!(s.read("pc", "cpu", "cpu", "cpu.weight"), "20");
    } else {
        assert_eq!(s.read("pc", "cpu", "cpu", "cpu.shares"), "512");
    }
    if has_rt {
        assert_eq!(s.read("pc", "cpu", "cpu", "cpu.rt_period_us"), "500000");
    }
    s.delete("pc");
    // unified: a v2 file, written in the v2 hierarchy (beside v1 on a hybrid host).
    if let Some(v2) = &s.layout.v2 {
        let b = bundle(
            &w,
            "uni",
            &["true"],
            resources(json!({"unified": {"cgroup.max.descendants": "3"}})),
        );
        s.create(&b, "uni").unwrap();
        let dir = v2.join(s.rel("uni"));
        assert_eq!(
            fs::read_to_string(dir.join("cgroup.max.descendants"))
                .unwrap()
                .trim(),
            "3"
        );
        s.delete("uni");
        let b = bundle(
            &w,
            "procs",
            &["true"],
            resources(json!({"unified": {"cgroup.procs": "1"}})),
        );
        let line = s.refused(&b, "procs", 7, "linux.resources.unified.cgroup.procs");
        assert!(line.contains("this file is not a resource limit"), "{line}");
    }
    if !s.layout.v1.is_empty() && !s.layout.v2_holds("memory") {
        // On a hybrid host memory is v1's: its v2 files do not exist, and the key says so.
        let b = bundle(
            &w,
            "high",
            &["true"],
            resources(json!({"unified": {"memory.high": "1000000"}})),
        );
        let line = s.refused(&b, "high", 107, "linux.resources.unified.memory.high");
        assert!(line.contains("has no memory.high file"), "{line}");
    }
}

/// Every process of the container (its init, and one `exec` started) is in the container's
/// cgroup in every hierarchy: born in the v2 one (CLONE_INTO_CGROUP), joined by itself in
/// each v1 one (cgroups::join).
fn membership_round(s: &Spawn, tag: &str) {
    let id = format!("member-{tag}");
    let b = bundle(s.w, &id, &["sleep", "1000"], |_| {});
    s.create(&b, &id).unwrap();
    s.run(&["start", &id]).success();
    let pid = s.run(&["state", &id]).success().json()["pid"]
        .as_i64()
        .unwrap();
    let dirs = s.layout.all(&s.rel(&id));
    let procs = |d: &Path| -> Vec<i64> {
        fs::read_to_string(d.join("cgroup.procs"))
            .unwrap_or_else(|e| panic!("{tag}: {}: {e}", d.display()))
            .lines()
            .map(|l| l.parse().unwrap())
            .collect()
    };
    for d in &dirs {
        assert_eq!(procs(d), vec![pid], "{tag}: {}", d.display());
    }
    // runc's `exec -d` keeps the caller's stdio: give it none, or its sleep holds our pipe.
    let st = s
        .cmd(&["exec", "-d", &id, "sleep", "1000"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "{tag}: exec -d: {st}");
    for d in &dirs {
        let p = procs(d);
        assert!(
            p.len() == 2 && p.contains(&pid),
            "{tag}: the exec'd process is not in {}: {p:?}",
            d.display()
        );
    }
    s.delete(&id);
}

#[test]
fn every_process_is_in_its_cgroup_in_every_hierarchy_on_the_host_and_on_v2() {
    // On the v2 view berth-spawn enables its usual controllers from the v2 root down.
    let _restore = SubtreeControl::save();
    let w = World::new();
    membership_round(&Spawn::host(&w), "host");
    if let Some(v2) = Spawn::v2(&w) {
        membership_round(&v2, "v2");
    }
    // `--timings`: berth-spawn says how long each of its phases took, then its total.
    let s = Spawn::host(&w);
    let b = bundle(&w, "timed", &["true"], |_| {});
    let r = s
        .run(&["--timings", "run", "--bundle", b.to_str().unwrap(), "timed"])
        .success();
    assert_spawn_phases(&r.stderr, &["prepare", "cgroups", "namespaces", "mounts"]);
    s.assert_gone("timed");
}

/// `berth-spawn.PHASE: N ms` for each phase (and the others runc's `run` goes through), in
/// the order they ran, before the total `berth-spawn: N ms`.
#[track_caller]
fn assert_spawn_phases(stderr: &str, first: &[&str]) {
    let lines: Vec<&str> = stderr.lines().collect();
    let phase_of = |l: &str| -> Option<String> {
        let (name, rest) = l.split_once(": ")?;
        let ms = rest.strip_suffix(" ms")?;
        ms.parse::<f64>().ok()?;
        name.strip_prefix("berth-spawn.").map(String::from)
    };
    let phases: Vec<String> = lines.iter().filter_map(|l| phase_of(l)).collect();
    let mut want: Vec<&str> = first.to_vec();
    want.extend(["confine", "exec", "wait", "teardown"]);
    let got: Vec<&str> = phases
        .iter()
        .map(String::as_str)
        .filter(|p| want.contains(p))
        .collect();
    assert_eq!(got, want, "{stderr}");
    let total = lines
        .iter()
        .position(|l| l.starts_with("berth-spawn: ") && l.ends_with(" ms"))
        .unwrap_or_else(|| panic!("no total: {stderr}"));
    let last_phase = lines.iter().rposition(|l| phase_of(l).is_some()).unwrap();
    assert!(last_phase < total, "{stderr}");
}

#[test]
fn a_busy_cgroup_is_emptied_and_removed_with_its_children() {
    let w = World::new();
    let s = Spawn::host(&w);
    let b = bundle(
        &w,
        "busy",
        &["sh", "-c", "sleep 1000 & sleep 1000 & wait"],
        |_| {},
    );
    s.create(&b, "busy").unwrap();
    s.run(&["start", "busy"]).success();
    // A child cgroup in every hierarchy, as a container that manages its own would make.
    let dirs: Vec<PathBuf> = s.layout.all(&s.rel("busy"));
    for d in &dirs {
        fs::create_dir(d.join("inner")).unwrap();
    }
    let pid: i32 = s.run(&["state", "busy"]).success().json()["pid"]
        .as_i64()
        .unwrap() as i32;
    s.delete("busy");
    assert!(!berth_e2e::world::alive(i64::from(pid)));
}

#[test]
fn a_cgroups_path_that_climbs_out_of_the_hierarchy_is_refused_and_nothing_is_made() {
    let w = World::new();
    let s = Spawn::host(&w);
    // Every hierarchy is mounted 3 or 4 levels down (/sys/fs/cgroup[/memory]): 4 `..` from
    // the v1 mounts reach /, so the path would land in this test's directory.
    let target = w.env.dir().join("escape");
    let climb = format!(
        "../../../../{}",
        target.strip_prefix("/").unwrap().display()
    );
    let b = bundle(&w, "climb", &["true"], |c| {
        c["linux"]["cgroupsPath"] = json!(climb)
    });
    let line = s.refused(&b, "climb", 7, "linux.cgroupsPath");
    assert!(line.contains("climbs with \"..\""), "{line}");
    assert!(!target.exists(), "made outside the cgroup hierarchy");
}

/// A process of the test's own in a cgroup of the test's own (the hierarchy where berth
/// looks for a cgroup's processes), killed and removed on drop.
struct Occupied {
    child: std::process::Child,
    dir: PathBuf,
}

impl Drop for Occupied {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir(&self.dir);
    }
}

#[test]
fn a_cgroup_that_already_has_processes_is_refused_and_left_as_it_was() {
    let w = World::new();
    let s = Spawn::host(&w);
    let rel = format!("{}/occupied", w.env.cgroup);
    let l = Layout::host();
    let mount =
        l.v1.iter()
            .find(|(_, c)| c.iter().any(|c| c == "pids" || c == "memory"))
            .map(|(m, _)| m.clone())
            .or(l.v2.clone())
            .unwrap();
    let dir = mount.join(&rel);
    fs::create_dir_all(&dir).unwrap();
    let child = Command::new("sleep").arg("1000").spawn().unwrap();
    let occ = Occupied { child, dir };
    fs::write(occ.dir.join("cgroup.procs"), occ.child.id().to_string()).unwrap();
    let b = bundle(&w, "intruder", &["true"], |c| {
        c["linux"]["cgroupsPath"] = json!(format!("/{rel}"))
    });
    let line = s.refused(&b, "intruder", 7, "linux.cgroupsPath");
    assert!(
        line.contains(&format!(
            "the cgroup /{rel} already has processes (pid {})",
            occ.child.id()
        )),
        "{line}"
    );
    // Neither killed nor moved, and its cgroup is still there.
    assert!(berth_e2e::world::alive(i64::from(occ.child.id())));
    let procs = fs::read_to_string(occ.dir.join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), occ.child.id().to_string());
    // What berth-spawn made in the other hierarchies before it looked is gone again.
    let others = l.v1.iter().map(|(m, _)| m.clone()).chain(l.v2.clone());
    for m in others.filter(|m| *m != mount) {
        assert!(
            !m.join(&rel).exists(),
            "{} left behind",
            m.join(&rel).display()
        );
    }
}

/// The host's default device nodes: (name, type and mode bits, rdev).
fn host_dev() -> Vec<(String, u32, u64)> {
    use std::os::unix::fs::MetadataExt;
    ["null", "zero", "full", "random", "urandom", "tty"]
        .iter()
        .map(|n| {
            let m = fs::symlink_metadata(format!("/dev/{n}")).unwrap();
            (n.to_string(), m.mode(), m.rdev())
        })
        .collect()
}

/// Every entry under `dir`, with its contents for regular files.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            }
            let body = if t.is_file() {
                fs::read_to_string(e.path()).unwrap()
            } else {
                format!("{t:?}")
            };
            out.push((e.path(), body));
        }
    }
    out.sort();
    out
}

#[test]
fn device_nodes_are_made_inside_the_root_whatever_the_rootfs_plants() {
    let w = World::new();
    let s = Spawn::host(&w);
    let before = host_dev();
    // A host directory the rootfs points at, with files named like devices.
    let outside = w.env.dir().join("outside");
    fs::create_dir_all(outside.join("sub")).unwrap();
    for n in ["null", "zero", "tty", "sub/pipe"] {
        fs::write(outside.join(n), "host file\n").unwrap();
    }
    let host_side = snapshot(&outside);
    // No tmpfs on /dev: the nodes go into the rootfs's own /dev, whatever it holds.
    let no_dev_mount = |c: &mut Value| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
        c["linux"]["devices"] = json!([
            {"path": "/dev/sub/pipe", "type": "p", "major": 0, "minor": 0, "fileMode": 438},
            {"path": "/dev/zero", "type": "c", "major": 1, "minor": 5, "fileMode": 438}
        ]);
        c["linux"]["maskedPaths"] = json!(["/proc/version"]);
    };
    let run = |name: &str, plant: &dyn Fn(&Path)| {
        let b = bundle(&w, name, &["true"], no_dev_mount);
        let dev = b.join("rootfs/dev");
        fs::remove_dir_all(&dev).ok();
        plant(&dev);
        let r = s.run(&["run", "--bundle", b.to_str().unwrap(), name]);
        let r = r.fails_with(7);
        s.assert_gone(name);
        r.error_line()
    };
    // /dev itself is a symlink to the host directory: resolved inside the root, where it
    // names nothing.
    let line = run("devlink", &|dev| {
        std::os::unix::fs::symlink(&outside, dev).unwrap();
    });
    assert!(
        line.ends_with("creating device /dev/null: dev is a symlink to a missing directory"),
        "{line}"
    );
    // /dev/null and /dev/zero are symlinks to the host's files (absolute, and climbing): kept
    // as they are, never removed or written through, and a /dev/null that is not the null
    // device is not bound over the masked paths.
    let line = run("nodelink", &|dev| {
        fs::create_dir(dev).unwrap();
        std::os::unix::fs::symlink(outside.join("null"), dev.join("null")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../zero", dev.join("zero")).unwrap();
    });
    assert!(
        line.ends_with("/dev/null in the container is not the null device (1:3)"),
        "{line}"
    );
    // A device's parent directory is a symlink to the host directory.
    let line = run("sublink", &|dev| {
        fs::create_dir(dev).unwrap();
        std::os::unix::fs::symlink(outside.join("sub"), dev.join("sub")).unwrap();
    });
    assert!(
        line.ends_with(
            "creating device /dev/sub/pipe: dev/sub is a symlink to a missing directory"
        ),
        "{line}"
    );
    assert_eq!(snapshot(&outside), host_side, "the host directory changed");
    assert_eq!(host_dev(), before, "the host's /dev changed");
}
