use crate::error::{Code, Coded, IoError};
use crate::ocispec::SpecError;
use crate::state::StateError;

/// Everything that can go wrong while setting up or tearing down a container's network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("{0}")]
    BadArgs(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("network {0} not found")]
    NoSuchNetwork(String),
    #[error("network with name {0} already exists (choose another name or remove it first)")]
    NetworkExists(String),
    #[error(
        "network {name} has {count} active endpoint(s) (remove the containers using it first: {users})"
    )]
    NetworkInUse {
        name: String,
        count: usize,
        users: String,
    },
    #[error("{0} is a pre-defined network and cannot be removed")]
    Predefined(String),
    #[error("{0}")]
    Conflict(String),
    #[error(
        "no free IP address left in network {network} ({range}) (remove containers or use a larger --subnet)"
    )]
    Exhausted { network: String, range: String },
    #[error("{0}")]
    WrongState(String),
    #[error("{0}")]
    NotPublished(String),
    #[error("netlink: {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Firewall(String),
    #[error("{0}")]
    HostUnsupported(String),
}

impl NetError {
    pub(crate) fn netlink(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
        let op = op.into();
        move |source| NetError::Netlink { op, source }
    }
}

impl Coded for NetError {
    fn code(&self) -> Code {
        match self {
            NetError::Io(e) => e.code(),
            NetError::State(e) => e.code(),
            NetError::Spec(e) => e.code(),
            NetError::BadArgs(_) | NetError::Predefined(_) => Code::BAD_ARGS,
            NetError::Unsupported(_) => Code::UNSUPPORTED,
            NetError::NoSuchNetwork(_) | NetError::NotPublished(_) => Code::NOT_FOUND,
            NetError::NetworkExists(_)
            | NetError::NetworkInUse { .. }
            | NetError::Conflict(_)
            | NetError::Exhausted { .. } => Code::CONFLICT,
            NetError::WrongState(_) => Code::WRONG_STATE,
            NetError::Netlink { source, .. } => match source.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EOPNOTSUPP) => Code::HOST_UNSUPPORTED,
                _ => Code::IO,
            },
            NetError::Firewall(_) => Code::IO,
            NetError::HostUnsupported(_) => Code::HOST_UNSUPPORTED,
        }
    }
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;
