//! Docker's STATUS column ("Up 3 minutes", "Exited (137) 2 seconds ago", "Created",
//! "Restarting (1) 5 seconds ago", "Up 2 minutes (Paused)", "Up 3 seconds (healthy)"), after
//! moby's `State.String()`.

use chrono::{DateTime, Utc};

use crate::protocol::{Record, StateSection, Status};
use crate::units::human::duration;

/// The container's status; a record no stage has started yet is `created`.
pub fn status_of(r: &Record) -> Status {
    r.state.as_ref().map_or(Status::Created, |s| s.status)
}

/// The STATUS text at time `now`.
pub fn status_text(state: Option<&StateSection>, now: DateTime<Utc>) -> String {
    let Some(s) = state else {
        return "Created".into();
    };
    let since = |t: Option<DateTime<Utc>>| duration(now - t.unwrap_or(now));
    match s.status {
        Status::Running => match &s.health {
            Some(h) => format!("Up {} ({})", since(s.started_at), h.status.ps_text()),
            None => format!("Up {}", since(s.started_at)),
        },
        Status::Paused => format!("Up {} (Paused)", since(s.started_at)),
        Status::Restarting => match s.finished_at {
            Some(t) => format!("Restarting ({}) {} ago", s.exit_code, duration(now - t)),
            None => format!("Restarting ({})", s.exit_code),
        },
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        // A container that never started (its start failed) is "Created", as in Docker.
        Status::Exited if s.started_at.is_none() => "Created".into(),
        Status::Exited => match s.finished_at {
            Some(t) => format!("Exited ({}) {} ago", s.exit_code, duration(now - t)),
            None => format!("Exited ({})", s.exit_code),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn st(
        now: DateTime<Utc>,
        status: Status,
        started: Option<i64>,
        finished: Option<i64>,
        code: i32,
    ) -> StateSection {
        StateSection {
            status,
            started_at: started.map(|s| now - Duration::seconds(s)),
            finished_at: finished.map(|s| now - Duration::seconds(s)),
            exit_code: code,
            ..Default::default()
        }
    }

    #[test]
    fn statuses_read_like_docker() {
        let now = Utc::now();
        let t = |s: StateSection| status_text(Some(&s), now);
        assert_eq!(status_text(None, now), "Created");
        assert_eq!(
            t(st(now, Status::Running, Some(180), None, 0)),
            "Up 3 minutes"
        );
        assert_eq!(
            t(st(now, Status::Paused, Some(120), None, 0)),
            "Up 2 minutes (Paused)"
        );
        assert_eq!(
            t(st(now, Status::Exited, Some(60), Some(2), 137)),
            "Exited (137) 2 seconds ago"
        );
        assert_eq!(
            t(st(now, Status::Restarting, Some(60), Some(5), 1)),
            "Restarting (1) 5 seconds ago"
        );
        assert_eq!(t(st(now, Status::Created, None, None, 0)), "Created");
        assert_eq!(t(st(now, Status::Exited, None, Some(1), 127)), "Created");
        assert_eq!(t(st(now, Status::Dead, Some(1), Some(1), 0)), "Dead");
        assert_eq!(
            t(st(now, Status::Running, Some(0), None, 0)),
            "Up Less than a second"
        );
    }
}
