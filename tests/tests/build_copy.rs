//! `berth build`'s COPY and ADD as BuildKit has them: the layer written straight from the
//! context (through a symlinked destination, into existing directories, with `--chown` and
//! `--chmod` on what it creates, hard links kept, context symlinks copied as links, the same
//! tree giving the same layer, `--link` accepted), BuildKit's refusals; heredoc expansion
//! (COPY expands unless the delimiter is quoted, RUN leaves it to the shell); `ADD` of an
//! http URL (name, mode, mtime, `--checksum`), `ADD --chown/--chmod` of a local tar;
//! `RUN --mount=type=bind,from=`; and the unused `--build-arg` warning.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::symlink;
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

fn sh_in(s: &Session, image: &str, script: &str) -> String {
    s.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        image,
        "sh",
        "-c",
        script,
    ])
}

fn layers(s: &Session, image: &str) -> Vec<String> {
    let v = s.ok(&[
        "image",
        "inspect",
        "--format",
        "{{json .RootFS.Layers}}",
        image,
    ]);
    serde_json::from_str(v.trim()).unwrap()
}

const BASE_DF: &str = "FROM busybox:latest
RUN mkdir -p /data/keep /existing && echo old > /data/keep/old && chmod 0750 /data && ln -s /data /ctx && echo o > /owned && chown 65534:65534 /existing /owned && chmod 0700 /existing
";

const COPY_DF: &str = "FROM cpbase
COPY . /ctx/
COPY --chown=65534:65534 --chmod=640 f.txt /new/deep/
COPY f.txt sub /existing/
COPY --from=cpbase /owned /owned-copy
";

#[test]
fn copy_goes_through_a_symlinked_destination_into_existing_dirs_with_its_owners() {
    let s = Session::new();
    let base = context(&[("Dockerfile", BASE_DF)]);
    build(&s, base.path(), &["-t", "cpbase"]).success();
    // The Dockerfile changes below; it stays out of `COPY .`.
    let ctx = context(&[
        ("Dockerfile", COPY_DF),
        (".dockerignore", "Dockerfile\n.dockerignore\n"),
        ("f.txt", "file\n"),
        ("sub/inner.txt", "inner\n"),
    ]);
    let c = ctx.path();
    symlink("/", c.join("rootlink")).unwrap();
    symlink("../../..", c.join("sub/up")).unwrap();
    fs::hard_link(c.join("f.txt"), c.join("sub/f-link")).unwrap();
    build(&s, c, &["--no-cache", "-t", "cp:1"]).success();

    let got = sh_in(
        &s,
        "cp:1",
        "readlink /ctx; stat -c '%a %u' /data; cat /data/keep/old /data/f.txt /data/sub/inner.txt; \
         readlink /data/rootlink; readlink /data/sub/up; \
         [ $(stat -c %i /data/f.txt) = $(stat -c %i /data/sub/f-link) ] && echo linked; \
         stat -c '%n %a %u:%g' /new /new/deep /new/deep/f.txt /existing /existing/f.txt /existing/inner.txt /owned-copy",
    );
    assert_eq!(
        got,
        "/data\n750 0\nold\nfile\ninner\n/\n../../..\nlinked\n\
         /new 755 65534:65534\n/new/deep 755 65534:65534\n/new/deep/f.txt 640 65534:65534\n\
         /existing 700 65534:65534\n/existing/f.txt 644 0:0\n/existing/inner.txt 644 0:0\n\
         /owned-copy 644 65534:65534\n"
    );

    // The same tree on the same base gives the same layers; `--link` gives the same too.
    build(&s, c, &["--no-cache", "-t", "cp:2"]).success();
    assert_eq!(layers(&s, "cp:1"), layers(&s, "cp:2"));
    let linked = COPY_DF
        .replace("COPY . /ctx/", "COPY --link . /ctx/")
        .replace("COPY f.txt", "ADD --link f.txt");
    fs::write(c.join("Dockerfile"), &linked).unwrap();
    let out = build(&s, c, &["--no-cache", "-t", "cp:3"]).success();
    assert!(out.stderr.contains("COPY --link . /ctx/"), "{}", out.stderr);
    assert_eq!(layers(&s, "cp:1"), layers(&s, "cp:3"));

    // A kernel without detached overlay mounts copies in a step container: the same files.
    let c_s = c.display().to_string();
    s.sh(&format!(
        "BERTH_OVERLAY_MOUNT=legacy berth build -q --network none --no-cache -t cp:4 {c_s}"
    ))
    .success();
    assert_eq!(
        sh_in(
            &s,
            "cp:4",
            "readlink /ctx; cat /data/f.txt /data/sub/inner.txt; stat -c '%n %a %u:%g' /new /new/deep/f.txt /existing /existing/inner.txt /owned-copy"
        ),
        "/data\nfile\ninner\n/new 755 65534:65534\n/new/deep/f.txt 640 65534:65534\n/existing 700 65534:65534\n\
         /existing/inner.txt 644 0:0\n/owned-copy 644 65534:65534\n"
    );
    s.assert_clean(&[]);
}

