//! `berth build`'s BuildKit extras: `--secret` with `RUN --mount=type=secret` (readable in
//! its RUN only, never in the image, the saved archive nor the cache key; a missing required
//! secret is an error with its line), ONBUILD triggers run by a later build's FROM, and
//! `--add-host` in RUN's /etc/hosts.

use std::fs;
use std::io::Read;
use std::path::Path;

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
    let mut argv = vec!["build", "--network", "none", "--progress", "plain"];
    argv.extend_from_slice(extra);
    argv.push(&c);
    s.berth(&argv)
}

/// Every path and every file's bytes in a tar, and in the tars (plain or gzip) inside it.
fn tar_contents(data: &[u8], out: &mut Vec<(String, Vec<u8>)>) {
    let mut a = tar::Archive::new(data);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        let inner = if body.starts_with(&[0x1f, 0x8b]) {
            let mut d = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut d)
                .unwrap();
            d
        } else {
            body.clone()
        };
        if inner.len() >= 262 && &inner[257..262] == b"ustar" {
            tar_contents(&inner, out);
        }
        out.push((path, body));
    }
}

const SECRET_DF: &str = "FROM busybox:latest
RUN --mount=type=secret,id=tok echo \"got $(cat /run/secrets/tok)\"; stat -c 'mode=%a uid=%u' /run/secrets/tok; echo x 2>/dev/null > /run/secrets/tok || echo read-only
RUN --mount=type=secret,id=tok,target=/etc/app/tok,mode=0440,uid=65534,gid=65534,env=TOK stat -c 'mode=%a owner=%u:%g' /etc/app/tok; echo \"env $TOK\"
RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo optional-skipped
RUN echo done > /done
";

#[test]
fn secret_is_readable_in_its_run_only_and_never_in_the_image_or_the_cache_key() {
    let s = Session::new();
    let sec = tempfile::tempdir().unwrap();
    let src = sec.path().join("tok");
    fs::write(&src, "s3cr3t-one").unwrap();
    let ctx = context(&[("Dockerfile", SECRET_DF)]);
    let arg = format!("id=tok,src={}", src.display());
    let out = build(&s, ctx.path(), &["--secret", &arg, "-t", "sec:1"]).success();
    let e = &out.stderr;
    assert!(e.contains("got s3cr3t-one"), "{e}");
    assert!(e.contains("mode=400 uid=0"), "{e}");
    assert!(
        e.contains("read-only"),
        "the secret is mounted read-only: {e}"
    );
    assert!(e.contains("mode=440 owner=65534:65534"), "{e}");
    assert!(e.contains("env s3cr3t-one"), "{e}");
    assert!(e.contains("optional-skipped"), "{e}");

    // Not in the image: neither the file, nor the mount's stub, nor the env.
    let look = s.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "sec:1",
        "sh",
        "-c",
        "ls -A /run/secrets /etc/app 2>&1 | grep -c 'No such file'; echo \"[$TOK]\"; cat /done",
    ]);
    assert_eq!(look, "2\n[]\ndone\n");
    let env = s.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Env}}",
        "sec:1",
    ]);
    assert!(!env.contains("s3cr3t") && !env.contains("TOK"), "{env}");

    // Nor anywhere in `berth save`'s archive (layers, config, history).
    let tarf = sec.path().join("img.tar");
    s.ok(&["save", "-o", tarf.to_str().unwrap(), "sec:1"]);
    let mut all = Vec::new();
    tar_contents(&fs::read(&tarf).unwrap(), &mut all);
    assert!(all.iter().any(|(p, _)| p == "done"), "the layers were read");
    for (p, body) in &all {
        assert!(
            !p.contains("secrets") && !p.contains("etc/app"),
            "{p} in the archive"
        );
        assert!(
            !body.windows(6).any(|w| w == b"s3cr3t"),
            "the secret's value is in {p}"
        );
    }

    // The cache key holds the id, not the value: a new value still hits, as BuildKit.
    fs::write(&src, "s3cr3t-two").unwrap();
    let again = build(&s, ctx.path(), &["--secret", &arg, "-t", "sec:2"]).success();
    assert_eq!(
        again.stderr.matches(" CACHED").count(),
        4,
        "{}",
        again.stderr
    );
    assert!(!again.stderr.contains("s3cr3t-two"), "{}", again.stderr);

    // From the environment (`env=VAR`), and as the id's own variable.
    let ctx2 = context(&[(
        "Dockerfile",
        "FROM busybox:latest\nRUN --mount=type=secret,id=FROMENV,required cat /run/secrets/FROMENV\n",
    )]);
    let c2 = ctx2.path().display().to_string();
    let r = s
        .sh(&format!(
            "FROMENV=env-value berth build --network none --progress plain --secret id=FROMENV {c2}"
        ))
        .success();
    assert!(r.stderr.contains("env-value"), "{}", r.stderr);
    let r = s
        .sh(&format!(
            "OTHER=other-value berth build --network none --progress plain --no-cache --secret id=FROMENV,env=OTHER {c2}"
        ))
        .success();
    assert!(r.stderr.contains("other-value"), "{}", r.stderr);
    // The secrets' private copies are gone with their steps.
    let left = s.sh("ls -A \"$BERTH_RUN_ROOT/build-secrets\"").success();
    assert_eq!(left.stdout, "", "secret copies left");
    s.assert_clean(&[]);
}

