//! The field-to-file mapping, on made-up hosts (v1, v2, hybrid).

use super::*;
use crate::runtime::cgroups::{page_size_kb, page_size_name};
use serde_json::json;

/// A host: which controllers v1 and v2 hold, and its huge page sizes.
struct Fake {
    v1: Vec<Ctl>,
    v2: Option<Vec<Ctl>>,
    huge: Vec<u64>,
}

impl Host for Fake {
    fn place(&self, c: Ctl) -> Option<Ver> {
        if self.v1.contains(&c) {
            return Some(Ver::V1);
        }
        let v2 = self.v2.as_ref()?;
        (matches!(c, Ctl::Devices | Ctl::Unified) || v2.contains(&c)).then_some(Ver::V2)
    }
    fn hugepage_kb(&self) -> Vec<u64> {
        self.huge.clone()
    }
}

use Ctl::*;

/// This machine: every v1 controller but hugetlb, which v2 holds.
fn hybrid() -> Fake {
    Fake {
        v1: vec![Memory, Cpu, Cpuset, Pids, Io, Devices],
        v2: Some(vec![Hugetlb]),
        huge: vec![2048, 1048576],
    }
}

fn v1_full() -> Fake {
    Fake {
        v1: vec![
            Memory, Cpu, Cpuset, Pids, Io, Devices, Hugetlb, NetCls, NetPrio, Rdma,
        ],
        v2: None,
        huge: vec![2048, 1048576],
    }
}

fn v2() -> Fake {
    Fake {
        v1: vec![],
        v2: Some(vec![Memory, Cpu, Cpuset, Pids, Io, Hugetlb, Rdma]),
        huge: vec![2048, 1048576],
    }
}

fn res(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).unwrap()
}

fn plan_of(v: serde_json::Value, host: &Fake) -> Result<Plan, CgroupError> {
    plan(Some(&res(v)), &[], host)
}

/// (field, file, value) of each write (the first choice).
fn writes(p: &Plan) -> Vec<(String, String, String)> {
    p.writes
        .iter()
        .map(|w| {
            (
                w.field.clone(),
                w.choices[0].0.clone(),
                w.choices[0].1.clone(),
            )
        })
        .collect()
}

fn w(field: &str, file: &str, value: &str) -> (String, String, String) {
    (
        format!("linux.resources.{field}"),
        file.into(),
        value.into(),
    )
}

fn err(r: Result<Plan, CgroupError>) -> String {
    r.unwrap_err().to_string()
}

const MEMORY: &str = r#"{"memory": {"limit": 50593792, "reservation": 50593792, "swap": 50593792,
    "kernel": 50593792, "kernelTCP": 50593792, "swappiness": 10, "disableOOMKiller": true,
    "useHierarchy": true}}"#;

#[test]
fn memory_on_v1_writes_every_field_limit_before_memsw() {
    let p = plan_of(serde_json::from_str(MEMORY).unwrap(), &hybrid()).unwrap();
    assert_eq!(
        writes(&p),
        vec![
            w("memory.limit", "memory.limit_in_bytes", "50593792"),
            w("memory.swap", "memory.memsw.limit_in_bytes", "50593792"),
            w(
                "memory.reservation",
                "memory.soft_limit_in_bytes",
                "50593792"
            ),
            w("memory.kernel", "memory.kmem.limit_in_bytes", "50593792"),
            w(
                "memory.kernelTCP",
                "memory.kmem.tcp.limit_in_bytes",
                "50593792"
            ),
            w("memory.swappiness", "memory.swappiness", "10"),
            w("memory.disableOOMKiller", "memory.oom_control", "1"),
            w("memory.useHierarchy", "memory.use_hierarchy", "1"),
        ]
    );
    // Linux 6.1+ ignores kmem writes: the kernel limit is read back, nothing else is.
    let checks: Vec<Check> = p.writes.iter().map(|w| w.check).collect();
    assert_eq!(checks[3], Check::ReadBack(50593792));
    assert!(
        checks
            .iter()
            .enumerate()
            .all(|(i, c)| i == 3 || *c == Check::Written)
    );
}

