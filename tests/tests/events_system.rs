//! `berth events`, `system df`, `system prune` and `network prune` (issue 15, missing verbs),
//! with stdout piped as scripts run them, against Docker 28's output: the event log every
//! stage writes (lines, `--format json`, filters, `--since`/`--until`, a stream that sees a
//! later run), the disk usage table, and prunes that leave what is in use alone.

use berth_e2e::registry::{Format, Registry};
use berth_e2e::session::Session;
use berth_e2e::{TestEnv, until};

/// The NAME column of `network ls`, sorted.
fn network_names(b: &Session) -> Vec<String> {
    let out = b.ok(&["network", "ls"]);
    let mut names: Vec<String> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    names.sort();
    names
}

/// The events in the log so far, as Docker's lines, with `extra` flags.
fn events(b: &Session, extra: &[&str]) -> Vec<String> {
    let mut argv = vec!["events", "--since", "1h", "--until", "0s"];
    argv.extend_from_slice(extra);
    b.ok(&argv).lines().map(str::to_string).collect()
}

/// A line without its timestamp, which is asserted to be Docker's `RFC3339NanoFixed`.
#[track_caller]
fn untimed(line: &str) -> String {
    let (time, rest) = line.split_once(' ').unwrap_or_default();
    let t = chrono::DateTime::parse_from_rfc3339(time)
        .unwrap_or_else(|e| panic!("{time:?} in {line:?}: {e}"));
    let frac = time.split_once('.').map(|(_, f)| f).unwrap_or_default();
    assert!(
        frac.len() >= 10 && frac[..9].bytes().all(|b| b.is_ascii_digit()),
        "nine fraction digits: {line}"
    );
    assert!(t.timestamp() > 1_700_000_000);
    rest.to_string()
}

#[test]
fn events_record_a_containers_life_in_dockers_words() {
    let b = Session::new();
    let id = b.ok(&[
        "create",
        "--name",
        "web",
        "--label",
        "tier=front",
        "busybox",
        "sleep",
        "1000",
    ]);
    let id = id.trim();
    b.ok(&["start", "web"]);
    b.ok(&["stop", "-t", "1", "web"]);
    b.ok(&["rm", "web"]);

    // How long it ran, in whole seconds (the stop waited 1s): the number varies.
    let lines: Vec<String> = events(&b, &["--filter", "type=container"])
        .iter()
        .map(|l| {
            let l = untimed(l);
            match l.split_once("execDuration=") {
                Some((head, tail)) => {
                    let (n, rest) = tail.split_once(',').unwrap();
                    assert!(n.parse::<u32>().is_ok_and(|n| n >= 1), "{l}");
                    format!("{head}execDuration=N,{rest}")
                }
                None => l,
            }
        })
        .collect();
    let attrs = "image=busybox, name=web, tier=front";
    assert_eq!(
        lines,
        [
            format!("container create {id} ({attrs})"),
            format!("container start {id} ({attrs})"),
            format!("container kill {id} (image=busybox, name=web, signal=15, tier=front)"),
            format!("container kill {id} (image=busybox, name=web, signal=9, tier=front)"),
            format!("container die {id} (execDuration=N, exitCode=137, {attrs})"),
            format!("container stop {id} ({attrs})"),
            format!("container destroy {id} ({attrs})"),
        ]
    );
    // The network side of the same life, as Docker logs it: connected when it starts (before
    // `start`), disconnected when it ends (before `die`), not when made or removed.
    assert_eq!(
        events(&b, &["--format", "{{.Type}} {{.Action}}"]),
        [
            "container create",
            "network connect",
            "container start",
            "container kill",
            "container kill",
            "network disconnect",
            "container die",
            "container stop",
            "container destroy",
        ]
    );
    let net = events(
        &b,
        &[
            "--filter",
            "type=network",
            "--format",
            "{{.Action}} {{.Actor.Attributes.container}}",
        ],
    );
    assert_eq!(net, [format!("connect {id}"), format!("disconnect {id}")]);

    // {{json .}} and json: moby's events.Message, in its field order.
    let json = b.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=create",
        "--format",
        "{{json .}}",
    ]);
    assert_eq!(json.lines().count(), 1, "{json}");
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["status"], "create");
    assert_eq!(v["id"], id);
    assert_eq!(v["from"], "busybox");
    assert_eq!(v["Type"], "container");
    assert_eq!(v["Action"], "create");
    assert_eq!(v["Actor"]["ID"], id);
    assert_eq!(v["Actor"]["Attributes"]["tier"], "front");
    assert_eq!(v["scope"], "local");
    let nanos = v["timeNano"].as_i64().unwrap();
    assert_eq!(v["time"].as_i64().unwrap(), nanos / 1_000_000_000);
    let keys: Vec<&str> = json
        .split("\":")
        .filter_map(|s| s.rsplit(['{', ',']).next())
        .map(|s| s.trim_matches('"'))
        .filter(|k| {
            [
                "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano",
            ]
            .contains(k)
        })
        .collect();
    assert_eq!(
        keys,
        [
            "status", "id", "from", "Type", "Action", "Actor", "scope", "time", "timeNano"
        ],
        "{json}"
    );
    assert_eq!(
        b.ok(&[
            "events",
            "--since",
            "1h",
            "--until",
            "0s",
            "--filter",
            "event=create",
            "--format",
            "json"
        ]),
        json
    );
    b.assert_clean(&[id]);
}

