//! Shared by the vol_* tests: containers made by the real pipeline
//! (`berth-unpack IMAGE CMD | berth-vol - FLAGS | berth-spawn start [-d] -`), each stage's
//! record handed to the next on stdin exactly as a shell pipe would, in a spawn test world
//! (its own roots and cgroup parent, removed on drop).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use berth_e2e::{Run, fixtures};
use serde_json::Value;

pub use berth_e2e::world::World;

/// A world with the busybox and packed fixtures in its store.
pub fn world() -> World {
    let w = World::new();
    fixtures::seed(&w.env, "busybox", "busybox:latest");
    fixtures::seed(&w.env, fixtures::PACKED, "packed:latest");
    w
}

/// `berth-unpack --name NAME IMAGE CMD... | berth-vol - FLAGS...`: the record berth-vol
/// printed, or its failed run.
pub fn create(
    w: &World,
    name: &str,
    image: &str,
    vol: &[&str],
    cmd: &[&str],
) -> Result<String, Run> {
    let mut argv = vec!["berth-unpack", "--name", name, image];
    argv.extend_from_slice(cmd);
    let rec = w.run(&argv).success().stdout;
    let mut argv = vec!["berth-vol", "-"];
    argv.extend_from_slice(vol);
    let r = w.run_in(&argv, Some(rec.as_bytes()));
    if r.status.success() {
        Ok(r.stdout)
    } else {
        Err(r)
    }
}

/// The whole pipeline in the foreground: the container's run (its output and exit code).
#[track_caller]
pub fn run(w: &World, name: &str, image: &str, vol: &[&str], cmd: &[&str]) -> Run {
    let rec = create(w, name, image, vol, cmd)
        .unwrap_or_else(|r| panic!("berth-vol failed: {}", r.stderr));
    w.run_in(&["berth-spawn", "start", "-"], Some(rec.as_bytes()))
}

/// As [`run`], asserting the container exited 0; returns its stdout.
#[track_caller]
pub fn run_ok(w: &World, name: &str, image: &str, vol: &[&str], cmd: &[&str]) -> String {
    run(w, name, image, vol, cmd).success().stdout
}

/// The container's id from its name.
pub fn id_of(w: &World, name: &str) -> String {
    std::fs::read_to_string(w.paths().names().join(name))
        .unwrap()
        .trim()
        .to_string()
}

/// `berth rm [-v] NAME`, as container::teardown runs it: the stages' teardown verbs in order,
/// each asserted to succeed.
#[track_caller]
pub fn rm(w: &World, name: &str, volumes: bool) {
    let id = id_of(w, name);
    let runs = w.teardown(&id, volumes);
    assert!(!runs.is_empty(), "no record of {name}");
    for r in runs {
        r.success();
    }
    assert!(!w.paths().container(&id).exists());
}

/// `berth-ps inspect -f TEMPLATE NAME`, parsed as JSON.
pub fn inspect_json(w: &World, name: &str, template: &str) -> Value {
    let out = w
        .run(&["berth-ps", "inspect", "-f", template, name])
        .success()
        .stdout;
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The volume names on disk.
pub fn volume_names(w: &World) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(w.paths().volumes())
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The `_data` directory of volume `name`.
pub fn data(w: &World, name: &str) -> PathBuf {
    w.paths().volume_data(name)
}

/// The record's mount entry at `dest`.
pub fn mount_at(w: &World, name: &str, dest: &str) -> Value {
    let r = w.record(&id_of(w, name));
    r["mounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no mounts: {r:#}"))
        .iter()
        .find(|m| m["destination"] == dest)
        .unwrap_or_else(|| panic!("no mount at {dest}: {r:#}"))
        .clone()
}

/// A directory in the test's temporary space.
pub fn host_dir(w: &World, rel: &str) -> PathBuf {
    let p = w.env.dir().join(rel);
    std::fs::create_dir_all(&p).unwrap();
    p
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
