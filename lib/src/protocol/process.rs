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
    /// `--log-opt` pairs (max-size, max-file).
    #[serde(default)]
    pub log_opts: BTreeMap<String, String>,
    /// `--detach-keys` (Docker's form, e.g. `ctrl-p,ctrl-q`), for attached terminals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
    /// The cgroup path the container runs in, relative to each hierarchy's root.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroup_path: String,
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
}
