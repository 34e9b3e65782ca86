//! The field-to-file mapping: every field of the runtime-spec's `linux.resources`, turned into
//! writes to the files of the hierarchy (v1 or v2) that holds its controller on this host, or
//! refused with an error naming the field. Nothing is dropped silently.
//!
//! This is a pure function of the config and the host's layout ([`Host`]), so the mapping is
//! unit-tested without cgroups. Where a field can only be checked against the cgroup itself
//! (which of `blkio.weight` / `blkio.bfq.weight` the kernel has), the write lists its choices
//! and [`super::Cgroup::apply`] refuses the field when none exists.

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxCpu, LinuxDevice, LinuxDeviceCgroup, LinuxMemory, LinuxResources};

use super::CgroupError;
use super::devices;

/// A controller, by what it limits (v1 and v2 name some differently: blkio / io).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Ctl {
    Memory,
    Cpu,
    Cpuset,
    Pids,
    Io,
    Hugetlb,
    NetCls,
    NetPrio,
    Rdma,
    Devices,
    /// `unified`'s keys: any file of the v2 directory.
    Unified,
}

impl Ctl {
    /// The name in a v1 hierarchy's mount options.
    pub fn v1_name(self) -> Option<&'static str> {
        Some(match self {
            Ctl::Memory => "memory",
            Ctl::Cpu => "cpu",
            Ctl::Cpuset => "cpuset",
            Ctl::Pids => "pids",
            Ctl::Io => "blkio",
            Ctl::Hugetlb => "hugetlb",
            Ctl::NetCls => "net_cls",
            Ctl::NetPrio => "net_prio",
            Ctl::Rdma => "rdma",
            Ctl::Devices => "devices",
            Ctl::Unified => return None,
        })
    }

    /// The name in v2's `cgroup.controllers` (net_cls and net_prio have none; devices is an
    /// eBPF program there).
    pub fn v2_name(self) -> Option<&'static str> {
        Some(match self {
            Ctl::Memory => "memory",
            Ctl::Cpu => "cpu",
            Ctl::Cpuset => "cpuset",
            Ctl::Pids => "pids",
            Ctl::Io => "io",
            Ctl::Hugetlb => "hugetlb",
            Ctl::Rdma => "rdma",
            Ctl::NetCls | Ctl::NetPrio | Ctl::Devices | Ctl::Unified => return None,
        })
    }
}

/// Which hierarchy holds a controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ver {
    V1,
    V2,
}

/// What the planner needs to know about the host.
pub trait Host {
    /// Where the controller is: a v1 hierarchy, the v2 one, or nowhere. `Ctl::Devices` is V2
    /// when only the v2 hierarchy exists (an eBPF program), `Ctl::Unified` when any does.
    fn place(&self, c: Ctl) -> Option<Ver>;
    /// The huge page sizes the kernel has, in kB (`/sys/kernel/mm/hugepages`).
    fn hugepage_kb(&self) -> Vec<u64>;
}

/// After a write: nothing, skip it quietly when the file does not exist (an optional extra),
/// or read it back (the kernel accepts some writes it then ignores).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Written,
    IfPresent,
    ReadBack(i64),
}

/// One write: the first of `choices` (file, value) whose file the controller has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub field: String,
    pub ctl: Ctl,
    pub choices: Vec<(String, String)>,
    pub check: Check,
}

/// Everything to do for `linux.resources`: the writes in order, and the device rules that
/// become an eBPF program on v2.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub bpf_devices: Option<Vec<devices::Rule>>,
}

impl Plan {
    pub(super) fn add(
        &mut self,
        field: impl Into<String>,
        ctl: Ctl,
        file: &str,
        value: impl ToString,
    ) {
        self.writes.push(Write {
            field: field.into(),
            ctl,
            choices: vec![(file.to_string(), value.to_string())],
            check: Check::Written,
        });
    }

    pub(super) fn add_choices(
        &mut self,
        field: impl Into<String>,
        ctl: Ctl,
        choices: &[(&str, String)],
    ) {
        self.writes.push(Write {
            field: field.into(),
            ctl,
            choices: choices
                .iter()
                .map(|(f, v)| (f.to_string(), v.clone()))
                .collect(),
            check: Check::Written,
        });
    }

