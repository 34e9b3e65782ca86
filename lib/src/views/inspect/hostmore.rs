//! The `.HostConfig` fields of the kernel, cgroup and runtime flags (`--sysctl`,
//! `--group-add`, `--oom-*`, `--shm-size`, `--cgroup*`, the block IO device flags, the
//! real-time CPU flags, `--annotation`, `--runtime`), with Docker's names and shapes.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::protocol::ProcessSection;

/// Docker's default /dev/shm size.
const DEFAULT_SHM_SIZE: i64 = 64 << 20;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightDeviceJson {
    pub path: String,
    pub weight: u16,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ThrottleDeviceJson {
    pub path: String,
    pub rate: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfigMoreJson {
    pub group_add: Option<Vec<String>>,
    pub oom_score_adj: i32,
    pub oom_kill_disable: bool,
    pub memory_swappiness: Option<i64>,
    pub shm_size: i64,
    pub cgroup_parent: String,
    pub cgroupns_mode: String,
    pub device_cgroup_rules: Option<Vec<String>>,
    pub blkio_weight_device: Vec<WeightDeviceJson>,
    pub blkio_device_read_bps: Vec<ThrottleDeviceJson>,
    pub blkio_device_write_bps: Vec<ThrottleDeviceJson>,
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Vec<ThrottleDeviceJson>,
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Vec<ThrottleDeviceJson>,
    pub cpu_realtime_period: i64,
    pub cpu_realtime_runtime: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    pub runtime: String,
}

/// `DEVICE:VALUE` pairs as given; the value parsed by `parse` (the stage checked them).
fn devices<T>(given: &[String], parse: impl Fn(&str) -> Option<T>) -> Vec<(String, T)> {
    given
        .iter()
        .filter_map(|g| {
            let (p, v) = g.split_once(':')?;
            Some((p.to_string(), parse(v)?))
        })
        .collect()
}

fn throttles(given: &[String], bytes: bool) -> Vec<ThrottleDeviceJson> {
    devices(given, |v| {
        if bytes {
            crate::units::size::parse(v)
        } else {
            v.parse().ok()
        }
    })
    .into_iter()
    .map(|(path, rate)| ThrottleDeviceJson { path, rate })
    .collect()
}

pub fn host_config_more(p: &ProcessSection) -> HostConfigMoreJson {
    let r = &p.resources;
    let some = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let map = |m: &BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
    HostConfigMoreJson {
        group_add: some(&p.group_add),
        oom_score_adj: p.oom_score_adj.unwrap_or(0),
        oom_kill_disable: r.oom_kill_disable,
        memory_swappiness: r.memory_swappiness,
        shm_size: if p.shm_size > 0 {
            p.shm_size
        } else {
            DEFAULT_SHM_SIZE
        },
        cgroup_parent: p.cgroup_parent.clone(),
        cgroupns_mode: if p.cgroupns.is_empty() {
            crate::runtime::flags::default_cgroupns().to_string()
        } else {
            p.cgroupns.clone()
        },
        device_cgroup_rules: some(&p.device_cgroup_rules),
        blkio_weight_device: devices(&r.blkio_weight_device, |v| v.parse().ok())
            .into_iter()
            .map(|(path, weight)| WeightDeviceJson { path, weight })
            .collect(),
        blkio_device_read_bps: throttles(&r.device_read_bps, true),
        blkio_device_write_bps: throttles(&r.device_write_bps, true),
        blkio_device_read_iops: throttles(&r.device_read_iops, false),
        blkio_device_write_iops: throttles(&r.device_write_iops, false),
        cpu_realtime_period: r.cpu_realtime_period,
        cpu_realtime_runtime: r.cpu_realtime_runtime,
        sysctls: map(&p.sysctls),
        annotations: map(&p.annotations),
        runtime: if p.runtime.is_empty() {
            "berth-spawn".into()
        } else {
            p.runtime.clone()
        },
    }
}
