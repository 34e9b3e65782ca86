//! cgroups for v1, v2 and the hybrid layout (v1 controllers under /sys/fs/cgroup/<ctrl>, v2 at
//! /sys/fs/cgroup/unified).
//!
//! Our own small manager, not cgroups-rs: cgroups-rs picks one mode for the whole machine and
//! mishandles hybrid hosts (the v2 hierarchy at /sys/fs/cgroup/unified is treated as absent or
//! as the only one), and it pulls in more than berth-spawn's hot path wants. What a container
//! needs is small: find the hierarchies (one statfs on v2, one read of mountinfo otherwise),
//! mkdir the container's directory in each, write the limits, write the pid, and rmdir at the
//! end.
//!
//! Each controller's limits go to the hierarchy that holds it: a v1 one where it is mounted,
//! else v2 (on a hybrid host, hugetlb usually lives in v2). [`resources`] maps every field of
//! `linux.resources` to files, or refuses it naming the field; [`devices`] makes the device
//! rules (v1 lines, or an eBPF program on v2); [`teardown`] empties and removes the cgroup.
//!
//! - **Where.** config.json's `linux.cgroupsPath`, else `<parent>/<id>` under
//!   [`DEFAULT_PARENT`] (`/berth`; `BERTH_CGROUP_PARENT` overrides it, and tests use their
//!   own). The same relative path is made in every mounted v1 hierarchy and in the v2 one
//!   (`/sys/fs/cgroup/unified` on a hybrid host); on v2 the controllers needed are enabled
//!   down the path. A path with a `..` component is refused (it could name a directory outside
//!   the hierarchy), and so is a cgroup that already has processes (runc 1.2: removing the
//!   container would kill them); the failed create leaves that cgroup as it was.
//! - **Nothing dropped silently.** A field the host cannot apply is refused at create with
//!   the field named (exit 107, "cannot be applied on this host"): net_cls/net_prio where
//!   they are not mounted (always on v2), `memory.kernel` where the kernel takes the write and
//!   ignores it (read back), swappiness, kernelTCP, disableOOMKiller, realtime and leaf
//!   weights on v2, a huge page size the host lacks, a file the controller does not have.
//!   Refusals the layout decides come before any mkdir; a write the kernel refuses removes
//!   what was made.
//! - **Devices.** The config's rules, then the default devices, then the char and block nodes
//!   of `linux.devices` (never a FIFO's).
//! - **Cost.** A pure v2 host is known from one statfs (mountinfo is read otherwise); create
//!   is one mkdir per hierarchy, one read (v1 cpuset's cpus, or v2's parent
//!   `subtree_control`, written only where controllers are missing) and the limit writes;
//!   entering takes no migration ([`join`]: born in the v2 cgroup, a self-move into each v1
//!   one); removal is one rmdir per hierarchy. OOM kills are read (`memory.oom_control` on v1,
//!   `memory.events` on v2) before removal.
//! - crun refuses hybrid hosts whose v2 hierarchy holds a controller; berth must work there
//!   (this matters for benchmarks against crun).

mod apply;
mod blkio;
mod devices;
mod flagnames;
mod hugetlb;
mod join;
mod resources;
mod teardown;
mod v1;
mod v2;

use std::cell::{OnceCell, RefCell};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxResources};

use super::RuntimeError;
use super::init::CgroupView;
use crate::error::{Code, Coded};
use resources::{Ctl, Ver};

pub use blkio::blkio_to_io_weight;
pub use flagnames::{docker_flag, name_docker_flags};
use flagnames::{fix, named};
pub use hugetlb::{page_size_kb, page_size_name};
pub use join::Entry;
pub use resources::shares_to_weight;

/// A cgroup [`Cgroup::begin`] started: its limits planned, its v2 directory made, and the
/// directories that were there already (checked for processes by [`Cgroup::finish`]).
#[derive(Debug)]
pub struct Pending {
    plan: resources::Plan,
    existing: Vec<PathBuf>,
}

