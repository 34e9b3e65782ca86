//! Docker `wait`: blocks until the container stops and returns its exit code.

use std::time::Duration;

use super::load_true;
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::Status;
use crate::runtime::oci;
use crate::state::Containers;

/// Docker `wait`: blocks until the container stops; returns its exit code.
pub fn wait(paths: &Paths, arg: &str) -> Result<i32, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    loop {
        let r = load_true(paths, &id)?;
        let s = r.state.unwrap_or_default();
        if !s.status.is_active() && s.status != Status::Created {
            return Ok(s.exit_code);
        }
        if s.status == Status::Created || s.pid == 0 {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(3600)) {
            // The watcher records the end; give it the moment it needs.
            if s.monitor_pid > 0 {
                let r2 = load_true(paths, &id)?;
                if r2
                    .state
                    .as_ref()
                    .is_some_and(|x| x.status == Status::Restarting)
                {
                    continue;
                }
                oci::wait_gone(s.monitor_pid, s.monitor_start, Duration::from_millis(200));
            }
            for _ in 0..100 {
                let r = load_true(paths, &id)?;
                let st = r.state.unwrap_or_default();
                if st.status != Status::Running || st.pid != s.pid {
                    if st.status.is_active() {
                        break;
                    }
                    return Ok(st.exit_code);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
