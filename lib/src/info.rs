//! `berth info`: Docker's `docker info` document (moby's `system.Info`, with docker/cli's
//! `ClientInfo`), filled with what is true of this host and of berth's state, and its text.
//!
//! berth has no daemon, so the daemon's own figures are berth's: the "server" is the engine on
//! this machine, `NFd`/`NGoroutines`/`NEventsListener` are 0 (no process stays up to have
//! them), `LiveRestoreEnabled` is true (containers never depend on a daemon staying up), the
//! runtimes are berth-spawn and whichever of runc and crun `--runtime` finds. Everything else
//! is read from the kernel and the host (cgroup files, `/proc`, `/etc/os-release`) and from
//! the stores (containers, images, registry settings), so that scripts' `{{.NCPU}}`,
//! `{{.MemTotal}}`, `{{.CgroupVersion}}`, `{{.Containers}}`, `{{.DockerRootDir}}` and
//! `{{json .RegistryConfig}}` read true values. Field order and names are moby's, so
//! `{{json .}}` has Docker's shape and a struct prints as Go prints it.

mod host;
mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::paths::Paths;
use crate::protocol::Status;
use crate::state::{Containers, truth};

pub use text::text;

/// The log drivers `--log-driver` accepts besides `none`, sorted as Docker lists them
/// (`container::logdriver`; journald only where the host has its socket).
pub const LOG_DRIVERS: &[&str] = &["journald", "json-file", "local", "syslog"];

/// moby's `system.Info`, in its field order, followed by docker/cli's client part.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: Plugins,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub nfd: u64,
    pub oom_kill_disable: bool,
    #[serde(rename = "NGoroutines")]
    pub ngoroutines: u64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub nevents_listener: u64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    pub registry_config: RegistryConfig,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    pub generic_resources: Option<Vec<String>>,
    pub docker_root_dir: String,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, Runtime>,
    pub default_runtime: String,
    pub swarm: Swarm,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub containerd_commit: Commit,
    pub runc_commit: Commit,
    pub init_commit: Commit,
    pub security_options: Vec<String>,
    #[serde(rename = "CDISpecDirs")]
    pub cdi_spec_dirs: Vec<String>,
    pub warnings: Vec<String>,
    pub client_info: ClientInfo,
}

/// `Plugins`: the volume, network and log drivers berth has.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Plugins {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

/// moby's `registry.ServiceConfig`, from berth's registry settings (daemon.json's keys).
#[derive(Debug, Serialize)]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    #[serde(rename = "IndexConfigs")]
    pub index_configs: BTreeMap<String, IndexInfo>,
    #[serde(rename = "Mirrors")]
    pub mirrors: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IndexInfo {
    pub name: String,
    pub mirrors: Vec<String>,
    pub secure: bool,
    pub official: bool,
}

/// One runtime of `Runtimes` (moby's `RuntimeWithStatus`).
#[derive(Debug, Serialize)]
pub struct Runtime {
    pub path: String,
}

/// `Swarm`: berth has no swarm mode.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Swarm {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<String>>,
}

/// `ContainerdCommit`, `RuncCommit`, `InitCommit`.
#[derive(Debug, Serialize, Default)]
pub struct Commit {
    #[serde(rename = "ID")]
    pub id: String,
}

/// docker/cli's `ClientInfo`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientInfo {
    pub debug: bool,
    pub version: String,
    pub os: String,
    pub arch: String,
    pub context: String,
    pub plugins: Vec<String>,
    pub warnings: Option<Vec<String>>,
}

/// Counts of containers by Docker's buckets (moby's state counter): running, paused, and
/// stopped for every other state (restarting included).
#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    total: u64,
    running: u64,
    paused: u64,
    stopped: u64,
}