/// Why a cgroup could not be set up as the config asks.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A field this host cannot apply.
    #[error(
        "{} cannot be applied on this host: {why}; {}",
        named(field),
        fix(field)
    )]
    Refused { field: String, why: String },
    /// A field whose value is wrong anywhere.
    #[error("{}: {why}", named(field))]
    Invalid { field: String, why: String },
    /// The kernel refused a write.
    #[error("{}: writing {value:?} to {}: {source}", named(field), path.display())]
    Write {
        field: String,
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroups: {op} {}: {source}", path.display())]
    Fs {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroups: {0}")]
    Bpf(String),
    #[error("cgroups: {} still has processes after they were killed", path.display())]
    Busy { path: PathBuf },
}

impl Coded for CgroupError {
    fn code(&self) -> Code {
        match self {
            CgroupError::Refused { .. } => Code::HOST_UNSUPPORTED,
            CgroupError::Invalid { .. } => Code::INVALID_CONFIG,
            _ => Code::IO,
        }
    }
}

fn fs_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError::Fs { op, path, source }
}

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
            // Relative to each hierarchy's root and never above it (runc cleans `..` away
            // lexically; a path that climbs is refused here rather than guessed at).
            if p.split('/').any(|c| c == "..") {
                return Err(CgroupError::Invalid {
                    field: "linux.cgroupsPath".into(),
                    why: format!("{p:?} climbs with \"..\"; name a path below the cgroup root"),
                }
                .into());
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
    /// One statfs on a pure v2 host; mountinfo otherwise. Looked at once per process: a
    /// container's lifecycle asks for it several times (create, the flags, delete), and the
    /// cgroup mounts of a host do not change under a running berth command.
    pub fn detect() -> Hierarchies {
        static SEEN: std::sync::OnceLock<Hierarchies> = std::sync::OnceLock::new();
        SEEN.get_or_init(Self::look).clone()
    }

    fn look() -> Hierarchies {
        use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};
        if statfs("/sys/fs/cgroup").is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC) {
            return Hierarchies {
                v2: Some(PathBuf::from("/sys/fs/cgroup")),
                ..Default::default()
            };
        }
        let info = crate::state::liveness::read_procfs("/proc/self/mountinfo", 64 << 10)
            .unwrap_or_default();
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
    /// The v2 root's `cgroup.controllers`, read when first needed.
    v2_controllers: OnceCell<Vec<String>>,
    /// Set when create refused a cgroup that is someone else's (it has processes): the
    /// directories that were there before create, which the failed create's cleanup must
    /// not remove, nor kill what is in them.
    foreign: RefCell<Option<Vec<PathBuf>>>,
}

fn werr(path: &Path, e: std::io::Error) -> RuntimeError {
    RuntimeError::Cgroup(format!("writing {}: {e}", path.display()))
}

/// mkdir of a cgroup directory, with its parents if they are missing; whether it was there
/// already (v1 and v2 alike).
fn make_dir(dir: &Path) -> Result<bool, CgroupError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir_all(dir)
            .map(|()| false)
            .map_err(fs_err("mkdir", dir)),
        Err(e) => Err(fs_err("mkdir", dir)(e)),
    }
}

/// Writes a control file (no temp+rename: cgroupfs files are not real files).
pub(crate) fn write(path: &Path, value: &str) -> Result<(), RuntimeError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| werr(path, e))?;
    f.write_all(value.as_bytes()).map_err(|e| werr(path, e))
}

/// What the planner asks of this host.
struct Probe<'a>(&'a Cgroup);

impl resources::Host for Probe<'_> {
    fn place(&self, c: Ctl) -> Option<Ver> {
        self.0.place(c)
    }

    fn hugepage_kb(&self) -> Vec<u64> {
        let mut v: Vec<u64> = fs::read_dir("/sys/kernel/mm/hugepages")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name();
                let n = n.to_str()?.strip_prefix("hugepages-")?.strip_suffix("kB")?;
                n.parse().ok()
            })
            .collect();
        v.sort_unstable();
        v
    }
}

/// The controllers berth enables in its v2 parents on a pure v2 host, for limits and stats.
const V2_DEFAULT: &[&str] = &["cpu", "cpuset", "memory", "pids", "io", "hugetlb"];

