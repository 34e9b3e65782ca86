//! What starting a container's process takes on the Docker side, shared by the foreground run
//! ([`super::run`]), the detached start under a monitor ([`super::monitor`]): the options
//! `runtime::process::create` gets for a berth container, and what the record says once the
//! process started, ended, or could not start.

use std::os::fd::OwnedFd;
use std::path::Path;

use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{Event, ProcessSection, Record};
use crate::runtime::RuntimeError;
use crate::runtime::process::{CreateOpts, Launch};
use crate::runtime::state::Root;
use crate::state::{Containers, liveness};

/// Records that the container's process `pid` started, watched by `monitor` (its monitor, or
/// the foreground berth-spawn).
/// `probed`: a monitor runs the container's health check (a detached container), so its
/// `State.Health` starts at `starting`.
pub(crate) fn set_running(
    paths: &Paths,
    id: &str,
    pid: i32,
    monitor: i32,
    probed: bool,
) -> Result<(), Error> {
    let record = Containers::new(paths).update(id, |r| {
        let checked = probed && super::health::healthcheck(r).is_some();
        let s = r.state.get_or_insert_with(Default::default);
        if checked && s.health.is_none() {
            s.health = Some(Default::default());
        }
        s.apply(Event::Started {
            pid,
            pid_start: liveness::start_time(pid).unwrap_or(0),
            monitor_pid: monitor,
            monitor_start: liveness::start_time(monitor).unwrap_or(0),
        })?;
        super::settle_creator(paths, r);
        Ok::<_, Error>(r.clone())
    })?;
    dns_running(paths, id, true);
    super::attached::emit(paths, &record, true);
    crate::events::container(&paths.root, &record, "start", &[]);
    Ok(())
}

/// The container's names resolve on its user-defined networks while it runs, and not
/// otherwise (`net::dns::set_running`); a resolver that cannot be told is not the start's or
/// the exit's failure.
pub(crate) fn dns_running(paths: &Paths, id: &str, running: bool) {
    if let Err(e) = crate::net::dns::set_running(paths, id, running) {
        log::warn!("container DNS: {e}");
    }
}

/// The events of a container's end (moby's `handleContainerExit`): `oom` first when the
/// kernel killed it for memory, its networks' `disconnect` and volumes' `unmount`
/// ([`super::attached`]), then `die` with its exit code and how many whole seconds it ran
/// (`execDuration`).
pub(crate) fn emit_exit(paths: &Paths, record: &Record, code: i32, oom: bool) {
    if oom {
        crate::events::container(&paths.root, record, "oom", &[]);
    }
    let ran = record
        .state
        .as_ref()
        .and_then(|s| Some(s.finished_at.unwrap_or_else(chrono::Utc::now) - s.started_at?))
        .map_or(0, |d| d.num_seconds().max(0));
    let attrs = [
        ("exitCode", code.to_string()),
        ("execDuration", ran.to_string()),
    ];
    super::attached::emit(paths, record, false);
    crate::events::container(&paths.root, record, "die", &attrs);
}

/// Records how the container ended. Returns the updated record.
pub(crate) fn set_exited(
    paths: &Paths,
    id: &str,
    code: i32,
    oom: bool,
    error: &str,
) -> Result<Record, Error> {
    let record = Containers::new(paths).update(id, |r| {
        r.state
            .get_or_insert_with(Default::default)
            .apply(Event::Exited {
                code,
                oom,
                error: error.to_string(),
            })?;
        // Docker keeps a container whose command could not be run (126/127); any other
        // failure to start is berth's, and berth-run undoes the container.
        if matches!(code, 126 | 127) {
            super::settle_creator(paths, r);
        }
        Ok::<_, Error>(r.clone())
    })?;
    dns_running(paths, id, false);
    emit_exit(paths, &record, code, oom);
    Ok(record)
}

/// The options a berth container's process is created with.
pub(super) fn create_opts<'a>(
    root: &'a Root,
    id: &'a str,
    bundle: &'a Path,
    p: &ProcessSection,
    stdio: Option<[Option<OwnedFd>; 3]>,
) -> CreateOpts<'a> {
    CreateOpts {
        id,
        bundle,
        root,
        launch: Launch::Run,
        pid_file: None,
        console_socket: None,
        preserve_fds: 0,
        // Without -i, /dev/null, unless the caller gives stdin itself (the monitor's pipe).
        stdin_null: !p.interactive && stdio.as_ref().is_none_or(|s| s[0].is_none()),
        stdio,
        init: p.init,
    }
}

/// A start that failed: the record says so (Docker keeps the container, exit code 126/127
/// for exec failures), `--rm` removes it, and the error goes on.
pub(super) fn fail_start(paths: &Paths, record: &Record, e: RuntimeError) -> Error {
    let err: Error = e.into();
    let code = match err.code().0 {
        126 | 127 => err.code().0 as i32,
        _ => 128,
    };
    if let Ok(r) = set_exited(paths, &record.id, code, false, &err.one_line())
        && record.process.as_ref().is_some_and(|p| p.auto_remove)
    {
        let _ = super::teardown(paths, &r, true);
    }
    err
}
