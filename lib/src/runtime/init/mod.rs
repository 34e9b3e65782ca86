//! The container's init: the child side of the clone. It runs the setup in a fixed order,
//! reports any failure back over the sync channel (with its exit code), and ends in `execve`.
//! Each step lives in its own file: `fs` (paths, options), `mounts`, `rootfs`, `start` (the
//! wait for the start, and the hooks the init runs), `exec`, `reach` (a user namespace's way
//! to its bundle).
//!
//! The order (`setup`), each step for a reason:
//!
//! 1. make the namespaces berth-spawn left to us (`Args::unshare`: without a user
//!    namespace, while it makes our cgroups), join our v1 cgroups ourselves
//!    (`cgroups::join`: born in the v2 one), wait for berth-spawn's go (it has written our id
//!    maps, and made the v1 cgroups we join by path then; without a user namespace the go
//!    is taken later, during the mounts, when the cgroup view needs it: `Go`), then
//!    `setsid()`: no controlling terminal of the caller's (TIOCSTI, `/dev/tty`);
//! 2. refuse a security label this host cannot apply (`lsm::check`) before a mount uses it;
//! 3. still the host's root by uid: open the rootfs and bind sources (`reach`), make `/`
//!    rslave and bind the rootfs onto itself (`rootfs::prepare`): these walk host paths;
//! 4. enter the namespaces to join (user first), unshare the cgroup namespace (the clone does
//!    not make it: made now, once we are in our cgroups, it is rooted at the
//!    container's cgroup and `/proc/self/cgroup` shows `/` in every hierarchy, as runc), and
//!    join a new anonymous session keyring (`runtime::keyring`);
//! 5. the root filesystem (`rootfs`, `mounts`): every path inside the root resolved once by
//!    descriptor (`fs`), /dev, /sys, pivot_root, masked and read-only paths, sysctls; or,
//!    without a mount namespace in the config, the mounts made in a private namespace and the
//!    finished tree carried back detached for a plain chroot (`runtime::validate` says what
//!    is refused there);
//! 6. close every descriptor but berth's own, chdir and check the cwd is inside the root
//!    (CVE-2024-21626), rlimits (never above berth's own hard limit), the AppArmor profile
//!    and SELinux label (`lsm::apply`, while the capabilities are whole), seccomp (before the
//!    uid change unless no_new_privs is set, which needs no privilege to load it later), the
//!    identity and capability sets, the command lookup (Docker's 126/127);
//! 7. say Ready, wait for the start (`start`: exec fifo or sync message, hooks; none for
//!    OCI `run` without hooks), then
//!    no_new_privs and seccomp if not loaded yet, and `execve` (of berth-init for `--init`,
//!    from a sealed memfd; of the command through berth-dmz, also sealed, when berth-spawn
//!    runs unsealed: `runtime::exeseal`).
//!
//! With a new user namespace the parent makes the mount points the image lacks before the
//! clone, as the host's root (`reach::make_mount_points`). Needs Linux 5.12
//! (`mount_setattr`).

mod exec;
mod fs;
pub(crate) mod mounts;
pub(crate) mod reach;
mod rootfs;
mod start;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::caps::Sets;
use super::channel::{Channel, ToChild, ToParent};
use super::namespaces::Join;

pub(crate) use exec::exec_failure;
pub use mounts::CgroupView;

