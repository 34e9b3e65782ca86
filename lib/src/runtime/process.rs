//! The parent side of container creation: one `clone3` with the namespace flags (into the
//! v2 cgroup; the child joins its v1 ones itself: `cgroups::join`), id maps written before
//! the child goes on, the child's progress read from the sync channel, and OCI state
//! recorded. Without a user namespace the child makes its other namespaces itself while this
//! side finishes its cgroups (`spawn`). Also `exec` into a running container, which is the
//! same machinery with every namespace joined instead of created.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use chrono::Utc;
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, Process, Spec};

use super::cgroups::{self, Cgroup};
use super::channel::{Channel, ToChild, ToParent};
use super::init::{self, Mode};
use super::namespaces::{self, Join, Plan};
use super::seccomp::Profile;
use super::state::{self, Root, State, Status};
use super::{RuntimeError, hooks, sys};
use crate::state::liveness;

/// Descriptors to use as a process' stdin, stdout and stderr (`None` keeps the inherited one).
pub type StdioFds = [Option<OwnedFd>; 3];

/// How the container's process is released after setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// OCI `create`: the process waits on `exec.fifo` until `start`.
    Create,
    /// `run`: the caller sends the start itself (see [`Launched::start`]).
    Run,
    /// OCI `run`, where nothing comes between create and start: the init execs as soon as it
    /// says Ready, without waiting for a start message (one round trip between the two
    /// processes fewer, each a wake-up of an idle core), and [`Launched::start`] only waits
    /// for the exec. The exec's failure is still the error of `start`. A config with hooks,
    /// or a console socket to hand the terminal to first, makes it `Run`.
    RunNow,
}

pub struct CreateOpts<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub root: &'a Root,
    pub launch: Launch,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: i32,
    /// Docker without `-i`: stdin is /dev/null.
    pub stdin_null: bool,
    /// Replacement stdio (a monitor's pipes).
    pub stdio: Option<StdioFds>,
    /// berth's `--init` (also read from the `berth.init` annotation).
    pub init: bool,
}

/// A container whose process exists and waits to be started.
pub struct Launched {
    pub state: State,
    pub chan: Channel,
    /// The terminal's master, when the config asks for a terminal and no console socket
    /// took it.
    pub master: Option<OwnedFd>,
    pub spec: Spec,
    /// [`Launch::RunNow`]: the init goes on to its exec without a start message.
    started: bool,
}

/// The annotation that asks for berth's `--init` as PID 1.
pub const INIT_ANNOTATION: &str = "berth.init";

/// The `--init` binary, found beside berth-spawn (`runtime::exeseal::sealed_tool`).
pub const INIT_TOOL: &str = "berth-init";

/// Enters namespaces in the parent for the duration of the clone, then comes back: the pid
/// namespace only applies to children, and a new user namespace could not join namespaces
/// owned by the initial one from inside.
struct Excursion {
    back: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl Excursion {
    fn enter(joins: &[Join]) -> Result<Excursion, RuntimeError> {
        let mut back = Vec::new();
        for j in joins {
            let own = format!("/proc/self/ns/{}", namespaces::proc_name(j.kind));
            let f = std::fs::File::open(&own).map_err(|e| sys(format!("opening {own}"), e))?;
            j.enter()?;
            back.push((j.kind, OwnedFd::from(f)));
        }
        Ok(Excursion { back })
    }
}

impl Drop for Excursion {
    fn drop(&mut self) {
        for (kind, fd) in self.back.iter().rev() {
            // SAFETY: setns on a namespace descriptor this Excursion owns and keeps open until drop;
            // it touches no memory.
            unsafe { libc::setns(fd.as_raw_fd(), namespaces::clone_flag(*kind)) };
        }
    }
}

fn write_maps(
    pid: i32,
    file: &str,
    maps: Option<&Vec<LinuxIdMapping>>,
) -> Result<(), RuntimeError> {
    let Some(maps) = maps.filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect();
    let p = format!("/proc/{pid}/{file}");
    std::fs::write(&p, text).map_err(|e| sys(format!("writing {p}"), e))
}

/// The rootfs as an absolute path.
pub fn rootfs_of(spec: &Spec, bundle: &Path) -> PathBuf {
    let p = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .unwrap_or_else(|| PathBuf::from("rootfs"));
    let p = if p.is_absolute() { p } else { bundle.join(p) };
    p.canonicalize().unwrap_or(p)
}

fn seccomp_of(spec: &Spec, root: &Root) -> Result<Option<Vec<u8>>, RuntimeError> {
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(s) => Ok(Some(
            Profile::from_oci(s)?.compile_cached(&root.dir.join(".seccomp"))?,
        )),
        None => Ok(None),
    }
}

