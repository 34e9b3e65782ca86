//! `berth doctor`: what this machine offers berth, and how to fix what it lacks (one of the
//! promises in DESIGN.md's opening). Every check reads the kernel's own answer
//! (mount table, /proc/filesystems, /proc/sys, prctl, the tools' `--version`) rather than
//! guessing from a distribution name, and says which berth feature depends on it.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::paths::Paths;
use crate::runtime::cgroups::Hierarchies;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Works.
    Ok,
    /// Works with a limitation (a feature is off or slower).
    Warn,
    /// Missing: the features that need it fail.
    Missing,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    /// What was found.
    pub detail: String,
    /// What to do about it (empty when nothing is needed).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

fn check(name: &'static str, level: Level, detail: String, fix: &str) -> Check {
    Check {
        name,
        level,
        detail,
        fix: if level == Level::Ok {
            String::new()
        } else {
            fix.to_string()
        },
    }
}

/// Runs every check.
pub fn run(paths: &Paths) -> Vec<Check> {
    vec![
        kernel(),
        cgroups(&Hierarchies::detect()),
        overlay(paths),
        seccomp(),
        security_modules(&crate::runtime::lsm::Host::detect()),
        namespaces(),
        user_namespaces(),
        firewall(),
        forwarding(),
        busybox(),
    ]
}

fn read(p: &str) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

fn kernel() -> Check {
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    // openat2 (RESOLVE_IN_ROOT), which every untrusted path goes through, arrived in 5.6;
    // mount_setattr, which the container's init sets mount flags with, in 5.12.
    if kernel_at_least(5, 12) {
        check("kernel", Level::Ok, format!("Linux {release}"), "")
    } else {
        check(
            "kernel",
            Level::Missing,
            format!(
                "Linux {release}: berth needs openat2(2) and mount_setattr(2), Linux 5.12 or later"
            ),
            "upgrade the kernel to 5.12 or later",
        )
    }
}