/// How the init hands over to the container's process.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// OCI `create`: block on the exec fifo (an O_PATH descriptor opened before the
    /// pivot, reopened through /proc/self/fd) until `start` opens it.
    Create { fifo: i32 },
    /// `run` and the pipeline: wait for [`ToChild::Start`], unless `now`
    /// ([`crate::runtime::process::Launch::RunNow`]: exec once Ready is said).
    Run { now: bool },
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
    /// Namespace types the config has new (made by the clone, or by `unshare`).
    pub new_flags: libc::c_int,
    /// Those of them the init makes itself, first thing (`process::spawn`).
    pub unshare: libc::c_int,
    /// The cgroups to join before anything else (`cgroups::join`), and whether a cgroup that
    /// refuses us is an error (create) or skipped (exec).
    pub cgroup_entry: Option<(&'a super::cgroups::Entry, bool)>,
    pub cgroups: Vec<CgroupView>,
    pub cgroup2: bool,
    pub seccomp: Option<Vec<u8>>,
    /// `--init`: a sealed copy of berth-init, exec'd as PID 1 in place of the command.
    pub init: Option<OwnedFd>,
    /// berth-dmz, sealed, when berth-spawn runs unsealed (`runtime::exeseal`): the command
    /// is exec'd through it.
    pub dmz: Option<OwnedFd>,
    pub preserve_fds: i32,
    /// Give the process /dev/null as stdin (Docker without `-i`).
    pub stdin_null: bool,
    /// The config has create or start hooks: the init asks the parent to run prestart and
    /// createRuntime, and runs createContainer and startContainer itself.
    pub hooks: bool,
    /// A container without a mount namespace of its own: an `O_PATH` descriptor of its root
    /// directory (berth-spawn's, or the running container's for `exec`), to chroot into; -1
    /// otherwise.
    pub chroot: i32,
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
                // The one place the library prints: this is the container's init, a cloned
                // process with no edge of its own, and its parent is gone, so stderr is the
                // last way to say why it failed.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("berth-spawn: error: {}", f.message);
                }
            }
            f.code
        }
    };
    // SAFETY: _exit ends the process without running destructors: the objects this cloned
    // init inherited belong to berth-spawn, which cleans them up. nix 0.32 has no _exit.
    unsafe { libc::_exit(code as i32) }
}

enum Never {}

