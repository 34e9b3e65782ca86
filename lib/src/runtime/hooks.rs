//! OCI hooks: each runs with the state document on stdin, with an optional timeout (OCI
//! runtime spec, "POSIX-platform Hooks"). Which hooks are fatal follows the lifecycle of
//! runtime-spec 1.2 (runtime.md), the version berth-spawn reports:
//!
//! - `prestart`, `createRuntime`, `createContainer`, `startContainer`: the first failure is an
//!   error and the rest are not run ([`run`]); the caller stops the container;
//! - `poststart`, `poststop`: a failure is a warning and the remaining hooks still run
//!   ([`run_warn`]). (runtime-spec 1.3 makes a failed `poststart` fatal, as runc has always
//!   done; berth-spawn speaks 1.2.)
//!
//! The state's `status` is the one the container has when the hook runs: `created` for the
//! create-phase hooks (they run after the environment is created, lifecycle steps 3-5, and
//! crun says `created` too), `running` for `poststart`, `stopped` for `poststop`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use super::RuntimeError;

/// Runs `hooks` in order; the first that fails (or times out) is the error.
pub fn run(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<(), RuntimeError> {
    let doc = serde_json::to_vec(state).unwrap_or_default();
    for h in hooks {
        run_one(kind, h, &doc)?;
    }
    Ok(())
}

/// Runs every hook of `hooks`; each failure is logged as a warning and the next hook runs.
/// Returns how many failed.
pub fn run_warn(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> usize {
    let doc = serde_json::to_vec(state).unwrap_or_default();
    let mut failed = 0;
    for h in hooks {
        if let Err(e) = run_one(kind, h, &doc) {
            log::warn!("{e} (the remaining {kind} hooks still run)");
            failed += 1;
        }
    }
    failed
}

fn run_one(kind: &str, h: &Hook, doc: &[u8]) -> Result<(), RuntimeError> {
    let path = h.path();
    let args = h
        .args()
        .clone()
        .unwrap_or_else(|| vec![path.to_string_lossy().into_owned()]);
    let mut c = Command::new(path);
    if args.len() > 1 {
        c.args(&args[1..]);
    }
    if let Some(a0) = args.first() {
        use std::os::unix::process::CommandExt;
        c.arg0(a0);
    }
    c.env_clear();
    for e in h.env().clone().unwrap_or_default() {
        if let Some((k, v)) = e.split_once('=') {
            c.env(k, v);
        }
    }
    c.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let mut child = c
        .spawn()
        .map_err(|e| RuntimeError::Invalid(format!("{kind} hook {}: {e}", path.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin may exit first: EPIPE is not its failure.
        let _ = stdin.write_all(doc);
    }
    let deadline = h
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(1) as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => return Err(super::sys(format!("waiting for {kind} hook"), e)),
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RuntimeError::Invalid(format!(
                "{kind} hook {} timed out",
                path.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if !status.success() {
        return Err(RuntimeError::Invalid(format!(
            "{kind} hook {} failed: {status}",
            path.display()
        )));
    }
    Ok(())
}