/// Creates the container: its process exists, set up, waiting to be started.
pub fn create(mut o: CreateOpts) -> Result<Launched, RuntimeError> {
    let prepare = crate::timings::phase("prepare");
    let (bundle, spec, process, rootfs) = open_bundle(&o)?;
    if o.launch == Launch::RunNow && (hooks_wanted(&spec) || o.console_socket.is_some()) {
        o.launch = Launch::Run;
    }
    let mut plan = namespaces::plan(&spec)?;
    super::validate::check(&spec, &process, &plan)?;
    let linux = spec.linux().clone().unwrap_or_default();
    let cg = Cgroup::new(&cgroups::path_for(linux.cgroups_path().as_deref(), o.id)?);
    let annotations = spec.annotations().clone().unwrap_or_default();
    let init = o.init
        || annotations
            .get(INIT_ANNOTATION)
            .is_some_and(|v| v == "true");
    let mut st = State {
        oci_version: state::OCI_VERSION.into(),
        id: o.id.to_string(),
        status: Status::Creating,
        pid: 0,
        bundle: bundle.clone(),
        annotations: annotations.into_iter().collect(),
        rootfs: rootfs.clone(),
        created: Utc::now(),
        owner: "root".into(),
        pid_start: 0,
        cgroup_path: cg.path.clone(),
        init,
        poststop: Some(
            spec.hooks()
                .as_ref()
                .and_then(|h| h.poststop().clone())
                .unwrap_or_default(),
        ),
    };
    o.root.create_container_dir(o.id)?;
    let cleanup = |pid: i32| {
        if pid > 0 {
            kill_child(pid);
        }
        let _ = cg.remove();
        let _ = o.root.remove(o.id);
    };
    let setup = Setup {
        spec: &spec,
        process: &process,
        rootfs: &rootfs,
        linux: &linux,
        cg: &cg,
        init,
    };
    let stdio = o.stdio.take();
    drop(prepare);
    let (pid, chan, master) = match spawn(&o, &setup, &mut plan, &mut st, stdio) {
        Ok(v) => v,
        Err((pid, e)) => {
            cleanup(pid);
            return Err(e);
        }
    };
    let master = match created(&o, &mut st, pid, master) {
        Ok(m) => m,
        Err(e) => {
            cleanup(pid);
            return Err(e);
        }
    };
    Ok(Launched {
        state: st,
        chan,
        master,
        spec,
        started: o.launch == Launch::RunNow,
    })
}

/// The bundle, canonical, its config, the config's process and the rootfs, checked.
fn open_bundle(o: &CreateOpts) -> Result<(PathBuf, Spec, Process, PathBuf), RuntimeError> {
    state::validate_id(o.id)?;
    if o.root.exists(o.id) {
        return Err(RuntimeError::Exists(o.id.to_string()));
    }
    let bundle = o
        .bundle
        .canonicalize()
        .map_err(|e| RuntimeError::Invalid(format!("bundle {}: {e}", o.bundle.display())))?;
    let spec = crate::ocispec::load(&bundle)?;
    let process = spec
        .process()
        .clone()
        .ok_or_else(|| RuntimeError::Invalid("config.json has no process section".into()))?;
    let rootfs = rootfs_of(&spec, &bundle);
    if !rootfs.is_dir() {
        return Err(RuntimeError::Invalid(format!(
            "the rootfs {} does not exist (is the bundle complete?)",
            rootfs.display()
        )));
    }
    Ok((bundle, spec, process, rootfs))
}

/// What `create` read and decided before the process exists.
struct Setup<'a> {
    spec: &'a Spec,
    process: &'a Process,
    rootfs: &'a Path,
    linux: &'a Linux,
    cg: &'a Cgroup,
    /// berth's `--init` runs as PID 1.
    init: bool,
}

/// A failure and the pid to kill with it (0: no process yet).
type Failed = (i32, RuntimeError);

