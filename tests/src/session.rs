//! A [`Session`]: a world where `berth ...` runs as a user types it (the dispatcher and
//! berth-run on PATH, through the built tools), with its own roots, cgroup parent
//! ([`World`]) and network slot ([`TestNet`]: its own bridge and subnet, never berth0), and
//! either the busybox fixture as `busybox:latest` ([`Session::new`]) or the seed's images
//! ([`Session::seed`], docker-notes.md). Commands run to completion, in the background
//! ([`Background`]) or on a terminal of their own ([`Pty`]); [`Session::assert_clean`] checks
//! that nothing was left behind.
//!
//! The seed's stories end with their containers still running, as the notes' do: a seed
//! session tears every container down through the stages' own verbs when dropped. The other
//! sessions assert_clean instead, and their drop hands no record (some are crafted, hostile)
//! to the teardown verbs; the world's and the environment's guards remove what is left
//! (processes, cgroups, mounts, files), and the network guard its interfaces and rules.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::net::{self, TestNet};
use crate::world::World;
use crate::{Run, fixtures, seed_images, until};

pub struct Session {
    // Field order is drop order: containers go before the network guard and the world.
    pub net: TestNet,
    pub w: World,
    /// Whether dropping the session tears its containers down (seed sessions).
    teardown_on_drop: bool,
}

impl Session {
    /// A session with the busybox fixture as `busybox:latest`.
    pub fn new() -> Session {
        let s = Session::empty();
        fixtures::seed(&s.w.env, "busybox", "busybox:latest");
        s
    }

    /// A session with no image at all.
    pub fn empty() -> Session {
        let w = World::new();
        let net = TestNet::new(&w.env);
        Session {
            net,
            w,
            teardown_on_drop: false,
        }
    }

    /// A session with the seed's images; its containers are torn down when it is dropped.
    pub fn seed() -> Session {
        let mut s = Session::empty();
        seed_images::seed(&s.w.env);
        s.teardown_on_drop = true;
        s
    }

    pub fn cmd(&self, tool: &str) -> Command {
        self.w.cmd(tool)
    }

    /// `berth ARGS...` to completion.
    pub fn berth(&self, args: &[&str]) -> Run {
        let mut argv = vec!["berth"];
        argv.extend_from_slice(args);
        self.w.run(&argv)
    }

    /// `berth ARGS...` with `input` on stdin.
    pub fn berth_in(&self, args: &[&str], input: &[u8]) -> Run {
        let mut argv = vec!["berth"];
        argv.extend_from_slice(args);
        self.w.run_in(&argv, Some(input))
    }

