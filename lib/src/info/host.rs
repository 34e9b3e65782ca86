//! What `info` reads from the host: cgroup features (from the hierarchy berth puts limits in:
//! v1 on v1 and hybrid hosts, cgroup2 on pure v2 ones), `/proc`, `/etc/os-release`, the
//! registry settings and the runtimes on PATH.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::{IndexInfo, RegistryConfig, Runtime};
use crate::paths::Paths;
use crate::runtime::cgroups::Hierarchies;

/// The host's side of the document.
pub(super) struct Host {
    pub id: String,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs: bool,
    pub cpu_shares: bool,
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
    pub ipv4_forwarding: bool,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub os_version: String,
    pub architecture: String,
    pub ncpu: u64,
    pub mem_total: u64,
    pub hostname: String,
    pub security_options: Vec<String>,
}

fn read(p: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

/// The cgroup features `docker info` reports, each the file berth writes the limit to.
struct CgroupFeatures {
    memory: bool,
    swap: bool,
    cfs: bool,
    shares: bool,
    cpuset: bool,
    pids: bool,
    oom_kill_disable: bool,
}

fn cgroup_features(h: &Hierarchies) -> CgroupFeatures {
    if h.is_v2() {
        let root = h.v2.clone().unwrap_or_default();
        let controllers = read(root.join("cgroup.controllers")).unwrap_or_default();
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        return CgroupFeatures {
            memory: has("memory"),
            // Swap accounting is part of the memory controller on cgroup2.
            swap: has("memory"),
            cfs: has("cpu"),
            shares: has("cpu"),
            cpuset: has("cpuset"),
            pids: has("pids"),
            // cgroup2 has no memory.oom_control.
            oom_kill_disable: false,
        };
    }
    let dir = |c: &str| {
        h.v1.iter()
            .find(|x| x.controllers.iter().any(|n| n == c))
            .map(|x| x.mount.clone())
    };
    let file = |c: &str, f: &str| dir(c).is_some_and(|d| d.join(f).exists());
    CgroupFeatures {
        memory: file("memory", "memory.limit_in_bytes"),
        swap: file("memory", "memory.memsw.limit_in_bytes"),
        cfs: file("cpu", "cpu.cfs_period_us"),
        shares: file("cpu", "cpu.shares"),
        cpuset: dir("cpuset").is_some(),
        pids: dir("pids").is_some(),
        oom_kill_disable: file("memory", "memory.oom_control"),
    }
}

/// `/etc/os-release`'s `KEY=value`, unquoted.
fn os_release(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').trim_matches('\'').to_string())
        .unwrap_or_default()
}

/// `/etc/machine-id` as a UUID (Docker's engine ID is a UUID); empty without one.
fn machine_uuid() -> String {
    let id = read("/etc/machine-id").unwrap_or_default();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return String::new();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    )
}

/// The filesystem under berth's root (its nearest existing ancestor), named as Docker's
/// `Backing Filesystem` names it.
fn backing_filesystem(root: &Path) -> String {
    use nix::sys::statfs::{self, statfs};
    let mut p = root;
    while !p.exists() {
        match p.parent() {
            Some(q) => p = q,
            None => break,
        }
    }
    let Ok(s) = statfs(p) else {
        return String::new();
    };
    let t = s.filesystem_type();
    let known = [
        (statfs::EXT4_SUPER_MAGIC, "extfs"),
        (statfs::XFS_SUPER_MAGIC, "xfs"),
        (statfs::BTRFS_SUPER_MAGIC, "btrfs"),
        (statfs::TMPFS_MAGIC, "tmpfs"),
        (statfs::OVERLAYFS_SUPER_MAGIC, "overlayfs"),
    ];
    known
        .iter()
        .find(|(m, _)| *m == t)
        .map_or_else(|| format!("{:#x}", t.0), |(_, n)| n.to_string())
}

fn mem_total() -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The CPUs this process may run on, as Go's `runtime.NumCPU` counts them.
fn ncpu() -> u64 {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&i| set.is_set(i).unwrap_or(false))
            .count() as u64,
        Err(_) => std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
    }
}

fn security_options(h: &Hierarchies) -> Vec<String> {
    let lsm = crate::runtime::lsm::Host::detect();
    let mut out = Vec::new();
    if lsm.apparmor {
        out.push("name=apparmor".to_string());
    }
    if read("/proc/sys/kernel/seccomp/actions_avail").is_some_and(|s| !s.is_empty()) {
        out.push("name=seccomp,profile=builtin".to_string());
    }
    if lsm.selinux {
        out.push("name=selinux".to_string());
    }
    // A private cgroup namespace is the default only on pure cgroup2 hosts (DESIGN.md).
    if h.is_v2() {
        out.push("name=cgroupns".to_string());
    }
    if !nix::unistd::geteuid().is_root() {
        out.push("name=rootless".to_string());
    }
    out
}

