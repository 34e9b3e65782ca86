//! The monitor (tools/monitor, a tiny static binary) from berth-spawn's side: launching it
//! for a detached container ([`start_detached`]: a new session whose leader creates the
//! container and execs the monitor with [`berth_monitor_proto::args::Args`]). The hooks it asks
//! berth-spawn to run when the container's process ends live in [`super::restart`], the health
//! probe it runs on a timer (`--health`, the first probe's delay) in [`super::health`], so that
//! the monitor itself holds no record, JSON or runtime code and stays small. What passes
//! between the two (its command line, its ready line, the attach frames, descriptors) is
//! defined once, in `berth_monitor_proto`.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use berth_monitor_proto::{args::Args, ready};

use super::launch::{create_opts, fail_start, set_running};
use super::{ContainerError, bundle_path, runtime_root, sys};
use crate::error::{Code, Error};
use crate::paths::Paths;
use crate::protocol::ProcessSection;
use crate::runtime::{RuntimeError, exeseal, oci, process, signals};
use crate::state::Containers;

fn pipe() -> Result<(OwnedFd, OwnedFd), ContainerError> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(sys("pipe", std::io::Error::last_os_error()));
    }
    // SAFETY: pipe2 succeeded: both descriptors are new and owned only here.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Makes a descriptor survive exec (for the monitor); its number, for the command line.
fn inheritable(fd: &OwnedFd) -> RawFd {
    // SAFETY: a flag change on a descriptor we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, 0) };
    fd.as_raw_fd()
}

/// The container's stdio, and what the monitor keeps of it.
struct Stdio {
    /// What the container gets: stdin, stdout, stderr (none for a terminal's side).
    child: [Option<OwnedFd>; 3],
    /// The stdin pipe's write end (`-i`).
    stdin_w: Option<OwnedFd>,
    /// Without a terminal: the read ends of stdout and stderr, and their write ends (for
    /// restarts).
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
    stdout_w: Option<OwnedFd>,
    stderr_w: Option<OwnedFd>,
}

fn make_stdio(p: &ProcessSection) -> Result<Stdio, ContainerError> {
    let (stdin, stdin_w) = if p.interactive {
        let (r, w) = pipe()?;
        (r, Some(w))
    } else {
        let null = std::fs::File::open("/dev/null").map_err(|e| sys("open /dev/null", e))?;
        (null.into(), None)
    };
    if p.tty {
        return Ok(Stdio {
            child: [Some(stdin), None, None],
            stdin_w,
            stdout: None,
            stderr: None,
            stdout_w: None,
            stderr_w: None,
        });
    }
    let (or, ow) = pipe()?;
    let (er, ew) = pipe()?;
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| sys("dup", e));
    Ok(Stdio {
        child: [Some(stdin), Some(dup(&ow)?), Some(dup(&ew)?)],
        stdin_w,
        stdout: Some(or),
        stderr: Some(er),
        stdout_w: Some(ow),
        stderr_w: Some(ew),
    })
}

/// Detached: a new session whose leader creates the container and then becomes the
/// monitor (exec of berth-monitor, same pid, so the container stays its child).
/// With `client`, the monitor serves that socket end as an attached client from its first
/// output on.
pub fn start_detached(paths: &Paths, id: &str, client: Option<OwnedFd>) -> Result<(), Error> {
    let (r, w) = pipe()?;
    // SAFETY: berth-spawn is single-threaded here, so the child may go on to allocate, create
    // the container and exec.
    let first = unsafe { libc::fork() };
    if first < 0 {
        return Err(sys("fork", std::io::Error::last_os_error()).into());
    }
    if first == 0 {
        drop(r);
        // Double fork: the monitor must not be our child (we exit), nor our session's.
        // SAFETY: setsid and fork in the single-threaded child; the intermediate child
        // leaves with _exit, running no destructors or atexit handlers of its parent's.
        unsafe {
            libc::setsid();
            if libc::fork() != 0 {
                libc::_exit(0);
            }
        }
        // The monitor starts with no signal blocked: an attached client blocks the ones it
        // proxies (`attach::start_attached`) before it forks us.
        let _ = nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&nix::sys::signal::SigSet::empty()),
            None,
        );
        let err = become_monitor(paths, id, &w, client.as_ref());
        let line = ready::error_line(err.code().0, &err.one_line());
        let _ = (&std::fs::File::from(w)).write_all(line.as_bytes());
        // SAFETY: leaving the forked child without running the parent's destructors.
        unsafe { libc::_exit(1) };
    }
    drop(w);
    drop(client);
    // SAFETY: reaping our own child; no status wanted.
    unsafe { libc::waitpid(first, std::ptr::null_mut(), 0) };
    // One line: `ok`, or the error. Not end-of-file: the container may hold the pipe.
    let mut out = String::new();
    let _ = std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::fs::File::from(r)),
        &mut out,
    );
    if out.trim() == ready::OK {
        return Ok(());
    }
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    let code = v["code"].as_u64().unwrap_or(Code::IO.0 as u64) as u8;
    let message = v["message"]
        .as_str()
        .unwrap_or("the monitor died while starting the container");
    Err(Error::new(Code(code), message))
}

