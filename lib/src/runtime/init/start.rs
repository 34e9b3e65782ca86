//! How the init waits to be started, and the hooks it runs itself.
//!
//! - OCI `create`: the process blocks opening `exec.fifo` for writing until `start` opens it
//!   for reading, runs the startContainer hooks, then writes the byte `start` waits for (no
//!   byte: `start` fails) and keeps the fifo open until its execve closes it (`start` then
//!   runs the poststart hooks, after the process was executed). Before it says Ready, the init opens the fifo without blocking
//!   (ENXIO: no reader yet, as it should be), so a fifo it may not open (its mode, its owner,
//!   a user namespace) fails `create` itself; and it shuts the sync channel down right before
//!   the blocking open, so `create` returns only once the init really waits.
//! - The fifo is an `O_PATH` descriptor reopened through `/proc/self/fd` (runc's way). A
//!   container without a mount namespace has no /proc after its chroot: there a helper forked
//!   before the chroot, with the host's view, opens the fifo and hands the opened end over.
//! - `run` and the pipeline: the start message on the sync channel. None for OCI `run`
//!   without hooks or a console socket (`Launch::RunNow`): berth-spawn has nothing to do
//!   between the two.
//! - Hooks: berth-spawn runs prestart and createRuntime in the runtime's namespaces when the
//!   init asks ([`create_hooks`]); createContainer hooks run here, in the container's
//!   namespaces before the pivot, and startContainer hooks after the start, inside the root
//!   (runtime-spec, config.md "POSIX-platform Hooks").

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode as FileMode;

use super::exec::{self, Failure};
use super::{Args, Mode};
use crate::runtime::channel::{Channel, ToChild, ToParent};
use crate::runtime::hooks;

/// The exec fifo as the init holds it until `start`.
pub(crate) enum Fifo {
    /// The `O_PATH` descriptor, reopened through /proc/self/fd (the container's /proc).
    Path(i32),
    /// The helper that opens it for a container without a mount namespace.
    Opener { chan: Channel, pid: libc::pid_t },
}

/// The fifo reopened through `/proc/self/fd`, which must be the kernel's: in a container whose
/// config mounts no procfs on /proc, that path is the image's (a planted fifo there would
/// let the process run before `start`). ENOENT then: a `create` that cannot wait fails.
fn reopen(fifo: i32, flags: OFlag) -> nix::Result<OwnedFd> {
    if !crate::runtime::exeseal::proc_is_procfs() {
        return Err(Errno::ENOENT);
    }
    open(
        format!("/proc/self/fd/{fifo}").as_str(),
        flags | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        FileMode::empty(),
    )
}

/// Opening for writing without blocking: ENXIO (no reader yet) proves it will work.
fn probe_open(fifo: i32) -> Result<(), String> {
    match reopen(fifo, OFlag::O_NONBLOCK) {
        Ok(_) | Err(Errno::ENXIO) => Ok(()),
        Err(Errno::ENOENT) if !crate::runtime::exeseal::proc_is_procfs() => Err(
            "opening the exec fifo: /proc in the container is not procfs (mount one there: OCI create waits through /proc/self/fd)".into(),
        ),
        Err(e) => Err(format!("opening the exec fifo: {e}")),
    }
}

impl Fifo {
    /// Forks the helper, which keeps the host's /proc after our chroot: it checks it can open
    /// the fifo (Ready or Error), then blocks opening it and sends us the opened end.
    pub(crate) fn spawn_opener(fifo: i32) -> Result<Fifo, Failure> {
        let (ours, theirs) = Channel::pair().map_err(|e| format!("socketpair: {e}"))?;
        let parent = nix::unistd::getpid();
        // SAFETY: the init is single-threaded; the child only makes syscalls and _exits.
        match unsafe { nix::unistd::fork() } {
            Err(e) => Err(format!("fork: {e}").into()),
            Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Fifo::Opener {
                chan: ours,
                pid: child.as_raw(),
            }),
            Ok(nix::unistd::ForkResult::Child) => {
                // Nothing of the init's but the fifo and our end of the pair stays open.
                exec::close_fds_except(0, &[fifo, theirs.raw()]);
                let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
                if nix::unistd::getppid() != parent {
                    // SAFETY: _exit leaves the forked child without running destructors, which
                    // belong to the init; nix 0.32 has no _exit.
                    unsafe { libc::_exit(1) };
                }
                opener(fifo, &theirs);
            }
        }
    }

    /// Before Ready: the fifo will open once `start` reads it.
    pub(crate) fn probe(&self) -> Result<(), Failure> {
        match self {
            Fifo::Path(fd) => Ok(probe_open(*fd)?),
            Fifo::Opener { chan, .. } => match chan.recv::<ToParent>() {
                Ok(Some(ToParent::Ready)) => Ok(()),
                Ok(Some(ToParent::Error { message, .. })) => Err(message.into()),
                other => Err(format!("the exec fifo's opener: {other:?}").into()),
            },
        }
    }

    /// Blocks until `start` opens the fifo for reading; returns the write end.
    fn open_blocking(&self) -> Result<File, Failure> {
        // berth-spawn create has exited by now: `run` says it on the container's stderr.
        let failed = Failure::from;
        match self {
            Fifo::Path(fd) => {
                let f = reopen(*fd, OFlag::empty())
                    .map_err(|e| failed(format!("opening the exec fifo: {e}")))?;
                // SAFETY: the O_PATH descriptor is ours and no longer needed.
                unsafe { libc::close(*fd) };
                Ok(File::from(f))
            }
            Fifo::Opener { chan, pid } => {
                let got = chan.recv_with_fd::<ToParent>();
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(*pid), None);
                match got {
                    Ok(Some((ToParent::Fifo, Some(fd)))) => Ok(File::from(fd)),
                    other => Err(failed(format!("opening the exec fifo: {other:?}"))),
                }
            }
        }
    }
}

