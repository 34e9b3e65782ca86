//! Docker `export CONTAINER`: the container's filesystem as one tar (its rootfs, without the
//! volumes and binds mounted into it), which `import` reads back. The rootfs is walked by
//! descriptor with `cp`'s archiver (`copytar`), never following a link out.

use std::io::Write;

use rustix::fs::{self as rfs, OFlags};

use super::copytar::{Counter, archive};
use crate::bundle;
use crate::confine::Root;
use crate::error::{Code, Error, IoContext, Result};
use crate::paths::Paths;
use crate::state::Containers;

/// Writes the tar of container `arg`'s filesystem to `out`.
pub fn export(paths: &Paths, arg: &str, out: &mut dyn Write) -> Result<()> {
    let c = Containers::new(paths);
    let id = c.resolve(arg)?;
    let record = c.load(&id)?;
    bundle::ensure_mounted(paths, &record)?;
    let rootfs = record
        .bundle
        .as_ref()
        .map(|b| b.rootfs.clone())
        .unwrap_or_default();
    let root = Root::open(&rootfs).with_path("open", &rootfs)?;
    let top = root
        .open_at(b"", OFlags::PATH | OFlags::DIRECTORY)
        .with_path("open", &rootfs)?;
    let st = rfs::fstat(&top)
        .map_err(|e| Error::new(Code::IO, format!("stat {}: {e}", rootfs.display())))?;
    let mut b = tar::Builder::new(out);
    archive(&mut b, &top, &st, None, &mut Counter::default())?;
    b.finish()
        .map_err(|e| Error::new(Code::IO, format!("write the archive: {e}")))?;
    Ok(())
}