#[test]
fn memory_on_v2_converts_swap_and_refuses_what_v2_lacks() {
    let p = plan_of(
        json!({"memory": {"limit": 100, "swap": 300, "reservation": -1,
            "disableOOMKiller": false, "useHierarchy": true}}),
        &v2(),
    )
    .unwrap();
    assert_eq!(
        writes(&p),
        vec![
            w("memory.limit", "memory.max", "100"),
            w("memory.swap", "memory.swap.max", "200"),
            w("memory.reservation", "memory.low", "max"),
        ]
    );
    let p = plan_of(json!({"memory": {"limit": -1, "swap": -1}}), &v2()).unwrap();
    assert_eq!(
        writes(&p),
        vec![
            w("memory.limit", "memory.max", "max"),
            w("memory.swap", "memory.swap.max", "max"),
        ]
    );
    for (field, v) in [
        ("kernel", json!(1 << 20)),
        ("kernelTCP", json!(1 << 20)),
        ("swappiness", json!(10)),
        ("disableOOMKiller", json!(true)),
        ("useHierarchy", json!(false)),
    ] {
        let e = err(plan_of(json!({"memory": {field: v}}), &v2()));
        assert!(
            e.starts_with(&format!(
                "linux.resources.memory.{field} cannot be applied on this host: cgroup v2 has no "
            )),
            "{e}"
        );
    }
    let e = err(plan_of(json!({"memory": {"swap": 300}}), &v2()));
    assert!(
        e.starts_with("linux.resources.memory.swap: cgroup v2 needs memory.limit"),
        "{e}"
    );
}

#[test]
fn memory_values_that_are_wrong_anywhere_are_invalid() {
    for host in [hybrid(), v2()] {
        let e = err(plan_of(
            json!({"memory": {"limit": 200, "swap": 100}}),
            &host,
        ));
        assert!(
            e.starts_with("linux.resources.memory.swap: 100 is below memory.limit 200"),
            "{e}"
        );
    }
    let e = err(plan_of(json!({"memory": {"swappiness": 101}}), &hybrid()));
    assert_eq!(e, "linux.resources.memory.swappiness: 101 is not in 0..100");
}

#[test]
fn defaults_and_empty_sections_write_nothing_and_refuse_nothing() {
    // What engines write when the user asked for nothing: zeros, false, empty lists.
    let nothing = json!({
        "memory": {"disableOOMKiller": false}, "cpu": {"shares": 0, "cpus": "", "mems": ""},
        "pids": {"limit": 0}, "blockIO": {"weight": 0}, "hugepageLimits": [],
        "network": {"classID": 0, "priorities": []}, "rdma": {}, "unified": {}
    });
    let none = Fake {
        v1: vec![],
        v2: None,
        huge: vec![],
    };
    assert_eq!(plan_of(nothing, &none).unwrap(), Plan::default());
    assert_eq!(plan(None, &[], &none).unwrap(), Plan::default());
}

#[test]
fn a_controller_the_host_lacks_refuses_its_field() {
    let none = Fake {
        v1: vec![Devices],
        v2: None,
        huge: vec![2048],
    };
    for (v, field, ctl) in [
        (json!({"memory": {"limit": 1}}), "memory", "memory"),
        (json!({"cpu": {"shares": 2}}), "cpu", "cpu"),
        (json!({"cpu": {"cpus": "0"}}), "cpu.cpus", "cpuset"),
        (json!({"pids": {"limit": 5}}), "pids.limit", "pids"),
        (json!({"blockIO": {"weight": 10}}), "blockIO", "blkio"),
        (
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}]}),
            "hugepageLimits[0]",
            "hugetlb",
        ),
        (
            json!({"rdma": {"mlx5_0": {"hcaHandles": 1}}}),
            "rdma",
            "rdma",
        ),
    ] {
        assert_eq!(
            err(plan_of(v, &none)),
            format!(
                "linux.resources.{field} cannot be applied on this host: this host has no {ctl} cgroup controller mounted; remove it from config.json"
            )
        );
    }
}

