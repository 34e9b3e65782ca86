//! Attacks on the container boundary through berth-spawn's own processes (issue 12, items 1,
//! 2, 8, 9, and their follow-ups), each performed from inside a container as an image would,
//! each shown to fail, with the feature it abused still working and nothing left behind:
//!
//! - CVE-2019-5736: `/proc/PID/exe` of an exec'd process waiting for its start, of
//!   `--init`'s PID 1, and of a detached container's berth-monitor must not lead to a
//!   writable host binary (also with SYS_PTRACE);
//! - the caller's terminal: `exec` without `-t` has no controlling terminal, TIOCSTI cannot
//!   type into the caller's; a foreground `run` without `-t` gets pipes, not the terminal;
//! - CVE-2024-21626: a descriptor leaked into berth-spawn cannot be the working directory
//!   (`-w`, an image's WORKDIR, a preserved descriptor);
//! - the cgroup namespace is rooted at the container's own cgroup.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use berth_e2e::argv;
use berth_e2e::session::Session;
use berth_e2e::until;
use berth_e2e::world::edit_config;
use berth_e2e::{bin_dir, probe};

/// The host binaries a container must never be able to change, with their digests.
fn host_binaries() -> Vec<(PathBuf, String)> {
    ["berth-spawn", "berth-init", "berth-monitor"]
        .iter()
        .map(|t| {
            let p = bin_dir().join(t);
            let d = berth::digest::sha256(&std::fs::read(&p).unwrap());
            (p, d)
        })
        .collect()
}

#[track_caller]
fn assert_unchanged(before: &[(PathBuf, String)]) {
    for (p, d) in before {
        let now = berth::digest::sha256(&std::fs::read(p).unwrap());
        assert_eq!(&now, d, "{} changed", p.display());
    }
}

/// The directory shared with the containers as /probe: the probe, and the attacks' files.
fn probe_dir(b: &Session) -> PathBuf {
    let dir = b.w.env.dir().join("probe");
    if !dir.join("escape-probe").exists() {
        probe::build(&dir);
    }
    dir
}

/// A container running `sleep`, with the probe directory at /probe.
fn victim(b: &Session, name: &str, flags: &[&str]) -> String {
    let vol = format!("{}:/probe", probe_dir(b).display());
    let mut args = vec!["--name", name, "-v", &vol];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sleep", "1000"]);
    b.detach(&args)
}

/// The probe's `exe` attack (escape_probe.c), run in a container with `exec -d`, so that no
/// berth-spawn runs while it waits (a running executable cannot be opened for writing), and
/// driven through files in its directory.
struct Attack {
    dir: PathBuf,
}

impl Attack {
    fn start(b: &Session, container: &str, name: &str) -> Attack {
        let dir = probe_dir(b).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let inside = format!("/probe/{name}");
        b.ok(&argv!(
            "exec -d {} /probe/escape-probe exe {}",
            container,
            &inside
        ));
        Attack { dir }
    }

    fn wait_for(&self, file: &str) -> Vec<String> {
        let p = self.dir.join(file);
        until(file, || std::fs::read_to_string(&p).ok())
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Aims at `pid` (as the container sees it); returns once the probe holds its handle, or
    /// failed to get one, with what it printed.
    fn aim(&self, pid: &str) -> Vec<String> {
        // Renamed into place: the probe must never read a half-written pid.
        let tmp = self.dir.join("target.tmp");
        std::fs::write(&tmp, pid).unwrap();
        std::fs::rename(&tmp, self.dir.join("target")).unwrap();
        self.wait_for("opened")
    }

    /// Lets the probe try to write; returns everything it printed.
    fn finish(self) -> Vec<String> {
        let mut lines = self.wait_for("opened");
        std::fs::write(self.dir.join("go"), "").unwrap();
        lines.extend(self.wait_for("result"));
        lines
    }
}

/// Asserts that the probe reached no writable binary: wherever it got a handle, it is not a
/// host binary's path (but a sealed in-memory copy, or the binary seen through a read-only
/// overlay of its own), and every write failed.
#[track_caller]
fn assert_attack_failed(lines: &[String]) {
    let host: Vec<PathBuf> = host_binaries().into_iter().map(|(p, _)| p).collect();
    if let Some(t) = line(lines, "target").filter(|t| t.starts_with('/')) {
        assert!(
            !host.iter().any(|h| Path::new(t) == h),
            "a host binary is visible: {lines:?}"
        );
    }
    for step in ["write", "write-direct"] {
        assert_ne!(line(lines, step), Some("ok"), "{step}: {lines:?}");
    }
}

fn line<'a>(lines: &'a [String], step: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(step)?.strip_prefix(": "))
}

