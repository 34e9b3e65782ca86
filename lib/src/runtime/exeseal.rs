//! Keeping host binaries out of a container's reach (CVE-2019-5736).
//!
//! A process that enters a container's namespaces before it execs is visible from inside
//! the container, and `/proc/PID/exe` of it is a handle on the binary it runs. If that were
//! the host's berth-spawn, a process in the container could open it (O_PATH), wait, reopen it
//! for writing through `/proc/self/fd/N` and replace berth-spawn on the host, which root runs
//! next. So, as runc (1.2+) and crun do:
//!
//! - berth-spawn re-executes itself from a handle nothing can write through
//!   ([`reexec_sealed`]) before it touches any namespace, on every verb that creates or
//!   enters a container. First choice, runc's: the binary seen through a detached overlayfs
//!   mount of its directory that has only lower layers, so it is read-only by construction
//!   (even a clone of the mount is), and costs no copy. Otherwise (no overlayfs, no new mount
//!   API): a memfd copy made in the kernel (`copy_file_range`/`sendfile`), sealed against
//!   writes, growth, shrinking and further seals. Read-only verbs (state, list, kill,
//!   delete...) never pay for either.
//! - **The dmz**, which spares `run` and `start -` that re-execution (its ~2.5 ms were a fifth
//!   of `berth-spawn run`): when the container's init will be alone in a new pid namespace
//!   until it execs, nothing in the container can see it while it runs berth-spawn's own
//!   file, and only its last exec matters: a command that is `/proc/self/exe`, or whose
//!   interpreter is, would run the host's berth-spawn. So berth-spawn stays as installed
//!   ([`unsealed_with_dmz`]) and the init execs the command through berth-dmz (`dmz.c`, a
//!   libc-free static program, about 500 bytes of code, built by build.rs and embedded), from a
//!   sealed memfd made per container ([`dmz`]): the command replaces a process whose
//!   `/proc/self/exe` is that sealed copy. As runc's former runc-dmz, but used only where it
//!   is safe, and everything else re-executes sealed: a joined or host pid namespace
//!   (`exec`, `--pid host`, `--pid container:X`); OCI `create` (its exec fifo must close at
//!   the command's exec, and its init waits for `start` as long as the caller likes);
//!   createContainer and startContainer hooks (the init's children in the container, run
//!   from the image's files); `start NAME` and restarts; a SELinux label (whose domain
//!   change belongs to the command's exec). The runtime refuses to clone an init that would
//!   not be alone while berth-spawn runs unsealed (`process::dmz_for`). Capabilities are
//!   the same after the two execs as after one: the dmz file has none, so the exec into it
//!   keeps the ambient set (non-root) or grants root the bounding set, as the command's exec
//!   does next.
//! - The process is non-dumpable until it execs (the kernel resets that at execve), so an
//!   unprivileged process in the container cannot even open `/proc/PID/exe`, `mem` or `fd`.
//! - `--init`'s PID 1 is berth-init, run from a sealed memfd copy ([`sealed_tool`]): it lives
//!   as long as the container, and a copy pins no host filesystem.
//! - berth-monitor, which also lives as long as the container and is in its sight with
//!   `--pid host`, is exec'd as berth-spawn runs ([`exec_tool`]): through a read-only overlay
//!   of its directory, else from a sealed memfd copy.
//!
//! Whether we already run from such a handle is decided as crun does: a memfd is trusted
//! when `/proc/self/exe` carries every seal (F_GET_SEALS), which nothing but a sealed memfd
//! can; the read-only overlay only together with the environment variable we set for it
//! ([`ORIGIN_ENV`], which also carries the installed path, so that sibling tools are still
//! found beside it: [`original_exe`]).
//!
//! The verbs that seal (tools/spawn `enters_container`): `create ID`, `run`, `start -`,
//! `start NAME`, `start -a`, `exec`, `restart`, `monitor-hook respawn`, before they read stdin
//! or touch a namespace (`run` and `start -` by the dmz where it suits: tools/spawn
//! `dmz_suits`). The others (`state`, `list`, `kill`, `stop`, `wait`, `pause`, `delete`,
//! `attach`, OCI `start`, `create -`) do not pay for it. The choice is made once clap has
//! parsed the command line, not from argv before it: whether a verb seals (`start NAME`,
//! `create ID`) and where the scratch directory lies (`--root`, a global flag that may follow
//! the verb, or `BERTH_RUN_ROOT`) are clap's to say, and with the verbs' arguments built
//! lazily (tools/spawn `args.rs`, `defer`) parsing is about 0.1 ms of the first process's
//! ~1.8 ms of CPU; the rest is the start of any process of this size.
//!
//! berth-monitor names itself `berth-monitor` (`PR_SET_NAME`) for ps and pkill, and makes
//! itself non-dumpable too.
//!
//! Cost, measured on the shared 2-core machine (release, hyperfine medians of
//! `bench/spawn.sh`'s `berth-spawn run` of /bin/true). The re-execution through the overlay
//! costs one more start of this ~10 MB program, about 2.5-3 ms (the `seal` phase of
//! `--timings`); the memfd copy of the binary, 4 ms more. The dmz path pays neither: its
//! `seal` phase is a prctl, and what it adds is a memfd of 8.7 KB and the exec of a program
//! without libc. With it, `berth-spawn run` went from 1.05x crun's time to 0.83x (13.5 ms
//! against 12.9, then 9.0 against 10.9; built static, as shipped, 0.70x: 7 against 10). In
//! `berth run` the seal overlapped the wait for the stages upstream, so the pipeline gains
//! less: `run --rm --network none` 24.6 ms against 27.9 with the seal forced
//! (`--security-opt label=disable`). The monitor, exec'd through the overlay, shares the
//! installed file's page cache with every other monitor; from the memfd fallback each holds a
//! private copy.

