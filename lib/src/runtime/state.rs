//! OCI runtime state, one directory per container under the runtime root (runc's `--root`;
//! for berth containers `<run>/<id>/`): `state.json` (written atomically), `exec.fifo` while
//! the container is created but not started, and `lock` for verbs that change it. All of it
//! is root's alone (`store::private`): the root and each container's directory are 0700.
//! The recorded status changes only through [`State::transition`], runc's two: creating →
//! created → running.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RuntimeError;
use super::cgroups::Cgroup;
use crate::error::IoContext;
use crate::protocol::TransitionError;
use crate::state::liveness;
use crate::store::atomic;

pub const OCI_VERSION: &str = "1.2.0";

/// The OCI status of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    /// The transitions berth records, as runc's (libcontainer's `transition`): the init is
    /// made and waits on its exec fifo (creating → created), then is released (created →
    /// running, by `start` or `run`). Paused and stopped are never recorded: they are read
    /// from the kernel ([`State::current_status`]).
    pub fn can_become(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::Creating, Status::Created) | (Status::Created, Status::Running)
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// `state.json`: the OCI state plus what berth needs to find the container again.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// runc prints these too.
    #[serde(default)]
    pub rootfs: PathBuf,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub owner: String,
    /// Start time of `pid` (clock ticks since boot), so a reused pid is never ours.
    #[serde(default)]
    pub pid_start: u64,
    #[serde(default)]
    pub cgroup_path: String,
    /// The container's init is berth's `--init`.
    #[serde(default)]
    pub init: bool,
    /// config.json's poststop hooks as of create, which `delete` runs (runc's too come from
    /// its state): `delete` then need not parse config.json. `None` in a state written by an
    /// older berth, whose `delete` reads them from config.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poststop: Option<Vec<oci_spec::runtime::Hook>>,
}

/// Handle on a runtime root (`--root`).
#[derive(Debug, Clone)]
pub struct Root {
    pub dir: PathBuf,
}

/// OCI ids: what runc accepts (no path separators, no dot names).
pub fn validate_id(id: &str) -> Result<(), RuntimeError> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(RuntimeError::BadArgs(format!(
            "invalid container id {id:?} (use letters, digits, '_', '+', '-' and '.')"
        )))
    }
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Makes the container's runtime directory, private like the root above it (0700, as
    /// runc's): the exec fifo, the state and its lock are root's alone.
    pub fn create_container_dir(&self, id: &str) -> Result<PathBuf, RuntimeError> {
        let d = self.container_dir(id);
        crate::store::private::create_dir_all(&d)?;
        Ok(d)
    }

    pub fn state_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("state.json")
    }

    pub fn fifo_path(&self, id: &str) -> PathBuf {
        self.container_dir(id).join("exec.fifo")
    }

    /// Makes `exec.fifo` and returns an `O_PATH` descriptor of it for the init, which reopens
    /// it for writing (through /proc/self/fd, after pivot_root: the runtime root is out of
    /// its sight by then). Mode 0622 whatever the umask, owned by the container's root
    /// (`owner`, its host uid and gid with a user namespace) as runc makes it: the init, and
    /// the process user it becomes, may open it for writing; nobody else can reach it, for
    /// the container's directory is root's alone.
    pub fn make_fifo(
        &self,
        id: &str,
        owner: Option<(u32, u32)>,
    ) -> Result<std::os::fd::OwnedFd, RuntimeError> {
        use nix::sys::stat::Mode;
        let p = self.fifo_path(id);
        let err = |op: &str, e: nix::errno::Errno| super::sys(format!("{op} {}", p.display()), e);
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).map_err(|e| err("mkfifo", e))?;
        // O_PATH, close-on-exec: the init inherits it across the clone, not across its exec.
        let fd = nix::fcntl::open(
            &p,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| err("open", e))?;
        // Through the descriptor (fchmod refuses O_PATH): the inode just made, not whatever
        // the name holds now.
        let proc = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        std::fs::set_permissions(&proc, std::os::unix::fs::PermissionsExt::from_mode(0o622))
            .map_err(|e| super::sys(format!("chmod {}", p.display()), e))?;
        if let Some((uid, gid)) = owner {
            nix::unistd::fchownat(
                &fd,
                "",
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(gid)),
                nix::fcntl::AtFlags::AT_EMPTY_PATH,
            )
            .map_err(|e| err("chown", e))?;
        }
        Ok(fd)
    }

    pub fn exists(&self, id: &str) -> bool {
        self.state_path(id).exists()
    }

    pub fn load(&self, id: &str) -> Result<State, RuntimeError> {
        validate_id(id)?;
        let p = self.state_path(id);
        let bytes = match fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RuntimeError::NotFound(id.to_string()));
            }
            Err(e) => return Err(Err::<(), _>(e).with_path("read", &p).unwrap_err().into()),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| RuntimeError::Invalid(format!("{} is corrupt: {e}", p.display())))
    }

    /// Replaces state.json atomically (temp file + rename, mode 0600). No fsync: runtime state
    /// lives on /run and dies with the machine, and an fsync per write would cost more than
    /// the rest of a container start.
    pub fn save(&self, s: &State) -> Result<(), RuntimeError> {
        let path = self.state_path(&s.id);
        let bytes = serde_json::to_vec(s).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
        Ok(atomic::write_volatile(&path, &bytes)?)
    }

    /// Every container id under the root.
    pub fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().join("state.json").exists())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Removes the container's runtime directory. Idempotent.
    pub fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let d = self.container_dir(id);
        match fs::remove_dir_all(&d) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Err::<(), _>(e).with_path("remove", &d).unwrap_err().into())
            }
            _ => Ok(()),
        }
    }
}