/// A console socket that nobody accepts from: its queue (backlog 0) is full, so `exec
/// --console-socket` blocks in connect(2) with its process set up and waiting for the start
/// message, for as long as the test wants.
struct Stall {
    listener: OwnedFd,
    _queued: UnixStream,
    path: PathBuf,
}

impl Stall {
    fn new(path: PathBuf) -> Stall {
        use nix::sys::socket::{
            AddressFamily, Backlog, SockFlag, SockType, UnixAddr, bind, listen, socket,
        };
        let listener = socket(
            AddressFamily::Unix,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        bind(listener.as_raw_fd(), &UnixAddr::new(&path).unwrap()).unwrap();
        listen(&listener, Backlog::new(0).unwrap()).unwrap();
        let queued = UnixStream::connect(&path).unwrap();
        Stall {
            listener,
            _queued: queued,
            path,
        }
    }

    /// Accepts the queued connections, which lets the stalled connect through. The
    /// connections are returned: the terminal's master travels in one of them, and the
    /// container's side hangs up (SIGHUP) once the last master is closed.
    fn release(&self) -> Vec<OwnedFd> {
        (0..2)
            .map(|_| nix::sys::socket::accept(&self.listener).unwrap())
            .collect()
    }
}

/// Whether `pid` is blocked in connect(2) (/proc/PID/syscall starts with its number).
fn in_connect(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|s| s.split(' ').next() == Some(&libc::SYS_connect.to_string()))
}

/// The pid of `pid`'s only child, as the container sees it (NSpid's last field).
fn child_in_container(pid: u32) -> String {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let child = children.split_whitespace().next().expect("a child");
    let status = std::fs::read_to_string(format!("/proc/{child}/status")).unwrap();
    let nspid = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .unwrap();
    nspid.split_whitespace().last().unwrap().to_string()
}