/// In the detached child: create and start the container, report, exec the monitor.
/// Returns only on failure.
fn become_monitor(paths: &Paths, id: &str, report: &OwnedFd, client: Option<&OwnedFd>) -> Error {
    let run = || -> Result<std::convert::Infallible, Error> {
        // SAFETY: prctl with integer arguments only.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        // SIGCHLD stays blocked (and pending) across the exec, for the monitor's signalfd.
        signals::block();
        let record = Containers::new(paths).load(id)?;
        let p = record.process.clone().unwrap_or_default();
        // The log driver's target (a syslog socket gone since create) is checked first.
        let sink = super::logdriver::sink(&record)?;
        let bundle = bundle_path(&record)?;
        let root = runtime_root(paths);
        let _ = oci::delete(&root, id, true);
        let mut stdio = make_stdio(&p)?;
        let child = std::mem::take(&mut stdio.child);
        let l = match process::create(create_opts(&root, id, &bundle, &p, Some(child))) {
            Ok(l) => l,
            Err(e) => return Err(fail_start(paths, &record, e)),
        };
        if let Err(e) = l.start() {
            let _ = oci::delete(&root, id, true);
            return Err(fail_start(paths, &record, e));
        }
        if let Err(e) = set_running(paths, id, l.state.pid, std::process::id() as i32, true) {
            // Another start got there first: this process must not run unwatched.
            let _ = oci::delete(&root, id, true);
            return Err(e);
        }
        let fd = |f: &Option<OwnedFd>| f.as_ref().map(inheritable);
        let sock = paths.attach_socket(id);
        if let Some(dir) = sock.parent() {
            let _ = crate::store::private::create_dir_all(dir);
        }
        let args = Args {
            stdin_w: fd(&stdio.stdin_w),
            stdout: fd(&stdio.stdout),
            stderr: fd(&stdio.stderr),
            stdout_w: fd(&stdio.stdout_w),
            stderr_w: fd(&stdio.stderr_w),
            tty: fd(&l.master),
            attach: Some(sock),
            client: client.map(inheritable),
            // The monitor says `ok` on the report pipe once it listens on the attach socket:
            // `run -d` returns only then, so an immediate `berth attach` finds it.
            ready: Some(inheritable(report)),
            health: super::health::first_delay(&record).map(|d| d.as_millis() as u64),
            sink,
            ..monitor_args(paths, id, &p, l.state.pid)
        };
        let devnull = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null");
        if let Ok(n) = devnull {
            let n = n.into_raw_fd();
            for fd in 0..3 {
                // SAFETY: dup2 onto our own stdio; `n` stays open for the monitor's exec.
                unsafe { libc::dup2(n, fd) };
            }
        }
        let exe = crate::paths::tool_path("berth-monitor");
        let err = exec_monitor(paths, &exe, &args);
        // The container runs but nobody watches it: say so in the record.
        let _ = Containers::new(paths).update(id, |r| {
            if let Some(s) = r.state.as_mut() {
                s.monitor_pid = 0;
                s.error = format!("cannot run {}: {err}", exe.display());
            }
            Ok::<_, Error>(())
        });
        Err(err.into())
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Execs berth-monitor, never from its host file: it lives as long as the container, and
/// `--pid host` with SYS_PTRACE could open `/proc/<monitor>/exe` and write through it once
/// the monitor is gone (CVE-2019-5736). `runtime::exeseal::exec_tool` runs it through a
/// read-only overlay (as berth-spawn runs), else from a sealed copy.
fn exec_monitor(paths: &Paths, exe: &Path, args: &Args) -> RuntimeError {
    let mut argv = vec![exe.as_os_str().to_os_string()];
    argv.extend(args.to_argv());
    exeseal::exec_tool(
        exe,
        c"berth-monitor",
        &exeseal::argv(&argv),
        &exeseal::current_env(),
        &paths.run.join(".exeseal"),
    )
}

/// The monitor's command line without its descriptors (everything it needs, so it never
/// parses a record).
fn monitor_args(paths: &Paths, id: &str, p: &ProcessSection, pid: i32) -> Args {
    // Log rotation defaults (`--log-opt max-size`, `max-file`): berth rotates by default.
    let (default_size, default_files) = super::logdriver::defaults(&p.log_driver);
    let max_size = p
        .log_opts
        .get("max-size")
        .map(String::as_str)
        .unwrap_or(default_size);
    let max_size = crate::units::size::parse_limit(max_size)
        .unwrap_or(10 << 20)
        .max(0);
    let max_file = p
        .log_opts
        .get("max-file")
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_files)
        .max(1);
    let spawn = exeseal::original_exe().unwrap_or_else(|| PathBuf::from("berth-spawn"));
    Args {
        id: id.to_string(),
        pid,
        log: paths.log(id),
        max_size: max_size as u64,
        max_file,
        spawn,
        root: paths.root.clone(),
        run_root: paths.run.clone(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monitor_parses_the_command_line_spawn_writes() {
        let paths = Paths::new("/var/lib/berth", "/run/berth");
        let mut p = ProcessSection::default();
        let defaults = monitor_args(&paths, "abc", &p, 77);
        assert_eq!((defaults.max_size, defaults.max_file), (10 << 20, 3));
        p.log_opts.insert("max-size".into(), "1m".into());
        p.log_opts.insert("max-file".into(), "0".into());
        let a = Args {
            stdout: Some(5),
            stderr: Some(6),
            ready: Some(9),
            attach: Some(paths.attach_socket("abc")),
            ..monitor_args(&paths, "abc", &p, 77)
        };
        let back = Args::parse(a.to_argv()).unwrap();
        assert_eq!(back, a);
        assert_eq!((back.max_size, back.max_file, back.pid), (1 << 20, 1, 77));
        assert_eq!(back.log, paths.log("abc"));
        // `--log-opt max-size=-1`: no rotation, which the monitor reads as 0.
        p.log_opts.insert("max-size".into(), "-1".into());
        let a = monitor_args(&paths, "abc", &p, 77);
        assert_eq!(Args::parse(a.to_argv()).unwrap().max_size, 0);
    }
}
