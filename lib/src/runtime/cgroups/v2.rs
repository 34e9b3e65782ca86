//! cgroup v2 directories (kernel Documentation/admin-guide/cgroup-v2.rst). The limits are
//! planned in [`super::resources`].

use std::fs;
use std::path::Path;

use super::{CgroupError, write};
use crate::runtime::RuntimeError;

/// mkdir with `wanted` controllers enabled down to the new directory (a child sees only what
/// its parent enabled in cgroup.subtree_control). Usually the parent has them already, which
/// one read of its subtree_control tells; else each level from the root gets the missing ones.
/// Enabling failures are left to the limit writes, which name the field. Returns whether the
/// directory was there already.
pub fn mkdir(mount: &Path, rel: &str, wanted: &[&str]) -> Result<bool, CgroupError> {
    let dir = mount.join(rel);
    let parent = dir.parent().unwrap_or(mount);
    if !wanted.is_empty() && !missing(parent, wanted).is_empty() {
        enable_down(mount, rel, wanted);
    }
    super::make_dir(&dir)
}

/// The controllers of `wanted` that `dir` does not enable for its children.
fn missing<'a>(dir: &Path, wanted: &[&'a str]) -> Vec<&'a str> {
    let on = fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    wanted
        .iter()
        .filter(|c| !on.split_whitespace().any(|o| o == **c))
        .copied()
        .collect()
}

/// From the root down to the parent of `rel`: enable what is missing, make the next level.
fn enable_down(mount: &Path, rel: &str, wanted: &[&str]) {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    let mut dir = mount.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        let m = missing(&dir, wanted);
        if !m.is_empty() {
            let line: Vec<String> = m.iter().map(|c| format!("+{c}")).collect();
            let _ = write(&dir.join("cgroup.subtree_control"), &line.join(" "));
        }
        if i + 1 == parts.len() {
            break;
        }
        dir.push(part);
        let _ = fs::create_dir(&dir);
    }
}

/// Freezes or thaws, and waits until cgroup.events says so (pause and resume only).
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