/// CVE-2019-5736 against `exec`: while an exec'd process waits for its start message, a
/// process in the container opens its /proc/PID/exe, waits until the exec is over, and tries
/// to write through the handle.
fn exec_during_its_wait(caps: &[&str]) {
    let b = Session::new();
    let id = victim(&b, "victim", caps);
    let before = host_binaries();
    let attack = Attack::start(&b, "victim", "exec");
    let stall = Stall::new(b.w.env.dir().join("console.sock"));
    let mut waiting = b
        .cmd("berth")
        .arg("exec")
        .arg("-t")
        .arg("--console-socket")
        .arg(&stall.path)
        .args(["victim", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = waiting.id();
    until("berth exec stalled on its console socket", || {
        in_connect(pid).then_some(())
    });
    attack.aim(&child_in_container(pid));
    // The exec goes through, and berth-spawn exits, while the probe holds its handle.
    let connections = stall.release();
    let st = waiting.wait().unwrap();
    drop(connections);
    let mut err = String::new();
    waiting
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(st.success(), "the stalled exec failed: {st:?}\n{err}");
    let lines = attack.finish();
    assert_attack_failed(&lines);
    if caps.is_empty() {
        // Not dumpable: the container cannot even look.
        assert_eq!(line(&lines, "open-exe"), Some("EACCES"), "{lines:?}");
    } else {
        // CAP_SYS_PTRACE overrides that, and finds berth-spawn through a read-only overlay
        // of its own (or, without overlayfs, a sealed copy).
        let t = line(&lines, "target").unwrap_or_default();
        assert!(
            ["/berth-spawn", "/memfd:berth-spawn (deleted)"].contains(&t),
            "{lines:?}"
        );
        if t == "/berth-spawn" {
            assert_eq!(line(&lines, "reopen-rw"), Some("EROFS"), "{lines:?}");
        }
    }
    assert_unchanged(&before);
    // exec still works, and so does -t.
    assert_eq!(b.ok(&["exec", "victim", "echo", "ok"]), "ok\n");
    assert!(
        b.ok(&["exec", "-t", "victim", "tty"])
            .starts_with("/dev/pts/"),
        "exec -t has a terminal"
    );
    b.ok(&["rm", "-f", "victim"]);
    b.assert_clean(&[&id]);
}

#[test]
fn an_exec_waiting_for_its_start_exposes_no_host_binary() {
    exec_during_its_wait(&[]);
}

#[test]
fn an_exec_waiting_for_its_start_exposes_no_host_binary_even_to_sys_ptrace() {
    exec_during_its_wait(&["--cap-add", "SYS_PTRACE"]);
}

/// CVE-2019-5736 against `--init`: PID 1 is berth-init from a sealed copy, for its whole life.
fn init_pid_1(caps: &[&str]) {
    let b = Session::new();
    let mut flags = vec!["--init"];
    flags.extend_from_slice(caps);
    let id = victim(&b, "inited", &flags);
    let before = host_binaries();
    let attack = Attack::start(&b, "inited", "init");
    attack.aim("1");
    let lines = attack.finish();
    assert_attack_failed(&lines);
    assert_eq!(
        line(&lines, "target"),
        Some("/memfd:berth-init (deleted)"),
        "{lines:?}"
    );
    assert_unchanged(&before);
    // berth-init is PID 1 and says so; the command is its child.
    let ps = b.ok(&["exec", "inited", "ps", "-o", "pid,ppid,comm,args"]);
    let pid1 = ps
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(
        pid1.contains("berth-init") && pid1.contains("-- sleep 1000"),
        "{ps}"
    );
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>() == ["2", "1", "sleep"]),
        "{ps}"
    );
    // It reaps orphans: a background child of an exec'd shell comes to PID 1 when the
    // shell exits, and must not stay a zombie once it ends.
    b.ok(&["exec", "inited", "sh", "-c", "sleep 0.2 & exit 0"]);
    until("the orphan reaped", || {
        let ps = b.ok(&["exec", "inited", "ps", "-o", "stat,args"]);
        let left = ps
            .lines()
            .any(|l| l.contains("sleep 0.2") || l.trim_start().starts_with('Z'));
        (!left).then_some(())
    });
    // It forwards the stop signal to the command and exits with its status.
    b.ok(&["stop", "inited"]);
    assert_eq!(b.ok(&["wait", "inited"]), "143\n");
    b.ok(&["rm", "inited"]);
    b.assert_clean(&[&id]);
}

#[test]
fn init_pid_1_is_a_sealed_berth_init() {
    init_pid_1(&[]);
}

#[test]
fn init_pid_1_is_a_sealed_berth_init_even_to_sys_ptrace() {
    init_pid_1(&["--cap-add", "SYS_PTRACE"]);
}

#[test]
fn init_passes_exit_codes_and_signals_through() {
    let b = Session::new();
    let r = b.berth(&["run", "--rm", "--init", "busybox", "sh", "-c", "exit 7"]);
    r.fails_with(7);
    let r = b.berth(&["run", "--rm", "--init", "busybox", "sh", "-c", "kill -9 $$"]);
    r.fails_with(137);
    // 127 for a missing command is reported before berth-init runs.
    let r = b.berth(&["run", "--rm", "--init", "busybox", "nosuchcommand"]);
    assert!(r.fails_with(127).error_line().contains("nosuchcommand"));
    b.assert_clean(&[]);
}