#[test]
fn network_events_follow_the_containers_runs_not_its_record() {
    let mut b = Session::new();
    let s = b.net.slot();
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    b.ok(&[
        "network", "create", "--subnet", &s.subnet, "-o", &opt, "evnet2",
    ]);
    b.ok(&["create", "--name", "cc", "busybox", "sleep", "1000"]);
    let id = b.id("cc");
    // Connected while stopped: nothing yet (moby only stores the endpoint's config).
    b.ok(&["network", "connect", "evnet2", "cc"]);
    let net = |b: &Session| {
        events(
            b,
            &[
                "--filter",
                "type=network",
                "--filter",
                "event=connect",
                "--filter",
                "event=disconnect",
                "--format",
                "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}}",
            ],
        )
    };
    assert_eq!(net(&b), Vec::<String>::new());
    // Started: both networks connect; a connect while it runs is logged at once.
    b.ok(&["start", "cc"]);
    assert_eq!(
        net(&b),
        [
            format!("connect bridge {id}"),
            format!("connect evnet2 {id}")
        ]
    );
    b.ok(&["network", "disconnect", "evnet2", "cc"]);
    // Removed while running: disconnected as it dies, once per network it is still on.
    b.ok(&["rm", "-f", "cc"]);
    assert_eq!(
        net(&b),
        [
            format!("connect bridge {id}"),
            format!("connect evnet2 {id}"),
            format!("disconnect evnet2 {id}"),
            format!("disconnect bridge {id}"),
        ]
    );
    b.ok(&["network", "rm", "evnet2"]);
    b.assert_clean(&[&id]);
}

