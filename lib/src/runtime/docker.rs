//! The Docker-style lifecycle over berth containers (records under BERTH_ROOT, runtime state
//! under `<run>/<id>`): the pipeline stage (foreground, or detached with a monitor, which
//! [`super::monitor`] launches), and start, stop, kill, restart, wait, pause, unpause and
//! exec by NAME|ID|PREFIX.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use super::attach::{self, AttachOptions, Ended};
use super::oci::{self, ExecRequest};
use super::process::{self, CreateOpts, Launch};
use super::state::Root;
use super::{RuntimeError, flags, signals, sys};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{ProcessSection, Record, StateSection, Status};
use crate::state::{Containers, liveness, truth};

/// Docker's default stop timeout.
pub const DEFAULT_STOP_TIMEOUT: u32 = 10;

pub(super) fn runtime_root(paths: &Paths) -> Root {
    Root::new(&paths.run)
}

/// What the stage did.
pub enum Outcome {
    /// Detached: the id to print.
    Detached(String),
    /// Foreground: the exit code to exit with.
    Exited(i32),
}

/// The pipeline stage: applies the flags to config.json and the record, then runs.
pub fn start_record(paths: &Paths, record: Record, p: ProcessSection) -> Result<Outcome, Error> {
    crate::container::creator_check(paths, &record)?;
    let (id, p) = prepare_record(paths, record, p)?;
    if !p.runtime.is_empty() && (p.detach || p.tty) {
        return Err(RuntimeError::BadArgs(format!(
            "--runtime {} runs foreground containers without -t (berth-spawn's own runtime has -d and -t)",
            p.runtime
        ))
        .into());
    }
    if p.detach {
        super::monitor::start_detached(paths, &id, None)?;
        Ok(Outcome::Detached(id))
    } else if p.tty {
        // A terminal runs under its monitor, attached: Ctrl-P Ctrl-Q leaves it running.
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
        let bundle = bundle_path(&Containers::new(paths).load(&id)?)?;
        let code = super::external::run_foreground(paths, &id, &p, &bundle)?;
        Ok(Outcome::Exited(code))
    } else {
        Ok(Outcome::Exited(run_foreground(paths, &id)?))
    }
}

/// Docker `create` as a pipeline stage (`berth-spawn create -`): the flags applied to
/// config.json and the record, the container left in the created state. Returns its id.
pub fn create_record(paths: &Paths, record: Record, p: ProcessSection) -> Result<String, Error> {
    crate::container::creator_check(paths, &record)?;
    let id = prepare_record(paths, record, p)?.0;
    Containers::new(paths).update(&id, |r| {
        crate::container::settle_creator(paths, r);
        Ok::<_, Error>(())
    })?;
    Ok(id)
}

/// Applies the flags to config.json and saves the record with its `process` and (created)
/// `state` sections.
fn prepare_record(
    paths: &Paths,
    mut record: Record,
    mut p: ProcessSection,
) -> Result<(String, ProcessSection), Error> {
    let id = record.require_id()?.to_string();
    let bundle = record
        .require(&record.bundle, "bundle", "berth-unpack")?
        .clone();
    let containers = Containers::new(paths);
    if p.stop_signal.is_none() {
        p.stop_signal = bundle.config.stop_signal.clone();
    }
    if let Some(cid) = &p.cidfile {
        if Path::new(cid).exists() {
            return Err(RuntimeError::BadArgs(format!(
                "container ID file found, make sure the other container isn't running or delete {cid}"
            ))
            .into());
        }
        // The user's file, not berth's state: readable as Docker leaves it.
        crate::store::atomic::write_with(Path::new(cid), 0o644, |f| f.write_all(id.as_bytes()))?;
    }
    if p.restart.name.is_empty() {
        p.restart.name = "no".into();
    }
    if p.auto_remove && p.restart.name != "no" {
        return Err(RuntimeError::BadArgs(
            "conflicting options: cannot specify both --restart and --rm".into(),
        )
        .into());
    }
    let lookup = |arg: &str| -> Result<i32, RuntimeError> {
        let other = containers.resolve(arg)?;
        let r = truth::observe(&containers, containers.load(&other)?)?;
        match r.state {
            Some(s) if s.status.is_active() && s.pid > 0 => Ok(s.pid),
            _ => Err(RuntimeError::WrongState {
                id: arg.into(),
                status: "not running".into(),
                what: "cannot join the namespaces of a container that is not running".into(),
            }),
        }
    };
    crate::ocispec::edit(&bundle.path, |spec| {
        flags::apply_in(spec, &p, &id, &lookup, &bundle.path)
    })?;
    record.process = Some(p.clone());
    record.state = Some(StateSection::default());
    containers.save(&record)?;
    Ok((id, p))
}

