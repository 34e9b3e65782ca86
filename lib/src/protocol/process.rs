//! The `process` section, written by berth-spawn: how the container runs (Docker's
//! HostConfig, minus network and mounts).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSection {
    #[serde(default)]
    pub detach: bool,
    #[serde(default)]
    pub interactive: bool,
    #[serde(default)]
    pub tty: bool,
    /// `--rm`.
    #[serde(default)]
    pub auto_remove: bool,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub init: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
    #[serde(default)]
    pub privileged: bool,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default)]
    pub security_opt: Vec<String>,
    #[serde(default)]
    pub resources: Resources,
    /// `--device HOST[:CONTAINER[:PERMS]]`, as given.
    #[serde(default)]
    pub devices: Vec<String>,
    /// `--ulimit name=soft[:hard]`, as given.
    #[serde(default)]
    pub ulimits: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipc: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pid: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uts: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub userns: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidfile: Option<String>,
    /// `--log-driver`: json-file (empty), local, none, syslog or journald
    /// (`container::logdriver`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub log_driver: String,
    /// `--log-opt` pairs, checked per driver.
    #[serde(default)]
    pub log_opts: BTreeMap<String, String>,
    /// `--detach-keys` (Docker's form, e.g. `ctrl-p,ctrl-q`), for attached terminals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
    /// The cgroup path the container runs in, relative to each hierarchy's root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroup_path: String,
    /// `--cgroup-parent`: the cgroup the container's goes under (default berth's own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroup_parent: String,
    /// `--cgroupns`: `host` or `private`; empty is Docker's default for this host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroupns: String,
    /// `--sysctl KEY=VALUE`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// `--group-add`: group names (looked up in the container's /etc/group) or numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_add: Vec<String>,
    /// `--oom-score-adj` (-1000..1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// `--shm-size` in bytes (0: Docker's 64 MiB).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub shm_size: i64,
    /// `--device-cgroup-rule`, as given (`c 1:3 mr`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    /// `--annotation KEY=VALUE`, passed to the OCI runtime in config.json.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// `--runtime`: the OCI runtime that runs the bundle; empty is berth-spawn's own.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    /// `-a/--attach`: the streams a foreground run attaches (`stdin`, `stdout`, `stderr`);
    /// empty is Docker's default (stdout and stderr, and stdin with `-i`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attach: Vec<String>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Docker's `--restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `on-failure`, `always` or `unless-stopped`.
    pub name: String,
    #[serde(default)]
    pub maximum_retry_count: u32,
}

/// Resource limits, in Docker's units (bytes, shares, nano-CPUs). Zero means unset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default)]
    pub memory: i64,
    /// -1 means unlimited swap.
    #[serde(default)]
    pub memory_swap: i64,
    #[serde(default)]
    pub memory_reservation: i64,
    #[serde(default)]
    pub cpu_shares: u64,
    #[serde(default)]
    pub nano_cpus: i64,
    #[serde(default)]
    pub cpu_quota: i64,
    #[serde(default)]
    pub cpu_period: u64,
    #[serde(default)]
    pub cpuset_cpus: String,
    #[serde(default)]
    pub cpuset_mems: String,
    #[serde(default)]
    pub pids_limit: i64,
    #[serde(default)]
    pub blkio_weight: u16,
    /// `--blkio-weight-device DEVICE:WEIGHT`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blkio_weight_device: Vec<String>,
    /// `--device-read-bps DEVICE:RATE` (bytes, with Docker's suffixes), as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<String>,
    /// `--device-read-iops DEVICE:RATE`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<String>,
    /// `--oom-kill-disable`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_kill_disable: bool,
    /// `--memory-swappiness` (0..100; -1 or absent: the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
    /// `--cpu-rt-period` and `--cpu-rt-runtime`, in microseconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cpu_realtime_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cpu_realtime_runtime: i64,
}
