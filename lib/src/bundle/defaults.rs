//! Docker's default security settings for a container, as OCI runtime-spec values: the
//! capability set, masked and read-only paths, default devices and device-cgroup rules, mounts
//! and namespaces (moby `oci/defaults.go`, `oci/caps`, `daemon/oci_linux.go`).
//!
//! berth-unpack writes these into every new `config.json`. berth-spawn uses the same tables for
//! `--privileged`, `--cap-add` and `--cap-drop` ([`tweak_capabilities`]), so the two stages
//! cannot disagree on what "default" means.

use std::collections::BTreeSet;

use oci_spec::runtime::{Capability, LinuxDevice, LinuxDeviceCgroup, LinuxNamespace, Mount};
use serde_json::json;

/// The 14 capabilities a Docker container gets by default.
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability Linux defines (as of 6.x), for `--privileged` and `--cap-add ALL`.
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Paths under /proc and /sys hidden from the container (bind-mounted over with /dev/null or
/// an empty read-only tmpfs). Dropped by `--privileged`.
pub const MASKED_PATHS: [&str; 11] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths under /proc made read-only. Dropped by `--privileged`.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// A device node every container has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultDevice {
    pub path: &'static str,
    /// `c` or `b`.
    pub kind: char,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
}

const fn dev(path: &'static str, major: i64, minor: i64) -> DefaultDevice {
    DefaultDevice {
        path,
        kind: 'c',
        major,
        minor,
        mode: 0o666,
    }
}

/// The device nodes every container gets in /dev.
pub const DEFAULT_DEVICES: [DefaultDevice; 6] = [
    dev("/dev/null", 1, 3),
    dev("/dev/zero", 1, 5),
    dev("/dev/full", 1, 7),
    dev("/dev/random", 1, 8),
    dev("/dev/urandom", 1, 9),
    dev("/dev/tty", 5, 0),
];

/// A device-cgroup rule: `(allow, type, major, minor, access)`; `None` is `*`.
pub type DeviceRule = (bool, Option<char>, Option<i64>, Option<i64>, &'static str);

/// Docker's device-cgroup rules: deny everything, then allow mknod of any node, the default
/// devices, the console, /dev/ptmx and the pseudo-terminals. `--privileged` allows all.
pub const DEFAULT_DEVICE_RULES: [DeviceRule; 12] = [
    (false, None, None, None, "rwm"),
    (true, Some('c'), None, None, "m"),
    (true, Some('b'), None, None, "m"),
    (true, Some('c'), Some(1), Some(3), "rwm"),
    (true, Some('c'), Some(1), Some(5), "rwm"),
    (true, Some('c'), Some(1), Some(7), "rwm"),
    (true, Some('c'), Some(1), Some(8), "rwm"),
    (true, Some('c'), Some(1), Some(9), "rwm"),
    (true, Some('c'), Some(5), Some(0), "rwm"),
    (true, Some('c'), Some(5), Some(1), "rwm"),
    (true, Some('c'), Some(5), Some(2), "rwm"),
    (true, Some('c'), Some(136), None, "rwm"),
];

/// The namespaces a container gets: all new (berth-netns replaces the network entry's path for
/// bridge, container: and host modes).
pub const DEFAULT_NAMESPACES: [&str; 6] = ["pid", "network", "ipc", "uts", "mount", "cgroup"];

/// Sysctls Docker sets in a container with a network namespace of its own (not `--network
/// host`): unprivileged users may bind low ports and ping. berth-netns adds them
/// (`net::spec`).
pub const NETWORK_SYSCTLS: [(&str, &str); 2] = [
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
];

/// Parses a capability as users write it (`NET_ADMIN`, `cap_net_admin`, `CAP_NET_ADMIN`) into
/// its canonical `CAP_` name; `ALL` stays `ALL`.
pub fn canonical_capability(name: &str) -> Result<String, String> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(format!("unknown capability: {name:?}"))
    }
}

