//! `--runtime runc|crun`: the bundle berth made runs under another OCI runtime (`RUNTIME run`,
//! its state under `<run>/runtimes/<name>`), in the foreground, with berth's record kept as
//! for its own runtime: running with the container's init pid, then exited with its code.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::launch::{set_exited, set_running};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::ProcessSection;
use crate::runtime::{RuntimeError, signals, sys};

/// The OCI runtimes berth hands a bundle to, besides its own.
pub const KNOWN: [&str; 2] = ["runc", "crun"];

/// The runtime's executable on PATH, if `name` is one of [`KNOWN`] and installed.
pub fn find(name: &str) -> Option<PathBuf> {
    if !KNOWN.contains(&name) {
        return None;
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|f| {
            f.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `--runtime NAME`: berth-spawn's own (empty), or an installed runc or crun; anything else
/// is Docker's error.
pub fn check(name: &str) -> Result<(), RuntimeError> {
    if name.is_empty() || find(name).is_some() {
        return Ok(());
    }
    Err(RuntimeError::BadArgs(format!(
        "unknown or invalid runtime name: {name} (berth runs berth-spawn, and runc or crun where installed)"
    )))
}

fn runtime(exe: &Path, root: &Path) -> Command {
    let mut c = Command::new(exe);
    c.arg("--root").arg(root);
    c
}

/// What became of the runtime's container: running with this init pid, or the runtime
/// already exited with this wait status (the process did not start, or ended at once).
enum Started {
    Running(i32),
    Ended(i32),
}

fn started(exe: &Path, root: &Path, id: &str, child: &mut std::process::Child) -> Started {
    loop {
        let out = runtime(exe, root)
            .args(["state", id])
            .stderr(Stdio::null())
            .output();
        if let Ok(out) = out
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            && v["status"] == "running"
            && let Some(pid) = v["pid"].as_i64()
        {
            return Started::Running(pid as i32);
        }
        match child.try_wait() {
            Ok(Some(st)) => {
                use std::os::unix::process::ExitStatusExt;
                return Started::Ended(signals::exit_code(st.into_raw()));
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(_) => return Started::Ended(255),
        }
    }
}

/// Runs the container `id` (bundle `bundle`) in the foreground under `p.runtime`; returns its
/// exit code. Signals berth-spawn gets go to the runtime, which passes them on.
pub fn run_foreground(
    paths: &Paths,
    id: &str,
    p: &ProcessSection,
    bundle: &Path,
) -> Result<i32, Error> {
    if p.tty || p.detach {
        return Err(RuntimeError::BadArgs(format!(
            "--runtime {} runs foreground containers without -t (berth-spawn's own runtime has -d and -t)",
            p.runtime
        ))
        .into());
    }
    let exe = find(&p.runtime).ok_or_else(|| check(&p.runtime).unwrap_err())?;
    let root = paths.run.join("runtimes").join(&p.runtime);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&root)
        .map_err(|e| sys(format!("creating {}", root.display()), e))?;
    let _ = runtime(&exe, &root)
        .args(["delete", "-f", id])
        .stderr(Stdio::null())
        .status();
    let mut cmd = runtime(&exe, &root);
    cmd.arg("run").arg("--bundle").arg(bundle).arg(id);
    if !p.interactive {
        cmd.stdin(Stdio::null());
    }
    if !p.attach.is_empty() {
        if !p.attach.iter().any(|a| a == "stdout") {
            cmd.stdout(Stdio::null());
        }
        if !p.attach.iter().any(|a| a == "stderr") {
            cmd.stderr(Stdio::null());
        }
    }
    // SAFETY: between fork and exec only sigprocmask(2) runs, which is async-signal-safe; the
    // runtime must not start with the signals berth-spawn blocks for its signalfd.
    unsafe {
        cmd.pre_exec(|| {
            let all = nix::sys::signal::SigSet::all();
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_UNBLOCK,
                Some(&all),
                None,
            )
            .map_err(std::io::Error::from)
        });
    }
    signals::block();
    let mut child = cmd
        .spawn()
        .map_err(|e| sys(format!("running {}", exe.display()), e))?;
    let code = match started(&exe, &root, id, &mut child) {
        Started::Running(pid) => {
            set_running(paths, id, pid, std::process::id() as i32, false)?;
            signals::wait(signals::Foreground {
                pid: child.id() as i32,
                master: None,
                stdin: false,
                relay: signals::Relay::default(),
            })
        }
        Started::Ended(code) => code,
    };
    let _ = runtime(&exe, &root)
        .args(["delete", "-f", id])
        .stderr(Stdio::null())
        .status();
    let record = set_exited(paths, id, code, false, "")?;
    if p.auto_remove {
        super::teardown(paths, &record, true)?;
    }
    Ok(code)
}