pub(super) fn set_running(paths: &Paths, id: &str, pid: i32, monitor: i32) -> Result<(), Error> {
    Containers::new(paths).update(id, |r| {
        let s = r.state.get_or_insert_with(Default::default);
        s.status = Status::Running;
        s.pid = pid;
        s.pid_start = liveness::start_time(pid).unwrap_or(0);
        s.monitor_pid = monitor;
        s.monitor_start = liveness::start_time(monitor).unwrap_or(0);
        s.started_at = Some(Utc::now());
        s.manually_stopped = false;
        s.error.clear();
        crate::container::settle_creator(paths, r);
        Ok::<_, Error>(())
    })
}

/// Records how the container ended. Returns the updated record.
pub(super) fn set_exited(
    paths: &Paths,
    id: &str,
    code: i32,
    oom: bool,
    error: &str,
) -> Result<Record, Error> {
    Containers::new(paths).update(id, |r| {
        let s = r.state.get_or_insert_with(Default::default);
        s.status = Status::Exited;
        s.exit_code = code;
        s.oom_killed = oom;
        s.finished_at = Some(Utc::now());
        s.pid = 0;
        s.pid_start = 0;
        s.monitor_pid = 0;
        s.monitor_start = 0;
        s.error = error.to_string();
        // Docker keeps a container whose command could not be run (126/127); any other
        // failure to start is berth's, and berth-run undoes the container.
        if matches!(code, 126 | 127) {
            crate::container::settle_creator(paths, r);
        }
        Ok::<_, Error>(r.clone())
    })
}

pub(super) fn create_opts<'a>(
    paths: &'a Paths,
    root: &'a Root,
    id: &'a str,
    bundle: &'a Path,
    p: &ProcessSection,
    stdio: Option<[Option<OwnedFd>; 3]>,
) -> CreateOpts<'a> {
    let _ = paths;
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

pub(super) fn bundle_path(record: &Record) -> Result<PathBuf, Error> {
    Ok(record
        .require(&record.bundle, "bundle", "berth-unpack")?
        .path
        .clone())
}

/// Foreground: stdio wired through, signals forwarded, exit code returned.
///
/// Pipes and files are the container's stdio as they are (the fast path scripts use). A
/// terminal is not: without `-t` the container has no terminal of its own, and must not
/// hold the caller's (issue 12: TIOCSTI into the caller's shell, or reading what is typed
/// after it is gone, from a process that outlived the run). Pipes stand in for each of our
/// descriptors that is a terminal (stdin only with `-i`) and we copy between them, as `exec`
/// does and as Docker's daemon always does.
pub fn run_foreground(paths: &Paths, id: &str) -> Result<i32, Error> {
    let containers = Containers::new(paths);
    let record = containers.load(id)?;
    let p = record.process.clone().unwrap_or_default();
    let bundle = bundle_path(&record)?;
    let root = runtime_root(paths);
    let _ = oci::delete(&root, id, true);
    signals::block();
    let (stdio, relay) =
        signals::Relay::for_terminals(p.interactive).map_err(|e| sys("pipe", e))?;
    let stdio = (!relay.is_empty()).then_some(stdio);
    let stdio = attach::unattached_to_null(&p.attach, stdio).map_err(|e| sys("/dev/null", e))?;
    let launched = process::create(create_opts(paths, &root, id, &bundle, &p, stdio));
    let l = match launched {
        Ok(l) => l,
        Err(e) => return Err(fail_start(paths, &record, e)),
    };
    set_running(paths, id, l.state.pid, std::process::id() as i32)?;
    if let Err(e) = l.start() {
        let _ = oci::delete(&root, id, true);
        return Err(fail_start(paths, &record, e));
    }
    let cg = l.state.cgroup();
    let code = signals::wait(signals::Foreground {
        pid: l.state.pid,
        master: l.master,
        stdin: p.interactive,
        relay,
    });
    let oom = cg.oom_kills() > 0;
    let _ = oci::delete(&root, id, true);
    let record = set_exited(paths, id, code, oom, "")?;
    if p.auto_remove {
        crate::lifecycle::remove(paths, &record, true)?;
    }
    Ok(code)
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
        let _ = crate::lifecycle::remove(paths, &r, true);
    }
    err
}

