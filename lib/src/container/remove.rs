//! Docker `rm`: a container that is not running (or, with `-f`, any) torn down by each
//! stage's own idempotent teardown, in reverse order of set-up ([`super::teardown`]).

use super::ContainerError;
use super::teardown::teardown;
use crate::error::Result;
use crate::paths::Paths;
use crate::state::{Containers, truth};

#[derive(Debug, Clone, Copy, Default)]
pub struct RemoveOptions {
    /// `-f`: stop (SIGKILL) a running container first.
    pub force: bool,
    /// `-v`: remove its anonymous volumes too.
    pub volumes: bool,
}

/// Docker `rm` of one container (NAME|ID|PREFIX). Returns its id.
pub fn remove(paths: &Paths, arg: &str, opts: RemoveOptions) -> Result<String> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let record = truth::observe(&containers, containers.load(&id)?)?;
    let status = record.state.as_ref().map(|s| s.status).unwrap_or_default();
    if !opts.force && !status.can_remove() {
        return Err(ContainerError::Active {
            name: arg.to_string(),
            status: status.as_str().to_string(),
        }
        .into());
    }
    if status.is_active() {
        // `rm -f` of a live container: SIGKILL, then its end, then `destroy` (teardown's),
        // in moby's order. The monitor records no end for a container being removed.
        let sig = [("signal", libc::SIGKILL.to_string())];
        crate::events::container(&paths.root, &record, "kill", &sig);
        super::launch::emit_exit(paths, &record, 128 + libc::SIGKILL, false);
    }
    teardown(paths, &record, opts.volumes)?;
    Ok(id)
}