fn setup(a: &Args) -> Result<Never, exec::Failure> {
    let mut lap = Lap(std::time::Instant::now());
    let mut times = super::channel::ChildTimings::default();
    // The namespaces berth-spawn left to us, made while it makes our cgroups.
    if a.unshare != 0 {
        nix::sched::unshare(nix::sched::CloneFlags::from_bits_retain(a.unshare))
            .map_err(|e| format!("making the container's namespaces: {e}"))?;
    }
    times.namespaces = lap.next();
    // Into our v1 cgroups first (the v2 one we were born in), by ourselves: no migration
    // lock (cgroups::join).
    if let Some((entry, strict)) = a.cgroup_entry {
        entry.join_self(strict)?;
    }
    times.cgroups = lap.next();
    // berth-spawn's go: it has written our id maps, and made the v1 cgroups we then join by
    // path. Awaited now, unless nothing before the mounts needs it ([`Go::deferred`]).
    let go = Go::new(a);
    if !go.deferred {
        go.take()?;
        lap.next();
        times.cgroups += go.join_us.get();
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
    // is private to root and the mapped root cannot walk to them (reach.rs). For the same
    // reason a new mount namespace gets its propagation and the rootfs's self-bind now: they
    // walk host paths.
    let reach = reach::Reach::open(a)?;
    let fifo = match a.mode {
        // The container may have no /proc of its own: the fifo's opener keeps the host's.
        Mode::Create { fifo } if a.chroot >= 0 => Some(start::Fifo::spawn_opener(fifo)?),
        Mode::Create { fifo } => Some(start::Fifo::Path(fifo)),
        _ => None,
    };
    // No mount namespace in the config but mounts to make: they are made in a private one
    // of ours, and the finished tree comes back with us, detached (`rootfs::back_to`).
    let runtime_ns = if a.chroot >= 0 && !matches!(a.mode, Mode::Exec) && needs_mounts(a) {
        let ns = std::fs::File::open("/proc/self/ns/mnt")
            .map_err(|e| format!("opening our mount namespace: {e}"))?;
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
            .map_err(|e| format!("unsharing a mount namespace to set the root up in: {e}"))?;
        Some(OwnedFd::from(ns))
    } else {
        None
    };
    let new_mounts = a.new_flags & libc::CLONE_NEWNS != 0 || runtime_ns.is_some();
    if new_mounts {
        rootfs::prepare(a.spec, &a.rootfs)?;
    }
    let userns = enter_namespaces(a)?;
    // Not the caller's session keyring: a new, anonymous one (runc's JoinSessionKeyring).
    super::keyring::join_new_session()
        .map_err(|e| format!("joining a new session keyring: {e}"))?;
    times.namespaces += lap.next();
    let state = match a.mode {
        Mode::Exec => {
            exec_root(a)?;
            None
        }
        _ if a.chroot >= 0 && runtime_ns.is_none() => plain_root(a)?,
        _ => setup_rootfs(a, reach.as_ref(), userns, new_mounts, &go)?,
    };
    if let Some(ns) = &runtime_ns {
        rootfs::back_to(ns).map_err(|e| {
            format!("{e} (config.json lists no mount namespace: the container's mounts are made in a private one, then its finished tree is carried back, detached; or add {{\"type\": \"mount\"}} to linux.namespaces)")
        })?;
    }
    drop(runtime_ns);
    drop(reach);
    times.mounts = lap.next();
    if go.deferred {
        // Taken during the mounts (`setup_rootfs`): its wait and the join are not theirs.
        times.mounts = times
            .mounts
            .saturating_sub(go.wait_us.get() + go.join_us.get());
        times.cgroups += go.join_us.get();
    }
    // Nothing of berth-spawn's or of its caller's may be open at the chdir: a directory
    // descriptor would let `cwd: /proc/self/fd/N` land outside the root (CVE-2024-21626).
    let mut keep = kept_fds(a);
    keep.extend(start::kept(fifo.as_ref()));
    exec::close_fds_except(a.preserve_fds, &keep);
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
    // As the process' own user: the fifo must open for it once `start` reads it.
    if let Some(f) = &fifo {
        f.probe()?;
    }
    times.confine = lap.next();
    if crate::timings::enabled() {
        let _ = a.chan.send(&ToParent::Timings(times));
    }
    let _ = a.chan.send(&ToParent::Ready);
    // Held open until the execve: `start` waits for its end-of-file.
    let _started = start::wait(a, fifo.as_ref(), state.as_ref())?;
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
    if let Some(dmz) = &a.dmz {
        return Err(exec::exec_via_dmz(dmz, a.chan.raw(), &path, &args, &env));
    }
    Err(exec::exec(&path, &args, &env))
}

/// berth-spawn's go, and the v1 cgroups it lets us into ([`Args::cgroup_entry`]'s
/// `join_later`), taken once.
///
/// Without a user namespace, berth-spawn makes our v1 cgroups while we make our namespaces
/// (`process::spawn`). The mounts need neither the go nor the cgroups until the cgroup view
/// (/sys/fs/cgroup: its binds are of the directories berth-spawn makes), so they go on
/// meanwhile, and the go is taken there ([`mounts::Ctx::before_cgroups`]), or after the last
/// mount at the latest, before any device node is made (a v1 devices cgroup rules `mknod`)
/// and while the host's cgroup paths are still in reach (before pivot_root). Taken at once
/// instead where something earlier needs it:
/// - a user namespace: the parent writes our id maps before the go;
/// - a new cgroup namespace: unshared inside our cgroups, before the mounts;
/// - hooks: createRuntime and prestart run with the container's cgroups made;
/// - `exec`, and a root without a mount namespace of the config's (no `setup_rootfs`).
struct Go<'a> {
    a: &'a Args<'a>,
    deferred: bool,
    taken: std::cell::Cell<bool>,
    /// Microseconds waiting for the go, and joining the cgroups (`--timings`).
    wait_us: std::cell::Cell<u64>,
    join_us: std::cell::Cell<u64>,
    /// The cgroup view berth-spawn built, sent with the go (`mounts::view_tree`).
    view: std::cell::Cell<Option<OwnedFd>>,
}

impl<'a> Go<'a> {
    fn new(a: &'a Args<'a>) -> Go<'a> {
        // Namespaces left to us to make: only ever without a user namespace (`process::spawn`).
        let deferred = a.unshare != 0
            && a.new_flags & libc::CLONE_NEWCGROUP == 0
            && !a.hooks
            && a.chroot < 0
            && matches!(a.mode, Mode::Run { .. } | Mode::Create { .. });
        Go {
            a,
            deferred,
            taken: Default::default(),
            wait_us: Default::default(),
            join_us: Default::default(),
            view: Default::default(),
        }
    }

    /// Waits for the go and joins the v1 cgroups, the first time only.
    fn take(&self) -> Result<(), String> {
        if self.taken.replace(true) {
            return Ok(());
        }
        let mut lap = Lap(std::time::Instant::now());
        match self.a.chan.recv_with_fd::<ToChild>() {
            Ok(Some((ToChild::Go, view))) => self.view.set(view),
            other => {
                return Err(format!(
                    "expected the go message from berth-spawn, got {other:?}"
                ));
            }
        }
        self.wait_us.set(lap.next());
        if let Some((entry, _)) = self.a.cgroup_entry {
            entry.join_later()?;
        }
        self.join_us.set(lap.next());
        Ok(())
    }
}