    pub(super) fn last_check(&mut self, check: Check) {
        if let Some(w) = self.writes.last_mut() {
            w.check = check;
        }
    }
}

pub(super) const R: &str = "linux.resources";

pub(super) fn refuse(field: impl Into<String>, why: impl Into<String>) -> CgroupError {
    CgroupError::Refused {
        field: field.into(),
        why: why.into(),
    }
}

pub(super) fn invalid(field: impl Into<String>, why: impl Into<String>) -> CgroupError {
    CgroupError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

/// The place of `c`, or the refusal of `field` for want of it.
pub(super) fn need(host: &dyn Host, c: Ctl, field: &str) -> Result<Ver, CgroupError> {
    host.place(c).ok_or_else(|| {
        let name = c.v1_name().unwrap_or("v2");
        refuse(
            field,
            format!("this host has no {name} cgroup controller mounted"),
        )
    })
}

/// Plans `linux.resources` (and the device rules `linux.devices` needs) for this host.
pub fn plan(
    res: Option<&LinuxResources>,
    nodes: &[LinuxDevice],
    host: &dyn Host,
) -> Result<Plan, CgroupError> {
    let mut p = Plan::default();
    let Some(res) = res else {
        return Ok(p);
    };
    if let Some(m) = res.memory() {
        memory(&mut p, m, host)?;
    }
    if let Some(c) = res.cpu() {
        cpu(&mut p, c, host)?;
    }
    if let Some(l) = res.pids().as_ref().map(|p| p.limit()).filter(|l| *l != 0) {
        need(host, Ctl::Pids, &format!("{R}.pids.limit"))?;
        let v = if l > 0 { l.to_string() } else { "max".into() };
        p.add(format!("{R}.pids.limit"), Ctl::Pids, "pids.max", v);
    }
    if let Some(b) = res.block_io() {
        super::blkio::plan(&mut p, b, host)?;
    }
    for (i, h) in res.hugepage_limits().iter().flatten().enumerate() {
        super::hugetlb::plan(&mut p, i, h.page_size(), h.limit(), host)?;
    }
    if let Some(n) = res.network() {
        network(&mut p, n, host)?;
    }
    if let Some(r) = res.rdma().as_ref().filter(|r| !r.is_empty()) {
        let f = format!("{R}.rdma");
        need(host, Ctl::Rdma, &f)?;
        let sorted: BTreeMap<_, _> = r.iter().collect();
        for (dev, l) in sorted {
            let mut v = dev.clone();
            if let Some(h) = l.hca_handles() {
                v.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = l.hca_objects() {
                v.push_str(&format!(" hca_object={o}"));
            }
            if v != *dev {
                p.add(format!("{f}.{dev}"), Ctl::Rdma, "rdma.max", v);
            }
        }
    }
    if let Some(rules) = res.devices() {
        device_rules(&mut p, rules, nodes, host)?;
    }
    if let Some(u) = res.unified().as_ref().filter(|u| !u.is_empty()) {
        unified(&mut p, u, host)?;
    }
    Ok(p)
}

fn memory(p: &mut Plan, m: &LinuxMemory, host: &dyn Host) -> Result<(), CgroupError> {
    let f = |n: &str| format!("{R}.memory.{n}");
    let any = m.limit().is_some_and(|v| v != 0)
        || m.reservation().is_some_and(|v| v != 0)
        || m.swap().is_some_and(|v| v != 0)
        || m.kernel().is_some_and(|v| v != 0)
        || m.kernel_tcp().is_some_and(|v| v != 0)
        || m.swappiness().is_some_and(|v| v != u64::MAX)
        || m.disable_oom_killer() == Some(true)
        || m.use_hierarchy().is_some();
    if !any {
        return Ok(());
    }
    let ver = need(host, Ctl::Memory, &format!("{R}.memory"))?;
    let limit = m.limit().filter(|v| *v != 0);
    if let (Some(s), Some(l)) = (m.swap().filter(|s| *s > 0), limit.filter(|l| *l > 0))
        && s < l
    {
        return Err(invalid(
            f("swap"),
            format!("{s} is below memory.limit {l} (swap counts memory plus swap)"),
        ));
    }
    if ver == Ver::V1 {
        return memory_v1(p, m, limit);
    }
    if let Some(l) = limit {
        p.add(f("limit"), Ctl::Memory, "memory.max", max_or(l));
    }
    if let Some(s) = m.swap().filter(|s| *s != 0) {
        // OCI swap is memory plus swap; v2's memory.swap.max is swap alone (runc, crun).
        let v = match limit {
            _ if s < 0 => "max".to_string(),
            Some(l) if l > 0 => (s - l).to_string(),
            _ => {
                return Err(invalid(
                    f("swap"),
                    "cgroup v2 needs memory.limit with it (memory.swap.max is swap alone)",
                ));
            }
        };
        p.add(f("swap"), Ctl::Memory, "memory.swap.max", v);
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        p.add(f("reservation"), Ctl::Memory, "memory.low", max_or(r));
    }
    let v2_none = |n: &str, why: &str| refuse(f(n), format!("cgroup v2 has no {why}"));
    if m.kernel().is_some_and(|v| v != 0) {
        return Err(v2_none(
            "kernel",
            "kernel memory limit (memory.max counts it)",
        ));
    }
    if m.kernel_tcp().is_some_and(|v| v != 0) {
        return Err(v2_none("kernelTCP", "kernel TCP memory limit"));
    }
    if m.swappiness().is_some_and(|v| v != u64::MAX) {
        return Err(v2_none("swappiness", "per-cgroup swappiness"));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(v2_none("disableOOMKiller", "way to disable the OOM killer"));
    }
    if m.use_hierarchy() == Some(false) {
        return Err(v2_none("useHierarchy", "non-hierarchical accounting"));
    }
    Ok(())
}

fn memory_v1(p: &mut Plan, m: &LinuxMemory, limit: Option<i64>) -> Result<(), CgroupError> {
    let f = |n: &str| format!("{R}.memory.{n}");
    // The limit before memsw (the kernel wants memsw >= limit; both start unlimited).
    if let Some(l) = limit {
        p.add(f("limit"), Ctl::Memory, "memory.limit_in_bytes", l);
    }
    if let Some(s) = m.swap().filter(|s| *s != 0) {
        p.add(f("swap"), Ctl::Memory, "memory.memsw.limit_in_bytes", s);
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        p.add(
            f("reservation"),
            Ctl::Memory,
            "memory.soft_limit_in_bytes",
            r,
        );
    }
    if let Some(k) = m.kernel().filter(|k| *k != 0) {
        // Linux 6.1 and later accept this write and ignore it: read it back.
        p.add(f("kernel"), Ctl::Memory, "memory.kmem.limit_in_bytes", k);
        if k > 0 {
            p.last_check(Check::ReadBack(k));
        }
    }
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        p.add(
            f("kernelTCP"),
            Ctl::Memory,
            "memory.kmem.tcp.limit_in_bytes",
            k,
        );
    }
    if let Some(s) = m.swappiness().filter(|s| *s != u64::MAX) {
        if s > 100 {
            return Err(invalid(f("swappiness"), format!("{s} is not in 0..100")));
        }
        p.add(f("swappiness"), Ctl::Memory, "memory.swappiness", s);
    }
    if m.disable_oom_killer() == Some(true) {
        p.add(f("disableOOMKiller"), Ctl::Memory, "memory.oom_control", 1);
    }
    if let Some(h) = m.use_hierarchy() {
        p.add(
            f("useHierarchy"),
            Ctl::Memory,
            "memory.use_hierarchy",
            u8::from(h),
        );
    }
    Ok(())
}

fn max_or(v: i64) -> String {
    if v < 0 { "max".into() } else { v.to_string() }
}

/// cpu.weight (1..10000) from cpu.shares (2..262144), as runc and crun convert it.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262144) - 2) * 9999) / 262142
}

