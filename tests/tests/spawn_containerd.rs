//! containerd drives berth-spawn as its runc: Debian's containerd (1.6) with its runc shim
//! v2 (`io.containerd.runc.v2`), whose `BinaryName` is berth-spawn. Each test starts its own
//! containerd (config, root, state, sockets and runtime root in the test's directory, no CRI,
//! overlayfs snapshots, no network), imports busybox from a `berth save` archive, runs
//! containers through berth-spawn, and checks that nothing is left once they are deleted.
//!
//! containerd 1.6 reads runtime options from config.toml for CRI clients only; `ctr` sends
//! them with each container (`--runc-binary` is `BinaryName`, `--runc-root` is `Root`), and
//! the shim gets the same options either way.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_e2e::argv;
use berth_e2e::capture;
use berth_e2e::until;
use berth_e2e::world::World;
use berth_e2e::{Run, fixtures, have};

const NS: &str = "berth";
const IMAGE: &str = "docker.io/library/busybox:latest";
/// Where containerd 1.6's shims put their sockets, whatever containerd's own state dir.
const SHIM_SOCKETS: &str = "/run/containerd/s";

/// A private containerd; stopped, and its shims' sockets removed, on drop.
struct Containerd<'a> {
    w: &'a World,
    child: Option<Child>,
    sock: PathBuf,
    /// The shim's runc root (`--runc-root`); berth-spawn's `--root` is `<rt>/<namespace>`.
    rt: PathBuf,
    /// berth-spawn behind a wrapper that logs each call (`calls`), as `BinaryName`.
    binary: PathBuf,
    calls: PathBuf,
    fifos: PathBuf,
    /// Held shared while this containerd lives (see [`remove_shim_dirs`]).
    lock: Option<nix::fcntl::Flock<std::fs::File>>,
    ids: std::cell::RefCell<Vec<String>>,
}

