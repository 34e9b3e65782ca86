//! Docker's templates and documents, with stdout piped as scripts run them (issue 15, item 10
//! and the cosmetic items): `info` and `info --format` over moby's `system.Info`, `network ls
//! --format/--filter/-q`, `network inspect -f`, Go's printing of structs, maps and lists in
//! `inspect -f`, and docker/cli's statuses for templates (64 when one does not parse).

use berth_e2e::session::Session;

#[track_caller]
fn fails(r: berth_e2e::Run, code: i32, stdout: &str, stderr: &str) {
    let r = r.fails_with(code);
    assert_eq!(r.stdout, stdout, "{:?}", r.argv);
    assert_eq!(r.stderr, stderr, "{:?}", r.argv);
}

/// What `sched_getaffinity` and `/proc/meminfo` say, as Docker's NCPU and MemTotal do.
/// The keys of the first object of an inspect document (`[` then the object, indented by
/// docker/cli's four spaces per level: its own keys at eight), in the order printed.
fn top_level_keys(doc: &str) -> Vec<&str> {
    doc.lines()
        .filter(|l| l.starts_with("        \"") && !l.starts_with("         "))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect()
}

fn host_cpus_and_memory() -> (String, String) {
    let cpus = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .split(',')
        .map(|r| match r.split_once('-') {
            Some((a, b)) => b.parse::<u32>().unwrap() - a.parse::<u32>().unwrap() + 1,
            None => 1,
        })
        .sum::<u32>();
    let kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    (cpus.to_string(), (kb * 1024).to_string())
}

