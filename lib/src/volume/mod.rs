//! Volumes as Docker users know them (berth-vol).
//!
//! ```text
//! <root>/volumes/<name>/_data        what containers mount
//! <root>/volumes/<name>/volume.json  metadata: name, created, labels, options, anonymous
//! <root>/locks/volumes               flock: shared while a stage mounts, exclusive to remove
//! ```
//!
//! There is no usage database: which containers use a volume is found by scanning the
//! container records' `mounts` sections ([`store::Volumes::users`]). A stage holds the shared
//! lock from the moment it creates or finds a volume until the record naming it is saved, and
//! removal (`rm`, `prune`, `detach --volumes`) holds it exclusively while it scans and
//! deletes, so a volume is never removed between being chosen and being recorded.
//!
//! Modules: [`spec`] parses Docker's `-v`, `--mount`, `--tmpfs` and `--volumes-from`;
//! [`store`] creates, lists and removes volumes; [`seed`] copies an image's files into a new
//! volume; [`stage`] is the pipeline stage and its teardown; [`view`] is `ls` and `inspect`.
//!
//! Names follow Docker (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`); an anonymous volume gets a 64-hex name
//! and Docker's label `com.docker.volume.anonymous`. `<root>/volumes` and each `<name>` are
//! 0700, `_data` 0755 (`store::private`).
//!
//! The verbs: `create [NAME] [--label]` prints the name (so `$(berth volume create)` works);
//! `rm [-f]` refuses a volume in use (104, naming the containers), and with `-f` removes it
//! anyway, warning which containers used it, and ignores a missing one; `prune` removes, as
//! Docker 23+ does, the anonymous volumes no container references, and named ones only with
//! `-a` or `--filter all=true` (never both), asking on stdin without `-f`. The stage and
//! `detach` refuse a running container (105): its mounts cannot change. `detach --volumes`
//! deletes the container's anonymous volumes (including those it got through
//! `--volumes-from`, as Docker) that no other record names; named volumes never.
//!
//! Exit codes: 4 a malformed flag, a relative host path, a duplicate destination, a bad
//! volume name; 3 a missing `--mount` bind source, an unknown `--volumes-from` container or
//! volume, a copied volume that was removed meanwhile; 2 an unsupported driver, `volume-opt`
//! or mount type; 104 a volume in use; 105 a running container.

pub mod seed;
pub mod spec;
pub mod stage;
pub mod store;
pub mod view;

pub use stage::{VolOpts, attach, detach};
pub use store::{Usage, VolumeMeta, Volumes};

use std::path::PathBuf;

use crate::error::{Code, Coded, IoError};
use crate::ocispec::SpecError;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(
        "\"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed (to bind-mount a host directory, give its absolute path)"
    )]
    InvalidName(String),
    #[error("No such volume: {0}")]
    NoSuchVolume(String),
    #[error(
        "volume {name} is in use by container {users} (remove the container first, or use -f to remove the volume anyway)"
    )]
    InUse { name: String, users: String },
    /// A malformed `-v`, `--mount`, `--tmpfs` or `--volumes-from` value.
    #[error("{0}")]
    BadSpec(String),
    #[error(
        "invalid volume specification {spec:?}: the host path {path:?} is relative; a bind mount needs an absolute host path (e.g. \"$PWD/{trimmed}\")",
        trimmed = path.trim_start_matches("./")
    )]
    RelativeHostPath { spec: String, path: String },
    #[error(
        "invalid mount config for type \"bind\": bind source path does not exist: {} (create it first; unlike -v, --mount does not create it)",
        .0.display()
    )]
    MissingBindSource(PathBuf),
    #[error(
        "duplicate mount point: {0} (two volumes at the same destination in one command; keep one)"
    )]
    Duplicate(String),
    #[error("--volumes-from {arg}: {source}")]
    VolumesFrom {
        arg: String,
        #[source]
        source: StateError,
    },
    #[error(
        "volume {name}, which container {container} mounts at {destination}, no longer exists (it was removed with -f)"
    )]
    VolumeGone {
        name: String,
        container: String,
        destination: String,
    },
    #[error("{0}")]
    Unsupported(String),
    #[error("cannot seed volume {name} from the image's {destination}: {source}")]
    Seed {
        name: String,
        destination: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    WrongState(String),
}

impl Coded for VolumeError {
    fn code(&self) -> Code {
        match self {
            VolumeError::Io(e) => e.code(),
            VolumeError::State(e) => e.code(),
            VolumeError::Spec(e) => e.code(),
            VolumeError::InvalidName(_)
            | VolumeError::BadSpec(_)
            | VolumeError::RelativeHostPath { .. }
            | VolumeError::Duplicate(_) => Code::BAD_ARGS,
            VolumeError::NoSuchVolume(_)
            | VolumeError::MissingBindSource(_)
            | VolumeError::VolumeGone { .. } => Code::NOT_FOUND,
            VolumeError::VolumesFrom { source, .. } => source.code(),
            VolumeError::InUse { .. } => Code::CONFLICT,
            VolumeError::Unsupported(_) => Code::UNSUPPORTED,
            VolumeError::Seed { .. } => Code::IO,
            VolumeError::WrongState(_) => Code::WRONG_STATE,
        }
    }
}

pub type Result<T, E = VolumeError> = std::result::Result<T, E>;