/// Saves the `creating` state, makes the cgroup and clones the container's process, which
/// runs the init (`init::run`); then releases it and waits until it is ready.
fn spawn(
    o: &CreateOpts,
    s: &Setup,
    plan: &mut Plan,
    st: &mut State,
    stdio: Option<StdioFds>,
) -> Result<(i32, Channel, Option<OwnedFd>), Failed> {
    let fail = |e| (0, e);
    o.root.save(st).map_err(fail)?;
    // Without a user namespace (new or joined), the child makes its network, IPC, UTS and
    // mount namespaces itself, first thing, while berth-spawn makes the rest of its cgroups
    // (`Cgroup::finish`, right after the clone): on two cores the kernel's half millisecond
    // for a network namespace then costs nothing. With one, the clone makes them, and the cgroups
    // are whole before it (the child could not open their files by itself).
    let unshared = if plan.has(LinuxNamespaceType::User) {
        0
    } else {
        plan.new_flags & CHILD_UNSHARES
    };
    let cgroups = crate::timings::phase("cgroups");
    let (pending, entry) = if unshared != 0 {
        let pending = s.cg.begin(s.linux).map_err(fail)?;
        let entry = s.cg.entry_before_finish();
        (Some(pending), entry.map_err(|e| fail(e.into()))?)
    } else {
        s.cg.create(s.linux).map_err(fail)?;
        (None, s.cg.entry(true).map_err(|e| fail(e.into()))?)
    };
    drop(cgroups);
    let seccomp = seccomp_of(s.spec, o.root).map_err(fail)?;
    let fifo_fd = match o.launch {
        Launch::Create => Some(
            o.root
                .make_fifo(o.id, namespaces::host_root_ids(s.spec, plan))
                .map_err(fail)?,
        ),
        Launch::Run | Launch::RunNow => None,
    };
    // Without a mount namespace the init chroots into the rootfs: held now, by the host.
    let chroot_fd = if plan.has(LinuxNamespaceType::Mount) {
        None
    } else {
        Some(open_dir(s.rootfs).map_err(fail)?)
    };
    let (parent, child) = Channel::pair().map_err(|e| fail(sys("socketpair", e)))?;
    let new_user = plan.has_new(LinuxNamespaceType::User);
    if new_user {
        init::reach::let_mapped_root_in(s.rootfs, s.linux).map_err(fail)?;
        if plan.has_new(LinuxNamespaceType::Mount) {
            init::reach::make_mount_points(s.rootfs, s.spec).map_err(fail)?;
        }
    }
    let excursion_joins = excursion_joins(plan, new_user);
    let new_flags = plan.new_flags;
    // The child unshares the cgroup namespace itself, once it is in its cgroups.
    let clone_flags = new_flags & !libc::CLONE_NEWCGROUP & !unshared;
    let init_exe = if s.init {
        Some(super::exeseal::sealed_tool(INIT_TOOL).map_err(fail)?)
    } else {
        None
    };
    let dmz = dmz_for(
        plan.has_new(LinuxNamespaceType::Pid)
            && matches!(o.launch, Launch::Run | Launch::RunNow)
            && !hooks_inside(s.spec),
        s.init,
    )
    .map_err(fail)?;
    let views = s.cg.views();
    let cgroup2 = s.cg.h.is_v2() && plan.has_new(LinuxNamespaceType::Cgroup);
    let new_mounts = plan.has_new(LinuxNamespaceType::Mount);
    let hooks = hooks_wanted(s.spec);
    let namespaces = crate::timings::phase("namespaces");
    let (pid, born_in_v2) = {
        let _excursion = Excursion::enter(&excursion_joins).map_err(fail)?;
        super::clone::clone_into(clone_flags, entry.v2_fd()).map_err(|e| fail(sys("clone3", e)))?
    };
    if pid == 0 {
        drop(parent);
        let mode = match o.launch {
            Launch::Create => Mode::Create {
                fifo: fifo_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
            },
            Launch::Run => Mode::Run { now: false },
            Launch::RunNow => Mode::Run { now: true },
        };
        init::run(init::Args {
            spec: s.spec,
            process: s.process,
            rootfs: s.rootfs.to_path_buf(),
            chan: child,
            mode,
            join: std::mem::take(&mut plan.join),
            new_flags,
            unshare: unshared,
            cgroup_entry: Some((&entry, true)),
            cgroups: views.clone(),
            cgroup2,
            seccomp,
            init: init_exe,
            dmz,
            preserve_fds: o.preserve_fds,
            stdin_null: o.stdin_null,
            hooks,
            chroot: chroot_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
            stdio,
        });
    }
    drop(namespaces);
    drop(child);
    drop(stdio);
    drop(fifo_fd);
    drop(chroot_fd);
    drop(init_exe);
    drop(dmz);
    drop(entry);
    st.pid = pid;
    st.pid_start = liveness::start_time(pid).unwrap_or(0);
    let mut view = None;
    if let Some(p) = pending {
        let _cgroups = crate::timings::phase("cgroups");
        if let Err(e) = s.cg.finish(p) {
            // Gone before its end of the channel closes: what it says before its go (a mount
            // that failed meanwhile) is not the error.
            kill_child(pid);
            return Err((0, e));
        }
        // The init's cgroup view, built while it makes its namespaces and first mounts, where
        // it mounts one in a new mount namespace of its own (no user namespace here); a
        // kernel that cannot build it detached leaves it to the init.
        if !cgroup2 && new_mounts && mounts_cgroups(s.spec) {
            match init::mounts::view_tree(&views) {
                Ok(v) => {
                    log::debug!("built the cgroup view for the init");
                    view = Some(v);
                }
                Err(e) => log::debug!("the init builds its cgroup view itself: {e}"),
            }
        }
    }
    let go = BeforeGo {
        new_user,
        born_in_v2,
        view,
    };
    let master = release(o, s, st, pid, &parent, go).map_err(|e| (pid, e))?;
    Ok((pid, parent, master))
}

