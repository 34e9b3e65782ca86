//! The container's init: the child side of the clone. It runs the setup in a fixed order,
//! reports any failure back over the sync channel (with its exit code), and ends in `execve`.
//! Each step lives in its own file: `fs` (paths, options), `mounts`, `rootfs`, `exec`.

mod exec;
mod fs;
pub(crate) mod mounts;
pub(crate) mod reach;
mod rootfs;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::caps::Sets;
use super::channel::{Channel, ToChild, ToParent};
use super::namespaces::Join;

pub use mounts::CgroupView;

/// How the init hands over to the container's process.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// OCI `create`: block on the exec fifo (an O_PATH descriptor opened before the
    /// pivot, reopened through /proc/self/fd) until `start` opens it.
    Create { fifo: i32 },
    /// `run` and the pipeline: wait for [`ToChild::Start`].
    Run,
    /// `exec` into a running container: no filesystem setup.
    Exec,
}

/// Everything the child needs, prepared by the parent before the clone.
pub(crate) struct Args<'a> {
    pub spec: &'a Spec,
    pub process: &'a Process,
    pub rootfs: PathBuf,
    pub chan: Channel,
    pub mode: Mode,
    /// Namespaces to enter, in order (user first).
    pub join: Vec<Join>,
    /// Namespace types created by the clone.
    pub new_flags: libc::c_int,
    pub cgroups: Vec<CgroupView>,
    pub cgroup2: bool,
    pub seccomp: Option<Vec<u8>>,
    /// `--init`: a sealed copy of berth-init, exec'd as PID 1 in place of the command.
    pub init: Option<OwnedFd>,
    pub preserve_fds: i32,
    /// Give the process /dev/null as stdin (Docker without `-i`).
    pub stdin_null: bool,
    /// The parent runs prestart/createRuntime hooks.
    pub hooks: bool,
    /// Pipes for stdout and stderr (the monitor's), replacing the inherited ones.
    pub stdio: Option<[Option<OwnedFd>; 3]>,
}

/// Runs the init; never returns.
pub(crate) fn run(a: Args) -> ! {
    // Until it execs, this process is a copy of berth-spawn inside the container's reach:
    // not dumpable, so the container cannot open its /proc/PID/{exe,mem,fd} (CVE-2019-5736).
    // execve makes the container's own program dumpable again.
    let _ = nix::sys::prctl::set_dumpable(false);
    let code = match setup(&a) {
        Ok(never) => match never {},
        Err(f) => {
            if a.chan
                .send(&ToParent::Error {
                    code: f.code,
                    message: f.message.clone(),
                })
                .is_err()
            {
                eprintln!("berth-spawn: error: {}", f.message);
            }
            f.code
        }
    };
    unsafe { libc::_exit(code as i32) }
}

enum Never {}

