//! Limits on cgroup v2 (kernel Documentation/admin-guide/cgroup-v2.rst), converting the OCI
//! (v1-shaped) values the way runc and crun do.

use std::fs;
use std::path::Path;

use oci_spec::runtime::LinuxResources;

use super::write;
use crate::runtime::RuntimeError;

/// Enables the controllers we use in every ancestor's subtree_control (a child sees only
/// what its parent enabled). Failures are left to the limit writes to report.
pub fn enable_controllers(mount: &Path, rel: &str) {
    let available = fs::read_to_string(mount.join("cgroup.controllers")).unwrap_or_default();
    let wanted: Vec<String> = available
        .split_whitespace()
        .filter(|c| matches!(*c, "cpu" | "cpuset" | "memory" | "pids" | "io" | "hugetlb"))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let mut dir = mount.to_path_buf();
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        let _ = write(&dir.join("cgroup.subtree_control"), &wanted.join(" "));
        dir.push(part);
        let _ = fs::create_dir(&dir);
    }
    let _ = write(&dir.join("cgroup.subtree_control"), &wanted.join(" "));
}

/// cpu.weight from cpu.shares (the conversion runc and crun use).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + ((shares.clamp(2, 262144) - 2) * 9999) / 262142
}

pub fn apply(dir: &Path, res: &LinuxResources) -> Result<(), RuntimeError> {
    if let Some(m) = res.memory() {
        if let Some(l) = m.limit() {
            write(&dir.join("memory.max"), &max(l))?;
        }
        if let Some(s) = m.swap() {
            // OCI swap is memory+swap; v2's swap.max is swap alone.
            let v = match (s, m.limit()) {
                (s, _) if s < 0 => "max".to_string(),
                (s, Some(l)) if l > 0 => (s - l).max(0).to_string(),
                (s, _) => s.to_string(),
            };
            let f = dir.join("memory.swap.max");
            if f.exists() {
                write(&f, &v)?;
            }
        }
        if let Some(r) = m.reservation() {
            write(&dir.join("memory.low"), &max(r))?;
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(s) = c.shares().filter(|s| *s > 0) {
            write(&dir.join("cpu.weight"), &shares_to_weight(s).to_string())?;
        }
        if c.quota().is_some() || c.period().is_some() {
            let q = c
                .quota()
                .filter(|q| *q > 0)
                .map_or("max".to_string(), |q| q.to_string());
            let p = c.period().filter(|p| *p > 0).unwrap_or(100_000);
            write(&dir.join("cpu.max"), &format!("{q} {p}"))?;
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write(&dir.join("cpuset.cpus"), cpus)?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write(&dir.join("cpuset.mems"), mems)?;
        }
    }
    if let Some(p) = res.pids() {
        write(&dir.join("pids.max"), &max(p.limit()))?;
    }
    if let Some(w) = res.block_io().as_ref().and_then(|b| b.weight()) {
        // blkio weight 10..1000 to io weight 1..10000.
        let v = 1 + (u64::from(w).saturating_sub(10) * 9999) / 990;
        let f = [dir.join("io.weight"), dir.join("io.bfq.weight")]
            .into_iter()
            .find(|f| f.exists());
        match f {
            Some(f) => write(&f, &v.to_string())?,
            None => log::warn!("this kernel has no io weight; --blkio-weight is ignored"),
        }
    }
    if res
        .devices()
        .as_ref()
        .is_some_and(|d| d.iter().any(|r| !r.allow()))
    {
        log::warn!(
            "device rules on pure cgroup v2 need an eBPF program; berth does not load one yet"
        );
    }
    Ok(())
}

fn max(v: i64) -> String {
    if v <= 0 { "max".into() } else { v.to_string() }
}

pub fn freeze(dir: &Path, frozen: bool) -> Result<(), RuntimeError> {
    write(&dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
    let want = if frozen { "frozen 1" } else { "frozen 0" };
    for _ in 0..1000 {
        if fs::read_to_string(dir.join("cgroup.events")).is_ok_and(|s| s.lines().any(|l| l == want))
        {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Err(RuntimeError::Cgroup(format!(
        "{} did not reach {want}",
        dir.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_like_runc() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
    }
}
