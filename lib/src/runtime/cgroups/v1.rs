//! cgroup v1 directories (kernel Documentation/admin-guide/cgroup-v1/*). The limits are
//! planned in [`super::resources`].

use std::fs;
use std::io::Write;
use std::path::Path;

use super::{CgroupError, fs_err, write};
use crate::runtime::RuntimeError;

/// mkdir for one v1 hierarchy: one mkdir when the parent exists (the usual case), mkdir -p
/// otherwise; whether the directory was there already. A cpuset directory starts with empty
/// cpus and mems and then refuses tasks: when the new directory's are empty, they are copied
/// down from the nearest ancestor that has them.
pub fn mkdir(mount: &Path, rel: &str, cpuset: bool) -> Result<bool, CgroupError> {
    let dir = mount.join(rel);
    let existed = super::make_dir(&dir)?;
    if cpuset && empty(&dir.join("cpuset.cpus")) {
        fill_cpuset(mount, rel)?;
    }
    Ok(existed)
}

fn empty(file: &Path) -> bool {
    fs::read_to_string(file).map_or(true, |s| s.trim().is_empty())
}

/// Copies cpuset.cpus and cpuset.mems down, level by level, where they are empty.
fn fill_cpuset(mount: &Path, rel: &str) -> Result<(), CgroupError> {
    let mut dir = mount.to_path_buf();
    for part in rel.split('/').filter(|p| !p.is_empty()) {
        let parent = dir.clone();
        dir.push(part);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if empty(&dir.join(f)) {
                let v = fs::read_to_string(parent.join(f)).unwrap_or_default();
                // The cgroupfs file, never a file created by this write.
                let path = dir.join(f);
                fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|mut f| f.write_all(v.trim().as_bytes()))
                    .map_err(fs_err("writing", &path))?;
            }
        }
    }
    Ok(())
}

/// Freezes or thaws, and waits until the kernel says so (pause and resume, not the create
/// or remove paths).
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
