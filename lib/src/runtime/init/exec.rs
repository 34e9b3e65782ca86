//! The last steps of the container's init: rlimits, identity (groups, gid, uid) with the
//! capability sets around the uid change, no_new_privs, seccomp, the command lookup with
//! Docker's 126/127 semantics, the descriptors closed and the working directory checked, a
//! clean signal state and the `execve` (of the command, or of berth-init with `--init`).

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::prctl;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{AccessFlags, Gid, Uid, access, execve, setgroups, setresgid, setresuid};
use oci_spec::runtime::{PosixRlimit, Process};

use crate::error::Code;
use crate::runtime::caps::Sets;
use crate::runtime::exeseal;

/// A failure with the exit code Docker gives it.
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            code: Code::INVALID_CONFIG.0,
            message,
        }
    }
}

fn resource(name: &str) -> Option<Resource> {
    Some(match name {
        "RLIMIT_AS" => Resource::RLIMIT_AS,
        "RLIMIT_CORE" => Resource::RLIMIT_CORE,
        "RLIMIT_CPU" => Resource::RLIMIT_CPU,
        "RLIMIT_DATA" => Resource::RLIMIT_DATA,
        "RLIMIT_FSIZE" => Resource::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => Resource::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => Resource::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => Resource::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => Resource::RLIMIT_NICE,
        "RLIMIT_NOFILE" => Resource::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => Resource::RLIMIT_NPROC,
        "RLIMIT_RSS" => Resource::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => Resource::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => Resource::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => Resource::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => Resource::RLIMIT_STACK,
        _ => return None,
    })
}

/// An errno as the same message `std::io::Error::last_os_error()` gives.
fn os(e: Errno) -> std::io::Error {
    std::io::Error::from(e)
}

/// Sets the rlimits, never above the hard limit berth itself runs under: raising a hard
/// limit needs CAP_SYS_RESOURCE in the initial namespace and is not ours to grant (Podman's
/// default nofile of 1048576 fails on hosts whose hard limit is lower).
pub fn rlimits(limits: &[PosixRlimit]) -> Result<(), String> {
    for l in limits {
        let name = serde_json::to_value(l.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let Some(res) = resource(&name) else {
            return Err(format!("unknown rlimit {name}"));
        };
        let own_hard = getrlimit(res).map_or(0, |(_, hard)| hard);
        let hard = l.hard().min(own_hard);
        let soft = l.soft().min(hard);
        setrlimit(res, soft, hard).map_err(|e| format!("setrlimit {name}: {}", os(e)))?;
    }
    Ok(())
}

/// Changes to the process' user, keeping the capabilities the config asks for.
pub fn identity(process: &Process, sets: &Sets) -> Result<(), String> {
    sets.apply_bounding()?;
    let user = process.user();
    let gids: Vec<Gid> = (user.additional_gids().clone().unwrap_or_default())
        .into_iter()
        .map(Gid::from_raw)
        .collect();
    // EPERM when setgroups is denied in a user namespace: only fatal if asked for.
    if let Err(e) = setgroups(&gids)
        && !gids.is_empty()
    {
        return Err(format!("setgroups: {}", os(e)));
    }
    let _ = prctl::set_keepcaps(true);
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).map_err(|e| format!("setgid {}: {}", user.gid(), os(e)))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).map_err(|e| format!("setuid {}: {}", user.uid(), os(e)))?;
    let _ = prctl::set_keepcaps(false);
    umask(Mode::from_bits_truncate(
        user.umask().unwrap_or(0o022) as libc::mode_t
    ));
    sets.apply_rest()
}

pub fn no_new_privs() -> Result<(), String> {
    prctl::set_no_new_privs().map_err(|e| format!("no_new_privs: {}", os(e)))
}

/// Loads a compiled filter (an array of `sock_filter`).
pub fn load_seccomp(bpf: &[u8]) -> Result<(), String> {
    let prog = libc::sock_fprog {
        len: (bpf.len() / std::mem::size_of::<libc::sock_filter>()) as u16,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // libc, not nix: nix has no seccomp call.
    // SAFETY: `prog` points at `bpf`, which both outlive the call; the kernel copies the
    // filter before prctl returns and checks that it is well-formed.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if r < 0 {
        return Err(format!(
            "loading seccomp filter: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn env_value<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .find_map(|e| e.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// Finds the command like Docker (runc's LookPath in the container's PATH): 127 when it
/// does not exist, 126 when it exists but cannot be executed.
pub fn lookup(process: &Process) -> Result<PathBuf, Failure> {
    let args = process.args().clone().unwrap_or_default();
    let Some(arg0) = args.first() else {
        return Err(Failure {
            code: Code::INVALID_CONFIG.0,
            message: "no command given (the image has no CMD or ENTRYPOINT; pass one)".into(),
        });
    };
    let env = process.env().clone().unwrap_or_default();
    let not_found = |m: String| Failure {
        code: Code::COMMAND_NOT_FOUND.0,
        message: m,
    };
    let cannot = |m: String| Failure {
        code: Code::CANNOT_EXECUTE.0,
        message: m,
    };
    let check = |p: &Path| -> Result<(), std::io::Error> {
        let m = std::fs::metadata(p)?;
        if m.is_dir() {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        Ok(access(p, AccessFlags::X_OK)?)
    };
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match check(&p) {
            Ok(()) => Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found(format!(
                "exec: \"{arg0}\": stat {arg0}: no such file or directory"
            ))),
            Err(_) => Err(cannot(format!("exec: \"{arg0}\": permission denied"))),
        };
    }
    let path = env_value(&env, "PATH").unwrap_or(crate::runtime::defaults::PATH);
    let mut denied = None;
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(arg0);
        match check(&p) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                denied.get_or_insert(p);
            }
            Err(_) => {}
        }
    }
    if denied.is_some() {
        return Err(cannot(format!("exec: \"{arg0}\": permission denied")));
    }
    Err(not_found(format!(
        "exec: \"{arg0}\": executable file not found in $PATH"
    )))
}