#[test]
fn events_of_the_other_container_verbs_and_a_health_check() {
    let b = Session::new();
    let id = b.detach(&[
        "--name",
        "web",
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.ok(&["pause", "web"]);
    b.ok(&["unpause", "web"]);
    b.ok(&["exec", "web", "echo", "hi"]);
    b.ok(&["rename", "web", "web2"]);
    b.ok(&["restart", "-t", "0", "web2"]);
    let health = b.spawn(&[
        "events",
        "--since",
        "1h",
        "--filter",
        "event=health_status",
        "--format",
        "{{.Action}}",
    ]);
    health.wait_for("health_status: healthy\n");
    drop(health);
    b.ok(&["stop", "-t", "0", "web2"]);
    b.ok(&["rm", "web2"]);
    let actions = |filters: &[&str]| {
        let mut argv = vec!["--format", "{{.Action}} {{.Actor.Attributes.name}}"];
        for f in filters {
            argv.extend(["--filter", f]);
        }
        events(&b, &argv)
    };
    assert_eq!(
        actions(&[
            "event=pause",
            "event=unpause",
            "event=rename",
            "event=restart",
            "event=destroy",
            "type=container"
        ]),
        [
            "pause web",
            "unpause web",
            "rename web2",
            "restart web2",
            "destroy web2"
        ]
    );
    let exec = events(
        &b,
        &[
            "--filter",
            "event=exec_create",
            "--filter",
            "event=exec_start",
            "--filter",
            "event=exec_die",
            "--format",
            "{{.Action}}|{{.Actor.Attributes.exitCode}}|{{len .Actor.Attributes.execID}}",
        ],
    );
    // The health check's probes are execs too, as in Docker: the user's is the first.
    assert_eq!(
        exec[..3],
        [
            "exec_create: echo hi|<no value>|64",
            "exec_start: echo hi|<no value>|64",
            "exec_die|0|64"
        ]
    );
    let rename = b.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=rename",
    ]);
    assert!(
        untimed(rename.trim_end()).starts_with(&format!(
            "container rename {id} (image=busybox, name=web2, oldName=/web)"
        )),
        "{rename}"
    );
    // restart: the stop's kill and die, then the start, then restart itself.
    let restart: Vec<String> = actions(&["container=web2", "type=container"])
        .into_iter()
        .filter(|a| !a.starts_with("exec_") && !a.starts_with("health_status"))
        .collect();
    let at = restart.iter().position(|a| a == "rename web2").unwrap();
    assert_eq!(
        restart[at + 1..at + 7],
        [
            "kill web2",
            "kill web2",
            "die web2",
            "stop web2",
            "start web2",
            "restart web2"
        ]
    );
    b.assert_clean(&[&id]);
}