/// A user's terminal: a pty whose slave is the controlling terminal (of a new session) and
/// the stdio of what runs on it; raw, so that a typed character counts as input at once.
struct CallerTerminal {
    master: std::fs::File,
    slave: OwnedFd,
    /// What the terminal showed since the last command started.
    shown: Vec<u8>,
}

impl CallerTerminal {
    fn new() -> CallerTerminal {
        use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
        let pty = nix::pty::openpty(None, None).unwrap();
        let mut t = tcgetattr(&pty.slave).unwrap();
        cfmakeraw(&mut t);
        tcsetattr(&pty.slave, SetArg::TCSANOW, &t).unwrap();
        let flags = nix::fcntl::OFlag::O_NONBLOCK;
        nix::fcntl::fcntl(&pty.master, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
        CallerTerminal {
            master: pty.master.into(),
            slave: pty.slave,
            shown: Vec::new(),
        }
    }

    /// Ctrl-C, Ctrl-\ and Ctrl-Z make signals, as on a terminal a shell left as it found it.
    fn cooked(&mut self) {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        let mut t = tcgetattr(&self.slave).unwrap();
        t.local_flags |= LocalFlags::ISIG;
        tcsetattr(&self.slave, SetArg::TCSANOW, &t).unwrap();
    }

    /// Starts `berth ARGS` on the terminal, in a session of its own whose controlling
    /// terminal it is.
    fn spawn(&mut self, b: &Session, args: &[&str]) -> std::process::Child {
        self.shown.clear();
        let mut c = b.cmd("berth");
        let fd = || Stdio::from(self.slave.try_clone().unwrap());
        c.args(args).stdin(fd()).stdout(fd()).stderr(fd());
        // SAFETY: setsid and ioctl between fork and exec.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        c.spawn().unwrap()
    }

    fn type_bytes(&mut self, input: &[u8]) {
        self.master.write_all(input).unwrap();
    }

    /// Everything the terminal showed since the command started.
    fn read_more(&mut self) -> String {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.master.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.shown.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&self.shown).into_owned()
    }

    /// Runs `berth ARGS` on the terminal, types `input`; returns its status and everything
    /// the terminal showed.
    fn run(
        &mut self,
        b: &Session,
        args: &[&str],
        input: &[u8],
    ) -> (std::process::ExitStatus, String) {
        let mut child = self.spawn(b, args);
        self.type_bytes(input);
        let status = until("the command on the terminal", || {
            self.read_more();
            child.try_wait().unwrap()
        });
        (status, self.read_more())
    }

    /// Input waiting to be read by the terminal's programs (typed, or injected).
    fn pending_input(&self) -> libc::c_int {
        let mut pending: libc::c_int = 0;
        // SAFETY: FIONREAD writes an int.
        unsafe { libc::ioctl(self.slave.as_raw_fd(), libc::FIONREAD, &mut pending) };
        pending
    }

    /// Drops the input nobody read.
    fn flush_input(&self) {
        nix::sys::termios::tcflush(&self.slave, nix::sys::termios::FlushArg::TCIFLUSH).unwrap();
    }

    /// Whether the terminal drops carriage returns (IGNCR, off in raw mode).
    fn ignores_cr(&self) -> bool {
        let t = nix::sys::termios::tcgetattr(&self.slave).unwrap();
        t.input_flags.contains(nix::sys::termios::InputFlags::IGNCR)
    }
}

