//! `berth build` end to end: a Dockerfile shaped like the seed's ch3_dockerfile
//! (docker-notes.md, "Installing from Dockerfile") built, run, its config checked through
//! `berth image inspect` and read by skopeo; the cache's hits and misses as a file and then a
//! build arg change; multi-stage builds with `COPY --from`, `--target` and unused stages
//! skipped; errors with their Dockerfile line; a context symlink pointing out of the context;
//! nothing left behind after a failed step.

use std::fs;
use std::path::Path;
use std::process::Command;

use berth_e2e::session::Session;

fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, body) in files {
        let p = d.path().join(name);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, body).unwrap();
    }
    d
}

fn build(s: &Session, ctx: &Path, extra: &[&str]) -> berth_e2e::Run {
    let c = ctx.display().to_string();
    let mut argv = vec!["build"];
    argv.extend_from_slice(extra);
    argv.push(&c);
    s.berth(&argv)
}

const CH3: &str = r#"# syntax=docker/dockerfile:1
# Shaped like dockerinaction/ch3_dockerfile: a base, a package step, an entrypoint.
ARG BASE=busybox
FROM ${BASE}:latest
ARG GREETING=hello
ENV APP=/app \
    MODE=prod
WORKDIR $APP
RUN mkdir -p /scratch/old && echo "$GREETING from $(pwd) in ${MODE:-dev}" > greeting
RUN rm -rf /scratch && echo removed
COPY a.txt conf ./
LABEL maintainer="dia" version=1
EXPOSE 8080 53/udp
VOLUME /data
USER nobody
STOPSIGNAL SIGINT
ENTRYPOINT ["cat"]
CMD ["greeting"]
"#;

#[test]
fn ch3_dockerfile_builds_runs_and_carries_its_config() {
    let s = Session::new();
    let ctx = context(&[
        ("Dockerfile", CH3),
        ("a.txt", "from the context\n"),
        ("conf/sub/f", "nested\n"),
    ]);
    let out = build(&s, ctx.path(), &["-t", "dia_ch3/dockerfile:latest"]).success();
    assert!(out.stderr.contains("[2/5] WORKDIR /app"), "{}", out.stderr);
    assert!(
        out.stderr.contains("removed"),
        "RUN's output is shown: {}",
        out.stderr
    );

    // It runs: ENTRYPOINT cat with CMD greeting, in WORKDIR, as USER.
    let run = s.ok(&["run", "--rm", "dia_ch3/dockerfile:latest"]);
    assert_eq!(run, "hello from /app in prod\n");
    let look = s.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        "dia_ch3/dockerfile:latest",
        "-c",
        "id -u; cat a.txt sub/f; test ! -e /scratch && echo gone; stat -c %U:%G a.txt",
    ]);
    assert_eq!(look, "65534\nfrom the context\nnested\ngone\nroot:root\n");

    let cfg: serde_json::Value = serde_json::from_str(&s.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config}}",
        "dia_ch3/dockerfile:latest",
    ]))
    .unwrap();
    assert_eq!(cfg["User"], "nobody");
    assert_eq!(cfg["WorkingDir"], "/app");
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["cat"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["greeting"]));
    assert_eq!(cfg["StopSignal"], "SIGINT");
    assert_eq!(
        cfg["Labels"],
        serde_json::json!({"maintainer": "dia", "version": "1"})
    );
    assert_eq!(
        cfg["ExposedPorts"],
        serde_json::json!({"8080/tcp": {}, "53/udp": {}})
    );
    assert_eq!(cfg["Volumes"], serde_json::json!({"/data": {}}));
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    assert!(env.contains(&"APP=/app".to_string()) && env.contains(&"MODE=prod".to_string()));
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING=")),
        "build args stay out: {env:?}"
    );

    // Docker's history: created_by per instruction, empty_layer for metadata.
    let hist = s.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}|{{.Size}}",
        "dia_ch3/dockerfile:latest",
    ]);
    assert!(hist.contains("ENTRYPOINT [\"cat\"]|0B"), "{hist}");
    assert!(hist.contains("COPY a.txt conf ./ # buildkit|"), "{hist}");

    // skopeo reads it from the store's OCI layout.
    let sk = Command::new("skopeo")
        .arg("inspect")
        .arg(format!(
            "oci:{}:dia_ch3/dockerfile:latest",
            s.root().join("images").display()
        ))
        .output()
        .unwrap();
    assert!(
        sk.status.success(),
        "{}",
        String::from_utf8_lossy(&sk.stderr)
    );
    let sk: serde_json::Value = serde_json::from_slice(&sk.stdout).unwrap();
    assert_eq!(
        sk["Layers"].as_array().unwrap().len(),
        5,
        "busybox + WORKDIR + 2 RUN + COPY"
    );
    assert_eq!(sk["Labels"]["maintainer"], "dia");
    s.assert_clean(&[]);
}