#[test]
fn cpu_maps_to_v1_files_and_to_v2_conversions() {
    let v = json!({"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
        "realtimePeriod": 1000000, "realtimeRuntime": 950000, "idle": 1,
        "cpus": "0-1", "mems": "0"}});
    assert_eq!(
        writes(&plan_of(v.clone(), &hybrid()).unwrap()),
        vec![
            w("cpu.shares", "cpu.shares", "1024"),
            w("cpu.period", "cpu.cfs_period_us", "100000"),
            w("cpu.quota", "cpu.cfs_quota_us", "50000"),
            w("cpu.burst", "cpu.cfs_burst_us", "1000"),
            w("cpu.realtimePeriod", "cpu.rt_period_us", "1000000"),
            w("cpu.realtimeRuntime", "cpu.rt_runtime_us", "950000"),
            w("cpu.idle", "cpu.idle", "1"),
            w("cpu.cpus", "cpuset.cpus", "0-1"),
            w("cpu.mems", "cpuset.mems", "0"),
        ]
    );
    let e = err(plan_of(v, &v2()));
    assert!(
        e.starts_with("linux.resources.cpu.realtimePeriod cannot be applied"),
        "{e}"
    );
    let p = plan_of(
        json!({"cpu": {"shares": 1024, "quota": 50000, "burst": 1000, "idle": 1, "cpus": "0"}}),
        &v2(),
    )
    .unwrap();
    assert_eq!(
        writes(&p),
        vec![
            w("cpu.shares", "cpu.weight", "39"),
            w("cpu.quota", "cpu.max", "50000 100000"),
            w("cpu.burst", "cpu.max.burst", "1000"),
            w("cpu.idle", "cpu.idle", "1"),
            w("cpu.cpus", "cpuset.cpus", "0"),
        ]
    );
    let p = plan_of(json!({"cpu": {"quota": -1, "period": 20000}}), &v2()).unwrap();
    assert_eq!(writes(&p), vec![w("cpu.quota", "cpu.max", "max 20000")]);
    assert_eq!((shares_to_weight(2), shares_to_weight(262144)), (1, 10000));
}

#[test]
fn pids_limit_and_unlimited() {
    for host in [hybrid(), v2()] {
        let p = plan_of(json!({"pids": {"limit": 10}}), &host).unwrap();
        assert_eq!(writes(&p), vec![w("pids.limit", "pids.max", "10")]);
        let p = plan_of(json!({"pids": {"limit": -1}}), &host).unwrap();
        assert_eq!(writes(&p), vec![w("pids.limit", "pids.max", "max")]);
    }
}

const BLKIO: &str = r#"{"blockIO": {"weight": 500, "leafWeight": 300,
    "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}],
    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 102400}],
    "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 1}],
    "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 2}],
    "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 3}]}}"#;

#[test]
fn block_io_on_v1_offers_cfq_then_bfq_files() {
    let p = plan_of(serde_json::from_str(BLKIO).unwrap(), &hybrid()).unwrap();
    let choices: Vec<Vec<(String, String)>> = p.writes.iter().map(|w| w.choices.clone()).collect();
    let c = |f: &str, v: &str| (f.to_string(), v.to_string());
    assert_eq!(
        choices,
        vec![
            vec![c("blkio.weight", "500"), c("blkio.bfq.weight", "500")],
            vec![c("blkio.leaf_weight", "300")],
            vec![
                c("blkio.weight_device", "8:0 500"),
                c("blkio.bfq.weight_device", "8:0 500")
            ],
            vec![c("blkio.leaf_weight_device", "8:0 300")],
            vec![c("blkio.throttle.read_bps_device", "8:0 102400")],
            vec![c("blkio.throttle.write_bps_device", "8:16 1")],
            vec![c("blkio.throttle.read_iops_device", "8:0 2")],
            vec![c("blkio.throttle.write_iops_device", "8:0 3")],
        ]
    );
    assert_eq!(
        p.writes[4].field,
        "linux.resources.blockIO.throttleReadBpsDevice[0]"
    );
}

#[test]
fn block_io_on_v2_goes_to_io_files_and_refuses_leaf_weights() {
    let e = err(plan_of(serde_json::from_str(BLKIO).unwrap(), &v2()));
    assert!(
        e.starts_with("linux.resources.blockIO.leafWeight cannot be applied"),
        "{e}"
    );
    let p = plan_of(
        json!({"blockIO": {"weight": 1000, "weightDevice": [{"major": 8, "minor": 0, "weight": 10}],
            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 100}],
            "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 7}]}}),
        &v2(),
    )
    .unwrap();
    let choices: Vec<Vec<(String, String)>> = p.writes.iter().map(|w| w.choices.clone()).collect();
    let c = |f: &str, v: &str| (f.to_string(), v.to_string());
    assert_eq!(
        choices,
        vec![
            vec![c("io.bfq.weight", "1000"), c("io.weight", "10000")],
            vec![c("io.bfq.weight", "8:0 10"), c("io.weight", "8:0 1")],
            vec![c("io.max", "8:0 rbps=100")],
            vec![c("io.max", "8:0 wiops=7")],
        ]
    );
    let e = err(plan_of(
        json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "leafWeight": 10}]}}),
        &v2(),
    ));
    assert!(
        e.starts_with("linux.resources.blockIO.weightDevice[0].leafWeight cannot be applied"),
        "{e}"
    );
}

