//! Interactive use on a terminal: `run -it` (Ctrl-P Ctrl-Q leaves it running), `attach`,
//! `start -a -i`, `--detach-keys`, and `-i`/`-t` without a terminal.

mod run_support;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use run_support::Box;

/// A command on a terminal of its own (a new session whose controlling terminal is a pty
/// slave), as a user at a terminal runs it.
struct Term {
    child: Child,
    master: std::fs::File,
    out: Arc<Mutex<Vec<u8>>>,
}

impl Term {
    fn start(b: &Box, args: &[&str]) -> Term {
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave: OwnedFd = pty.slave;
        let master = std::fs::File::from(pty.master);
        let mut c = b.cmd("berth");
        c.args(args)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: the hook runs in the child between fork and exec and makes only two
        // async-signal-safe syscalls, on no memory of the parent's.
        unsafe {
            c.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = c.spawn().unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Term { child, master, out }
    }

    fn output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Waits until the terminal shows `text` (hang protection only).
    #[track_caller]
    fn expect(&self, text: &str) {
        let start = Instant::now();
        while !self.output().contains(text) {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the terminal never showed {text:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Waits for the command to end; its exit code.
    #[track_caller]
    fn code(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "still running; the terminal shows:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.master.as_raw_fd();
    }
}

#[test]
fn run_it_detaches_with_ctrl_p_ctrl_q_and_attach_comes_back() {
    let b = Box::new();
    let mut t = Term::start(&b, &["run", "-it", "--name", "shell", "busybox", "sh"]);
    t.expect("# ");
    t.send(b"echo hi-$((40+2)); tty\r");
    t.expect("hi-42");
    t.expect("/dev/pts/0");
    t.send(b"\x10\x11");
    assert_eq!(t.code(), 0, "{}", t.output());
    let ps = b.ps();
    assert_eq!(ps[0]["State"], "running", "{ps:?}");

    // attach by name: the same shell, its exit code.
    let mut a = Term::start(&b, &["attach", "shell"]);
    a.send(b"echo back-$((1+1))\r");
    a.expect("back-2");
    a.send(b"exit 3\r");
    assert_eq!(a.code(), 3, "{}", a.output());
    assert_eq!(b.ok(&["wait", "shell"]), "3\n");
    let r = b.berth(&["attach", "shell"]).fails_with(105);
    assert!(r.error_line().contains("start it first"), "{}", r.stderr);

    // start -a -i: attached from the first byte, with input.
    let mut s = Term::start(&b, &["start", "-a", "-i", "shell"]);
    s.expect("# ");
    s.send(b"exit 7\r");
    assert_eq!(s.code(), 7, "{}", s.output());
    let id = b.container_ids().pop().unwrap();
    b.ok(&["rm", "shell"]);
    b.assert_clean(&[&id]);
}

#[test]
fn detach_keys_can_be_changed_and_a_lone_prefix_is_passed_on() {
    let b = Box::new();
    let mut t = Term::start(
        &b,
        &[
            "run",
            "-it",
            "--rm",
            "--detach-keys",
            "ctrl-a,x",
            "busybox",
            "sh",
        ],
    );
    t.expect("# ");
    // Ctrl-P Ctrl-Q is no longer special; Ctrl-A followed by something else goes through.
    t.send(b"\x10\x11echo one\r");
    t.expect("one");
    t.send(b"\x01");
    t.send(b"\x01x");
    assert_eq!(t.code(), 0, "{}", t.output());
    let id = b.container_ids().pop().expect("still there, running");
    assert_eq!(b.state(&id)["status"], "running");
    b.ok(&["stop", "-t", "0", &id]);
    b.until("--rm to remove it", || {
        b.container_ids().is_empty().then_some(())
    });
    b.assert_clean(&[&id]);
}

#[test]
fn interactive_and_tty_without_a_terminal() {
    let b = Box::new();
    // -i: stdin flows, and its end ends the container's.
    let r = b
        .berth_in(
            &["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo end"],
            b"line one\nline two\n",
        )
        .success();
    assert_eq!(r.stdout, "line one\nline two\nend\n");
    // Without -i the container's stdin is empty.
    let r = b
        .berth_in(&["run", "--rm", "busybox", "cat"], b"ignored\n")
        .success();
    assert_eq!(r.stdout, "");
    // A closed stdin is an empty one.
    let mut c = b.cmd("berth");
    c.args(["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo end"]);
    // SAFETY: the hook runs in the child between fork and exec and only closes its own
    // descriptor 0, which no object in the child owns.
    unsafe {
        c.pre_exec(|| {
            libc::close(0);
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"end\n");
    // -t alone: a terminal inside, output through, the code kept.
    let r = b.berth(&["run", "--rm", "-t", "busybox", "sh", "-c", "tty; exit 4"]);
    let r = r.fails_with(4);
    assert_eq!(r.stdout, "/dev/pts/0\r\n");
    // -it with a stdin that is not a terminal: refused, as Docker does.
    let r = b.berth(&["run", "-it", "busybox", "sh"]).fails_with(125);
    assert!(r.error_line().contains("not a TTY"), "{}", r.stderr);
    // A bad --detach-keys is berth's error.
    let r = b
        .berth(&["run", "--detach-keys", "ctrl-1", "busybox", "true"])
        .fails_with(125);
    assert!(r.error_line().contains("detach keys"), "{}", r.stderr);
    b.assert_clean(&[]);
}

#[test]
fn attach_and_start_a_without_a_terminal() {
    let b = Box::new();
    // start -a -i of a created -i container: stdin in, both streams out, its code.
    b.ok(&[
        "create",
        "-i",
        "--name",
        "filter",
        "busybox",
        "sh",
        "-c",
        "cat; echo done >&2; exit 6",
    ]);
    let r = b
        .berth_in(&["start", "-a", "-i", "filter"], b"one\ntwo\n")
        .fails_with(6);
    assert_eq!(r.stdout, "one\ntwo\n");
    assert_eq!(r.stderr, "done\n");
    // attach to a running -i container: our input reaches it, its output reaches us.
    let id = b.detached(&[
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        "echo ready; read x; echo got $x; echo oops >&2; exit 5",
    ]);
    b.until("ready", || {
        b.ok(&["logs", "reader"]).contains("ready").then_some(())
    });
    let r = b.berth_in(&["attach", "reader"], b"hello\n").fails_with(5);
    assert_eq!(r.stdout, "got hello\n");
    assert_eq!(r.stderr, "oops\n");
    // Both removed with rm -f, whatever their state.
    b.ok(&["start", "filter"]);
    b.ok(&["rm", "-f", "filter", "reader"]);
    b.assert_clean(&[&id]);
}

#[test]
fn run_dit_then_attach_and_detach_again() {
    let b = Box::new();
    let id = b.detached(&["-it", "--name", "bg", "busybox", "sh"]);
    let mut a = Term::start(&b, &["attach", "bg"]);
    // The prompt came before we attached: ask for a new one (input typed before the shell
    // set its terminal up may be flushed by it), until it shows.
    let start = Instant::now();
    while !a.output().contains("# ") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no prompt: {}",
            a.output()
        );
        a.send(b"\r");
        std::thread::sleep(Duration::from_millis(200));
    }
    a.send(b"echo attached-$((2*3))\r");
    a.expect("attached-6");
    a.send(b"\x10\x11");
    assert_eq!(a.code(), 0, "{}", a.output());
    assert_eq!(b.state(&id)["status"], "running");
    // What was typed is in the log too (a terminal's output is stdout).
    assert!(b.ok(&["logs", "bg"]).contains("attached-6"));
    b.ok(&["rm", "-f", "bg"]);
    b.assert_clean(&[&id]);
}