#[test]
fn cache_hits_then_a_changed_file_then_a_changed_build_arg() {
    let s = Session::new();
    let df = "FROM busybox:latest\nARG V=1\nRUN echo run-$V > /v\nCOPY f /f\nRUN cat /f /v\n";
    let ctx = context(&[("Dockerfile", df), ("f", "one\n")]);
    let net = ["--network", "none", "-t", "cached"];
    let first = build(&s, ctx.path(), &net).success();
    assert_eq!(
        first.stderr.matches(" CACHED").count(),
        0,
        "{}",
        first.stderr
    );
    let id1 = s.ok(&["image", "inspect", "--format", "{{.Id}}", "cached"]);

    let again = build(&s, ctx.path(), &net).success();
    assert_eq!(
        again.stderr.matches(" CACHED").count(),
        3,
        "{}",
        again.stderr
    );
    assert_eq!(
        s.ok(&["image", "inspect", "--format", "{{.Id}}", "cached"]),
        id1,
        "a full hit is the same image"
    );

    // A changed file: the RUN before the COPY is served, the COPY and what follows are not.
    fs::write(ctx.path().join("f"), "two\n").unwrap();
    let changed = build(&s, ctx.path(), &net).success();
    assert_eq!(
        changed.stderr.matches(" CACHED").count(),
        1,
        "{}",
        changed.stderr
    );
    assert!(changed.stderr.contains("two"), "{}", changed.stderr);

    // A changed build arg: every step in its scope runs again.
    let arg = build(
        &s,
        ctx.path(),
        &["--network", "none", "-t", "cached", "--build-arg", "V=2"],
    )
    .success();
    assert_eq!(arg.stderr.matches(" CACHED").count(), 0, "{}", arg.stderr);
    assert_eq!(s.ok(&["run", "--rm", "cached", "cat", "/v"]), "run-2\n");

    // --dry-run says what the cache would serve, and builds nothing.
    let dry = s.ok(&[
        "build",
        "--dry-run",
        "--network",
        "none",
        "--build-arg",
        "V=2",
        &ctx.path().display().to_string(),
    ]);
    assert!(dry.contains("CACHED [2/4] RUN echo run-$V > /v"), "{dry}");
    fs::write(ctx.path().join("f"), "three\n").unwrap();
    let dry = s.ok(&[
        "build",
        "--dry-run",
        "--network",
        "none",
        "--build-arg",
        "V=2",
        &ctx.path().display().to_string(),
    ]);
    assert!(dry.contains("RUN    [3/4] COPY f /f"), "{dry}");
    // --no-cache runs everything.
    let nc = build(&s, ctx.path(), &["--network", "none", "--no-cache"]).success();
    assert_eq!(nc.stderr.matches(" CACHED").count(), 0, "{}", nc.stderr);
    // builder prune frees the cache: the next build runs every step again.
    let pruned = s.ok(&["builder", "prune", "-f"]);
    assert!(
        pruned.starts_with("Deleted build cache objects:\n") && pruned.contains("\nTotal:\t"),
        "{pruned}"
    );
    let after = build(&s, ctx.path(), &["--network", "none"]).success();
    assert_eq!(
        after.stderr.matches(" CACHED").count(),
        0,
        "{}",
        after.stderr
    );
    assert_eq!(
        s.ok(&["run", "--rm", "cached", "cat", "/v"]),
        "run-2\n",
        "named images survive"
    );
    // system prune frees it too (Docker's "unused build cache"), in its own section.
    let pruned = s.ok(&["system", "prune", "-f"]);
    assert!(
        pruned.contains("Deleted build cache objects:\n")
            && pruned.contains("Total reclaimed space: "),
        "{pruned}"
    );
    let again = build(&s, ctx.path(), &["--network", "none"]).success();
    assert_eq!(
        again.stderr.matches(" CACHED").count(),
        0,
        "{}",
        again.stderr
    );
    assert_eq!(s.ok(&["run", "--rm", "cached", "cat", "/v"]), "run-2\n");
    s.assert_clean(&[]);
}

