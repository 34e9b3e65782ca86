//! Docker `pause` and `unpause`: the container's cgroup frozen and thawed (`runtime::oci`'s
//! pause and resume), and its status recorded.

use super::{ContainerError, load_true, runtime_root};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{Event, Status};
use crate::runtime::oci;
use crate::state::Containers;

/// Docker `pause` / `unpause` (the freezer cgroup).
pub fn pause(paths: &Paths, arg: &str, frozen: bool) -> Result<String, Error> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let r = load_true(paths, &id)?;
    let status = r.state.map(|s| s.status).unwrap_or_default();
    let root = runtime_root(paths);
    match (frozen, status) {
        (true, Status::Running) => oci::pause(&root, &id)?,
        (false, Status::Paused) => oci::resume(&root, &id)?,
        (true, s) | (false, s) => {
            return Err(ContainerError::Status {
                id: arg.into(),
                status: s.as_str().into(),
                what: match (frozen, s) {
                    (true, Status::Paused) => "it is already paused".into(),
                    (true, _) => "cannot pause a container that is not running".into(),
                    (false, _) => "cannot unpause a container that is not paused".into(),
                },
            }
            .into());
        }
    }
    let r = containers.update(&id, |r| {
        if let Some(s) = r.state.as_mut() {
            s.apply(if frozen {
                Event::Paused
            } else {
                Event::Unpaused
            })?;
        }
        Ok::<_, Error>(r.clone())
    })?;
    let action = if frozen { "pause" } else { "unpause" };
    crate::events::container(&paths.root, &r, action, &[]);
    Ok(id)
}
