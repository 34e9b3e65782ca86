//! Carrying out a planned write: the first file of its choices that the controller has, then
//! the check the plan asks for.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::CgroupError;
use super::resources::{Check, Write};

/// The file the last write went to, still open for the next write to the same file: a v1
/// device cgroup takes one rule per write, some twenty to one `devices.allow` per container.
#[derive(Default)]
pub struct LastFile(Option<(PathBuf, fs::File)>);

impl LastFile {
    /// `path` opened for writing (`NotFound` when the controller has no such file).
    fn open(&mut self, path: PathBuf) -> std::io::Result<&mut fs::File> {
        if self.0.as_ref().is_none_or(|(p, _)| *p != path) {
            let f = fs::OpenOptions::new().write(true).open(&path)?;
            self.0 = Some((path, f));
        }
        Ok(&mut self.0.as_mut().expect("set above").1)
    }
}

/// One planned write: the first choice whose file exists, then its check.
pub fn write(dir: &Path, w: &Write, last: &mut LastFile) -> Result<(), CgroupError> {
    for (file, value) in &w.choices {
        let path = dir.join(file);
        match last.open(path.clone()) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            r => r,
        }
        .and_then(|f| f.write_all(value.as_bytes()))
        .map_err(|source| CgroupError::Write {
            field: w.field.clone(),
            path: path.clone(),
            value: value.clone(),
            source,
        })?;
        if let Check::ReadBack(want) = w.check {
            read_back(&path, want, &w.field)?;
        }
        return Ok(());
    }
    if w.check == Check::IfPresent {
        return Ok(());
    }
    let files: Vec<&str> = w.choices.iter().map(|c| c.0.as_str()).collect();
    let ctl = w.ctl.v1_name().unwrap_or("cgroup v2");
    Err(CgroupError::Refused {
        field: w.field.clone(),
        why: format!("the {ctl} cgroup here has no {} file", files.join(" or ")),
    })
}

/// Some files take a write and ignore it (memory.kmem.limit_in_bytes since Linux 6.1).
fn read_back(path: &Path, want: i64, field: &str) -> Result<(), CgroupError> {
    let s = fs::read_to_string(path).unwrap_or_default();
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .unwrap_or(-1)
        .max(1);
    if s.trim().parse::<i64>().ok() == Some(want / page * page) {
        return Ok(());
    }
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    Err(CgroupError::Refused {
        field: field.into(),
        why: format!(
            "the kernel takes {file} but ignores it (it still reads {}; kernel memory limits are gone since Linux 6.1)",
            s.trim()
        ),
    })
}