/// Whether containerd can run here. Where it is missing but installable, that is a failure
/// (scripts/deps.sh installs it); only where no package exists is the test skipped.
fn containerd_present() -> bool {
    if ["containerd", "ctr", "containerd-shim-runc-v2"]
        .iter()
        .all(|p| have(p))
    {
        return true;
    }
    let installable = Command::new("apt-cache")
        .args(["show", "containerd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        !installable,
        "containerd is not installed: run scripts/deps.sh (it installs Debian's containerd)"
    );
    eprintln!("skipped: containerd is not installed and this host has no package for it");
    false
}

impl<'a> Containerd<'a> {
    fn start(w: &'a World) -> Containerd<'a> {
        let d = w.env.dir().join("ctd");
        let (sock, rt, fifos, calls) = (
            d.join("c.sock"),
            d.join("rt"),
            d.join("fifo"),
            d.join("calls"),
        );
        for sub in ["root", "state", "tmp", "fifo"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let lock = std::fs::File::create(berth_e2e::target_dir().join("containerd-tests.lock"))
            .ok()
            .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockShared).ok());
        let config = d.join("config.toml");
        std::fs::write(&config, config_toml(&d, &sock)).unwrap();
        // The shim runs the runtime with containerd's environment; the wrapper does not rely
        // on that, and logs every call.
        let binary = d.join("berth-spawn-runc");
        std::fs::write(
            &binary,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" >> {calls}\nBERTH_ROOT={root} BERTH_RUN_ROOT={run} exec {bin} \"$@\"\n",
                calls = calls.display(),
                root = w.paths().root.display(),
                run = w.paths().run.display(),
                bin = berth_e2e::bin_dir().join("berth-spawn").display(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        let child = w
            .cmd("containerd")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("containerd.log")).unwrap())
            .spawn()
            .expect("start containerd");
        let c = Containerd {
            w,
            child: Some(child),
            sock,
            rt,
            binary,
            calls,
            fifos,
            lock,
            ids: Default::default(),
        };
        c.wait_ready(&d.join("containerd.log"));
        c
    }

    /// Polls until containerd answers (hang protection only, never a timing claim).
    fn wait_ready(&self, log: &Path) {
        let start = Instant::now();
        while !self.ctr(&["version"]).status.success() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "containerd did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.w.cmd("ctr");
        c.arg("-a").arg(&self.sock).args(["-n", NS]).args(args);
        c
    }

    fn ctr(&self, args: &[&str]) -> Run {
        let mut argv = vec!["ctr"];
        argv.extend_from_slice(args);
        capture(self.ctr_cmd(args), &argv, None)
    }

    /// The flags that make the runc shim run berth-spawn, with the container in the test's
    /// cgroup and its fifos in the test's directory.
    fn run_flags(&self, id: &str) -> Vec<String> {
        self.ids.borrow_mut().push(id.to_string());
        vec![
            format!("--runc-binary={}", self.binary.display()),
            format!("--runc-root={}", self.rt.display()),
            format!("--cgroup=/{}/{id}", self.w.env.cgroup),
            format!("--fifo-dir={}", self.fifos.display()),
        ]
    }

    /// `ctr run [flags] IMAGE ID ARGS...` with the runc shim on berth-spawn.
    fn run(&self, flags: &[&str], id: &str, args: &[&str]) -> Run {
        let own = self.run_flags(id);
        let mut argv: Vec<&str> = vec!["run"];
        argv.extend(own.iter().map(String::as_str));
        argv.extend_from_slice(flags);
        argv.extend_from_slice(&[IMAGE, id]);
        argv.extend_from_slice(args);
        self.ctr(&argv)
    }

    /// berth-spawn on the shim's runtime root, as a user inspecting containerd's containers
    /// with the runtime's CLI (`runc --root /run/containerd/runc/NS ...`).
    fn spawn(&self, args: &[&str], input: Option<&[u8]>) -> Run {
        let root = self.rt.join(NS);
        let mut argv = vec!["berth-spawn", "--root", root.to_str().unwrap()];
        argv.extend_from_slice(args);
        self.w.run_in(&argv, input)
    }

    /// The directory the shim runs task `id` from (its OCI bundle).
    fn bundle(&self, id: &str) -> PathBuf {
        self.w
            .env
            .dir()
            .join("ctd/state/io.containerd.runtime.v2.task")
            .join(NS)
            .join(id)
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(&self.calls).unwrap_or_default()
    }

    /// `ctr task ls`: the task's (pid, status).
    fn task(&self, id: &str) -> Option<(i64, String)> {
        let out = self.ctr(&["task", "ls"]).success().stdout;
        out.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.first() == Some(&id)).then(|| (f[1].parse().unwrap_or(0), f[2].to_string()))
        })
    }

    fn wait_status(&self, id: &str, want: &str) {
        until(&format!("task {id} to become {want}"), || {
            self.task(id).filter(|t| t.1 == want).map(|_| ())
        });
    }

    /// Stops containerd (SIGTERM, then SIGKILL if it hangs) and removes the shim sockets of
    /// this test's containers.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(30) {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for id in self.ids.borrow().iter() {
            let _ = std::fs::remove_file(shim_socket(&self.sock, id));
        }
        remove_shim_dirs(self.lock.take());
    }
}

impl Drop for Containerd<'_> {
    fn drop(&mut self) {
        // What a failed test left, through containerd while it answers (bounded, so a stuck
        // runtime cannot hang the teardown); the World's guard kills whatever remains.
        if self.child.is_some() {
            let ctr = |args: &[&str]| {
                let mut a = vec!["--timeout=30s"];
                a.extend_from_slice(args);
                self.ctr(&a)
            };
            for t in ctr(&["task", "ls", "-q"]).stdout.lines() {
                let _ = ctr(&["task", "kill", "-a", "-s", "KILL", t]);
                let _ = ctr(&["task", "rm", "-f", t]);
            }
            for c in ctr(&["containers", "ls", "-q"]).stdout.lines() {
                let _ = ctr(&["containers", "rm", c]);
            }
        }
        self.stop();
    }
}

fn config_toml(d: &Path, sock: &Path) -> String {
    let d = d.display();
    let sock = sock.display();
    // The opt plugin would populate /opt/containerd; CRI and the snapshotters other than
    // overlayfs are not needed.
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
temp = "{d}/tmp"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{d}/runc-v1"
"#
    )
}

