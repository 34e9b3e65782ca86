//! Tearing a container down (`rm`, `container prune`, `--rm`, the undo of a failed run): each
//! stage's own idempotent teardown, run in the reverse order of setup (CNI's DEL lesson). The
//! same work as the stages' teardown verbs, which stay the tools a user types (and
//! [`teardown_plan`] lists):
//!
//! ```text
//! berth-spawn delete --force ID    stop the process, remove runtime state and cgroups
//! berth-vol detach ID [--volumes]  forget its mounts; with --volumes, delete its anonymous
//!                                  volumes that no other container uses
//! berth-netns rm ID                veth, address, firewall rules, netns mount
//! berth-unpack rm ID               unmount the rootfs, delete the directory, free the name
//! ```
//!
//! [`teardown`] calls the library functions behind those verbs in this process rather than
//! exec'ing them: every caller links the whole library anyway (berth-ctl for `rm` and `prune`,
//! berth-spawn for `--rm`, in the foreground and in the exit hook it runs for the small
//! monitor, which itself links nothing but libc and never tears down), and three execs were
//! most of a `run --rm`'s teardown. The vol and netns steps leave the record's `mounts` and
//! `network` sections (and config.json's mounts) as they are, since the unpack step deletes
//! them next: a teardown killed at any point leaves a record that still names every section
//! not yet removed with it, and `rm` or `container prune` runs the same idempotent steps again
//! (tests/tests/run_interrupt.rs). A stage whose section is absent from the record is skipped.
//! Every stage runs even if an earlier one failed; the first error is the one returned, the
//! others are logged. `--timings` shows each step as a `teardown.STAGE` phase (after
//! `teardown.exit`, a foreground run's recording of its end).

use crate::error::{Error, Result};
use crate::paths::Paths;
use crate::protocol::Record;

/// The teardown verbs [`teardown`] does the work of for `record`, in order: the commands to
/// type to tear it down one stage at a time.
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

/// Runs the teardown of `record` (see the module docs).
pub fn teardown(paths: &Paths, record: &Record, remove_volumes: bool) -> Result<()> {
    let id = record.id.as_str();
    let mut first: Option<Error> = None;
    let mut step = |phase: &'static str, r: Result<()>| match (r, &first) {
        (Ok(()), _) => {}
        (Err(e), None) => first = Some(e),
        (Err(e), Some(_)) => log::warn!("{phase} {id}: {e}"),
    };
    if record.process.is_some() || record.state.is_some() {
        let _p = crate::timings::phase("teardown.spawn");
        let root = super::runtime_root(paths);
        step("berth-spawn delete", super::delete(paths, &root, id, true));
    }
    if record.mounts.is_some() {
        let _p = crate::timings::phase("teardown.vol");
        let r = crate::volume::stage::release(paths, id, remove_volumes);
        step("berth-vol detach", r.map(drop));
    }
    if record.network.is_some() {
        let _p = crate::timings::phase("teardown.netns");
        let r = crate::net::release(paths, id);
        step("berth-netns rm", r.map_err(Error::from));
    }
    {
        let _p = crate::timings::phase("teardown.unpack");
        step(
            "berth-unpack rm",
            crate::bundle::remove(paths, id).map(drop),
        );
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
