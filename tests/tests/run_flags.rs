//! berth-run's flag table (tools/ctl/src/run_flags.rs, which also makes its completions and
//! man page) against the script and the stages: every flag, long and short, is accepted and
//! sent to the stage the table names (DESIGN.md, "Docker flag -> stage"), and that stage
//! knows it. Docker flags berth lacks are refused by name.

use berth_e2e::TestEnv;
use berth_e2e::argv;

struct Flag {
    long: String,
    short: Option<String>,
    value: bool,
    stage: String,
}

fn table(env: &TestEnv) -> Vec<Flag> {
    env.ok(&["berth-ctl", "generate", "berth-run", "flags"])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            Flag {
                long: f[0].into(),
                short: (f[1] != "-").then(|| f[1].to_string()),
                value: f[2] == "value",
                stage: f[3].into(),
            }
        })
        .collect()
}

/// The pipeline's segments by stage name.
fn segments(line: &str) -> Vec<(String, String)> {
    line.trim()
        .split(" | ")
        .map(|seg| {
            let tool = seg.split(' ').next().unwrap();
            (
                tool.trim_start_matches("berth-").to_string(),
                seg.to_string(),
            )
        })
        .collect()
}

fn sample(long: &str) -> &'static str {
    match long {
        "log-driver" => "json-file",
        "volume-driver" => "local",
        "isolation" => "default",
        "lxc-conf" => "lxc.cgroup.cpuset.cpus=0",
        _ => "v1",
    }
}

#[test]
fn every_flag_reaches_the_stage_that_owns_it() {
    let env = TestEnv::new();
    let flags = table(&env);
    assert!(flags.len() > 60, "the table lost flags");
    let helps: Vec<(String, String)> = ["pull", "unpack", "netns", "vol", "spawn"]
        .iter()
        .map(|s| {
            let h = match *s {
                // berth-spawn's flags are those of its pipeline verbs.
                "spawn" => env.ok(&["berth-spawn", "start", "--help"]),
                _ => env.ok(&[&format!("berth-{s}"), "--help"]),
            };
            (s.to_string(), h)
        })
        .collect();
    for f in flags.iter().filter(|f| f.stage != "refused") {
        let mut forms = vec![format!("--{}", f.long)];
        forms.extend(f.short.iter().map(|s| format!("-{s}")));
        for form in forms {
            let mut args = vec!["run".to_string(), "--dry-run".into(), form.clone()];
            if f.value {
                args.push(sample(&f.long).into());
            }
            args.extend(["busybox".to_string(), "true".into()]);
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut full = vec!["berth"];
            full.extend(argv);
            let r = env.run(&full);
            assert!(r.status.success(), "{form}: {}", r.stderr);
            let want = if f.value {
                format!("--{}={}", f.long, sample(&f.long))
            } else {
                format!("--{}", f.long)
            };
            let segs = segments(&r.stdout);
            let owners: Vec<&str> = segs
                .iter()
                .filter(|(_, seg)| seg.split(' ').any(|w| w == want))
                .map(|(s, _)| s.as_str())
                .collect();
            let expected: Vec<&str> = match f.stage.as_str() {
                "berth-run" => vec![],
                s => s.split('+').collect(),
            };
            assert_eq!(owners, expected, "{form}: {}", r.stdout);
            for s in &expected {
                let help = &helps.iter().find(|(n, _)| n == s).unwrap().1;
                assert!(
                    help.contains(&format!("--{}", f.long)),
                    "berth-{s} does not know --{} (berth-run sends it there)",
                    f.long
                );
            }
        }
    }
}

