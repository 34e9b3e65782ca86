//! Namespaces: the clone flag and `/proc/PID/ns` name of each OCI namespace type, and the
//! split of a config's namespaces into those to create and those to join by path.

use std::os::fd::{AsRawFd, OwnedFd};
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
        let r = unsafe { libc::setns(self.fd.as_raw_fd(), clone_flag(self.kind)) };
        if r < 0 {
            return Err(sys(
                format!(
                    "joining the {} namespace {}",
                    proc_name(self.kind),
                    self.path.display()
                ),
                std::io::Error::last_os_error(),
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

/// Splits the config's namespaces. A mount namespace is always created (the root filesystem
/// is set up in one) unless one is joined.
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
    if !p.joins(LinuxNamespaceType::Mount) {
        p.new_flags |= libc::CLONE_NEWNS;
    }
    p.join.sort_by_key(|j| join_rank(j.kind));
    Ok(p)
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