#[test]
fn page_sizes_read_like_runc_and_the_kernel_write_them() {
    for (name, kb) in [
        ("64KB", 64),
        ("2MB", 2048),
        ("32MB", 32768),
        ("1GB", 1048576),
    ] {
        assert_eq!(page_size_kb(name), Some(kb));
        assert_eq!(page_size_name(kb), name);
    }
    for bad in [
        "",
        "2",
        "2mb",
        "MB",
        "0MB",
        "-2MB",
        "2 MB",
        "99999999999999999999GB",
    ] {
        assert_eq!(page_size_kb(bad), None, "{bad}");
    }
    assert_eq!(page_size_name(1536), "1536KB");
}

#[test]
fn hugetlb_goes_where_the_controller_is_and_refuses_a_size_the_host_lacks() {
    let v = json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 2147483648_i64},
        {"pageSize": "1GB", "limit": 0}]});
    // This hybrid host keeps hugetlb in v2; bound to v1 (as the OCI suite's script does) or
    // on a v1 host, the v1 names.
    for (host, limit, rsvd) in [
        (hybrid(), "max", "rsvd.max"),
        (v2(), "max", "rsvd.max"),
        (v1_full(), "limit_in_bytes", "rsvd.limit_in_bytes"),
    ] {
        let p = plan_of(v.clone(), &host).unwrap();
        assert_eq!(
            writes(&p),
            vec![
                w(
                    "hugepageLimits[0].limit",
                    &format!("hugetlb.2MB.{limit}"),
                    "2147483648"
                ),
                w(
                    "hugepageLimits[0].limit",
                    &format!("hugetlb.2MB.{rsvd}"),
                    "2147483648"
                ),
                w(
                    "hugepageLimits[1].limit",
                    &format!("hugetlb.1GB.{limit}"),
                    "0"
                ),
                w(
                    "hugepageLimits[1].limit",
                    &format!("hugetlb.1GB.{rsvd}"),
                    "0"
                ),
            ]
        );
        let checks: Vec<Check> = p.writes.iter().map(|w| w.check).collect();
        assert_eq!(
            checks,
            [
                Check::Written,
                Check::IfPresent,
                Check::Written,
                Check::IfPresent
            ]
        );
    }
    assert_eq!(
        err(plan_of(
            json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 1}, {"pageSize": "3MB", "limit": 1}]}),
            &hybrid()
        )),
        "linux.resources.hugepageLimits[1].pageSize cannot be applied on this host: this host has no 3MB huge pages (it has 2MB, 1GB); remove it from config.json"
    );
    assert_eq!(
        err(plan_of(
            json!({"hugepageLimits": [{"pageSize": "2mb", "limit": 1}]}),
            &hybrid()
        )),
        "linux.resources.hugepageLimits[0].pageSize: \"2mb\" is not a page size like 2MB or 1GB (this host has 2MB, 1GB)"
    );
    let e = err(plan_of(
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": -5}]}),
        &v2(),
    ));
    assert_eq!(e, "linux.resources.hugepageLimits[0].limit: -5 is negative");
}

#[test]
fn network_needs_v1_net_cls_and_net_prio() {
    let v = json!({"network": {"classID": 255, "priorities": [{"name": "lo", "priority": 10},
        {"name": "eth0", "priority": 30}]}});
    assert_eq!(
        writes(&plan_of(v.clone(), &v1_full()).unwrap()),
        vec![
            w("network.classID", "net_cls.classid", "255"),
            w("network.priorities[0]", "net_prio.ifpriomap", "lo 10"),
            w("network.priorities[1]", "net_prio.ifpriomap", "eth0 30"),
        ]
    );
    for host in [hybrid(), v2()] {
        assert_eq!(
            err(plan_of(v.clone(), &host)),
            "linux.resources.network.classID cannot be applied on this host: this host has no net_cls cgroup controller mounted (a cgroup v1 controller; cgroup v2 has none); remove it from config.json"
        );
        let e = err(plan_of(
            json!({"network": {"priorities": [{"name": "lo", "priority": 1}]}}),
            &host,
        ));
        assert!(
            e.starts_with("linux.resources.network.priorities[0] cannot be applied"),
            "{e}"
        );
    }
}