/// containerd 1.6's shim socket for container `id`: `/run/containerd/s/` and the sha256 of
/// `ADDRESS/NAMESPACE/ID` (runtime/v2/shim/util_unix.go, SocketAddress).
fn shim_socket(sock: &Path, id: &str) -> PathBuf {
    let key = format!("{}/{NS}/{id}", sock.display());
    let hex = berth::digest::sha256(key.as_bytes());
    Path::new(SHIM_SOCKETS).join(hex.trim_start_matches("sha256:"))
}

/// Removes the shims' socket directories once no other test's containerd is running: each
/// holds the lock shared while it runs, and takes it exclusively here (so no shim of another
/// test is between making the directory and binding its socket).
fn remove_shim_dirs(lock: Option<nix::fcntl::Flock<std::fs::File>>) {
    if let Some(l) = lock
        && l.relock(nix::fcntl::FlockArg::LockExclusiveNonblock)
            .is_ok()
    {
        let _ = std::fs::remove_dir(SHIM_SOCKETS);
        let _ = std::fs::remove_dir("/run/containerd");
    }
}

/// Processes whose root, cwd, command line or environment name `dir` (shims, containers,
/// containerd), other than this test.
fn processes_under(dir: &Path) -> Vec<String> {
    let me = std::process::id().to_string();
    let needle = dir.as_os_str().as_encoded_bytes();
    let mut out = Vec::new();
    for p in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = p.file_name().to_string_lossy().into_owned();
        if !name.bytes().all(|b| b.is_ascii_digit()) || name == me {
            continue;
        }
        let links = ["root", "cwd"]
            .iter()
            .any(|l| std::fs::read_link(p.path().join(l)).is_ok_and(|t| t.starts_with(dir)));
        let text = ["cmdline", "environ"].iter().any(|f| {
            std::fs::read(p.path().join(f))
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
        });
        if links || text {
            let cmd = std::fs::read(p.path().join("cmdline")).unwrap_or_default();
            out.push(format!("{name}: {}", String::from_utf8_lossy(&cmd)));
        }
    }
    out
}

/// What a user checks once every container is deleted and containerd stopped: no process,
/// mount, cgroup, runtime state or shim socket is left.
fn assert_nothing_left(w: &World, c: &Containerd) {
    let dir = w.env.dir();
    let procs = processes_under(dir);
    assert!(procs.is_empty(), "processes left: {procs:#?}");
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mounts: Vec<&str> = info
        .lines()
        .filter(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|m| Path::new(m).starts_with(dir))
        })
        .collect();
    assert!(mounts.is_empty(), "mounts left: {mounts:#?}");
    let cgroups: Vec<PathBuf> = w
        .cgroup_dirs()
        .into_iter()
        .filter(|d| !d.ends_with(&w.env.cgroup))
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let left = c.spawn(&["list", "-q"], None).success().stdout;
    assert!(left.is_empty(), "berth-spawn still lists {left}");
    let sockets: Vec<PathBuf> = c
        .ids
        .borrow()
        .iter()
        .map(|id| shim_socket(&c.sock, id))
        .filter(|s| s.exists())
        .collect();
    assert!(sockets.is_empty(), "shim sockets left: {sockets:?}");
}

/// A containerd with busybox imported from `berth save`.
fn containerd_with_busybox(w: &World) -> Containerd<'_> {
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    let archive = w.env.dir().join("busybox.tar");
    w.env
        .ok(&["berth", "save", "-o", archive.to_str().unwrap(), "busybox"]);
    let c = Containerd::start(w);
    c.ctr(&["images", "import", archive.to_str().unwrap()])
        .success();
    let images = c.ctr(&["images", "ls", "-q"]).success().stdout;
    assert!(images.lines().any(|l| l == IMAGE), "{images}");
    c
}

