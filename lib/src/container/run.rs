//! The pipeline stage `berth-spawn start -` (Docker `run` once the earlier stages made the
//! container): detached under a monitor ([`super::monitor`]); attached under one with `-t`,
//! without `--rm` (the container outlives the run, so its log is kept, as Docker's), with a
//! `--log-driver` or with a health check ([`super::attach`]: the monitor writes the log and
//! runs the probes); else (`run --rm`, the figure people time) in the foreground, where
//! berth-spawn itself waits for the container.

use super::attach::{self, AttachOptions, Ended};
use super::launch::{create_opts, fail_start, set_exited, set_running};
use super::{bundle_path, runtime_root, sys};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{ProcessSection, Record};
use crate::runtime::{oci, process, signals};

/// What the stage did.
pub enum Outcome {
    /// Detached: the id to print.
    Detached(String),
    /// Foreground: the exit code to exit with.
    Exited(i32),
}

/// The pipeline stage: applies the flags to config.json and the record, then runs.
pub fn start_record(paths: &Paths, record: Record, p: ProcessSection) -> Result<Outcome, Error> {
    super::creator_check(paths, &record)?;
    let prepare = crate::timings::phase("prepare");
    let (id, p, record) = super::create::prepare_record(paths, record, p)?;
    drop(prepare);
    if !p.runtime.is_empty() && (p.detach || p.tty) {
        return Err(crate::runtime::RuntimeError::BadArgs(format!(
            "--runtime {} runs foreground containers without -t (berth-spawn's own runtime has -d and -t)",
            p.runtime
        ))
        .into());
    }
    if p.detach {
        super::monitor::start_detached(paths, &id, None)?;
        Ok(Outcome::Detached(id))
    } else if p.tty || (p.runtime.is_empty() && needs_monitor(&record, &p)) {
        // A terminal runs under its monitor, attached: Ctrl-P Ctrl-Q leaves it running. So
        // does a run whose log driver or health check the monitor serves.
        let opts = AttachOptions {
            stdin: p.interactive,
            stdin_once: p.interactive,
            detach_keys: attach::parse_detach_keys(
                p.detach_keys.as_deref().unwrap_or("ctrl-p,ctrl-q"),
            )?,
            sig_proxy: true,
        };
        Ok(match attach::start_attached(paths, &id, &opts)? {
            Ended::Exited(code) => Outcome::Exited(code),
            Ended::Detached => Outcome::Exited(0),
        })
    } else if !p.runtime.is_empty() {
        let bundle = bundle_path(&record)?;
        let code = super::external::run_foreground(paths, &id, &p, &bundle)?;
        Ok(Outcome::Exited(code))
    } else {
        Ok(Outcome::Exited(run_foreground(paths, record)?))
    }
}

/// Whether a foreground run without `-t` needs the monitor: one that outlives its run (no
/// `--rm`: Docker keeps its log for `logs`, and the direct path keeps none), a log driver
/// given, or a health check (the monitor runs it). `run --rm` without these takes the direct
/// path: its log would go with it.
fn needs_monitor(record: &Record, p: &ProcessSection) -> bool {
    !p.auto_remove || !p.log_driver.is_empty() || super::health::first_delay(record).is_some()
}

/// Foreground: stdio wired through, signals forwarded, exit code returned.
///
/// Pipes and files are the container's stdio as they are (the fast path scripts use). A
/// terminal is not: without `-t` the container has no terminal of its own, and must not
/// hold the caller's (issue 12: TIOCSTI into the caller's shell, or reading what is typed
/// after it is gone, from a process that outlived the run). Pipes stand in for each of our
/// descriptors that is a terminal (stdin only with `-i`) and we copy between them, as `exec`
/// does and as Docker's daemon always does.
///
/// `record` is the container's as [`start_record`] just saved it (not read back).
fn run_foreground(paths: &Paths, record: Record) -> Result<i32, Error> {
    let id = record.id.as_str();
    let p = record.process.clone().unwrap_or_default();
    let bundle = bundle_path(&record)?;
    let root = runtime_root(paths);
    let _ = oci::delete(&root, id, true);
    signals::block();
    let (stdio, relay) =
        signals::Relay::for_terminals(p.interactive).map_err(|e| sys("pipe", e))?;
    let stdio = (!relay.is_empty()).then_some(stdio);
    let stdio = attach::unattached_to_null(&p.attach, stdio).map_err(|e| sys("/dev/null", e))?;
    let launched = process::create(create_opts(&root, id, &bundle, &p, stdio));
    let l = match launched {
        Ok(l) => l,
        Err(e) => return Err(fail_start(paths, &record, e)),
    };
    if let Err(e) = set_running(paths, id, l.state.pid, std::process::id() as i32, false) {
        // Another start got there first: this process must not run.
        let _ = oci::delete(&root, id, true);
        return Err(e);
    }
    if let Err(e) = l.start() {
        let _ = oci::delete(&root, id, true);
        return Err(fail_start(paths, &record, e));
    }
    let cg = l.state.cgroup();
    let wait = crate::timings::phase("wait");
    let code = signals::wait(signals::Foreground {
        pid: l.state.pid,
        master: l.master,
        stdin: p.interactive,
        relay,
    });
    drop(wait);
    let _teardown = crate::timings::phase("teardown");
    // The end on record: OOM kills, runtime state and cgroups gone, the exit code saved.
    let exit = crate::timings::phase("teardown.exit");
    let oom = cg.oom_kills() > 0;
    let _ = oci::remove_reaped(&root, &l.state);
    let record = set_exited(paths, id, code, oom, "")?;
    drop(exit);
    if p.auto_remove {
        super::teardown(paths, &record, true)?;
    }
    Ok(code)
}
