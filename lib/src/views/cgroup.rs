//! Finding a container's cgroup on cgroup v1, v2 or hybrid hosts (DESIGN.md: this machine is
//! hybrid, with the v1 controllers at `/sys/fs/cgroup/<ctrl>` and an almost empty v2 tree at
//! `/sys/fs/cgroup/unified`), and reading its counters.
//!
//! The hierarchies come from the mount table. A container's directory in each is its
//! recorded `process.cgroup_path`, or else, while it runs, what `/proc/PID/cgroup` says. Each
//! counter is read from the v2 tree when that tree has the controller's file, from the v1
//! controller's tree otherwise, so one code path serves every layout. Reading a few files
//! needs no crate; cgroups-rs picks one mode for the whole host, which is wrong on hybrid.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use crate::protocol::Record;

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    pub mount: PathBuf,
    /// The hierarchy path that is mounted (`/` unless a sub-tree is).
    pub root: String,
    /// v1 controllers (`memory`, `cpu`, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
    pub v2: bool,
}

/// The host's cgroup hierarchies.
#[derive(Debug, Clone, Default)]
pub struct Cgroups {
    pub hierarchies: Vec<Hierarchy>,
}

impl Cgroups {
    /// Reads the mount table.
    pub fn detect() -> Cgroups {
        let mut hierarchies = Vec::new();
        let Ok(info) = procfs::process::Process::myself().and_then(|p| p.mountinfo()) else {
            return Cgroups::default();
        };
        for m in info {
            let v2 = match m.fs_type.as_str() {
                "cgroup2" => true,
                "cgroup" => false,
                _ => continue,
            };
            let controllers = if v2 {
                Vec::new()
            } else {
                let mut c: Vec<String> = m
                    .super_options
                    .keys()
                    .filter(|k| is_controller(k))
                    .cloned()
                    .collect();
                c.sort();
                c
            };
            if hierarchies
                .iter()
                .any(|h: &Hierarchy| h.mount == m.mount_point)
            {
                continue;
            }
            hierarchies.push(Hierarchy {
                mount: m.mount_point.clone(),
                root: m.root.clone(),
                controllers,
                v2,
            });
        }
        Cgroups { hierarchies }
    }

    /// `v1`, `v2` or `hybrid` (v1 controllers plus a v2 tree), or `none`.
    pub fn layout(&self) -> &'static str {
        let v1 = self.hierarchies.iter().any(|h| !h.v2);
        let v2 = self.hierarchies.iter().any(|h| h.v2);
        match (v1, v2) {
            (true, true) => "hybrid",
            (true, false) => "v1",
            (false, true) => "v2",
            (false, false) => "none",
        }
    }

    /// The container's directory in each hierarchy where it exists.
    pub fn dirs(&self, r: &Record) -> Vec<(Hierarchy, PathBuf)> {
        let recorded = r
            .process
            .as_ref()
            .map(|p| p.cgroup_path.trim_start_matches('/').to_string())
            .filter(|p| !p.is_empty());
        let live_pid = r
            .state
            .as_ref()
            .filter(|s| s.status.is_active() && s.pid > 0)
            .map(|s| s.pid);
        let proc_paths = live_pid.map(proc_cgroups).unwrap_or_default();
        // A hierarchy where the process sits in our own cgroup is not the container's: it
        // merely inherited where its starter ran.
        let ours = proc_cgroups(std::process::id() as i32);
        let mut out = Vec::new();
        for h in &self.hierarchies {
            let rel = match &recorded {
                Some(p) => format!("/{p}"),
                None => match proc_paths.iter().find(|(ctrls, _)| h.matches(ctrls)) {
                    Some((_, p)) if !ours.iter().any(|(c, o)| h.matches(c) && o == p) => p.clone(),
                    _ => continue,
                },
            };
            let under_root = rel
                .strip_prefix(h.root.trim_end_matches('/'))
                .unwrap_or(&rel)
                .trim_start_matches('/');
            if under_root.is_empty() && recorded.is_none() {
                // The container shares the hierarchy's root with the host: not its own.
                continue;
            }
            let dir = h.mount.join(under_root);
            if dir.is_dir() {
                out.push((h.clone(), dir));
            }
        }
        out
    }
}

impl Hierarchy {
    /// Whether a `/proc/PID/cgroup` line's controller list names this hierarchy.
    fn matches(&self, ctrls: &[String]) -> bool {
        if self.v2 {
            return ctrls.is_empty();
        }
        let mut c = ctrls.to_vec();
        c.sort();
        c == self.controllers
    }

    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

fn is_controller(opt: &str) -> bool {
    opt.starts_with("name=")
        || matches!(
            opt,
            "cpu"
                | "cpuacct"
                | "cpuset"
                | "memory"
                | "devices"
                | "freezer"
                | "net_cls"
                | "blkio"
                | "perf_event"
                | "net_prio"
                | "hugetlb"
                | "pids"
                | "rdma"
                | "misc"
        )
}

/// `/proc/PID/cgroup`: (controllers, path) per hierarchy; v2's line has no controllers.
fn proc_cgroups(pid: i32) -> Vec<(Vec<String>, String)> {
    let Ok(text) = fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let ctrls = parts.next()?;
            let path = parts.next()?.to_string();
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((ctrls, path))
        })
        .collect()
}

/// Every process in the cgroup directories and their descendants (host pids).
pub fn pids(dirs: &[(Hierarchy, PathBuf)]) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for (_, dir) in dirs {
        for e in walkdir::WalkDir::new(dir).into_iter().flatten() {
            if e.file_type().is_dir()
                && let Ok(text) = fs::read_to_string(e.path().join("cgroup.procs"))
            {
                out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
    }
    out
}

/// Reads a counter file: from the v2 directory if it has the file, else from the v1
/// hierarchy holding `controller`.
pub fn read(
    dirs: &[(Hierarchy, PathBuf)],
    v2_file: &str,
    controller: &str,
    v1_files: &[&str],
) -> Option<String> {
    for (h, d) in dirs {
        if h.v2
            && let Ok(s) = fs::read_to_string(d.join(v2_file))
        {
            return Some(s);
        }
    }
    for (h, d) in dirs {
        if !h.v2 && h.has(controller) {
            for f in v1_files {
                if let Ok(s) = fs::read_to_string(d.join(f)) {
                    return Some(s);
                }
            }
        }
    }
    None
}

/// A `key value` line from a flat-keyed file (memory.stat, cpu.stat).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ProcessSection, StateSection, Status};

    #[test]
    fn this_process_is_found_through_its_cgroups() {
        let cg = Cgroups::detect();
        assert_ne!(cg.layout(), "none");
        // Our own cgroup, as if we were a running container with no recorded path.
        let mut r = Record::new();
        let me = std::process::id() as i32;
        r.state = Some(StateSection {
            status: Status::Running,
            pid: me,
            ..Default::default()
        });
        // Our own cgroups are not a container's.
        assert!(cg.dirs(&r).is_empty());
        // A recorded path that exists nowhere yields nothing.
        r.process = Some(ProcessSection {
            cgroup_path: "berth-test-does-not-exist/x".into(),
            ..Default::default()
        });
        assert!(cg.dirs(&r).is_empty());
    }

    #[test]
    fn keyed_files() {
        let t = "cache 10\ntotal_inactive_file 4096\nusage_usec 77\n";
        assert_eq!(keyed(t, "total_inactive_file"), Some(4096));
        assert_eq!(keyed(t, "usage_usec"), Some(77));
        assert_eq!(keyed(t, "nope"), None);
    }
}
