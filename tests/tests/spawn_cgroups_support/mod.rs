//! Shared by spawn_cgroups: the host's cgroup layout as berth-spawn sees it (on the host, or
//! in a private mount namespace that shows only the cgroup2 hierarchy), berth-spawn as an OCI
//! runtime over hand-written bundles, and guards that put the host back.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_e2e::{Run, fixtures};
use serde_json::{Value, json};

use berth_e2e::capture;
use berth_e2e::world::World;

/// The cgroup hierarchies as berth-spawn sees them: (mount, controllers) for v1, and v2's.
#[derive(Clone)]
pub struct Layout {
    pub v1: Vec<(PathBuf, Vec<String>)>,
    pub v2: Option<PathBuf>,
}

impl Layout {
    pub fn host() -> Layout {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut l = Layout {
            v1: vec![],
            v2: None,
        };
        for line in info.lines() {
            let (left, right) = line.split_once(" - ").unwrap();
            let mount = PathBuf::from(left.split(' ').nth(4).unwrap());
            let r: Vec<&str> = right.split(' ').collect();
            match r[0] {
                "cgroup2" if l.v2.is_none() => l.v2 = Some(mount),
                "cgroup" => {
                    l.v1.push((mount, r[2].split(',').map(String::from).collect()))
                }
                _ => {}
            }
        }
        l
    }

    /// The v2 hierarchy alone, as berth-spawn sees it in the v2 view.
    pub fn v2_only(&self) -> Option<Layout> {
        Some(Layout {
            v1: vec![],
            v2: Some(self.v2.clone()?),
        })
    }

    pub fn v2_holds(&self, ctl: &str) -> bool {
        self.v2
            .as_ref()
            .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
            .is_some_and(|s| s.split_whitespace().any(|c| c == ctl))
    }

    /// The directory holding `v1`'s (or, where v2 holds it, `v2`'s) files for `rel`, and
    /// whether it is v2's.
    pub fn dir(&self, v1: &str, v2: &str, rel: &str) -> Option<(PathBuf, bool)> {
        if let Some((m, _)) = self.v1.iter().find(|(_, c)| c.iter().any(|c| c == v1)) {
            return Some((m.join(rel), false));
        }
        if self.v2_holds(v2) {
            return Some((self.v2.as_ref()?.join(rel), true));
        }
        None
    }

    /// Every directory `rel` would have, in every hierarchy.
    pub fn all(&self, rel: &str) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.v1.iter().map(|(m, _)| m.join(rel)).collect();
        v.extend(self.v2.iter().map(|m| m.join(rel)));
        v
    }
}

/// berth-spawn as an OCI runtime with its own state root, on the host or in the v2 view.
pub struct Spawn<'a> {
    pub w: &'a World,
    pub root: PathBuf,
    pub v2_view: bool,
    pub layout: Layout,
}

impl<'a> Spawn<'a> {
    pub fn host(w: &'a World) -> Spawn<'a> {
        Spawn {
            w,
            root: w.env.dir().join("rt"),
            v2_view: false,
            layout: Layout::host(),
        }
    }

    /// The v2 view; None (with the reason printed) on a host with no cgroup2 hierarchy.
    pub fn v2(w: &'a World) -> Option<Spawn<'a>> {
        let host = Layout::host();
        let Some(layout) = host.v2_only() else {
            eprintln!("skipped: this host has no cgroup2 hierarchy");
            return None;
        };
        Some(Spawn {
            w,
            root: w.env.dir().join("rt"),
            v2_view: !host.v1.is_empty(),
            layout,
        })
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let root = self.root.to_str().unwrap();
        let mut c = if self.v2_view {
            let mut c = self.w.cmd("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"]);
            c.arg("mount -t cgroup2 cgroup2 /sys/fs/cgroup && exec \"$0\" \"$@\"");
            c
        } else {
            self.w.cmd("berth-spawn")
        };
        if self.v2_view {
            c.arg("berth-spawn");
        }
        c.args(["--root", root]).args(args);
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        capture(self.cmd(args), args, None)
    }

    /// `create`: the created container keeps create's stdio, so it gets none to hold; the
    /// error, if any, goes to a file.
    pub fn create(&self, bundle: &Path, id: &str) -> Result<(), (i32, String)> {
        let err = self.w.env.dir().join(format!("create-{id}.err"));
        let status = self
            .cmd(&["create", "--bundle", bundle.to_str().unwrap(), id])
            .stdout(Stdio::null())
            .stderr(fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        let text = fs::read_to_string(&err).unwrap();
        match status.code() {
            Some(0) => Ok(()),
            c => Err((c.unwrap_or(-1), text)),
        }
    }

    /// The container's cgroup path, relative to each hierarchy's root.
    pub fn rel(&self, id: &str) -> String {
        format!("{}/{id}", self.w.env.cgroup)
    }

    /// Reads `file` of the container's cgroup in the hierarchy of `v1`/`v2`.
    pub fn read(&self, id: &str, v1: &str, v2: &str, file: &str) -> String {
        let (dir, _) = self.layout.dir(v1, v2, &self.rel(id)).unwrap();
        fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()))
            .trim()
            .to_string()
    }