#[test]
fn flag_forms_and_refusals() {
    let env = TestEnv::new();
    let dry = |args: &[&str]| {
        let mut a = vec!["berth", "run", "--dry-run"];
        a.extend_from_slice(args);
        env.run(&a)
    };
    // Clusters, attached values, --flag=value, and the image's own arguments left alone.
    let out = dry(&argv!(
        "-dit -p8080:80 -eA=1 --name=web busybox sh -c 'echo -d --rm'"
    ))
    .success()
    .stdout;
    assert_eq!(
        out,
        "berth-pull busybox | berth-unpack --env=A=1 --name=web - -- sh -c 'echo -d --rm' \
         | berth-netns --publish=8080:80 - | berth-vol - \
         | berth-spawn start --detach --interactive --tty -\n"
    );
    // A boolean given twice is given once, as in Docker.
    let out = dry(&["-d", "--detach", "-it", "-i", "--rm", "--rm", "busybox"])
        .success()
        .stdout;
    assert!(
        out.ends_with("| berth-spawn start --detach --interactive --tty --rm -\n"),
        "{out}"
    );
    // create ends with spawn's create.
    let out = env.ok(&["berth", "create", "--dry-run", "busybox"]);
    assert!(out.ends_with("| berth-spawn create -\n"), "{out}");
    // Booleans take =true/=false.
    let out = dry(&["--rm=false", "--init=true", "busybox"])
        .success()
        .stdout;
    assert!(out.contains("berth-spawn start --init -"), "{out}");
    for (args, says) in [
        (vec!["--gpus", "all", "busybox"], "--gpus is not supported"),
        (
            vec!["--kernel-memory", "1g", "busybox"],
            "--kernel-memory is not supported by berth: kernel memory limits were removed",
        ),
        (
            vec!["--isolation", "hyperv", "busybox"],
            "invalid isolation \"hyperv\": on Linux only 'default' is supported",
        ),
        (
            vec!["-d", "-a", "stdout", "busybox"],
            "conflicting options: cannot specify both --attach and --detach",
        ),
        (
            vec!["--frobnicate", "busybox"],
            "unknown flag: --frobnicate",
        ),
        (vec!["-Z", "busybox"], "unknown shorthand flag: 'Z'"),
        (vec!["--name"], "flag needs an argument: --name"),
        (vec!["--rm=maybe", "busybox"], "invalid argument \"maybe\""),
        (
            vec!["--log-driver", "gelf", "busybox"],
            "--log-driver gelf is not supported",
        ),
        (vec![], "requires at least 1 argument"),
    ] {
        // docker/cli: a flag error is 125, a missing image 1, both with the use line.
        let r = dry(&args).fails_with(if args.is_empty() { 1 } else { 125 });
        if r.stderr
            .contains("\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n")
        {
            let first = r.stderr.lines().next().unwrap_or_default();
            assert!(first.contains(says), "{args:?}: {}", r.stderr);
        } else {
            assert!(r.error_line().contains(says), "{args:?}: {}", r.stderr);
        }
        assert_eq!(r.stdout, "");
    }
    // The dispatcher: unknown verbs are 125; help is 0; `container VERB` is `VERB`.
    let r = env.run(&["berth", "frob"]).fails_with(125);
    assert!(
        r.stderr.contains("'frob' is not a berth command"),
        "{}",
        r.stderr
    );
    assert!(env.ok(&["berth", "--help"]).contains("Containers:"));
    assert_eq!(env.ok(&["berth", "container", "ls", "-a", "-q"]), "");
    assert!(
        env.ok(&["berth", "version"])
            .contains(env!("CARGO_PKG_VERSION"))
    );
    // What scripts ask `docker version` for.
    let v = env.ok(&argv!(
        "berth version --format '{{.Server.Version}} {{.Client.Version}} {{.Server.Os}}'"
    ));
    let ver = env!("CARGO_PKG_VERSION");
    assert_eq!(v, format!("{ver} {ver} linux\n"));
    let j: serde_json::Value =
        serde_json::from_str(&env.ok(&argv!("berth version --format '{{json .}}'"))).unwrap();
    assert_eq!(j["Server"]["Components"][0]["Name"], "Engine");
}

