//! The `state` section's one way to change: [`StateSection::apply`] records an [`Event`] (a
//! process started, ended, was paused...), refusing with a [`TransitionError`] an event that
//! cannot happen to a container in its current status, and doing the bookkeeping that goes
//! with it (pid, watcher, exit code, timestamps, the manual-stop mark) in one place.
//!
//! Docker's statuses and how berth moves between them (moby's `container.State` setters; the
//! checks its daemon makes before each verb are the `from` column):
//!
//! ```text
//! event        from                                    to          who
//! Started      created, exited                         running     run, start (spawn, monitor)
//! Respawned    restarting                              running     monitor-hook respawn
//! Paused       running                                 paused      pause
//! Unpaused     paused                                  running     unpause
//! Restarting   running, paused                         restarting  monitor-hook exited
//! Exited       created, running, paused, exited        exited      run's end, a failed start,
//!                                                                  monitor-hook exited
//! RespawnFailed restarting                             exited      monitor-hook respawn
//! Lost         running, paused, restarting             exited      state::truth (died unseen)
//! Deleted      running, paused, restarting             exited      berth-spawn delete
//! Stopping     any                                     same, but   stop
//!                                                      restarting
//!                                                      → exited
//! Killing      any                                     same        kill (KILL, TERM, INT)
//! ```
//!
//! `removing` and `dead` are Docker's and never recorded by berth; nothing leaves them.
//!
//! A container's `health` (`health.rs`) goes back to `starting` at Started and Respawned, and
//! becomes `unhealthy` at every event that ends its process (moby: the check's monitor
//! stopped); `monitor-hook health` records probe results with a plain locked update, never
//! touching the status.

use chrono::{DateTime, Utc};

use super::state::{StateSection, Status};
use crate::error::{Code, Coded};

/// Exit code recorded when a container died unseen. Docker reports 255 when it lost track of
/// a container's process.
pub const UNKNOWN_EXIT: i32 = 255;

/// Exit code recorded for a container `berth-spawn delete` killed (SIGKILL: 128 + 9).
pub const KILLED_EXIT: i32 = 137;

/// Something that happened to a container (see the module docs for when each may).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Its process started (`run`, `start`), watched by `monitor_pid` (its monitor, or the
    /// foreground berth-spawn). Clears a previous manual stop and error.
    Started {
        pid: i32,
        pid_start: u64,
        monitor_pid: i32,
        monitor_start: u64,
    },
    /// Its monitor started it again under its restart policy.
    Respawned {
        pid: i32,
        pid_start: u64,
    },
    Paused,
    Unpaused,
    /// Its process ended, and the restart policy starts it again: the monitor stays.
    Restarting {
        code: i32,
        oom: bool,
    },
    /// Its process ended (or never started, with `error` saying why); nobody watches it now.
    Exited {
        code: i32,
        oom: bool,
        error: String,
    },
    /// The monitor could not start it again: it stays exited with the last exit code.
    RespawnFailed {
        error: String,
    },
    /// Its process and its watcher are gone, and nobody recorded how it ended.
    Lost,
    /// `berth-spawn delete` killed it (and its monitor).
    Deleted,
    /// `stop`: no restart policy brings it back, and between restarts it is exited at once.
    Stopping,
    /// `kill` with a signal that ends it: no restart policy brings it back.
    Killing,
}

impl Event {
    /// What the event does to a container, for [`TransitionError`]'s message.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Started { .. } => "started",
            Event::Respawned { .. } => "restarted by its policy",
            Event::Paused => "paused",
            Event::Unpaused => "unpaused",
            Event::Restarting { .. } => "restarted by its policy",
            Event::Exited { .. } => "recorded as exited",
            Event::RespawnFailed { .. } => "recorded as failing to restart",
            Event::Lost => "recorded as lost",
            Event::Deleted => "deleted",
            Event::Stopping => "stopped",
            Event::Killing => "killed",
        }
    }

    /// Whether the event can happen to a container in status `from`.
    pub fn applies_to(&self, from: Status) -> bool {
        use Status::*;
        match self {
            Event::Started { .. } => from.can_start(),
            Event::Respawned { .. } | Event::RespawnFailed { .. } => from == Restarting,
            Event::Paused => from.can_pause(),
            Event::Unpaused => from.can_unpause(),
            Event::Restarting { .. } => matches!(from, Running | Paused),
            // Exited again: a start that failed before its process ran.
            Event::Exited { .. } => matches!(from, Created | Running | Paused | Exited),
            Event::Lost | Event::Deleted => from.is_active(),
            Event::Stopping | Event::Killing => true,
        }
    }
}

/// An event that cannot happen to a container in its status (another command changed it
/// meanwhile, or the caller did not check first).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a container that is {from} cannot be {event}")]
pub struct TransitionError {
    pub from: &'static str,
    pub event: &'static str,
}