/// Kills and reaps the container's (or an exec's) process, `pid`, before anything else of it
/// is removed.
fn kill_child(pid: i32) {
    // SAFETY: pid is our own child (cloned by `spawn` or `exec` and not yet reaped), so the
    // signal and the wait cannot reach another process; waitpid may take a null status pointer.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// The namespaces a child without a user namespace makes itself (`spawn`). Not the pid
/// namespace (the clone's child must be its first process), nor the cgroup namespace (made
/// once the child is in its cgroups), nor time (it applies to the children of its maker).
const CHILD_UNSHARES: libc::c_int =
    libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNS;

/// berth-dmz for the init, when berth-spawn took the dmz path (`runtime::exeseal`): then
/// only an init `alone` until it execs (in a new pid namespace, released by `Run`, not
/// waiting on an exec fifo, starting no hook of its own in there) may be cloned, since it
/// runs berth-spawn's own file. `--init`
/// needs none: berth-init is a sealed copy already.
fn dmz_for(alone: bool, init: bool) -> Result<Option<OwnedFd>, RuntimeError> {
    if !super::exeseal::runs_unsealed() {
        return Ok(None);
    }
    if !alone {
        return Err(RuntimeError::Invalid(
            "berth-spawn runs unsealed, and this container's init would not be alone in a new pid namespace (CVE-2019-5736): a bug, please report it".into(),
        ));
    }
    if init {
        return Ok(None);
    }
    super::exeseal::dmz().map(Some)
}

/// The namespaces the parent enters around the clone: pid (always) and, with a new user
/// namespace, the other joined namespaces except mount; the child enters the rest itself.
fn excursion_joins(plan: &mut Plan, new_user: bool) -> Vec<Join> {
    let mut excursion_joins: Vec<Join> = Vec::new();
    if let Some(j) = plan.take_join(LinuxNamespaceType::Pid) {
        excursion_joins.push(j);
    }
    if new_user {
        let (keep, away): (Vec<Join>, Vec<Join>) = std::mem::take(&mut plan.join)
            .into_iter()
            .partition(|j| j.kind == LinuxNamespaceType::Mount);
        plan.join = keep;
        excursion_joins.extend(away);
    }
    excursion_joins
}

/// Whether the config has hooks the init must stop for (prestart, createRuntime,
/// createContainer, startContainer).
fn hooks_wanted(spec: &Spec) -> bool {
    any_hook(spec, |h| {
        [
            h.prestart(),
            h.create_runtime(),
            h.create_container(),
            h.start_container(),
        ]
    })
}

/// The config mounts a cgroup view (a `cgroup` or `cgroup2` mount).
fn mounts_cgroups(spec: &Spec) -> bool {
    spec.mounts()
        .iter()
        .flatten()
        .any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
}

/// The config has createContainer or startContainer hooks: the init runs them inside the
/// container's namespaces, as its children, before it execs.
fn hooks_inside(spec: &Spec) -> bool {
    any_hook(spec, |h| [h.create_container(), h.start_container()])
}

/// Whether any of the hook lists `pick` names is non-empty.
fn any_hook<'a, const N: usize>(
    spec: &'a Spec,
    pick: impl Fn(&'a oci_spec::runtime::Hooks) -> [&'a Option<Vec<oci_spec::runtime::Hook>>; N],
) -> bool {
    spec.hooks().as_ref().is_some_and(|h| {
        pick(h)
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()))
    })
}