/// The environment, with HOME from the container's /etc/passwd when the config has none
/// (Docker and runc do this).
pub fn environment(process: &Process) -> Vec<String> {
    let mut env = process.env().clone().unwrap_or_default();
    if env_value(&env, "HOME").is_none() {
        let uid = process.user().uid();
        let home = std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 6 && f[2] == uid.to_string()).then(|| f[5].to_string())
                })
            })
            .unwrap_or_else(|| "/".into());
        env.push(format!("HOME={home}"));
    }
    env
}

/// Every signal back to its default action and an empty mask: berth-spawn blocks signals to
/// read them from a signalfd, and Rust's runtime ignores SIGPIPE; neither may leak into the
/// container (a `yes | head` that never ends is the classic symptom).
pub fn reset_signals() {
    // libc, not nix: nix's `Signal` has no real-time signals (32-64), which need resetting too.
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler of ours, so no code of this process can run in
        // signal context; the init is single-threaded and about to exec.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Marks every descriptor above the preserved ones close-on-exec.
pub fn close_fds(preserve: i32) {
    let first = 3 + preserve.max(0) as u32;
    // libc, not nix: nix has no close_range, and the fallback works on raw numbers from
    // /proc/self/fd that no object of ours owns.
    // SAFETY: only descriptor flags of this process change; nothing is closed or freed.
    unsafe {
        if libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        ) < 0
        {
            // Old kernels: do it by hand.
            for fd in open_fds().into_iter().filter(|&fd| fd >= first as i32) {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        for fd in 3..first as i32 {
            libc::fcntl(fd, libc::F_SETFD, 0);
        }
    }
}

fn open_fds() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Closes every descriptor above stdio and the preserved ones, except `keep` (berth's own,
/// none of them a directory): whatever the caller leaked into berth-spawn, and whatever the
/// setup opened, is gone before the chdir (CVE-2024-21626).
pub fn close_fds_except(preserve: i32, keep: &[i32]) {
    let first = 3 + preserve.max(0) as u32;
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&k| k >= first as i32)
        .map(|&k| k as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let close = |lo: u32, hi: u32| {
        // SAFETY: closes descriptors no live object of this process owns any more: the
        // setup's files are dropped, and Args' descriptors are never used (nor dropped: the
        // process execs or _exits) after this point.
        let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) };
        if r < 0 {
            for fd in open_fds() {
                if fd >= 0 && (lo..=hi).contains(&(fd as u32)) {
                    // SAFETY: as above.
                    unsafe { libc::close(fd) };
                }
            }
        }
    };
    let mut lo = first;
    for k in keep {
        if k > lo {
            close(lo, k - 1);
        }
        lo = k + 1;
    }
    close(lo, u32::MAX);
}

/// chdir to the process' cwd, then makes sure it is inside our root, as runc does since
/// CVE-2024-21626: a cwd reached through a host descriptor (`/proc/self/fd/N`) has no path
/// from the root, and getcwd(3) says so (ENOENT, or a path that does not start with `/`).
pub fn enter_cwd(cwd: &Path) -> Result<(), Failure> {
    std::env::set_current_dir(cwd).map_err(|e| Failure {
        code: Code::CANNOT_EXECUTE.0,
        message: format!(
            "chdir to cwd (\"{}\") set in config.json failed: {e}",
            cwd.display()
        ),
    })?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        other => Err(Failure {
            code: Code::CANNOT_EXECUTE.0,
            message: format!(
                "the working directory {:?} is outside the container's root ({}): refusing to start (possible container breakout: a descriptor leaked into berth-spawn?)",
                cwd.display().to_string(),
                match other {
                    Ok(p) => format!("getcwd says {}", p.display()),
                    Err(e) => format!("getcwd: {e}"),
                }
            ),
        }),
    }
}

fn cstrings(v: &[String]) -> Vec<CString> {
    v.iter()
        .map(|s| CString::new(s.as_bytes()).unwrap_or_default())
        .collect()
}

