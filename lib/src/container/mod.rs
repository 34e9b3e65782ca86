//! Docker's container verbs, one file each, over the records under BERTH_ROOT and the OCI
//! runtime (`crate::runtime`, runtime state under `<run>/<id>`). A verb takes what the user
//! typed (NAME|ID|PREFIX), reads the record as it truly is (`state::truth`), checks that the
//! verb applies to the container's status, acts through the runtime or the stages' own
//! tools, and records the new status through the state section's one transition API
//! (`protocol::StateSection::apply`).
//!
//! - the pipeline stage: [`create`] (`berth-spawn create -`), [`run`] (`berth-spawn start -`:
//!   foreground, or detached under a [`monitor`]), both over [`launch`];
//! - [`start`], [`stop`], [`restart`] (also the restart policy the monitor applies), [`kill`],
//!   [`wait`], [`pause`] (and unpause), [`exec`], [`attach`];
//! - [`delete`] (`berth-spawn delete`, the spawn stage's teardown verb), [`remove`] (`rm`),
//!   [`prune`], all through [`teardown`] (each stage's own idempotent teardown, in reverse order);
//! - [`rename`], [`copy`] (`cp`), and [`undo`] of a `berth run` that failed or was interrupted
//!   before its container ran.

pub mod attach;
mod attached;
pub mod commit;
pub(crate) mod copy;
pub(crate) mod copytar;
mod create;
mod delete;
pub mod diff;
mod exec;
pub mod export;
pub mod external;
pub mod health;
mod kill;
mod launch;
pub mod logdriver;
pub mod monitor;
mod pause;
mod prune;
mod remove;
mod rename;
pub mod restart;
mod run;
mod start;
mod stop;
mod teardown;
mod undo;
mod update;
mod wait;

pub use attach::{AttachOptions, Ended};
pub use copy::{CopyOptions, Endpoint, copy};
pub use create::create_record;
pub use delete::delete;
pub use exec::exec;
pub use kill::kill;
pub use pause::pause;
pub use prune::{PruneFilters, Pruned, prune};
pub use remove::{RemoveOptions, remove};
pub use rename::rename;
pub use restart::restart;
pub use run::{Outcome, start_record};
pub use start::start;
pub use stop::{DEFAULT_STOP_TIMEOUT, stop};
pub use teardown::{teardown, teardown_plan};
pub use undo::{
    CREATOR_ENV, creator_alive, creator_check, creator_from_env, mark, remove_half_made,
    settle_creator, sweep, undo, unmark,
};
pub use update::{UpdateRequest, update};
pub use wait::wait;

use std::path::PathBuf;

use crate::error::{Code, Coded, Error, IoError};
use crate::paths::Paths;
use crate::protocol::Record;
use crate::runtime::state::Root;
use crate::state::{Containers, truth};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(
        "cannot remove container {name}: it is {status} (stop it first, or force the removal with rm -f)"
    )]
    Active { name: String, status: String },
    /// A verb that does not apply to the container's status.
    #[error("container {id} is {status}: {what}")]
    Status {
        id: String,
        status: String,
        what: String,
    },
    #[error("{0}")]
    BadArgs(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    WrongState(String),
    #[error("{0}")]
    Unsafe(String),
    #[error("{op}: {source}")]
    Sys {
        op: String,
        #[source]
        source: std::io::Error,
    },
}

impl Coded for ContainerError {
    fn code(&self) -> Code {
        match self {
            ContainerError::Io(e) => e.code(),
            ContainerError::Active { .. }
            | ContainerError::Status { .. }
            | ContainerError::WrongState(_) => Code::WRONG_STATE,
            ContainerError::BadArgs(_) => Code::BAD_ARGS,
            ContainerError::NotFound(_) => Code::NOT_FOUND,
            ContainerError::Unsafe(_) => Code::UNSAFE,
            ContainerError::Sys { .. } => Code::IO,
        }
    }
}

/// Wraps an OS error with the operation that failed.
pub(crate) fn sys(op: impl Into<String>, e: impl Into<std::io::Error>) -> ContainerError {
    ContainerError::Sys {
        op: op.into(),
        source: e.into(),
    }
}

/// Resolves what a user typed to a berth container id, or `None` if it names none.
pub fn berth_container(paths: &Paths, arg: &str) -> Option<String> {
    Containers::new(paths).resolve(arg).ok()
}

/// The runtime root of berth's containers: each one's OCI state is `<run>/<id>`.
fn runtime_root(paths: &Paths) -> Root {
    Root::new(&paths.run)
}

/// The container's record as it truly is (`state::truth`: corrected if its process died
/// unseen).
fn load_true(paths: &Paths, id: &str) -> Result<Record, Error> {
    let c = Containers::new(paths);
    Ok(truth::observe(&c, c.load(id)?)?)
}

fn bundle_path(record: &Record) -> Result<PathBuf, Error> {
    Ok(record
        .require(&record.bundle, "bundle", "berth-unpack")?
        .path
        .clone())
}