/// The cpu controller's fields that are set (0 and unset alike mean "leave it").
struct CpuSet {
    shares: Option<u64>,
    quota: Option<i64>,
    period: Option<u64>,
    burst: Option<u64>,
    rt_period: Option<u64>,
    rt_runtime: Option<i64>,
    idle: Option<i64>,
}

fn cpu(p: &mut Plan, c: &LinuxCpu, host: &dyn Host) -> Result<(), CgroupError> {
    let f = |n: &str| format!("{R}.cpu.{n}");
    let set = CpuSet {
        shares: c.shares().filter(|s| *s > 0),
        quota: c.quota().filter(|q| *q != 0),
        period: c.period().filter(|p| *p > 0),
        burst: c.burst(),
        rt_period: c.realtime_period().filter(|p| *p > 0),
        rt_runtime: c.realtime_runtime().filter(|r| *r != 0),
        idle: c.idle().filter(|i| *i != 0),
    };
    let cpu_any = set.shares.is_some()
        || set.quota.is_some()
        || set.period.is_some()
        || set.burst.is_some()
        || set.rt_period.is_some()
        || set.rt_runtime.is_some()
        || set.idle.is_some();
    if cpu_any {
        match need(host, Ctl::Cpu, &format!("{R}.cpu"))? {
            Ver::V1 => cpu_v1(p, &set),
            Ver::V2 => cpu_v2(p, &set)?,
        }
        if let Some(v) = set.idle {
            p.add(f("idle"), Ctl::Cpu, "cpu.idle", v);
        }
    }
    let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
    let mems = c.mems().as_deref().filter(|s| !s.is_empty());
    if cpus.is_some() || mems.is_some() {
        let first = if cpus.is_some() { "cpus" } else { "mems" };
        need(host, Ctl::Cpuset, &f(first))?;
        if let Some(v) = cpus {
            p.add(f("cpus"), Ctl::Cpuset, "cpuset.cpus", v);
        }
        if let Some(v) = mems {
            p.add(f("mems"), Ctl::Cpuset, "cpuset.mems", v);
        }
    }
    Ok(())
}