#[test]
fn rdma_writes_the_limits_given() {
    let p = plan_of(
        json!({"rdma": {"mlx5_1": {"hcaObjects": 5}, "mlx5_0": {"hcaHandles": 2, "hcaObjects": 3}}}),
        &v2(),
    )
    .unwrap();
    assert_eq!(
        writes(&p),
        vec![
            w(
                "rdma.mlx5_0",
                "rdma.max",
                "mlx5_0 hca_handle=2 hca_object=3"
            ),
            w("rdma.mlx5_1", "rdma.max", "mlx5_1 hca_object=5"),
        ]
    );
}

#[test]
fn unified_keys_are_plain_v2_files_written_last() {
    let p = plan_of(
        json!({"pids": {"limit": 3}, "unified": {"memory.high": "1000000", "cpu.weight": "7"}}),
        &v2(),
    )
    .unwrap();
    assert_eq!(
        writes(&p),
        vec![
            w("pids.limit", "pids.max", "3"),
            w("unified.cpu.weight", "cpu.weight", "7"),
            w("unified.memory.high", "memory.high", "1000000"),
        ]
    );
    // On a hybrid host the v2 hierarchy takes them too (its own controllers' files).
    let p = plan_of(json!({"unified": {"hugetlb.2MB.max": "0"}}), &hybrid()).unwrap();
    assert_eq!(p.writes[0].ctl, Ctl::Unified);
    for bad in [
        "../cgroup.procs",
        "memory",
        "a/b.c",
        ".x",
        "memory.",
        "x..y",
    ] {
        let e = err(plan_of(json!({"unified": {bad: "1"}}), &v2()));
        assert!(
            e.starts_with(&format!("linux.resources.unified.{bad}: a key must be")),
            "{e}"
        );
    }
    for forbidden in ["cgroup.procs", "cgroup.kill", "cgroup.subtree_control"] {
        let e = err(plan_of(json!({"unified": {forbidden: "1"}}), &v2()));
        assert!(e.ends_with("this file is not a resource limit"), "{e}");
    }
    assert_eq!(
        err(plan_of(
            json!({"unified": {"memory.high": "1"}}),
            &v1_full()
        )),
        "linux.resources.unified.memory.high cannot be applied on this host: this host has no cgroup v2 hierarchy; remove it from config.json"
    );
}

fn node(v: serde_json::Value) -> LinuxDevice {
    serde_json::from_value(v).unwrap()
}

#[test]
fn device_rules_come_from_the_config_then_defaults_then_char_and_block_nodes() {
    let nodes = [
        node(json!({"path": "/dev/fifo", "type": "p", "major": 0, "minor": 0})),
        node(json!({"path": "/dev/sda", "type": "b", "major": 8, "minor": 0})),
        node(json!({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11})),
        node(json!({"path": "/dev/u", "type": "u", "major": 4, "minor": 2})),
    ];
    let r = res(json!({"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"}]}));
    let p = plan(Some(&r), &nodes, &hybrid()).unwrap();
    let lines: Vec<(String, String, String)> = writes(&p);
    assert_eq!(lines[0], w("devices[0]", "devices.deny", "a *:* rwm"));
    assert_eq!(lines[1], w("devices[1]", "devices.allow", "c 10:200 rw"));
    let rest: Vec<&str> = lines[2..].iter().map(|l| l.2.as_str()).collect();
    assert_eq!(
        rest,
        [
            "c 1:3 rwm",
            "c 1:5 rwm",
            "c 1:7 rwm",
            "c 1:8 rwm",
            "c 1:9 rwm",
            "c 5:0 rwm",
            "c 5:1 rwm",
            "c 5:2 rwm",
            "c 136:* rwm",
            "b 8:0 rwm",
            "c 1:11 rwm",
            "c 4:2 rwm",
        ]
    );
    assert!(
        lines[2..]
            .iter()
            .all(|l| l.0 == "linux.devices" && l.1 == "devices.allow")
    );
    // No rule is ever a FIFO's: the kernel takes a, b and c only.
    assert!(lines.iter().all(|l| !l.2.starts_with('p')));
    // On v2 the same rules become the eBPF program's.
    let p = plan(Some(&r), &nodes, &v2()).unwrap();
    assert!(p.writes.is_empty());
    assert_eq!(p.bpf_devices.as_ref().map(|d| d.len()), Some(14));
    // A rule of type p is a mistake in the config.
    let e = err(plan_of(
        json!({"devices": [{"allow": true, "type": "p"}]}),
        &hybrid(),
    ));
    assert_eq!(
        e,
        "linux.resources.devices[0]: type \"p\" has no device cgroup rule (use a, b or c)"
    );
}
