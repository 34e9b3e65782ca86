//! What Docker's users notice though no script breaks on it: `Unable to find image` before an
//! implicit pull, `-it` refused without a terminal in Docker's words, `--init`'s PID 1 named
//! for what it is in `top`, `ps`'s IMAGE as typed, and `image prune`'s lines and prompt.

use berth_e2e::crafted::{Layer, busybox_tar, put_image};
use berth_e2e::fixtures::PATH_ENV;
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

#[test]
fn ps_shows_the_image_as_typed_until_its_tag_moves() {
    let b = Session::new();
    let config = |cmd: &str| serde_json::json!({"Env": [PATH_ENV], "Cmd": ["sh", "-c", cmd]});
    put_image(
        &b.w.env,
        "app:v1",
        &[Layer::gz(&busybox_tar())],
        config("sleep 1000"),
    );
    let a = b.detach(&["--name", "typed", "app:v1"]);
    let old = b.inspect("typed", "{{.Image}}");
    let c = b.detach(&["--name", "bare", "busybox", "sleep", "1000"]);
    let images = |b: &Session| b.ok(&["ps", "--format", "{{.Names}} {{.Image}}"]);
    assert_eq!(images(&b), "bare busybox\ntyped app:v1\n");
    // app:v1 now names another image: the container shows its own image's short id.
    put_image(
        &b.w.env,
        "app:v1",
        &[Layer::gz(&busybox_tar())],
        config("sleep 999"),
    );
    let short = &old.trim_start_matches("sha256:")[..12];
    assert_eq!(images(&b), format!("bare busybox\ntyped {short}\n"));
    let full = b.ok(&[
        "ps",
        "--no-trunc",
        "--filter",
        "name=typed",
        "--format",
        "{{.Image}}",
    ]);
    assert_eq!(full, format!("{old}\n"));
    b.ok(&["rm", "-f", "typed", "bare"]);
    b.assert_clean(&[&a, &c]);
}

#[test]
fn init_is_pid_1_under_its_own_name_in_top() {
    let b = Session::new();
    let id = b.detach(&["--name", "ini", "--init", "busybox", "sleep", "1000"]);
    let top = b.ok(&["top", "ini"]);
    let lines: Vec<&str> = top.lines().collect();
    assert!(
        lines[0].starts_with("UID") && lines[0].ends_with("CMD"),
        "{top}"
    );
    assert!(lines[1].ends_with("berth-init -- sleep 1000"), "{top}");
    assert!(lines[2].ends_with("sleep 1000"), "{top}");
    let ps = b.ok(&["exec", "ini", "ps", "-o", "pid,comm"]);
    assert!(
        ps.lines()
            .any(|l| l.split_whitespace().eq(["1", "berth-init"])),
        "{ps}"
    );
    b.ok(&["rm", "-f", "ini"]);
    b.assert_clean(&[&id]);
}

#[test]
fn image_prune_prints_dockers_lines_and_prompts_on_stdout() {
    let b = Session::new();
    let config = serde_json::json!({"Env": [PATH_ENV], "Cmd": ["true"]});
    put_image(&b.w.env, "spare:1", &[Layer::gz(&busybox_tar())], config);
    // "no" (here, an answer that is not y): nothing removed; the prompt is on stdout.
    let r = b.berth_in(&["image", "prune", "-a"], b"n\n").success();
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        (
            "WARNING! This will remove all images without at least one container associated \
             to them.\nAre you sure you want to continue? [y/N] ",
            ""
        )
    );
    assert!(b.ok(&["images", "-q"]).lines().count() == 2);
    // "y": Docker's report, then a blank line, then the total.
    let r = b.berth_in(&["image", "prune", "-a"], b"y\n").success();
    let out = r
        .stdout
        .strip_prefix(
            "WARNING! This will remove all images without at least one container associated \
             to them.\nAre you sure you want to continue? [y/N] ",
        )
        .unwrap_or_else(|| panic!("{}", r.stdout));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Deleted Images:", "{out}");
    assert!(lines.contains(&"untagged: spare:1"), "{out}");
    assert!(lines.contains(&"untagged: busybox:latest"), "{out}");
    assert!(
        lines.iter().any(|l| l
            .strip_prefix("deleted: sha256:")
            .is_some_and(|h| h.len() == 64)),
        "{out}"
    );
    let n = lines.len();
    assert_eq!(lines[n - 2], "", "{out}");
    assert!(lines[n - 1].starts_with("Total reclaimed space: "), "{out}");
    assert!(out.ends_with("B\n"), "{out}");
    b.assert_clean(&[]);
}