/// A stopwatch for the init's phases (`--timings`).
struct Lap(std::time::Instant);

impl Lap {
    /// Microseconds since the last lap.
    fn next(&mut self) -> u64 {
        let now = std::time::Instant::now();
        let us = now.duration_since(self.0).as_micros() as u64;
        self.0 = now;
        us
    }
}

/// The monitor's pipes (or /dev/null) in place of the inherited stdio.
fn wire_stdio(a: &Args) -> Result<(), exec::Failure> {
    if let Some(stdio) = &a.stdio {
        for (i, fd) in stdio.iter().enumerate() {
            if let Some(fd) = fd {
                let _ = dup2_stdio(fd, i);
            }
        }
    }
    if a.stdin_null {
        let f = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
        let _ = nix::unistd::dup2_stdin(&f);
    }
    Ok(())
}

/// `fd` as our descriptor `i` (0, 1 or 2).
fn dup2_stdio(fd: impl std::os::fd::AsFd, i: usize) -> nix::Result<()> {
    match i {
        0 => nix::unistd::dup2_stdin(fd),
        1 => nix::unistd::dup2_stdout(fd),
        _ => nix::unistd::dup2_stderr(fd),
    }
}

/// Root of a new user namespace (the parent mapped it), the namespaces to join, then a new
/// cgroup namespace. Returns whether we are in a user namespace.
fn enter_namespaces(a: &Args) -> Result<bool, exec::Failure> {
    let userns = a.new_flags & libc::CLONE_NEWUSER != 0
        || a.join.iter().any(|j| j.kind == LinuxNamespaceType::User);
    if a.new_flags & libc::CLONE_NEWUSER != 0 {
        let (g, u) = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
        let _ = nix::unistd::setresgid(g, g, g);
        let _ = nix::unistd::setresuid(u, u, u);
    }
    for j in &a.join {
        j.enter().map_err(|e| e.to_string())?;
    }
    if a.new_flags & libc::CLONE_NEWCGROUP != 0 {
        // Only now, inside the container's cgroups (joined first thing), so
        // the namespace is rooted there and /proc/self/cgroup shows `/` (runc does the same).
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| format!("unsharing the cgroup namespace: {e}"))?;
    }
    Ok(userns)
}

/// The config asks for mounts (or what is made with them) although it lists no mount
/// namespace.
fn needs_mounts(a: &Args) -> bool {
    !super::validate::needs_mounts(a.spec, a.process).is_empty()
}

/// berth-spawn's own descriptors that live until the exec (all close-on-exec): the channel,
/// the exec fifo, berth-init's sealed copy, berth-dmz. None is a directory.
fn kept_fds(a: &Args) -> Vec<i32> {
    let mut keep = vec![a.chan.raw()];
    if let Mode::Create { fifo } = a.mode {
        keep.push(fifo);
    }
    if let Some(init) = &a.init {
        keep.push(init.as_raw_fd());
    }
    if let Some(dmz) = &a.dmz {
        keep.push(dmz.as_raw_fd());
    }
    keep
}

/// `exec`: joining the mount namespace moved our root into the container already; without
/// one, the container's root (berth-spawn opened it) becomes ours by chroot.
fn exec_root(a: &Args) -> Result<(), exec::Failure> {
    if a.chroot >= 0 {
        rootfs::chroot_fd(a.chroot)?;
    }
    if a.process.terminal().unwrap_or(false) {
        terminal(a)?;
    }
    Ok(())
}

/// A container without a mount namespace of its own and nothing to mount: it keeps the
/// runtime's mount namespace, whose table is never touched. Sysctls go through the runtime's
/// /proc (their files act on the writer's namespaces), the create hooks run, and root.path
/// becomes our root (chroot).
fn plain_root(a: &Args) -> Result<Option<serde_json::Value>, exec::Failure> {
    rootfs::sysctls(a.spec)?;
    let state = start::create_hooks(a)?;
    rootfs::chroot_fd(a.chroot)?;
    names(a)?;
    Ok(state)
}