/// The helper's whole life (see [`Fifo::spawn_opener`]).
fn opener(fifo: i32, chan: &Channel) -> ! {
    let code = match probe_open(fifo) {
        Err(message) => {
            let _ = chan.send(&ToParent::Error { code: 1, message });
            1
        }
        Ok(()) => {
            let _ = chan.send(&ToParent::Ready);
            match reopen(fifo, OFlag::empty()) {
                Ok(f) => {
                    let _ = chan.send_with_fd(&ToParent::Fifo, f.as_raw_fd());
                    0
                }
                Err(e) => {
                    let message = format!("opening the exec fifo: {e}");
                    let _ = chan.send(&ToParent::Error { code: 1, message });
                    1
                }
            }
        }
    };
    // SAFETY: _exit leaves the forked child without running the init's destructors, whose
    // objects the parent still owns; nix 0.32 has no _exit.
    unsafe { libc::_exit(code) }
}

/// Asks berth-spawn to run the prestart and createRuntime hooks, then runs the createContainer
/// hooks here (the container's namespaces, before the pivot). Returns the state document for
/// the startContainer hooks; `None` when the config has no such hooks.
pub(crate) fn create_hooks(a: &Args) -> Result<Option<serde_json::Value>, Failure> {
    if !a.hooks {
        return Ok(None);
    }
    a.chan
        .send(&ToParent::Hooks)
        .map_err(|e| format!("asking for the hooks: {e}"))?;
    let state = match a.chan.recv::<ToChild>() {
        Ok(Some(ToChild::HooksDone { state })) => state,
        other => return Err(format!("expected the hooks to finish, got {other:?}").into()),
    };
    let h = a.spec.hooks().clone().unwrap_or_default();
    if let Some(hs) = h.create_container().as_deref() {
        hooks::run("createContainer", hs, &state).map_err(|e| e.to_string())?;
    }
    Ok(Some(state))
}

/// Blocks until the container may exec: `start` opening the exec fifo (OCI create), or the
/// start message; then runs the startContainer hooks and, for `create`, tells `start` with the
/// fifo's byte.
///
/// Returns the fifo's write end, to hold until the execve closes it (close-on-exec): `start`
/// reads to its end-of-file, so its poststart hooks run after the container's process was
/// executed.
pub(crate) fn wait(
    a: &Args,
    fifo: Option<&Fifo>,
    state: Option<&serde_json::Value>,
) -> Result<Option<File>, Failure> {
    let opened = match (&a.mode, fifo) {
        (Mode::Create { .. }, Some(f)) => {
            // berth-spawn create reads end-of-file now, and returns: we wait.
            let _ = nix::sys::socket::shutdown(a.chan.raw(), nix::sys::socket::Shutdown::Both);
            Some(above_preserved(f.open_blocking()?, a.preserve_fds)?)
        }
        (Mode::Run { now: true }, _) => None,
        _ => match a.chan.recv::<ToChild>() {
            Ok(Some(ToChild::Start)) => None,
            other => return Err(format!("expected the start message, got {other:?}").into()),
        },
    };
    start_hooks(a, state)?;
    if let Some(mut f) = opened.as_ref() {
        f.write_all(b"0")
            .map_err(|e| format!("writing to the exec fifo: {e}"))?;
    }
    Ok(opened)
}

/// `f` moved above the descriptors passed to the container (`--preserve-fds`), whose
/// close-on-exec flag is cleared: the fifo must close at the execve, or `start` never
/// returns.
fn above_preserved(f: File, preserve: i32) -> Result<File, Failure> {
    let first = 3 + preserve.max(0);
    if f.as_raw_fd() >= first {
        return Ok(f);
    }
    let fd = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(first))
        .map_err(|e| format!("moving the exec fifo: {e}"))?;
    // SAFETY: a descriptor fcntl just made for us.
    Ok(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

fn start_hooks(a: &Args, state: Option<&serde_json::Value>) -> Result<(), Failure> {
    let (Some(state), Some(h)) = (state, a.spec.hooks().as_ref()) else {
        return Ok(());
    };
    if let Some(hs) = h.start_container().as_deref() {
        hooks::run("startContainer", hs, state).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The descriptors of `fifo` that must survive `close_fds_except`.
pub(crate) fn kept(fifo: Option<&Fifo>) -> Option<i32> {
    match fifo {
        Some(Fifo::Path(fd)) => Some(*fd),
        Some(Fifo::Opener { chan, .. }) => Some(chan.raw()),
        None => None,
    }
}
