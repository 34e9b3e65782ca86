//! Docker `rm`: a container that is not running (or, with `-f`, any) torn down by each
//! stage's own idempotent teardown, in reverse order of set-up ([`super::teardown`]).
//!
//! A record that cannot be read (a power loss after an unsynced write can leave it empty:
//! records are volatile, `store::atomic`) is refused without `-f`, in words that say so;
//! `rm -f` then tears down everything named by the id alone: the runtime state, process and
//! cgroups, the network objects the journal names, the rootfs, the directory and the name.

use super::ContainerError;
use super::teardown::teardown;
use crate::error::Result;
use crate::paths::Paths;
use crate::protocol::Record;
use crate::state::{Containers, StateError, truth};

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
    let record = match containers.load(&id) {
        Ok(r) => r,
        Err(StateError::CorruptRecord { .. }) if opts.force => {
            teardown(paths, &unreadable(&id), opts.volumes)?;
            return Ok(id);
        }
        Err(e) => return Err(e.into()),
    };
    let record = truth::observe(&containers, record)?;
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

/// What `rm -f` tears down for a container whose record is unreadable: every stage's part,
/// found by the id alone (the sections are present but empty, so no step is skipped). It has
/// no state section: no `destroy` event is made up for a container whose name is unknown.
fn unreadable(id: &str) -> Record {
    let mut r = Record::new();
    r.id = id.to_string();
    r.process = Some(Default::default());
    r.mounts = Some(Vec::new());
    r.network = Some(Default::default());
    r
}