/// The container's root filesystem in its mount namespace: the mounts, /dev, the create
/// hooks, pivot_root and what is done from inside. Returns the hooks' state document.
fn setup_rootfs(
    a: &Args,
    reach: Option<&reach::Reach>,
    userns: bool,
    prepared: bool,
    go: &Go,
) -> Result<Option<serde_json::Value>, exec::Failure> {
    let spec = a.spec;
    let rootfs = reach.map_or(&a.rootfs, |r| &r.rootfs);
    if !prepared {
        // A mount namespace joined by path: set up in it now that we are in it.
        rootfs::prepare(spec, rootfs)?;
    }
    let empty = Vec::new();
    let mounts_list = match reach {
        Some(r) => &r.mounts,
        None => spec.mounts().as_ref().unwrap_or(&empty),
    };
    fill_root(a, rootfs, mounts_list, userns, go)?;
    let state = start::create_hooks(a)?;
    rootfs::pivot(rootfs)?;
    rootfs::propagate_root(spec)?;
    rootfs::sysctls(spec)?;
    finish_inside(a)?;
    Ok(state)
}

/// The config's mounts and the devices, in the root filesystem at `rootfs` before we enter it.
fn fill_root(
    a: &Args,
    rootfs: &std::path::Path,
    mounts_list: &[oci_spec::runtime::Mount],
    userns: bool,
    go: &Go,
) -> Result<(), exec::Failure> {
    let spec = a.spec;
    // A network namespace entry in the config, new or joined by path: /sys is a fresh sysfs.
    let netns = a.new_flags & libc::CLONE_NEWNET != 0
        || a.join.iter().any(|j| j.kind == LinuxNamespaceType::Network);
    mounts::mount_all(
        &mounts::Ctx {
            rootfs,
            netns,
            userns,
            cgroups: &a.cgroups,
            cgroup2: a.cgroup2,
            // Only where SELinux reads it (lsm::plan says why it is skipped elsewhere).
            mount_label: spec
                .linux()
                .as_ref()
                .and_then(|l| l.mount_label().as_deref())
                .filter(|_| super::lsm::Host::detect().selinux),
            before_cgroups: &|| go.take(),
            built_view: &|| go.view.take(),
        },
        mounts_list,
    )?;
    go.take()?;
    // A view no cgroup mount took: closed now, not left to the descriptor sweep.
    drop(go.view.take());
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
    Ok(())
}

/// What is done from inside the new root: the terminal, masked and read-only paths, a
/// read-only root, the names.
fn finish_inside(a: &Args) -> Result<(), exec::Failure> {
    let spec = a.spec;
    if a.process.terminal().unwrap_or(false) {
        terminal(a)?;
    }
    if let Some(linux) = spec.linux() {
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
    names(a)
}

/// The hostname and domain name, in a UTS namespace of the container's own.
fn names(a: &Args) -> Result<(), exec::Failure> {
    if a.new_flags & libc::CLONE_NEWUTS == 0 {
        return Ok(());
    }
    if let Some(h) = a.spec.hostname() {
        nix::unistd::sethostname(h).map_err(|e| format!("sethostname {h}: {e}"))?;
    }
    if let Some(d) = a.spec.domainname() {
        // libc, not nix: nix has sethostname but no setdomainname.
        let c = std::ffi::CString::new(d.as_str()).unwrap_or_default();
        // SAFETY: the kernel reads `c.as_bytes().len()` bytes from `c`, which outlives the call.
        // (`c`'s own length, not `d`'s: a name with a NUL in it makes `c` empty.)
        unsafe { libc::setdomainname(c.as_ptr(), c.as_bytes().len()) };
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
    // libc, not nix: nix has no TIOCSCTTY wrapper.
    // SAFETY: TIOCSCTTY takes an integer argument and reads no memory of ours; `slave` is open.
    unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) };
    for fd in 0..3 {
        let _ = dup2_stdio(&slave, fd);
    }
    Ok(())
}
