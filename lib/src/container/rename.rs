//! Docker `rename OLD NEW`.

use super::ContainerError;
use crate::error::Result;
use crate::paths::Paths;
use crate::state::Containers;

/// Docker `rename OLD NEW`: the name is reserved atomically, the old one released.
pub fn rename(paths: &Paths, arg: &str, new_name: &str) -> Result<String> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let record = containers.load(&id)?;
    if record.name == new_name {
        return Err(ContainerError::BadArgs(format!(
            "renaming a container with the same name as its current name ({new_name})"
        ))
        .into());
    }
    containers.rename(&id, new_name)?;
    if let Ok(renamed) = containers.load(&id) {
        // moby keeps the old name as it stores it, with its leading slash.
        let old = format!("/{}", record.name);
        crate::events::container(&paths.root, &renamed, "rename", &[("oldName", old)]);
    }
    Ok(id)
}
