//! Docker `exec` by NAME|ID|PREFIX: a process run in a running container (`runtime::oci`'s
//! exec, which runc's verb shares).

use super::{ContainerError, load_true, runtime_root};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::Status;
use crate::runtime::oci::{self, ExecRequest};
use crate::state::Containers;

/// Docker `exec` by NAME|ID|PREFIX.
pub fn exec(paths: &Paths, arg: &str, req: ExecRequest) -> Result<i32, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    let r = load_true(paths, &id)?;
    let s = r.state.unwrap_or_default();
    if s.status == Status::Paused {
        return Err(ContainerError::Status {
            id: arg.into(),
            status: "paused".into(),
            what: "unpause the container before exec".into(),
        }
        .into());
    }
    if s.status != Status::Running {
        return Err(ContainerError::Status {
            id: arg.into(),
            status: s.status.as_str().into(),
            what: format!("container {arg} is not running"),
        }
        .into());
    }
    Ok(oci::exec(&runtime_root(paths), &id, req)?)
}