fn cpu_v1(p: &mut Plan, c: &CpuSet) {
    let f = |n: &str| format!("{R}.cpu.{n}");
    if let Some(s) = c.shares {
        p.add(f("shares"), Ctl::Cpu, "cpu.shares", s);
    }
    if let Some(v) = c.period {
        p.add(f("period"), Ctl::Cpu, "cpu.cfs_period_us", v);
    }
    if let Some(v) = c.quota {
        p.add(f("quota"), Ctl::Cpu, "cpu.cfs_quota_us", v);
    }
    if let Some(v) = c.burst {
        p.add(f("burst"), Ctl::Cpu, "cpu.cfs_burst_us", v);
    }
    // The period first: the runtime must fit in it.
    if let Some(v) = c.rt_period {
        p.add(f("realtimePeriod"), Ctl::Cpu, "cpu.rt_period_us", v);
    }
    if let Some(v) = c.rt_runtime {
        p.add(f("realtimeRuntime"), Ctl::Cpu, "cpu.rt_runtime_us", v);
    }
}

fn cpu_v2(p: &mut Plan, c: &CpuSet) -> Result<(), CgroupError> {
    let f = |n: &str| format!("{R}.cpu.{n}");
    for (n, set) in [
        ("realtimePeriod", c.rt_period.is_some()),
        ("realtimeRuntime", c.rt_runtime.is_some()),
    ] {
        if set {
            return Err(refuse(
                f(n),
                "cgroup v2 has no real-time CPU bandwidth (cpu.rt_*)",
            ));
        }
    }
    if let Some(s) = c.shares {
        p.add(f("shares"), Ctl::Cpu, "cpu.weight", shares_to_weight(s));
    }
    if c.quota.is_some() || c.period.is_some() {
        let q = c
            .quota
            .filter(|q| *q > 0)
            .map_or("max".to_string(), |q| q.to_string());
        let field = if c.quota.is_some() { "quota" } else { "period" };
        let v = format!("{q} {}", c.period.unwrap_or(100_000));
        p.add(f(field), Ctl::Cpu, "cpu.max", v);
    }
    if let Some(v) = c.burst {
        p.add(f("burst"), Ctl::Cpu, "cpu.max.burst", v);
    }
    Ok(())
}

