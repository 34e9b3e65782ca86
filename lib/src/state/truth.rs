//! Truthful state: a record that says "running" is checked against the kernel. If the
//! container's process is gone (pid dead, or reused: the start time differs) and no monitor
//! is alive to record how it ended, the record is corrected to "exited" (DESIGN.md, "Truthful").

use crate::protocol::{Event, Record, StateSection, Status};
use crate::state::containers::{Containers, StateError};
use crate::state::liveness::is_alive;

pub use crate::protocol::UNKNOWN_EXIT;

/// Whether the record's claim that a process exists is false.
pub fn is_stale(state: &StateSection) -> bool {
    if !state.status.is_active() {
        return false;
    }
    let container_alive = state.pid > 0 && is_alive(state.pid, state.pid_start);
    let monitor_alive = state.monitor_pid > 0 && is_alive(state.monitor_pid, state.monitor_start);
    match state.status {
        // A restarting container has no process between attempts; its monitor owns it.
        Status::Restarting => !monitor_alive,
        // The monitor records the exit itself, so a dead container with a live monitor is a
        // race we leave to the monitor, unless the monitor is also gone.
        _ => !container_alive && !monitor_alive,
    }
}

/// Returns the record as it truly is, correcting it on disk (under its lock) if its process
/// died unseen. A record that is already truthful is returned unchanged, without a write.
pub fn observe(containers: &Containers, record: Record) -> Result<Record, StateError> {
    match &record.state {
        Some(s) if is_stale(s) => {}
        _ => return Ok(record),
    }
    containers.update(&record.id, |r| {
        if let Some(s) = r.state.as_mut()
            && is_stale(s)
        {
            // Stale means active, which `Lost` always applies to.
            let _ = s.apply(Event::Lost);
        }
        Ok::<_, StateError>(r.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;

    #[test]
    fn a_dead_pid_is_reported_exited_and_a_live_one_is_not() {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(&Paths::new(d.path().join("r"), d.path().join("run")));
        let (id, name) = c.create(Some("truth")).unwrap();
        let mut r = Record::new();
        r.id = id.clone();
        r.name = name;
        let me = std::process::id() as i32;
        r.state = Some(StateSection {
            status: Status::Running,
            pid: me,
            pid_start: crate::state::liveness::start_time(me).unwrap(),
            ..Default::default()
        });
        c.save(&r).unwrap();
        let seen = observe(&c, c.load(&id).unwrap()).unwrap();
        assert_eq!(seen.state.unwrap().status, Status::Running);
        // Same pid, different start time: a reused pid, so the container is gone.
        c.update(&id, |r| {
            r.state.as_mut().unwrap().pid_start += 1;
            Ok::<_, StateError>(())
        })
        .unwrap();
        let seen = observe(&c, c.load(&id).unwrap()).unwrap();
        let s = seen.state.unwrap();
        assert_eq!((s.status, s.exit_code), (Status::Exited, UNKNOWN_EXIT));
        assert_eq!(c.load(&id).unwrap().state.unwrap().status, Status::Exited);
    }
}
