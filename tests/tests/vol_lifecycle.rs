//! Volume lifetimes: `rm -v` reference counting, named volumes outliving containers, prune,
//! `volume rm` of a volume in use (running or stopped), `--rm`, and what `inspect` and
//! `volume ls/inspect` show.

mod vol_support;

use berth_e2e::{argv, until};
use serde_json::Value;
use vol_support::*;

#[test]
fn rm_v_counts_references_and_never_removes_named_volumes() {
    let w = world();
    run_ok(
        &w,
        "ca",
        "busybox",
        &["-v", "/anon", "-v", "named:/named"],
        &["true"],
    );
    let anon = mount_at(&w, "ca", "/anon")["name"]
        .as_str()
        .unwrap()
        .to_string();
    run_ok(
        &w,
        "cb",
        "busybox",
        &["--volumes-from", "ca"],
        &["touch", "/anon/from-b"],
    );
    assert_eq!(volume_names(&w), sorted(&[&anon, "named"]));

    rm(&w, "ca", true);
    assert_eq!(
        volume_names(&w),
        sorted(&[&anon, "named"]),
        "b still uses the volume"
    );
    rm(&w, "cb", true);
    assert_eq!(
        volume_names(&w),
        vec!["named".to_string()],
        "named volumes stay"
    );

    // rm without -v leaves the anonymous volume dangling; prune takes it and keeps the named
    // one (Docker 23+); -a takes the named one too.
    run_ok(
        &w,
        "cc",
        "busybox",
        &["-v", "/x", "-v", "named:/named"],
        &["sh", "-c", "echo 12345 > /x/f"],
    );
    let x = mount_at(&w, "cc", "/x")["name"]
        .as_str()
        .unwrap()
        .to_string();
    run_ok(&w, "keeper", "busybox", &["-v", "kept:/kept"], &["true"]);
    rm(&w, "cc", false);
    let dangling = w
        .run(&["berth-vol", "ls", "-q", "--filter", "dangling=true"])
        .success()
        .stdout;
    assert_eq!(dangling, format!("{x}\nnamed\n"));
    std::fs::write(data(&w, "named").join("f"), "1234\n").unwrap();
    let out = w.run(&["berth-vol", "prune", "-f"]).success().stdout;
    assert_eq!(
        out,
        format!("Deleted Volumes:\n{x}\n\nTotal reclaimed space: 6B\n")
    );
    assert_eq!(volume_names(&w), sorted(&["kept", "named"]));
    assert_eq!(
        std::fs::read_to_string(data(&w, "named").join("f")).unwrap(),
        "1234\n",
        "a named volume's data survives a plain prune"
    );
    // -a and --filter all=true take named volumes, but not both at once.
    let r = w.run(&["berth-vol", "prune", "-af", "--filter", "all=true"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr
            .contains("cannot specify both --all and --filter all=true"),
        "{}",
        r.stderr
    );
    let out = w
        .run(&["berth-vol", "prune", "-f", "--filter", "all=true"])
        .success()
        .stdout;
    assert_eq!(
        out,
        "Deleted Volumes:\nnamed\n\nTotal reclaimed space: 5B\n"
    );
    assert_eq!(volume_names(&w), vec!["kept".to_string()]);
    // Without -f, prune asks; "no" (or no answer) removes nothing.
    rm(&w, "keeper", false);
    let r = w
        .run_in(&["berth-vol", "prune", "-a"], Some(b"n\n"))
        .success();
    assert!(
        r.stderr.contains(
            "WARNING! This will remove all local volumes not used by at least one container.\n\
             Are you sure you want to continue?"
        ),
        "{}",
        r.stderr
    );
    assert_eq!(volume_names(&w), vec!["kept".to_string()]);
    let r = w.run_in(&["berth-vol", "prune"], Some(b"y\n")).success();
    assert!(
        r.stderr.contains("remove anonymous local volumes"),
        "{}",
        r.stderr
    );
    assert_eq!(volume_names(&w), vec!["kept".to_string()], "named: kept");
    w.run_in(&["berth-vol", "prune", "--all"], Some(b"y\n"))
        .success();
    assert!(volume_names(&w).is_empty());
}

#[test]
fn volumes_in_use_are_not_removed_without_force_running_or_stopped() {
    let w = world();
    // A detached container through the real pipeline, in a shell.
    let r = w.run(&argv!(
        "sh -c {}",
        "berth-unpack --name web busybox sh -c 'echo up > /data/state; sleep 300' \
         | berth-vol - -v data:/data | berth-spawn start -d -"
    ));
    r.success();
    let id = id_of(&w, "web");
    until("the container to write to its volume", || {
        data(&w, "data").join("state").exists().then_some(())
    });

    // A running container's mounts cannot change.
    let r = w
        .run(&["berth-vol", "web", "-v", "other:/other"])
        .fails_with(105);
    assert!(r.error_line().contains("is running"), "{}", r.stderr);
    assert_eq!(volume_names(&w), vec!["data".to_string()]);

    let r = w.run(&["berth-vol", "rm", "data"]).fails_with(104);
    let line = r.error_line();
    assert!(line.contains("in use by container web ("), "{line}");
    assert!(data(&w, "data").join("state").exists());
    // The teardown verb refuses to run under a live container.
    w.run(&["berth-vol", "detach", &id, "--volumes"])
        .fails_with(105);

    w.run(&["berth-spawn", "delete", "--force", &id]).success();
    // Stopped, it is still in use.
    w.run(&["berth-vol", "rm", "data"]).fails_with(104);
    let r = w.run(&["berth-vol", "rm", "-f", "data"]).success();
    assert_eq!(r.stdout, "data\n");
    assert!(
        r.stderr
            .contains("warning: removed volume data, which container web ("),
        "{}",
        r.stderr
    );
    assert!(volume_names(&w).is_empty());
    // The container can no longer copy from, but it can still be removed.
    let e = create(&w, "late", "busybox", &["--volumes-from", "web"], &["true"]).unwrap_err();
    assert_eq!(e.code(), 3, "{}", e.stderr);
    assert!(e.stderr.contains("volume data"), "{}", e.stderr);
    rm(&w, "web", true);
    // Idempotent teardown: again, and for an id that is gone.
    w.run(&["berth-vol", "detach", &id, "--volumes"]).success();
    w.run(&["berth-vol", "rm", "-f", "data"]).success();
}

/// Stages running at once that want the same new named volume share one, seeded once, and
/// prune waits for them rather than taking a volume between its creation and its record.
#[test]
fn concurrent_stages_share_one_named_volume() {
    let w = world();
    std::thread::scope(|s| {
        for i in 0..6 {
            let w = &w;
            s.spawn(move || {
                create(
                    w,
                    &format!("par{i}"),
                    "packed",
                    &["-v", "shared:/config"],
                    &["true"],
                )
                .unwrap_or_else(|r| panic!("{}", r.stderr));
            });
        }
        s.spawn(|| w.run(&["berth-vol", "prune", "-af"]).success());
    });
    assert_eq!(volume_names(&w), vec!["shared".to_string()]);
    let mut files: Vec<String> = std::fs::read_dir(data(&w, "shared"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["link", "packedData", "sub"]);
    let users = w
        .run(&["berth-vol", "ls", "--format", "{{.Links}}"])
        .success()
        .stdout;
    assert_eq!(users, "6\n");
}

#[test]
fn auto_removed_containers_take_their_anonymous_volumes() {
    let w = world();
    let rec = create(
        &w,
        "tmp",
        "busybox",
        &["-v", "/scratch", "-v", "keep:/keep"],
        &["true"],
    )
    .unwrap();
    w.run_in(&["berth-spawn", "start", "--rm", "-"], Some(rec.as_bytes()))
        .success();
    assert!(!w.paths().names().join("tmp").exists());
    assert_eq!(volume_names(&w), vec!["keep".to_string()]);
}

#[test]
fn inspect_shows_mounts_and_volumes_like_docker() {
    let w = world();
    let host = host_dir(&w, "host");
    run_ok(
        &w,
        "web",
        "busybox",
        &argv!(
            "-v data:/data -v /anon -v {} --mount type=tmpfs,dst=/cache,tmpfs-size=1m --tmpfs \
             /run:size=64k",
            &format!("{}:/srv:ro,z", s(&host))
        ),
        &["true"],
    );
    let doc = w.run(&["berth-ps", "inspect", "web"]).success().json();
    let c = &doc[0];
    let mounts: Vec<&Value> = c["Mounts"].as_array().unwrap().iter().collect();
    let at = |d: &str| *mounts.iter().find(|m| m["Destination"] == d).unwrap();
    let data_dir = data(&w, "data");
    assert_eq!(
        at("/data"),
        &serde_json::json!({"Type": "volume", "Name": "data", "Source": s(&data_dir),
            "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""})
    );
    let anon = at("/anon");
    assert_eq!(
        (anon["Type"].as_str(), anon["Mode"].as_str()),
        (Some("volume"), Some(""))
    );
    assert_eq!(anon["Name"].as_str().unwrap().len(), 64);
    assert_eq!(
        at("/srv"),
        &serde_json::json!({"Type": "bind", "Source": s(&host), "Destination": "/srv",
            "Mode": "ro,z", "RW": false, "Propagation": "rprivate"})
    );
    assert_eq!(at("/cache")["Type"], "tmpfs");
    // --tmpfs is HostConfig.Tmpfs, not a mount point (as in Docker).
    assert_eq!(mounts.len(), 4, "{mounts:#?}");
    assert_eq!(c["HostConfig"]["Tmpfs"]["/run"], "size=64k");
    assert_eq!(
        c["HostConfig"]["Binds"],
        serde_json::json!(["data:/data", format!("{}:/srv:ro,z", s(&host))])
    );
    assert_eq!(c["Volumes"]["/data"], s(&data_dir));
    assert_eq!(c["Volumes"]["/srv"], s(&host));
    assert!(c["Config"]["Volumes"].get("/anon").is_some());

    // The volume through `berth volume` (the dispatcher) and `berth inspect`.
    let out = w
        .run(&["berth", "volume", "inspect", "data"])
        .success()
        .json();
    assert_eq!(out[0]["Name"], "data");
    assert_eq!(out[0]["Mountpoint"], s(&data_dir));
    assert_eq!(out[0]["Driver"], "local");
    let out = w
        .run(&["berth", "inspect", "--type", "volume", "data"])
        .success()
        .json();
    assert_eq!(out[0]["Mountpoint"], s(&data_dir));
    let fmt = w
        .run(&argv!(
            "berth volume ls --format '{{.Name}} {{.Links}}' --filter name=^da"
        ))
        .success()
        .stdout;
    assert_eq!(fmt, "data 1\n");
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}
