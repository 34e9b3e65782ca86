//! Docker `kill`: a signal (SIGKILL by default) to a running container's process.

use std::time::Duration;

use super::{ContainerError, load_true, sys};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{Event, Status};
use crate::runtime::oci;
use crate::state::Containers;

/// Docker `kill`: a signal (default SIGKILL) to a running container.
pub fn kill(paths: &Paths, arg: &str, signal: Option<&str>) -> Result<String, Error> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let record = load_true(paths, &id)?;
    let s = record.state.clone().unwrap_or_default();
    if !s.status.is_active() || s.pid == 0 {
        return Err(ContainerError::Status {
            id: arg.into(),
            status: s.status.as_str().into(),
            what: format!("cannot kill container {arg}: container is not running"),
        }
        .into());
    }
    let sig = oci::parse_signal(signal.unwrap_or("KILL"))?;
    if matches!(sig, libc::SIGKILL | libc::SIGTERM | libc::SIGINT) {
        containers.update(&id, |r| {
            if let Some(s) = r.state.as_mut() {
                s.apply(Event::Killing)?;
            }
            Ok::<_, Error>(())
        })?;
    }
    // The event before the signal: the watcher writes `die` as soon as the process ends, and
    // moby's order (its container lock) is kill, then die. A kill that then fails (the
    // process ended meanwhile) has its event anyway, and its error.
    crate::events::container(&paths.root, &record, "kill", &[("signal", sig.to_string())]);
    // SAFETY: kill has no memory effects; `s.pid` is the init load_true just found alive.
    if unsafe { libc::kill(s.pid, sig) } < 0 {
        return Err(sys(format!("kill {}", s.pid), std::io::Error::last_os_error()).into());
    }
    if sig == libc::SIGKILL {
        // As moby does: a SIGKILL returns once the container is down and its watcher has
        // recorded it, so the next command (rm, prune, ps) sees it stopped.
        oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(10));
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            let st = load_true(paths, &id)?.state.unwrap_or_default();
            if st.status != Status::Running || st.pid != s.pid {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(id)
}
