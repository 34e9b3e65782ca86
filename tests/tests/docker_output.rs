//! What `berth VERB` prints with stdout piped, the way scripts run it, against Docker 28's
//! CLI (issue 15, items 1-5): tables, never JSON unless asked for; Docker's text for action
//! verbs; errors on stderr only, in Docker's words; Docker's exit codes (berth's own with
//! `--json`); every target of a multi-target verb acted on.

use berth_e2e::registry::{Format, Registry};
use berth_e2e::session::Session;
use berth_e2e::{Run, TestEnv};

/// The columns of a table line: cells are separated by at least three spaces.
fn cells(line: &str) -> Vec<&str> {
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// The header of a table on stdout, asserting stdout is a table and not JSON.
#[track_caller]
fn header(r: &Run) -> Vec<&str> {
    let first = r.stdout.lines().next().unwrap_or_default();
    assert!(
        !first.starts_with('[') && !first.starts_with('{'),
        "{:?} printed JSON:\n{}",
        r.argv,
        r.stdout
    );
    cells(first)
}

#[track_caller]
fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A failure as Docker reports one: nothing on stdout, these lines on stderr, this status.
#[track_caller]
fn fails(r: Run, code: i32, stderr: &str) {
    let r = r.fails_with(code);
    assert_eq!(r.stdout, "", "{:?}", r.argv);
    assert_eq!(r.stderr, stderr, "{:?}", r.argv);
}

#[test]
fn item1_listings_print_dockers_tables_when_piped() {
    let mut b = Session::new();
    let id = b.detach(&["--name", "web", "busybox", "sleep", "1000"]);

    let r = b.berth(&["ps"]).success();
    assert_eq!(
        header(&r),
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    assert_eq!(r.stdout.lines().count(), 2, "{}", r.stdout);
    let row = cells(r.stdout.lines().nth(1).unwrap());
    assert_eq!((row[0], *row.last().unwrap()), (&id[..12], "web"));
    assert!(row[1].starts_with("busybox"), "{}", r.stdout);
    // `berth ps | wc -l` counts the header and one line per container.
    assert_eq!(b.ok(&["ps", "-q"]), format!("{}\n", &id[..12]));
    // JSON only when asked for: --format json is one object a line, --json berth's array.
    let line: serde_json::Value =
        serde_json::from_str(b.ok(&["ps", "--format", "json"]).trim()).unwrap();
    assert_eq!(line["Names"], "web");
    let line: serde_json::Value =
        serde_json::from_str(b.ok(&["ps", "--format", "{{json .}}"]).trim()).unwrap();
    assert_eq!(line["Names"], "web");
    assert_eq!(
        b.berth(&["ps", "--json"]).success().json()[0]["Names"],
        "web"
    );

    let r = b.berth(&["images"]).success();
    assert_eq!(
        header(&r),
        ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    );
    assert_eq!(
        cells(r.stdout.lines().nth(1).unwrap())[..2],
        ["busybox", "latest"]
    );

    b.ok(&["volume", "create", "v1"]);
    assert_eq!(
        b.ok(&["volume", "ls"]),
        "DRIVER    VOLUME NAME\nlocal     v1\n"
    );

    let s = b.net.slot();
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    let net = b.ok(&["network", "create", "--subnet", &s.subnet, "-o", &opt, "n1"]);
    let r = b.berth(&["network", "ls"]).success();
    assert_eq!(header(&r), ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]);
    let quiet = b.ok(&["network", "ls", "-q"]);
    assert!(quiet.lines().all(|l| is_hex(l, 12)), "{quiet}");
    assert!(quiet.lines().any(|l| net.starts_with(l)), "{quiet}");
    b.ok(&["network", "rm", "n1"]);

    let r = b.berth(&["stats", "--no-stream"]).success();
    assert_eq!(
        header(&r),
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "NET I/O",
            "BLOCK I/O",
            "PIDS"
        ]
    );
    assert_eq!(cells(r.stdout.lines().nth(1).unwrap())[1], "web");

    let r = b.berth(&["top", "web"]).success();
    assert_eq!(header(&r)[..2], ["UID", "PID"]);
    assert!(r.stdout.contains("sleep 1000"), "{}", r.stdout);

    let r = b.berth(&["history", "busybox"]).success();
    assert_eq!(
        header(&r),
        ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    );

    // info: Docker's sections, not a table (docker_formats.rs holds it to Docker's fields).
    let r = b.berth(&["info"]).success();
    assert!(r.stdout.starts_with("Client:\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains("\nServer:\n Containers: 1\n"),
        "{}",
        r.stdout
    );

    b.ok(&["rm", "-f", "web"]);
    b.ok(&["volume", "rm", "v1"]);
    b.assert_clean(&[&id]);
}

#[test]
fn item2_action_verbs_print_dockers_text() {
    let b = Session::new();
    let dir = b.w.env.dir();
    // tag, rmi: Untagged, then Deleted for the last name of an image.
    assert_eq!(b.ok(&["tag", "busybox", "copy:1"]), "");
    assert_eq!(b.ok(&["rmi", "copy:1"]), "Untagged: copy:1\n");
    // save, rmi, load.
    let tar = dir.join("bb.tar");
    b.ok(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    let out = b.ok(&["rmi", "busybox"]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("Untagged: busybox:latest"), "{out}");
    let deleted = lines.next().unwrap_or_default();
    assert!(
        deleted
            .strip_prefix("Deleted: sha256:")
            .is_some_and(|h| is_hex(h, 64)),
        "{out}"
    );
    assert_eq!(
        b.ok(&["load", "-i", tar.to_str().unwrap()]),
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(b.ok(&["load", "-q", "-i", tar.to_str().unwrap()]), "");
    // import: the new image's id.
    let rootfs = dir.join("rootfs");
    std::fs::create_dir_all(&rootfs).unwrap();
    std::fs::write(rootfs.join("hello"), "hi\n").unwrap();
    let rtar = dir.join("rootfs.tar");
    b.w.env.ok(&[
        "tar",
        "-C",
        rootfs.to_str().unwrap(),
        "-cf",
        rtar.to_str().unwrap(),
        ".",
    ]);
    let out = b.ok(&["import", rtar.to_str().unwrap(), "imported:1"]);
    assert!(
        out.strip_prefix("sha256:")
            .is_some_and(|h| is_hex(h.trim_end(), 64))
            && out.ends_with('\n'),
        "{out}"
    );
    // image prune: Docker's report, in lower case inside.
    assert_eq!(
        b.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n"
    );
    // network create: the id; network rm: the name.
    let mut b = b;
    let s = b.net.slot();
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    let out = b.ok(&["network", "create", "--subnet", &s.subnet, "-o", &opt, "n2"]);
    assert!(is_hex(out.trim_end(), 64) && out.ends_with('\n'), "{out}");
    assert_eq!(b.ok(&["network", "rm", "n2"]), "n2\n");
    // volume create and rm: the name.
    assert_eq!(b.ok(&["volume", "create", "data"]), "data\n");
    assert_eq!(b.ok(&["volume", "rm", "data"]), "data\n");
    // Container verbs print the names as given.
    let id = b.detach(&["--name", "act", "busybox", "sleep", "1000"]);
    assert_eq!(b.ok(&["stop", "-t", "0", "act"]), "act\n");
    assert_eq!(b.ok(&["start", &id[..8]]), format!("{}\n", &id[..8]));
    assert_eq!(b.ok(&["kill", "act"]), "act\n");
    assert_eq!(b.ok(&["wait", "act"]), "137\n");
    assert_eq!(b.ok(&["rm", "act"]), "act\n");
    b.assert_clean(&[&id]);
}

#[test]
fn item2_pull_prints_layers_status_and_the_reference() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "team/bb:1.0", Format::V2s2);
    reg.push_fixture("busybox", "team/bb:latest", Format::V2s2);
    let image = reg.image("team/bb:1.0");
    let name = image.trim_end_matches(":1.0");

    let out = env.ok(&["berth", "pull", &image]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("1.0: Pulling from {name}"), "{out}");
    let layer = lines[1].strip_suffix(": Pulling fs layer").unwrap();
    assert!(is_hex(layer, 12), "{out}");
    assert!(
        lines.contains(&format!("{layer}: Pull complete").as_str()),
        "{out}"
    );
    let n = lines.len();
    assert!(
        lines[n - 3]
            .strip_prefix("Digest: sha256:")
            .is_some_and(|h| is_hex(h, 64)),
        "{out}"
    );
    assert_eq!(
        lines[n - 2],
        format!("Status: Downloaded newer image for {image}")
    );
    assert_eq!(lines[n - 1], image);
    // Again: up to date. Without a tag, Docker says which it uses.
    let out = env.ok(&["berth", "pull", &image]);
    assert!(out.ends_with(&format!(
        "Status: Image is up to date for {image}\n{image}\n"
    )));
    let out = env.ok(&["berth", "pull", name]);
    assert!(out.starts_with("Using default tag: latest\n"), "{out}");
    // -q: the reference only.
    assert_eq!(
        env.ok(&["berth", "pull", "-q", &image]),
        format!("{image}\n")
    );
    // The stage keeps the record protocol.
    let v = env.run(&["berth-pull", &image]).success().json();
    assert_eq!(v["image"]["reference"], image);
}

#[test]
fn item3_errors_go_to_stderr_in_dockers_words() {
    let b = Session::new();
    let r = b.berth(&["inspect", "nosuch"]).fails_with(1);
    // Docker prints the (empty) list it found, then the error; stdout stays valid JSON.
    assert_eq!(r.stdout, "[]\n");
    assert_eq!(r.stderr, "Error: No such object: nosuch\n");
    // $(berth inspect -f ... nosuch 2>/dev/null) captures nothing: docker/cli's template
    // inspector prints one empty line when it found nothing, which $(...) strips.
    let r = b
        .berth(&["inspect", "-f", "{{.Id}}", "nosuch"])
        .fails_with(1);
    assert_eq!(r.stdout, "\n");
    assert_eq!(r.stderr, "Error: No such object: nosuch\n");
    let r = b
        .berth(&["inspect", "--type", "container", "-f", "{{.Id}}", "nosuch"])
        .fails_with(1);
    assert_eq!(r.stdout, "\n");
    assert_eq!(
        r.stderr,
        "Error response from daemon: No such container: nosuch\n"
    );
    let daemon = "Error response from daemon: No such container: nosuch\n";
    for verb in [
        &["rm"][..],
        &["stop"],
        &["kill"],
        &["logs"],
        &["top"],
        &["port"],
    ] {
        let mut argv = verb.to_vec();
        argv.push("nosuch");
        fails(b.berth(&argv), 1, daemon);
    }
    fails(b.berth(&["exec", "nosuch", "true"]), 1, daemon);
    fails(
        b.berth(&["volume", "rm", "nosuch"]),
        1,
        "Error response from daemon: No such volume: nosuch\n",
    );
    fails(
        b.berth(&["network", "rm", "nosuch"]),
        1,
        "Error response from daemon: network nosuch not found\nexit status 1\n",
    );
    let r = b.berth(&["rmi", "nosuch"]).fails_with(1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr
            .starts_with("Error response from daemon: No such image: nosuch"),
        "{}",
        r.stderr
    );
    fails(
        b.berth(&["start", "nosuch"]),
        1,
        "Error response from daemon: No such container: nosuch\n\
         Error: failed to start containers: nosuch\n",
    );
    b.assert_clean(&[]);
}

#[test]
fn item4_exit_codes_are_dockers_and_berths_with_json() {
    let b = Session::new();
    let id = b.detach(&["--name", "done", "busybox", "true"]);
    assert_eq!(b.ok(&["wait", "done"]), "0\n");
    // A verb that fails is 1; a flag error 125; too few arguments 1.
    let r = b.berth(&["kill", "done"]).fails_with(1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.starts_with("Error response from daemon: ") && r.stderr.contains("not running"),
        "{}",
        r.stderr
    );
    let r = b.berth(&["ps", "--bogus"]).fails_with(125);
    assert_eq!(r.stdout, "");
    let r = b.berth(&["rm"]).fails_with(1);
    assert_eq!(r.stdout, "");
    // rm -f of a missing container: docker/cli 28 reports it on stderr and succeeds.
    let r = b.berth(&["rm", "-f", "nosuch"]).success();
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "Error response from daemon: No such container: nosuch\n"
    );
    // --json: berth's codes and its error document, for the stage protocol.
    let r = b.berth(&["kill", "--json", "done"]).fails_with(105);
    assert_eq!(r.json()["error"]["code"], 105);
    let r = b.berth(&["rm", "--json", "nosuch"]).fails_with(3);
    assert_eq!(r.json()["error"]["code"], 3);
    let r = b.berth(&["inspect", "--json", "nosuch"]).fails_with(3);
    assert!(r.stdout.starts_with("[]\n"), "{}", r.stdout);
    // run/create keep docker run's: 125 for berth's own failures.
    b.berth(&["run", "--bogus", "busybox"]).fails_with(125);
    b.berth(&["run", "nosuch-image"]).fails_with(125);
    b.ok(&["rm", "done"]);
    b.assert_clean(&[&id]);
}

