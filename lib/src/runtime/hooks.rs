//! OCI hooks: each runs with the state document on stdin, in the runtime's namespaces, with
//! an optional timeout (OCI runtime spec, "POSIX-platform Hooks").

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use super::RuntimeError;

pub fn run(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<(), RuntimeError> {
    let doc = serde_json::to_vec(state).unwrap_or_default();
    for h in hooks {
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
            let _ = stdin.write_all(&doc);
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
    }
    Ok(())
}