#[test]
fn info_is_dockers_document_with_this_hosts_values() {
    let b = Session::new();
    let id = b.detach(&["--name", "up", "busybox", "sleep", "1000"]);
    b.ok(&["create", "--name", "made", "busybox", "true"]);
    let root = b.root().display().to_string();
    let (cpus, mem) = host_cpus_and_memory();
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();

    let out = b.ok(&[
        "info",
        "--format",
        "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}|{{.NCPU}}|{{.MemTotal}}|{{.CgroupVersion}}|{{.DockerRootDir}}|{{.OSType}}|{{.Swarm.LocalNodeState}}",
    ]);
    assert_eq!(
        out,
        format!(
            "2 1 0 1 1|{cpus}|{mem}|{}|{root}|linux|inactive\n",
            if v2 { "2" } else { "1" }
        )
    );
    let version = b.ok(&["version", "--format", "{{.Server.Version}}"]);
    assert_eq!(b.ok(&["info", "-f", "{{.ServerVersion}}"]), version);

    // {{json .RegistryConfig}} and {{json .}}: Docker's shape, in moby's field order.
    let rc: serde_json::Value =
        serde_json::from_str(&b.ok(&["info", "-f", "{{json .RegistryConfig}}"])).unwrap();
    assert_eq!(rc["InsecureRegistryCIDRs"][1], "127.0.0.0/8");
    assert_eq!(rc["IndexConfigs"]["docker.io"]["Official"], true);
    let all = b.ok(&["info", "--format", "json"]);
    assert!(
        all.starts_with(r#"{"ID":""#) && all.contains(r#","Containers":2,"ContainersRunning":1,"#),
        "{all}"
    );
    let doc: serde_json::Value = serde_json::from_str(&all).unwrap();
    let again: serde_json::Value =
        serde_json::from_str(&b.ok(&["info", "--format", "{{json .}}"])).unwrap();
    let without_time = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("SystemTime");
        v
    };
    assert_eq!(without_time(doc.clone()), without_time(again));
    assert_eq!(doc["DockerRootDir"], root.as_str());
    // A struct prints as Go prints it: its values, in field order.
    assert_eq!(
        b.ok(&["info", "-f", "{{.Swarm}}"]),
        "{  inactive false  <nil>}\n"
    );

    // The text, piped: Docker's sections.
    let r = b.berth(&["info"]).success();
    assert!(
        r.stdout.starts_with("Client:\n Version:    "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "\nServer:\n Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(" CPUs: {cpus}\n"))
            && r.stdout.contains(&format!(" Docker Root Dir: {root}\n"))
            && r.stdout.ends_with(" Live Restore Enabled: true\n\n"),
        "{}",
        r.stdout
    );
    assert!(!r.stderr.contains("error"), "{}", r.stderr);

    // docker/cli: a template that does not parse is status 64; one that fails to run, 1.
    let r = b.berth(&["info", "-f", "{{.ID"]).fails_with(64);
    assert!(
        r.stderr.starts_with("template parsing error: "),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "");
    let r = b.berth(&["info", "-f", "{{.Nope}}"]).fails_with(1);
    assert!(
        r.stderr.contains("can't evaluate field Nope"),
        "{}",
        r.stderr
    );

    b.ok(&["rm", "-f", "up", "made"]);
    b.assert_clean(&[&id]);
}

#[test]
fn network_ls_formats_filters_and_network_inspect_templates() {
    let mut b = Session::new();
    let (s1, s2) = (b.net.slot(), b.net.slot());
    let opt = |s: &berth_e2e::net::Slot| format!("com.docker.network.bridge.name={}", s.bridge);
    let n10 = b.ok(&[
        "network",
        "create",
        "--subnet",
        &s1.subnet,
        "-o",
        &opt(&s1),
        "--label",
        "tier=front",
        "net10",
    ]);
    let n2 = b.ok(&[
        "network",
        "create",
        "--subnet",
        &s2.subnet,
        "-o",
        &opt(&s2),
        "--internal",
        "net2",
    ]);
    let (n10, n2) = (n10.trim(), n2.trim());
    let id = b.detach(&[
        "--name",
        "on2",
        "--network",
        "net2",
        "busybox",
        "sleep",
        "1000",
    ]);

    // The default table, in docker/cli's natural name order.
    let names: Vec<String> = b
        .ok(&["network", "ls"])
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    assert_eq!(names, ["bridge", "host", "net2", "net10", "none"]);
    assert_eq!(
        b.ok(&[
            "network",
            "ls",
            "--filter",
            "type=custom",
            "--format",
            "table {{.Name}}\t{{.Driver}}\t{{.Internal}}\t{{.IPv6}}\t{{.Label \"tier\"}}",
        ]),
        "NAME      DRIVER    INTERNAL   IPV6      tier\n\
         net2      bridge    true       false     \n\
         net10     bridge    false      false     front\n"
    );
    assert_eq!(
        b.ok(&[
            "network",
            "ls",
            "-f",
            "name=net1",
            "--format",
            "{{.ID}} {{.Labels}}"
        ]),
        format!("{} tier=front\n", &n10[..12])
    );
    let line = b.ok(&[
        "network",
        "ls",
        "-f",
        "label=tier=front",
        "--format",
        "json",
    ]);
    let row: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (&row["Name"], &row["Scope"]),
        (&"net10".into(), &"local".into())
    );
    assert!(
        row["CreatedAt"].as_str().unwrap().ends_with(" +0000 UTC"),
        "{row}"
    );
    // -q, --no-trunc, type=builtin, dangling (net2 has a container, net10 none).
    assert_eq!(
        b.ok(&["network", "ls", "-q", "-f", "type=builtin"])
            .lines()
            .count(),
        3
    );
    assert_eq!(
        b.ok(&["network", "ls", "-q", "--no-trunc", "-f", "dangling=true"]),
        format!("{n10}\n")
    );
    assert_eq!(
        b.ok(&[
            "network",
            "ls",
            "-f",
            "driver=bridge",
            "-f",
            "id=",
            "--format",
            "{{.Name}}"
        ]),
        "bridge\nnet2\nnet10\n"
    );
    fails(
        b.berth(&["network", "ls", "-f", "bogus=1"]),
        1,
        "",
        "Error response from daemon: invalid filter 'bogus'\n",
    );
    fails(
        b.berth(&["network", "ls", "-f", "type=other"]),
        1,
        "",
        "Error response from daemon: invalid filter: 'type'='other'\n",
    );

    // network inspect -f: what was found, then each missing name on stderr, status 1.
    fails(
        b.berth(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Internal}}",
            "net2",
            "nosuch",
        ]),
        1,
        "net2 bridge true\n",
        "Error response from daemon: network nosuch not found\n",
    );
    fails(
        b.berth(&["network", "inspect", "-f", "{{.Name}}", "nosuch"]),
        1,
        "\n",
        "Error response from daemon: network nosuch not found\n",
    );
    fails(
        b.berth(&["network", "inspect", "nosuch"]),
        1,
        "[]\n",
        "Error response from daemon: network nosuch not found\n",
    );
    let r = b
        .berth(&["network", "inspect", "-f", "{{.Name", "net2"])
        .fails_with(64);
    assert!(
        r.stderr.starts_with("template parsing error: "),
        "{}",
        r.stderr
    );
    let compact = b.ok(&["network", "inspect", "--format", "json", n2]);
    assert!(
        compact.starts_with("[{") && compact.lines().count() == 1,
        "{compact}"
    );
    assert_eq!(
        b.ok(&[
            "network",
            "inspect",
            "-f",
            "{{range $id, $c := .Containers}}{{$c.Name}}{{end}}",
            "net2"
        ]),
        "on2\n"
    );

    // moby's network.Inspect is a struct: Go prints IPAM as one, omitempty fields as their
    // zero values; maps range in key order; nil ranges over nothing.
    assert_eq!(
        b.ok(&[
            "network",
            "inspect",
            "-f",
            "{{.IPAM}}|{{.ConfigFrom}}",
            "net10"
        ]),
        format!(
            "{{default map[] [{{{}  {} map[]}}]}}|{{}}\n",
            s1.subnet, s1.gateway
        )
    );
    assert_eq!(
        b.ok(&[
            "network",
            "inspect",
            "-f",
            "{{range $k, $v := .Options}}{{$k}}={{$v}};{{end}}{{range .Peers}}x{{else}}-{{end}}",
            "net10"
        ]),
        format!(
            "com.docker.network.bridge.enable_icc=true;\
             com.docker.network.bridge.enable_ip_masquerade=true;\
             com.docker.network.bridge.name={};-\n",
            s1.bridge
        )
    );
    assert_eq!(
        b.ok(&[
            "network",
            "inspect",
            "-f",
            "{{len .Containers}} {{len .Labels}} {{index .Labels \"tier\"}}",
            "net10"
        ]),
        "0 1 front\n"
    );
    // Created is a time.Time: Go's String() when printed, RFC 3339 in json.
    let created = b.ok(&[
        "network",
        "inspect",
        "-f",
        "{{.Created}}|{{json .Created}}",
        "net10",
    ]);
    let (go, json) = created.trim_end().split_once('|').unwrap();
    assert!(
        go.ends_with(" +0000 UTC") && go.as_bytes()[10] == b' ',
        "{created}"
    );
    let json: String = serde_json::from_str(json).unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(&json).is_ok(),
        "{created}"
    );
    // The JSON keeps moby's field order.
    let doc = b.ok(&["network", "inspect", "net10"]);
    let keys = top_level_keys(&doc);
    assert_eq!(
        keys,
        [
            "Name",
            "Id",
            "Created",
            "Scope",
            "Driver",
            "EnableIPv4",
            "EnableIPv6",
            "IPAM",
            "Internal",
            "Attachable",
            "Ingress",
            "ConfigFrom",
            "ConfigOnly",
            "Containers",
            "Options",
            "Labels"
        ],
        "{doc}"
    );

    // IPAMConfig: null unless --ip was given, then the address as given.
    let fixed_ip = s2.addr(9).to_string();
    let fixed = b.detach(&[
        "--name",
        "fixed",
        "--network",
        "net2",
        "--ip",
        &fixed_ip,
        "busybox",
        "sleep",
        "1000",
    ]);
    assert_eq!(
        b.inspect("on2", "{{json .NetworkSettings.Networks.net2.IPAMConfig}}"),
        "null"
    );
    assert_eq!(
        b.inspect(
            "fixed",
            "{{json .NetworkSettings.Networks.net2.IPAMConfig}}"
        ),
        format!(r#"{{"IPv4Address":"{fixed_ip}"}}"#)
    );
    assert_eq!(
        b.inspect(
            "fixed",
            "{{with .NetworkSettings.Networks.net2.IPAMConfig}}{{.}}|{{.IPv6Address}}|{{end}}"
        ),
        format!("{{{fixed_ip}  []}}||")
    );
    // network connect --ip: the same, on that network's endpoint.
    let joined_ip = s1.addr(7).to_string();
    b.ok(&["network", "connect", "--ip", &joined_ip, "net10", "fixed"]);
    assert_eq!(
        b.inspect(
            "fixed",
            "{{json .NetworkSettings.Networks.net10.IPAMConfig}}"
        ),
        format!(r#"{{"IPv4Address":"{joined_ip}"}}"#)
    );
    b.ok(&["network", "disconnect", "net10", "fixed"]);
    let whole = b.ok(&["inspect", "fixed"]);
    assert!(
        whole.contains(&format!(
            "\"IPAMConfig\": {{\n                        \"IPv4Address\": \"{fixed_ip}\"\n                    }},"
        )),
        "{whole}"
    );

    b.ok(&["rm", "-f", "on2", "fixed"]);
    b.ok(&["network", "rm", "net2", "net10"]);
    b.assert_clean(&[&id, &fixed]);
}

#[test]
fn inspect_prints_structs_maps_and_lists_as_go_does() {
    let b = Session::new();
    let port = b.port(0).to_string();
    let publish = format!("127.0.0.1:{port}:80");
    let id = b.detach(&[
        "--name",
        "web",
        "-p",
        &publish,
        "-e",
        "A=1",
        "-e",
        "B=two words",
        "--restart",
        "on-failure:3",
        "busybox",
        "sleep",
        "1000",
    ]);
    let f = |t: &str| b.inspect("web", t);
    assert_eq!(
        f("{{.NetworkSettings.Ports}}"),
        format!("map[80/tcp:[{{127.0.0.1 {port}}}]]")
    );
    assert_eq!(f("{{.HostConfig.RestartPolicy}}"), "{on-failure 3}");
    assert_eq!(
        f("{{json .HostConfig.RestartPolicy}}"),
        r#"{"Name":"on-failure","MaximumRetryCount":3}"#
    );
    let env = f("{{.Config.Env}}");
    assert!(
        env.starts_with('[') && env.ends_with(']') && env.contains("A=1 B=two words"),
        "{env}"
    );
    // .State: its values in moby's field order, the unset Health as <nil>.
    let pid = f("{{.State.Pid}}");
    let started = f("{{.State.StartedAt}}");
    assert_eq!(
        f("{{.State}}"),
        format!(
            "{{running true false false false false {pid} 0  {started} 0001-01-01T00:00:00Z <nil>}}"
        )
    );
    assert_eq!(f("{{.Config.Labels}}"), "map[]");
    // Nil slices and maps print as Go's do, and stay null in JSON.
    assert_eq!(f("{{.HostConfig.Binds}}|{{.Config.Volumes}}"), "[]|map[]");
    let hc = f("{{json .HostConfig}}");
    assert!(hc.contains(r#""Binds":null,"#), "{hc}");
    assert_eq!(f("{{.Config.Cmd}}"), "[sleep 1000]");
    // A struct names only its fields: Docker's error, status 1.
    let r = b
        .berth(&["inspect", "-f", "{{.State.Nope}}", "web"])
        .fails_with(1);
    assert!(
        r.stderr.contains("can't evaluate field Nope"),
        "{}",
        r.stderr
    );
    // Nothing found: docker/cli's empty line, and the error on stderr only.
    fails(
        b.berth(&["inspect", "-f", "{{.Id}}", "nosuch"]),
        1,
        "\n",
        "Error: No such object: nosuch\n",
    );
    let r = b.berth(&["inspect", "-f", "{{.Id", "web"]).fails_with(64);
    assert!(
        r.stderr.starts_with("template parsing error: "),
        "{}",
        r.stderr
    );

    b.ok(&["rm", "-f", "web"]);
    b.assert_clean(&[&id]);
}

#[test]
fn image_and_volume_inspect_print_mobys_structs() {
    let b = Session::new();
    // moby's image.InspectResponse: structs print in field order, times as Go's.
    assert_eq!(
        b.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.RootFS.Type}} {{.Config.Cmd}} {{.GraphDriver}} {{.Metadata}} {{len .RootFS.Layers}}",
            "busybox"
        ]),
        "layers [sh] {map[] overlay} {0001-01-01 00:00:00 +0000 UTC} 1\n"
    );
    // moby's container.Config: every field, omitted ones as their zero values.
    assert_eq!(
        b.inspect("busybox", "{{.Config}}"),
        "{   false false false map[] false false false \
         [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin] [sh] <nil> false  \
         map[]  [] false  [] map[]  <nil> []}"
    );
    let doc = b.ok(&["image", "inspect", "busybox"]);
    let keys = top_level_keys(&doc);
    assert_eq!(
        &keys[..8],
        [
            "Id",
            "RepoTags",
            "RepoDigests",
            "Parent",
            "Comment",
            "Created",
            "DockerVersion",
            "Author"
        ],
        "{doc}"
    );

    // moby's volume.Volume, through `volume inspect` and `inspect`.
    b.ok(&["volume", "create", "--label", "b=2", "--label", "a=1", "v1"]);
    let created = b.ok(&["volume", "inspect", "-f", "{{.CreatedAt}}", "v1"]);
    let mountpoint = b.ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", "v1"]);
    assert_eq!(
        b.ok(&["volume", "inspect", "-f", "{{.}}", "v1"]),
        format!(
            "{{<nil> {} local map[a:1 b:2] {} v1 map[] local map[] <nil>}}\n",
            created.trim(),
            mountpoint.trim()
        )
    );
    assert_eq!(
        b.inspect(
            "v1",
            "{{range $k, $v := .Labels}}{{$k}}{{$v}}{{end}} {{.Options}}"
        ),
        "a1b2 map[]"
    );
    b.ok(&["volume", "rm", "v1"]);
    b.assert_clean(&[]);
}