fn setup(a: &Args) -> Result<Never, exec::Failure> {
    // Wait until the parent put us in our cgroups and wrote our id maps.
    match a.chan.recv::<ToChild>() {
        Ok(Some(ToChild::Go)) => {}
        other => {
            return Err(format!("expected the go message from berth-spawn, got {other:?}").into());
        }
    }
    // A session of our own, without a controlling terminal, for every process (runc does the
    // same): the caller's terminal must not be ours (TIOCSTI, /dev/tty), and a Ctrl-C on it
    // reaches berth-spawn, which forwards it once. With a terminal, `terminal()` makes the
    // container's pty our controlling terminal.
    let _ = nix::unistd::setsid();
    wire_stdio(a)?;
    // A label the host cannot apply is refused before any mount uses it (linux.mountLabel
    // becomes `context=`, which a kernel without SELinux refuses as an unknown option).
    super::lsm::check(a.process, a.spec).map_err(|e| exec::Failure {
        code: crate::error::Coded::code(&e).0,
        message: e.to_string(),
    })?;
    // Still the host's root by uid: hold the rootfs and bind sources now, for berth's state
    // is private to root and the mapped root cannot walk to them (reach.rs).
    let reach = reach::Reach::open(a)?;
    let userns = enter_namespaces(a)?;
    // Not the caller's session keyring: a new, anonymous one (runc's JoinSessionKeyring).
    super::keyring::join_new_session()
        .map_err(|e| format!("joining a new session keyring: {e}"))?;
    if !matches!(a.mode, Mode::Exec) {
        setup_rootfs(a, reach.as_ref(), userns)?;
    } else if a.process.terminal().unwrap_or(false) {
        // Joining the mount namespace moved our root into the container already.
        terminal(a)?;
    }
    drop(reach);
    // Nothing of berth-spawn's or of its caller's may be open at the chdir: a directory
    // descriptor would let `cwd: /proc/self/fd/N` land outside the root (CVE-2024-21626).
    exec::close_fds_except(a.preserve_fds, &kept_fds(a));
    exec::enter_cwd(a.process.cwd())?;
    if let Some(adj) = a.process.oom_score_adj() {
        let _ = std::fs::write("/proc/self/oom_score_adj", adj.to_string());
    }
    if let Some(r) = a.process.rlimits() {
        exec::rlimits(r)?;
    }
    // AppArmor profile and SELinux labels (runtime/lsm): in effect from the execve, written
    // while the capabilities are whole and before seccomp, as runc does.
    super::lsm::apply(a.process, a.spec, !matches!(a.mode, Mode::Exec)).map_err(|e| {
        exec::Failure {
            code: crate::error::Coded::code(&e).0,
            message: e.to_string(),
        }
    })?;
    let nnp = a.process.no_new_privileges().unwrap_or(false);
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we have it.
    if !nnp && let Some(bpf) = &a.seccomp {
        exec::load_seccomp(bpf)?;
    }
    let sets = Sets::from_spec(a.process.capabilities().as_ref());
    exec::identity(a.process, &sets)?;
    let path = exec::lookup(a.process)?;
    let env = exec::environment(a.process);
    let args = a.process.args().clone().unwrap_or_default();
    let _ = a.chan.send(&ToParent::Ready);
    wait_for_start(a)?;
    if nnp {
        exec::no_new_privs()?;
        if let Some(bpf) = &a.seccomp {
            exec::load_seccomp(bpf)?;
        }
    }
    exec::close_fds(a.preserve_fds);
    exec::reset_signals();
    if let Some(init) = &a.init {
        return Err(exec::exec_init(init, &path, &args, &env));
    }
    Err(exec::exec(&path, &args, &env))
}

/// The monitor's pipes (or /dev/null) in place of the inherited stdio.
fn wire_stdio(a: &Args) -> Result<(), exec::Failure> {
    if let Some(stdio) = &a.stdio {
        for (i, fd) in stdio.iter().enumerate() {
            if let Some(fd) = fd {
                // SAFETY: dup2 onto our own stdio descriptors.
                unsafe { libc::dup2(fd.as_raw_fd(), i as i32) };
            }
        }
    }
    if a.stdin_null {
        let f = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        // SAFETY: as above.
        unsafe { libc::dup2(f.as_raw_fd(), 0) };
    }
    Ok(())
}

/// Root of a new user namespace (the parent mapped it), the namespaces to join, then a new
/// cgroup namespace. Returns whether we are in a user namespace.
fn enter_namespaces(a: &Args) -> Result<bool, exec::Failure> {
    let userns = a.new_flags & libc::CLONE_NEWUSER != 0
        || a.join.iter().any(|j| j.kind == LinuxNamespaceType::User);
    if a.new_flags & libc::CLONE_NEWUSER != 0 {
        // SAFETY: plain credential syscalls.
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    for j in &a.join {
        j.enter().map_err(|e| e.to_string())?;
    }
    if a.new_flags & libc::CLONE_NEWCGROUP != 0 {
        // Only now, inside the container's cgroups (the parent moved us before the go), so
        // the namespace is rooted there and /proc/self/cgroup shows `/` (runc does the same).
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| format!("unsharing the cgroup namespace: {e}"))?;
    }
    Ok(userns)
}

/// Blocks until the container may exec: `start` opening the exec fifo (OCI create), or the
/// start message.
fn wait_for_start(a: &Args) -> Result<(), exec::Failure> {
    match &a.mode {
        Mode::Create { fifo } => {
            // Blocks until `start` opens the fifo for reading. berth-spawn create has exited
            // by now, so a failure is also said on stderr.
            let path = format!("/proc/self/fd/{fifo}");
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| {
                    let m = format!("opening the exec fifo: {e}");
                    eprintln!("berth-spawn: error: {m}");
                    exec::Failure::from(m)
                })?;
            // SAFETY: the O_PATH descriptor is ours and no longer needed.
            unsafe { libc::close(*fifo) };
            use std::io::Write;
            let _ = (&f).write_all(b"0");
            Ok(())
        }
        Mode::Run | Mode::Exec => match a.chan.recv::<ToChild>() {
            Ok(Some(ToChild::Start)) => Ok(()),
            other => Err(format!("expected the start message, got {other:?}").into()),
        },
    }
}