#[test]
fn item5_multi_target_verbs_act_on_every_name() {
    let b = Session::new();
    let ids: Vec<String> = ["s1", "s2", "s3", "s4"]
        .iter()
        .map(|n| b.detach(&["--name", n, "busybox", "sleep", "1000"]))
        .collect();
    let state = |n: &str| b.ok(&["inspect", "-f", "{{.State.Status}}", n]);
    // kill -s KILL s1 s2 kills both; kill s3 s4 never reads s4 as a signal.
    assert_eq!(b.ok(&["kill", "-s", "KILL", "s1", "s2"]), "s1\ns2\n");
    assert_eq!(b.ok(&["kill", "s3", "s4"]), "s3\ns4\n");
    for n in ["s1", "s2", "s3", "s4"] {
        assert_eq!(state(n), "exited\n", "{n}");
    }
    // start and stop go on past a missing name, report it, and fail.
    let r = b.berth(&["start", "s1", "nosuch", "s2"]).fails_with(1);
    assert_eq!(r.stdout, "s1\ns2\n");
    assert_eq!(
        r.stderr,
        "Error response from daemon: No such container: nosuch\n\
         Error: failed to start containers: nosuch\n"
    );
    assert_eq!(state("s2"), "running\n");
    let r = b.berth(&["pause", "nosuch", "s1", "s2"]).fails_with(1);
    assert_eq!(r.stdout, "s1\ns2\n");
    assert_eq!(state("s2"), "paused\n");
    assert_eq!(b.ok(&["unpause", "s1", "s2"]), "s1\ns2\n");
    let r = b
        .berth(&["stop", "-t", "0", "nosuch", "s1", "s2"])
        .fails_with(1);
    assert_eq!(r.stdout, "s1\ns2\n");
    assert_eq!(
        r.stderr,
        "Error response from daemon: No such container: nosuch\n"
    );
    assert_eq!(state("s2"), "exited\n");
    let r = b.berth(&["wait", "s1", "nosuch", "s2"]).fails_with(1);
    assert_eq!(r.stdout, "137\n137\n");
    let r = b
        .berth(&["inspect", "-f", "{{.Name}}", "s1", "nosuch", "s2"])
        .fails_with(1);
    assert_eq!(r.stdout, "/s1\n/s2\n");
    assert_eq!(r.stderr, "Error: No such object: nosuch\n");
    // rm, volume rm, network rm and rmi likewise.
    let r = b.berth(&["rm", "s1", "nosuch", "s2"]).fails_with(1);
    assert_eq!(r.stdout, "s1\ns2\n");
    assert_eq!(b.ok(&["rm", "-f", "s3", "nosuch", "s4"]), "s3\ns4\n");
    b.ok(&["volume", "create", "v1"]);
    b.ok(&["volume", "create", "v2"]);
    let r = b
        .berth(&["volume", "rm", "v1", "nosuch", "v2"])
        .fails_with(1);
    assert_eq!(r.stdout, "v1\nv2\n");
    // Docker's daemon removes a missing volume quietly with --force.
    assert_eq!(b.ok(&["volume", "rm", "-f", "nosuch"]), "nosuch\n");
    b.ok(&["tag", "busybox", "t:1"]);
    b.ok(&["tag", "busybox", "t:2"]);
    let r = b.berth(&["rmi", "t:1", "nosuch", "t:2"]).fails_with(1);
    assert_eq!(r.stdout, "Untagged: t:1\nUntagged: t:2\n");
    let r = b.berth(&["rmi", "-f", "nosuch"]).success();
    assert!(r.stderr.contains("No such image"), "{}", r.stderr);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    b.assert_clean(&refs);
}
