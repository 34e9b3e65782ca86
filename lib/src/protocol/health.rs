//! Health checks: Docker's `Config.Healthcheck` (what to probe and how often, from the image's
//! HEALTHCHECK and the `--health-*` flags; kept in the `bundle` section's config by
//! berth-unpack) and `State.Health` (what the probes found; kept in the `state` section by
//! `monitor-hook health`, reset and ended through [`super::transition`]).
//!
//! Docker's rules (moby `daemon/health.go`): a probe's exit code 0 is healthy, anything else a
//! failure; `Retries` consecutive failures make the container unhealthy, except that a failure
//! within `StartPeriod` of the start, while the status is still `starting`, does not count;
//! the first success ends the start period. Probes run every `StartInterval` while starting
//! within the start period, else every `Interval`. The last 5 results are kept, each output cut
//! at 4096 bytes. When the container stops, its status becomes `unhealthy`; each start
//! begins again at `starting` with a failing streak of 0.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Docker's defaults for a zero (unset) field.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
pub const DEFAULT_RETRIES: u32 = 3;
/// Results kept in `State.Health.Log`, and the bytes of output kept of each.
pub const MAX_LOG_ENTRIES: usize = 5;
pub const MAX_OUTPUT_LEN: usize = 4096;

/// Docker's `Config.Healthcheck`, in Docker's spelling; durations in nanoseconds, 0 = unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `[]` inherit, `["NONE"]` disabled, `["CMD", arg...]`, `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero_u")]
    pub retries: u32,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u(n: &u32) -> bool {
    *n == 0
}

fn or_default(ns: i64, default: Duration) -> Duration {
    if ns > 0 {
        Duration::from_nanos(ns as u64)
    } else {
        default
    }
}

impl Healthcheck {
    /// Docker's merge of the container's healthcheck over the image's: an empty test and
    /// every unset field come from the image.
    pub fn merged(mine: Option<Healthcheck>, image: Option<Healthcheck>) -> Option<Healthcheck> {
        let Some(mut h) = mine else { return image };
        if let Some(i) = image {
            if h.test.is_empty() {
                h.test = i.test;
            }
            for (f, v) in [
                (&mut h.interval, i.interval),
                (&mut h.timeout, i.timeout),
                (&mut h.start_period, i.start_period),
                (&mut h.start_interval, i.start_interval),
            ] {
                if *f == 0 {
                    *f = v;
                }
            }
            if h.retries == 0 {
                h.retries = i.retries;
            }
        }
        Some(h)
    }

    /// The command to run in the container, or `None` when there is no check (`NONE`, or
    /// no test at all).
    pub fn probe_args(&self) -> Option<Vec<String>> {
        match self.test.split_first()? {
            (k, rest) if k == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            (k, [cmd]) if k == "CMD-SHELL" => {
                Some(vec!["/bin/sh".into(), "-c".into(), cmd.clone()])
            }
            _ => None,
        }
    }

    pub fn interval(&self) -> Duration {
        or_default(self.interval, DEFAULT_INTERVAL)
    }
    pub fn timeout(&self) -> Duration {
        or_default(self.timeout, DEFAULT_TIMEOUT)
    }
    pub fn start_period(&self) -> Duration {
        or_default(self.start_period, Duration::ZERO)
    }
    pub fn start_interval(&self) -> Duration {
        or_default(self.start_interval, DEFAULT_START_INTERVAL)
    }
    pub fn retries(&self) -> u32 {
        if self.retries > 0 {
            self.retries
        } else {
            DEFAULT_RETRIES
        }
    }

    /// The wait before the next probe, `since_start` after the container started.
    pub fn next_delay(&self, status: HealthStatus, since_start: Duration) -> Duration {
        if since_start < self.start_period() && status == HealthStatus::Starting {
            self.start_interval()
        } else {
            self.interval()
        }
    }
}

/// `docker run`'s health flags, as typed.
#[derive(Debug, Clone, Default)]
pub struct HealthFlags {
    pub cmd: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub start_interval: Option<String>,
    pub retries: Option<i64>,
    pub none: bool,
}

impl HealthFlags {
    /// docker/cli's reading of the flags: `None` when none was given (the image's applies).
    /// The error is the sentence to print.
    pub fn parse(&self) -> Result<Option<Healthcheck>, String> {
        let dur = |name: &str, v: &Option<String>| -> Result<i64, String> {
            let Some(v) = v else { return Ok(0) };
            let d = crate::units::time::go_duration(v).ok_or_else(|| {
                format!(
                    "invalid argument {v:?} for \"--{name}\" flag: time: invalid duration {v:?}"
                )
            })?;
            let ns = d.num_nanoseconds().unwrap_or(i64::MAX);
            if ns < 0 {
                return Err(format!("--{name} cannot be negative"));
            }
            Ok(ns)
        };
        let h = Healthcheck {
            test: self
                .cmd
                .as_ref()
                .filter(|c| !c.is_empty())
                .map(|c| vec!["CMD-SHELL".to_string(), c.clone()])
                .unwrap_or_default(),
            interval: dur("health-interval", &self.interval)?,
            timeout: dur("health-timeout", &self.timeout)?,
            start_period: dur("health-start-period", &self.start_period)?,
            start_interval: dur("health-start-interval", &self.start_interval)?,
            retries: match self.retries.unwrap_or(0) {
                n if n < 0 => return Err("--health-retries cannot be negative".into()),
                n => u32::try_from(n).unwrap_or(u32::MAX),
            },
        };
        let any = h != Healthcheck::default();
        if self.none {
            if any {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            return Ok(Some(Healthcheck {
                test: vec!["NONE".into()],
                ..Default::default()
            }));
        }
        Ok(any.then_some(h))
    }
}

/// Docker's health statuses (`none` is a container without a check: no `Health` at all).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// What `ps` shows after `Up 3 seconds`: `(health: starting)`, `(healthy)`.
    pub fn ps_text(self) -> &'static str {
        match self {
            HealthStatus::Starting => "health: starting",
            s => s.as_str(),
        }
    }
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    #[serde(default)]
    pub log: Vec<HealthResult>,
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub exit_code: i32,
    pub output: String,
}

