//! What Docker's users notice though no script breaks on it: `Unable to find image` before an
//! implicit pull, `-it` refused without a terminal in Docker's words, `--init`'s PID 1 named
//! for what it is in `top`, `ps`'s IMAGE as typed, and `image prune`'s lines and prompt.

use berth_e2e::registry::{Format, Registry};
use berth_e2e::session::Session;

#[test]
fn an_implicit_pull_says_the_image_was_not_found_locally() {
    let b = Session::empty();
    let reg = Registry::start();
    reg.push_fixture("busybox", "team/bb:latest", Format::V2s2);
    let image = reg.image("team/bb:latest");
    let bare = image.trim_end_matches(":latest");
    let r = b
        .berth(&["run", "--rm", "--network", "none", bare, "echo", "hi"])
        .success();
    assert_eq!(r.stdout, "hi\n");
    assert_eq!(
        r.stderr,
        format!("Unable to find image '{image}' locally\n")
    );
    // Stored now: nothing to say.
    let r = b
        .berth(&["run", "--rm", "--network", "none", bare, "echo", "again"])
        .success();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("again\n", ""));
    b.ok(&["rmi", &image]);
    let r = b.berth(&["create", "--network", "none", bare]).success();
    assert_eq!(
        r.stderr,
        format!("Unable to find image '{image}' locally\n")
    );
    b.ok(&["rm", r.stdout.trim()]);
    b.assert_clean(&[]);
}

#[test]
fn it_without_a_terminal_is_refused_in_dockers_words() {
    let b = Session::new();
    // The test's stdin is not a terminal.
    let r = b
        .berth(&["run", "-it", "--rm", "busybox", "true"])
        .fails_with(1);
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("", "the input device is not a TTY\n")
    );
    let id = b.detach(&["--name", "tt", "busybox", "sleep", "1000"]);
    let r = b.berth(&["exec", "-it", "tt", "true"]).fails_with(1);
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("", "the input device is not a TTY\n")
    );
    // -t alone, or -i alone, is fine.
    b.ok(&["exec", "-t", "tt", "true"]);
    b.ok(&["exec", "-i", "tt", "true"]);
    b.ok(&["rm", "-f", "tt"]);
    b.assert_clean(&[&id]);
}