/// What berth-spawn does for the child before its go ([`release`]).
struct BeforeGo {
    /// It has a new user namespace: its id maps are written first.
    new_user: bool,
    /// It was born in its v2 cgroup; else the kernel refused, and it is moved there.
    born_in_v2: bool,
    /// Its cgroup view, built detached (`init::mounts::view_tree`), sent with the go.
    view: Option<OwnedFd>,
}

/// The parent's side once the child exists (it joins its v1 cgroups itself, and was born in
/// its v2 one unless `go.born_in_v2` says the kernel refused): id maps written, then `Go`;
/// the runtime hooks run when the init asks; with OCI `create`, the init confirmed waiting on
/// the exec fifo. Returns the terminal's master, if the init sent one.
fn release(
    o: &CreateOpts,
    s: &Setup,
    st: &State,
    pid: i32,
    parent: &Channel,
    go: BeforeGo,
) -> Result<Option<OwnedFd>, RuntimeError> {
    if !go.born_in_v2 {
        s.cg.add_v2(pid)?;
    }
    if go.new_user {
        write_maps(pid, "uid_map", s.linux.uid_mappings().as_ref())?;
        write_maps(pid, "gid_map", s.linux.gid_mappings().as_ref())?;
    }
    let sent = match &go.view {
        Some(v) => parent.send_with_fd(&ToChild::Go, v.as_raw_fd()),
        None => parent.send(&ToChild::Go),
    };
    drop(go.view);
    if let Err(e) = sent {
        // Its end is closed: without a user namespace the init goes on with its mounts before
        // it takes the go (`init::Go`), and one that failed meanwhile is gone, its error
        // waiting here.
        wait_ready(parent, pid, |_| Ok(()), st)?;
        return Err(sys("starting the container's init", e));
    }
    if o.launch != Launch::Create {
        // While the init sets itself up: the pid on record, for a `delete` to kill it. Still
        // `creating`, and never `created` on disk: nothing waits on a `Run` container's
        // start, and once alive it reads as running (`State::current_status`).
        o.root.save(st)?;
    }
    let master = wait_ready(
        parent,
        pid,
        |st_json| {
            let h = s.spec.hooks().clone().unwrap_or_default();
            hooks::run("prestart", h.prestart().as_deref().unwrap_or(&[]), st_json)?;
            hooks::run(
                "createRuntime",
                h.create_runtime().as_deref().unwrap_or(&[]),
                st_json,
            )
        },
        st,
    )?;
    if o.launch == Launch::Create {
        confirm_waiting(parent, pid)?;
    }
    Ok(master)
}

/// Records the container as created (state, saved for OCI `create` only: `release` saved a
/// `Run` one with its pid), hands the terminal to `--console-socket` if one was given, and
/// writes `--pid-file`; returns the master `create` keeps, if any.
fn created(
    o: &CreateOpts,
    st: &mut State,
    pid: i32,
    mut master: Option<OwnedFd>,
) -> Result<Option<OwnedFd>, RuntimeError> {
    st.transition(Status::Created)?;
    if o.launch == Launch::Create {
        o.root.save(st)?;
    }
    if let (Some(sock), Some(m)) = (o.console_socket, master.as_ref()) {
        super::console::send_to_socket(sock, m.as_raw_fd())
            .map_err(|e| sys(format!("sending the terminal to {}", sock.display()), e))?;
        master = None;
    }
    // Last: a create that fails leaves no pid file naming a process it killed.
    if let Some(p) = o.pid_file {
        state::write_pid_file(p, pid)?;
    }
    Ok(master)
}