    /// Deletes the container and checks that nothing of it is left.
    pub fn delete(&self, id: &str) {
        self.run(&["delete", "--force", id]).success();
        self.assert_gone(id);
    }

    #[track_caller]
    pub fn assert_gone(&self, id: &str) {
        let left: Vec<PathBuf> = Layout::host()
            .all(&self.rel(id))
            .into_iter()
            .filter(|d| d.exists())
            .collect();
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
        assert!(self.run(&["list", "-q"]).success().stdout.is_empty());
    }

    /// A create that must be refused: its exit code and one error line naming `field`.
    #[track_caller]
    pub fn refused(&self, bundle: &Path, id: &str, code: i32, field: &str) -> String {
        let (got, err) = self.create(bundle, id).expect_err("create succeeded");
        assert_eq!(got, code, "{err}");
        let line = err
            .lines()
            .find(|l| l.contains(": error: "))
            .unwrap_or_else(|| panic!("no error line: {err}"))
            .to_string();
        assert!(line.contains(field), "{line}");
        self.assert_gone(id);
        line
    }
}

/// A bundle with busybox and a config.json written here; `linux.resources` is `res`.
pub fn bundle(w: &World, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) -> PathBuf {
    let b = w.env.dir().join(name);
    fixtures::populate_busybox(&b.join("rootfs"));
    let mut c = json!({
        "ociVersion": "1.1.0",
        "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": [fixtures::PATH_ENV], "cwd": "/"},
        "root": {"path": "rootfs"},
        "hostname": "cg",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                           {"type": "network"}],
            "resources": {}
        }
    });
    edit(&mut c);
    fs::write(
        b.join("config.json"),
        serde_json::to_vec_pretty(&c).unwrap(),
    )
    .unwrap();
    b
}

pub fn resources(res: Value) -> impl FnOnce(&mut Value) {
    move |c| c["linux"]["resources"] = res
}

/// A scratch cgroup of the test's own in `v1`'s v1 hierarchy, to ask the kernel what it has.
pub fn probe_v1(w: &World, v1: &str) -> Option<PathBuf> {
    let (m, _) = Layout::host()
        .v1
        .into_iter()
        .find(|(_, c)| c.iter().any(|c| c == v1))?;
    let d = m.join(&w.env.cgroup).join("probe");
    fs::create_dir_all(&d).unwrap();
    Some(d)
}

/// The host's huge page sizes, named as the kernel's hugetlb files name them.
pub fn page_sizes() -> Vec<String> {
    let mut kb: Vec<u64> = fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            n.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()
        })
        .collect();
    kb.sort_unstable();
    kb.into_iter()
        .map(berth::runtime::cgroups::page_size_name)
        .collect()
}

/// Puts back the v2 root's cgroup.subtree_control as it was: a test that makes berth enable
/// hugetlb there for its containers must not leave the host so. A controller can leave a
/// parent only once no child enables it, so the walk goes deepest first.
pub struct SubtreeControl(pub Option<(PathBuf, String)>);

impl SubtreeControl {
    pub fn save() -> SubtreeControl {
        SubtreeControl(Layout::host().v2.map(|m| {
            let v = fs::read_to_string(m.join("cgroup.subtree_control")).unwrap_or_default();
            (m, v)
        }))
    }
}

impl Drop for SubtreeControl {
    fn drop(&mut self) {
        let Some((root, before)) = &self.0 else {
            return;
        };
        let now = fs::read_to_string(root.join("cgroup.subtree_control")).unwrap_or_default();
        let added: Vec<&str> = now
            .split_whitespace()
            .filter(|c| !before.split_whitespace().any(|b| b == *c))
            .collect();
        if added.is_empty() {
            return;
        }
        let mut dirs = vec![root.clone()];
        let mut i = 0;
        while i < dirs.len() {
            for e in fs::read_dir(&dirs[i]).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(e.path());
                }
            }
            i += 1;
        }
        for d in dirs.iter().rev() {
            let f = d.join("cgroup.subtree_control");
            let on = fs::read_to_string(&f).unwrap_or_default();
            for c in &added {
                if on.split_whitespace().any(|o| o == *c) {
                    let _ = fs::write(&f, format!("-{c}"));
                }
            }
        }
    }
}
