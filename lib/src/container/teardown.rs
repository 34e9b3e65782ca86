//! Tearing a container down (`rm`, `container prune`, `--rm`, the undo of a failed run),
//! composed from the stages' own idempotent teardown verbs, run in the reverse order of setup
//! (CNI's DEL lesson):
//!
//! ```text
//! berth-spawn delete --force ID    stop the process, remove runtime state and cgroups
//! berth-vol detach ID [--volumes]  forget its mounts; with --volumes, delete its anonymous
//!                                  volumes that no other container uses
//! berth-netns rm ID                veth, address, firewall rules, netns mount
//! berth-unpack rm ID               unmount the rootfs, delete the directory, free the name
//! ```
//!
//! Each stage is run as its own tool rather than linked in, so that the small monitor that
//! performs `--rm` does not carry the network stack's code, and so that the teardown a user
//! types and the one the monitor runs are the same commands. A stage whose section is absent
//! from the record is skipped. Every stage runs even if an earlier one failed; the first error
//! is the one returned.

use std::process::{Command, Stdio};

use crate::error::{Code, Error, Result};
use crate::paths::{Paths, tool_path};
use crate::protocol::Record;

/// The teardown commands for `record`, in order.
pub fn teardown_plan(record: &Record, remove_volumes: bool) -> Vec<Vec<String>> {
    let id = record.id.clone();
    let mut plan = Vec::new();
    if record.process.is_some() || record.state.is_some() {
        plan.push(vec![
            "berth-spawn".into(),
            "delete".into(),
            "--force".into(),
            id.clone(),
        ]);
    }
    if record.mounts.is_some() {
        let mut v = vec!["berth-vol".into(), "detach".into(), id.clone()];
        if remove_volumes {
            v.push("--volumes".into());
        }
        plan.push(v);
    }
    if record.network.is_some() {
        plan.push(vec!["berth-netns".into(), "rm".into(), id.clone()]);
    }
    plan.push(vec!["berth-unpack".into(), "rm".into(), id]);
    plan
}

/// Runs the teardown of `record` (see the module docs). stderr of the stages passes through.
pub fn teardown(paths: &Paths, record: &Record, remove_volumes: bool) -> Result<()> {
    run_plan(paths, record, teardown_plan(record, remove_volumes), None)
}

/// [`teardown`] from within berth-spawn itself (a foreground `run --rm`, a monitor's exit hook
/// for `--rm`): its own step,
/// `delete --force`, runs in this process rather than in a new berth-spawn (one exec fewer on
/// the hot path); the other stages run as their tools.
pub fn teardown_in_spawn(paths: &Paths, record: &Record, remove_volumes: bool) -> Result<()> {
    let mut plan = teardown_plan(record, remove_volumes);
    let mut first = None;
    if plan.first().is_some_and(|a| a[0] == "berth-spawn") {
        plan.remove(0);
        let root = super::runtime_root(paths);
        first = super::delete(paths, &root, &record.id, true).err();
    }
    run_plan(paths, record, plan, first)
}

/// Runs each step of `plan`, even after a failure; `first` is an earlier step's error.
fn run_plan(
    paths: &Paths,
    record: &Record,
    plan: Vec<Vec<String>>,
    mut first: Option<Error>,
) -> Result<()> {
    for argv in plan {
        let status = Command::new(tool_path(&argv[0]))
            .args(&argv[1..])
            .env("BERTH_ROOT", &paths.root)
            .env("BERTH_RUN_ROOT", &paths.run)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        let err = match status {
            Ok(s) if s.success() => continue,
            Ok(s) => Error::new(
                Code(
                    s.code()
                        .and_then(|c| u8::try_from(c).ok())
                        .unwrap_or(Code::IO.0),
                ),
                format!(
                    "{} failed while removing container {}",
                    argv.join(" "),
                    record.id
                ),
            ),
            Err(e) => Error::new(
                Code::HOST_UNSUPPORTED,
                format!("cannot run {}: {e}", argv[0]),
            ),
        };
        first.get_or_insert(err);
    }
    // `destroy` answers the `create` emitted when the record got its state section: a run
    // undone before that never was a container to Docker's eyes.
    if first.is_none() && record.state.is_some() {
        crate::events::container(&paths.root, record, "destroy", &[]);
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_runs_in_reverse_order_and_skips_absent_stages() {
        let mut r = Record::new();
        r.id = "c".into();
        assert_eq!(
            teardown_plan(&r, false),
            vec![vec!["berth-unpack", "rm", "c"]]
        );
        r.network = Some(Default::default());
        r.mounts = Some(vec![]);
        r.state = Some(Default::default());
        let tools: Vec<String> = teardown_plan(&r, true)
            .iter()
            .map(|a| a[0].clone())
            .collect();
        assert_eq!(
            tools,
            ["berth-spawn", "berth-vol", "berth-netns", "berth-unpack"]
        );
        assert_eq!(teardown_plan(&r, true)[1].last().unwrap(), "--volumes");
    }
}