/// The cgroup layout and the controllers resource limits need.
pub fn cgroups(h: &Hierarchies) -> Check {
    let layout = h.layout();
    let mut have: Vec<String> = h.v1.iter().flat_map(|x| x.controllers.clone()).collect();
    let v2_controllers =
        h.v2.as_ref()
            .and_then(|p| fs::read_to_string(p.join("cgroup.controllers")).ok())
            .unwrap_or_default();
    let v2_list: Vec<String> = v2_controllers
        .split_whitespace()
        .map(String::from)
        .collect();
    if h.is_v2() {
        have = v2_list.clone();
    }
    let wanted = ["memory", "cpu", "cpuset", "pids", "freezer"];
    // cgroup v2 has no freezer controller: freezing is cgroup.freeze in every group.
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|c| !(have.iter().any(|x| x == c) || h.is_v2() && *c == "freezer"))
        .collect();
    let detail = match layout {
        "hybrid" => format!(
            "hybrid: v1 controllers ({}) beside cgroup2 at {} ({}); limits go to v1",
            h.v1.iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            h.v2.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            if v2_list.is_empty() {
                "no controllers".to_string()
            } else {
                v2_list.join(" ")
            }
        ),
        "v2" => format!("v2 (unified) with {}", v2_list.join(" ")),
        "v1" => format!(
            "v1: {}",
            h.v1.iter()
                .map(|x| x.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => "no cgroup filesystem is mounted".to_string(),
    };
    if layout == "none" {
        return check(
            "cgroups",
            Level::Missing,
            detail,
            "mount cgroup2 on /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)",
        );
    }
    if missing.is_empty() {
        return check("cgroups", Level::Ok, detail, "");
    }
    let fix = if h.is_v2() {
        format!(
            "enable the controllers for child groups: echo '+{}' > {}/cgroup.subtree_control (systemd: Delegate=yes)",
            missing.join(" +"),
            h.v2.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        )
    } else {
        format!(
            "mount the v1 controllers ({}) under /sys/fs/cgroup, or boot with systemd.unified_cgroup_hierarchy=1",
            missing.join(", ")
        )
    };
    check(
        "cgroups",
        Level::Warn,
        format!(
            "{detail}; missing {} (their limits are refused)",
            missing.join(", ")
        ),
        &fix,
    )
}

fn overlay(paths: &Paths) -> Check {
    let fss = read("/proc/filesystems").unwrap_or_default();
    let has = fss
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    if !has {
        let loadable = Path::new("/sys/module/overlay").exists()
            || Command::new("modinfo")
                .arg("overlay")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
        return check(
            "overlay",
            Level::Warn,
            if loadable {
                "overlayfs is not loaded: containers get full copies of their images".into()
            } else {
                "the kernel has no overlayfs: containers get full copies of their images".into()
            },
            "modprobe overlay (and add overlay to /etc/modules-load.d/ to keep it)",
        );
    }
    // An overlay upper dir cannot live on overlayfs (berth then copies instead).
    let mut dir = paths.root.clone();
    while !dir.exists() {
        if !dir.pop() {
            break;
        }
    }
    let on_overlay =
        rustix::fs::statfs(&dir).is_ok_and(|s| s.f_type == crate::bundle::overlay::OVERLAYFS_MAGIC);
    if on_overlay {
        return check(
            "overlay",
            Level::Warn,
            format!(
                "{} is on overlayfs, which cannot hold overlay upper dirs: containers get full copies",
                paths.root.display()
            ),
            "put berth's root on another filesystem (--root / BERTH_ROOT, e.g. a volume)",
        );
    }
    let new_api = kernel_at_least(6, 8);
    check(
        "overlay",
        Level::Ok,
        format!(
            "overlayfs{}",
            if new_api {
                ", lowerdir+ (no layer-count limit)"
            } else {
                " (about 140 layers per image)"
            }
        ),
        "",
    )
}

fn kernel_at_least(maj: u32, min: u32) -> bool {
    let release = read("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut nums = release
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .map(|n| n.parse::<u32>().unwrap_or(0));
    (nums.next().unwrap_or(0), nums.next().unwrap_or(0)) >= (maj, min)
}

fn seccomp() -> Check {
    // PR_GET_SECCOMP fails with EINVAL on a kernel built without CONFIG_SECCOMP.
    // libc, not nix: nix has no PR_GET_SECCOMP.
    // SAFETY: PR_GET_SECCOMP takes no pointer; the unused arguments are zero.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    let filter = read("/proc/sys/kernel/seccomp/actions_avail").unwrap_or_default();
    if mode < 0 || filter.is_empty() {
        return check(
            "seccomp",
            Level::Missing,
            "the kernel has no seccomp filters: Docker's default profile cannot be applied".into(),
            "use a kernel built with CONFIG_SECCOMP_FILTER, or run with --security-opt seccomp=unconfined",
        );
    }
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("libseccomp {}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "libseccomp".into());
    check(
        "seccomp",
        Level::Ok,
        format!("filters ({version}); actions: {filter}"),
        "",
    )
}

/// Which Linux security module confines containers, and what berth does with it.
pub fn security_modules(h: &crate::runtime::lsm::Host) -> Check {
    let what = if h.apparmor {
        format!(
            "containers get the {} AppArmor profile (Docker's rules) unless --security-opt apparmor= names another",
            crate::runtime::lsm::apparmor::DEFAULT_PROFILE
        )
    } else if h.selinux {
        "--security-opt label=... gives containers SELinux labels".to_string()
    } else {
        "--security-opt apparmor=PROFILE and label=... are refused; unconfined and label=disable run"
            .to_string()
    };
    check(
        "security modules",
        Level::Ok,
        format!("{}: {what}", h.describe()),
        "",
    )
}

fn namespaces() -> Check {
    let kinds = ["mnt", "pid", "net", "ipc", "uts", "cgroup"];
    let missing: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| !Path::new("/proc/self/ns").join(k).exists())
        .collect();
    if missing.is_empty() {
        check("namespaces", Level::Ok, kinds.join(" "), "")
    } else {
        check(
            "namespaces",
            Level::Missing,
            format!("the kernel lacks {} namespaces", missing.join(", ")),
            "use a kernel built with CONFIG_NAMESPACES and the missing CONFIG_*_NS options",
        )
    }
}

fn user_namespaces() -> Check {
    if !Path::new("/proc/self/ns/user").exists() {
        return check(
            "user namespaces",
            Level::Warn,
            "the kernel has no user namespaces: --userns remapping is unavailable".into(),
            "use a kernel built with CONFIG_USER_NS",
        );
    }
    let max: i64 = read("/proc/sys/user/max_user_namespaces")
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    if max == 0 {
        return check(
            "user namespaces",
            Level::Warn,
            "user.max_user_namespaces is 0: --userns remapping is refused".into(),
            "sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d/)",
        );
    }
    let subuid = fs::read_to_string("/etc/subuid").unwrap_or_default();
    let detail = format!(
        "available (max {max}){}",
        if subuid.trim().is_empty() {
            "; /etc/subuid has no ranges"
        } else {
            ""
        }
    );
    check("user namespaces", Level::Ok, detail, "")
}

fn tool_version(tool: &str) -> Option<String> {
    let out = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn firewall() -> Check {
    let Some(v) = tool_version("iptables-restore").or_else(|| tool_version("iptables")) else {
        return check(
            "iptables",
            Level::Missing,
            "iptables-restore is not installed: bridge networks, published ports and NAT fail"
                .into(),
            "apt-get install iptables (or use --network none/host)",
        );
    };
    // The backend as the tool itself names it (`iptables-restore v1.8.9 (nf_tables)`): the
    // one berth's rules go to, since berth runs the iptables-restore on PATH.
    let backend = if v.contains("(nf_tables)") {
        "the nf_tables backend"
    } else if v.contains("(legacy)") {
        "the legacy backend"
    } else {
        "an unknown backend"
    };
    let nat = Path::new("/proc/net/ip_tables_names").exists()
        || Path::new("/sys/module/nf_tables").exists()
        || Path::new("/sys/module/nf_nat").exists();
    check(
        "iptables",
        if nat { Level::Ok } else { Level::Warn },
        format!("{}: {backend}", v.lines().next().unwrap_or(&v)),
        "modprobe nf_nat nf_tables (published ports need NAT)",
    )
}

fn forwarding() -> Check {
    let fwd = read("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    let detail = match fwd.as_str() {
        "1" => "net.ipv4.ip_forward=1".to_string(),
        "0" => "net.ipv4.ip_forward=0 now; berth turns it on while a bridge network has containers, and back after".to_string(),
        _ => "net.ipv4.ip_forward is unreadable".to_string(),
    };
    let ok = matches!(fwd.as_str(), "0" | "1");
    check(
        "ip forwarding",
        if ok { Level::Ok } else { Level::Warn },
        detail,
        "mount /proc/sys read-write (containers' outbound traffic needs forwarding)",
    )
}

fn busybox() -> Check {
    use crate::image::busybox::{HOST_BUSYBOX, check_static};
    let Some(p) = HOST_BUSYBOX.iter().find(|p| Path::new(p).exists()) else {
        return check(
            "busybox",
            Level::Warn,
            "no busybox: `berth image default` cannot build an image offline".into(),
            "apt-get install busybox-static",
        );
    };
    match check_static(Path::new(p)) {
        Ok(()) => check(
            "busybox",
            Level::Ok,
            format!("{p} is static: `berth image default` can build busybox:latest offline"),
            "",
        ),
        Err(e) => check(
            "busybox",
            Level::Warn,
            e.to_string(),
            "apt-get install busybox-static",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn cgroup_layouts_are_named() {
        let mut h = Hierarchies {
            v1: vec![],
            v2: Some(PathBuf::from("/nonexistent-cgroup2")),
        };
        let c = cgroups(&h);
        assert!(c.detail.starts_with("v2"), "{}", c.detail);
        // Nothing readable: every controller is reported missing, with a fix.
        assert_eq!(c.level, Level::Warn);
        assert!(c.fix.contains("subtree_control"), "{}", c.fix);
        h.v2 = None;
        let c = cgroups(&h);
        assert_eq!(c.level, Level::Missing);
    }

    #[test]
    fn this_machine_reports_every_check() {
        let checks = run(&Paths::new("/nonexistent/root", "/nonexistent/run"));
        let names: Vec<&str> = checks.iter().map(|c| c.name).collect();
        for n in [
            "kernel",
            "cgroups",
            "overlay",
            "seccomp",
            "security modules",
            "user namespaces",
            "iptables",
        ] {
            assert!(names.contains(&n), "{names:?}");
        }
        assert!(
            checks
                .iter()
                .all(|c| c.level == Level::Ok || !c.fix.is_empty())
        );
    }

    #[test]
    fn the_security_module_row_says_what_containers_get() {
        let mut h = crate::runtime::lsm::Host::default();
        let c = security_modules(&h);
        assert!(
            c.detail.starts_with("no AppArmor or SELinux: ") && c.detail.contains("refused"),
            "{}",
            c.detail
        );
        h.apparmor = true;
        assert!(
            security_modules(&h)
                .detail
                .contains("berth-default AppArmor profile")
        );
        h.apparmor = false;
        h.selinux = true;
        assert!(security_modules(&h).detail.starts_with("SELinux: "));
    }
}