#[test]
fn multi_stage_copy_from_target_and_unused_stages() {
    let s = Session::new();
    let df = "FROM busybox:latest AS build\nRUN mkdir /out && echo built > /out/artifact\n\
              FROM busybox:latest AS broken\nRUN exit 9\n\
              FROM busybox:latest\nCOPY --from=build /out/artifact /artifact\nCOPY --from=busybox:latest /bin/busybox /copied\nCMD [\"cat\", \"/artifact\"]\n";
    let ctx = context(&[("Dockerfile", df)]);
    build(&s, ctx.path(), &["--network", "none", "-t", "multi"]).success();
    assert_eq!(s.ok(&["run", "--rm", "multi"]), "built\n");
    s.ok(&["run", "--rm", "multi", "test", "-x", "/copied"]);
    let t = build(
        &s,
        ctx.path(),
        &["--network", "none", "--target", "build", "-t", "stage1"],
    )
    .success();
    assert!(t.stderr.contains("[build 2/2]"), "{}", t.stderr);
    assert_eq!(
        s.ok(&["run", "--rm", "stage1", "cat", "/out/artifact"]),
        "built\n"
    );
    let bad = build(&s, ctx.path(), &["--target", "nope"]).fails_with(1);
    assert!(
        bad.stderr
            .contains("target stage \"nope\" could not be found"),
        "{}",
        bad.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn errors_name_the_line_and_leave_nothing_behind() {
    let s = Session::new();
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox:latest\n\nFOO bar\n",
            "Dockerfile:3: unknown instruction: FOO",
        ),
        (
            "FROM busybox:latest\nCOPY missing /x\n",
            "Dockerfile:2: \"/missing\": not found",
        ),
        (
            "FROM busybox:latest\nRUN true\nRUN exit 3\n",
            "Dockerfile:3: process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3",
        ),
        (
            "FROM busybox:latest\nCOPY ../outside /x\n",
            "Dockerfile:2: forbidden path outside the build context: ../outside",
        ),
        (
            "FROM busybox:latest\nEXPOSE 80/xyz\n",
            "Dockerfile:2: invalid proto or range: 80/xyz",
        ),
        (
            "FROM busybox:latest\nENV\n",
            "Dockerfile:2: ENV requires at least one argument",
        ),
        ("FROM nosuch-image-here:latest\n", "Dockerfile:1: "),
    ];
    for (df, want) in cases {
        let ctx = context(&[("Dockerfile", df)]);
        let r = build(&s, ctx.path(), &["--network", "none"]).fails_with(1);
        assert!(
            r.stderr.contains(want),
            "{df:?}: want {want:?} in:\n{}",
            r.stderr
        );
        assert!(
            r.stderr.contains("ERROR: failed to solve: "),
            "{}",
            r.stderr
        );
    }
    s.assert_clean(&[]);
}

#[test]
fn a_context_symlink_pointing_out_resolves_inside_the_context() {
    let s = Session::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:latest\nCOPY escape/etc/hostname /stolen\n",
    )]);
    std::os::unix::fs::symlink("/", ctx.path().join("escape")).unwrap();
    // escape -> / resolves to the context's root: there is no etc/hostname there.
    let r = build(&s, ctx.path(), &["--network", "none"]).fails_with(1);
    assert!(
        r.stderr
            .contains("Dockerfile:2: \"/escape/etc/hostname\": not found"),
        "{}",
        r.stderr
    );
    // A link to a host file copies the link, never the host file's content.
    let ctx = context(&[
        ("Dockerfile", "FROM busybox:latest\nCOPY dir /dir\n"),
        ("dir/ok", "ok\n"),
    ]);
    std::os::unix::fs::symlink("/etc/shadow", ctx.path().join("dir/shadow")).unwrap();
    build(&s, ctx.path(), &["--network", "none", "-t", "links"]).success();
    assert_eq!(
        s.ok(&["run", "--rm", "links", "readlink", "/dir/shadow"]),
        "/etc/shadow\n"
    );
    s.assert_clean(&[]);
}