#[test]
fn a_missing_required_secret_is_an_error_with_its_line() {
    let s = Session::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:latest\n\nRUN --mount=type=secret,id=key,required=true cat /run/secrets/key\n",
    )]);
    let r = build(&s, ctx.path(), &[]).fails_with(1);
    assert!(
        r.stderr.contains("Dockerfile:3: secret key: not found"),
        "{}",
        r.stderr
    );
    // A --secret whose file is missing, or a malformed one, fails before building.
    let r = build(&s, ctx.path(), &["--secret", "id=key,src=/nonexistent/key"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains("secret key") && r.stderr.contains("/nonexistent/key"),
        "{}",
        r.stderr
    );
    let r = build(&s, ctx.path(), &["--secret", "src=/etc/hostname"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr.contains("id is required"), "{}", r.stderr);
    s.assert_clean(&[]);
}

#[test]
fn onbuild_triggers_run_after_a_later_from_in_order_and_are_not_inherited_further() {
    let s = Session::new();
    let base = context(&[(
        "Dockerfile",
        "FROM busybox:latest\n\
         ONBUILD COPY trig.txt /from-trigger.txt\n\
         ONBUILD RUN echo \"trigger 2 in $(pwd) after $(cat /from-trigger.txt)\" > /trigger.log\n\
         ONBUILD ENV TRIGGERED=yes\n",
    )]);
    build(&s, base.path(), &["-t", "onb:base"]).success();
    // The base keeps its triggers and does not run them itself.
    assert_eq!(
        s.ok(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.OnBuild}}",
            "onb:base"
        ])
        .trim(),
        r#"["COPY trig.txt /from-trigger.txt","RUN echo \"trigger 2 in $(pwd) after $(cat /from-trigger.txt)\" > /trigger.log","ENV TRIGGERED=yes"]"#
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "onb:base",
            "sh",
            "-c",
            "ls /trigger.log 2>&1 | grep -c 'No such'"
        ]),
        "1\n"
    );

    // A child: the triggers run right after FROM, in order, before its own WORKDIR and RUN.
    let child = context(&[
        (
            "Dockerfile",
            "FROM onb:base\nWORKDIR /w\nRUN cat /trigger.log; echo \"TRIGGERED=$TRIGGERED in $(pwd)\"\n",
        ),
        ("trig.txt", "child-file"),
    ]);
    let out = build(&s, child.path(), &["-t", "onb:child"]).success();
    assert!(
        out.stderr.contains("trigger 2 in / after child-file"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("TRIGGERED=yes in /w"), "{}", out.stderr);
    assert!(
        out.stderr.contains("[2/5] COPY trig.txt /from-trigger.txt"),
        "{}",
        out.stderr
    );
    let on = s.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.OnBuild}}",
        "onb:child",
    ]);
    assert!(matches!(on.trim(), "null" | "[]"), "not inherited: {on}");
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "onb:child",
            "sh",
            "-c",
            "cat /from-trigger.txt; echo \" $TRIGGERED\""
        ]),
        "child-file yes\n"
    );

    // A grandchild runs none of them: its context has no trig.txt, and it builds.
    let grand = context(&[(
        "Dockerfile",
        "FROM onb:child\nRUN test ! -e /grand && echo grand-ok\n",
    )]);
    let out = build(&s, grand.path(), &[]).success();
    assert!(out.stderr.contains("grand-ok"), "{}", out.stderr);

    // A trigger that fails is reported at the FROM that ran it.
    let bad = context(&[(
        "Dockerfile",
        "# no trig.txt here\nFROM onb:base\nRUN true\n",
    )]);
    let r = build(&s, bad.path(), &[]).fails_with(1);
    assert!(
        r.stderr.contains("Dockerfile:2:") && r.stderr.contains("trig.txt"),
        "{}",
        r.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn add_host_is_in_run_steps_etc_hosts_only() {
    let s = Session::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:latest\nRUN grep -E 'db\\.internal|cache\\.local' /etc/hosts\n",
    )]);
    let out = build(
        &s,
        ctx.path(),
        &[
            "--add-host",
            "db.internal:10.1.2.3",
            "--add-host",
            "cache.local=10.1.2.4",
            "-t",
            "hosts:1",
        ],
    )
    .success();
    assert!(
        out.stderr.contains("10.1.2.3\tdb.internal") || out.stderr.contains("10.1.2.3 db.internal"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("cache.local"), "{}", out.stderr);
    // The entry was the step's, not the image's.
    let run = s.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "hosts:1",
        "grep",
        "-c",
        "db.internal",
        "/etc/hosts",
    ]);
    assert_eq!(run.stdout, "0\n");
    // A malformed entry is refused with berth-netns's reason.
    let bad = build(&s, ctx.path(), &["--add-host", "nocolon"]);
    assert_ne!(bad.code(), 0);
    assert!(bad.stderr.contains("nocolon"), "{}", bad.stderr);
    s.assert_clean(&[]);
}