/// Resolves what a user typed to a berth container id, or `None` if it names none.
pub fn berth_container(paths: &Paths, arg: &str) -> Option<String> {
    Containers::new(paths).resolve(arg).ok()
}

pub(super) fn load_true(paths: &Paths, id: &str) -> Result<Record, Error> {
    let c = Containers::new(paths);
    Ok(truth::observe(&c, c.load(id)?)?)
}

/// Docker `start`: runs an exited or created container again, detached, with its monitor.
pub fn start(paths: &Paths, arg: &str) -> Result<String, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    let record = load_true(paths, &id)?;
    if record.state.as_ref().is_some_and(|s| s.status.is_active()) {
        return Ok(id);
    }
    prepare_start(paths, arg, &id, &record)?;
    super::monitor::start_detached(paths, &id, None)?;
    Ok(id)
}

/// Checks that a container can start, and gives one made without the spawn stage its
/// defaults.
pub(super) fn prepare_start(
    paths: &Paths,
    arg: &str,
    id: &str,
    record: &Record,
) -> Result<(), Error> {
    let status = record.state.as_ref().map(|s| s.status).unwrap_or_default();
    if !status.can_start() {
        return Err(RuntimeError::WrongState {
            id: arg.into(),
            status: status.as_str().into(),
            what: "cannot start it".into(),
        }
        .into());
    }
    if record.process.is_none() {
        let p = ProcessSection {
            detach: true,
            ..Default::default()
        };
        let bundle = bundle_path(record)?;
        let lookup = |_: &str| Err(RuntimeError::BadArgs("no namespace sharing here".into()));
        crate::ocispec::edit(&bundle, |spec| flags::apply(spec, &p, id, &lookup))?;
        Containers::new(paths).update(id, |r| {
            r.process = Some(p.clone());
            Ok::<_, Error>(())
        })?;
    }
    Ok(())
}

fn signal_of(record: &Record, given: Option<&str>) -> Result<i32, Error> {
    let name = given
        .map(String::from)
        .or_else(|| record.process.as_ref().and_then(|p| p.stop_signal.clone()))
        .or_else(|| {
            record
                .bundle
                .as_ref()
                .and_then(|b| b.config.stop_signal.clone())
        })
        .unwrap_or_else(|| "SIGTERM".into());
    Ok(oci::parse_signal(&name)?)
}

/// Docker `stop`: the stop signal, then SIGKILL after the timeout; marks the container
/// manually stopped so no restart policy brings it back.
pub fn stop(
    paths: &Paths,
    arg: &str,
    timeout: Option<u32>,
    signal: Option<&str>,
) -> Result<String, Error> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let record = containers.update(&id, |r| {
        let s = r.state.get_or_insert_with(Default::default);
        s.manually_stopped = true;
        if s.status == Status::Restarting {
            s.status = Status::Exited;
        }
        Ok::<_, Error>(r.clone())
    })?;
    let record = truth::observe(&containers, record)?;
    let Some(s) = record
        .state
        .clone()
        .filter(|s| s.status.is_active() && s.pid > 0)
    else {
        return Ok(id);
    };
    let sig = signal_of(&record, signal)?;
    let timeout = timeout
        .or(record.process.as_ref().and_then(|p| p.stop_timeout))
        .unwrap_or(DEFAULT_STOP_TIMEOUT);
    let root = runtime_root(paths);
    if s.status == Status::Paused {
        let _ = oci::resume(&root, &id);
    }
    // SAFETY: kill has no memory effects; `s.pid` is the init truth::observe just found alive.
    unsafe { libc::kill(s.pid, sig) };
    if !oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(timeout as u64)) {
        // SAFETY: as above; wait_gone checked the pid against its start time.
        unsafe { libc::kill(s.pid, libc::SIGKILL) };
        oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(10));
    }
    wait_recorded(paths, &id, &s);
    Ok(id)
}

/// Waits until whoever watches the container (monitor or foreground berth-spawn) has
/// recorded its end; if nobody does, corrects the record.
fn wait_recorded(paths: &Paths, id: &str, s: &StateSection) {
    if s.monitor_pid > 0 {
        oci::wait_gone(s.monitor_pid, s.monitor_start, Duration::from_secs(10));
    }
    let _ = load_true(paths, id);
}