fn network(
    p: &mut Plan,
    n: &oci_spec::runtime::LinuxNetwork,
    host: &dyn Host,
) -> Result<(), CgroupError> {
    let f = |n: &str| format!("{R}.network.{n}");
    let why = |c: &str| {
        format!(
            "this host has no {c} cgroup controller mounted (a cgroup v1 controller; cgroup v2 has none)"
        )
    };
    if let Some(id) = n.class_id().filter(|id| *id != 0) {
        if host.place(Ctl::NetCls) != Some(Ver::V1) {
            return Err(refuse(f("classID"), why("net_cls")));
        }
        p.add(f("classID"), Ctl::NetCls, "net_cls.classid", id);
    }
    for (i, prio) in n.priorities().iter().flatten().enumerate() {
        if host.place(Ctl::NetPrio) != Some(Ver::V1) {
            return Err(refuse(f(&format!("priorities[{i}]")), why("net_prio")));
        }
        let v = format!("{} {}", prio.name(), prio.priority());
        p.add(
            f(&format!("priorities[{i}]")),
            Ctl::NetPrio,
            "net_prio.ifpriomap",
            v,
        );
    }
    Ok(())
}

/// The device rules: the config's, then the default devices every container gets and the
/// char and block nodes of `linux.devices` (runc and crun allow these whatever the rules say).
/// FIFOs need no rule (the device cgroup governs char and block devices only).
fn device_rules(
    p: &mut Plan,
    rules: &[LinuxDeviceCgroup],
    nodes: &[LinuxDevice],
    host: &dyn Host,
) -> Result<(), CgroupError> {
    let f = format!("{R}.devices");
    let mut all = Vec::with_capacity(rules.len() + nodes.len() + 9);
    for (i, r) in rules.iter().enumerate() {
        all.push(devices::Rule::from_spec(r).map_err(|why| invalid(format!("{f}[{i}]"), why))?);
    }
    all.extend(devices::DEFAULT_ALLOWED.iter().copied());
    all.extend(nodes.iter().filter_map(devices::Rule::for_node));
    match need(host, Ctl::Devices, &f)? {
        Ver::V1 => {
            for (i, r) in all.iter().enumerate() {
                let file = if r.allow {
                    "devices.allow"
                } else {
                    "devices.deny"
                };
                let field = if i < rules.len() {
                    format!("{f}[{i}]")
                } else {
                    "linux.devices".to_string()
                };
                p.add(field, Ctl::Devices, file, r.v1_string());
            }
        }
        Ver::V2 => p.bpf_devices = Some(all),
    }
    Ok(())
}

/// Files that move processes or change the tree: not resources, never written from config.
const UNIFIED_FORBIDDEN: &[&str] = &[
    "cgroup.procs",
    "cgroup.threads",
    "cgroup.subtree_control",
    "cgroup.kill",
    "cgroup.freeze",
    "cgroup.type",
];

fn unified(
    p: &mut Plan,
    u: &std::collections::HashMap<String, String>,
    host: &dyn Host,
) -> Result<(), CgroupError> {
    let sorted: BTreeMap<_, _> = u.iter().collect();
    for (k, v) in sorted {
        let field = format!("{R}.unified.{k}");
        let plain = k.split_once('.').is_some_and(|(c, rest)| {
            !c.is_empty()
                && !rest.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
        });
        if !plain || k.contains("..") {
            return Err(invalid(
                field,
                "a key must be a cgroup v2 file name like memory.high (CONTROLLER.FILE)",
            ));
        }
        if UNIFIED_FORBIDDEN.contains(&k.as_str()) {
            return Err(invalid(field, "this file is not a resource limit"));
        }
        if host.place(Ctl::Unified).is_none() {
            return Err(refuse(field, "this host has no cgroup v2 hierarchy"));
        }
        p.add(field, Ctl::Unified, k, v);
    }
    Ok(())
}

#[cfg(test)]
#[path = "resources_tests.rs"]
mod tests;
