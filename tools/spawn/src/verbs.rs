//! The runc verbs whose output or teardown needs more than one library call: `delete` (also
//! berth's teardown verb) and `list`.

use berth::Error;
use berth::error::Code;
use berth::paths::Paths;
use berth::runtime::oci;
use berth::runtime::state::Root;

/// `delete`: runc's verb, and berth's teardown verb (berth::lifecycle): for a berth
/// container its monitor goes first (so no restart policy revives it), and the record says
/// the container is no longer running.
pub fn delete(paths: &Paths, root: &Root, id: &str, force: bool) -> Result<(), Error> {
    let containers = berth::state::Containers::new(paths);
    let record = containers.load(id).ok();
    if let Some(s) = record.as_ref().and_then(|r| r.state.clone()) {
        if s.status.is_active() && !force && root.exists(id) {
            return Err(Error::new(
                Code::WRONG_STATE,
                format!("container {id} is running: stop it first, or use --force"),
            ));
        }
        if s.monitor_pid > 0
            && s.monitor_pid != std::process::id() as i32
            && berth::state::liveness::is_alive(s.monitor_pid, s.monitor_start)
        {
            unsafe { libc::kill(s.monitor_pid, libc::SIGKILL) };
            oci::wait_gone(
                s.monitor_pid,
                s.monitor_start,
                std::time::Duration::from_secs(5),
            );
        }
    }
    let r = oci::delete(root, id, force || record.is_some());
    let _ = std::fs::remove_file(paths.attach_socket(id));
    if record.is_some() {
        let _ = containers.update(id, |r| {
            if let Some(s) = r.state.as_mut()
                && s.status.is_active()
            {
                s.status = berth::protocol::Status::Exited;
                s.exit_code = 137;
                s.finished_at = Some(chrono::Utc::now());
                s.pid = 0;
                s.monitor_pid = 0;
            }
            Ok::<_, Error>(())
        });
    }
    Ok(r?)
}

pub fn list(root: &Root, format: &str, quiet: bool) -> Result<(), Error> {
    let rows = oci::list(root);
    if quiet {
        let ids: String = rows.iter().map(|(s, _)| format!("{}\n", s.id)).collect();
        return berth::cli::print_text(&ids);
    }
    if format == "json" {
        let v: Vec<serde_json::Value> = rows.iter().map(|(s, st)| s.oci_json(*st)).collect();
        return berth::cli::print_json(&v);
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
    berth::cli::print_table(
        &["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        &table,
    )
}