/// docker/cli's `--format` help of the inspect verbs (`flagsHelper.InspectFormatHelp`).
const INSPECT_FORMAT: &str = "  -f, --format string   Format output using a custom template:
                        'json':             Print in JSON format
                        'TEMPLATE':         Print output using the given Go template.
                        Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
";

#[test]
fn each_inspect_verb_prints_docker_clis_own_help() {
    let b = Session::empty();
    let help = |verb: &str, use_line: &str, about: &str, more: &str| {
        let mut argv: Vec<&str> = verb.split(' ').collect();
        argv.push("--help");
        assert_eq!(
            b.ok(&argv),
            format!(
                "\nUsage:  berth {verb} [OPTIONS] {use_line}\n\n{about}\n\nOptions:\n{INSPECT_FORMAT}{more}"
            ),
            "{verb}"
        );
    };
    help(
        "container inspect",
        "CONTAINER [CONTAINER...]",
        "Display detailed information on one or more containers",
        "  -s, --size            Display total file sizes\n",
    );
    help(
        "image inspect",
        "IMAGE [IMAGE...]",
        "Display detailed information on one or more images",
        "",
    );
    help(
        "network inspect",
        "NETWORK [NETWORK...]",
        "Display detailed information on one or more networks",
        "  -v, --verbose         Verbose output for diagnostics\n",
    );
    help(
        "volume inspect",
        "VOLUME [VOLUME...]",
        "Display detailed information on one or more volumes",
        "",
    );
    // container inspect finds containers only, as Docker's does.
    b.ok(&["volume", "create", "v1"]);
    let r = b
        .berth(&["container", "inspect", "-f", "{{.Name}}", "v1"])
        .fails_with(1);
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        ("\n", "Error response from daemon: No such container: v1\n")
    );
    assert_eq!(b.ok(&["inspect", "-f", "{{.Name}}", "v1"]), "v1\n");
    b.ok(&["volume", "rm", "v1"]);
}