/// `berth exec` (no -t) typed at a terminal: the exec'd process has a session of its own, no
/// controlling terminal, no descriptor of the caller's terminal, and types nothing into it;
/// its output and input still go through (relayed by berth-spawn).
#[test]
fn exec_without_t_has_no_controlling_terminal() {
    let b = Session::new();
    let id = victim(&b, "victim", &[]);
    let mut term = CallerTerminal::new();
    let (st, text) = term.run(&b, &["exec", "victim", "/probe/escape-probe", "tty"], b"");
    assert!(st.success(), "{st:?}: {text}");
    assert_holds_no_terminal(&term, &text);
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(line(&lines, "session-leader"), Some("yes"), "{text}");
    // -i without -t: what is typed reaches the process, through a pipe.
    let (st, text) = term.run(
        &b,
        &argv!("exec -i victim sh -c 'read x; echo got $x; [ -t 0 ] || echo pipe'"),
        b"typed\n",
    );
    assert!(st.success(), "{st:?}: {text}");
    assert_eq!(text, "got typed\npipe\n");
    // With -t, the container's own pty is the controlling terminal.
    let text = b.ok(&["exec", "-t", "victim", "/probe/escape-probe", "tty"]);
    assert!(!text.contains("tty_nr: 0\r"), "{text}");
    assert!(text.contains("open-devtty: ok"), "{text}");
    b.ok(&["rm", "-f", "victim"]);
    b.assert_clean(&[&id]);
}

/// A host directory, open as fd 3 in the caller, with a file in it.
fn host_dir(b: &Session) -> PathBuf {
    let d = b.w.env.dir().join("hostdir");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("host-secret"), "secret").unwrap();
    d
}

#[track_caller]
fn assert_refused_workdir(r: berth_e2e::Run, host: &Path) {
    let r = r.fails_with(126);
    let e = r.error_line();
    assert!(e.contains("/proc/self/fd/3"), "{e}");
    assert!(!r.stdout.contains("host-secret"), "{}", r.stdout);
    let left: Vec<_> = std::fs::read_dir(host).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "the container wrote into the host directory");
}

#[test]
fn a_leaked_descriptor_cannot_be_the_working_directory() {
    let b = Session::new();
    let host = host_dir(&b);
    let leak = |args: &str| b.sh(&format!("exec 3<'{}'; berth {args}", host.display()));
    // -w on run.
    let r = leak("run --rm -w /proc/self/fd/3 busybox sh -c 'ls; touch pwned'");
    assert_refused_workdir(r, &host);
    // An image's WORKDIR.
    let dir = b.w.env.dir();
    let tree = dir.join("tree");
    berth_e2e::fixtures::populate_busybox(&tree);
    let tarball = dir.join("tree.tar");
    berth_e2e::fixtures::must(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&tree)
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
    );
    b.ok(&argv!(
        "import -c 'WORKDIR /proc/self/fd/3' -c 'ENV PATH=/bin' {} workdir:fd",
        tarball.to_str().unwrap()
    ));
    let r = leak("run --rm workdir:fd sh -c 'ls; touch pwned'");
    assert_refused_workdir(r, &host);
    // -w on exec.
    let id = victim(&b, "victim", &[]);
    let r = leak("exec -w /proc/self/fd/3 victim sh -c 'ls; touch pwned'");
    assert_refused_workdir(r, &host);
    // WORKDIR and -w still work.
    assert_eq!(
        b.ok(&["run", "--rm", "-w", "/tmp", "busybox", "pwd"]),
        "/tmp\n"
    );
    assert_eq!(b.ok(&["exec", "-w", "/etc", "victim", "pwd"]), "/etc\n");
    b.ok(&["rm", "-f", "victim"]);
    b.assert_clean(&[&id]);
}

/// runc's --preserve-fds passes descriptors on on purpose: one that is a host directory is
/// still refused as the working directory, by the check after the chdir.
#[test]
fn a_preserved_descriptor_is_refused_as_the_working_directory() {
    let b = Session::new();
    let host = host_dir(&b);
    let (id, _) = b.w.container("oci", &["sh", "-c", "ls; touch pwned"]);
    let bundle = b.w.paths().container(&id);
    edit_config(&bundle, |c| c["process"]["cwd"] = "/proc/self/fd/3".into());
    let script = format!(
        "exec 3<'{}'; berth-spawn --root '{}/oci' run --preserve-fds 1 -b '{}' oci1",
        host.display(),
        b.w.env.dir().display(),
        bundle.display()
    );
    let r = b.sh(&script).fails_with(126);
    assert!(
        r.error_line().contains("outside the container's root"),
        "{}",
        r.stderr
    );
    let left: Vec<_> = std::fs::read_dir(&host).unwrap().flatten().collect();
    assert_eq!(left.len(), 1, "the container wrote into the host directory");
    assert!(
        !b.w.env.dir().join("oci/oci1").exists(),
        "runtime state left"
    );
    assert!(b.w.container_cgroups().is_empty(), "cgroups left");
}