#[test]
fn events_filter_and_window_like_docker() {
    let mut b = Session::new();
    let s = b.net.slot();
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    let net_id = b.ok(&[
        "network", "create", "--subnet", &s.subnet, "-o", &opt, "evnet",
    ]);
    let net_id = net_id.trim().to_string();
    b.ok(&["volume", "create", "evvol"]);
    b.ok(&[
        "run",
        "--name",
        "one",
        "--network",
        "evnet",
        "-v",
        "evvol:/data",
        "busybox",
        "true",
    ]);
    let one = b.id("one");
    b.ok(&["rm", "one"]);
    b.ok(&["volume", "rm", "evvol"]);
    b.ok(&["network", "rm", "evnet"]);

    // Each kind, through its own filter.
    let of = |f: &[&str]| -> Vec<String> {
        let mut argv = vec!["--format", "{{.Type}} {{.Action}} {{.Actor.ID}}"];
        argv.extend_from_slice(f);
        events(&b, &argv)
    };
    // moby's order: the network connected and the volume mounted as the container starts,
    // released as it ends (moby's `Cleanup`, before `die`).
    assert_eq!(
        of(&[]),
        [
            format!("network create {net_id}"),
            "volume create evvol".to_string(),
            format!("container create {one}"),
            format!("network connect {net_id}"),
            "volume mount evvol".to_string(),
            format!("container start {one}"),
            format!("network disconnect {net_id}"),
            "volume unmount evvol".to_string(),
            format!("container die {one}"),
            format!("container destroy {one}"),
            "volume destroy evvol".to_string(),
            format!("network destroy {net_id}"),
        ]
    );
    assert_eq!(
        of(&["--filter", "type=volume"]),
        [
            "volume create evvol".to_string(),
            "volume mount evvol".to_string(),
            "volume unmount evvol".to_string(),
            "volume destroy evvol".to_string(),
        ]
    );
    assert_eq!(
        of(&["--filter", "network=evnet"]),
        [
            format!("network create {net_id}"),
            format!("network connect {net_id}"),
            format!("network disconnect {net_id}"),
            format!("network destroy {net_id}"),
        ]
    );
    assert_eq!(
        of(&["--filter", "container=one", "--filter", "event=die"]),
        [format!("container die {one}")]
    );
    // Two values of one key are alternatives; a prefix of the id names the container too.
    assert_eq!(
        of(&[
            "--filter",
            "event=start",
            "--filter",
            "event=destroy",
            "--filter",
            &format!("container={}", &one[..12])
        ]),
        [
            format!("container start {one}"),
            format!("container destroy {one}")
        ]
    );
    assert_eq!(
        of(&["--filter", "image=busybox", "--filter", "event=create"]),
        [format!("container create {one}")]
    );
    let mount = b.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=mount",
    ]);
    assert!(
        untimed(mount.trim_end()).ends_with(&format!(
            "volume mount evvol (container={one}, destination=/data, driver=local, propagation=, read/write=true)"
        )),
        "{mount}"
    );

    // --since and --until: a Unix timestamp with nanoseconds and an RFC 3339 time, cut at
    // the volume's creation.
    let created = b.ok(&[
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=create",
        "--filter",
        "type=volume",
        "--format",
        "{{.TimeNano}}",
    ]);
    let nanos: i64 = created.trim().parse().unwrap();
    let unix = format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000);
    let until = chrono::DateTime::from_timestamp_nanos(nanos)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let upto = of(&["--since", "1h", "--until", &until]);
    assert_eq!(upto.last().unwrap(), "volume create evvol", "{upto:?}");
    assert_eq!(upto[0], format!("network create {net_id}"));
    let after = b.ok(&[
        "events",
        "--since",
        &unix,
        "--until",
        "0s",
        "--format",
        "{{.Action}}",
    ]);
    assert!(
        after.starts_with("create\nconnect\n") || after.starts_with("create\n"),
        "{after}"
    );
    assert_eq!(after.lines().last(), Some("destroy"));
    assert!(
        !after.contains("network create") && after.lines().filter(|l| *l == "create").count() == 2,
        "{after}"
    );
    // A time past the last event shows nothing, and returns at once.
    assert_eq!(b.ok(&["events", "--since", "0s", "--until", "0s"]), "");

    // Docker's refusals.
    let r = b
        .berth(&["events", "--until", "0s", "--filter", "colour=red"])
        .fails_with(1);
    assert_eq!(r.stdout, "");
    assert_eq!(
        r.stderr,
        "Error response from daemon: invalid filter 'colour'\n"
    );
    // The dispatcher's `system` group: events is `system events`; unknown ones are 125.
    assert_eq!(
        b.ok(&[
            "system",
            "events",
            "--since",
            "1h",
            "--until",
            "0s",
            "--filter",
            "event=destroy",
            "--format",
            "{{.Type}}"
        ]),
        "container\nvolume\nnetwork\n"
    );
    assert!(b.ok(&["system", "--help"]).contains("prune"));
    let r = b.berth(&["system", "frob"]).fails_with(125);
    assert!(
        r.stderr.contains("'system frob' is not a berth command"),
        "{}",
        r.stderr
    );
    let r = b.berth(&["events", "--filter", "nofilter"]).fails_with(125);
    assert!(
        r.stderr
            .contains("bad format of filter (expected name=value)"),
        "{}",
        r.stderr
    );
    let r = b
        .berth(&["events", "--since", "yesterday", "--until", "0s"])
        .fails_with(1);
    assert!(
        r.stderr.contains("cannot parse \"yesterday\""),
        "{}",
        r.stderr
    );
    b.assert_clean(&[&one]);
}

