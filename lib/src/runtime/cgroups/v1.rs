//! Limits on cgroup v1 (kernel Documentation/admin-guide/cgroup-v1/*).

use std::fs;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxResources};

use super::{Cgroup, write};
use crate::runtime::RuntimeError;

/// mkdir -p for cpuset: each new level starts with empty cpus/mems and then refuses tasks, so
/// copy the parent's values down level by level.
pub fn mkdir_cpuset(mount: &Path, rel: &str) -> Result<(), RuntimeError> {
    let mut dir = mount.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        let parent = dir.clone();
        dir.push(part);
        if dir.is_dir() {
            continue;
        }
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(RuntimeError::Cgroup(format!(
                    "mkdir {}: {e}",
                    dir.display()
                )));
            }
        }
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let v = fs::read_to_string(parent.join(f)).unwrap_or_default();
            let cur = fs::read_to_string(dir.join(f)).unwrap_or_default();
            if cur.trim().is_empty() && !v.trim().is_empty() {
                write(&dir.join(f), v.trim())?;
            }
        }
    }
    Ok(())
}

pub fn apply(
    cg: &Cgroup,
    res: &LinuxResources,
    extra_devices: &[String],
) -> Result<(), RuntimeError> {
    if let (Some(m), Some(d)) = (res.memory(), cg.v1_dir("memory")) {
        // The limit must be set before memsw (memsw >= limit), and the reservation is a soft
        // limit.
        if let Some(l) = m.limit() {
            write(&d.join("memory.limit_in_bytes"), &l.to_string())?;
        }
        if let Some(s) = m.swap() {
            let f = d.join("memory.memsw.limit_in_bytes");
            if f.exists() {
                write(&f, &s.to_string())?;
            } else if s > 0 {
                log::warn!("this kernel has no swap accounting; --memory-swap is ignored");
            }
        }
        if let Some(r) = m.reservation() {
            write(&d.join("memory.soft_limit_in_bytes"), &r.to_string())?;
        }
        if let Some(s) = m.swappiness() {
            let _ = write(&d.join("memory.swappiness"), &s.to_string());
        }
        if m.disable_oom_killer() == Some(true) {
            write(&d.join("memory.oom_control"), "1")?;
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(d) = cg.v1_dir("cpu") {
            if let Some(s) = c.shares().filter(|s| *s > 0) {
                write(&d.join("cpu.shares"), &s.to_string())?;
            }
            if let Some(p) = c.period().filter(|p| *p > 0) {
                write(&d.join("cpu.cfs_period_us"), &p.to_string())?;
            }
            if let Some(q) = c.quota().filter(|q| *q != 0) {
                write(&d.join("cpu.cfs_quota_us"), &q.to_string())?;
            }
        }
        if let Some(d) = cg.v1_dir("cpuset") {
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                write(&d.join("cpuset.cpus"), cpus)?;
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                write(&d.join("cpuset.mems"), mems)?;
            }
        }
    }
    if let (Some(p), Some(d)) = (res.pids(), cg.v1_dir("pids")) {
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        write(&d.join("pids.max"), &v)?;
    }
    if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
        let d = cg.v1_dir("blkio");
        let file = d
            .iter()
            .flat_map(|d| [d.join("blkio.weight"), d.join("blkio.bfq.weight")])
            .find(|f| f.exists());
        match file {
            Some(f) => write(&f, &w.to_string())?,
            None => log::warn!(
                "your kernel does not support Block I/O weight or the cgroup is not mounted; weight discarded"
            ),
        }
    }
    if let (Some(rules), Some(d)) = (res.devices(), cg.v1_dir("devices")) {
        for r in rules {
            let file = if r.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            write(&d.join(file), &device_rule(r))?;
        }
        // The devices every container gets, and the ones its config adds, stay usable
        // whatever the rules say (runc and crun do the same).
        for rule in DEFAULT_ALLOWED
            .iter()
            .map(|s| s.to_string())
            .chain(extra_devices.iter().cloned())
        {
            write(&d.join("devices.allow"), &rule)?;
        }
    }
    Ok(())
}

/// null, zero, full, random, urandom, tty, console, ptmx and the pts.
const DEFAULT_ALLOWED: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// `c 1:3 rwm`, `a *:* rwm`.
pub fn device_rule(r: &LinuxDeviceCgroup) -> String {
    let t = r.typ().map_or("a".to_string(), |t| t.as_str().to_string());
    let n = |v: Option<i64>| {
        v.filter(|v| *v >= 0)
            .map_or("*".to_string(), |v| v.to_string())
    };
    let access = r
        .access()
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "rwm".into());
    format!("{t} {}:{} {access}", n(r.major()), n(r.minor()))
}

pub fn freeze(dir: &Path, frozen: bool) -> Result<(), RuntimeError> {
    let want = if frozen { "FROZEN" } else { "THAWED" };
    let f = dir.join("freezer.state");
    for _ in 0..1000 {
        write(&f, want)?;
        if fs::read_to_string(&f).is_ok_and(|s| s.trim() == want) {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(RuntimeError::Cgroup(format!(
        "{} did not reach {want}",
        f.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    #[test]
    fn device_rules_read_like_the_kernel_wants() {
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(false)
            .access("rwm")
            .build()
            .unwrap();
        assert_eq!(device_rule(&r), "a *:* rwm");
        let r = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .access("rw")
            .build()
            .unwrap();
        assert_eq!(device_rule(&r), "c 1:3 rw");
    }
}
