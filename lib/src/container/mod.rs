//! Docker's container verbs that no single stage owns, composed from the stages' own pieces:
//! `rm` and `container prune` (berth::lifecycle's teardown), `rename`, `cp`, and the undo of a
//! `berth run` that failed or was interrupted before its container ran.

mod copy;
mod copytar;
mod remove;
mod undo;

pub use copy::{CopyOptions, Endpoint, copy};
pub use remove::{PruneFilters, Pruned, RemoveOptions, prune, remove, rename};
pub use undo::{
    CREATOR_ENV, creator_alive, creator_check, creator_from_env, mark, remove_half_made,
    settle_creator, sweep, undo, unmark,
};

use crate::error::{Code, Coded, IoError};

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(
        "cannot remove container {name}: it is {status} (stop it first, or force the removal with rm -f)"
    )]
    Active { name: String, status: String },
    #[error("{0}")]
    BadArgs(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    WrongState(String),
    #[error("{0}")]
    Unsafe(String),
}

impl Coded for ContainerError {
    fn code(&self) -> Code {
        match self {
            ContainerError::Io(e) => e.code(),
            ContainerError::Active { .. } | ContainerError::WrongState(_) => Code::WRONG_STATE,
            ContainerError::BadArgs(_) => Code::BAD_ARGS,
            ContainerError::NotFound(_) => Code::NOT_FOUND,
            ContainerError::Unsafe(_) => Code::UNSAFE,
        }
    }
}