fn count_containers(paths: &Paths) -> Counts {
    let containers = Containers::new(paths);
    let mut c = Counts::default();
    for id in containers.list_ids().unwrap_or_default() {
        let Ok(r) = containers.load(&id) else {
            continue;
        };
        // A record that says running is checked against the kernel, as ps does.
        let r = truth::observe(&containers, r.clone()).unwrap_or(r);
        c.total += 1;
        match crate::views::status::status_of(&r) {
            Status::Paused => c.paused += 1,
            Status::Running => c.running += 1,
            _ => c.stopped += 1,
        }
    }
    c
}

fn count_images(paths: &Paths) -> u64 {
    if !paths.images().join("index.json").exists() {
        return 0;
    }
    crate::store::ImageStore::open(paths)
        .ok()
        .and_then(|s| crate::image::inventory::Inventory::load(&s).ok())
        .map_or(0, |inv| inv.images.len() as u64)
}

/// The info document of this host and of berth's state under `paths`; `version` is berth's.
pub fn gather(paths: &Paths, version: &str) -> Info {
    let counts = count_containers(paths);
    let h = host::Host::read(paths);
    let mut warnings = Vec::new();
    if !h.swap_limit {
        warnings.push("WARNING: No swap limit support".to_string());
    }
    if !h.ipv4_forwarding {
        warnings.push("WARNING: IPv4 forwarding is disabled".to_string());
    }
    Info {
        id: h.id,
        containers: counts.total,
        containers_running: counts.running,
        containers_paused: counts.paused,
        containers_stopped: counts.stopped,
        images: count_images(paths),
        driver: h.driver,
        driver_status: h.driver_status,
        plugins: Plugins {
            volume: vec!["local".into()],
            network: ["bridge", "host", "null"].map(String::from).to_vec(),
            authorization: None,
            log: LOG_DRIVERS.iter().map(|s| s.to_string()).collect(),
        },
        memory_limit: h.memory_limit,
        swap_limit: h.swap_limit,
        cpu_cfs_period: h.cpu_cfs,
        cpu_cfs_quota: h.cpu_cfs,
        cpu_shares: h.cpu_shares,
        cpu_set: h.cpu_set,
        pids_limit: h.pids_limit,
        ipv4_forwarding: h.ipv4_forwarding,
        debug: false,
        nfd: 0,
        oom_kill_disable: h.oom_kill_disable,
        ngoroutines: 0,
        system_time: crate::views::inspect::go_rfc3339(Some(chrono::Utc::now())),
        logging_driver: "json-file".into(),
        cgroup_driver: "cgroupfs".into(),
        cgroup_version: h.cgroup_version,
        nevents_listener: 0,
        kernel_version: h.kernel_version,
        operating_system: h.operating_system,
        os_version: h.os_version,
        os_type: std::env::consts::OS.into(),
        architecture: h.architecture,
        index_server_address: "https://index.docker.io/v1/".into(),
        registry_config: host::registry_config(),
        ncpu: h.ncpu,
        mem_total: h.mem_total,
        generic_resources: None,
        docker_root_dir: paths.root.display().to_string(),
        http_proxy: host::proxy_env(&["HTTP_PROXY", "http_proxy"]),
        https_proxy: host::proxy_env(&["HTTPS_PROXY", "https_proxy"]),
        no_proxy: host::proxy_env(&["NO_PROXY", "no_proxy"]),
        name: h.hostname,
        labels: Vec::new(),
        experimental_build: false,
        server_version: version.into(),
        runtimes: host::runtimes(),
        default_runtime: "berth-spawn".into(),
        swarm: Swarm {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".into(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
        },
        live_restore_enabled: true,
        isolation: String::new(),
        init_binary: "berth-init".into(),
        containerd_commit: Commit::default(),
        runc_commit: Commit::default(),
        init_commit: Commit::default(),
        security_options: h.security_options,
        cdi_spec_dirs: Vec::new(),
        warnings,
        client_info: ClientInfo {
            debug: false,
            version: version.into(),
            os: std::env::consts::OS.into(),
            arch: crate::version::go_arch().into(),
            context: "default".into(),
            plugins: Vec::new(),
            warnings: None,
        },
    }
}
