//! Undoing a `berth run` that failed, was interrupted, or was killed (DESIGN.md, "berth run,
//! the dispatcher, berth-ctl"). berth-run exports `BERTH_CREATOR=$$`; berth-unpack records
//! that process (pid and start time) in the record it creates, after leaving a marker
//! `<root>/creating/<pid>-<start>`; berth-spawn removes the marker once the container has
//! started (or, for `create`, is complete), and refuses to start a container whose creator
//! is gone. `berth-ctl undo --creator PID` (berth-run's own call on failure) and
//! [`sweep`] (every berth-unpack create, and `berth-ctl undo` alone) remove, through every
//! stage's teardown in reverse order, the containers of a creator that never started.

use std::fs;

use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::protocol::{Creator, Record};
use crate::state::{Containers, liveness};

/// The variable naming the process that makes containers (berth-run's `$$`).
pub const CREATOR_ENV: &str = "BERTH_CREATOR";

/// The creator named by `BERTH_CREATOR`: `Ok(None)` when unset, an error when it names a
/// process that is already gone (the run was killed before this stage began: make nothing).
pub fn creator_from_env() -> Result<Option<Creator>> {
    let Some(pid) = std::env::var(CREATOR_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
    else {
        return Ok(None);
    };
    match liveness::start_time(pid) {
        Some(start) => Ok(Some(Creator { pid, start })),
        None => Err(gone()),
    }
}

fn gone() -> Error {
    Error::new(
        crate::error::Code::WRONG_STATE,
        "the berth run that started this stage is gone (killed?): nothing was made",
    )
}

fn marker_name(c: &Creator) -> String {
    format!("{}-{}", c.pid, c.start)
}

/// Leaves the marker of a run in progress (before its container's record exists).
pub fn mark(paths: &Paths, c: &Creator) -> Result<()> {
    let dir = paths.creating();
    crate::store::private::create_dir_all(&dir)?;
    let p = dir.join(marker_name(c));
    fs::write(&p, b"").map_err(|e| io("write", &p, e))?;
    Ok(())
}

/// Removes the marker: the run's container is complete (or undone).
pub fn unmark(paths: &Paths, c: &Creator) {
    let _ = fs::remove_file(paths.creating().join(marker_name(c)));
}

fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> Error {
    crate::error::IoError {
        op,
        path: path.to_path_buf(),
        source,
    }
    .into()
}

/// Whether the record's creator is still running (true when it has none).
pub fn creator_alive(r: &Record) -> bool {
    r.creator
        .as_ref()
        .is_none_or(|c| liveness::is_alive(c.pid, c.start))
}

/// Whether the record's container got as far as running (then its end is its own).
fn ever_started(r: &Record) -> bool {
    r.state.as_ref().is_some_and(|s| s.started_at.is_some())
}

/// Removes every container made by process `pid` (matched with its start time, so a reused
/// pid never matches) that never started, then its marker. Returns the ids removed.
pub fn undo(paths: &Paths, pid: i32) -> Result<Vec<String>> {
    match liveness::start_time(pid) {
        Some(start) => undo_creator(paths, &Creator { pid, start }),
        None => Ok(Vec::new()),
    }
}

/// Every teardown verb runs, whatever sections the record has: a stage killed half-way may
/// have set up what its section does not yet say.
fn undo_creator(paths: &Paths, creator: &Creator) -> Result<Vec<String>> {
    crate::bundle::collect_garbage(paths);
    let containers = Containers::new(paths);
    let mut removed = Vec::new();
    let mut first = None;
    for id in containers.list_ids()? {
        let Ok(record) = containers.load(&id) else {
            continue;
        };
        if record.creator.as_ref() != Some(creator) || ever_started(&record) {
            continue;
        }
        match remove_half_made(paths, &record) {
            Ok(()) => removed.push(id),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    match first {
        Some(e) => Err(e),
        None => {
            unmark(paths, creator);
            Ok(removed)
        }
    }
}

/// berth::container::teardown with every stage's step.
pub fn remove_half_made(paths: &Paths, record: &Record) -> Result<()> {
    let mut all = record.clone();
    all.network.get_or_insert_with(Default::default);
    all.mounts.get_or_insert_with(Vec::new);
    all.state.get_or_insert_with(Default::default);
    super::teardown(paths, &all, true)
}

/// Undoes the runs whose process died without finishing (a kill -9 of berth-run and its
/// stages): a readdir of `<root>/creating`, which holds only runs in progress. Returns the
/// ids removed.
pub fn sweep(paths: &Paths) -> Vec<String> {
    let Ok(entries) = fs::read_dir(paths.creating()) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(c) = name.split_once('-').and_then(|(p, s)| {
            Some(Creator {
                pid: p.parse().ok()?,
                start: s.parse().ok()?,
            })
        }) else {
            continue;
        };
        if liveness::is_alive(c.pid, c.start) {
            continue;
        }
        if let Ok(ids) = undo_creator(paths, &c) {
            removed.extend(ids);
        }
    }
    removed
}

/// A container made for a berth run whose process is gone (killed mid-pipeline) is not
/// started: it is removed, through every stage's teardown (berth::container::undo).
pub fn creator_check(paths: &Paths, record: &Record) -> Result<(), Error> {
    if creator_alive(record) {
        return Ok(());
    }
    remove_half_made(paths, record)?;
    if let Some(c) = &record.creator {
        unmark(paths, c);
    }
    Err(Error::new(
        crate::error::Code::WRONG_STATE,
        "the berth run that was making this container is gone (killed?): removed the container",
    ))
}

/// The container is complete (started, or created for `create`, or kept after a failed
/// start as Docker keeps it): it no longer belongs to the run that made it.
pub fn settle_creator(paths: &Paths, r: &mut Record) {
    if let Some(c) = r.creator.take() {
        unmark(paths, &c);
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

    #[test]
    fn markers_of_dead_runs_are_swept_and_live_ones_kept() {
        let d = tempfile::tempdir().unwrap();
        let paths = Paths::new(d.path().join("r"), d.path().join("run"));
        let me = std::process::id() as i32;
        let live = Creator {
            pid: me,
            start: liveness::start_time(me).unwrap(),
        };
        let dead = Creator {
            pid: me,
            start: live.start + 1,
        };
        mark(&paths, &live).unwrap();
        mark(&paths, &dead).unwrap();
        assert!(sweep(&paths).is_empty());
        let left: Vec<_> = fs::read_dir(paths.creating())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec![marker_name(&live)]);
    }
}