/// The cgroup namespace is made once the process is in its own cgroup, so the container sees
/// itself at the root of every hierarchy (v1 controllers and v2), as with runc. (`private` is
/// Docker's default on cgroup v2 only; this host may be hybrid.)
#[test]
fn the_cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    let b = Session::new();
    let own = b.ok(&argv!(
        "run --rm --cgroupns private busybox cat /proc/self/cgroup"
    ));
    assert!(!own.is_empty());
    for l in own.lines() {
        assert!(l.ends_with(":/"), "{own}");
    }
    assert!(
        own.lines().any(|l| l.starts_with("0::")),
        "v2 is shown: {own}"
    );
    let id = victim(&b, "victim", &["--cgroupns", "private"]);
    let exec = b.ok(&["exec", "victim", "cat", "/proc/self/cgroup"]);
    for l in exec.lines() {
        assert!(l.ends_with(":/"), "{exec}");
    }
    b.ok(&["rm", "-f", "victim"]);
    b.assert_clean(&[&id]);
}

/// CVE-2019-5736 against berth-monitor, which lives as long as its container: a container in
/// the host's pid namespace with SYS_PTRACE (which overrides non-dumpable) opens
/// /proc/<monitor>/exe, waits until the monitor is gone, and writes through the handle. The
/// monitor runs as berth-spawn does, through a read-only overlay of its directory or from a
/// sealed copy, so the handle leads nowhere writable.
#[test]
fn the_monitor_exposes_no_host_binary_even_to_the_hosts_pid_namespace() {
    let b = Session::new();
    let watched = b.detach(&argv!(
        "--name watched busybox sh -c 'echo hello; sleep 1000'"
    ));
    let attacker = victim(
        &b,
        "attacker",
        &["--pid", "host", "--cap-add", "SYS_PTRACE"],
    );
    let before = host_binaries();
    let monitor = b.state(&watched)["monitor_pid"].as_i64().unwrap();
    assert!(monitor > 0, "{}", b.state(&watched));
    // Seen from the host, the monitor's executable is no host file.
    let exe = std::fs::read_link(format!("/proc/{monitor}/exe")).unwrap();
    let exe = exe.to_string_lossy().into_owned();
    assert!(
        ["/berth-monitor", "/memfd:berth-monitor (deleted)"].contains(&exe.as_str()),
        "the monitor runs from {exe}"
    );
    let comm = std::fs::read_to_string(format!("/proc/{monitor}/comm")).unwrap();
    assert_eq!(comm, "berth-monitor\n");
    let attack = Attack::start(&b, "attacker", "monitor");
    let opened = attack.aim(&monitor.to_string());
    assert_eq!(line(&opened, "open-exe"), Some("ok"), "{opened:?}");
    // The container is removed and its monitor exits, while the probe holds its handle.
    b.ok(&["rm", "-f", "watched"]);
    until("the monitor gone", || {
        (!Path::new(&format!("/proc/{monitor}")).exists()).then_some(())
    });
    let lines = attack.finish();
    assert_attack_failed(&lines);
    let t = line(&lines, "target").unwrap_or_default();
    assert_eq!(t, exe, "{lines:?}");
    if t == "/berth-monitor" {
        assert_eq!(line(&lines, "reopen-rw"), Some("EROFS"), "{lines:?}");
    }
    assert_unchanged(&before);
    // The monitor still does its job: the log, the exit code, a restart.
    let id = b.detach(&argv!(
        "--name again --restart on-failure:1 busybox sh -c 'echo run; exit 3'"
    ));
    until("the restart done", || {
        let s = b.state(&id);
        (b.ok(&["logs", "again"]) == "run\nrun\n" && s["status"] == "exited").then_some(())
    });
    assert_eq!(b.ok(&["wait", "again"]), "3\n");
    b.ok(&["rm", "-f", "attacker", "again"]);
    b.assert_clean(&[&watched, &attacker, &id]);
}

