//! berth-spawn's runtime: an OCI runtime, with runc's verbs and conventions ([`oci`]: create,
//! start, run, state, kill, delete, pause, resume, exec), and what they need (DESIGN.md, "The
//! process model").
//!
//! The parent side creates the container process with one `clone3` carrying the namespace
//! flags ([`process`]), talks to it over a typed socketpair ([`channel`]), puts it into its
//! cgroups ([`cgroups`]) and records OCI state ([`state`]). The child side ([`init`]) sets up
//! the root filesystem, the process' identity and its confinement ([`caps`], [`seccomp`],
//! [`lsm`], [`keyring`], [`namespaces`]), and execs. [`flags`] turns Docker's HostConfig (the
//! record's `process` section) into config.json. The Docker verbs built on all of this
//! (start, stop, kill, wait, pause, exec, the monitor, attach) live in `crate::container`.

pub mod caps;
pub mod cgroups;
pub mod channel;
mod clone;
pub mod console;
pub mod defaults;
pub mod exeseal;
pub mod flags;
pub mod hooks;
mod init;
pub mod keyring;
pub mod lsm;
pub mod namespaces;
pub mod oci;
pub mod process;
pub mod seccomp;
pub mod secopt;
pub mod signals;
pub mod state;
pub mod validate;

use crate::error::{Code, Coded, IoError};
use crate::ocispec::SpecError;
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("container {0} does not exist")]
    NotFound(String),
    #[error("container {0} already exists (delete it first, or choose another id)")]
    Exists(String),
    #[error("container {id} is {status}: {what}")]
    WrongState {
        id: String,
        status: String,
        what: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    BadArgs(String),
    #[error("{0}")]
    Unsupported(String),
    /// An error the container's init reported back over the sync channel.
    #[error("{message}")]
    Child { code: u8, message: String },
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cgroups: {0}")]
    Cgroup(String),
    #[error(transparent)]
    Cgroups(#[from] cgroups::CgroupError),
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error(transparent)]
    Lsm(#[from] lsm::LsmError),
    #[error(transparent)]
    Transition(#[from] crate::protocol::TransitionError),
}

impl Coded for RuntimeError {
    fn code(&self) -> Code {
        match self {
            RuntimeError::Io(e) => e.code(),
            RuntimeError::Spec(e) => e.code(),
            RuntimeError::State(e) => e.code(),
            RuntimeError::NotFound(_) => Code::NOT_FOUND,
            RuntimeError::Exists(_) => Code::CONFLICT,
            RuntimeError::WrongState { .. } => Code::WRONG_STATE,
            RuntimeError::Invalid(_) => Code::INVALID_CONFIG,
            RuntimeError::BadArgs(_) => Code::BAD_ARGS,
            RuntimeError::Unsupported(_) => Code::UNSUPPORTED,
            RuntimeError::Child { code, .. } => Code(*code),
            RuntimeError::Sys { .. } => Code::IO,
            RuntimeError::Cgroup(_) => Code::IO,
            RuntimeError::Cgroups(e) => e.code(),
            RuntimeError::Seccomp(_) => Code::INVALID_CONFIG,
            RuntimeError::Lsm(e) => e.code(),
            RuntimeError::Transition(e) => e.code(),
        }
    }
}

pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// Wraps the last OS error with the operation that failed.
pub(crate) fn sys(op: impl Into<String>, e: impl Into<std::io::Error>) -> RuntimeError {
    RuntimeError::Sys {
        op: op.into(),
        source: e.into(),
    }
}
