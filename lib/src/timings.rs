//! `--timings` inside a stage: the phases it went through and how long each took. The lib
//! records them; the edge (`berth_cli::main`) prints them after the stage's own total, one
//! `berth-TOOL.PHASE: N.N ms` line each, in the order they first ran (a phase that runs twice
//! adds up). Off unless the tool enables it: recording is then one relaxed atomic load.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static ON: AtomicBool = AtomicBool::new(false);
static PHASES: Mutex<Vec<(&'static str, Duration)>> = Mutex::new(Vec::new());

/// Starts recording (a tool run with `--timings`).
pub fn enable() {
    ON.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Adds `d` to the phase `name`.
pub fn add(name: &'static str, d: Duration) {
    if !enabled() {
        return;
    }
    let mut v = PHASES.lock().unwrap_or_else(|e| e.into_inner());
    match v.iter_mut().find(|(n, _)| *n == name) {
        Some((_, total)) => *total += d,
        None => v.push((name, d)),
    }
}

/// A phase that ends (and is added) when the guard is dropped.
pub struct Phase {
    name: &'static str,
    started: Instant,
}

/// Starts timing the phase `name` until the returned guard is dropped.
pub fn phase(name: &'static str) -> Phase {
    Phase {
        name,
        started: Instant::now(),
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        add(self.name, self.started.elapsed());
    }
}

/// The phases recorded so far, in the order they first ran; the record is emptied.
pub fn take() -> Vec<(&'static str, Duration)> {
    std::mem::take(&mut *PHASES.lock().unwrap_or_else(|e| e.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_add_up_in_the_order_they_first_ran() {
        add("before", Duration::from_millis(5));
        assert!(take().is_empty(), "nothing is recorded while off");
        enable();
        add("cgroups", Duration::from_millis(2));
        {
            let _p = phase("wait");
        }
        add("cgroups", Duration::from_millis(3));
        let got = take();
        let names: Vec<&str> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["cgroups", "wait"]);
        assert_eq!(got[0].1, Duration::from_millis(5));
        assert!(take().is_empty());
    }
}