use std::ffi::{CStr, CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};

use super::{RuntimeError, sys};
use crate::elf::{self, Linkage};

/// Where a sealed berth-spawn came from: set for the re-executed copy, read and removed at
/// its start.
pub const ORIGIN_ENV: &str = "BERTH_SEALED_FROM";

/// The seals a copy must carry to be trusted: no writes, no size change, no more seal changes.
fn required_seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

static ORIGIN: OnceLock<PathBuf> = OnceLock::new();

/// Whether `f` is a memfd carrying every required seal (F_GET_SEALS fails on other files).
pub fn is_sealed(f: impl AsFd) -> bool {
    fcntl(f, FcntlArg::F_GET_SEALS)
        .map(|s| SealFlag::from_bits_truncate(s).contains(required_seals()))
        .unwrap_or(false)
}

/// Copies `len` bytes of `src` (from its start) into `dst`, in the kernel: copy_file_range,
/// or sendfile where the kernel refuses a copy across filesystems (EXDEV into a memfd).
fn copy_in_kernel(src: &File, dst: &OwnedFd, len: u64) -> std::io::Result<()> {
    let mut off: u64 = 0;
    let mut use_sendfile = false;
    while off < len {
        let want = (len - off).min(1 << 30) as usize;
        let n = if use_sendfile {
            let mut o = off as libc::off_t;
            nix::sys::sendfile::sendfile(dst, src, Some(&mut o), want)
        } else {
            let mut o = off as i64;
            match nix::fcntl::copy_file_range(src, Some(&mut o), dst, None, want) {
                Err(Errno::EXDEV | Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP) => {
                    use_sendfile = true;
                    continue;
                }
                r => r,
            }
        }?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the file ended after {off} of {len} bytes"),
            ));
        }
        off += n as u64;
    }
    Ok(())
}

/// A sealed, executable memfd copy of `src`, named `name` (the name shows in
/// `/proc/PID/exe` as `/memfd:NAME (deleted)`).
pub fn sealed_copy(src: &File, name: &CStr) -> std::io::Result<OwnedFd> {
    let len = src.metadata()?.len();
    sealed_memfd(name, |fd| copy_in_kernel(src, fd, len))
}

