//! A [`World`]: a [`TestEnv`] (whose containers live under a cgroup parent of its own, removed
//! on drop with every process in it); berth containers made from the umoci-built busybox
//! fixture (a record with a bundle section, as berth-unpack makes it); and teardown of a
//! container through the stages' own verbs, as `berth rm` runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth::protocol::{BundleSection, ContainerConfig, Record, RootfsDriver};
use berth::state::Containers;

use crate::{Run, TestEnv, capture, fixtures, until};

pub struct World {
    pub env: TestEnv,
}

impl World {
    pub fn new() -> World {
        World {
            env: TestEnv::new(),
        }
    }

    pub fn paths(&self) -> berth::Paths {
        self.env.paths()
    }

    pub fn cmd(&self, tool: &str) -> Command {
        self.env.cmd(tool)
    }

    pub fn run(&self, argv: &[&str]) -> Run {
        self.run_in(argv, None)
    }

    pub fn run_in(&self, argv: &[&str], input: Option<&[u8]>) -> Run {
        let mut c = self.cmd(argv[0]);
        c.args(&argv[1..]);
        capture(c, argv, input)
    }

    /// A shell script (sh -c) with this world's environment.
    pub fn sh(&self, script: &str) -> Run {
        self.run(&["sh", "-c", script])
    }

    /// `berth-unpack busybox:latest --name NAME -- sh -c 'CMD' | STAGES berth-spawn start -d
    /// SPAWN_FLAGS -` as a shell runs it (`stages` is empty or ends in `|`); asserts it
    /// printed an id, and returns it.
    #[track_caller]
    pub fn piped(&self, name: &str, stages: &str, spawn_flags: &str, cmd: &str) -> String {
        let script = format!(
            "berth-unpack busybox:latest --name {name} -- sh -c '{cmd}' | {stages} berth-spawn start -d {spawn_flags} -"
        );
        let r = self.sh(&script).success();
        let id = r.stdout.trim().to_string();
        assert_eq!(id.len(), 64, "{script}: {r:?}");
        id
    }

    /// A berth container: a record with a bundle (umoci's unpack of the busybox fixture,
    /// with `args` as its command), saved under the test's root. Returns (id, record JSON).
    pub fn container(&self, name: &str, args: &[&str]) -> (String, String) {
        let paths = self.paths();
        let containers = Containers::new(&paths);
        let (id, name) = containers.create(Some(name)).unwrap();
        let bundle = paths.container(&id);
        let layout = fixtures::layout();
        fixtures::must(
            Command::new("umoci")
                .args([
                    "unpack",
                    "--image",
                    &format!("{}:busybox", layout.display()),
                ])
                .arg(&bundle),
        );
        edit_config(&bundle, |c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(args);
            c["process"]["env"] = serde_json::json!([fixtures::PATH_ENV]);
            c["hostname"] = serde_json::json!(&id[..12]);
        });
        let mut r = Record::new();
        r.id = id.clone();
        r.name = name;
        r.created = Some(chrono::Utc::now());
        r.bundle = Some(BundleSection {
            path: bundle.clone(),
            rootfs: bundle.join("rootfs"),
            driver: RootfsDriver::Dir,
            config: ContainerConfig {
                image: "busybox".into(),
                cmd: Some(args.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
            ..Default::default()
        });
        containers.save(&r).unwrap();
        (id, serde_json::to_string(&r).unwrap())
    }

    /// `berth-spawn start [flags] -` with the container's record on stdin.
    pub fn start(&self, record: &str, flags: &[&str]) -> Run {
        let mut argv = vec!["berth-spawn", "start"];
        argv.extend_from_slice(flags);
        argv.push("-");
        self.run_in(&argv, Some(record.as_bytes()))
    }

    /// A container run in the foreground with `flags`; returns the finished command.
    pub fn run_container(&self, name: &str, flags: &[&str], args: &[&str]) -> (String, Run) {
        let (id, rec) = self.container(name, args);
        let r = self.start(&rec, flags);
        (id, r)
    }

    pub fn record(&self, id: &str) -> serde_json::Value {
        let p = self.paths().record(id);
        serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
    }

    /// Polls the record until `pred` holds (hang protection only, never a timing claim).
    #[track_caller]
    pub fn wait_record(
        &self,
        id: &str,
        what: &str,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        until(what, || {
            let r = self.record(id);
            pred(&r).then_some(r)
        })
    }

    /// `berth rm [-v] ID` as berth::container::teardown runs it: the stages' teardown verbs for the
    /// container's record, in order. Their runs; none if the record does not load.
    pub fn teardown(&self, id: &str, volumes: bool) -> Vec<Run> {
        let paths = self.paths();
        let Ok(record) = Containers::new(&paths).load(id) else {
            return Vec::new();
        };
        berth::container::teardown_plan(&record, volumes)
            .iter()
            .map(|argv| self.run(&argv.iter().map(String::as_str).collect::<Vec<_>>()))
            .collect()
    }

    /// Ids of the containers in the store.
    pub fn container_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.paths().containers())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64)
            .collect();
        ids.sort();
        ids
    }

    /// Cgroup directories of this test still present.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        crate::cleanup::cgroup_dirs(&self.env.cgroup)
    }

    /// Leaf cgroup directories (containers') of this test still present.
    pub fn container_cgroups(&self) -> Vec<PathBuf> {
        self.cgroup_dirs()
            .into_iter()
            .filter(|d| d.file_name().is_some_and(|n| n.len() == 64))
            .collect()
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Its processes and cgroups go with its TestEnv (`cleanup::remove_cgroups`).
        crate::cleanup::kill_processes_under(self.env.dir());
    }
}

/// Tears containers down through their stages' verbs ([`World::teardown`]) when dropped,
/// whatever the test did.
pub struct Teardown<'a>(pub &'a World, pub Vec<String>);

impl Drop for Teardown<'_> {
    fn drop(&mut self) {
        for id in &self.1 {
            self.0.teardown(id, false);
        }
    }
}

/// Edits a bundle's config.json as JSON.
pub fn edit_config(bundle: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = bundle.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i64) -> bool {
    berth::state::liveness::is_alive(pid as i32, 0)
}