/// The arms of `case` in the shell function `name` of berth-run: each arm's words, and the
/// value it assigns to `long` (for the short-flag tables).
fn case_arms(script: &str, name: &str) -> Vec<(Vec<String>, Option<String>)> {
    let start = script
        .find(&format!("\n{name}() {{"))
        .unwrap_or_else(|| panic!("berth-run has no function {name}"));
    let body = &script[start + 1..];
    let body = &body[..body.find("\n}\n").expect("function end")];
    let joined = body.replace("\\\n", " ");
    let mut arms = Vec::new();
    for line in joined.lines() {
        for arm in line.split(";;") {
            let arm = arm.trim();
            let Some((pat, rest)) = arm.split_once(')') else {
                continue;
            };
            let words: Vec<String> = pat
                .trim_start_matches("case $1 in")
                .split('|')
                .map(|w| w.trim().to_string())
                .collect();
            if words.iter().any(|w| w.is_empty() || w == "*")
                || words.iter().any(|w| {
                    !w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '\'')
                })
            {
                continue;
            }
            let long = rest
                .trim()
                .strip_prefix("long=")
                .map(|v| v.trim_matches('\'').to_string());
            arms.push((words, long));
        }
    }
    arms
}

fn words(arms: &[(Vec<String>, Option<String>)]) -> std::collections::BTreeSet<String> {
    arms.iter().flat_map(|(w, _)| w.iter().cloned()).collect()
}

/// berth-run's case tables hold no flag the table lacks, and lack none it has: the table in
/// tools/ctl/src/run_flags.rs is the one definition (issue: "one definition per flag").
#[test]
fn the_script_is_held_to_the_table() {
    use std::collections::BTreeSet;
    let env = TestEnv::new();
    let flags = table(&env);
    let script = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/run/berth-run"),
    )
    .unwrap();
    let set = |value: bool, refused: bool| -> BTreeSet<String> {
        flags
            .iter()
            .filter(|f| f.value == value && (f.stage == "refused") == refused)
            .map(|f| f.long.clone())
            .collect()
    };
    assert_eq!(
        words(&case_arms(&script, "route")),
        set(true, false),
        "route()"
    );
    let mut bools = words(&case_arms(&script, "is_bool"));
    assert!(bools.remove("help"));
    assert_eq!(bools, set(false, false), "is_bool()");
    assert_eq!(
        words(&case_arms(&script, "refused_value")),
        set(true, true),
        "refused_value()"
    );
    assert_eq!(
        words(&case_arms(&script, "refused_bool")),
        set(false, true),
        "refused_bool()"
    );
    let shorts: BTreeSet<(String, String)> = ["short_bool", "short_value"]
        .iter()
        .flat_map(|f| case_arms(&script, f))
        .map(|(w, long)| (w[0].clone(), long.expect("long=")))
        .collect();
    let want: BTreeSet<(String, String)> = flags
        .iter()
        .filter_map(|f| f.short.clone().map(|s| (s, f.long.clone())))
        .collect();
    assert_eq!(shorts, want, "short flags");
    // Every boolean the script handles in flag() is one of is_bool()'s.
    for w in words(&case_arms(&script, "flag")) {
        assert!(
            w == "help" || set(false, false).contains(&w),
            "flag() handles --{w}, which the table lacks"
        );
    }
}

/// Every flag the table refuses is refused by name, long and short, with 125; `--help` is
/// rendered from the table.
#[test]
fn refused_flags_are_refused_by_name_and_help_comes_from_the_table() {
    let env = TestEnv::new();
    let flags = table(&env);
    for f in flags.iter().filter(|f| f.stage == "refused") {
        let mut forms = vec![format!("--{}", f.long)];
        forms.extend(f.short.iter().map(|s| format!("-{s}")));
        for form in forms {
            let mut argv = vec!["berth", "run", "--dry-run", form.as_str()];
            if f.value {
                argv.push("v1");
            }
            argv.push("busybox");
            let r = env.run(&argv).fails_with(125);
            assert!(
                r.error_line()
                    .contains(&format!("--{} is not supported by berth", f.long)),
                "{form}: {}",
                r.stderr
            );
            assert_eq!(r.stdout, "");
        }
    }
    let help = env.ok(&["berth", "run", "--help"]);
    assert!(
        help.starts_with("\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n"),
        "{help}"
    );
    for f in flags.iter().filter(|f| f.stage != "refused") {
        assert!(
            help.contains(&format!("--{}", f.long)),
            "--{}: {help}",
            f.long
        );
    }
    let help = env.ok(&["berth", "create", "--help"]);
    assert!(
        help.starts_with(
            "\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nCreate a new container\n"
        ),
        "{help}"
    );
}