impl Health {
    /// A (re)start: `starting` again, the log kept.
    pub fn restart(&mut self) {
        self.status = HealthStatus::Starting;
        self.failing_streak = 0;
    }

    /// Records a probe's result; `in_start_period` is whether it began within the start
    /// period.
    pub fn record(&mut self, mut result: HealthResult, retries: u32, in_start_period: bool) {
        if result.exit_code == 0 {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if !(self.status == HealthStatus::Starting && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        truncate(&mut result.output, MAX_OUTPUT_LEN);
        self.log.push(result);
        let over = self.log.len().saturating_sub(MAX_LOG_ENTRIES);
        self.log.drain(..over);
    }
}

/// Cuts `s` to at most `max` bytes, at a character boundary.
pub fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(code: i32) -> HealthResult {
        HealthResult {
            start: Utc::now(),
            end: Utc::now(),
            exit_code: code,
            output: "x".repeat(5000),
        }
    }

    #[test]
    fn retries_failures_make_it_unhealthy_and_one_success_heals() {
        let mut h = Health::default();
        h.record(result(1), 2, false);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 1));
        h.record(result(1), 2, false);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
        h.record(result(0), 2, false);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        assert_eq!(h.log[0].output.len(), MAX_OUTPUT_LEN);
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_while_starting() {
        let mut h = Health::default();
        for _ in 0..7 {
            h.record(result(1), 1, true);
        }
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(h.log.len(), MAX_LOG_ENTRIES);
        h.record(result(0), 1, true);
        h.record(result(1), 1, true);
        assert_eq!(h.status, HealthStatus::Unhealthy);
    }

    #[test]
    fn the_container_merges_over_the_image_and_none_disables() {
        let image = Healthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 5,
            retries: 7,
            ..Default::default()
        };
        let mine = Healthcheck {
            interval: 9,
            ..Default::default()
        };
        let m = Healthcheck::merged(Some(mine), Some(image.clone())).unwrap();
        assert_eq!(
            (m.test.clone(), m.interval, m.retries),
            (image.test.clone(), 9, 7)
        );
        assert_eq!(m.probe_args().unwrap(), ["/bin/sh", "-c", "true"]);
        let none = Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(
            Healthcheck::merged(Some(none), Some(image))
                .unwrap()
                .probe_args(),
            None
        );
        assert_eq!(Healthcheck::default().retries(), 3);
        assert_eq!(Healthcheck::default().interval(), DEFAULT_INTERVAL);
    }

    #[test]
    fn flags_read_as_docker_reads_them() {
        let f = HealthFlags {
            cmd: Some("true".into()),
            interval: Some("1s".into()),
            retries: Some(2),
            ..Default::default()
        };
        let h = f.parse().unwrap().unwrap();
        assert_eq!(h.test, ["CMD-SHELL", "true"]);
        assert_eq!((h.interval, h.retries), (1_000_000_000, 2));
        assert_eq!(HealthFlags::default().parse(), Ok(None));
        let none = HealthFlags {
            none: true,
            ..Default::default()
        };
        assert_eq!(none.parse().unwrap().unwrap().test, ["NONE"]);
        let both = HealthFlags {
            none: true,
            ..f.clone()
        };
        assert_eq!(
            both.parse().unwrap_err(),
            "--no-healthcheck conflicts with --health-* options"
        );
        let neg = HealthFlags {
            timeout: Some("-1s".into()),
            ..Default::default()
        };
        assert_eq!(
            neg.parse().unwrap_err(),
            "--health-timeout cannot be negative"
        );
        let bad = HealthFlags {
            interval: Some("soon".into()),
            ..Default::default()
        };
        assert_eq!(
            bad.parse().unwrap_err(),
            "invalid argument \"soon\" for \"--health-interval\" flag: time: invalid duration \"soon\""
        );
    }

    #[test]
    fn the_start_interval_applies_only_while_starting_in_the_start_period() {
        let h = Healthcheck {
            interval: 10_000_000_000,
            start_period: 60_000_000_000,
            start_interval: 1_000_000_000,
            ..Default::default()
        };
        let s = Duration::from_secs;
        assert_eq!(h.next_delay(HealthStatus::Starting, s(1)), s(1));
        assert_eq!(h.next_delay(HealthStatus::Healthy, s(1)), s(10));
        assert_eq!(h.next_delay(HealthStatus::Starting, s(61)), s(10));
    }
}
