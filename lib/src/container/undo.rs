//! Undoing a `berth run` that failed or was interrupted (DESIGN.md, "berth run"): berth-run
//! exports `BERTH_CREATOR=$$`, berth-unpack records that process (pid and start time) in the
//! record it creates, and `berth-ctl undo --creator PID` removes the containers that process
//! made and that never ran, through every stage's teardown verb in reverse order.

use crate::error::Result;
use crate::lifecycle;
use crate::paths::Paths;
use crate::protocol::{Creator, Record};
use crate::state::{Containers, liveness};

/// The variable naming the process that makes containers (berth-run's `$$`).
pub const CREATOR_ENV: &str = "BERTH_CREATOR";

/// The creator named by `BERTH_CREATOR`, if it names a live process.
pub fn creator_from_env() -> Option<Creator> {
    let pid: i32 = std::env::var(CREATOR_ENV).ok()?.trim().parse().ok()?;
    let start = liveness::start_time(pid)?;
    Some(Creator { pid, start })
}

/// Whether the record's container got as far as running (then its end is its own).
fn ever_started(r: &Record) -> bool {
    r.state.as_ref().is_some_and(|s| s.started_at.is_some())
}

/// Removes every container made by process `pid` (matched with its start time, so a reused
/// pid never matches) that never started. Every teardown verb runs, whatever sections the
/// record has: a stage killed half-way may have set up what its section does not yet say.
/// Returns the ids removed.
pub fn undo(paths: &Paths, pid: i32) -> Result<Vec<String>> {
    let start = liveness::start_time(pid);
    let containers = Containers::new(paths);
    let mut removed = Vec::new();
    let mut first = None;
    for id in containers.list_ids()? {
        let Ok(record) = containers.load(&id) else {
            continue;
        };
        let mine = record
            .creator
            .as_ref()
            .is_some_and(|c| c.pid == pid && Some(c.start) == start);
        if !mine || ever_started(&record) {
            continue;
        }
        let mut all = record.clone();
        all.network.get_or_insert_with(Default::default);
        all.mounts.get_or_insert_with(Vec::new);
        all.state.get_or_insert_with(Default::default);
        match lifecycle::remove(paths, &all, true) {
            Ok(()) => removed.push(id),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    match first {
        Some(e) if removed.is_empty() => Err(e),
        _ => Ok(removed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_that_ran_is_not_undone() {
        let mut r = Record::new();
        assert!(!ever_started(&r));
        r.state = Some(Default::default());
        assert!(!ever_started(&r));
        r.state.as_mut().unwrap().started_at = Some(chrono::Utc::now());
        assert!(ever_started(&r));
    }
}
