//! The real pipeline: `berth-unpack IMAGE | berth-spawn start -`, in the foreground and
//! detached, with `--rm` tearing down through the other stages' verbs.

use berth_e2e::fixtures;
use berth_e2e::until;
use berth_e2e::world::World;

#[test]
fn unpack_then_spawn_runs_and_rm_removes() {
    let w = World::new();
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    let r = w.sh(
        "berth-unpack --name first busybox sh -c 'echo hi; grep CapEff /proc/self/status; exit 2' | berth-spawn start -",
    );
    assert_eq!(r.code(), 2, "{}", r.stderr);
    assert_eq!(r.stdout, "hi\nCapEff:\t00000000a80425fb\n");
    w.sh("berth-unpack --name gone busybox true | berth-spawn start --rm -")
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
    let id = w
        .sh(
            "berth-unpack --name bg busybox sh -c 'sleep 0.2; echo done' | berth-spawn start -d --rm -",
        )
        .success()
        .stdout;
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let dir = w.paths().container(id);
    until(&format!("--rm -d to remove {id}"), || {
        (!dir.exists()).then_some(())
    });
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(id));
    // An upstream error passes through, with its code.
    let r = w.sh("berth-unpack nosuchimage | berth-spawn start -");
    assert_eq!(r.code(), 3, "{}", r.stderr);
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
}
