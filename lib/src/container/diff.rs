//! Docker `diff CONTAINER`: what the container changed in its filesystem, from its overlay
//! upper directory (`layer::diff::changes`): `A` added, `C` changed, `D` deleted, sorted by
//! path as Docker prints them. A path counts as changed when a lower layer has it (the
//! topmost layer that names it decides; an overlayfs whiteout there means it is gone). The
//! files berth bind-mounts over the rootfs (`/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf`) are left out, as Docker leaves out its init layer.

use std::path::{Path, PathBuf};

use super::ContainerError;
use crate::error::{Code, Error, IoContext, Result};
use crate::layer::diff::{Change, changes, is_whiteout};
use crate::paths::Paths;
use crate::protocol::{Record, RootfsDriver};
use crate::state::Containers;

/// The files a container's bundle binds over its rootfs.
const BOUND: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];

/// The upper directory of a container (overlay driver only).
pub fn upper_dir(record: &Record) -> Result<PathBuf> {
    let b = record.bundle.as_ref().ok_or_else(|| {
        Error::from(ContainerError::NotFound(format!(
            "container {} has no bundle",
            record.id
        )))
    })?;
    if b.driver != RootfsDriver::Overlay {
        return Err(Error::new(
            Code::UNSUPPORTED,
            format!(
                "container {} uses the {:?} rootfs driver: diff, commit and export of its changes need overlay",
                record.id, b.driver
            ),
        ));
    }
    Ok(b.path.join("upper"))
}

/// Whether `rel` exists in the lower layers `layers` (diff ids, bottom first).
fn in_lower(paths: &Paths, layers: &[String], rel: &Path) -> bool {
    for d in layers.iter().rev() {
        let p = paths.layer(d).join("diff").join(rel);
        if let Ok(md) = std::fs::symlink_metadata(&p) {
            return !is_whiteout(&md);
        }
    }
    false
}

pub fn diff(paths: &Paths, arg: &str) -> Result<Vec<Change>> {
    let c = Containers::new(paths);
    let id = c.resolve(arg)?;
    let record = c.load(&id)?;
    let upper = upper_dir(&record)?;
    let layers = record
        .bundle
        .as_ref()
        .map(|b| b.layers.clone())
        .unwrap_or_default();
    let mut out = changes(&upper, &|rel| in_lower(paths, &layers, rel))
        .with_path("read the changes in", &upper)?;
    out.retain(|c| !BOUND.contains(&c.path.as_str()));
    Ok(out)
}
