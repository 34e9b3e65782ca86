//! The shapes of Docker's container inspect document (moby `types.ContainerJSON`), field for
//! field in Docker's order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerJson {
    pub id: String,
    pub created: String,
    pub path: String,
    pub args: Vec<String>,
    pub state: StateJson,
    pub image: String,
    pub resolv_conf_path: String,
    pub hostname_path: String,
    pub hosts_path: String,
    pub log_path: String,
    pub name: String,
    pub restart_count: u32,
    pub driver: String,
    pub platform: String,
    pub mount_label: String,
    pub process_label: String,
    pub app_armor_profile: String,
    #[serde(rename = "ExecIDs")]
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub exec_ids: Option<Vec<String>>,
    pub host_config: HostConfigJson,
    pub graph_driver: GraphDriverJson,
    /// With `--size`: the writable layer, and that plus the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<u64>,
    pub mounts: Vec<MountJson>,
    pub config: ConfigJson,
    pub network_settings: NetworkSettingsJson,
    /// Docker's legacy `.Volumes`: container path -> host path.
    pub volumes: BTreeMap<String, String>,
    /// What Docker has no field for.
    pub berth: BerthJson,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StateJson {
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: i32,
    pub exit_code: i32,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthJson>,
}

/// `.State.Health`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthJson {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthLogJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthLogJson {
    pub start: String,
    pub end: String,
    pub exit_code: i32,
    pub output: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicyJson {
    pub name: String,
    pub maximum_retry_count: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortBindingJson {
    pub host_ip: String,
    pub host_port: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfigJson {
    #[serde(rename = "Type")]
    pub kind: String,
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfigJson {
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub binds: Option<Vec<String>>,
    /// `--tmpfs` mounts: container path -> options (Docker keeps them out of `.Mounts`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `--volumes-from` sources (container ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_from: Option<Vec<String>>,
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    pub log_config: LogConfigJson,
    pub network_mode: String,
    pub port_bindings: BTreeMap<String, Vec<PortBindingJson>>,
    pub restart_policy: RestartPolicyJson,
    pub auto_remove: bool,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub cap_add: Option<Vec<String>>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub cap_drop: Option<Vec<String>>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub extra_hosts: Option<Vec<String>>,
    pub ipc_mode: String,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub links: Option<Vec<String>>,
    pub pid_mode: String,
    pub privileged: bool,
    pub readonly_rootfs: bool,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub security_opt: Option<Vec<String>>,
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    pub userns_mode: String,
    pub cpu_shares: u64,
    pub memory: i64,
    pub nano_cpus: i64,
    pub blkio_weight: u16,
    pub cpu_period: u64,
    pub cpu_quota: i64,
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    pub devices: Vec<String>,
    pub memory_reservation: i64,
    pub memory_swap: i64,
    pub pids_limit: Option<i64>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub ulimits: Option<Vec<String>>,
    pub init: Option<bool>,
    #[serde(flatten)]
    pub more: super::HostConfigMoreJson,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriverJson {
    pub data: BTreeMap<String, String>,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MountJson {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigJson {
    pub hostname: String,
    pub domainname: String,
    pub user: String,
    pub attach_stdin: bool,
    pub attach_stdout: bool,
    pub attach_stderr: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    pub tty: bool,
    pub open_stdin: bool,
    pub stdin_once: bool,
    pub env: Vec<String>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::protocol::Healthcheck>,
    pub image: String,
    #[serde(serialize_with = "crate::format::go_nil_map")]
    pub volumes: Option<BTreeMap<String, Value>>,
    pub working_dir: String,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub on_build: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointJson {
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub links: Option<Vec<String>>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub aliases: Option<Vec<String>>,
    pub mac_address: String,
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: u8,
    #[serde(rename = "DNSNames")]
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    pub dns_names: Option<Vec<String>>,
}

/// moby `network.EndpointIPAMConfig`: the addresses given with `--ip` / `--ip6`.
#[derive(Debug, Serialize)]
#[serde(rename = "go-omitempty IPv4Address:s IPv6Address:s LinkLocalIPs:l")]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

impl EndpointIpamConfig {
    /// Docker's `IPAMConfig` for an endpoint: null unless addresses were fixed.
    pub fn of(fixed: Option<&crate::protocol::FixedAddrs>) -> Option<EndpointIpamConfig> {
        fixed.map(|f| EndpointIpamConfig {
            ipv4_address: f.ipv4.clone().unwrap_or_default(),
            ipv6_address: f.ipv6.clone().unwrap_or_default(),
            link_local_ips: None,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettingsJson {
    pub bridge: String,
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    pub sandbox_key: String,
    pub ports: BTreeMap<String, Option<Vec<PortBindingJson>>>,
    pub gateway: String,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: u8,
    pub mac_address: String,
    pub networks: BTreeMap<String, EndpointJson>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BerthJson {
    /// The command line that made the container (e.g. `berth run ...`).
    pub argv: Vec<String>,
    pub bundle: String,
    pub rootfs: String,
    pub monitor_pid: i32,
    pub cgroup_path: String,
}
