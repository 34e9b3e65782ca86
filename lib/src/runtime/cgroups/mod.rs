//! cgroups for v1, v2 and the hybrid layout (v1 controllers under /sys/fs/cgroup/<ctrl>, v2 at
//! /sys/fs/cgroup/unified).
//!
//! Our own small manager, not cgroups-rs: cgroups-rs picks one mode for the whole machine and
//! mishandles hybrid hosts (the v2 hierarchy at /sys/fs/cgroup/unified is treated as absent or
//! as the only one), and it pulls in more than berth-spawn's hot path wants. What a container
//! needs is small: find the hierarchies (one read of mountinfo), mkdir the container's
//! directory in each, write a few limit files, write the pid, and rmdir at the end.

mod v1;
mod v2;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::RuntimeError;
use super::init::CgroupView;

/// The parent under which containers without a cgroupsPath go; `BERTH_CGROUP_PARENT`
/// overrides it (tests use their own parent so nothing outlives them).
pub const DEFAULT_PARENT: &str = "/berth";

pub fn default_parent() -> String {
    std::env::var("BERTH_CGROUP_PARENT")
        .ok()
        .filter(|p| !p.is_empty())
        .map(|p| format!("/{}", p.trim_matches('/')))
        .unwrap_or_else(|| DEFAULT_PARENT.to_string())
}

/// The cgroup path of a container: the config's cgroupsPath, or `<parent>/<id>`.
pub fn path_for(spec_path: Option<&Path>, id: &str) -> Result<String, RuntimeError> {
    match spec_path.map(|p| p.to_string_lossy().into_owned()) {
        Some(p) if !p.is_empty() => {
            if p.contains(':') && !p.starts_with('/') {
                return Err(RuntimeError::Unsupported(format!(
                    "cgroupsPath {p:?} is a systemd slice; berth manages cgroups itself (use the cgroupfs manager, e.g. podman --cgroup-manager=cgroupfs)"
                )));
            }
            Ok(format!("/{}", p.trim_matches('/')))
        }
        _ => Ok(format!("{}/{id}", default_parent())),
    }
}

/// One mounted v1 hierarchy.
#[derive(Debug, Clone)]
pub struct V1Hierarchy {
    /// The mount point's name: `memory`, `cpu,cpuacct`, `systemd`.
    pub name: String,
    pub mount: PathBuf,
    pub controllers: Vec<String>,
}

/// What this machine has mounted.
#[derive(Debug, Clone, Default)]
pub struct Hierarchies {
    pub v1: Vec<V1Hierarchy>,
    /// The cgroup2 mount: /sys/fs/cgroup on v2 hosts, /sys/fs/cgroup/unified on hybrid ones.
    pub v2: Option<PathBuf>,
}

impl Hierarchies {
    pub fn detect() -> Hierarchies {
        let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Self::parse(&info)
    }

    fn parse(info: &str) -> Hierarchies {
        let mut h = Hierarchies::default();
        for line in info.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 || l[3] != "/" {
                continue;
            }
            let mount = PathBuf::from(l[4]);
            match r[0] {
                "cgroup2" => {
                    h.v2.get_or_insert(mount);
                }
                "cgroup" => {
                    let controllers: Vec<String> = r[2]
                        .split(',')
                        .filter(|o| {
                            !matches!(*o, "rw" | "ro" | "xattr" | "clone_children")
                                && !o.starts_with("release_agent")
                        })
                        .map(String::from)
                        .collect();
                    if h.v1.iter().any(|x| x.mount == mount) {
                        continue;
                    }
                    let name = mount
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    h.v1.push(V1Hierarchy {
                        name,
                        mount,
                        controllers,
                    });
                }
                _ => {}
            }
        }
        h
    }

    /// `v1`, `v2` or `hybrid`, for `berth doctor` and error messages.
    pub fn layout(&self) -> &'static str {
        match (self.v1.is_empty(), self.v2.is_some()) {
            (true, true) => "v2",
            (false, true) => "hybrid",
            (false, false) => "v1",
            (true, false) => "none",
        }
    }

    /// Pure v2: resources go to the v2 hierarchy.
    pub fn is_v2(&self) -> bool {
        self.v1.is_empty() && self.v2.is_some()
    }

    fn v1_dir(&self, controller: &str) -> Option<&V1Hierarchy> {
        self.v1
            .iter()
            .find(|h| h.controllers.iter().any(|c| c == controller))
    }
}

/// A container's cgroup across every hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    /// Relative to each hierarchy's root, starting with `/`.
    pub path: String,
    pub h: Hierarchies,
}

fn werr(path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Cgroup(format!("writing {}: {e}", path.display()))
}

/// Writes a control file (no temp+rename: cgroupfs files are not real files).
pub(crate) fn write(path: &Path, value: &str) -> Result<(), RuntimeError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| werr(path, e))?;
    f.write_all(value.as_bytes()).map_err(|e| werr(path, e))
}

impl Cgroup {
    pub fn new(path: &str) -> Cgroup {
        Cgroup {
            path: path.to_string(),
            h: Hierarchies::detect(),
        }
    }

    fn rel(&self) -> &str {
        self.path.trim_start_matches('/')
    }

