//! The real pipeline: `berth-unpack IMAGE | berth-spawn start -`, in the foreground and
//! detached, with `--rm` tearing down through the other stages' verbs.

mod spawn_support;

use berth_e2e::fixtures;
use spawn_support::World;

fn sh(w: &World, script: &str) -> berth_e2e::Run {
    let mut c = w.cmd("sh");
    c.arg("-c").arg(script);
    spawn_support::capture(c, &["sh", "-c", script], None)
}

#[test]
fn unpack_then_spawn_runs_and_rm_removes() {
    let w = World::new();
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    let r = sh(
        &w,
        "berth-unpack --name first busybox sh -c 'echo hi; grep CapEff /proc/self/status; exit 2' | berth-spawn start -",
    );
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert_eq!(r.stdout, "hi\nCapEff:\t00000000a80425fb\n");
    sh(
        &w,
        "berth-unpack --name gone busybox true | berth-spawn start --rm -",
    )
    .success();
    let names: Vec<String> = std::fs::read_dir(w.paths().names())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["first".to_string()],
        "--rm left the container behind"
    );
    // Detached with --rm: the monitor removes it when it exits.
    let id = sh(
        &w,
        "berth-unpack --name bg busybox sh -c 'sleep 0.2; echo done' | berth-spawn start -d --rm -",
    )
    .success()
    .stdout;
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let dir = w.paths().container(id);
    let start = std::time::Instant::now();
    while dir.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "--rm -d never removed {id}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id));
    // An upstream error passes through, with its code.
    let r = sh(&w, "berth-unpack nosuchimage | berth-spawn start -");
    assert_eq!(r.code(), 3, "{}", r.stderr);
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
}