impl Coded for TransitionError {
    fn code(&self) -> Code {
        Code::WRONG_STATE
    }
}

impl StateSection {
    /// Records `event` now (see the module docs).
    pub fn apply(&mut self, event: Event) -> Result<(), TransitionError> {
        self.apply_at(event, Utc::now())
    }

    /// Records `event` as of `now`; on refusal, nothing changes.
    pub fn apply_at(&mut self, event: Event, now: DateTime<Utc>) -> Result<(), TransitionError> {
        if !event.applies_to(self.status) {
            return Err(TransitionError {
                from: self.status.as_str(),
                event: event.name(),
            });
        }
        // A health check starts again with each start, and ends with the process (moby: the
        // status is unhealthy once its monitor stopped).
        let health = self.health.as_mut();
        match &event {
            Event::Started { .. } | Event::Respawned { .. } => health.map_or((), |h| h.restart()),
            Event::Paused | Event::Unpaused | Event::Stopping | Event::Killing => {}
            _ => health.map_or((), |h| h.status = super::HealthStatus::Unhealthy),
        }
        match event {
            Event::Started {
                pid,
                pid_start,
                monitor_pid,
                monitor_start,
            } => {
                self.status = Status::Running;
                self.set_process(pid, pid_start);
                self.set_monitor(monitor_pid, monitor_start);
                self.started_at = Some(now);
                self.manually_stopped = false;
                self.error.clear();
            }
            Event::Respawned { pid, pid_start } => {
                self.status = Status::Running;
                self.set_process(pid, pid_start);
                self.started_at = Some(now);
            }
            Event::Paused => self.status = Status::Paused,
            Event::Unpaused => self.status = Status::Running,
            Event::Restarting { code, oom } => {
                self.ended(Status::Restarting, code, oom, now);
                self.restart_count += 1;
            }
            Event::Exited { code, oom, error } => {
                self.ended(Status::Exited, code, oom, now);
                self.set_monitor(0, 0);
                self.error = error;
            }
            Event::RespawnFailed { error } => {
                self.status = Status::Exited;
                self.set_monitor(0, 0);
                self.error = error;
            }
            Event::Lost => {
                self.status = Status::Exited;
                self.exit_code = UNKNOWN_EXIT;
                // When it died is unknown: the last end recorded stands, else now.
                self.finished_at.get_or_insert(now);
                self.set_process(0, 0);
                self.set_monitor(0, 0);
                self.error = "the container's process died while no monitor was watching".into();
            }
            Event::Deleted => {
                self.status = Status::Exited;
                self.exit_code = KILLED_EXIT;
                self.finished_at = Some(now);
                self.set_process(0, 0);
                self.set_monitor(0, 0);
            }
            Event::Stopping => {
                self.manually_stopped = true;
                if self.status == Status::Restarting {
                    self.status = Status::Exited;
                }
            }
            Event::Killing => self.manually_stopped = true,
        }
        Ok(())
    }

    /// The process ended with `code`: `status` says what comes next.
    fn ended(&mut self, status: Status, code: i32, oom: bool, now: DateTime<Utc>) {
        self.status = status;
        self.exit_code = code;
        self.oom_killed = oom;
        self.finished_at = Some(now);
        self.set_process(0, 0);
    }

    /// A pid always goes with its start time, so that a reused pid is never taken for it.
    fn set_process(&mut self, pid: i32, start: u64) {
        self.pid = pid;
        self.pid_start = start;
    }

    fn set_monitor(&mut self, pid: i32, start: u64) {
        self.monitor_pid = pid;
        self.monitor_start = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Status; 7] = [
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Restarting,
        Status::Removing,
        Status::Exited,
        Status::Dead,
    ];

    fn at(status: Status) -> StateSection {
        StateSection {
            status,
            ..Default::default()
        }
    }

    fn started() -> Event {
        Event::Started {
            pid: 42,
            pid_start: 7,
            monitor_pid: 41,
            monitor_start: 6,
        }
    }

    fn exited(code: i32) -> Event {
        Event::Exited {
            code,
            oom: false,
            error: String::new(),
        }
    }

    /// Every status, with the statuses from which `event` is legal: those go where `to` says,
    /// the others are refused and leave the section exactly as it was.
    fn check(event: Event, legal: &[Status], to: impl Fn(Status) -> Status) {
        for from in ALL {
            let mut s = at(from);
            s.pid = 9;
            s.exit_code = 3;
            let before = s.clone();
            let r = s.apply(event.clone());
            if legal.contains(&from) {
                assert_eq!(r, Ok(()), "{event:?} from {from}");
                assert_eq!(s.status, to(from), "{event:?} from {from}");
            } else {
                let e = r.expect_err(&format!("{event:?} from {from} must be refused"));
                assert_eq!((e.from, e.event), (from.as_str(), event.name()));
                assert_eq!(s, before, "a refused {event:?} changed the section");
            }
        }
    }