/// A memfd named `name`, filled by `fill`, then made executable and sealed.
fn sealed_memfd(
    name: &CStr,
    fill: impl FnOnce(&OwnedFd) -> std::io::Result<()>,
) -> std::io::Result<OwnedFd> {
    let base = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) says the copy is meant to run; older kernels refuse the flag.
    let fd = match memfd_create(name, base | MFdFlags::from_bits_retain(libc::MFD_EXEC)) {
        Err(Errno::EINVAL) => memfd_create(name, base),
        r => r,
    }?;
    fill(&fd)?;
    // r-x--x--x, as runc: nobody may reopen it for writing by mode either.
    nix::sys::stat::fchmod(&fd, nix::sys::stat::Mode::from_bits_truncate(0o511))?;
    // F_SEAL_EXEC (Linux 6.3) also freezes the mode; older kernels refuse it, which is fine.
    let _ = fcntl(
        &fd,
        FcntlArg::F_ADD_SEALS(SealFlag::from_bits_retain(libc::F_SEAL_EXEC)),
    );
    fcntl(&fd, FcntlArg::F_ADD_SEALS(required_seals()))?;
    Ok(fd)
}

fn cstrings(v: impl IntoIterator<Item = OsString>) -> Vec<CString> {
    v.into_iter()
        .filter_map(|s| CString::new(s.into_vec()).ok())
        .collect()
}

/// Executes the file behind `fd` (execveat with AT_EMPTY_PATH). Where that is refused (a
/// seccomp profile without execveat, an old kernel), tries `/proc/self/fd/N`, but only if
/// `/proc` is procfs: inside a container whose config mounts something else there, the path
/// is the image's and could lead to any file of it. Returns only on failure, with the first
/// error.
pub fn exec_fd(fd: &OwnedFd, args: &[CString], env: &[CString]) -> Errno {
    let Err(first) = nix::unistd::execveat(fd, c"", args, env, AtFlags::AT_EMPTY_PATH);
    if proc_is_procfs() {
        let path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default();
        let _ = nix::unistd::execve(&path, args, env);
    }
    first
}

