//! Docker `stop`: the stop signal, SIGKILL after the timeout, and the container marked
//! manually stopped so that no restart policy brings it back.

use std::time::Duration;

use super::{load_true, runtime_root};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{Event, Record, StateSection, Status};
use crate::runtime::oci;
use crate::state::{Containers, truth};

/// Docker's default stop timeout.
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

fn signal_of(record: &Record, given: Option<&str>) -> Result<i32, Error> {
    let name = given
        .map(String::from)
        .or_else(|| record.process.as_ref().and_then(|p| p.stop_signal.clone()))
        .or_else(|| {
            record
                .bundle
                .as_ref()
                .and_then(|b| b.config.stop_signal.clone())
        })
        .unwrap_or_else(|| "SIGTERM".into());
    Ok(oci::parse_signal(&name)?)
}

/// Docker `stop`: the stop signal, then SIGKILL after the timeout; marks the container
/// manually stopped so no restart policy brings it back.
pub fn stop(
    paths: &Paths,
    arg: &str,
    timeout: Option<u32>,
    signal: Option<&str>,
) -> Result<String, Error> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let record = containers.update(&id, |r| {
        r.state
            .get_or_insert_with(Default::default)
            .apply(Event::Stopping)?;
        Ok::<_, Error>(r.clone())
    })?;
    let record = truth::observe(&containers, record)?;
    let Some(s) = record
        .state
        .clone()
        .filter(|s| s.status.is_active() && s.pid > 0)
    else {
        return Ok(id);
    };
    let sig = signal_of(&record, signal)?;
    let timeout = timeout
        .or(record.process.as_ref().and_then(|p| p.stop_timeout))
        .unwrap_or(DEFAULT_STOP_TIMEOUT);
    let root = runtime_root(paths);
    if s.status == Status::Paused {
        let _ = oci::resume(&root, &id);
    }
    // Each `kill` event is written before its signal: the watcher writes `die` as soon as
    // the process ends, and moby's order (its container lock) is kill, then die.
    let killing = |sig: i32| {
        crate::events::container(&paths.root, &record, "kill", &[("signal", sig.to_string())]);
    };
    killing(sig);
    // SAFETY: kill has no memory effects; `s.pid` is the init truth::observe just found alive.
    unsafe { libc::kill(s.pid, sig) };
    if !oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(timeout as u64)) {
        killing(libc::SIGKILL);
        // SAFETY: as above; wait_gone checked the pid against its start time.
        unsafe { libc::kill(s.pid, libc::SIGKILL) };
        oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(10));
    }
    wait_recorded(paths, &id, &s);
    // moby's order: kill, then die (the watcher's), then stop.
    crate::events::container(&paths.root, &record, "stop", &[]);
    Ok(id)
}

/// Waits until whoever watches the container (monitor or foreground berth-spawn) has
/// recorded its end; if nobody does, corrects the record.
fn wait_recorded(paths: &Paths, id: &str, s: &StateSection) {
    if s.monitor_pid > 0 {
        oci::wait_gone(s.monitor_pid, s.monitor_start, Duration::from_secs(10));
    }
    let _ = load_true(paths, id);
}