    #[test]
    fn each_event_is_legal_from_exactly_the_statuses_docker_allows() {
        use Status::*;
        let active = [Running, Paused, Restarting];
        check(started(), &[Created, Exited], |_| Running);
        let respawned = Event::Respawned {
            pid: 1,
            pid_start: 1,
        };
        check(respawned, &[Restarting], |_| Running);
        check(Event::Paused, &[Running], |_| Paused);
        check(Event::Unpaused, &[Paused], |_| Running);
        let restarting = Event::Restarting {
            code: 1,
            oom: false,
        };
        check(restarting, &[Running, Paused], |_| Restarting);
        check(exited(0), &[Created, Running, Paused, Exited], |_| Exited);
        let failed = Event::RespawnFailed { error: "x".into() };
        check(failed, &[Restarting], |_| Exited);
        check(Event::Lost, &active, |_| Exited);
        check(Event::Deleted, &active, |_| Exited);
        check(Event::Stopping, &ALL, |s| {
            if s == Restarting { Exited } else { s }
        });
        check(Event::Killing, &ALL, |s| s);
    }

    #[test]
    fn a_start_records_the_process_and_clears_the_last_run() {
        let now = Utc::now();
        let mut s = at(Status::Exited);
        s.manually_stopped = true;
        s.error = "exec failed".into();
        s.exit_code = 127;
        s.apply_at(started(), now).unwrap();
        assert_eq!((s.pid, s.pid_start), (42, 7));
        assert_eq!((s.monitor_pid, s.monitor_start), (41, 6));
        assert_eq!(s.started_at, Some(now));
        assert!(!s.manually_stopped && s.error.is_empty());
        // Docker keeps the last exit code until the next end.
        assert_eq!(s.exit_code, 127);
    }

    #[test]
    fn an_end_clears_the_process_and_a_restart_keeps_the_monitor() {
        let now = Utc::now();
        let mut s = at(Status::Created);
        s.apply(started()).unwrap();
        s.apply_at(Event::Restarting { code: 3, oom: true }, now)
            .unwrap();
        assert_eq!(
            (s.pid, s.pid_start, s.exit_code, s.oom_killed),
            (0, 0, 3, true)
        );
        assert_eq!((s.monitor_pid, s.restart_count), (41, 1));
        assert_eq!(s.finished_at, Some(now));
        s.apply(Event::Respawned {
            pid: 50,
            pid_start: 8,
        })
        .unwrap();
        assert_eq!((s.status, s.pid, s.pid_start), (Status::Running, 50, 8));
        let ended = Event::Exited {
            code: 126,
            oom: false,
            error: "cannot exec".into(),
        };
        s.apply(ended).unwrap();
        assert_eq!((s.pid, s.monitor_pid, s.monitor_start), (0, 0, 0));
        assert_eq!((s.exit_code, s.error.as_str()), (126, "cannot exec"));
        assert_eq!(s.restart_count, 1);
    }

    #[test]
    fn a_failed_respawn_keeps_the_last_exit() {
        let mut s = at(Status::Running);
        s.apply(Event::Restarting {
            code: 2,
            oom: false,
        })
        .unwrap();
        let finished = s.finished_at;
        s.apply(Event::RespawnFailed {
            error: "no such file".into(),
        })
        .unwrap();
        assert_eq!((s.status, s.exit_code), (Status::Exited, 2));
        assert_eq!(
            (s.finished_at, s.error.as_str()),
            (finished, "no such file")
        );
    }

    #[test]
    fn lost_and_deleted_containers_get_docker_exit_codes() {
        let earlier = Utc::now() - chrono::Duration::seconds(60);
        let mut s = at(Status::Running);
        s.pid = 9;
        s.monitor_pid = 8;
        s.finished_at = Some(earlier);
        s.apply(Event::Lost).unwrap();
        assert_eq!((s.exit_code, s.pid, s.monitor_pid), (UNKNOWN_EXIT, 0, 0));
        // When it died is unknown: an end already on record is kept.
        assert_eq!(s.finished_at, Some(earlier));
        assert!(!s.error.is_empty());
        let mut s = at(Status::Paused);
        s.finished_at = Some(earlier);
        s.apply(Event::Deleted).unwrap();
        assert_eq!((s.status, s.exit_code), (Status::Exited, KILLED_EXIT));
        assert!(s.finished_at > Some(earlier));
    }

    #[test]
    fn stop_and_kill_mark_a_manual_stop() {
        for event in [Event::Stopping, Event::Killing] {
            let mut s = at(Status::Running);
            s.apply(event).unwrap();
            assert!(s.manually_stopped);
            assert_eq!(s.status, Status::Running);
        }
    }
}