/// The use line and description `VERB --help` opens with, for a table of verbs.
const VERBS: &[(&str, &str, &str)] = &[
    (
        "stop",
        "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
        "Stop one or more running containers",
    ),
    (
        "start",
        "berth start [OPTIONS] CONTAINER [CONTAINER...]",
        "Start one or more stopped containers",
    ),
    (
        "restart",
        "berth restart [OPTIONS] CONTAINER [CONTAINER...]",
        "Restart one or more containers",
    ),
    (
        "kill",
        "berth kill [OPTIONS] CONTAINER [CONTAINER...]",
        "Kill one or more running containers",
    ),
    (
        "pause",
        "berth pause CONTAINER [CONTAINER...]",
        "Pause all processes within one or more containers",
    ),
    (
        "unpause",
        "berth unpause CONTAINER [CONTAINER...]",
        "Unpause all processes within one or more containers",
    ),
    (
        "wait",
        "berth wait CONTAINER [CONTAINER...]",
        "Block until one or more containers stop, then print their exit codes",
    ),
    (
        "rm",
        "berth rm [OPTIONS] CONTAINER [CONTAINER...]",
        "Remove one or more containers",
    ),
    (
        "exec",
        "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]",
        "Execute a command in a running container",
    ),
    (
        "logs",
        "berth logs [OPTIONS] CONTAINER",
        "Fetch the logs of a container",
    ),
    (
        "container stop",
        "berth container stop [OPTIONS] CONTAINER [CONTAINER...]",
        "Stop one or more running containers",
    ),
    (
        "network rm",
        "berth network rm [OPTIONS] NETWORK [NETWORK...]",
        "Remove one or more networks",
    ),
    (
        "volume rm",
        "berth volume rm [OPTIONS] VOLUME [VOLUME...]",
        "Remove one or more volumes",
    ),
    (
        "run",
        "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
        "Create and run a new container from an image",
    ),
];

