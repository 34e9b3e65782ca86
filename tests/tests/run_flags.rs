//! berth-run's flag table (tools/ctl/src/commands.rs, which also makes its completions and
//! man page) against the script and the stages: every flag, long and short, is accepted and
//! sent to the stage the table names (DESIGN.md, "Docker flag -> stage"), and that stage
//! knows it. Docker flags berth lacks are refused by name.

use berth_e2e::TestEnv;

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
    for f in &flags {
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
    let out = dry(&[
        "-dit",
        "-p8080:80",
        "-eA=1",
        "--name=web",
        "busybox",
        "sh",
        "-c",
        "echo -d --rm",
    ])
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
            vec!["--sysctl", "a=b", "busybox"],
            "--sysctl is not supported",
        ),
        (
            vec!["--frobnicate", "busybox"],
            "unknown flag: --frobnicate",
        ),
        (vec!["-Z", "busybox"], "unknown shorthand flag: 'Z'"),
        (vec!["--name"], "flag needs an argument: --name"),
        (vec!["--rm=maybe", "busybox"], "invalid argument \"maybe\""),
        (
            vec!["--log-driver", "syslog", "busybox"],
            "--log-driver syslog is not supported",
        ),
        (vec![], "requires at least 1 argument"),
    ] {
        let r = dry(&args).fails_with(125);
        assert!(r.error_line().contains(says), "{args:?}: {}", r.stderr);
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
}
