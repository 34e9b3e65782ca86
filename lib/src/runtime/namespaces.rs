//! Namespaces: the clone flag and `/proc/PID/ns` name of each OCI namespace type, and the
//! split of a config's namespaces into those to create and those to join by path.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};

use super::{RuntimeError, sys};

pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => 0x80, // CLONE_NEWTIME
    }
}

/// The name under `/proc/PID/ns/`.
pub fn proc_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// Order in which joined namespaces are entered: user first (it grants the capabilities to
/// enter the others), mount last (the paths of the others must still resolve).
fn join_rank(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 9,
        _ => 5,
    }
}

/// A namespace to enter, already opened (before any mount namespace change).
#[derive(Debug)]
pub struct Join {
    pub kind: LinuxNamespaceType,
    pub path: PathBuf,
    pub fd: OwnedFd,
}

impl Join {
    pub fn enter(&self) -> Result<(), RuntimeError> {
        let flag = nix::sched::CloneFlags::from_bits_retain(clone_flag(self.kind));
        if let Err(e) = nix::sched::setns(&self.fd, flag) {
            return Err(sys(
                format!(
                    "joining the {} namespace {}",
                    proc_name(self.kind),
                    self.path.display()
                ),
                e,
            ));
        }
        Ok(())
    }
}

/// What to do about namespaces.
#[derive(Debug, Default)]
pub struct Plan {
    /// Flags for clone: the namespaces to create.
    pub new_flags: libc::c_int,
    /// The namespaces to join, in entering order.
    pub join: Vec<Join>,
}

impl Plan {
    pub fn has_new(&self, t: LinuxNamespaceType) -> bool {
        self.new_flags & clone_flag(t) != 0
    }
    pub fn joins(&self, t: LinuxNamespaceType) -> bool {
        self.join.iter().any(|j| j.kind == t)
    }
    /// The config lists `t`, new or joined by path.
    pub fn has(&self, t: LinuxNamespaceType) -> bool {
        self.has_new(t) || self.joins(t)
    }
    pub fn take_join(&mut self, t: LinuxNamespaceType) -> Option<Join> {
        let i = self.join.iter().position(|j| j.kind == t)?;
        Some(self.join.remove(i))
    }
}

pub fn namespaces(spec: &Spec) -> &[LinuxNamespace] {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or(&[])
}

/// Splits the config's namespaces into those to create and those to join. A type the config
/// does not list is the runtime's own, inherited (runtime-spec, config-linux.md
/// "Namespaces"); that includes the mount namespace: without one the container only gets
/// `root.path` as its root directory (`validate` refuses what would need mounts).
pub fn plan(spec: &Spec) -> Result<Plan, RuntimeError> {
    let mut p = Plan::default();
    for ns in namespaces(spec) {
        match ns.path() {
            Some(path) if !path.as_os_str().is_empty() => {
                let fd = std::fs::File::open(path).map_err(|e| {
                    RuntimeError::Invalid(format!(
                        "cannot open the {} namespace {}: {e}",
                        proc_name(ns.typ()),
                        path.display()
                    ))
                })?;
                p.join.push(Join {
                    kind: ns.typ(),
                    path: path.clone(),
                    fd: fd.into(),
                });
            }
            _ => p.new_flags |= clone_flag(ns.typ()),
        }
    }
    p.join.sort_by_key(|j| join_rank(j.kind));
    Ok(p)
}

/// The host uid and gid of the container's root, when it has a user namespace: from the
/// config's mappings for a new one, from `/proc/PID/{uid,gid}_map` for one joined as
/// `/proc/PID/ns/user`. `None` without a user namespace (root is root) or when the mapping
/// cannot be read from here.
pub fn host_root_ids(spec: &Spec, plan: &Plan) -> Option<(u32, u32)> {
    if plan.has_new(LinuxNamespaceType::User) {
        let linux = spec.linux().as_ref()?;
        let root = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
            maps.iter()
                .flatten()
                .find(|m| m.container_id() == 0 && m.size() > 0)
                .map(|m| m.host_id())
        };
        return Some((root(linux.uid_mappings())?, root(linux.gid_mappings())?));
    }
    let joined = plan
        .join
        .iter()
        .find(|j| j.kind == LinuxNamespaceType::User)?;
    let pid = joined
        .path
        .strip_prefix("/proc")
        .ok()?
        .parent()?
        .parent()?
        .to_str()?
        .parse::<u32>()
        .ok()?;
    let read = |file: &str| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
        map_root(&text)
    };
    Some((read("uid_map")?, read("gid_map")?))
}

/// The outside id that inside id 0 maps to, in a `/proc/PID/uid_map` text.
fn map_root(text: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let f: Vec<u32> = l
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        (f.len() == 3 && f[0] == 0 && f[2] > 0).then_some(f[1])
    })
}

/// All namespaces of a running process, to join for `exec` (those it shares with us are
/// skipped: joining one's own namespace is pointless and, for user, an error).
pub fn of_process(pid: i32) -> Result<Plan, RuntimeError> {
    use LinuxNamespaceType::*;
    let mut p = Plan::default();
    for t in [User, Mount, Cgroup, Uts, Ipc, Pid, Network, Time] {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{}", proc_name(t)));
        let ours = PathBuf::from(format!("/proc/self/ns/{}", proc_name(t)));
        let (Ok(a), Ok(b)) = (std::fs::metadata(&theirs), std::fs::metadata(&ours)) else {
            continue;
        };
        use std::os::unix::fs::MetadataExt;
        if a.ino() == b.ino() && a.dev() == b.dev() {
            continue;
        }
        let fd = std::fs::File::open(&theirs)
            .map_err(|e| sys(format!("opening {}", theirs.display()), e))?;
        p.join.push(Join {
            kind: t,
            path: theirs,
            fd: fd.into(),
        });
    }
    p.join.sort_by_key(|j| join_rank(j.kind));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_of_an_id_map() {
        assert_eq!(
            map_root("         0     100000      65536\n"),
            Some(100_000)
        );
        assert_eq!(map_root("1 1000 10\n0 5000 1\n"), Some(5000));
        assert_eq!(map_root("1 1000 10\n"), None);
    }

    #[test]
    fn a_missing_type_is_inherited() {
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.2.0",
            "linux": {"namespaces": [{"type": "pid"}, {"type": "uts"}]}
        }))
        .unwrap();
        let p = plan(&spec).unwrap();
        assert_eq!(p.new_flags, libc::CLONE_NEWPID | libc::CLONE_NEWUTS);
        assert!(!p.has(LinuxNamespaceType::Mount));
    }
}
