//! The OCI runtime verbs with runc's semantics: create, start, run, state, kill, delete,
//! list, pause, resume, update, exec. Each works on a runtime root (runc's `--root`).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxMemory, LinuxResources, Process, Spec};

use super::process::{self, CreateOpts, ExecOpts, Launch};
use super::state::{Root, State, Status};
use super::{RuntimeError, hooks, signals, sys};

/// A signal by name (`KILL`, `SIGKILL`) or number.
pub fn parse_signal(s: &str) -> Result<i32, RuntimeError> {
    if let Ok(n) = s.parse::<i32>()
        && (1..=64).contains(&n)
    {
        return Ok(n);
    }
    let up = s.trim().to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .or_else(|_| {
            // SIGRTMIN+N
            name.strip_prefix("SIGRTMIN+")
                .and_then(|n| n.parse::<i32>().ok())
                .map(|n| libc::SIGRTMIN() + n)
                .ok_or(())
        })
        .map_err(|_| RuntimeError::BadArgs(format!("invalid signal {s:?}")))
}

pub fn create(
    root: &Root,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    preserve_fds: i32,
) -> Result<State, RuntimeError> {
    let l = process::create(CreateOpts {
        id,
        bundle,
        root,
        launch: Launch::Create,
        pid_file,
        console_socket,
        preserve_fds,
        stdin_null: false,
        stdio: None,
        init: false,
    })?;
    Ok(l.state)
}

/// The poststart hooks: a failed one is a warning, and the others still run (runtime-spec
/// 1.2, lifecycle step 9).
fn poststart(spec: &Spec, st: &State) {
    let h = spec.hooks().clone().unwrap_or_default();
    if let Some(hs) = h.poststart().as_deref() {
        hooks::run_warn("poststart", hs, &st.oci_json(Status::Running));
    }
}

/// `start`: releases a created container (it execs its process now).
pub fn start(root: &Root, id: &str) -> Result<(), RuntimeError> {
    let mut st = root.load(id)?;
    let status = st.current_status(root);
    if status != Status::Created {
        return Err(RuntimeError::WrongState {
            id: id.into(),
            status: status.as_str().into(),
            what: "only a created container can be started".into(),
        });
    }
    let fifo = root.fifo_path(id);
    let f =
        std::fs::File::open(&fifo).map_err(|e| sys(format!("opening {}", fifo.display()), e))?;
    let mut b = [0u8; 1];
    use std::io::Read;
    // The init writes one byte once its startContainer hooks ran; end-of-file means it failed
    // before its exec (and said why on the container's stderr).
    let n = (&f).read(&mut b);
    let _ = std::fs::remove_file(&fifo);
    if !matches!(n, Ok(1)) {
        return Err(RuntimeError::Invalid(format!(
            "container {id} failed before its process could run (startContainer hooks or the exec fifo; see the container's stderr)"
        )));
    }
    let spec = crate::ocispec::load(&st.bundle).ok();
    let hooks = spec
        .as_ref()
        .and_then(|s| s.hooks().as_ref())
        .and_then(|h| h.poststart().as_ref())
        .is_some_and(|h| !h.is_empty());
    if hooks {
        // The init keeps its end open, close-on-exec: end-of-file says the container's
        // process was executed, and the poststart hooks run after it, as runtime-spec says.
        // Without them `start` returns at the byte, as runc does: a short-lived process is
        // then still seen running by a caller that looks right away.
        let _ = std::io::copy(&mut &f, &mut std::io::sink());
    }
    st.transition(Status::Running)?;
    root.save(&st)?;
    if let Some(spec) = &spec {
        poststart(spec, &st);
    }
    Ok(())
}