impl Host {
    pub(super) fn read(paths: &Paths) -> Host {
        let h = Hierarchies::detect();
        let cg = cgroup_features(&h);
        let os = fs::read_to_string("/etc/os-release").unwrap_or_default();
        let overlay = read("/proc/filesystems").is_some_and(|f| {
            f.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        });
        Host {
            id: machine_uuid(),
            driver: if overlay { "overlay2" } else { "vfs" }.into(),
            driver_status: vec![["Backing Filesystem".into(), backing_filesystem(&paths.root)]],
            memory_limit: cg.memory,
            swap_limit: cg.swap,
            cpu_cfs: cg.cfs,
            cpu_shares: cg.shares,
            cpu_set: cg.cpuset,
            pids_limit: cg.pids,
            oom_kill_disable: cg.oom_kill_disable,
            ipv4_forwarding: read("/proc/sys/net/ipv4/ip_forward").as_deref() == Some("1"),
            cgroup_version: if h.is_v2() { "2" } else { "1" }.into(),
            kernel_version: read("/proc/sys/kernel/osrelease").unwrap_or_default(),
            operating_system: os_release(&os, "PRETTY_NAME"),
            os_version: os_release(&os, "VERSION_ID"),
            architecture: nix::sys::utsname::uname()
                .map(|u| u.machine().to_string_lossy().into_owned())
                .unwrap_or_default(),
            ncpu: ncpu(),
            mem_total: mem_total(),
            hostname: nix::unistd::gethostname()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            security_options: security_options(&h),
        }
    }
}

/// `RegistryConfig` from berth's registry settings: Docker's loopback defaults and the
/// insecure ranges, docker.io with its mirrors, and each insecure registry named by host.
pub(super) fn registry_config() -> RegistryConfig {
    let cfg = crate::registry::config::RegistryConfig::load().unwrap_or_default();
    let mut cidrs = vec!["::1/128".to_string(), "127.0.0.0/8".to_string()];
    let mut index = BTreeMap::new();
    let mirrors: Vec<String> = cfg
        .mirrors
        .iter()
        .map(|m| format!("{}/", m.trim_end_matches('/')))
        .collect();
    index.insert(
        "docker.io".to_string(),
        IndexInfo {
            name: "docker.io".into(),
            mirrors: mirrors.clone(),
            secure: true,
            official: true,
        },
    );
    for entry in &cfg.insecure {
        let e = entry
            .trim_start_matches("http://")
            .trim_start_matches("https://")
            .trim_end_matches('/');
        if e.contains('/') {
            if !cidrs.iter().any(|c| c == e) {
                cidrs.push(e.to_string());
            }
        } else {
            index.insert(
                e.to_string(),
                IndexInfo {
                    name: e.into(),
                    mirrors: Vec::new(),
                    secure: false,
                    official: false,
                },
            );
        }
    }
    RegistryConfig {
        insecure_registry_cidrs: cidrs,
        index_configs: index,
        mirrors,
    }
}

/// berth-spawn, and runc and crun where `--runtime` finds them.
pub(super) fn runtimes() -> BTreeMap<String, Runtime> {
    let mut out = BTreeMap::from([(
        "berth-spawn".to_string(),
        Runtime {
            path: "berth-spawn".into(),
        },
    )]);
    for name in crate::container::external::KNOWN {
        if let Some(p) = crate::container::external::find(name) {
            out.insert(
                name.to_string(),
                Runtime {
                    path: p.display().to_string(),
                },
            );
        }
    }
    out
}

/// A proxy variable as Docker shows it: the first set of `names`, its password masked.
pub(super) fn proxy_env(names: &[&str]) -> String {
    let v = names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .unwrap_or_default();
    mask_password(&v)
}

/// `http://user:secret@proxy` -> `http://xxxxx:xxxxx@proxy`, as moby masks proxy credentials.
fn mask_password(v: &str) -> String {
    let (scheme, rest) = v.split_once("://").unwrap_or(("", v));
    match rest.split_once('@') {
        Some((_, host)) if !scheme.is_empty() => format!("{scheme}://xxxxx:xxxxx@{host}"),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_values_and_masked_proxies() {
        let text = "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
        assert_eq!(
            os_release(text, "PRETTY_NAME"),
            "Debian GNU/Linux 12 (bookworm)"
        );
        assert_eq!(os_release(text, "VERSION_ID"), "12");
        assert_eq!(os_release(text, "NOPE"), "");
        assert_eq!(
            mask_password("http://u:p@proxy:3128"),
            "http://xxxxx:xxxxx@proxy:3128"
        );
        assert_eq!(mask_password("proxy:3128"), "proxy:3128");
    }

    #[test]
    fn features_follow_the_hierarchy_limits_go_to() {
        let d = tempfile::tempdir().unwrap();
        let mem = d.path().join("memory");
        fs::create_dir_all(&mem).unwrap();
        fs::write(mem.join("memory.limit_in_bytes"), "").unwrap();
        fs::write(mem.join("memory.oom_control"), "").unwrap();
        let h = Hierarchies {
            v1: vec![crate::runtime::cgroups::V1Hierarchy {
                name: "memory".into(),
                mount: mem,
                controllers: vec!["memory".into()],
            }],
            v2: Some(d.path().join("unified")),
        };
        let f = cgroup_features(&h);
        assert!(f.memory && f.oom_kill_disable);
        assert!(!f.swap && !f.cfs && !f.shares && !f.cpuset && !f.pids);
    }
}
