//! `berth-spawn delete [--force] ID`: runc's verb, and the spawn stage's teardown verb (the
//! first of [`super::teardown`]'s). For a berth container its monitor goes first (so that no
//! restart policy revives it), then the OCI runtime's delete (`runtime::oci::delete`: the
//! process, its cgroups, its runtime state), and the record says the container no longer runs.

use crate::error::{Code, Error};
use crate::paths::Paths;
use crate::protocol::Event;
use crate::runtime::oci;
use crate::runtime::state::Root;
use crate::state::{Containers, liveness};

/// Deletes container `id` under the runtime root `root` (see the module docs). With `force`,
/// or for a berth container, a running one is stopped first and one already gone is no error.
pub fn delete(paths: &Paths, root: &Root, id: &str, force: bool) -> Result<(), Error> {
    let containers = Containers::new(paths);
    let record = containers.load(id).ok();
    if let Some(s) = record.as_ref().and_then(|r| r.state.clone()) {
        if s.status.is_active() && !force && root.exists(id) {
            return Err(Error::new(
                Code::WRONG_STATE,
                format!("container {id} is running: stop it first, or use --force"),
            ));
        }
        if s.monitor_pid > 0
            && s.monitor_pid != std::process::id() as i32
            && liveness::is_alive(s.monitor_pid, s.monitor_start)
        {
            // SAFETY: kill(2) takes no pointers; the pid was just checked to be the live
            // monitor (pid and start time), so the signal cannot reach a recycled pid.
            unsafe { libc::kill(s.monitor_pid, libc::SIGKILL) };
            oci::wait_gone(
                s.monitor_pid,
                s.monitor_start,
                std::time::Duration::from_secs(5),
            );
        }
    }
    let r = oci::delete(root, id, force || record.is_some());
    let _ = std::fs::remove_file(paths.attach_socket(id));
    // Only a container that was running is recorded killed: one that is not stays as it is
    // (the refusal), and its record is not written again (a foreground `run --rm` recorded
    // its exit just before).
    if record.is_some() {
        let _ = containers.update_if(id, |r| {
            r.state
                .as_mut()
                .is_some_and(|s| s.apply(Event::Deleted).is_ok())
        });
    }
    Ok(r?)
}
