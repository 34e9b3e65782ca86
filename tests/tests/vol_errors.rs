//! Bad input to berth-vol: each gets one clear error line and its own exit code, and leaves
//! nothing behind (no volume, no host directory, config.json and the record unchanged).

mod vol_support;

use std::fs;

use berth_e2e::argv;
use vol_support::*;

/// Runs `berth-unpack busybox | berth-vol - FLAGS`, expecting berth-vol to fail with `code`;
/// checks that nothing was made and returns the error line.
#[track_caller]
fn refused(w: &World, name: &str, flags: &[&str], code: i32) -> String {
    let before = volume_names(w);
    let r = create(w, name, "busybox", flags, &["true"]).expect_err("berth-vol accepted it");
    let r = r.fails_with(code);
    let line = r.error_line();
    // Piped, the error document follows for the next stage.
    assert!(
        r.stdout.contains(&format!("\"code\":{code}")),
        "{}",
        r.stdout
    );
    assert_eq!(volume_names(w), before, "volumes were left behind");
    let id = id_of(w, name);
    let rec = w.record(&id);
    assert!(
        rec.get("mounts").is_none(),
        "the record was changed: {rec:#}"
    );
    let config = fs::read_to_string(w.paths().container(&id).join("config.json")).unwrap();
    assert!(!config.contains("/volumes/"), "config.json was changed");
    line
}

#[test]
fn each_bad_flag_is_refused_cleanly() {
    let w = world();
    let host = host_dir(&w, "host");

    // `./data` is the Docker CLI's relative path (run_flags_more); `data/x` is neither a
    // path nor a volume name.
    let line = refused(&w, "rel", &["-v", "newvol:/ok", "-v", "data/x:/data"], 4);
    assert!(
        line.contains("\"data/x\" is relative") && line.contains("absolute"),
        "{line}"
    );
    assert!(!std::path::Path::new("data").exists());

    let missing = host.join("missing");
    let line = refused(
        &w,
        "nosrc",
        &[
            "--mount",
            &format!("type=bind,src={},dst=/data", s(&missing)),
        ],
        3,
    );
    assert!(line.contains("bind source path does not exist"), "{line}");
    assert!(!missing.exists(), "--mount created the bind source");

    let line = refused(
        &w,
        "dup",
        &["-v", "one:/data", "-v", &format!("{}/new:/data/", s(&host))],
        4,
    );
    assert!(line.contains("duplicate mount point: /data"), "{line}");
    assert!(!host.join("new").exists());
    refused(&w, "dup2", &["--tmpfs", "/data", "--mount", "dst=/data"], 4);

    let line = refused(&w, "nofrom", &["-v", "/anon", "--volumes-from", "ghost"], 3);
    assert!(
        line.contains("--volumes-from ghost") && line.contains("No such container: ghost"),
        "{line}"
    );

    for (i, (flags, code)) in [
        (&["-v", "data:relative"][..], 4),
        (&["-v", "/data:ro"][..], 4),
        (&["-v", "x/y:/data"][..], 4),
        (&["-v", "a:/data:bogus"][..], 4),
        (&["--mount", "type=volume,src=v1,dst=/d,bogus=1"][..], 4),
        (&["--mount", "type=nfs,dst=/d"][..], 2),
        (&["--tmpfs", "relative"][..], 4),
        (&["--volumes-from", "ghost:rshared"][..], 4),
    ]
    .into_iter()
    .enumerate()
    {
        refused(&w, &format!("bad{i}"), flags, code);
    }
}

/// A failure after the stage has started making things undoes them: here the volume `fresh`
/// is made, then the --volumes-from source turns out to mount a volume that was removed.
#[test]
fn a_failure_half_way_undoes_what_was_made() {
    let w = world();
    run_ok(&w, "src", "busybox", &["-v", "gone:/z"], &["true"]);
    w.run(&["berth-vol", "rm", "-f", "gone"]).success();
    let dir = host_dir(&w, "h").join("created-by-v");
    let line = refused(
        &w,
        "late",
        &[
            "-v",
            "fresh:/a",
            "-v",
            &format!("{}:/b", s(&dir)),
            "--volumes-from",
            "src",
        ],
        3,
    );
    assert!(
        line.contains("volume gone") && line.contains("no longer exists"),
        "{line}"
    );
    assert!(
        !dir.exists(),
        "the host directory made for -v was left behind"
    );
}

/// kill -9 at any moment of a stage that seeds a new volume leaves the volume whole or absent
/// (never half-seeded), and the next stage cleans up and finishes the job.
#[test]
fn a_kill_9_mid_stage_leaves_volumes_whole_or_absent() {
    use std::process::Stdio;
    let w = world();
    let want = berth_e2e::fixtures::host_busybox();
    let want_len = fs::metadata(&want).unwrap().len();
    let complete = |w: &World| {
        let d = data(w, "big");
        let n = fs::read_dir(&d).unwrap().count();
        let len = fs::metadata(d.join("busybox"))
            .map(|m| m.len())
            .unwrap_or(0);
        (n, len)
    };
    let mut full_count = None;
    for (i, delay_ms) in [0u64, 1, 3, 6, 10, 20, 40, 80].into_iter().enumerate() {
        let rec = w
            .run(&argv!(
                "berth-unpack --name {} busybox true",
                &format!("k{i}")
            ))
            .success()
            .stdout;
        let mut c = w.cmd("berth-vol");
        c.args(["-", "-v", "big:/bin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = c.spawn().unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(rec.as_bytes()).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        let listed = w.run(&["berth-vol", "ls", "-q"]).success().stdout;
        match listed.as_str() {
            "" => {}
            "big\n" => {
                let (n, len) = complete(&w);
                assert_eq!(len, want_len, "busybox half-copied into the volume");
                assert_eq!(
                    *full_count.get_or_insert(n),
                    n,
                    "a partial volume is visible"
                );
            }
            other => panic!("unexpected volumes: {other:?}"),
        }
    }
    // The next stage finishes the job and collects what the killed ones left.
    run_ok(&w, "last", "busybox", &["-v", "big:/bin"], &["true"]);
    let (n, len) = complete(&w);
    assert_eq!(len, want_len);
    if let Some(f) = full_count {
        assert_eq!(n, f);
    }
    let left: Vec<String> = fs::read_dir(w.paths().volumes())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        left,
        vec!["big".to_string()],
        "staging directories were left behind"
    );
}
