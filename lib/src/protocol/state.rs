//! The `state` section: what is true about the container now. Written by berth-spawn and its
//! monitor; corrected by readers that find the process gone (see `state::liveness`). Every
//! change goes through [`StateSection::apply`] (`transition.rs`), which refuses one that
//! cannot happen in the container's status.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateSection {
    pub status: Status,
    /// Host pid of the container's init, 0 when not running.
    #[serde(default)]
    pub pid: i32,
    /// The pid's start time (field 22 of /proc/PID/stat, in clock ticks since boot), so that a
    /// reused pid is never mistaken for the container.
    #[serde(default)]
    pub pid_start: u64,
    /// The monitor that holds a detached container's stdio, 0 when none.
    #[serde(default)]
    pub monitor_pid: i32,
    #[serde(default)]
    pub monitor_start: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub oom_killed: bool,
    #[serde(default)]
    pub restart_count: u32,
    /// Set by `stop`, so that `unless-stopped` and `always` know the user stopped it.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Why the container failed to start or died unseen, if known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Docker's `State.Health`, for a container with a health check (`health.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::Health>,
}

/// Docker's container statuses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// Docker's spelling, as `--filter status=` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// A process exists (or is about to) for this container.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }

    pub fn can_start(self) -> bool {
        matches!(self, Status::Created | Status::Exited)
    }

    pub fn can_stop(self) -> bool {
        self.is_active()
    }

    pub fn can_pause(self) -> bool {
        self == Status::Running
    }

    pub fn can_unpause(self) -> bool {
        self == Status::Paused
    }

    /// Removal without `-f` is allowed.
    pub fn can_remove(self) -> bool {
        !self.is_active()
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "created" => Status::Created,
            "running" => Status::Running,
            "paused" => Status::Paused,
            "restarting" => Status::Restarting,
            "removing" => Status::Removing,
            "exited" => Status::Exited,
            "dead" => Status::Dead,
            _ => {
                return Err(format!(
                    "invalid status {s:?}: expected created, restarting, running, removing, paused, exited or dead"
                ));
            }
        })
    }
}