/// berth-spawn's own descriptors that live until the exec (all close-on-exec): the channel,
/// the exec fifo, berth-init's sealed copy. None is a directory.
fn kept_fds(a: &Args) -> Vec<i32> {
    let mut keep = vec![a.chan.raw()];
    if let Mode::Create { fifo } = a.mode {
        keep.push(fifo);
    }
    if let Some(init) = &a.init {
        keep.push(init.as_raw_fd());
    }
    keep
}

fn setup_rootfs(a: &Args, reach: Option<&reach::Reach>, userns: bool) -> Result<(), exec::Failure> {
    let spec = a.spec;
    let rootfs = reach.map_or(&a.rootfs, |r| &r.rootfs);
    rootfs::prepare(spec, rootfs)?;
    // A network namespace entry in the config, new or joined by path: /sys is a fresh sysfs.
    let netns = a.new_flags & libc::CLONE_NEWNET != 0
        || a.join.iter().any(|j| j.kind == LinuxNamespaceType::Network);
    let empty = Vec::new();
    let mounts_list = match reach {
        Some(r) => &r.mounts,
        None => spec.mounts().as_ref().unwrap_or(&empty),
    };
    mounts::mount_all(
        &mounts::Ctx {
            rootfs,
            netns,
            userns,
            cgroups: &a.cgroups,
            cgroup2: a.cgroup2,
            mount_label: spec
                .linux()
                .as_ref()
                .and_then(|l| l.mount_label().as_deref()),
        },
        mounts_list,
    )?;
    let dev_is_mounted = mounts_list
        .iter()
        .any(|m| m.destination().as_os_str() == "/dev");
    if dev_is_mounted {
        rootfs::create_devices(spec, rootfs, userns)?;
        rootfs::dev_links(rootfs);
    } else if spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .is_some()
    {
        rootfs::create_devices(spec, rootfs, userns)?;
    }
    if a.hooks {
        let _ = a.chan.send(&ToParent::Hooks);
        match a.chan.recv::<ToChild>() {
            Ok(Some(ToChild::HooksDone)) => {}
            other => return Err(format!("expected the hooks to finish, got {other:?}").into()),
        }
    }
    rootfs::pivot(rootfs)?;
    if a.process.terminal().unwrap_or(false) {
        terminal(a)?;
    }
    if let Some(linux) = spec.linux() {
        rootfs::sysctls(spec)?;
        if let Some(m) = linux.masked_paths() {
            rootfs::mask(m)?;
        }
        if let Some(r) = linux.readonly_paths() {
            rootfs::readonly(r)?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        rootfs::readonly_root()?;
    }
    if a.new_flags & libc::CLONE_NEWUTS != 0 {
        if let Some(h) = spec.hostname() {
            nix::unistd::sethostname(h).map_err(|e| format!("sethostname {h}: {e}"))?;
        }
        if let Some(d) = spec.domainname() {
            let c = std::ffi::CString::new(d.as_str()).unwrap_or_default();
            unsafe { libc::setdomainname(c.as_ptr(), d.len()) };
        }
    }
    Ok(())
}

/// A terminal made inside the container's own devpts, so `tty` names it; the master goes to
/// berth-spawn over the channel, the slave becomes stdio, the controlling terminal and
/// /dev/console.
fn terminal(a: &Args) -> Result<(), exec::Failure> {
    let (master, slave_path) =
        super::console::open_pty().map_err(|e| format!("creating the terminal: {e}"))?;
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&slave_path)
        .map_err(|e| format!("opening {}: {e}", slave_path.display()))?;
    // Best effort, as before: a container whose /dev/console cannot take it still runs.
    let _ = rootfs::console(std::os::fd::AsFd::as_fd(&slave));
    if let Some(size) = a.process.console_size() {
        super::console::set_size(
            master.as_raw_fd(),
            size.height() as u16,
            size.width() as u16,
        );
    }
    a.chan
        .send_with_fd(&ToParent::Terminal, master.as_raw_fd())
        .map_err(|e| format!("sending the terminal: {e}"))?;
    drop(master);
    // We lead a session of our own (setup's setsid): the pty becomes its terminal.
    unsafe {
        libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0);
        for fd in 0..3 {
            libc::dup2(slave.as_raw_fd(), fd);
        }
    }
    Ok(())
}

/// A path as a C string, for the parent's few raw syscalls.
pub(crate) fn fs_cstr(p: &std::path::Path) -> std::ffi::CString {
    fs::cstr(p)
}