#[test]
fn copy_refuses_to_mix_files_and_directories_in_buildkits_words() {
    let s = Session::new();
    let ctx = context(&[
        ("Dockerfile", "FROM busybox:latest\nCOPY clash/ /\n"),
        ("clash/tmp", "a file where /tmp is a directory\n"),
        ("d/x", "x\n"),
    ]);
    let r = build(&s, ctx.path(), &[]).fails_with(1);
    assert!(
        r.stderr
            .contains("Dockerfile:2: cannot replace to directory /tmp with file"),
        "{}",
        r.stderr
    );
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nRUN echo f > /afile\nCOPY d /afile\n",
    )
    .unwrap();
    let r = build(&s, ctx.path(), &[]).fails_with(1);
    assert!(
        r.stderr
            .contains("Dockerfile:3: cannot copy to non-directory: /afile"),
        "{}",
        r.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn copy_heredocs_expand_unless_quoted_and_run_heredocs_are_the_shells() {
    let s = Session::new();
    let df = "FROM busybox:latest\nARG WHO=world\nENV GREETING=hello\n\
              COPY <<EOF /expanded\n$GREETING ${WHO} \"quoted $WHO\" '$WHO' \\$HOME\nEOF\n\
              COPY <<'EOF' /literal\n$GREETING ${WHO}\nEOF\n\
              COPY <<\"EOF\" /dq\n$WHO\nEOF\n\
              RUN cat <<EOF > /run-expanded\n$GREETING from the shell\nEOF\n\
              RUN cat <<'EOF' > /run-literal\n$GREETING stays\nEOF\n";
    let ctx = context(&[("Dockerfile", df)]);
    build(&s, ctx.path(), &["-t", "hd:1"]).success();
    let got = sh_in(
        &s,
        "hd:1",
        "cat /expanded /literal /dq /run-expanded /run-literal",
    );
    assert_eq!(
        got,
        "hello world \"quoted world\" 'world' $HOME\n$GREETING ${WHO}\n$WHO\n\
         hello from the shell\n$GREETING stays\n"
    );
    // A new value of the variable is a new heredoc: a miss, and the new text.
    build(&s, ctx.path(), &["--build-arg", "WHO=there", "-t", "hd:2"]).success();
    assert_eq!(sh_in(&s, "hd:2", "head -c 11 /expanded"), "hello there");
    s.assert_clean(&[]);
}

/// A one-file HTTP server on 127.0.0.1: `/files/tool.sh` (with Last-Modified), 404 else.
/// It serves until the test process ends.
fn serve(body: &'static [u8]) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let Ok(read) = c.try_clone() else { continue };
            let mut r = BufReader::new(read);
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let ok = first.starts_with("GET /files/tool.sh ");
            let head = if ok {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
            };
            let _ = c.write_all(head.as_bytes());
            if ok {
                let _ = c.write_all(body);
            }
        }
    });
    port
}

#[test]
fn add_of_a_url_names_modes_dates_and_checks_the_file() {
    let s = Session::new();
    const BODY: &[u8] = b"#!/bin/sh\necho tool-ran\n";
    let sum = berth::digest::sha256(BODY);
    let port = serve(BODY);
    let url = format!("http://127.0.0.1:{port}/files/tool.sh");
    let df = format!(
        "FROM busybox:latest\nADD {url} /opt/\nADD --chmod=755 --checksum={sum} {url} /usr/local/bin/tool\n"
    );
    let ctx = context(&[("Dockerfile", &df)]);
    build(&s, ctx.path(), &["-t", "url:1"]).success();
    let got = sh_in(
        &s,
        "url:1",
        "stat -c '%n %a %u %Y' /opt/tool.sh /usr/local/bin/tool; tool",
    );
    assert_eq!(
        got,
        "/opt/tool.sh 600 0 1445412480\n/usr/local/bin/tool 755 0 1445412480\ntool-ran\n"
    );

    let bad = format!("sha256:{}", "0".repeat(64));
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM busybox:latest\nADD --checksum={bad} {url} /x\n"),
    )
    .unwrap();
    let r = build(&s, ctx.path(), &[]).fails_with(1);
    assert!(
        r.stderr
            .contains(&format!("Dockerfile:2: digest mismatch {bad}: {sum}")),
        "{}",
        r.stderr
    );
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM busybox:latest\nADD http://127.0.0.1:{port}/nothing /x\n"),
    )
    .unwrap();
    let r = build(&s, ctx.path(), &[]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains("invalid response status 404"),
        "{}",
        r.stderr
    );
    // --checksum is for URLs only.
    fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM busybox:latest\nADD --checksum={sum} Dockerfile /x\n"),
    )
    .unwrap();
    let r = build(&s, ctx.path(), &[]).fails_with(1);
    assert!(
        r.stderr
            .contains("checksum can't be specified for non-HTTP(S) sources"),
        "{}",
        r.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn add_of_a_local_tar_takes_chown_but_keeps_the_members_modes() {
    let s = Session::new();
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox:latest\nADD --chown=65534:65534 --chmod=600 t.tar /x/\n",
    )]);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o751);
    h.set_uid(1234);
    h.set_gid(2345);
    h.set_cksum();
    b.append_data(&mut h, "bin/run", &b"hi\n"[..]).unwrap();
    fs::write(ctx.path().join("t.tar"), b.into_inner().unwrap()).unwrap();
    build(&s, ctx.path(), &["-t", "tar:1"]).success();
    assert_eq!(
        sh_in(&s, "tar:1", "stat -c '%a %u:%g' /x/bin/run; cat /x/bin/run"),
        "751 65534:65534\nhi\n"
    );
    s.assert_clean(&[]);
}

