//! The runc verbs whose output needs more than one library call: `list`, `ps`, `update` and
//! `features` (`delete`, also berth's teardown verb, is `berth::container::delete`).
//!
//! The runc-only verbs: `ps [--format json] ID [PS_ARGS]` (the host pids of the container's
//! cgroup), `update ID` (`--resources FILE|-` or `--memory`, `--cpu-quota`, `--pids-limit`...;
//! only the fields given change, devices never; on cgroup v1 a memory+swap raised above the
//! old one goes in first), `kill --all` (freezes the cgroup, signals every process, thaws it,
//! as runc; unlike a plain `kill` it accepts a stopped container: the shim sends `kill --all
//! ID 9` once an init without its own pid namespace exits), `list`, `state`, `features`
//! (runc's schema, leaving out what it cannot state exactly: mountOptions).
//!
//! **containerd** (Debian 12's 1.6) runs containers through berth-spawn as the runc shim v2's
//! `BinaryName` (`ctr run --runc-binary`; CRI takes it from config.toml's runtime options).
//! The shim calls `--root R/NS --log FILE --log-format json` with `create --bundle --pid-file
//! [--console-socket]`, `start`, `exec --process --detach --pid-file [--console-socket]`,
//! `ps --format json`, `pause`, `resume`, `kill [--all] ID N`, `delete [--force]` and `update
//! --resources -`; tests/tests/spawn_containerd.rs drives each (`update` directly: ctr 1.6 has
//! no verb for it). Not supported: `--systemd-cgroup` (create, run and update refuse it,
//! naming the fix; the other verbs accept it, since the shim passes it to every call and its
//! delete must still clean up), `checkpoint`/`restore`, and `events` (which containerd 1.6
//! never calls). Errors exit with berth's codes (runc: always 1) and say what runc says where
//! the shim matches the text: "does not exist", "container not running".

use berth::Error;
use berth::error::Code;
use berth::runtime::oci;
use berth::runtime::state::Root;
use oci_spec::runtime::LinuxResources;

pub fn list(root: &Root, format: &str, quiet: bool) -> Result<(), Error> {
    let rows = oci::list(root);
    if quiet {
        let ids: String = rows.iter().map(|(s, _)| format!("{}\n", s.id)).collect();
        return berth_cli::print_text(&ids);
    }
    if format == "json" {
        let v: Vec<serde_json::Value> = rows.iter().map(|(s, st)| s.oci_json(*st)).collect();
        return berth_cli::print_json(&v);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(s, st)| {
            vec![
                s.id.clone(),
                if *st == berth::runtime::state::Status::Stopped {
                    "0".into()
                } else {
                    s.pid.to_string()
                },
                st.as_str().to_string(),
                s.bundle.display().to_string(),
                s.created
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
                s.owner.clone(),
            ]
        })
        .collect();
    berth_cli::print_table(
        &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        &table,
    )
}

/// runc's `kill --all`: every process in the container's cgroup gets the signal while the
/// cgroup is frozen (so none forks past it), then the cgroup is thawed, as runc does. A
/// paused container is thawed too: its processes could not act on the signal (not even
/// SIGKILL) while frozen, and containerd's `task rm -f` of a paused task waits for them.
/// Unlike a plain `kill`, a stopped container is no error: containerd's shim sends
/// `kill --all ID 9` once the init of a container without a pid namespace of its own has
/// exited, to end the processes it left behind (runc signals them too).
pub fn kill_all(root: &Root, id: &str, sig: i32) -> Result<(), Error> {
    let cg = root.load(id)?.cgroup();
    if !cg.exists() {
        return Ok(());
    }
    let frozen = cg.freeze(true);
    for pid in cg.pids() {
        // SAFETY: kill(2) takes no pointers; `sig` may be a real-time signal, which nix's
        // Signal cannot name. A process gone already is no error (runc only warns).
        unsafe { libc::kill(pid, sig) };
    }
    if frozen.is_ok() || cg.is_frozen() {
        cg.freeze(false)?;
    }
    Ok(())
}

/// runc's `ps`: the host pids of the container's processes (`--format json`, which
/// containerd's shim reads for `ctr task ps`), or `ps`'s table (run with `ps_args`, `-ef` by
/// default) cut down to those processes.
pub fn ps(root: &Root, id: &str, format: &str, ps_args: &[String]) -> Result<(), Error> {
    let pids = root.load(id)?.cgroup().pids();
    if format == "json" {
        return berth_cli::print_json(&pids);
    }
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::new(Code::IO, format!("running ps: {e} (install procps)")))?;
    if !out.status.success() {
        return Err(Error::new(
            Code::BAD_ARGS,
            format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    berth_cli::print_text(&filter_ps(&String::from_utf8_lossy(&out.stdout), &pids)?)
}

/// `ps` output: the header, and the lines whose PID column is one of `pids`.
fn filter_ps(text: &str, pids: &[i32]) -> Result<String, Error> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or_else(|| {
            Error::new(
                Code::BAD_ARGS,
                "ps printed no PID column: keep the PID field in the ps options (e.g. -ef)",
            )
        })?;
    let mut out = format!("{header}\n");
    for l in lines {
        let pid = l.split_whitespace().nth(col).and_then(|p| p.parse().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push_str(l);
            out.push('\n');
        }
    }
    Ok(out)
}

/// runc's `update`: applies `res` (a linux.resources object; only the fields it has) to the
/// container's cgroup. Device rules are not updated (runc ignores them here too).
pub fn update(root: &Root, id: &str, res: serde_json::Value) -> Result<(), Error> {
    let res: LinuxResources = serde_json::from_value(res)
        .map_err(|e| Error::new(Code::DECODE, format!("the resources: {e}")))?;
    Ok(oci::update(root, id, &res)?)
}

/// runc's `features` (runtime-spec's features.md): what this berth-spawn applies, for
/// engines that ask (containerd 1.7+, podman). What it cannot state exactly is left out,
/// which the spec reads as unknown: mountOptions, seccomp archs and flags.
pub fn features() -> Result<(), Error> {
    let lsm = berth::runtime::lsm::Host::detect();
    berth_cli::print_json(&serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "poststart", "poststop"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": berth::runtime::caps::all_names(),
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {
                "enabled": true,
                // NOTIFY needs a listener, which berth does not support.
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                    "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                    "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                    "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
            },
            "apparmor": {"enabled": lsm.apparmor},
            "selinux": {"enabled": lsm.selinux},
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_keeps_the_header_and_the_container_lines() {
        let text = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                    root           1       0  0 10:00 ?        00:00:01 /sbin/init\n\
                    root        4242       1  0 10:01 ?        00:00:00 sleep 100\n";
        assert_eq!(
            filter_ps(text, &[4242]).unwrap(),
            "UID          PID    PPID  C STIME TTY          TIME CMD\n\
             root        4242       1  0 10:01 ?        00:00:00 sleep 100\n"
        );
        assert!(filter_ps("USER COMMAND\nroot init\n", &[1]).is_err());
    }
}
