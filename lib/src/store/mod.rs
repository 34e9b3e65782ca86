//! The content store: atomic writes, locks, the OCI image layout under `<root>/images`, and
//! the modes that keep all of berth's state private to root.

pub mod atomic;
pub mod layout;
pub mod lock;
pub mod private;

pub use layout::ImageStore;

use std::path::Path;

use crate::error::IoError;

/// The entries of a store directory that may not exist yet: a missing directory is empty (a
/// store nobody wrote to has nothing in it); any other failure names the directory. Entries
/// that vanish while being read are skipped, as after a concurrent removal.
pub fn list_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, IoError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.flatten().collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(IoError {
            op: "list",
            path: dir.to_path_buf(),
            source,
        }),
    }
}
pub use lock::Lock;