#[test]
fn run_mounts_bind_from_a_stage_or_an_image_read_only_or_throwaway() {
    let s = Session::new();
    let df = "FROM busybox:latest AS tools\nARG V=1\nRUN mkdir /out && echo tool-v$V > /out/tool\n\
              FROM busybox:latest\n\
              RUN --mount=type=bind,from=tools,source=/out,target=/mnt cat /mnt/tool > /got; echo x 2>/dev/null > /mnt/w || echo ro-ok\n\
              RUN --mount=type=bind,from=tools,target=/t,rw echo scribble > /t/out/tool && cat /t/out/tool\n\
              RUN --mount=type=bind,from=tools,source=out,target=/mnt cat /mnt/tool > /again\n\
              RUN --mount=type=bind,from=busybox:latest,source=/bin/busybox,target=/busybox /busybox echo image-ok\n";
    let ctx = context(&[("Dockerfile", df)]);
    let out = build(&s, ctx.path(), &["-t", "bm:1"]).success();
    for w in ["ro-ok", "scribble", "image-ok"] {
        assert!(out.stderr.contains(w), "{w}: {}", out.stderr);
    }
    assert_eq!(
        sh_in(
            &s,
            "bm:1",
            "cat /got /again; ls -d /mnt /t /busybox 2>&1 | grep -c 'No such'"
        ),
        "tool-v1\ntool-v1\n3\n"
    );
    // Unchanged, every step hits (the stage's RUN and the four); the bound stage's change
    // is a miss for the first RUN that binds it, whose own parent did not change.
    let out = build(&s, ctx.path(), &["-t", "bm:1"]).success();
    assert_eq!(out.stderr.matches(" CACHED").count(), 5, "{}", out.stderr);
    let out = build(&s, ctx.path(), &["--build-arg", "V=2", "-t", "bm:2"]).success();
    assert_eq!(out.stderr.matches(" CACHED").count(), 0, "{}", out.stderr);
    assert_eq!(sh_in(&s, "bm:2", "cat /got"), "tool-v2\n");
    // An unknown source is an error with its line.
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:latest AS tools\nFROM busybox:latest\nRUN --mount=type=bind,from=tools,source=/nope,target=/m true\n",
    )
    .unwrap();
    let r = build(&s, ctx.path(), &[]).fails_with(1);
    assert!(
        r.stderr.contains("Dockerfile:3:") && r.stderr.contains("\"/nope\": not found"),
        "{}",
        r.stderr
    );
    s.assert_clean(&[]);
}

#[test]
fn unused_build_args_are_a_warning_and_the_build_succeeds() {
    let s = Session::new();
    let ctx = context(&[(
        "Dockerfile",
        "ARG META=m\nFROM busybox:latest\nARG USED\nRUN echo $USED\n",
    )]);
    let out = build(
        &s,
        ctx.path(),
        &[
            "-q",
            "--build-arg",
            "USED=1",
            "--build-arg",
            "FOO=2",
            "--build-arg",
            "META=3",
            "--build-arg",
            "BAR=4",
            "--build-arg",
            "HTTP_PROXY=http://proxy",
        ],
    )
    .success();
    assert!(out.stdout.starts_with("sha256:"), "{}", out.stdout);
    assert_eq!(out.stdout.lines().count(), 1);
    assert!(
        out.stderr
            .contains("[Warning] One or more build-args [BAR FOO] were not consumed"),
        "{}",
        out.stderr
    );
    let out = build(&s, ctx.path(), &["--build-arg", "USED=1"]).success();
    assert!(!out.stderr.contains("[Warning]"), "{}", out.stderr);
    s.assert_clean(&[]);
}