/// Key lines of docker/cli v28's `VERB --help` (the use line, the description, options),
/// whitespace runs squeezed to one space, as berth must print them.
const HELP_LINES: &[(&str, &[&str])] = &[
    (
        "ps",
        &[
            "Usage: berth ps [OPTIONS]",
            "List containers",
            "-a, --all Show all containers (default shows just running)",
            "-f, --filter filter Filter output based on conditions provided",
            "--format string Format output using a custom template:",
            "'table': Print output in table format with column headers (default)",
            "-n, --last int Show n last created containers (includes all states) (default -1)",
            "-l, --latest Show the latest created container (includes all states)",
            "-q, --quiet Only display container IDs",
            "-s, --size Display total file sizes",
        ],
    ),
    (
        "images",
        &[
            "Usage: berth images [OPTIONS] [REPOSITORY[:TAG]]",
            "List images",
            "berth image ls, berth image list, berth images",
            "-a, --all Show all images (default hides intermediate images)",
            "-f, --filter filter Filter output based on conditions provided",
            "-q, --quiet Only show image IDs",
        ],
    ),
    (
        "image ls",
        &[
            "Usage: berth image ls [OPTIONS] [REPOSITORY[:TAG]]",
            "--digests Show digests",
        ],
    ),
    (
        "rmi",
        &[
            "Usage: berth rmi [OPTIONS] IMAGE [IMAGE...]",
            "Remove one or more images",
            "-f, --force Force removal of the image",
        ],
    ),
    (
        "tag",
        &[
            "Usage: berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
            "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        ],
    ),
    (
        "save",
        &[
            "Usage: berth save [OPTIONS] IMAGE [IMAGE...]",
            "Save one or more images to a tar archive (streamed to STDOUT by default)",
            "-o, --output string Write to a file, instead of STDOUT",
        ],
    ),
    (
        "load",
        &[
            "Usage: berth load [OPTIONS]",
            "Load an image from a tar archive or STDIN",
            "-i, --input string Read from tar archive file, instead of STDIN",
            "-q, --quiet Suppress the load output",
        ],
    ),
    (
        "push",
        &[
            "Usage: berth push [OPTIONS] NAME[:TAG]",
            "Upload an image to a registry",
            "-a, --all-tags Push all tags of an image to the repository",
            "-q, --quiet Suppress verbose output",
        ],
    ),
    (
        "import",
        &[
            "Usage: berth import [OPTIONS] file|- [REPOSITORY[:TAG]]",
            "Import the contents from a tarball to create a filesystem image",
            "-c, --change list Apply Dockerfile instruction to the created image",
            "-m, --message string Set commit message for imported image",
        ],
    ),
    (
        "history",
        &[
            "Usage: berth history [OPTIONS] IMAGE",
            "Show the history of an image",
            "-H, --human Print sizes and dates in human readable format (default true)",
            "--no-trunc Don't truncate output",
            "-q, --quiet Only show image IDs",
        ],
    ),
    (
        "image prune",
        &[
            "Usage: berth image prune [OPTIONS]",
            "Remove unused images",
            "-a, --all Remove all unused images, not just dangling ones",
            "--filter filter Provide filter values (e.g. \"until=<timestamp>\")",
        ],
    ),
    (
        "search",
        &[
            "--format string Pretty-print search using a Go template",
            "--limit int Max number of search results (default 25)",
        ],
    ),
    (
        "login",
        &[
            "Usage: berth login [OPTIONS] [SERVER]",
            "Authenticate to a registry",
            "-p, --password string Password or Personal Access Token (PAT)",
            "--password-stdin Take the Password or Personal Access Token (PAT) from stdin",
            "-u, --username string Username",
        ],
    ),
    (
        "logout",
        &["Usage: berth logout [SERVER]", "Log out from a registry"],
    ),
    (
        "pull",
        &[
            "Usage: berth pull [OPTIONS] NAME[:TAG|@DIGEST]",
            "Download an image from a registry",
            "--platform string Set platform if server is multi-platform capable",
            "-q, --quiet Suppress verbose output",
        ],
    ),
    (
        "inspect",
        &[
            "Usage: berth inspect [OPTIONS] NAME|ID [NAME|ID...]",
            "Return low-level information on Docker objects",
            "-f, --format string Format output using a custom template:",
            "'json': Print in JSON format",
            "-s, --size Display total file sizes if the type is container",
            "--type string Return JSON for specified type",
        ],
    ),
    (
        "logs",
        &[
            "Usage: berth logs [OPTIONS] CONTAINER",
            "-f, --follow Follow log output",
            "--since string Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative (e.g. \"42m\" for 42 minutes)",
            "-n, --tail string Number of lines to show from the end of the logs (default \"all\")",
            "--details Show extra details provided to logs",
        ],
    ),
    (
        "top",
        &[
            "Usage: berth top CONTAINER [ps OPTIONS]",
            "Display the running processes of a container",
        ],
    ),
    (
        "port",
        &[
            "Usage: berth port CONTAINER [PRIVATE_PORT[/PROTO]]",
            "List port mappings or a specific mapping for the container",
        ],
    ),
    (
        "stats",
        &[
            "Usage: berth stats [OPTIONS] [CONTAINER...]",
            "Display a live stream of container(s) resource usage statistics",
            "--no-stream Disable streaming stats and only pull the first result",
            "--format string Format output using a custom template:",
        ],
    ),
    (
        "rm",
        &[
            "-f, --force Force the removal of a running container (uses SIGKILL)",
            "-v, --volumes Remove anonymous volumes associated with the container",
        ],
    ),
    (
        "rename",
        &[
            "Usage: berth rename CONTAINER NEW_NAME",
            "Rename a container",
        ],
    ),
    (
        "cp",
        &[
            "Copy files/folders between a container and the local filesystem",
            "-a, --archive Archive mode (copy all uid/gid information)",
            "-L, --follow-link Always follow symbol link in SRC_PATH",
        ],
    ),
    (
        "commit",
        &[
            "Usage: berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
            "Create a new image from a container's changes",
            "-a, --author string Author (e.g., \"John Hannibal Smith <hannibal@a-team.com>\")",
            "-c, --change list Apply Dockerfile instruction to the created image",
            "-p, --pause Pause container during commit (default true)",
        ],
    ),
    (
        "diff",
        &[
            "Usage: berth diff CONTAINER",
            "Inspect changes to files or directories on a container's filesystem",
        ],
    ),
    (
        "export",
        &[
            "Usage: berth export [OPTIONS] CONTAINER",
            "Export a container's filesystem as a tar archive",
            "-o, --output string Write to a file, instead of STDOUT",
        ],
    ),
    (
        "events",
        &[
            "Usage: berth events [OPTIONS]",
            "Get real time events from the server",
            "berth system events, berth events",
            "-f, --filter filter Filter output based on conditions provided",
            "--since string Show all events created since timestamp",
            "--until string Stream events until this timestamp",
        ],
    ),
    (
        "system df",
        &[
            "Usage: berth system df [OPTIONS]",
            "-v, --verbose Show detailed information on space usage",
        ],
    ),
    (
        "system prune",
        &[
            "Usage: berth system prune [OPTIONS]",
            "Remove unused data",
            "-a, --all Remove all unused images not just dangling ones",
            "--volumes Prune anonymous volumes",
        ],
    ),
    (
        "info",
        &[
            "Usage: berth info [OPTIONS]",
            "Display system-wide information",
            "-f, --format string Format output using a custom template:",
        ],
    ),
    (
        "version",
        &[
            "Usage: berth version [OPTIONS]",
            "-f, --format string Format output using a custom template:",
        ],
    ),
    (
        "container prune",
        &[
            "Usage: berth container prune [OPTIONS]",
            "Remove all stopped containers",
            "--filter filter Provide filter values (e.g. \"until=<timestamp>\")",
            "-f, --force Do not prompt for confirmation",
        ],
    ),
    (
        "build",
        &[
            "Usage: berth build [OPTIONS] PATH | -",
            "Build an image from a Dockerfile",
            "-t, --tag list Name and optionally a tag in the \"name:tag\" format",
            "--build-arg list Set build-time variables",
        ],
    ),
    (
        "update",
        &[
            "Usage: berth update [OPTIONS] CONTAINER [CONTAINER...]",
            "Update configuration of one or more containers",
            "-m, --memory bytes Memory limit",
            "--cpus decimal Number of CPUs",
            "--blkio-weight uint16 Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)",
        ],
    ),
    (
        "image inspect",
        &[
            "Usage: berth image inspect [OPTIONS] IMAGE [IMAGE...]",
            "Display detailed information on one or more images",
        ],
    ),
    (
        "network inspect",
        &["Usage: berth network inspect [OPTIONS] NETWORK [NETWORK...]"],
    ),
    (
        "volume inspect",
        &["Usage: berth volume inspect [OPTIONS] VOLUME [VOLUME...]"],
    ),
    ("image", &["Usage: berth image COMMAND", "Manage images"]),
    (
        "builder prune",
        &[
            "Usage: berth builder prune [OPTIONS]",
            "Remove build cache",
            "--force Do not prompt for confirmation",
        ],
    ),
    (
        "start",
        &[
            "-a, --attach Attach STDOUT/STDERR and forward signals",
            "-i, --interactive Attach container's STDIN",
            "--detach-keys string Override the key sequence for detaching a container",
        ],
    ),
];

#[test]
fn help_and_usage_errors_speak_of_the_verb_typed() {
    let b = Session::empty();
    for (verb, use_line, about) in VERBS {
        let words: Vec<&str> = verb.split(' ').collect();
        let with = |extra: &[&str]| {
            let mut a = words.clone();
            a.extend_from_slice(extra);
            b.berth(&a)
        };
        // --help: docker/cli's layout on stdout, no internal tool or flag in sight.
        let r = with(&["--help"]).success();
        assert!(
            r.stdout
                .starts_with(&format!("\nUsage:  {use_line}\n\n{about}\n")),
            "{verb}: {}",
            r.stdout
        );
        for internal in ["Usage: berth-", "--root ", "--berth-root", "--log-format"] {
            assert!(
                !r.stdout.contains(internal),
                "{verb}: {internal}\n{}",
                r.stdout
            );
        }
        // Too few arguments: status 1, Docker's words and use line.
        let many = use_line.ends_with("...]");
        let r = with(&[]).fails_with(1);
        let expect = if many {
            format!(
                "berth: 'berth {verb}' requires at least 1 argument\n\nUsage:  {use_line}\n\nSee 'berth {verb} --help' for more information\n"
            )
        } else {
            format!(
                "berth: 'berth {verb}' requires 1 argument\n\nUsage:  {use_line}\n\nRun 'berth {verb} --help' for more information\n"
            )
        };
        assert_eq!(r.stderr, expect, "{verb}");
        assert_eq!(r.stdout, "");
        // An unknown flag: 125, for every verb.
        let r = with(&["--frob", "x"]).fails_with(125);
        assert_eq!(
            r.stderr,
            format!(
                "unknown flag: --frob\n\nUsage:  {use_line}\n\nRun 'berth {verb} --help' for more information\n"
            ),
            "{verb}"
        );
    }
    // The options of a verb, as pflag lists them.
    let stop = b.ok(&["stop", "--help"]);
    assert!(
        stop.ends_with(
            "Options:\n  -s, --signal string   Signal to send to the container\n  -t, --timeout int     Seconds to wait before killing the container\n"
        ),
        "{stop}"
    );
    assert!(b.ok(&["run", "--help"]).contains("\n  -e, --env list "));
    // A flag's value missing, a shorthand unknown: pflag's words, 125.
    let r = b.berth(&["kill", "-s"]).fails_with(125);
    assert!(
        r.stderr
            .starts_with("flag needs an argument: --signal\n\nUsage:  berth kill "),
        "{}",
        r.stderr
    );
    let r = b.berth(&["ps", "-Z"]).fails_with(125);
    assert!(
        r.stderr
            .starts_with("unknown shorthand flag: 'Z' in -Z\n\nUsage:  berth ps [OPTIONS]\n"),
        "{}",
        r.stderr
    );
    // Too many: rename takes exactly two.
    let r = b.berth(&["rename", "a", "b", "c"]).fails_with(1);
    assert!(
        r.stderr
            .starts_with("berth: 'berth rename' requires 2 arguments\n"),
        "{}",
        r.stderr
    );
    // Each verb's flags in docker/cli's words, stdout piped.
    for (verb, lines) in HELP_LINES {
        let mut a: Vec<&str> = verb.split(' ').collect();
        a.push("--help");
        let out = b.ok(&a);
        let squeezed: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        for want in *lines {
            assert!(
                squeezed.iter().any(|l| l == want),
                "{verb} --help lacks {want:?}:\n{out}"
            );
        }
        for internal in ["--root ", "--resources", "--berth-root", "Pipeline stage"] {
            assert!(!out.contains(internal), "{verb}: {internal}\n{out}");
        }
    }
    // `builder prune`'s flag is not `build`'s, nor `build`'s flags `builder prune`'s.
    assert!(!b.ok(&["build", "--help"]).contains("--force"));
    let prune = b.ok(&["builder", "prune", "--help"]);
    assert!(
        !prune.contains("--tag") && !prune.contains("--prune"),
        "{prune}"
    );
    // A group prints its commands.
    let r = b.berth(&["network", "--help"]).success();
    assert!(
        r.stdout
            .starts_with("\nUsage:  berth network COMMAND\n\nManage networks\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\n  ls "), "{}", r.stdout);
}