    /// `berth ARGS...`, asserting success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        self.berth(args).success().stdout
    }

    /// `berth run -d ARGS...`: asserts it printed a full container id, and returns it.
    #[track_caller]
    pub fn detach(&self, args: &[&str]) -> String {
        let mut argv = vec!["run", "-d"];
        argv.extend_from_slice(args);
        let out = self.ok(&argv);
        let id = out.trim().to_string();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "berth run -d prints the container id, got {out:?}"
        );
        id
    }

    /// A shell script with this session's environment (`berth` on PATH).
    pub fn sh(&self, script: &str) -> Run {
        self.w.sh(script)
    }

    /// A long-running `berth ARGS...` (e.g. `logs -f`), its output collected in the
    /// background.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let mut c = self.w.cmd("berth");
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("start berth");
        let out = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            collect(stream, out.clone());
        }
        Background { child, out }
    }

    /// `berth ARGS...` on a new pseudo-terminal (24x80, its controlling terminal), as typed
    /// at a shell.
    pub fn pty(&self, args: &[&str]) -> Pty {
        let mut c = self.w.cmd("berth");
        c.args(args);
        Pty::start(c)
    }

    /// The container id of NAME (`berth inspect -f {{.Id}}`).
    #[track_caller]
    pub fn id(&self, name: &str) -> String {
        self.inspect(name, "{{.Id}}")
    }

    /// `berth inspect -f TEMPLATE NAME`, trimmed.
    #[track_caller]
    pub fn inspect(&self, name: &str, template: &str) -> String {
        self.ok(&["inspect", "-f", template, name])
            .trim()
            .to_string()
    }

    /// `berth logs NAME`: what the container wrote, stdout and stderr.
    pub fn logs(&self, name: &str) -> String {
        let r = self.berth(&["logs", name]);
        format!("{}{}", r.stdout, r.stderr)
    }

    /// Polls `berth logs NAME` until it contains `needle`; returns the logs.
    #[track_caller]
    pub fn wait_logs(&self, name: &str, needle: &str) -> String {
        until(&format!("{needle:?} in the logs of {name}"), || {
            let l = self.logs(name);
            l.contains(needle).then_some(l)
        })
    }

    /// Polls `{{.State.Status}}` until it is `status`.
    #[track_caller]
    pub fn wait_status(&self, name: &str, status: &str) {
        until(&format!("{name} to be {status}"), || {
            (self.inspect(name, "{{.State.Status}}") == status).then_some(())
        })
    }

    /// A host port unique to this test (`k` < 16).
    pub fn port(&self, k: u16) -> u16 {
        self.net.default_slot().port(k)
    }

    pub fn root(&self) -> &Path {
        &self.w.env.root
    }

    /// Ids of the containers in the store.
    pub fn container_ids(&self) -> Vec<String> {
        self.w.container_ids()
    }

    /// The names reserved in the store.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(self.w.paths().names())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    /// `ps -a` as JSON rows.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        let r = self.berth(&["ps", "-a", "--no-trunc", "--json"]).success();
        r.json().as_array().cloned().unwrap_or_default()
    }

    /// The record's state section.
    pub fn state(&self, id: &str) -> serde_json::Value {
        self.w.record(id)["state"].clone()
    }

    /// Asserts that nothing of the containers is left: no container directory, no name, no
    /// mount under the test's directory, no veth, no cgroup, no firewall rule naming `ids`, no
    /// runtime state, no address or host port held. The default bridge is shared and stays.
    #[track_caller]
    pub fn assert_clean(&self, ids: &[&str]) {
        assert_eq!(
            self.container_ids(),
            Vec::<String>::new(),
            "containers left"
        );
        assert_eq!(self.names(), Vec::<String>::new(), "names left");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = self.w.env.dir().display().to_string();
        let ours: Vec<&str> = mounts.lines().filter(|l| l.contains(&dir)).collect();
        assert!(ours.is_empty(), "mounts left: {ours:#?}");
        assert!(self.w.container_cgroups().is_empty(), "cgroups left");
        for id in ids {
            assert!(
                net::host_links(&berth::net::attach::veth_name(id)).is_empty(),
                "veth of {id} left"
            );
            assert!(
                net::rules_with(id).is_empty(),
                "firewall rules of {id} left"
            );
            assert!(
                !self.w.env.run.join(id).exists(),
                "runtime state of {id} left"
            );
            assert!(
                !self.w.env.run.join("netns").join(id).exists(),
                "netns of {id} left"
            );
        }
        // The default bridge is shared and kept (as docker0); what is the containers' own on
        // it is not: no address held, no host port reserved. (TestNet's guard removes the
        // bridge itself at the end of the test.)
        let held = net::addresses_held(&self.w.env.paths());
        for id in ids {
            assert!(
                !held.iter().any(|(_, holder)| holder == id),
                "address of {id} left: {held:?}"
            );
            assert!(
                !net::port_reserved_by(id),
                "host port reservation of {id} left"
            );
        }
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.teardown_on_drop {
            return;
        }
        // Every container through the stages' own teardown verbs (berth::container::teardown), then the
        // fields' guards remove whatever that missed.
        for id in self.container_ids() {
            self.w.teardown(&id, true);
        }
    }
}