    /// Every directory of this cgroup (v1 hierarchies, then v2).
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.h.v1.iter().map(|h| h.mount.join(self.rel())).collect();
        if let Some(v2) = &self.h.v2 {
            v.push(v2.join(self.rel()));
        }
        v
    }

    pub fn v1_dir(&self, controller: &str) -> Option<PathBuf> {
        self.h.v1_dir(controller).map(|h| h.mount.join(self.rel()))
    }

    pub fn v2_dir(&self) -> Option<PathBuf> {
        self.h.v2.as_ref().map(|m| m.join(self.rel()))
    }

    /// Creates the directories and applies the limits.
    /// `devices` are the config's `linux.devices` as cgroup rules (`c 10:200 rwm`).
    pub fn create(
        &self,
        res: Option<&LinuxResources>,
        devices: &[String],
    ) -> Result<(), RuntimeError> {
        for h in &self.h.v1 {
            let dir = h.mount.join(self.rel());
            if h.controllers.iter().any(|c| c == "cpuset") {
                v1::mkdir_cpuset(&h.mount, self.rel())?;
            } else {
                fs::create_dir_all(&dir).map_err(|e| werr(&dir, e))?;
            }
        }
        if let Some(m) = &self.h.v2 {
            if self.h.is_v2() {
                v2::enable_controllers(m, self.rel());
            }
            let dir = m.join(self.rel());
            fs::create_dir_all(&dir).map_err(|e| werr(&dir, e))?;
        }
        if let Some(res) = res {
            if self.h.is_v2() {
                v2::apply(&self.v2_dir().unwrap_or_default(), res)?;
            } else {
                v1::apply(self, res, devices)?;
            }
        }
        Ok(())
    }

    /// Moves `pid` into the cgroup in every hierarchy.
    pub fn add(&self, pid: i32) -> Result<(), RuntimeError> {
        let p = pid.to_string();
        for d in self.dirs() {
            write(&d.join("cgroup.procs"), &p)?;
        }
        Ok(())
    }

    /// The processes in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let dir = self
            .v1_dir("pids")
            .or_else(|| self.v1_dir("memory"))
            .or_else(|| self.v2_dir())
            .or_else(|| self.dirs().into_iter().next());
        dir.and_then(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Whether the directories exist.
    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.is_dir())
    }

    pub fn freeze(&self, frozen: bool) -> Result<(), RuntimeError> {
        if let Some(d) = self.v1_dir("freezer") {
            return v1::freeze(&d, frozen);
        }
        if let Some(d) = self.v2_dir() {
            return v2::freeze(&d, frozen);
        }
        Err(RuntimeError::Unsupported(
            "no freezer cgroup is mounted on this host (pause needs one)".into(),
        ))
    }

    pub fn is_frozen(&self) -> bool {
        if let Some(d) = self.v1_dir("freezer") {
            return fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == "FROZEN");
        }
        self.v2_dir()
            .and_then(|d| fs::read_to_string(d.join("cgroup.events")).ok())
            .is_some_and(|s| s.lines().any(|l| l == "frozen 1"))
    }

    /// How many processes the kernel's OOM killer killed in this cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (file, dir) = match self.v1_dir("memory") {
            Some(d) => ("memory.oom_control", Some(d)),
            None => ("memory.events", self.v2_dir()),
        };
        dir.and_then(|d| fs::read_to_string(d.join(file)).ok())
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("oom_kill ").map(|v| v.trim().parse().ok()))
                    .flatten()
            })
            .unwrap_or(0)
    }

    /// SIGKILLs everything left in the cgroup (thawing it first: frozen tasks cannot die).
    pub fn kill_all(&self) {
        if self.is_frozen() {
            let _ = self.freeze(false);
        }
        for _ in 0..100 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for p in pids {
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Removes the directories (kills leftovers first). Idempotent.
    pub fn remove(&self) -> Result<(), RuntimeError> {
        self.kill_all();
        let mut last = None;
        for d in self.dirs() {
            for attempt in 0..50 {
                match fs::remove_dir(&d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e) if attempt < 49 && e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                    }
                    Err(e) => {
                        last = Some(werr(&d, e));
                        break;
                    }
                }
            }
        }
        last.map_or(Ok(()), Err)
    }

    /// The hierarchies to show inside the container at /sys/fs/cgroup.
    pub fn views(&self) -> Vec<CgroupView> {
        let mut v: Vec<CgroupView> = self
            .h
            .v1
            .iter()
            .map(|h| CgroupView {
                name: h.name.clone(),
                host_dir: h.mount.join(self.rel()),
            })
            .collect();
        if let (Some(m), false) = (&self.h.v2, self.h.is_v2()) {
            v.push(CgroupView {
                name: "unified".into(),
                host_dir: m.join(self.rel()),
            });
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout_is_seen_as_such() {
        let h = Hierarchies::parse(HYBRID);
        assert_eq!(h.layout(), "hybrid");
        assert_eq!(h.v1.len(), 3);
        assert_eq!(h.v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(h.v1[2].controllers, vec!["name=systemd".to_string()]);
        let c = Cgroup {
            path: "/berth/x".into(),
            h,
        };
        assert_eq!(
            c.v1_dir("memory").unwrap(),
            Path::new("/sys/fs/cgroup/memory/berth/x")
        );
        assert_eq!(c.dirs().len(), 4);
        let v2 = Hierarchies::parse("41 31 0:38 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert!(v2.is_v2());
    }

    #[test]
    fn paths_default_under_the_parent() {
        assert_eq!(path_for(Some(Path::new("a/b")), "x").unwrap(), "/a/b");
        assert!(path_for(Some(Path::new("machine.slice:libpod:x")), "x").is_err());
    }
}