/// execve; returns only on failure, with Docker's code for it.
pub fn exec(path: &Path, args: &[String], env: &[String]) -> Failure {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
    let a = cstrings(args);
    let e = cstrings(env);
    let Err(errno) = execve(&p, &a, &e);
    exec_failure(args.first().map_or("", |s| s.as_str()), errno as i32)
}

/// The failure of the command's execve with `errno`: 127 for a missing file, else 126. Also
/// what berth-spawn makes of berth-dmz's report (`ToParent::ExecFailed`).
pub fn exec_failure(arg0: &str, errno: i32) -> Failure {
    let errno = Errno::from_raw(errno);
    let code = if os(errno).kind() == std::io::ErrorKind::NotFound {
        Code::COMMAND_NOT_FOUND.0
    } else {
        Code::CANNOT_EXECUTE.0
    };
    Failure {
        code,
        message: format!("exec: \"{arg0}\": {}", go_text(errno)),
    }
}

/// An errno as Go (runc, Docker) words it: the C library's text with a lower-case first
/// letter and no "(os error N)", as in `exec: "/bin/x": exec format error`.
fn go_text(errno: Errno) -> String {
    let desc = errno.desc();
    let mut chars = desc.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {}", errno as i32),
    }
}

/// Execs the command through berth-dmz (`dmz`, a sealed memfd: `runtime::exeseal`) as
/// `berth-dmz CHAN PATH ARGS...`. The channel stays open across the dmz's own exec, which
/// makes it close-on-exec again before the command's: berth-spawn still reads its
/// end-of-file at the command's execve, or the dmz's `ExecFailed`. Returns only on failure.
pub fn exec_via_dmz(
    dmz: &OwnedFd,
    chan: i32,
    path: &Path,
    args: &[String],
    env: &[String],
) -> Failure {
    let failed = |e: Errno| Failure {
        code: Code::CANNOT_EXECUTE.0,
        message: format!("exec berth-dmz: {}", os(e)),
    };
    // SAFETY: `chan` is the init's channel, open for as long as this process runs.
    let chan_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(chan) };
    if let Err(e) = nix::fcntl::fcntl(
        chan_fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    ) {
        return failed(e);
    }
    let mut argv = vec![
        CString::from(c"berth-dmz"),
        CString::new(chan.to_string()).unwrap_or_default(),
        CString::new(path.as_os_str().as_bytes()).unwrap_or_default(),
    ];
    argv.extend(cstrings(args));
    let env = cstrings(env);
    // execve of /proc/self/fd/N when /proc is procfs, first (`exeseal::exec_fd` tries
    // execveat first): a seccomp profile that allows the command's execve need not allow
    // execveat. Otherwise (a config that mounts no procfs there: the path is then the
    // image's, and could lead anywhere) execveat alone, which walks no path.
    if exeseal::proc_is_procfs() {
        let through_proc = CString::new(format!("/proc/self/fd/{}", dmz.as_raw_fd()));
        let Err(e) = execve(&through_proc.unwrap_or_default(), &argv, &env);
        return failed(e);
    }
    let Err(e) = nix::unistd::execveat(dmz, c"", &argv, &env, nix::fcntl::AtFlags::AT_EMPTY_PATH);
    failed(e)
}

/// The environment variable that tells berth-init which file to run (the path this init
/// found with Docker's lookup); berth-init removes it before the exec. Also defined in
/// tools/init/src/main.rs.
pub const INIT_EXEC_ENV: &str = "BERTH_INIT_EXEC";

/// `--init`: execs berth-init (a sealed copy, `runtime::exeseal`) as `berth-init -- ARGS`;
/// it runs the command as its child, forwards signals, reaps zombies and exits with the
/// command's status. Returns only on failure.
pub fn exec_init(init: &OwnedFd, path: &Path, args: &[String], env: &[String]) -> Failure {
    let mut argv = vec!["berth-init".to_string(), "--".to_string()];
    argv.extend_from_slice(args);
    let mut env = env.to_vec();
    env.push(format!("{INIT_EXEC_ENV}={}", path.display()));
    let e = exeseal::exec_fd(init, &exeseal::argv(&argv), &exeseal::envp(&env));
    Failure {
        code: Code::CANNOT_EXECUTE.0,
        message: format!("exec berth-init (--init): {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exec_failure_is_worded_as_runc_words_it() {
        let f = exec_failure("/bin/junk", libc::ENOEXEC);
        assert_eq!(
            (f.code, f.message.as_str()),
            (
                Code::CANNOT_EXECUTE.0,
                "exec: \"/bin/junk\": exec format error"
            )
        );
        let f = exec_failure("x", libc::ENOENT);
        assert_eq!(
            (f.code, f.message.as_str()),
            (
                Code::COMMAND_NOT_FOUND.0,
                "exec: \"x\": no such file or directory"
            )
        );
        assert_eq!(
            exec_failure("x", libc::EACCES).message,
            "exec: \"x\": permission denied"
        );
    }
}