#[test]
fn events_of_images_pull_tag_untag_delete() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "team/bb:1.0", Format::V2s2);
    let image = reg.image("team/bb:1.0");
    let name = image.trim_end_matches(":1.0");
    env.ok(&["berth", "pull", "-q", &image]);
    let id = env
        .ok(&["berth", "image", "inspect", "-f", "{{.Id}}", &image])
        .trim()
        .to_string();
    env.ok(&["berth", "tag", &image, "mine:1"]);
    env.ok(&["berth", "rmi", "mine:1"]);
    env.ok(&["berth", "rmi", &image]);
    let out = env.ok(&[
        "berth",
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "type=image",
    ]);
    let lines: Vec<String> = out.lines().map(untimed).collect();
    assert_eq!(
        lines,
        [
            format!("image pull {image} (name={name})"),
            format!("image tag {id} (name=mine:1)"),
            format!("image untag {id} (name={id})"),
            format!("image untag {id} (name={id})"),
            format!("image delete {id} (name={id})"),
        ]
    );
    // save, load, import.
    env.ok(&["berth", "pull", "-q", &image]);
    let tar = env.dir().join("bb.tar");
    env.ok(&["berth", "save", "-o", tar.to_str().unwrap(), &image]);
    env.ok(&["berth", "load", "-i", tar.to_str().unwrap()]);
    let imp = env
        .ok(&["berth", "import", tar.to_str().unwrap(), "imp:1"])
        .trim()
        .to_string();
    let out = env.ok(&[
        "berth",
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "event=save",
        "--filter",
        "event=load",
        "--filter",
        "event=import",
    ]);
    let lines: Vec<String> = out.lines().map(untimed).collect();
    assert_eq!(
        lines,
        [
            format!("image save {id} (name={id})"),
            format!("image load {id} (name={id})"),
            format!("image import {imp} (name={imp})"),
        ]
    );
    // image= matches the id, a name, or a name without its tag.
    let tagged = env.ok(&[
        "berth",
        "events",
        "--since",
        "1h",
        "--until",
        "0s",
        "--filter",
        "image=mine",
        "--format",
        "{{.Action}}",
    ]);
    assert_eq!(tagged, "tag\n");
    // The log is the root's, private to root.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(env.root.join("events.log"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn events_streams_until_interrupted_and_sees_a_later_run() {
    let b = Session::new();
    let mut stream = b.spawn(&[
        "events",
        "--format",
        "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
    ]);
    // The stream is open once it shows an event made after it started.
    until("the stream to follow the log", || {
        b.ok(&["volume", "create"]);
        stream.output().contains("volume create").then_some(())
    });
    assert_eq!(b.ok(&["run", "--name", "late", "busybox", "true"]), "");
    let out = stream.wait_for("container die late");
    let mine: Vec<&str> = out.lines().filter(|l| l.ends_with(" late")).collect();
    assert_eq!(
        mine,
        [
            "container create late",
            "container start late",
            "container die late"
        ],
        "{out}"
    );
    b.ok(&["rm", "late"]);
    stream.wait_for("container destroy late");
    stream.interrupt();
    assert_eq!(stream.wait(), 130);
    b.ok(&["volume", "prune", "-f"]);
}

