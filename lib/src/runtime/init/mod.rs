//! The container's init: the child side of the clone. It runs the setup in a fixed order,
//! reports any failure back over the sync channel (with its exit code), and ends in `execve`.
//! Each step lives in its own file: `fs` (paths, options), `mounts`, `rootfs`, `exec`.

mod exec;
mod fs;
pub(crate) mod mounts;
mod rootfs;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::caps::Sets;
use super::channel::{Channel, ToChild, ToParent};
use super::namespaces::Join;
use crate::error::Code;

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
    pub init: bool,
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
    if let Some(stdio) = &a.stdio {
        for (i, fd) in stdio.iter().enumerate() {
            if let Some(fd) = fd {
                unsafe { libc::dup2(fd.as_raw_fd(), i as i32) };
            }
        }
    }
    if a.stdin_null {
        let f = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        unsafe { libc::dup2(f.as_raw_fd(), 0) };
    }
    let userns = a.new_flags & libc::CLONE_NEWUSER != 0
        || a.join.iter().any(|j| j.kind == LinuxNamespaceType::User);
    if a.new_flags & libc::CLONE_NEWUSER != 0 {
        // Become root of the new user namespace (the parent mapped it).
        unsafe {
            libc::setresgid(0, 0, 0);
            libc::setresuid(0, 0, 0);
        }
    }
    for j in &a.join {
        j.enter().map_err(|e| e.to_string())?;
    }
    if !matches!(a.mode, Mode::Exec) {
        setup_rootfs(a, userns)?;
    } else if a.process.terminal().unwrap_or(false) {
        // Joining the mount namespace moved our root into the container already.
        terminal(a)?;
    }
    let cwd = a.process.cwd();
    std::env::set_current_dir(cwd).map_err(|e| exec::Failure {
        code: Code::CANNOT_EXECUTE.0,
        message: format!(
            "chdir to cwd (\"{}\") set in config.json failed: {e}",
            cwd.display()
        ),
    })?;
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
            unsafe { libc::close(*fifo) };
            use std::io::Write;
            let _ = (&f).write_all(b"0");
        }
        Mode::Run | Mode::Exec => match a.chan.recv::<ToChild>() {
            Ok(Some(ToChild::Start)) => {}
            other => return Err(format!("expected the start message, got {other:?}").into()),
        },
    }
    if nnp {
        exec::no_new_privs()?;
        if let Some(bpf) = &a.seccomp {
            exec::load_seccomp(bpf)?;
        }
    }
    exec::close_fds(a.preserve_fds);
    if matches!(a.mode, Mode::Run) && !a.process.terminal().unwrap_or(false) {
        // Its own session: a Ctrl-C on the user's terminal reaches berth-spawn, which
        // forwards it once, instead of reaching the container twice.
        unsafe { libc::setsid() };
    }
    if a.init {
        // The parent learns of the start from the channel closing; the init never execs, so
        // it closes it itself.
        // It never execs, so close-on-exec protects nothing: close every descriptor it does
        // not pass on, or it would hold berth-spawn's pipes open for the container's life.
        unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3 + a.preserve_fds.max(0) as u32,
                u32::MAX,
                0,
            )
        };
        exec::run_as_init(&path, &args, &env);
    }
    exec::reset_signals();
    Err(exec::exec(&path, &args, &env))
}

fn setup_rootfs(a: &Args, userns: bool) -> Result<(), exec::Failure> {
    let spec = a.spec;
    let rootfs = &a.rootfs;
    rootfs::prepare(spec, rootfs)?;
    let own_netns = a.new_flags & libc::CLONE_NEWNET != 0;
    let empty = Vec::new();
    let mounts_list = spec.mounts().as_ref().unwrap_or(&empty);
    mounts::mount_all(
        &mounts::Ctx {
            rootfs,
            own_netns,
            cgroups: &a.cgroups,
            cgroup2: a.cgroup2,
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
    let console = std::path::Path::new("/dev/console");
    if fs::ensure(console, false).is_ok() {
        let _ = fs::mount(
            Some(&slave_path.to_string_lossy()),
            console,
            None,
            libc::MS_BIND,
            None,
        );
    }
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
    unsafe {
        libc::setsid();
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