/// `run`: create and start; in the foreground, wait and delete, returning the exit code.
pub fn run(
    root: &Root,
    id: &str,
    bundle: &Path,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
    detach: bool,
    preserve_fds: i32,
) -> Result<i32, RuntimeError> {
    if !detach {
        signals::block();
    }
    let l = process::create(CreateOpts {
        id,
        bundle,
        root,
        launch: Launch::RunNow,
        pid_file,
        console_socket,
        preserve_fds,
        stdin_null: false,
        stdio: None,
        init: false,
    })?;
    let mut st = l.state.clone();
    if let Err(e) = l.start() {
        let _ = delete(root, id, true);
        // Nor a pid file naming the process that failed to exec (runc writes it only after).
        if let Some(p) = pid_file {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    // Not saved again: the state on disk (the pid, no exec fifo) already reads as running
    // (`State::current_status`).
    st.transition(Status::Running)?;
    poststart(&l.spec, &st);
    if detach {
        return Ok(0);
    }
    let wait = crate::timings::phase("wait");
    let code = signals::wait(signals::Foreground {
        pid: st.pid,
        master: l.master,
        stdin: true,
        relay: signals::Relay::default(),
    });
    drop(wait);
    let _teardown = crate::timings::phase("teardown");
    remove_reaped(root, &st)?;
    Ok(code)
}

/// `delete` of a container whose init the caller has reaped: what `delete` would read back
/// and check (the state, whether the init lives) is known. Nothing if a `delete` of another
/// process got there first.
pub fn remove_reaped(root: &Root, st: &State) -> Result<(), RuntimeError> {
    if !root.exists(&st.id) {
        return Ok(());
    }
    remove_stopped(root, st)
}

/// `state`: the OCI state document, with the status as it is now.
pub fn state(root: &Root, id: &str) -> Result<serde_json::Value, RuntimeError> {
    let st = root.load(id)?;
    let status = st.current_status(root);
    Ok(st.oci_json(status))
}

/// `kill`: a signal to the container's init (with `all`, to every process in its cgroup).
pub fn kill(root: &Root, id: &str, sig: i32, all: bool) -> Result<(), RuntimeError> {
    let st = root.load(id)?;
    let status = st.current_status(root);
    if status == Status::Stopped {
        return Err(RuntimeError::WrongState {
            id: id.into(),
            status: status.as_str().into(),
            what: "container not running".into(),
        });
    }
    // libc's kill, not nix's: `sig` may be a real-time signal (SIGRTMIN+n), which nix's
    // `Signal` cannot hold.
    if all {
        for p in st.cgroup().pids() {
            // SAFETY: kill passes two integers and touches no memory of ours.
            unsafe { libc::kill(p, sig) };
        }
        return Ok(());
    }
    // SAFETY: as above.
    if unsafe { libc::kill(st.pid, sig) } < 0 {
        return Err(sys(
            format!("kill {}", st.pid),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Waits (up to `timeout`) for a process that is not our child to be gone.
pub fn wait_gone(pid: i32, start: u64, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    // libc, not nix: nix 0.32 has no pidfd_open.
    // SAFETY: pidfd_open takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd >= 0 {
        // SAFETY: `fd` was just returned by pidfd_open and nothing else owns it.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        if !crate::state::liveness::is_alive(pid, start) {
            return true;
        }
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let _ = poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLIN)], timeout);
    }
    while std::time::Instant::now() < deadline {
        if !crate::state::liveness::is_alive(pid, start) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    !crate::state::liveness::is_alive(pid, start)
}

/// `delete`: removes a stopped container (with `force`, stops it first). With `force`, a
/// container that does not exist is not an error: the verb is idempotent.
pub fn delete(root: &Root, id: &str, force: bool) -> Result<(), RuntimeError> {
    let st = match root.load(id) {
        Ok(s) => s,
        Err(RuntimeError::NotFound(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let status = st.current_status(root);
    if !force && !matches!(status, Status::Stopped | Status::Created) {
        return Err(RuntimeError::WrongState {
            id: id.into(),
            status: status.as_str().into(),
            what: "cannot delete a running container (stop it first, or use --force)".into(),
        });
    }
    let cg = st.cgroup();
    if st.is_alive() {
        if cg.is_frozen() {
            let _ = cg.freeze(false);
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(st.pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        wait_gone(st.pid, st.pid_start, std::time::Duration::from_secs(10));
    }
    remove_stopped(root, &st)
}

/// What `delete` does once the init is gone: the cgroups (and anything left in them), the
/// poststop hooks, the runtime directory.
fn remove_stopped(root: &Root, st: &State) -> Result<(), RuntimeError> {
    st.cgroup().remove()?;
    let poststop = st.poststop.clone().unwrap_or_else(|| {
        crate::ocispec::load(&st.bundle)
            .ok()
            .and_then(|s| s.hooks().clone())
            .and_then(|h| h.poststop().clone())
            .unwrap_or_default()
    });
    if !poststop.is_empty() {
        hooks::run_warn("poststop", &poststop, &st.oci_json(Status::Stopped));
    }
    root.remove(&st.id)
}

/// runc's `update`: applies `res` (only the fields it has; devices never) to a running
/// container's cgroup. On cgroup v1 a memory limit raised above the old memory+swap fails
/// until the new memory+swap is in, so that goes in first then (runc orders these too).
pub fn update(root: &Root, id: &str, res: &LinuxResources) -> Result<(), RuntimeError> {
    let mut res = res.clone();
    res.set_devices(None);
    let st = root.load(id)?;
    if st.current_status(root) == Status::Stopped {
        return Err(RuntimeError::WrongState {
            id: id.into(),
            status: "stopped".into(),
            what: "container not running".into(),
        });
    }
    let cg = st.cgroup();
    match cg.update(&res) {
        Err(_)
            if res
                .memory()
                .is_some_and(|m| m.limit().is_some() && m.swap().is_some()) =>
        {
            let mut swap_first = LinuxResources::default();
            let mut m = LinuxMemory::default();
            m.set_swap(res.memory().and_then(|m| m.swap()));
            swap_first.set_memory(Some(m));
            cg.update(&swap_first)?;
            cg.update(&res)
        }
        r => r,
    }
}

pub fn pause(root: &Root, id: &str) -> Result<(), RuntimeError> {
    let st = root.load(id)?;
    match st.current_status(root) {
        Status::Running => st.cgroup().freeze(true),
        s => Err(RuntimeError::WrongState {
            id: id.into(),
            status: s.as_str().into(),
            what: "only a running container can be paused".into(),
        }),
    }
}

pub fn resume(root: &Root, id: &str) -> Result<(), RuntimeError> {
    let st = root.load(id)?;
    match st.current_status(root) {
        Status::Paused => st.cgroup().freeze(false),
        s => Err(RuntimeError::WrongState {
            id: id.into(),
            status: s.as_str().into(),
            what: "the container is not paused".into(),
        }),
    }
}

/// One row of `list`.
pub fn list(root: &Root) -> Vec<(State, Status)> {
    root.list()
        .into_iter()
        .filter_map(|id| root.load(&id).ok())
        .map(|s| {
            let st = s.current_status(root);
            (s, st)
        })
        .collect()
}

/// What to run with `exec`.
pub struct ExecRequest<'a> {
    /// A full process (runc's `--process FILE`), or `None` to derive one from the
    /// container's config and the fields below.
    pub process: Option<Process>,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<String>,
    pub user: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: i32,
    /// Docker's `exec -d`: the process gets /dev/null as stdio (runc's keeps the caller's).
    pub null_stdio: bool,
    /// Docker's `exec --privileged`: every capability in the bounding, permitted, inheritable
    /// and effective sets (moby's `execSetPlatformOpt`; the container's seccomp profile
    /// stays, as runc applies it to every process it enters).
    pub privileged: bool,
}

/// `exec`: runs a process in a running container. In the foreground, returns its exit code.
pub fn exec(root: &Root, id: &str, req: ExecRequest) -> Result<i32, RuntimeError> {
    let st = root.load(id)?;
    let status = st.current_status(root);
    if status != Status::Running {
        return Err(RuntimeError::WrongState {
            id: id.into(),
            status: status.as_str().into(),
            what: "exec needs a running container".into(),
        });
    }
    let spec = crate::ocispec::load(&st.bundle)?;
    let docker_style = req.process_is_docker();
    let process = match req.process {
        Some(p) => p,
        None => derive_process(&spec, &st, &req)?,
    };
    if !req.detach {
        signals::block();
    }
    let tty = process.terminal().unwrap_or(false);
    let stdin_null = !tty && docker_style;
    let (stdio, relay) = exec_stdio(req.null_stdio, tty || req.detach, stdin_null)?;
    let (pid, master) = process::exec(ExecOpts {
        root,
        state: &st,
        spec: &spec,
        process,
        pid_file: req.pid_file,
        console_socket: req.console_socket,
        preserve_fds: req.preserve_fds,
        stdin_null,
        stdio,
    })?;
    if req.detach {
        return Ok(0);
    }
    Ok(signals::wait(signals::Foreground {
        pid,
        master,
        stdin: req.interactive || req.console_socket.is_none(),
        relay,
    }))
}

/// The exec'd process' stdio, where it is not simply ours: /dev/null for Docker's `exec -d`,
/// and pipes relayed by us in place of our terminal (never handed to the container; `-t`
/// gives it a pty of its own instead).
fn exec_stdio(
    null_stdio: bool,
    own_terminal_or_detached: bool,
    stdin_null: bool,
) -> Result<(Option<process::StdioFds>, signals::Relay), RuntimeError> {
    if null_stdio {
        let null = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| sys("open /dev/null", e))
        };
        return Ok((
            Some([Some(null()?), Some(null()?), Some(null()?)]),
            signals::Relay::default(),
        ));
    }
    if own_terminal_or_detached {
        return Ok((None, signals::Relay::default()));
    }
    let (child, relay) = signals::Relay::for_terminals(!stdin_null).map_err(|e| sys("pipe", e))?;
    Ok(((!relay.is_empty()).then_some(child), relay))
}

impl ExecRequest<'_> {
    /// Docker-style exec (arguments given, no --process file) gives /dev/null as stdin
    /// without `-i`; runc-style keeps the caller's stdin.
    fn process_is_docker(&self) -> bool {
        self.process.is_none() && !self.args.is_empty() && !self.interactive
    }
}

fn derive_process(spec: &Spec, st: &State, req: &ExecRequest) -> Result<Process, RuntimeError> {
    let mut p = spec.process().clone().unwrap_or_default();
    if req.args.is_empty() {
        return Err(RuntimeError::BadArgs(
            "exec needs a command (or --process FILE)".into(),
        ));
    }
    p.set_args(Some(req.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    for e in &req.env {
        let key = e.split('=').next().unwrap_or_default();
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &req.cwd {
        p.set_cwd(cwd.into());
    }
    if let Some(u) = &req.user {
        p.set_user(super::flags::resolve_user(st.pid, st.pid_start, u)?);
    }
    p.set_terminal(Some(req.tty));
    p.set_console_size(None);
    if req.privileged {
        let all = crate::bundle::defaults::capability_set(&super::caps::all_names());
        let mut c = p.capabilities().clone().unwrap_or_default();
        c.set_bounding(Some(all.clone()));
        c.set_permitted(Some(all.clone()));
        c.set_inheritable(Some(all.clone()));
        c.set_effective(Some(all));
        p.set_capabilities(Some(c));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("nope").is_err());
    }
}
