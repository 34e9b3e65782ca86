//! `--log-driver` and `--log-opt` as Docker's users type them: `none` keeps nothing and
//! `logs` says so in Docker's words; `local` keeps a log that `logs` reads, rotated at
//! max-size into gzipped files, keeping max-file; `syslog` sends each line to the socket given
//! by syslog-address (one the test binds in its own directory, never the host's /dev/log), in
//! the format asked for, from detached and foreground runs; Docker's option errors. A
//! foreground run keeps its log as Docker's does (json-file by default), and `run --rm`
//! leaves nothing.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use berth_e2e::session::Session;
use berth_e2e::until;

const UNREADABLE: &str =
    "Error response from daemon: configured logging driver does not support reading\n";

/// The files in the container's directory whose names start with its log's.
fn log_files(b: &Session, id: &str) -> Vec<String> {
    let dir = b.root().join("containers").join(id);
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{id}-json.log")))
        .map(|n| n.replacen(id, "ID", 1))
        .collect();
    v.sort();
    v
}

#[test]
fn a_foreground_run_keeps_its_log_as_docker_does() {
    let b = Session::new();
    // Stdout piped, as scripts run it: the output comes through, and stays in the log.
    let r = b.berth(&[
        "run",
        "--name",
        "fg",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(
        (r.code(), r.stdout.as_str(), r.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let id = b.id("fg");
    // The exit is on record when run returns (no waiting).
    assert_eq!(
        b.inspect("fg", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    let logs = b.berth(&["logs", "fg"]).success();
    assert_eq!(
        (logs.stdout.as_str(), logs.stderr.as_str()),
        ("out\n", "err\n")
    );
    assert_eq!(log_files(&b, &id), ["ID-json.log"]);
    // -i: what was piped in reaches the container, and its echo is logged.
    let r = b.berth_in(
        &["run", "-i", "--name", "cat", "busybox", "cat"],
        b"typed\n",
    );
    assert_eq!((r.code(), r.stdout.as_str()), (0, "typed\n"));
    assert_eq!(b.logs("cat"), "typed\n");
    let cat = b.id("cat");
    // Without -i the container's stdin is not the caller's (Docker's default).
    let r = b.berth_in(&["run", "--name", "noin", "busybox", "cat"], b"lost\n");
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""));
    let noin = b.id("noin");
    // --rm: the output comes through and nothing is left.
    let r = b.berth(&["run", "--rm", "--name", "gone", "busybox", "echo", "bye"]);
    assert_eq!((r.code(), r.stdout.as_str()), (0, "bye\n"));
    assert_eq!(b.names(), ["cat", "fg", "noin"]);
    b.ok(&["rm", "fg", "cat", "noin"]);
    b.assert_clean(&[&id, &cat, &noin]);
}

#[test]
fn labels_and_env_log_options_become_each_lines_attrs() {
    let b = Session::new();
    let id = b.detach(&[
        "--name",
        "attrs",
        "--label",
        "team=a b",
        "--label",
        "other=x",
        "-e",
        "STAGE=prod",
        "-e",
        "SKIP=1",
        "--log-opt",
        "labels=team,absent",
        "--log-opt",
        "env-regex=^STA",
        "--log-opt",
        "mode=non-blocking",
        "--log-opt",
        "max-buffer-size=4m",
        "busybox",
        "echo",
        "hi",
    ]);
    b.wait_status("attrs", "exited");
    // Docker's json-file line: log, stream, attrs (named or matched, sorted), time.
    let raw = std::fs::read_to_string(
        b.root()
            .join("containers")
            .join(&id)
            .join(format!("{id}-json.log")),
    )
    .unwrap();
    assert!(
        raw.starts_with(
            r#"{"log":"hi\n","stream":"stdout","attrs":{"STAGE":"prod","team":"a b"},"time":""#
        ),
        "{raw}"
    );
    // logs --details: the attributes query-escaped, then a space, then the line; -t first.
    assert_eq!(
        b.ok(&["logs", "--details", "attrs"]),
        "STAGE=prod,team=a+b hi\n"
    );
    let t = b.ok(&["logs", "-t", "--details", "attrs"]);
    assert!(t.ends_with("Z STAGE=prod,team=a+b hi\n"), "{t}");
    assert_eq!(b.ok(&["logs", "attrs"]), "hi\n");
    // Without attributes, --details prints Docker's lone space.
    b.ok(&["run", "--name", "plain", "busybox", "echo", "hi"]);
    assert_eq!(b.ok(&["logs", "--details", "plain"]), " hi\n");
    let plain = b.id("plain");
    b.ok(&["rm", "attrs", "plain"]);
    b.assert_clean(&[&id, &plain]);
}

#[test]
fn none_keeps_no_log_and_logs_says_so() {
    let b = Session::new();
    let id = b.detach(&[
        "--name",
        "quiet",
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hi",
    ]);
    b.wait_status("quiet", "exited");
    let r = b.berth(&["logs", "quiet"]).fails_with(1);
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("", UNREADABLE));
    assert_eq!(log_files(&b, &id), Vec::<String>::new());
    assert_eq!(b.inspect("quiet", "{{.HostConfig.LogConfig.Type}}"), "none");
    b.ok(&["rm", "quiet"]);
    b.assert_clean(&[&id]);
}

#[test]
fn local_rotates_at_max_size_into_gzipped_files_that_logs_reads() {
    let b = Session::new();
    let script = "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done";
    let id = b.detach(&[
        "--name",
        "loc",
        "--log-driver",
        "local",
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        script,
    ]);
    b.wait_status("loc", "exited");
    // The current file and two rotated ones, gzipped (Docker's local compresses by default).
    assert_eq!(
        log_files(&b, &id),
        ["ID-json.log", "ID-json.log.1.gz", "ID-json.log.2.gz"]
    );
    let size = |n: &str| {
        std::fs::metadata(
            b.root()
                .join("containers")
                .join(&id)
                .join(n.replacen("ID", &id, 1)),
        )
        .unwrap()
        .len()
    };
    assert!(size("ID-json.log") <= 2048);
    // logs reads through the compressed files: consecutive lines up to the last, the oldest
    // rotated away.
    let out = b.ok(&["logs", "loc"]);
    let nums: Vec<u32> = out
        .lines()
        .map(|l| l.strip_prefix("line-").unwrap().parse().unwrap())
        .collect();
    assert_eq!(*nums.last().unwrap(), 299);
    assert!(nums[0] > 0, "max-file=3 keeps only the newest lines");
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "{out}");
    assert!(
        nums.len() > 60,
        "{} lines: the rotated files were not read",
        nums.len()
    );
    assert_eq!(
        b.ok(&["logs", "--tail", "2", "loc"]),
        "line-298\nline-299\n"
    );
    assert_eq!(b.inspect("loc", "{{.HostConfig.LogConfig.Type}}"), "local");
    b.ok(&["rm", "loc"]);
    b.assert_clean(&[&id]);
}

/// Datagrams received on `sock`, waited for until there are `n`.
fn receive(sock: &UnixDatagram, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    until(&format!("{n} syslog datagrams"), || {
        let mut buf = [0u8; 4096];
        while let Ok(len) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        (got.len() >= n).then_some(())
    });
    got
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// `<PRI>1 TIMESTAMP HOST TAG PID TAG - MSG\n` (rfc5424 as Docker's syslog driver writes it).
fn assert_rfc5424(line: &str, pri: u32, tag: &str, msg: &str) {
    let head = format!("<{pri}>1 ");
    let rest = line
        .strip_prefix(&head)
        .unwrap_or_else(|| panic!("{line:?}"));
    let f: Vec<&str> = rest.splitn(7, ' ').collect();
    assert_eq!(f.len(), 7, "{line:?}");
    let ts = chrono::DateTime::parse_from_rfc3339(f[0]).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    assert!(
        (chrono::Utc::now() - ts.to_utc()).num_minutes().abs() < 10,
        "{line:?}"
    );
    assert_eq!(
        (f[1], f[2], f[4], f[5]),
        (hostname().as_str(), tag, tag, "-"),
        "{line:?}"
    );
    assert!(f[3].parse::<u32>().is_ok(), "{line:?}");
    assert_eq!(f[6], format!("{msg}\n"));
}

#[test]
fn syslog_sends_each_line_to_the_address_in_the_format_asked_for() {
    let b = Session::new();
    let path = b.w.env.dir().join("syslog.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_nonblocking(true).unwrap();
    let addr = format!("syslog-address=unixgram://{}", path.display());
    // Detached, rfc5424, the tag a template: stdout is daemon.info (30), stderr daemon.err (27).
    let id = b.detach(&[
        "--name",
        "sl",
        "--log-driver",
        "syslog",
        "--log-opt",
        &addr,
        "--log-opt",
        "syslog-format=rfc5424",
        "--log-opt",
        "tag={{.Name}}",
        "busybox",
        "sh",
        "-c",
        "echo out; sleep 0.2; echo err >&2",
    ]);
    let got = receive(&sock, 2);
    assert_rfc5424(&got[0], 30, "sl", "out");
    assert_rfc5424(&got[1], 27, "sl", "err");
    b.wait_status("sl", "exited");
    let r = b.berth(&["logs", "sl"]).fails_with(1);
    assert_eq!(r.stderr, UNREADABLE);
    assert_eq!(log_files(&b, &id), Vec::<String>::new());
    // Foreground, rfc3164, facility local0 (16: 134 = 16*8+6), the default tag (short id):
    // the user still sees the output.
    let r = b
        .berth(&[
            "run",
            "--name",
            "fg",
            "--log-driver",
            "syslog",
            "--log-opt",
            &addr,
            "--log-opt",
            "syslog-format=rfc3164",
            "--log-opt",
            "syslog-facility=local0",
            "busybox",
            "echo",
            "fg-line",
        ])
        .success();
    assert_eq!(r.stdout, "fg-line\n");
    let fg = b.id("fg");
    let got = receive(&sock, 1);
    // <134>Mmm _d hh:mm:ss HOST TAG[PID]: MSG
    let line = &got[0];
    let rest = line
        .strip_prefix("<134>")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (stamp, rest) = rest.split_at(15);
    assert!(
        chrono::NaiveTime::parse_from_str(&stamp[7..], "%H:%M:%S").is_ok(),
        "{line:?}"
    );
    let tail = format!(" {}[", &fg[..12]);
    let (host, rest) = rest[1..]
        .split_once(&tail)
        .unwrap_or_else(|| panic!("{line:?}"));
    assert_eq!(host, hostname());
    let (pid, msg) = rest.split_once("]: ").unwrap();
    assert!(pid.parse::<u32>().is_ok(), "{line:?}");
    assert_eq!(msg, "fg-line\n");
    b.ok(&["rm", "sl", "fg"]);
    drop(sock);
    b.assert_clean(&[&id, &fg]);
}

#[test]
fn log_options_are_checked_as_docker_checks_them() {
    let b = Session::new();
    for (args, says) in [
        (
            vec![
                "--log-driver",
                "local",
                "--log-opt",
                "syslog-address=udp://127.0.0.1",
            ],
            "unknown log opt 'syslog-address' for local log driver",
        ),
        (
            vec![
                "--log-driver",
                "syslog",
                "--log-opt",
                "syslog-address=ftp://x",
            ],
            "unsupported scheme: 'ftp'",
        ),
        (
            vec![
                "--log-driver",
                "syslog",
                "--log-opt",
                "syslog-address=udp://127.0.0.1",
                "--log-opt",
                "syslog-format=json",
            ],
            "Invalid syslog format",
        ),
        (
            vec![
                "--log-driver",
                "syslog",
                "--log-opt",
                "syslog-address=udp://127.0.0.1",
                "--log-opt",
                "syslog-facility=nope",
            ],
            "invalid syslog facility",
        ),
        (
            vec!["--log-opt", "mode=lossy"],
            "logger: logging mode not supported: lossy",
        ),
        (
            vec!["--log-opt", "max-buffer-size=4m"],
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
        ),
    ] {
        let mut argv = vec!["run", "--rm"];
        argv.extend(args.iter().copied());
        argv.extend(["busybox", "true"]);
        let r = b.berth(&argv).fails_with(125);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    if !Path::new("/dev/log").exists() {
        let r = b
            .berth(&["run", "--rm", "--log-driver", "syslog", "busybox", "true"])
            .fails_with(125);
        assert!(
            r.stderr.contains("needs the host's syslog socket /dev/log"),
            "{}",
            r.stderr
        );
    }
    b.assert_clean(&[]);
}