/// Whether `/proc` here is the kernel's procfs (not a directory or a mount of the image's).
pub fn proc_is_procfs() -> bool {
    nix::sys::statfs::statfs("/proc")
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// Whether `f` lives on a read-only overlayfs (our [`overlay_handle`], given the environment
/// variable that says we made it).
fn is_on_readonly_overlay(f: &File) -> bool {
    rustix::fs::fstatfs(f).is_ok_and(|s| s.f_type == crate::bundle::overlay::OVERLAYFS_MAGIC)
        && rustix::fs::fstatvfs(f)
            .is_ok_and(|s| s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// `binary` seen through a detached overlayfs mount whose layers are its directory and the
/// empty `scratch` (overlayfs wants two lower layers when it has no upper one): read-only
/// by construction, since there is no upper layer to write to, and no copy is made (runc's
/// `exeseal.sealedOverlayfs`). An O_PATH handle, for [`exec_fd`].
fn overlay_handle(binary: &Path, scratch: &Path) -> std::io::Result<OwnedFd> {
    use rustix::mount::{
        FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsconfig_set_string, fsmount,
        fsopen,
    };
    let (Some(dir), Some(name)) = (binary.parent(), binary.file_name()) else {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    };
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(scratch)?;
    }
    let fs = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    fsconfig_set_string(&fs, "lowerdir+", dir)?;
    fsconfig_set_string(&fs, "lowerdir+", scratch)?;
    // Inode numbers do not matter here; xino would only fill the kernel log.
    let _ = fsconfig_set_string(&fs, "xino", "off");
    fsconfig_create(&fs)?;
    let mnt = fsmount(
        &fs,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )?;
    Ok(rustix::fs::openat(
        &mnt,
        name,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?)
}

/// With `--timings`: when the re-execution began (nanoseconds since the epoch: the one clock
/// both programs read alike), so that the re-executed program counts it as its `seal` phase.
const SEAL_T0_ENV: &str = "BERTH_SEAL_T0";

fn clock_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The environment with `ORIGIN_ENV=origin`, for the re-executed program.
fn env_with_origin(origin: &Path) -> Vec<CString> {
    let mut env: Vec<OsString> = std::env::vars_os()
        .filter(|(k, _)| k != ORIGIN_ENV && k != SEAL_T0_ENV)
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    let mut own = OsString::from(format!("{ORIGIN_ENV}="));
    own.push(origin.as_os_str());
    env.push(own);
    if crate::timings::enabled() {
        env.push(format!("{SEAL_T0_ENV}={}", clock_ns()).into());
    }
    cstrings(env)
}

/// In the re-executed program: remembers the installed path, and makes the process
/// non-dumpable and named `name`.
fn settle(name: &CStr) -> Result<(), RuntimeError> {
    let origin = std::env::var_os(ORIGIN_ENV)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    if let Some(p) = origin {
        let _ = ORIGIN.set(p);
    }
    if let Some(t0) = std::env::var(SEAL_T0_ENV)
        .ok()
        .and_then(|v| v.parse::<u128>().ok())
    {
        let ns = clock_ns().saturating_sub(t0);
        crate::timings::add("seal", std::time::Duration::from_nanos(ns as u64));
    }
    // SAFETY: at start-up, before this process has made any thread.
    unsafe {
        std::env::remove_var(ORIGIN_ENV);
        std::env::remove_var(SEAL_T0_ENV);
    }
    // Not dumpable: /proc/PID/{exe,mem,fd,environ} are closed to the container, and stay so
    // in the children cloned into it until they exec.
    nix::sys::prctl::set_dumpable(false).map_err(|e| sys("prctl(PR_SET_DUMPABLE)", e))?;
    // The kernel named us after the handle we were run from; ps and pkill know our name.
    let _ = nix::sys::prctl::set_name(name);
    Ok(())
}

/// Runs the rest of this program from a handle nothing can write through (see the module
/// docs), or, when already run so, records where it came from. Either way the process is
/// left non-dumpable and named `name`. `scratch` is an empty directory for the overlay (made
/// if missing). Call it first thing, before any namespace, descriptor or thread is made.
pub fn reexec_sealed(name: &CStr, scratch: &Path) -> Result<(), RuntimeError> {
    let exe = File::open("/proc/self/exe").map_err(|e| sys("opening /proc/self/exe", e))?;
    let ours = std::env::var_os(ORIGIN_ENV).is_some();
    if is_sealed(&exe) || (ours && is_on_readonly_overlay(&exe)) {
        return settle(name);
    }
    let origin =
        std::fs::read_link("/proc/self/exe").map_err(|e| sys("reading /proc/self/exe", e))?;
    let args = cstrings(std::env::args_os());
    let env = env_with_origin(&origin);
    if let Ok(handle) = overlay_handle(&origin, scratch) {
        let e = exec_fd(&handle, &args, &env);
        log::debug!("exec through a read-only overlay failed ({e}): making a sealed copy");
    }
    let copy = sealed_copy(&exe, name).map_err(|e| {
        sys(
            format!(
                "making a sealed copy of {} (CVE-2019-5736 protection)",
                origin.display()
            ),
            e,
        )
    })?;
    drop(exe);
    let err = exec_fd(&copy, &args, &env);
    Err(sys(
        format!("re-executing {} from its sealed copy", origin.display()),
        err,
    ))
}

/// berth-dmz (`dmz.c`, built by the library's build.rs): empty where it could not be built.
const DMZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/berth-dmz"));

/// Set by [`unsealed_with_dmz`]: this berth-spawn runs from its installed file, and its
/// containers' inits exec their command through berth-dmz.
static DMZ_MODE: AtomicBool = AtomicBool::new(false);

/// Whether this build has berth-dmz ([`unsealed_with_dmz`] is only for such a build).
pub fn has_dmz() -> bool {
    !DMZ.is_empty()
}

/// The dmz path, in place of [`reexec_sealed`], for a verb whose container's init is alone in
/// a new pid namespace until it execs (see the module docs): no re-execution; the process is
/// left non-dumpable, and every init it clones execs its command through a sealed berth-dmz
/// ([`dmz`]). Call it where [`reexec_sealed`] would be called, and only if [`has_dmz`].
pub fn unsealed_with_dmz() -> Result<(), RuntimeError> {
    nix::sys::prctl::set_dumpable(false).map_err(|e| sys("prctl(PR_SET_DUMPABLE)", e))?;
    DMZ_MODE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether the bundle's config lets `run` take the dmz path: it asks for a new pid namespace
/// and no createContainer or startContainer hook (so that the init is alone until it execs:
/// those hooks are its children in the container, and their files the image's), and no
/// SELinux label (whose domain change belongs to the command's exec, not the dmz's). Only
/// the fields that decide are read.
pub fn dmz_suits_bundle(bundle: &Path) -> bool {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        process: Option<Proc>,
        #[serde(default)]
        linux: Option<Linux>,
        #[serde(default)]
        hooks: Option<Hooks>,
    }
    #[derive(serde::Deserialize)]
    struct Hooks {
        #[serde(default, rename = "createContainer")]
        create_container: Vec<serde_json::Value>,
        #[serde(default, rename = "startContainer")]
        start_container: Vec<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    struct Proc {
        #[serde(default, rename = "selinuxLabel")]
        selinux_label: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Linux {
        #[serde(default)]
        namespaces: Vec<Ns>,
    }
    #[derive(serde::Deserialize)]
    struct Ns {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        path: Option<String>,
    }
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return false;
    };
    let Ok(c) = serde_json::from_slice::<Config>(&text) else {
        return false;
    };
    let new_pid = c.linux.is_some_and(|l| {
        l.namespaces
            .iter()
            .any(|n| n.kind == "pid" && n.path.as_deref().unwrap_or("").is_empty())
    });
    let label = c
        .process
        .and_then(|p| p.selinux_label)
        .is_some_and(|l| !l.is_empty());
    let hooks = c
        .hooks
        .is_some_and(|h| !h.create_container.is_empty() || !h.start_container.is_empty());
    has_dmz() && new_pid && !label && !hooks
}

/// Whether [`unsealed_with_dmz`] chose the dmz path for this process.
pub fn runs_unsealed() -> bool {
    DMZ_MODE.load(Ordering::Relaxed)
}

/// berth-dmz in a sealed memfd, for the init's last exec (`berth-dmz FD PATH ARGV...`).
pub fn dmz() -> Result<OwnedFd, RuntimeError> {
    if DMZ.is_empty() {
        return Err(RuntimeError::Invalid(
            "this berth-spawn was built without berth-dmz".into(),
        ));
    }
    sealed_memfd(c"berth-dmz", |fd| {
        let mut f = File::from(fd.try_clone()?);
        std::io::Write::write_all(&mut f, DMZ)
    })
    .map_err(|e| sys("making berth-dmz's sealed memfd", e))
}

/// The path of the program as installed: the file a sealed copy was made from, else the
/// running executable.
pub fn original_exe() -> Option<PathBuf> {
    ORIGIN
        .get()
        .cloned()
        .or_else(|| std::env::current_exe().ok())
}

/// A sibling tool (berth-init) as a sealed copy, ready for [`exec_fd`]: it must sit beside
/// the original executable, and be static, since it runs inside the container's root.
pub fn sealed_tool(tool: &str) -> Result<OwnedFd, RuntimeError> {
    let dir = original_exe()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let path = dir.join(tool);
    let missing = |what: String| {
        RuntimeError::Invalid(format!(
            "{what}: --init needs {tool} installed beside berth-spawn (scripts/install.sh)"
        ))
    };
    let mut f = File::open(&path).map_err(|e| missing(format!("{}: {e}", path.display())))?;
    match elf::linkage(&mut f) {
        Ok(Linkage::Static) => {}
        Ok(Linkage::Dynamic) => {
            return Err(missing(format!(
                "{} is dynamically linked, but it runs inside the container, which has no host libc (build it with scripts/build-static.sh)",
                path.display()
            )));
        }
        Ok(Linkage::NotElf) => {
            return Err(missing(format!("{} is not an executable", path.display())));
        }
        Err(e) => return Err(sys(format!("reading {}", path.display()), e)),
    }
    let name = CString::new(tool.as_bytes()).unwrap_or_default();
    sealed_copy(&f, &name)
        .map_err(|e| sys(format!("making a sealed copy of {}", path.display()), e))
}

/// Whether this process runs from the read-only overlay [`reexec_sealed`] made.
fn runs_from_overlay() -> bool {
    ORIGIN.get().is_some()
        && File::open("/proc/self/exe").is_ok_and(|exe| is_on_readonly_overlay(&exe))
}

/// `tool` as a path to open: as given when it names a directory, else looked up on PATH (as
/// execvp would).
fn find_on_path(tool: &Path) -> PathBuf {
    if tool.components().count() > 1 {
        return tool.to_path_buf();
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| tool.to_path_buf())
}

/// Replaces this process with the host tool `path` (berth-monitor, which lives beside the
/// container for its whole life and, with `--pid host`, in its sight), run as berth-spawn
/// itself runs: through a read-only overlay of its directory when berth-spawn runs from
/// one, or took the dmz path (no copy: the page cache of the installed file is shared by
/// every monitor, so their memory stays as it was), else from a sealed memfd copy. `/proc/PID/exe` of it never leads
/// to a writable host file. `scratch` is the overlay's empty layer. Returns only on failure.
pub fn exec_tool(
    path: &Path,
    name: &CStr,
    args: &[CString],
    env: &[CString],
    scratch: &Path,
) -> RuntimeError {
    let path = find_on_path(path);
    if runs_from_overlay() || runs_unsealed() {
        match overlay_handle(&path, scratch) {
            Ok(handle) => {
                let e = exec_fd(&handle, args, env);
                log::debug!("exec of {} through an overlay failed ({e})", path.display());
            }
            Err(e) => log::debug!("no read-only overlay for {} ({e})", path.display()),
        }
    }
    let copy = File::open(&path).and_then(|f| sealed_copy(&f, name));
    match copy {
        Ok(copy) => sys(
            format!("exec {}", path.display()),
            exec_fd(&copy, args, env),
        ),
        Err(e) => sys(
            format!(
                "making a sealed copy of {} (CVE-2019-5736 protection)",
                path.display()
            ),
            e,
        ),
    }
}

/// This process' environment as `KEY=VALUE` C strings, for [`exec_fd`].
pub fn current_env() -> Vec<CString> {
    cstrings(std::env::vars_os().map(|(k, v)| {
        let mut kv = k;
        kv.push("=");
        kv.push(v);
        kv
    }))
}

/// The arguments of a tool exec'd with [`exec_fd`], as C strings.
pub fn argv<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Vec<CString> {
    cstrings(args.iter().map(|s| s.as_ref().to_os_string()))
}

/// `KEY=VALUE` strings as C strings.
pub fn envp(env: &[String]) -> Vec<CString> {
    env.iter()
        .filter_map(|s| CString::new(s.as_bytes()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};

    fn source(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn a_sealed_copy_has_the_bytes_and_refuses_every_write() {
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let copy = sealed_copy(&source(&bytes), c"test-copy").unwrap();
        assert!(is_sealed(&copy));
        let mut f = File::from(copy);
        let mut back = Vec::new();
        f.rewind().unwrap();
        f.read_to_end(&mut back).unwrap();
        assert!(
            back == bytes,
            "the copy has {} bytes, not the source's",
            back.len()
        );
        // Writing through the descriptor, or through a new one, fails: sealed.
        let e = f.write_all(b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
        let again = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", f.as_raw_fd()));
        if let Ok(mut w) = again {
            assert!(w.write_all(b"x").is_err());
        }
        assert!(f.set_len(1).is_err());
        assert!(f.set_len(bytes.len() as u64 + 1).is_err());
        // No seal can be removed or added.
        let more = fcntl(&f, FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_FUTURE_WRITE));
        assert_eq!(more, Err(Errno::EPERM));
    }

    /// Runs the sealed berth-dmz as `berth-dmz FD PATH ARGS`, FD one end of a seqpacket pair;
    /// returns its exit code and what came back on the other end before end-of-file.
    fn run_dmz(path: &str, args: &[&str]) -> (i32, Vec<u8>) {
        use std::os::unix::net::UnixDatagram;
        let dmz = dmz().unwrap();
        assert!(is_sealed(&dmz));
        let (ours, theirs) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            nix::sys::socket::SockFlag::empty(),
        )
        .unwrap();
        let fd = theirs.as_raw_fd();
        let status = std::process::Command::new(format!("/proc/self/fd/{}", dmz.as_raw_fd()))
            .arg(fd.to_string())
            .arg(path)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        drop(theirs);
        let ours = UnixDatagram::from(ours);
        let mut buf = [0u8; 64];
        let n = ours.recv(&mut buf).unwrap();
        (status.code().unwrap(), buf[..n].to_vec())
    }

    #[test]
    fn the_dmz_execs_the_command_and_reports_a_failed_exec_as_the_init_would() {
        // build.rs has the stubs for these: a build without the dmz there is a broken build
        // (no C compiler), not a reason to skip.
        let stubs = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));
        assert_eq!(
            has_dmz(),
            stubs,
            "berth-dmz was not built (see build.rs's warning)"
        );
        if !stubs {
            return;
        }
        // The command ran, and the channel closed at its exec: nothing came back.
        assert_eq!(run_dmz("/bin/sh", &["sh", "-c", "exit 7"]), (7, vec![]));
        let (code, msg) = run_dmz("/nonexistent", &["x"]);
        assert_eq!(code, 127);
        let m: crate::runtime::channel::ToParent = serde_json::from_slice(&msg).unwrap();
        assert!(
            matches!(
                m,
                crate::runtime::channel::ToParent::ExecFailed(libc::ENOENT)
            ),
            "{m:?}"
        );
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad");
        std::fs::write(&bad, b"not a program\n\0").unwrap();
        std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let (code, msg) = run_dmz(bad.to_str().unwrap(), &["bad"]);
        assert_eq!((code, msg), (126, br#"{"ExecFailed":8}"#.to_vec()));
        // Too few arguments, or a descriptor that is not a number: 127, and nothing run.
        assert_eq!(run_dmz("/bin/true", &[]).0, 127);
    }

    #[test]
    fn a_bundle_suits_the_dmz_only_with_a_new_pid_namespace_no_hook_inside_and_no_selinux_label() {
        let dir = tempfile::tempdir().unwrap();
        let suits = |config: &str| {
            std::fs::write(dir.path().join("config.json"), config).unwrap();
            dmz_suits_bundle(dir.path())
        };
        let new_pid = r#"{"linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}}"#;
        assert_eq!(suits(new_pid), has_dmz());
        assert!(!suits(r#"{"linux": {"namespaces": [{"type": "mount"}]}}"#));
        assert!(!suits(
            r#"{"linux": {"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}]}}"#
        ));
        assert!(!suits(
            r#"{"process": {"selinuxLabel": "system_u:system_r:container_t:s0"},
                "linux": {"namespaces": [{"type": "pid"}]}}"#
        ));
        assert!(!suits(
            r#"{"hooks": {"startContainer": [{"path": "/bin/true"}]},
                "linux": {"namespaces": [{"type": "pid"}]}}"#
        ));
        assert_eq!(
            suits(
                r#"{"hooks": {"prestart": [{"path": "/bin/true"}], "createContainer": []},
                    "linux": {"namespaces": [{"type": "pid"}]}}"#
            ),
            has_dmz()
        );
        assert!(!suits("{not json"));
    }

    #[test]
    fn an_ordinary_file_is_not_taken_for_a_sealed_copy() {
        assert!(!is_sealed(source(b"abc")));
        let unsealed = memfd_create(c"plain", MFdFlags::MFD_ALLOW_SEALING).unwrap();
        assert!(!is_sealed(&unsealed));
    }

    #[test]
    fn an_empty_file_copies_and_a_short_one_is_an_error() {
        let copy = sealed_copy(&source(b""), c"empty").unwrap();
        assert!(is_sealed(&copy));
        let dst = memfd_create(c"dst", MFdFlags::MFD_CLOEXEC).unwrap();
        let e = copy_in_kernel(&source(b"abc"), &dst, 10).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
