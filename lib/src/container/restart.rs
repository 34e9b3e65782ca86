//! Docker's restarts: the `restart` verb (stop, then start), and the restart policy applied
//! when a detached container's process ends. The monitor ([`super::monitor`]) holds no record
//! and asks berth-spawn to decide, through hooks:
//!
//! - `monitor-hook exited ID STATUS` ([`exited`]): the container's init ended with wait status
//!   STATUS. Tears down its runtime state, records exit code, finish time and OOM kill, and
//!   decides by the restart policy: prints `restart` or `exit` (after `--rm`'s removal).
//! - `monitor-hook compress ID` (`logdriver::compress_rotated`): the local driver's rotated
//!   files gzipped.
//! - `monitor-hook respawn ID` ([`respawn`]): starts the container again with the monitor's
//!   stdio (fds 3..5 of the hook); prints the new pid, or `exit` if it was stopped meanwhile.

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};

use super::start::start;
use super::stop::stop;
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{Event, RestartPolicy, Status};
use crate::runtime::process::{self, CreateOpts, Launch};
use crate::runtime::{oci, signals};
use crate::state::{Containers, StateError, liveness};

/// Docker `restart`: stop, then start.
pub fn restart(paths: &Paths, arg: &str, timeout: Option<u32>) -> Result<String, Error> {
    let id = stop(paths, arg, timeout, None)?;
    let id = start(paths, &id)?;
    if let Ok(r) = Containers::new(paths).load(&id) {
        crate::events::container(&paths.root, &r, "restart", &[]);
    }
    Ok(id)
}

/// Docker's restart decision (moby `restartmanager`).
pub fn should_restart(
    policy: &RestartPolicy,
    code: i32,
    count: u32,
    manually_stopped: bool,
) -> bool {
    if manually_stopped {
        return false;
    }
    match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => {
            code != 0 && (policy.maximum_retry_count == 0 || count < policy.maximum_retry_count)
        }
        _ => false,
    }
}

/// The container's init ended: record it and decide. Returns `true` to restart.
pub fn exited(paths: &Paths, id: &str, wait_status: i32) -> Result<bool, Error> {
    let root = super::runtime_root(paths);
    let oom = root
        .load(id)
        .map(|s| s.cgroup().oom_kills() > 0)
        .unwrap_or(false);
    let _ = oci::delete(&root, id, true);
    let code = signals::exit_code(wait_status);
    let containers = Containers::new(paths);
    let updated = containers.update(id, |r| {
        let p = r.process.clone().unwrap_or_default();
        let s = r.state.get_or_insert_with(Default::default);
        let again = should_restart(&p.restart, code, s.restart_count, s.manually_stopped);
        let event = if again {
            Event::Restarting { code, oom }
        } else {
            Event::Exited {
                code,
                oom,
                error: String::new(),
            }
        };
        Ok::<_, StateError>(s.apply(event).map(|()| (again, r.clone())))
    });
    let (again, record) = match updated {
        Ok(v) => v?,
        // Removed meanwhile (rm -f): nothing left to record.
        Err(StateError::NoSuchContainer(_)) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    super::launch::dns_running(paths, id, false);
    super::launch::emit_exit(paths, &record, code, oom);
    // The local driver's last rotation may have come with the last lines.
    if super::logdriver::sink(&record).is_ok_and(|s| s.compress) {
        let _ = super::logdriver::compress_rotated(paths, id);
    }
    if !again && record.process.as_ref().is_some_and(|p| p.auto_remove) {
        super::teardown(paths, &record, true)?;
    }
    Ok(again)
}

/// Starts the container again for its monitor. `None` if it must not run (stopped, removed).
pub fn respawn(paths: &Paths, id: &str) -> Result<Option<(i32, Option<OwnedFd>)>, Error> {
    let containers = Containers::new(paths);
    let Ok(record) = containers.load(id) else {
        return Ok(None);
    };
    let s = record.state.clone().unwrap_or_default();
    if s.manually_stopped || s.status != Status::Restarting {
        return Ok(None);
    }
    let p = record.process.clone().unwrap_or_default();
    let bundle = super::bundle_path(&record)?;
    let root = super::runtime_root(paths);
    let _ = oci::delete(&root, id, true);
    // The monitor passes the container's stdin, stdout and stderr as our 3, 4 and 5.
    let dup = |fd: RawFd| {
        // SAFETY: the monitor execs us with 3, 4 and 5 open, and nothing here closes them
        // while they are borrowed for the dup.
        nix::unistd::dup(unsafe { BorrowedFd::borrow_raw(fd) }).ok()
    };
    let stdio = [dup(3), dup(4), dup(5)];
    let l = process::create(CreateOpts {
        id,
        bundle: &bundle,
        root: &root,
        launch: Launch::Run,
        pid_file: None,
        console_socket: None,
        preserve_fds: 0,
        stdin_null: false,
        stdio: Some(stdio),
        init: p.init,
    });
    let l = match l {
        Ok(l) => l,
        Err(e) => {
            let e: Error = e.into();
            let _ = containers.update(id, |r| {
                if let Some(s) = r.state.as_mut() {
                    s.apply(Event::RespawnFailed {
                        error: e.one_line(),
                    })?;
                }
                Ok::<_, Error>(())
            });
            return Err(e);
        }
    };
    l.start()?;
    let pid = l.state.pid;
    let master = l.master;
    let respawned = containers.update(id, |r| {
        let s = r.state.get_or_insert_with(Default::default);
        let pid_start = liveness::start_time(pid).unwrap_or(0);
        Ok::<_, Error>(s.apply(Event::Respawned { pid, pid_start }))
    })?;
    if respawned.is_err() {
        // Stopped while it was being started again (`stop` made it exited): it must not run.
        let _ = oci::delete(&root, id, true);
        return Ok(None);
    }
    super::launch::dns_running(paths, id, true);
    if let Ok(r) = containers.load(id) {
        super::attached::emit(paths, &r, true);
        crate::events::container(&paths.root, &r, "start", &[]);
    }
    Ok(Some((pid, master)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(name: &str, max: u32) -> RestartPolicy {
        RestartPolicy {
            name: name.into(),
            maximum_retry_count: max,
        }
    }

    #[test]
    fn restart_policies_follow_docker() {
        assert!(!should_restart(&pol("no", 0), 1, 0, false));
        assert!(should_restart(&pol("always", 0), 0, 9, false));
        assert!(!should_restart(&pol("always", 0), 0, 0, true));
        assert!(should_restart(&pol("on-failure", 0), 1, 100, false));
        assert!(!should_restart(&pol("on-failure", 0), 0, 0, false));
        assert!(should_restart(&pol("on-failure", 2), 1, 1, false));
        assert!(!should_restart(&pol("on-failure", 2), 1, 2, false));
        assert!(should_restart(&pol("unless-stopped", 0), 0, 0, false));
    }
}
