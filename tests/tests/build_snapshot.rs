//! `berth commit`, `berth diff` and `berth export`, with round trips: the diff of a
//! container that adds, changes and deletes files (Docker's A/C/D lines, sorted); a commit
//! whose image carries the change (`-c`), the message (`-m`), the author (`-a`) and the
//! deletions (whiteouts); an export that `berth import` reads back into a working image.

use berth_e2e::session::Session;

#[test]
fn diff_commit_and_export_round_trip() {
    let s = Session::new();
    s.ok(&[
        "run", "--name", "changer", "--network", "none", "busybox:latest", "sh", "-c",
        "echo new > /new; rm /bin/true; rm -rf /etc/group; mkdir -p /var/x; echo more >> /etc/passwd",
    ]);
    assert_eq!(
        s.ok(&["diff", "changer"]),
        "C /bin\nD /bin/true\nC /etc\nD /etc/group\nC /etc/passwd\nA /new\nC /var\nA /var/x\n"
    );

    let id = s.ok(&[
        "commit",
        "-c",
        "CMD [\"cat\", \"/new\"]",
        "-c",
        "ENV K=v",
        "-m",
        "my message",
        "-a",
        "A. Person",
        "changer",
        "snap:1",
    ]);
    assert!(id.starts_with("sha256:") && id.trim().len() == 71, "{id}");
    assert_eq!(
        s.ok(&["image", "inspect", "--format", "{{.Id}}", "snap:1"])
            .trim(),
        id.trim()
    );
    assert_eq!(
        s.ok(&["run", "--rm", "--network", "none", "snap:1"]),
        "new\n"
    );
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "snap:1",
            "sh",
            "-c",
            "test -e /bin/true || test -e /etc/group || echo deleted; echo $K; tail -1 /etc/passwd"
        ]),
        "deleted\nv\nmore\n"
    );
    assert_eq!(
        s.ok(&["image", "inspect", "--format", "{{.Author}}", "snap:1"])
            .trim(),
        "A. Person"
    );
    let hist = s.ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.Comment}}|{{.CreatedBy}}",
        "snap:1",
    ]);
    assert!(
        hist.lines()
            .next()
            .unwrap()
            .starts_with("my message|sh -c echo new"),
        "{hist}"
    );

    // export | import: the same filesystem as a one-layer image.
    let out = s.w.env.dir().join("changer.tar");
    s.ok(&["export", "-o", &out.display().to_string(), "changer"]);
    s.ok(&["import", &out.display().to_string(), "imported:1"]);
    assert_eq!(
        s.ok(&[
            "run",
            "--rm",
            "--network",
            "none",
            "imported:1",
            "sh",
            "-c",
            "cat /new; test -e /etc/group || echo gone"
        ]),
        "new\ngone\n"
    );
    // To stdout, piped.
    let piped = s
        .sh("berth export changer | tar -tf - | grep -c '^etc/passwd$'")
        .success();
    assert_eq!(piped.stdout, "1\n");
    // Errors in Docker's words.
    let r = s.berth(&["diff", "nosuch"]).fails_with(1);
    assert!(r.stderr.contains("nosuch"), "{}", r.stderr);
    let r = s.berth(&["commit", "changer", "bad//ref"]).fails_with(1);
    assert!(!r.stderr.is_empty());
    s.ok(&["rm", "changer"]);
    s.assert_clean(&[]);
}