/// Docker `kill`: a signal (default SIGKILL) to a running container.
pub fn kill(paths: &Paths, arg: &str, signal: Option<&str>) -> Result<String, Error> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let record = load_true(paths, &id)?;
    let s = record.state.clone().unwrap_or_default();
    if !s.status.is_active() || s.pid == 0 {
        return Err(RuntimeError::WrongState {
            id: arg.into(),
            status: s.status.as_str().into(),
            what: format!("cannot kill container {arg}: container is not running"),
        }
        .into());
    }
    let sig = oci::parse_signal(signal.unwrap_or("KILL"))?;
    if matches!(sig, libc::SIGKILL | libc::SIGTERM | libc::SIGINT) {
        containers.update(&id, |r| {
            if let Some(s) = r.state.as_mut() {
                s.manually_stopped = true;
            }
            Ok::<_, Error>(())
        })?;
    }
    // SAFETY: kill has no memory effects; `s.pid` is the init load_true just found alive.
    if unsafe { libc::kill(s.pid, sig) } < 0 {
        return Err(sys(format!("kill {}", s.pid), std::io::Error::last_os_error()).into());
    }
    if sig == libc::SIGKILL {
        // As moby does: a SIGKILL returns once the container is down and its watcher has
        // recorded it, so the next command (rm, prune, ps) sees it stopped.
        oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(10));
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            let st = load_true(paths, &id)?.state.unwrap_or_default();
            if st.status != Status::Running || st.pid != s.pid {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(id)
}

/// Docker `restart`: stop, then start.
pub fn restart(paths: &Paths, arg: &str, timeout: Option<u32>) -> Result<String, Error> {
    let id = stop(paths, arg, timeout, None)?;
    start(paths, &id)
}

/// Docker `wait`: blocks until the container stops; returns its exit code.
pub fn wait(paths: &Paths, arg: &str) -> Result<i32, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    loop {
        let r = load_true(paths, &id)?;
        let s = r.state.unwrap_or_default();
        if !s.status.is_active() && s.status != Status::Created {
            return Ok(s.exit_code);
        }
        if s.status == Status::Created || s.pid == 0 {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if oci::wait_gone(s.pid, s.pid_start, Duration::from_secs(3600)) {
            // The watcher records the end; give it the moment it needs.
            if s.monitor_pid > 0 {
                let r2 = load_true(paths, &id)?;
                if r2
                    .state
                    .as_ref()
                    .is_some_and(|x| x.status == Status::Restarting)
                {
                    continue;
                }
                oci::wait_gone(s.monitor_pid, s.monitor_start, Duration::from_millis(200));
            }
            for _ in 0..100 {
                let r = load_true(paths, &id)?;
                let st = r.state.unwrap_or_default();
                if st.status != Status::Running || st.pid != s.pid {
                    if st.status.is_active() {
                        break;
                    }
                    return Ok(st.exit_code);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Docker `pause` / `unpause` (the freezer cgroup).
pub fn pause(paths: &Paths, arg: &str, frozen: bool) -> Result<String, Error> {
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    let r = load_true(paths, &id)?;
    let status = r.state.map(|s| s.status).unwrap_or_default();
    let root = runtime_root(paths);
    match (frozen, status) {
        (true, Status::Running) => oci::pause(&root, &id)?,
        (false, Status::Paused) => oci::resume(&root, &id)?,
        (true, s) | (false, s) => {
            return Err(RuntimeError::WrongState {
                id: arg.into(),
                status: s.as_str().into(),
                what: match (frozen, s) {
                    (true, Status::Paused) => "it is already paused".into(),
                    (true, _) => "cannot pause a container that is not running".into(),
                    (false, _) => "cannot unpause a container that is not paused".into(),
                },
            }
            .into());
        }
    }
    containers.update(&id, |r| {
        if let Some(s) = r.state.as_mut() {
            s.status = if frozen {
                Status::Paused
            } else {
                Status::Running
            };
        }
        Ok::<_, Error>(())
    })?;
    Ok(id)
}

/// Docker `exec` by NAME|ID|PREFIX.
pub fn exec(paths: &Paths, arg: &str, req: ExecRequest) -> Result<i32, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    let r = load_true(paths, &id)?;
    let s = r.state.unwrap_or_default();
    if s.status == Status::Paused {
        return Err(RuntimeError::WrongState {
            id: arg.into(),
            status: "paused".into(),
            what: "unpause the container before exec".into(),
        }
        .into());
    }
    if s.status != Status::Running {
        return Err(RuntimeError::WrongState {
            id: arg.into(),
            status: s.status.as_str().into(),
            what: format!("container {arg} is not running"),
        }
        .into());
    }
    Ok(oci::exec(&runtime_root(paths), &id, req)?)
}