/// Docker's `--cap-add`/`--cap-drop` rules over the default set: `ALL` in adds starts from every
/// capability, `ALL` in drops from none; then adds are added and drops removed.
pub fn tweak_capabilities(add: &[String], drop: &[String]) -> Result<Vec<String>, String> {
    let add: Vec<String> = add
        .iter()
        .map(|c| canonical_capability(c))
        .collect::<Result<_, _>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| canonical_capability(c))
        .collect::<Result<_, _>>()?;
    let mut set: BTreeSet<String> = if add.iter().any(|c| c == "ALL") {
        ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    } else if drop.iter().any(|c| c == "ALL") {
        BTreeSet::new()
    } else {
        DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect()
    };
    for c in add.iter().filter(|c| *c != "ALL") {
        set.insert(c.clone());
    }
    for c in drop.iter().filter(|c| *c != "ALL") {
        set.remove(c);
    }
    Ok(set.into_iter().collect())
}

/// Capabilities as oci-spec values.
pub fn capability_set(names: &[impl AsRef<str>]) -> oci_spec::runtime::Capabilities {
    names
        .iter()
        .filter_map(|n| serde_json::from_value::<Capability>(json!(n.as_ref())).ok())
        .collect()
}

/// Docker's default mounts: /proc, /dev (tmpfs), /dev/pts, /sys (read-only), /sys/fs/cgroup
/// (read-only), /dev/mqueue, /dev/shm (64 MiB).
pub fn default_mounts() -> Vec<Mount> {
    serde_json::from_value(json!([
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]}
    ]))
    .expect("static mounts are valid")
}

/// The default device nodes as oci-spec values.
pub fn default_devices() -> Vec<LinuxDevice> {
    DEFAULT_DEVICES
        .iter()
        .map(|d| {
            serde_json::from_value(json!({
                "path": d.path, "type": d.kind.to_string(), "major": d.major, "minor": d.minor,
                "fileMode": d.mode, "uid": 0, "gid": 0
            }))
            .expect("static device is valid")
        })
        .collect()
}

/// The default device-cgroup rules as oci-spec values.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    DEFAULT_DEVICE_RULES
        .iter()
        .map(|(allow, kind, major, minor, access)| {
            let mut v = json!({"allow": allow, "access": access});
            if let Some(k) = kind {
                v["type"] = json!(k.to_string());
            }
            if let Some(m) = major {
                v["major"] = json!(m);
            }
            if let Some(m) = minor {
                v["minor"] = json!(m);
            }
            serde_json::from_value(v).expect("static rule is valid")
        })
        .collect()
}

/// The default namespaces as oci-spec values (all new, no paths).
pub fn default_namespaces() -> Vec<LinuxNamespace> {
    DEFAULT_NAMESPACES
        .iter()
        .map(|t| serde_json::from_value(json!({"type": t})).expect("static namespace is valid"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_convert_to_oci_values() {
        assert_eq!(capability_set(&DEFAULT_CAPABILITIES).len(), 14);
        assert_eq!(
            capability_set(&ALL_CAPABILITIES).len(),
            ALL_CAPABILITIES.len()
        );
        assert_eq!(default_mounts().len(), 7);
        assert_eq!(default_devices().len(), 6);
        assert_eq!(default_device_rules().len(), DEFAULT_DEVICE_RULES.len());
        assert_eq!(default_namespaces().len(), 6);
    }

    #[test]
    fn cap_add_and_drop_follow_docker() {
        let s = tweak_capabilities(&["net_admin".into()], &["CAP_CHOWN".into()]).unwrap();
        assert!(s.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!s.contains(&"CAP_CHOWN".to_string()));
        assert_eq!(s.len(), 14);
        let s = tweak_capabilities(&["KILL".into()], &["ALL".into()]).unwrap();
        assert_eq!(s, vec!["CAP_KILL".to_string()]);
        let s = tweak_capabilities(&["ALL".into()], &["SYS_ADMIN".into()]).unwrap();
        assert_eq!(s.len(), ALL_CAPABILITIES.len() - 1);
        assert!(tweak_capabilities(&["NOPE".into()], &[]).is_err());
    }
}