/// `berth run` without -t in the foreground, typed at a terminal: the container gets pipes
/// in place of the caller's terminal (relayed by berth-spawn), so it can neither read what is
/// typed without -i, nor change the terminal (window size, modes), nor type into it; its
/// output, its input with -i, its exit code still go through, and pipes and files are
/// handed over as they are.
#[test]
fn a_foreground_run_without_t_does_not_hold_the_callers_terminal() {
    let b = Session::new();
    let vol = format!("{}:/probe", probe_dir(&b).display());
    let mut term = CallerTerminal::new();
    // Without -i, what is typed stays the caller's: the container cannot read it from its
    // stdout (a terminal is opened read-write), nor change the caller's terminal's modes.
    let (st, text) = term.run(
        &b,
        &argv!("run --rm busybox sh -c 'head -c 13 <&1; echo; stty igncr <&1; echo done'"),
        b"typed-secret\n",
    );
    assert!(st.success(), "{st:?}: {text}");
    assert!(
        !text.contains("typed-secret"),
        "the container read the terminal: {text}"
    );
    assert!(text.contains("done"), "{text}");
    assert_eq!(term.pending_input(), 13, "the typed line was taken: {text}");
    assert!(
        !term.ignores_cr(),
        "the container changed the caller's terminal: {text}"
    );
    term.flush_input();
    // No controlling terminal, no terminal at all among its descriptors.
    let (st, text) = term.run(
        &b,
        &argv!("run --rm -v {} busybox /probe/escape-probe tty", &vol),
        b"",
    );
    assert!(st.success(), "{st:?}: {text}");
    assert_holds_no_terminal(&term, &text);
    // -i: what is typed reaches the container through a pipe; exit codes come back.
    let (st, text) = term.run(
        &b,
        &argv!("run -i --rm busybox sh -c 'read x; echo got $x; [ -t 0 ] || echo pipe; exit 3'"),
        b"typed\n",
    );
    assert_eq!(st.code(), Some(3), "{text}");
    assert_eq!(text, "got typed\npipe\n");
    // Pipes and files are passed as they are: the container writes into the caller's file.
    let out = b.w.env.dir().join("out.txt");
    let r = b.sh(&format!(
        "berth run --rm busybox sh -c 'stat -L -c %i /proc/self/fd/1' > '{}'",
        out.display()
    ));
    r.success();
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&out).unwrap().ino();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), format!("{ino}\n"));
    b.assert_clean(&[]);
}

/// Ctrl-C at the caller's terminal still stops a foreground run without -t.
#[test]
fn ctrl_c_stops_a_foreground_run_without_t() {
    let b = Session::new();
    let mut term = CallerTerminal::new();
    term.cooked();
    // --init: as PID 1, sh and sleep would ignore SIGINT (they have no handler), as in Docker.
    let mut child = term.spawn(
        &b,
        &argv!("run --rm --init --name fg busybox sh -c 'echo up; sleep 1000'"),
    );
    until("the container up", || {
        term.read_more().contains("up").then_some(())
    });
    term.type_bytes(b"\x03");
    let st = until("the run to end", || child.try_wait().unwrap());
    assert_eq!(st.code(), Some(130), "{}", term.read_more());
    b.assert_clean(&[]);
}