/// Reads the child's messages until it is ready, running hooks when it asks.
fn wait_ready(
    chan: &Channel,
    pid: i32,
    run_hooks: impl Fn(&serde_json::Value) -> Result<(), RuntimeError>,
    st: &State,
) -> Result<Option<OwnedFd>, RuntimeError> {
    let mut master = None;
    loop {
        match chan.recv_with_fd::<ToParent>() {
            Ok(Some((ToParent::Ready, _))) => return Ok(master),
            Ok(Some((ToParent::Timings(t), _))) => t.record(),
            Ok(Some((ToParent::Terminal, fd))) => master = fd,
            Ok(Some((ToParent::Hooks, _))) => {
                let mut s = st.clone();
                s.pid = pid;
                // The environment is created (lifecycle steps 3-5): `created`, as crun says.
                let state = s.oci_json(Status::Created);
                run_hooks(&state)?;
                chan.send(&ToChild::HooksDone { state })
                    .map_err(|e| sys("resuming init", e))?;
            }
            Ok(Some((ToParent::Error { code, message }, _))) => {
                return Err(RuntimeError::Child { code, message });
            }
            Ok(Some((other @ (ToParent::Fifo | ToParent::ExecFailed(_)), _))) => {
                return Err(RuntimeError::Invalid(format!(
                    "unexpected message {other:?} from the container's init"
                )));
            }
            Ok(None) => {
                // Waited for, not reaped: the caller's clean-up kills and reaps it, and a pid
                // reaped here could be another process's by then.
                // SAFETY: pid is our own unreaped child; waitid fills the zeroed siginfo.
                let status = unsafe {
                    let mut info: libc::siginfo_t = std::mem::zeroed();
                    libc::waitid(
                        libc::P_PID,
                        pid as libc::id_t,
                        &mut info,
                        libc::WEXITED | libc::WNOWAIT,
                    );
                    info.si_status()
                };
                return Err(RuntimeError::Child {
                    code: crate::error::Code::IO.0,
                    message: format!(
                        "the container's init died during setup (exit status or signal {status})"
                    ),
                });
            }
            Err(e) => return Err(sys("reading from the container's init", e)),
        }
    }
}

/// OCI `create`, after Ready: the init shuts the channel down right before it blocks on the
/// exec fifo. End-of-file and a live init mean it waits for `start`; anything else is the
/// error of `create`, which then removes the container.
fn confirm_waiting(chan: &Channel, pid: i32) -> Result<(), RuntimeError> {
    match chan.recv::<ToParent>() {
        Ok(None) => {}
        Ok(Some(ToParent::Error { code, message })) => {
            return Err(RuntimeError::Child { code, message });
        }
        Ok(Some(other)) => {
            return Err(RuntimeError::Invalid(format!(
                "unexpected message {other:?} from the container's init"
            )));
        }
        Err(e) => return Err(sys("reading from the container's init", e)),
    }
    let mut status = 0;
    // SAFETY: our own child; WNOHANG only looks.
    if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
        return Err(RuntimeError::Child {
            code: crate::error::Code::IO.0,
            message: format!(
                "the container's init exited before it waited for start (wait status {status})"
            ),
        });
    }
    Ok(())
}

/// An `O_PATH` descriptor of a directory (a container's root, for its init to chroot into).
fn open_dir(p: &Path) -> Result<OwnedFd, RuntimeError> {
    nix::fcntl::open(
        p,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| sys(format!("opening {}", p.display()), e))
}

impl Launched {
    /// Releases a `Run` container: it execs now (a `RunNow` one is on its way already).
    /// Returns once the exec happened (the channel closes) or failed (the error comes back
    /// with Docker's 126/127).
    pub fn start(&self) -> Result<(), RuntimeError> {
        let _exec = crate::timings::phase("exec");
        if !self.started {
            self.chan
                .send(&ToChild::Start)
                .map_err(|e| sys("starting the container", e))?;
        }
        match self.chan.recv::<ToParent>() {
            Ok(None) => Ok(()),
            Ok(Some(ToParent::Error { code, message })) => {
                Err(RuntimeError::Child { code, message })
            }
            Ok(Some(ToParent::ExecFailed(errno))) => {
                let arg0 = self.spec.process().as_ref().and_then(|p| p.args().as_ref());
                let arg0 = arg0.and_then(|a| a.first()).map_or("", String::as_str);
                let f = init::exec_failure(arg0, errno);
                Err(RuntimeError::Child {
                    code: f.code,
                    message: f.message,
                })
            }
            Ok(Some(other)) => Err(RuntimeError::Invalid(format!(
                "unexpected message {other:?} from the container"
            ))),
            Err(e) => Err(sys("waiting for the container's exec", e)),
        }
    }
}