impl Cgroup {
    pub fn new(path: &str) -> Cgroup {
        Self::with(path, Hierarchies::detect())
    }

    pub fn with(path: &str, h: Hierarchies) -> Cgroup {
        Cgroup {
            path: path.to_string(),
            h,
            v2_controllers: OnceCell::new(),
            foreign: RefCell::new(None),
        }
    }

    /// The controllers the v2 hierarchy holds (few or none on a hybrid host).
    pub fn v2_controllers(&self) -> &[String] {
        self.v2_controllers.get_or_init(|| {
            self.h
                .v2
                .as_ref()
                .and_then(|m| fs::read_to_string(m.join("cgroup.controllers")).ok())
                .map(|s| s.split_whitespace().map(String::from).collect())
                .unwrap_or_default()
        })
    }

    /// Where a controller's limits go: its v1 hierarchy, else v2 if v2 holds it.
    fn place(&self, c: Ctl) -> Option<Ver> {
        if c.v1_name().is_some_and(|n| self.h.v1_dir(n).is_some()) {
            return Some(Ver::V1);
        }
        self.h.v2.as_ref()?;
        match c {
            Ctl::Devices | Ctl::Unified => Some(Ver::V2),
            _ => c
                .v2_name()
                .filter(|n| self.v2_controllers().iter().any(|c| c == n))
                .map(|_| Ver::V2),
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

    /// The directory that holds `c`'s files.
    fn dir_of(&self, c: Ctl) -> Option<PathBuf> {
        match self.place(c)? {
            Ver::V1 => self.v1_dir(c.v1_name()?),
            Ver::V2 => self.v2_dir(),
        }
    }

    /// Creates the directories and applies `linux.resources` (and the device rules the nodes
    /// of `linux.devices` need). A field this host cannot apply is refused before anything is
    /// made; a write the kernel refuses removes what was made.
    pub fn create(&self, linux: &Linux) -> Result<(), RuntimeError> {
        let pending = self.begin(linux)?;
        self.finish(pending)
    }

    /// [`create`](Self::create) in two halves, for a process born into the cgroup while the
    /// rest is made: the limits planned (every refusal comes here) and the v2 directory, for
    /// `CLONE_INTO_CGROUP` ([`join`]).
    pub fn begin(&self, linux: &Linux) -> Result<Pending, RuntimeError> {
        let nodes = linux.devices().as_deref().unwrap_or_default();
        let plan = resources::plan(linux.resources().as_ref(), nodes, &Probe(self))?;
        let mut existing = Vec::new();
        if let Some(m) = &self.h.v2
            && v2::mkdir(m, self.rel(), &self.v2_wanted(&plan))?
        {
            existing.push(m.join(self.rel()));
        }
        Ok(Pending { plan, existing })
    }

    /// The second half: the v1 directories, the check that none of them (nor the v2 one)
    /// holds processes of another, and the limits.
    pub fn finish(&self, pending: Pending) -> Result<(), RuntimeError> {
        let mut existing = pending.existing;
        existing.extend(self.mkdirs_v1()?);
        self.check_unused(&existing)?;
        if let Err(e) = self.apply(&pending.plan) {
            let _ = self.remove();
            return Err(e.into());
        }
        Ok(())
    }

    /// runc's `update`: applies `res` to the running container's existing cgroup. A field
    /// this host cannot apply is refused before any write; nothing is removed on failure.
    pub fn update(&self, res: &LinuxResources) -> Result<(), RuntimeError> {
        let plan = resources::plan(Some(res), &[], &Probe(self))?;
        Ok(self.apply(&plan)?)
    }

    /// A container's cgroup is its own: one that already has processes is refused (runc
    /// 1.2 does the same), since removing the container kills what is in its cgroup. Only
    /// the `existing` directories (those `begin` and `finish` did not make) can hold any,
    /// in any hierarchy, for a process may have been moved into one of them only. On
    /// refusal only the directories made for us are ours to remove
    /// ([`remove`](Self::remove)).
    fn check_unused(&self, existing: &[PathBuf]) -> Result<(), CgroupError> {
        let Some(pids) = existing
            .iter()
            .map(|d| teardown::procs(d))
            .find(|p| !p.is_empty())
        else {
            return Ok(());
        };
        *self.foreign.borrow_mut() = Some(existing.to_vec());
        Err(CgroupError::Invalid {
            field: "linux.cgroupsPath".into(),
            why: format!(
                "the cgroup {} already has processes (pid {}); give the container a cgroup of its own",
                self.path, pids[0]
            ),
        })
    }

    /// Makes the directory in every v1 hierarchy; returns those that were there already.
    fn mkdirs_v1(&self) -> Result<Vec<PathBuf>, CgroupError> {
        let mut existing = Vec::new();
        for h in &self.h.v1 {
            let cpuset = h.controllers.iter().any(|c| c == "cpuset");
            if v1::mkdir(&h.mount, self.rel(), cpuset)? {
                existing.push(h.mount.join(self.rel()));
            }
        }
        Ok(existing)
    }

    /// The controllers to enable down to our v2 directory: on pure v2 the usual ones, on a
    /// hybrid host only those the limits need there.
    fn v2_wanted<'a>(&'a self, plan: &'a resources::Plan) -> Vec<&'a str> {
        let have = self.v2_controllers();
        let mut want: Vec<&str> = if self.h.is_v2() {
            V2_DEFAULT.to_vec()
        } else {
            Vec::new()
        };
        for w in &plan.writes {
            let name = match w.ctl {
                Ctl::Unified => w.choices[0].0.split('.').next(),
                c if self.place(c) == Some(Ver::V2) => c.v2_name(),
                _ => None,
            };
            want.extend(name);
        }
        want.retain(|c| have.iter().any(|h| h == c));
        want.sort_unstable();
        want.dedup();
        want
    }

    fn apply(&self, plan: &resources::Plan) -> Result<(), CgroupError> {
        let mut last = apply::LastFile::default();
        for w in &plan.writes {
            let dir = self.dir_of(w.ctl).ok_or_else(|| CgroupError::Refused {
                field: w.field.clone(),
                why: "its cgroup controller is gone".into(),
            })?;
            apply::write(&dir, w, &mut last)?;
        }
        if let (Some(rules), Some(dir)) = (&plan.bpf_devices, self.v2_dir()) {
            devices::attach(&dir, rules)?;
        }
        Ok(())
    }

    /// The processes in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        self.procs_dir()
            .map(|d| teardown::procs(&d))
            .unwrap_or_default()
    }

    /// The directory whose cgroup.procs lists the container's processes.
    fn procs_dir(&self) -> Option<PathBuf> {
        self.v1_dir("pids")
            .or_else(|| self.v1_dir("memory"))
            .or_else(|| self.v2_dir())
            .or_else(|| self.dirs().into_iter().next())
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

    /// Removes the directories. An empty cgroup costs one rmdir per hierarchy; one that still
    /// has processes or child cgroups is emptied first ([`teardown`]). Idempotent. Of a
    /// cgroup that create refused as someone else's, only the directories it made go.
    pub fn remove(&self) -> Result<(), RuntimeError> {
        if let Some(kept) = &*self.foreign.borrow() {
            // A refused create: only what it made goes (empty once its process is killed).
            for d in self.dirs().iter().filter(|d| !kept.contains(d)) {
                let _ = fs::remove_dir(d);
            }
            return Ok(());
        }
        Ok(teardown::remove(self)?)
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
        let c = Cgroup::with("/berth/x", h);
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
        assert_eq!(
            path_for(Some(Path::new("/a/..b/c")), "x").unwrap(),
            "/a/..b/c"
        );
        for climbing in ["../../../dev", "/a/../../b", "a/.."] {
            let e = path_for(Some(Path::new(climbing)), "x").unwrap_err();
            assert!(
                e.to_string().starts_with("linux.cgroupsPath: ")
                    && e.to_string().contains("climbs"),
                "{e}"
            );
        }
    }
}