/// What escape-probe's `tty` mode printed shows a process with no terminal: no controlling
/// tty, /dev/tty unopenable, no stdio descriptor that TIOCSTI works on, and nothing typed
/// into the caller's terminal.
#[track_caller]
fn assert_holds_no_terminal(term: &CallerTerminal, text: &str) {
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(line(&lines, "tty_nr"), Some("0"), "{text}");
    assert_eq!(line(&lines, "open-devtty"), Some("ENXIO"), "{text}");
    for fd in 0..3 {
        let r = line(&lines, &format!("tiocsti-{fd}"));
        assert_eq!(r, Some("ENOTTY"), "fd {fd} is a terminal: {text}");
    }
    assert_eq!(
        term.pending_input(),
        0,
        "input was injected into the terminal"
    );
}

/// CVE-2019-5736 against `run` itself, which skips berth-spawn's re-execution and execs the
/// command through the sealed berth-dmz (runtime::exeseal, "The dmz"): a command that is
/// `/proc/self/exe`, directly or as a script's interpreter, in an image whose dynamic loader
/// is the probe. It finds the static dmz there, which loads no interpreter and refuses to
/// run without its arguments: the run fails with 127 and prints nothing. Had it found
/// berth-spawn (dynamic), the kernel would have started the image's loader inside it: the
/// probe, which reports the file it runs in if it gets that far (a static glibc program does
/// not always survive being started as an interpreter, and then dies of SIGSEGV); either
/// way not 127. An ordinary command's `/proc/1/exe` is the command itself. With
/// `--pid container:X` (whose init is not alone, so berth-spawn re-executes sealed)
/// /proc/self/exe is that sealed copy: whatever runs there reaches no writable host file.
#[test]
fn a_command_that_is_proc_self_exe_reaches_no_host_binary() {
    let b = Session::new();
    let before = host_binaries();
    let dir = probe_dir(&b);
    let script = dir.join("self-exe.sh");
    std::fs::write(&script, "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let vol = format!("{}:/probe", dir.display());
    let loader = format!(
        "{}:/lib64/ld-linux-x86-64.so.2:ro",
        dir.join("escape-probe").display()
    );
    let flags = ["run", "--rm", "-v", &vol, "-v", &loader];
    for cmd in ["/proc/self/exe", "/probe/self-exe.sh"] {
        let r = b.berth(&[&flags[..], &["busybox", cmd]].concat());
        let r = r.fails_with(127);
        assert_eq!(r.stdout, "", "{cmd}");
        assert!(
            r.stderr
                .contains("/proc/self/exe is berth's exec helper here"),
            "{cmd}: {}",
            r.stderr
        );
    }
    assert_eq!(
        b.ok(&["run", "--rm", "busybox", "readlink", "/proc/1/exe"]),
        "/bin/busybox\n"
    );
    let id = victim(&b, "pid-host", &[]);
    let joined = ["--pid", "container:pid-host", "busybox", "/proc/self/exe"];
    let r = b.berth(&[&flags[..], &joined[..]].concat());
    let lines: Vec<String> = r.stdout.lines().map(str::to_string).collect();
    assert_ne!(r.code(), 0, "{r:?}");
    if let Some(target) = line(&lines, "self-exe-target") {
        assert!(
            ["/berth-spawn", "/memfd:berth-spawn (deleted)"].contains(&target),
            "the probe ran inside {target}: {r:?}"
        );
    }
    assert_ne!(line(&lines, "self-exe-write"), Some("ok"), "{lines:?}");
    assert_ne!(line(&lines, "self-exe-reopen"), Some("ok"), "{lines:?}");
    assert_unchanged(&before);
    b.ok(&["rm", "-f", "pid-host"]);
    b.assert_clean(&[&id]);
}

/// berth-dmz is exec'd by execve of /proc/self/fd/N, not execveat: a seccomp profile that
/// allows the command's execve but kills execveat still runs the command.
#[test]
fn a_seccomp_profile_that_kills_execveat_still_runs_the_command() {
    let b = Session::new();
    let profile = b.w.env.dir().join("no-execveat.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_KILL"}]}"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let run = [
        "run",
        "--rm",
        "--security-opt",
        &opt,
        "busybox",
        "echo",
        "works",
    ];
    assert_eq!(b.ok(&run), "works\n");
    b.assert_clean(&[]);
}