/// What `exec` runs.
pub struct ExecOpts<'a> {
    pub root: &'a Root,
    pub state: &'a State,
    pub spec: &'a Spec,
    pub process: Process,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub preserve_fds: i32,
    pub stdin_null: bool,
    /// Replacements for the inherited stdio (`None` entries keep ours).
    pub stdio: Option<StdioFds>,
}

/// A process started inside a running container (joined to all its namespaces and its
/// cgroup, confined like it). Returns the host pid, the channel (already started), and the
/// terminal master if one was made and not handed to a console socket.
pub fn exec(o: ExecOpts) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
    let mut plan: Plan = namespaces::of_process(o.state.pid)?;
    // A container without a mount namespace of its own shares ours: its root is its init's.
    let chroot_fd = if plan.joins(LinuxNamespaceType::Mount) {
        None
    } else {
        Some(open_dir(Path::new(&format!("/proc/{}/root", o.state.pid)))?)
    };
    let cg = o.state.cgroup();
    // Best effort per hierarchy: a cgroup a process cannot enter must not stop the exec.
    let entry = cg.entry(false)?;
    let seccomp = seccomp_of(o.spec, o.root)?;
    // A process joining a running container is in its sight before it execs.
    dmz_for(false, false)?;
    let (parent, child) = Channel::pair().map_err(|e| sys("socketpair", e))?;
    let pid_join: Vec<Join> = plan
        .take_join(LinuxNamespaceType::Pid)
        .into_iter()
        .collect();
    let (pid, born_in_v2) = {
        let _x = Excursion::enter(&pid_join)?;
        super::clone::clone_into(0, entry.v2_fd()).map_err(|e| sys("clone3", e))?
    };
    if pid == 0 {
        drop(parent);
        init::run(init::Args {
            spec: o.spec,
            process: &o.process,
            rootfs: PathBuf::from("/"),
            chan: child,
            mode: Mode::Exec,
            join: std::mem::take(&mut plan.join),
            new_flags: 0,
            unshare: 0,
            cgroup_entry: Some((&entry, false)),
            cgroups: Vec::new(),
            cgroup2: false,
            seccomp,
            init: None,
            dmz: None,
            preserve_fds: o.preserve_fds,
            stdin_null: o.stdin_null,
            hooks: false,
            chroot: chroot_fd.as_ref().map_or(-1, |f| f.as_raw_fd()),
            stdio: o.stdio,
        });
    }
    drop(child);
    drop(o.stdio);
    drop(chroot_fd);
    let kill = |e: RuntimeError| {
        kill_child(pid);
        e
    };
    drop(entry);
    if !born_in_v2 {
        let _ = cg.add_v2(pid);
    }
    parent
        .send(&ToChild::Go)
        .map_err(|e| kill(sys("starting exec", e)))?;
    let mut master = wait_ready(&parent, pid, |_| Ok(()), o.state).map_err(kill)?;
    if let Some(p) = o.pid_file {
        state::write_pid_file(p, pid).map_err(kill)?;
    }
    if let (Some(sock), Some(m)) = (o.console_socket, master.as_ref()) {
        super::console::send_to_socket(sock, m.as_raw_fd()).map_err(|e| {
            kill(sys(
                format!("sending the terminal to {}", sock.display()),
                e,
            ))
        })?;
        master = None;
    }
    parent
        .send(&ToChild::Start)
        .map_err(|e| kill(sys("starting exec", e)))?;
    match parent.recv::<ToParent>() {
        Ok(None) => Ok((pid, master)),
        Ok(Some(ToParent::Error { code, message })) => {
            // SAFETY: pid is our own unreaped child; waitpid may take a null status pointer.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            Err(RuntimeError::Child { code, message })
        }
        Ok(Some(other)) => Err(kill(RuntimeError::Invalid(format!(
            "unexpected message {other:?}"
        )))),
        Err(e) => Err(kill(sys("waiting for exec", e))),
    }
}
