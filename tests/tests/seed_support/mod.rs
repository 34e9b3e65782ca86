//! Shared by the seed_* tests: the seed's workflows (docker-notes.md) typed as a user types
//! them, `berth run ...`, `berth ps`, `berth logs -f`..., through the dispatcher and the
//! built tools. A [`Seed`] is a test world (own roots, own cgroup parent, own bridge and
//! subnet) with the seed's images in its store; dropping it tears every container down
//! through the stages' own teardown verbs, then removes what is left (interfaces, rules,
//! cgroups, processes, mounts, files).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_e2e::net::TestNet;
use berth_e2e::{Run, seed_images};

pub use crate::spawn_support::World;

/// Hang protection for every wait (never a timing claim).
pub const PATIENCE: Duration = Duration::from_secs(60);

pub struct Seed {
    pub net: TestNet,
    pub w: World,
}

impl Seed {
    /// A world with the seed's images and its own default bridge network.
    pub fn new() -> Seed {
        let w = World::new();
        let net = TestNet::new(&w.env);
        seed_images::seed(&w.env);
        Seed { net, w }
    }

    /// `berth ARGS...`, captured.
    pub fn berth(&self, args: &[&str]) -> Run {
        let mut argv = vec!["berth"];
        argv.extend_from_slice(args);
        self.w.run(&argv)
    }

    /// `berth ARGS...`, asserted to succeed; its stdout.
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

    /// A shell script with this world's environment (`berth` on PATH).
    pub fn sh(&self, script: &str) -> Run {
        self.w.run(&["sh", "-c", script])
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

    /// `berth ARGS...` on a new pseudo-terminal (its controlling terminal), as typed at a
    /// shell.
    pub fn pty(&self, args: &[&str]) -> Pty {
        let (master, slave) = berth::runtime::console::open_pty().expect("pty");
        berth::runtime::console::set_size(master.as_raw_fd(), 24, 80);
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&slave)
                .expect("open pty slave")
        };
        let mut c = self.w.cmd("berth");
        c.args(args).stdin(open()).stdout(open()).stderr(open());
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
        let child = c.spawn().expect("start berth on a pty");
        let out = Arc::new(Mutex::new(Vec::new()));
        let reader = std::fs::File::from(master.try_clone().unwrap());
        collect(Box::new(reader), out.clone());
        Pty { child, master, out }
    }

    /// The container id of NAME (`berth inspect -f {{.Id}}`).
    #[track_caller]
    pub fn id(&self, name: &str) -> String {
        self.ok(&["inspect", "-f", "{{.Id}}", name])
            .trim()
            .to_string()
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
}

impl Default for Seed {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        // Every container through the stages' own teardown verbs (container::teardown), then the
        // fields' guards remove whatever that missed.
        let paths = self.w.paths();
        let containers = berth::state::Containers::new(&paths);
        for id in containers.list_ids().unwrap_or_default() {
            let Ok(record) = containers.load(&id) else {
                continue;
            };
            for argv in berth::container::teardown_plan(&record, true) {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                let _ = self.w.run(&argv);
            }
        }
    }
}

fn collect(mut r: Box<dyn Read + Send>, out: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
}

fn text(out: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&out.lock().unwrap()).into_owned()
}

pub use berth_e2e::until;

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

/// A command on a pseudo-terminal: type into it, read its screen.
pub struct Pty {
    pub child: Child,
    master: OwnedFd,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    /// Types `s` (bytes as they are: "\x10\x11" is Ctrl-P Ctrl-Q).
    pub fn type_in(&self, s: &str) {
        let mut f = std::fs::File::from(self.master.try_clone().unwrap());
        f.write_all(s.as_bytes()).unwrap();
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

    /// Waits for the command to exit; its exit code.
    #[track_caller]
    pub fn wait(&mut self) -> i32 {
        wait_child(&mut self.child, "the command on the terminal to exit")
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