#[test]
fn ctr_run_with_berth_spawn_as_runc_binary() {
    if !containerd_present() {
        return;
    }
    let w = World::new();
    let mut c = containerd_with_busybox(&w);
    let r = c
        .run(
            &["--rm"],
            "c1",
            &argv!("sh -c 'echo hello from berth-spawn; echo oops >&2; exit 7'"),
        )
        .fails_with(7);
    assert_eq!(r.stdout, "hello from berth-spawn\n");
    assert!(r.stderr.contains("oops"), "{}", r.stderr);
    let calls = c.calls();
    for verb in ["create --bundle", "start c1", "delete c1"] {
        assert!(
            calls.contains(verb),
            "berth-spawn was not called for {verb}: {calls}"
        );
    }
    // berth-spawn's error reaches the user through --log (JSON), as runc's does.
    let r = c.run(&["--rm"], "c2", &["nosuch"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains("OCI runtime create failed")
            && r.stderr
                .contains(r#"exec: "nosuch": executable file not found in $PATH"#),
        "{}",
        r.stderr
    );
    // The shim passes --systemd-cgroup to every call: create refuses it with what to do,
    // and the delete that follows still works, so nothing is left.
    let r = c.run(&["--rm", "--runc-systemd-cgroup"], "c4", &["true"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr
            .contains("systemd cgroups (--systemd-cgroup) are not supported"),
        "{}",
        r.stderr
    );
    // A terminal (the shim's --console-socket): ctr wants one of its own, which script gives.
    // The exit code says what tty found: the output of a process that exits at once was
    // once lost between the shim's console and ctr (cause not yet investigated).
    let own = c.run_flags("c3").join(" ");
    let cmd = format!(
        "ctr -a {} -n {NS} run --rm -t {own} {IMAGE} c3 \
         sh -c '[ \"$(tty)\" = /dev/pts/0 ] && [ -t 0 ] && exit 6; exit 5'",
        c.sock.display()
    );
    let mut s = w.cmd("script");
    s.args(["-qec", &cmd, "/dev/null"]);
    capture(s, &["script", "ctr run -t"], None).fails_with(6);
    assert!(c.calls().contains("--console-socket"), "{}", c.calls());
    assert!(
        c.ctr(&["containers", "ls", "-q"])
            .success()
            .stdout
            .is_empty(),
        "ctr --rm left containers"
    );
    c.stop();
    assert_nothing_left(&w, &c);
}

#[test]
fn runc_shim_v2_with_binary_name_runs_a_detached_container() {
    if !containerd_present() {
        return;
    }
    let w = World::new();
    let mut c = containerd_with_busybox(&w);
    let out = w.env.dir().join("d1.log");
    let log = format!("--log-uri=file://{}", out.display());
    c.run(
        &["-d", "--runtime", "io.containerd.runc.v2", &log],
        "d1",
        // The init waits in its trap for its child, which only ends on its own SIGTERM.
        &argv!(
            "sh -c {}",
            "sh -c 'trap \"echo child-bye; exit 0\" TERM; while :; do sleep 0.1; done' & c=$!; \
             trap 'wait $c; echo bye; exit 3' TERM; echo started; while :; do sleep 0.1; done"
        ),
    )
    .success();
    c.wait_status("d1", "RUNNING");
    // The shim runs berth-spawn as its BinaryName: it records the options it was given in
    // the task's bundle (options.json, and the binary alone in `runtime`).
    let bundle = c.bundle("d1");
    let wrapper = c.binary.to_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(bundle.join("runtime")).unwrap(),
        wrapper
    );
    let opts = std::fs::read_to_string(bundle.join("options.json")).unwrap();
    assert!(
        opts.contains(&format!(r#""binary_name":"{wrapper}""#)),
        "{opts}"
    );
    let (pid, _) = c.task("d1").unwrap();
    // exec: output and exit code (--process, --detach, --pid-file).
    let r = c
        .ctr(&argv!(
            "task exec {} --exec-id e1 d1 sh -c 'echo in-exec; exit 4'",
            &format!("--fifo-dir={}", c.fifos.display())
        ))
        .fails_with(4);
    assert_eq!(r.stdout, "in-exec\n");
    // ps: the shim asks `ps --format json`; the init and its sleep are there.
    let ps = c.ctr(&["task", "ps", "d1"]).success().stdout;
    let pids: Vec<i64> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(pids.contains(&pid) && pids.len() >= 2, "{ps}");
    // The runtime's own view of containerd's container.
    let state = c.spawn(&["state", "d1"], None).success().json();
    assert_eq!(
        (state["status"].as_str(), state["pid"].as_i64()),
        (Some("running"), Some(pid))
    );
    let table = c
        .spawn(&["ps", "d1", "-o", "pid,args"], None)
        .success()
        .stdout;
    assert!(table.contains("child-bye"), "{table}");
    // update (stdin, as the shim passes it): containerd's metrics see the new limit.
    c.spawn(
        &["update", "--resources", "-", "d1"],
        Some(br#"{"memory": {"limit": 67108864}, "pids": {"limit": 64}}"#),
    )
    .success();
    let metrics = c.ctr(&["task", "metrics", "d1"]).success().stdout;
    assert!(metrics.contains("67108864"), "{metrics}");
    let r = c
        .spawn(&["update", "--resources", "-", "d1"], Some(b"[1]"))
        .fails_with(6);
    assert!(
        r.error_line()
            .contains("stdin: expected a JSON object of runtime-spec linux.resources")
    );
    let r = c
        .spawn(&["update", "--memory", "lots", "d1"], None)
        .fails_with(4);
    assert!(r.error_line().contains(r#"invalid size "lots""#));
    c.ctr(&["task", "pause", "d1"]).success();
    assert_eq!(c.task("d1").unwrap().1, "PAUSED");
    c.ctr(&["task", "resume", "d1"]).success();
    assert_eq!(c.task("d1").unwrap().1, "RUNNING");
    // kill --all on a paused task (as `ctr task rm -f` does): every process gets TERM and
    // the cgroup is thawed, as runc does, so the init's trap answers.
    c.ctr(&["task", "pause", "d1"]).success();
    c.ctr(&["task", "kill", "-a", "-s", "TERM", "d1"]).success();
    c.wait_status("d1", "STOPPED");
    let r = c
        .spawn(&["update", "--memory", "64m", "d1"], None)
        .fails_with(105);
    assert!(r.error_line().contains("container not running"));
    let r = c.ctr(&["task", "rm", "d1"]).success();
    assert!(r.stderr.contains("exit code 3"), "{}", r.stderr);
    // The init's child got the signal too (else the init would still wait for it).
    let log = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| *l != "Terminated").collect();
    assert_eq!(lines, ["started", "child-bye", "bye"], "{log}");
    c.ctr(&["containers", "rm", "d1"]).success();
    let calls = c.calls();
    for verb in [
        "exec --process",
        "ps --format json d1",
        "pause d1",
        "resume d1",
        "kill --all d1 15",
        "delete d1",
    ] {
        assert!(
            calls.contains(verb),
            "berth-spawn was not called for {verb}: {calls}"
        );
    }
    c.stop();
    assert_nothing_left(&w, &c);
}

#[test]
fn kill_all_ends_what_an_init_without_its_own_pid_namespace_left() {
    if !containerd_present() {
        return;
    }
    let w = World::new();
    let mut c = containerd_with_busybox(&w);
    // In the host's pid namespace (this test's), the init's child outlives it; the shim sends
    // `kill --all ID 9` to the stopped container, which runc and berth-spawn accept.
    let host_pid_ns = format!("pid:/proc/{}/ns/pid", std::process::id());
    c.run(
        &["-d", "--with-ns", &host_pid_ns],
        "h1",
        &["sh", "-c", "sleep 1000 & exit 0"],
    )
    .success();
    c.wait_status("h1", "STOPPED");
    let start = Instant::now();
    loop {
        let pids = c
            .spawn(&["ps", "--format", "json", "h1"], None)
            .success()
            .json();
        if pids.as_array().is_some_and(|a| a.is_empty()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the init's child outlived it: {pids}\n{}",
            c.calls()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(c.calls().contains("kill --all h1 9"), "{}", c.calls());
    // A stopped container refuses a plain kill, as runc does.
    let r = c.spawn(&["kill", "h1", "9"], None).fails_with(105);
    assert!(r.error_line().contains("container not running"));
    c.ctr(&["task", "rm", "h1"]).success();
    c.ctr(&["containers", "rm", "h1"]).success();
    c.stop();
    assert_nothing_left(&w, &c);
}