/// Copies `r` into `out` on a thread of its own; the returned flag is set once `r` has ended
/// (end of file, or EIO on a pty's master once no process holds its slave).
fn collect(mut r: Box<dyn Read + Send>, out: Arc<Mutex<Vec<u8>>>) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.lock().unwrap().extend_from_slice(&buf[..n]);
        }
        flag.store(true, Ordering::Release);
    });
    done
}

fn text(out: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&out.lock().unwrap()).into_owned()
}

/// Waits for `child` to exit (hang protection); its exit code (128+N for a signal).
#[track_caller]
fn wait_child(child: &mut Child, what: &str) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    let st = until(what, || child.try_wait().unwrap());
    st.code()
        .or_else(|| st.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

/// A command running in the background (killed when dropped).
pub struct Background {
    pub child: Child,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Background {
    /// Everything it printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        text(&self.out)
    }

    /// Polls its output until it contains `needle`; returns the output.
    #[track_caller]
    pub fn wait_for(&self, needle: &str) -> String {
        until(&format!("{needle:?} in the output"), || {
            let o = self.output();
            o.contains(needle).then_some(o)
        })
    }

    /// Sends SIGINT (Ctrl-C).
    pub fn interrupt(&self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
    }

    /// Waits for it to exit; its exit code.
    #[track_caller]
    pub fn wait(&mut self) -> i32 {
        wait_child(&mut self.child, "the command to exit")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command on a pseudo-terminal of its own (a new session whose controlling terminal is
/// the pty's slave), as a user at a terminal runs it: type into it, read its screen.
pub struct Pty {
    pub child: Child,
    master: OwnedFd,
    out: Arc<Mutex<Vec<u8>>>,
    /// Set when the reader has drained the terminal (every holder of the slave is gone).
    drained: Arc<AtomicBool>,
}

impl Pty {
    /// Starts `c` on a new 24x80 pseudo-terminal.
    pub fn start(mut c: Command) -> Pty {
        let size = nix::pty::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(Some(&size), None).expect("pty");
        // Neither end leaks into the command: it gets the slave as its stdio only.
        for fd in [&pty.master, &pty.slave] {
            use nix::fcntl::{F_SETFD, FdFlag, fcntl};
            fcntl(fd, F_SETFD(FdFlag::FD_CLOEXEC)).expect("set close-on-exec");
        }
        let slave = pty.slave;
        c.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave);
        // SAFETY: the hook runs in the child between fork and exec and makes only two
        // async-signal-safe syscalls, on no memory of the parent's.
        unsafe {
            c.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c.spawn().expect("start a command on a pty");
        let out = Arc::new(Mutex::new(Vec::new()));
        let reader = std::fs::File::from(pty.master.try_clone().unwrap());
        let drained = collect(Box::new(reader), out.clone());
        Pty {
            child,
            master: pty.master,
            out,
            drained,
        }
    }

    /// Types `s` (bytes as they are: "\x10\x11" is Ctrl-P Ctrl-Q).
    pub fn type_in(&self, s: impl AsRef<[u8]>) {
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        f.write_all(s.as_ref()).unwrap();
    }

    /// Everything on the terminal so far.
    pub fn screen(&self) -> String {
        text(&self.out)
    }

    /// Polls the terminal until it shows `needle`; returns the screen.
    #[track_caller]
    pub fn wait_for(&self, needle: &str) -> String {
        until(&format!("{needle:?} on the terminal"), || {
            let o = self.screen();
            o.contains(needle).then_some(o)
        })
    }

    /// Waits for the command to exit, then for what it wrote to reach the screen (the reader
    /// thread may still be behind when the exit is seen); its exit code. A process that
    /// outlives the command and keeps the terminal (a detached container's monitor does not)
    /// would hold the screen open: the drain gives up after a few seconds, without failing.
    #[track_caller]
    pub fn wait(&mut self) -> i32 {
        let code = wait_child(&mut self.child, "the command on the terminal to exit");
        for _ in 0..250 {
            if self.drained.load(Ordering::Acquire) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        code
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
