//! Interactive use on a terminal: `run -it` (Ctrl-P Ctrl-Q leaves it running), `attach`,
//! `start -a -i`, `--detach-keys`, and `-i`/`-t` without a terminal.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use berth_e2e::argv;
use berth_e2e::session::Session;
use berth_e2e::until;

#[test]
fn run_it_detaches_with_ctrl_p_ctrl_q_and_attach_comes_back() {
    let b = Session::new();
    let mut t = b.pty(&["run", "-it", "--name", "shell", "busybox", "sh"]);
    t.wait_for("# ");
    t.type_in("echo hi-$((40+2)); tty\r");
    t.wait_for("hi-42");
    t.wait_for("/dev/pts/0");
    t.type_in("\x10\x11");
    assert_eq!(t.wait(), 0, "{}", t.screen());
    let ps = b.ps();
    assert_eq!(ps[0]["State"], "running", "{ps:?}");

    // attach by name: the same shell, its exit code.
    let mut a = b.pty(&["attach", "shell"]);
    a.type_in("echo back-$((1+1))\r");
    a.wait_for("back-2");
    a.type_in("exit 3\r");
    assert_eq!(a.wait(), 3, "{}", a.screen());
    assert_eq!(b.ok(&["wait", "shell"]), "3\n");
    let r = b.berth(&["attach", "shell"]).fails_with(1);
    assert!(r.error_line().contains("start it first"), "{}", r.stderr);

    // start -a -i: attached from the first byte, with input.
    let mut s = b.pty(&["start", "-a", "-i", "shell"]);
    s.wait_for("# ");
    s.type_in("exit 7\r");
    assert_eq!(s.wait(), 7, "{}", s.screen());
    let id = b.container_ids().pop().unwrap();
    b.ok(&["rm", "shell"]);
    b.assert_clean(&[&id]);
}

#[test]
fn detach_keys_can_be_changed_and_a_lone_prefix_is_passed_on() {
    let b = Session::new();
    let mut t = b.pty(&argv!("run -it --rm --detach-keys ctrl-a,x busybox sh"));
    t.wait_for("# ");
    // Ctrl-P Ctrl-Q is no longer special; Ctrl-A followed by something else goes through.
    t.type_in("\x10\x11echo one\r");
    t.wait_for("one");
    t.type_in("\x01");
    t.type_in("\x01x");
    assert_eq!(t.wait(), 0, "{}", t.screen());
    let id = b.container_ids().pop().expect("still there, running");
    assert_eq!(b.state(&id)["status"], "running");
    b.ok(&["stop", "-t", "0", &id]);
    until("--rm to remove it", || {
        b.container_ids().is_empty().then_some(())
    });
    b.assert_clean(&[&id]);
}

#[test]
fn interactive_and_tty_without_a_terminal() {
    let b = Session::new();
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
    // -it with a stdin that is not a terminal: refused, as docker/cli does (its words, 1).
    let r = b.berth(&["run", "-it", "busybox", "sh"]).fails_with(1);
    assert_eq!(r.stderr, "the input device is not a TTY\n");
    // A bad --detach-keys is berth's error.
    let r = b
        .berth(&["run", "--detach-keys", "ctrl-1", "busybox", "true"])
        .fails_with(125);
    assert!(r.error_line().contains("detach keys"), "{}", r.stderr);
    b.assert_clean(&[]);
}

#[test]
fn attach_and_start_a_without_a_terminal() {
    let b = Session::new();
    // start -a -i of a created -i container: stdin in, both streams out, its code.
    b.ok(&argv!(
        "create -i --name filter busybox sh -c 'cat; echo done >&2; exit 6'"
    ));
    let r = b
        .berth_in(&["start", "-a", "-i", "filter"], b"one\ntwo\n")
        .fails_with(6);
    assert_eq!(r.stdout, "one\ntwo\n");
    assert_eq!(r.stderr, "done\n");
    // attach to a running -i container: our input reaches it, its output reaches us.
    let id = b.detach(&argv!(
        "-i --name reader busybox sh -c 'echo ready; read x; echo got $x; echo oops >&2; exit 5'"
    ));
    until("ready", || {
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
    let b = Session::new();
    let id = b.detach(&["-it", "--name", "bg", "busybox", "sh"]);
    let mut a = b.pty(&["attach", "bg"]);
    // The prompt came before we attached: ask for a new one (input typed before the shell
    // set its terminal up may be flushed by it), until it shows.
    until("a prompt", || {
        if a.screen().contains("# ") {
            return Some(());
        }
        a.type_in("\r");
        std::thread::sleep(Duration::from_millis(200));
        None
    });
    a.type_in("echo attached-$((2*3))\r");
    a.wait_for("attached-6");
    a.type_in("\x10\x11");
    assert_eq!(a.wait(), 0, "{}", a.screen());
    assert_eq!(b.state(&id)["status"], "running");
    // What was typed is in the log too (a terminal's output is stdout).
    assert!(b.ok(&["logs", "bg"]).contains("attached-6"));
    b.ok(&["rm", "-f", "bg"]);
    b.assert_clean(&[&id]);
}
