//! `monitor-hook health ID`: one health probe, asked for by the container's monitor (which
//! holds no record and runs no container code, so it runs this hook on a timer beside its
//! loop). The probe runs in the container as `exec` does (`berth-spawn exec ID -- TEST...`,
//! stdin empty, stdout and stderr together), is ended at the check's timeout (SIGTERM, which
//! exec passes on, then SIGKILL to exec), and its result goes into `State.Health` under the
//! record lock (`protocol::health` has Docker's rules). The answer is the wait before the next
//! probe, or `None` when there is nothing to probe (no check, `NONE`, the container not
//! running or started again meanwhile): the monitor re-arms its timer at the next start.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{HealthResult, HealthStatus, Healthcheck, Record, Status};
use crate::runtime::exeseal;
use crate::state::{Containers, StateError};

/// The first probe's delay for a container's check, `None` without a check to run.
pub fn first_delay(record: &Record) -> Option<Duration> {
    let hc = healthcheck(record)?;
    Some(hc.next_delay(HealthStatus::Starting, Duration::ZERO))
}

/// The container's check, if it has one to run.
pub fn healthcheck(record: &Record) -> Option<&Healthcheck> {
    let hc = record.bundle.as_ref()?.config.healthcheck.as_ref()?;
    hc.probe_args().is_some().then_some(hc)
}

/// Runs one probe and records it; the wait before the next (see the module docs).
pub fn probe(paths: &Paths, id: &str) -> Result<Option<Duration>, Error> {
    let containers = Containers::new(paths);
    let Ok(record) = containers.load(id) else {
        return Ok(None);
    };
    let Some(hc) = healthcheck(&record).cloned() else {
        return Ok(None);
    };
    let s = record.state.clone().unwrap_or_default();
    let started = s.started_at.unwrap_or_else(Utc::now);
    match s.status {
        Status::Running => {}
        // Docker probes a paused container too, and the probe fails; berth waits instead.
        Status::Paused => return Ok(Some(hc.interval())),
        _ => return Ok(None),
    }
    let args = hc.probe_args().unwrap_or_default();
    let start = Utc::now();
    let (exit_code, output) = run(paths, id, &args, hc.timeout());
    let end = Utc::now();
    let since = |t: chrono::DateTime<Utc>| (t - started).to_std().unwrap_or_default();
    let in_start_period = since(start) < hc.start_period();
    let result = HealthResult {
        start,
        end,
        exit_code,
        output,
    };
    let status = containers.update(id, |r| {
        let Some(st) = r.state.as_mut() else {
            return Ok(None);
        };
        if st.status != Status::Running || st.started_at != s.started_at {
            return Ok(None);
        }
        let h = st.health.get_or_insert_with(Default::default);
        let before = h.status;
        h.record(result, hc.retries(), in_start_period);
        let after = h.status;
        Ok::<_, StateError>(Some((before, after, r.clone())))
    });
    match status {
        Ok(Some((before, st, r))) => {
            // moby's handleProbeResult: an event when the status changes.
            if before != st {
                let action = format!("health_status: {}", st.as_str());
                crate::events::container(&paths.root, &r, &action, &[]);
            }
            Ok(Some(hc.next_delay(st, since(Utc::now()))))
        }
        Ok(None) | Err(StateError::NoSuchContainer(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Runs the probe's command in the container: its exit code and output (the first
/// `MAX_OUTPUT_LEN` bytes), or Docker's -1 and message when it outlives `timeout`.
fn run(paths: &Paths, id: &str, args: &[String], timeout: Duration) -> (i32, String) {
    let spawn = exeseal::original_exe().unwrap_or_else(|| PathBuf::from("berth-spawn"));
    let Ok((mut r, w)) = std::io::pipe() else {
        return (-1, "cannot make a pipe for the health check".into());
    };
    let child = Command::new(spawn)
        .arg("--root")
        .arg(&paths.run)
        .arg("--berth-root")
        .arg(&paths.root)
        .arg("exec")
        .arg(id)
        .arg("--")
        .args(args)
        .stdin(Stdio::null())
        .stdout(
            w.try_clone()
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .stderr(w)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (-1, format!("cannot run the health check: {e}")),
    };
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut timed_out = false;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: r.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n == 0 {
            timed_out = true;
            break;
        }
        if n < 0 {
            continue;
        }
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.len() < crate::protocol::MAX_OUTPUT_LEN {
                    out.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
    if timed_out {
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let grace = Instant::now() + Duration::from_secs(1);
        while Instant::now() < grace && matches!(child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        return (
            -1,
            format!("Health check exceeded timeout ({})", go_duration(timeout)),
        );
    }
    let code = child.wait().ok().and_then(|s| s.code()).unwrap_or(-1);
    let mut output = String::from_utf8_lossy(&out).into_owned();
    crate::protocol::truncate(&mut output, crate::protocol::MAX_OUTPUT_LEN);
    (code, output)
}

/// Go's `time.Duration` text for whole milliseconds: `30s`, `1m30s`, `1.5s`, `500ms`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&s.to_string());
    if frac > 0 {
        out.push_str(format!(".{frac:03}").trim_end_matches('0'));
    }
    out.push('s');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_go_prints_them() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(ms(30_000)), "30s");
        assert_eq!(go_duration(ms(500)), "500ms");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(90_000)), "1m30s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
    }
}
