//! Shared by the run_* tests: a world where `berth ...` runs as a user types it (the
//! dispatcher and berth-run on PATH), with its own roots, cgroup parent (spawn_support's
//! World), network slot (TestNet: its own bridge and subnet, never berth0) and the busybox
//! fixture as `busybox:latest`; and the check that nothing was left behind.

#![allow(dead_code)]

#[path = "../spawn_support/mod.rs"]
mod spawn_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_e2e::net::{self, TestNet};
use berth_e2e::{Run, fixtures};
#[allow(unused_imports)]
pub use spawn_support::{World, alive, capture, edit_config};

pub struct Box {
    // Field order is drop order: containers go before the network guard and the world.
    pub net: TestNet,
    pub w: World,
}

impl Box {
    pub fn new() -> Box {
        let b = Box::empty();
        fixtures::seed(&b.w.env, "busybox", "busybox:latest");
        b
    }

    /// A world with no image at all.
    pub fn empty() -> Box {
        let w = World::new();
        let net = TestNet::new(&w.env);
        Box { net, w }
    }

    pub fn cmd(&self, tool: &str) -> Command {
        self.w.cmd(tool)
    }

    /// `berth ARGS...` to completion.
    pub fn berth(&self, args: &[&str]) -> Run {
        let mut argv = vec!["berth"];
        argv.extend_from_slice(args);
        self.w.run(&argv)
    }

    /// `berth ARGS...` with `input` on stdin.
    pub fn berth_in(&self, args: &[&str], input: &[u8]) -> Run {
        let mut argv = vec!["berth"];
        argv.extend_from_slice(args);
        self.w.run_in(&argv, Some(input))
    }

    /// `berth ARGS...`, asserting success; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        self.berth(args).success().stdout
    }

    /// `berth ARGS...` started in the background, stdio to files under the test dir.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut c = self.cmd("berth");
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c.spawn().expect("start berth")
    }

    /// `berth run -d ARGS...`: the full id it printed.
    #[track_caller]
    pub fn detached(&self, args: &[&str]) -> String {
        let mut a = vec!["run", "-d"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        let id = out.trim().to_string();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "run -d printed {out:?}"
        );
        id
    }

    pub fn root(&self) -> &Path {
        &self.w.env.root
    }

    /// Ids of the containers in the store.
    pub fn container_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.w.paths().containers())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64)
            .collect();
        ids.sort();
        ids
    }

    /// The names reserved in the store.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(self.w.paths().names())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    /// `ps -a` as JSON rows.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        let r = self.berth(&["ps", "-a", "--no-trunc"]).success();
        r.json().as_array().cloned().unwrap_or_default()
    }

    /// The record's state section.
    pub fn state(&self, id: &str) -> serde_json::Value {
        self.w.record(id)["state"].clone()
    }

    /// Polls until `f` gives a value (hang protection only).
    #[track_caller]
    pub fn until<T>(&self, what: &str, f: impl FnMut() -> Option<T>) -> T {
        berth_e2e::until(what, f)
    }

    /// Asserts that nothing is left: no container directory, no name, no mount under the
    /// test's directory, no veth of the test's bridge, no cgroup, no firewall rule naming
    /// `ids`, no runtime state.
    #[track_caller]
    pub fn assert_clean(&self, ids: &[&str]) {
        assert_eq!(
            self.container_ids(),
            Vec::<String>::new(),
            "containers left"
        );
        assert_eq!(self.names(), Vec::<String>::new(), "names left");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = self.w.env.dir().display().to_string();
        let ours: Vec<&str> = mounts.lines().filter(|l| l.contains(&dir)).collect();
        assert!(ours.is_empty(), "mounts left: {ours:#?}");
        assert!(self.w.container_cgroups().is_empty(), "cgroups left");
        for id in ids {
            assert!(
                net::host_links(&berth::net::attach::veth_name(id)).is_empty(),
                "veth of {id} left"
            );
            assert!(
                net::rules_with(id).is_empty(),
                "firewall rules of {id} left"
            );
            assert!(
                !self.w.env.run.join(id).exists(),
                "runtime state of {id} left"
            );
            assert!(
                !self.w.env.run.join("netns").join(id).exists(),
                "netns of {id} left"
            );
        }
        // host_links matches a prefix: btest2 would match btest20 of another test.
        let slot = self.net.default_slot();
        assert!(
            !net::host_links(&slot.bridge).contains(&slot.bridge),
            "bridge {} left",
            slot.bridge
        );
    }
}

/// Whether a TCP port on 127.0.0.1 accepts connections.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}