#[test]
fn network_prune_removes_only_unused_custom_networks() {
    let mut b = Session::new();
    let (s1, s2) = (b.net.slot(), b.net.slot());
    for (name, s) in [("used", &s1), ("free", &s2)] {
        let opt = format!("com.docker.network.bridge.name={}", s.bridge);
        b.ok(&[
            "network", "create", "--subnet", &s.subnet, "-o", &opt, "--label", "k=v", name,
        ]);
    }
    let id = b.detach(&[
        "--name",
        "keeper",
        "--network",
        "used",
        "busybox",
        "sleep",
        "1000",
    ]);

    // No: the prompt on stdout (docker/cli's prompt.Confirm), Docker's words, nothing removed.
    let r = b.berth_in(&["network", "prune"], b"n\n").success();
    assert_eq!(r.stderr, "");
    assert_eq!(
        r.stdout,
        "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    // A filter that matches nothing removes nothing, and prints nothing.
    assert_eq!(
        b.ok(&["network", "prune", "-f", "--filter", "label=k=other"]),
        ""
    );
    assert_eq!(
        b.ok(&[
            "network",
            "prune",
            "-f",
            "--filter",
            "until=2000-01-01T00:00:00Z"
        ]),
        ""
    );
    let r = b.berth_in(&["network", "prune"], b"y\n").success();
    assert_eq!(
        r.stdout,
        "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] Deleted Networks:\nfree\n\n"
    );
    assert_eq!(network_names(&b), ["bridge", "host", "none", "used"]);
    // Nothing left to prune.
    assert_eq!(b.ok(&["network", "prune", "-f"]), "");
    b.ok(&["rm", "-f", "keeper"]);
    // Its container gone, `used` is pruned too (the filter names its label).
    assert_eq!(
        b.ok(&["network", "prune", "-f", "--filter", "label=k"]),
        "Deleted Networks:\nused\n\n"
    );
    let r = b
        .berth(&["network", "prune", "-f", "--filter", "colour=red"])
        .fails_with(1);
    assert!(r.stderr.contains("invalid filter"), "{}", r.stderr);
    b.assert_clean(&[&id]);
}

/// The table's rows as cells.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[test]
fn system_df_prints_dockers_table() {
    let b = Session::new();
    let r = b.berth(&["system", "df"]).success();
    let t = rows(&r.stdout);
    assert_eq!(t[0], ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]);
    let size = b
        .ok(&["images", "--format", "{{.Size}}"])
        .trim()
        .to_string();
    // Nothing uses the image: all of it is reclaimable.
    assert_eq!(t[1], ["Images", "1", "0", &size, &format!("{size} (100%)")]);
    assert_eq!(t[2], ["Containers", "0", "0", "0B", "0B"]);
    assert_eq!(t[3], ["Local Volumes", "0", "0", "0B", "0B"]);
    assert_eq!(t[4], ["Build Cache", "0", "0", "0B", "0B"]);
    assert_eq!(t.len(), 5);

    let id = b.detach(&[
        "--name",
        "busy",
        "-v",
        "data:/data",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.ok(&[
        "exec",
        "busy",
        "sh",
        "-c",
        "head -c 5000 /dev/zero > /data/f",
    ]);
    b.ok(&["volume", "create", "idle"]);
    let f = b.ok(&[
        "system",
        "df",
        "--format",
        "{{.Type}}|{{.TotalCount}}|{{.Active}}|{{.Reclaimable}}",
    ]);
    let f: Vec<&str> = f.lines().collect();
    assert_eq!(f[0], "Images|1|1|0B (0%)");
    assert!(f[1].starts_with("Containers|1|1|"), "{f:?}");
    // The volume in use is not reclaimable; the empty one is, and holds nothing.
    assert_eq!(f[2], "Local Volumes|2|1|0B (0%)");
    assert_eq!(f[3], "Build Cache|0|0|0B");
    let json = b.ok(&["system", "df", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(json.lines().nth(2).unwrap()).unwrap();
    assert_eq!(v["Type"], "Local Volumes");
    assert_eq!(v["Size"], "5kB");

    let v = b.ok(&["system", "df", "-v"]);
    let sections: Vec<&str> = v
        .lines()
        .filter(|l| l.ends_with(':') || l.starts_with("Build cache usage:"))
        .collect();
    assert_eq!(
        sections,
        [
            "Images space usage:",
            "Containers space usage:",
            "Local Volumes space usage:",
            "Build cache usage: 0B"
        ]
    );
    let t = rows(&v);
    assert!(
        t.contains(&vec![
            "REPOSITORY".into(),
            "TAG".into(),
            "IMAGE ID".into(),
            "CREATED".into(),
            "SIZE".into(),
            "SHARED SIZE".into(),
            "UNIQUE SIZE".into(),
            "CONTAINERS".into()
        ]),
        "{v}"
    );
    let img = t.iter().find(|r| r[0] == "busybox").unwrap();
    assert_eq!(
        (img[1].as_str(), img.last().unwrap().as_str()),
        ("latest", "1")
    );
    let c = t.iter().find(|r| r[0] == id[..12]).unwrap();
    assert_eq!((c[3].as_str(), c.last().unwrap().as_str()), ("1", "busy"));
    assert!(
        t.contains(&vec!["data".into(), "1".into(), "5kB".into()]),
        "{v}"
    );
    assert!(
        t.contains(&vec!["idle".into(), "0".into(), "0B".into()]),
        "{v}"
    );
    assert!(
        t.contains(&vec![
            "CACHE ID".into(),
            "CACHE TYPE".into(),
            "SIZE".into(),
            "CREATED".into(),
            "LAST USED".into(),
            "USAGE".into(),
            "SHARED".into()
        ]),
        "{v}"
    );
    b.ok(&["rm", "-f", "-v", "busy"]);
    b.ok(&["volume", "rm", "data", "idle"]);
    b.assert_clean(&[&id]);
}

#[test]
fn system_prune_asks_then_removes_what_nothing_uses() {
    let mut b = Session::new();
    let (s1, s2) = (b.net.slot(), b.net.slot());
    for (name, s) in [("usednet", &s1), ("freenet", &s2)] {
        let opt = format!("com.docker.network.bridge.name={}", s.bridge);
        b.ok(&["network", "create", "--subnet", &s.subnet, "-o", &opt, name]);
    }
    let keep = b.detach(&[
        "--name",
        "keep",
        "--network",
        "usednet",
        "-v",
        "named:/n",
        "busybox",
        "sleep",
        "1000",
    ]);
    b.ok(&["run", "--name", "gone", "busybox", "true"]);
    let gone = b.id("gone");
    let anon = b.ok(&["volume", "create"]).trim().to_string();
    // An image no container uses: an import.
    let dir = b.w.env.dir().join("rootfs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello"), "hi\n").unwrap();
    let tar = b.w.env.dir().join("rootfs.tar");
    b.w.env.ok(&[
        "tar",
        "-C",
        dir.to_str().unwrap(),
        "-cf",
        tar.to_str().unwrap(),
        ".",
    ]);
    let imp = b
        .ok(&["import", tar.to_str().unwrap(), "imp:1"])
        .trim()
        .to_string();

    let warning = "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\nAre you sure you want to continue? [y/N] ";
    let r = b
        .berth_in(&["system", "prune", "-a", "--volumes"], b"no\n")
        .success();
    assert_eq!((r.stdout.as_str(), r.stderr.as_str()), (warning, ""));
    let r = b
        .berth_in(&["system", "prune", "--filter", "label=x"], b"\n")
        .success();
    assert_eq!(
        r.stdout,
        "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\n  Items to be pruned will be filtered with:\n  - label=x\n\nAre you sure you want to continue? [y/N] "
    );
    assert_eq!(b.ok(&["ps", "-a", "-q"]).lines().count(), 2);
    let r = b
        .berth(&["system", "prune", "-f", "--volumes", "--filter", "until=1h"])
        .fails_with(1);
    assert!(
        r.stderr
            .contains("\"until\" filter is not supported with \"--volumes\""),
        "{}",
        r.stderr
    );

    let r = b
        .berth_in(&["system", "prune", "-a", "--volumes"], b"y\n")
        .success();
    let out = r
        .stdout
        .strip_prefix(warning)
        .unwrap_or_else(|| panic!("{}", r.stdout))
        .to_string();
    let (head, total) = out.rsplit_once("Total reclaimed space: ").unwrap();
    assert!(total.ends_with("B\n"), "{out}");
    let images = head
        .split("Deleted Images:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        head.split("Deleted Images:\n").next().unwrap(),
        format!(
            "Deleted Containers:\n{gone}\n\nDeleted Networks:\nfreenet\n\nDeleted Volumes:\n{anon}\n\n"
        )
    );
    let images: Vec<&str> = images.lines().collect();
    assert_eq!(
        images[..2],
        ["untagged: imp:1".to_string(), format!("deleted: {imp}")]
    );
    assert_eq!(images.last(), Some(&""));

    // What is in use stays: the running container, its network, its named volume, its image.
    assert_eq!(b.ok(&["ps", "-q", "--no-trunc"]).trim(), keep);
    assert_eq!(b.ok(&["ps", "-a", "-q"]).lines().count(), 1);
    assert_eq!(network_names(&b), ["bridge", "host", "none", "usednet"]);
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "named\n");
    assert_eq!(
        b.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
    // Again: nothing to remove.
    assert_eq!(
        b.ok(&["system", "prune", "-f", "-a", "--volumes"]),
        "Total reclaimed space: 0B\n"
    );
    b.ok(&["rm", "-f", "keep"]);
    b.ok(&["volume", "rm", "named"]);
    b.ok(&["network", "rm", "usednet"]);
    b.assert_clean(&[&keep, &gone]);
}

#[test]
fn rm_f_of_a_running_container_kills_it_in_the_log_too() {
    let b = Session::new();
    let id = b.detach(&["--name", "gone", "busybox", "sleep", "1000"]);
    b.ok(&["rm", "-f", "gone"]);
    let e = events(
        &b,
        &[
            "--filter",
            "type=container",
            "--format",
            "{{.Action}} {{.Actor.Attributes.signal}}{{.Actor.Attributes.exitCode}}",
        ],
    );
    assert_eq!(
        e,
        [
            "create <no value><no value>",
            "start <no value><no value>",
            "kill 9<no value>",
            "die <no value>137",
            "destroy <no value><no value>"
        ]
    );
    b.assert_clean(&[&id]);
}