impl State {
    /// Records the container's move to `to`, refusing one runc would not make
    /// ([`Status::can_become`]); on refusal, nothing changes.
    pub fn transition(&mut self, to: Status) -> Result<(), TransitionError> {
        if !self.status.can_become(to) {
            return Err(TransitionError {
                from: self.status.as_str(),
                event: match to {
                    Status::Running => "started",
                    other => other.as_str(),
                },
            });
        }
        self.status = to;
        Ok(())
    }

    /// Whether the recorded process is still ours (pid plus start time).
    pub fn is_alive(&self) -> bool {
        self.pid > 0 && liveness::is_alive(self.pid, self.pid_start)
    }

    pub fn cgroup(&self) -> Cgroup {
        Cgroup::new(&self.cgroup_path)
    }

    /// The status as it is now: a dead process is `stopped`, a frozen one `paused`, and one
    /// still blocked on its exec fifo `created`.
    pub fn current_status(&self, root: &Root) -> Status {
        if !self.is_alive() {
            return Status::Stopped;
        }
        if self.status == Status::Created && root.fifo_path(&self.id).exists() {
            return Status::Created;
        }
        if self.cgroup().is_frozen() {
            return Status::Paused;
        }
        Status::Running
    }

    /// The OCI state document (what `state` prints and hooks read on stdin).
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "status": status.as_str(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "owner": self.owner,
            "annotations": self.annotations,
        })
    }
}

/// Writes `pid` to a pid file atomically (podman and conmon read it as soon as create
/// returns). The caller's file, not berth's state: 0644, as runc leaves it.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<(), RuntimeError> {
    Ok(atomic::write_volatile_mode(
        path,
        pid.to_string().as_bytes(),
        0o644,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_runcs_recorded_transitions_are_allowed() {
        let all = [
            Status::Creating,
            Status::Created,
            Status::Running,
            Status::Paused,
            Status::Stopped,
        ];
        let mut st = State {
            oci_version: OCI_VERSION.into(),
            id: "c".into(),
            status: Status::Creating,
            pid: 1,
            bundle: PathBuf::from("/b"),
            annotations: HashMap::new(),
            rootfs: PathBuf::new(),
            created: chrono::Utc::now(),
            owner: String::new(),
            pid_start: 0,
            cgroup_path: String::new(),
            init: false,
            poststop: None,
        };
        for from in all {
            for to in all {
                st.status = from;
                let legal = matches!(
                    (from, to),
                    (Status::Creating, Status::Created) | (Status::Created, Status::Running)
                );
                match st.transition(to) {
                    Ok(()) => assert!(legal && st.status == to, "{from:?} -> {to:?}"),
                    Err(e) => {
                        assert!(!legal, "{from:?} -> {to:?} refused");
                        assert_eq!((st.status, e.from), (from, from.as_str()));
                    }
                }
            }
        }
        st.status = Status::Running;
        let e = st.transition(Status::Running).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a container that is running cannot be started"
        );
    }

    #[test]
    fn ids_are_checked_like_runc() {
        assert!(validate_id("abc-1.2_x").is_ok());
        for bad in ["", "a/b", "..", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }
}
