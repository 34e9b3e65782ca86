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
    let s = r.state.clone().unwrap_or_default();
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
    // moby's exec events: the action carries the command, the attributes the exec's id.
    let exec_id = crate::state::ids::new_id();
    let what = req.args.join(" ");
    let detach = req.detach;
    let emit = |action: &str, extra: Option<(&str, String)>| {
        let mut attrs = vec![("execID", exec_id.clone())];
        attrs.extend(extra);
        crate::events::container(&paths.root, &r, action, &attrs);
    };
    emit(&format!("exec_create: {what}"), None);
    emit(&format!("exec_start: {what}"), None);
    let code = oci::exec(&runtime_root(paths), &id, req)?;
    if !detach {
        emit("exec_die", Some(("exitCode", code.to_string())));
    }
    Ok(code)
}