#[test]
fn add_extracts_a_local_tar_and_stdin_takes_a_dockerfile() {
    let s = Session::new();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox:latest\nADD t.tar /x/\nCOPY --chmod=700 --chown=nobody a /a\n",
        ),
        ("a", "a\n"),
    ]);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    b.append_data(&mut h, "in/tar", &b"in\n"[..]).unwrap();
    fs::write(ctx.path().join("t.tar"), b.into_inner().unwrap()).unwrap();
    build(&s, ctx.path(), &["--network", "none", "-t", "added"]).success();
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "added",
            "sh",
            "-c",
            "cat /x/in/tar; stat -c '%a %U' /a"
        ]),
        "in\n700 nobody\n"
    );
    let q = s
        .berth_in(
            &["build", "-q", "--network", "none", "-t", "fromstdin", "-"],
            b"FROM busybox:latest\nCMD [\"echo\", \"stdin\"]\n",
        )
        .success();
    assert!(
        q.stdout.starts_with("sha256:") && q.stdout.trim().len() == 71,
        "{}",
        q.stdout
    );
    assert_eq!(s.ok(&["run", "--rm", "fromstdin"]), "stdin\n");
    s.assert_clean(&[]);
}

#[test]
fn dockerignore_excludes_with_exceptions_and_double_stars() {
    let s = Session::new();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox:latest\nCOPY . /ctx/\n"),
        (
            ".dockerignore",
            "# comment\n*.log\n!keep.log\n**/secret\nbuild\n",
        ),
        ("a.log", "x"),
        ("keep.log", "kept"),
        ("src/main.c", "int main;"),
        ("src/deep/secret", "s"),
        ("secret", "s"),
        ("build/out", "o"),
    ]);
    build(&s, ctx.path(), &["--network", "none", "-t", "ignored"]).success();
    let files = s.ok(&[
        "run",
        "--rm",
        "ignored",
        "sh",
        "-c",
        "cd /ctx && find . -type f | sort",
    ]);
    assert_eq!(
        files,
        "./.dockerignore\n./Dockerfile\n./keep.log\n./src/main.c\n"
    );
    // An ignored file named by COPY is not in the context; a change to one is no cache miss.
    let ctx2 = context(&[
        ("Dockerfile", "FROM busybox:latest\nCOPY src /src\n"),
        (".dockerignore", "src/*.tmp\n"),
        ("src/a", "a"),
    ]);
    build(&s, ctx2.path(), &["--network", "none"]).success();
    fs::write(ctx2.path().join("src/b.tmp"), "changes").unwrap();
    let r = build(&s, ctx2.path(), &["--network", "none"]).success();
    assert!(r.stderr.contains("CACHED"), "{}", r.stderr);
    fs::write(
        ctx2.path().join("Dockerfile"),
        "FROM busybox:latest\nCOPY src/b.tmp /x\n",
    )
    .unwrap();
    let r = build(&s, ctx2.path(), &["--network", "none"]).fails_with(1);
    assert!(
        r.stderr.contains("Dockerfile:2: \"/src/b.tmp\": not found"),
        "{}",
        r.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn a_malicious_tar_in_add_cannot_write_outside_the_rootfs() {
    let s = Session::new();
    let ctx = context(&[("Dockerfile", "FROM busybox:latest\nADD evil.tar /x/\n")]);
    // A symlink to / and a file through it: extracted inside the rootfs, never on the host.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, "up", "/").unwrap();
    let marker = s.w.env.dir().join("pwned");
    let through = format!("up{}", marker.display());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    b.append_data(&mut h, &through, &b"pwned"[..]).unwrap();
    fs::write(ctx.path().join("evil.tar"), b.into_inner().unwrap()).unwrap();
    let r = build(&s, ctx.path(), &["--network", "none", "-t", "evil"]);
    assert!(!marker.exists(), "the tar wrote on the host: {}", r.stderr);
    // It landed inside the destination, where the link resolves (Docker's untar is rooted
    // there too).
    assert_eq!(r.code(), 0, "{}", r.stderr);
    let inside = s.ok(&[
        "run",
        "--rm",
        "evil",
        "cat",
        &format!("/x{}", marker.display()),
    ]);
    assert_eq!(inside, "pwned");
    // A `..` entry is refused with the line.
    let ctx = context(&[("Dockerfile", "FROM busybox:latest\nADD dots.tar /x/\n")]);
    let mut raw = tar::Header::new_gnu();
    raw.as_old_mut().name[..12].copy_from_slice(b"../../escape");
    raw.set_size(1);
    raw.set_mode(0o644);
    raw.set_cksum();
    let mut data = raw.as_bytes().to_vec();
    data.extend_from_slice(b"x");
    data.resize(1024, 0);
    data.extend_from_slice(&[0u8; 1024]);
    fs::write(ctx.path().join("dots.tar"), data).unwrap();
    let r = build(&s, ctx.path(), &["--network", "none"]).fails_with(1);
    assert!(
        r.stderr.contains("Dockerfile:2: ") && r.stderr.contains("climbs out"),
        "{}",
        r.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn ctrl_c_during_a_run_step_stops_cleanly() {
    let s = Session::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:latest\nRUN echo started && sleep 600\n",
    )]);
    let mut bg = s.spawn(&[
        "build",
        "--network",
        "none",
        &ctx.path().display().to_string(),
    ]);
    bg.wait_for("started");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(bg.child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert_ne!(bg.wait(), 0, "{}", bg.output());
    s.assert_clean(&[]);
}

#[test]
fn run_mounts_cache_bind_and_flags_iidfile_label_file_from_stdin() {
    let s = Session::new();
    let ctx = context(&[
        ("src/file", "bound\n"),
        (
            "Dockerfile",
            "FROM busybox:latest\n\
             RUN --mount=type=cache,target=/cache echo x >> /cache/log && wc -l < /cache/log\n\
             RUN --mount=type=bind,source=src,target=/mnt cat /mnt/file && (touch /mnt/w 2>/dev/null || echo read-only)\n",
        ),
    ]);
    let first = build(&s, ctx.path(), &["--network", "none", "-t", "mounts"]).success();
    assert!(
        first.stderr.contains(" 1\n")
            && first.stderr.contains("bound")
            && first.stderr.contains("read-only"),
        "{}",
        first.stderr
    );
    // The cache directory outlives the build; --no-cache re-runs the step against it.
    let second = build(&s, ctx.path(), &["--network", "none", "--no-cache"]).success();
    assert!(second.stderr.contains(" 2\n"), "{}", second.stderr);
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "mounts",
            "sh",
            "-c",
            "find /cache /mnt -mindepth 1 | wc -l"
        ]),
        "0\n",
        "mounts stay out of the image"
    );
    assert!(!ctx.path().join("src/w").exists());

    // --iidfile, --label, -f - (the Dockerfile on stdin, the context a directory).
    let iid = s.w.env.dir().join("iid");
    let c = ctx.path().display().to_string();
    let i = iid.display().to_string();
    s.berth_in(
        &[
            "build",
            "--network",
            "none",
            "-f",
            "-",
            "--label",
            "from=flag",
            "--iidfile",
            &i,
            "-t",
            "labelled",
            &c,
        ],
        b"FROM busybox:latest\nLABEL from=file\n",
    )
    .success();
    let id = fs::read_to_string(&iid).unwrap();
    assert_eq!(
        s.ok(&["image", "inspect", "--format", "{{.Id}}", "labelled"])
            .trim(),
        id
    );
    assert_eq!(
        s.ok(&[
            "image",
            "inspect",
            "--format",
            "{{index .Config.Labels \"from\"}}",
            "labelled"
        ])
        .trim(),
        "flag"
    );
    let r = s
        .berth(&["build", "--platform", "linux/s390x", &c])
        .fails_with(1);
    assert!(
        r.stderr.contains("builds for this host only"),
        "{}",
        r.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn heredocs_run_and_copy_and_their_content_is_in_the_cache_key() {
    let s = Session::new();
    let df = |word: &str| {
        format!(
            "FROM busybox:latest\nRUN <<EOF\necho {word} > /script\nEOF\nRUN cat <<A > /a\nfrom cat\nA\nCOPY <<EOT /etc/greet\nhello heredoc\nEOT\n"
        )
    };
    let ctx = context(&[("Dockerfile", &df("one"))]);
    build(&s, ctx.path(), &["--network", "none", "-t", "here"]).success();
    assert_eq!(
        s.ok(&["run", "--rm", "here", "cat", "/script", "/a", "/etc/greet"]),
        "one\nfrom cat\nhello heredoc\n"
    );
    fs::write(ctx.path().join("Dockerfile"), df("two")).unwrap();
    let r = build(&s, ctx.path(), &["--network", "none", "-t", "here"]).success();
    assert!(
        !r.stderr.contains("CACHED"),
        "a changed heredoc is a miss: {}",
        r.stderr
    );
    assert_eq!(s.ok(&["run", "--rm", "here", "cat", "/script"]), "two\n");
    s.assert_clean(&[]);
}
