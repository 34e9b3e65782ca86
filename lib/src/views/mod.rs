//! berth-ps's read-only views of state: `ps`, `inspect`, `logs`, `top`, `port`, `stats`.
//!
//! Everything here reads what the stages recorded (`record.json`, the json-file logs, the
//! cgroup and netns counters) and never changes state, with one exception: a container whose
//! process died while no monitor was watching is marked exited (`state::truth::observe`).

pub mod cgroup;
pub mod df;
pub mod filter;
pub mod inspect;
pub mod logs;
pub mod ports;
pub mod ps;
pub mod stats;
pub mod status;
pub mod top;

use crate::error::{Code, Coded, IoError};
use crate::state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Format(#[from] crate::format::FormatError),
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
    #[error(transparent)]
    Store(#[from] crate::store::layout::StoreError),
    #[error("{0}")]
    BadArgs(String),
    #[error("writing output: {0}")]
    Write(#[source] std::io::Error),
    #[error("container {0} is not running (start it first)")]
    NotRunning(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Host(String),
    /// `logs` of a container whose log driver keeps nothing berth can read (Docker's words).
    #[error("configured logging driver does not support reading")]
    Unreadable,
}

impl Coded for ViewError {
    fn code(&self) -> Code {
        match self {
            ViewError::State(e) => e.code(),
            ViewError::Io(e) => e.code(),
            ViewError::Format(e) => e.code(),
            ViewError::Net(e) => e.code(),
            ViewError::Image(e) => e.code(),
            ViewError::Store(e) => e.code(),
            ViewError::BadArgs(_) => Code::BAD_ARGS,
            ViewError::Write(_) => Code::IO,
            ViewError::NotRunning(_) => Code::WRONG_STATE,
            ViewError::NotFound(_) => Code::NOT_FOUND,
            ViewError::Host(_) => Code::HOST_UNSUPPORTED,
            ViewError::Unreadable => Code::UNSUPPORTED,
        }
    }
}

pub type Result<T, E = ViewError> = std::result::Result<T, E>;
