//! Errors and their protocol codes.
//!
//! Every module has its own `thiserror` enum and says, through [`Coded`], which protocol code
//! each variant maps to. The crate-wide [`Error`] wraps any of them, so a module never has to
//! register itself here; the binary edge (crate `berth-cli`) turns an [`Error`] into the
//! one-line message, the JSON error object and the exit status.
//!
//! Codes follow CNI's spirit (see DESIGN.md, "The pipeline"). Codes of 100 and up are
//! tool-specific but allocated here, in one table, so that no two meanings share a number.

use std::fmt;
use std::path::{Path, PathBuf};

/// A protocol error code. The process exit status is the same number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u8);

impl Code {
    /// Incompatible protocol version on stdin.
    pub const VERSION: Code = Code(1);
    /// A field, flag, media type or feature that berth does not support.
    pub const UNSUPPORTED: Code = Code(2);
    /// Unknown container, image, volume, network or tag.
    pub const NOT_FOUND: Code = Code(3);
    /// Bad arguments: a malformed reference, flag value or name.
    pub const BAD_ARGS: Code = Code(4);
    /// Input/output error on the host.
    pub const IO: Code = Code(5);
    /// Could not decode a document (JSON, tar, compressed stream).
    pub const DECODE: Code = Code(6);
    /// The configuration is invalid.
    pub const INVALID_CONFIG: Code = Code(7);
    /// Temporary failure: try again.
    pub const TRY_AGAIN: Code = Code(11);
    /// The registry refused our credentials.
    pub const UNAUTHORIZED: Code = Code(100);
    /// The registry (or another host) could not be reached.
    pub const UNREACHABLE: Code = Code(101);
    /// Content did not match its digest.
    pub const DIGEST_MISMATCH: Code = Code(102);
    /// A download or archive ended early.
    pub const TRUNCATED: Code = Code(103);
    /// A name, port, volume or other resource is already in use.
    pub const CONFLICT: Code = Code(104);
    /// A container is in the wrong state for the request (e.g. not running).
    pub const WRONG_STATE: Code = Code(105);
    /// Content is malicious or unsafe (path escape, decompression bomb).
    pub const UNSAFE: Code = Code(106);
    /// The host lacks a kernel feature or a tool berth needs.
    pub const HOST_UNSUPPORTED: Code = Code(107);
    /// The registry rejected what we sent (push).
    pub const REJECTED: Code = Code(108);
    /// The container's command could not be executed (Docker's 126).
    pub const CANNOT_EXECUTE: Code = Code(126);
    /// The container's command was not found (Docker's 127).
    pub const COMMAND_NOT_FOUND: Code = Code(127);
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Implemented by every module's error type: which protocol code it maps to.
pub trait Coded: std::error::Error + Send + Sync + 'static {
    fn code(&self) -> Code;
}

/// The crate-wide error: any module error, with its code fixed at conversion time.
pub struct Error {
    code: Code,
    inner: Box<dyn std::error::Error + Send + Sync + 'static>,
    /// Set when the error was already reported (by an earlier pipeline stage, or on stderr by
    /// the edge's target loop); the edge then passes it on without printing it a second time.
    upstream: bool,
    /// Set when Docker's CLI, not its daemon, reports this error (`Error: No such object: x`):
    /// the edge then prints it without `Error response from daemon:` when it speaks Docker.
    client: bool,
}

impl Error {
    /// An error with an explicit code and message, for the rare case with no module enum.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Error {
            code,
            inner: message.into().into(),
            upstream: false,
            client: false,
        }
    }

    /// An error that Docker's CLI reports itself rather than its daemon (see [`Error::is_client`]).
    pub fn client(code: Code, message: impl Into<String>) -> Self {
        Error {
            client: true,
            ..Error::new(code, message)
        }
    }

    /// An error reported by an earlier stage and read from stdin.
    pub fn upstream(code: Code, message: impl Into<String>) -> Self {
        Error {
            upstream: true,
            ..Error::new(code, message)
        }
    }

    pub fn code(&self) -> Code {
        self.code
    }

    pub fn is_upstream(&self) -> bool {
        self.upstream
    }

    /// True for an error that Docker's CLI, not its daemon, would report: the edge prints it as
    /// `Error: ...` rather than `Error response from daemon: ...` when it speaks Docker.
    pub fn is_client(&self) -> bool {
        self.client
    }

    /// The message with its causes, on one line: `what: why: why`.
    pub fn one_line(&self) -> String {
        let mut s = self.inner.to_string();
        let mut src = self.inner.source();
        while let Some(e) = src {
            let m = e.to_string();
            if !s.contains(&m) {
                s.push_str(": ");
                s.push_str(&m);
            }
            src = e.source();
        }
        s.replace('\n', " ")
    }

    /// The wrapped module error, for callers that want to match on it.
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.inner.downcast_ref::<E>()
    }
}

impl<E: Coded> From<E> for Error {
    fn from(e: E) -> Self {
        // A `--format` template is the CLI's own business: Docker's daemon never sees it.
        let client = (&e as &dyn std::any::Any).is::<crate::format::FormatError>();
        Error {
            code: e.code(),
            inner: Box::new(e),
            upstream: false,
            client,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {})", self.code, self.one_line())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An I/O error with the path it happened on (youki's `WrappedIoError` lesson): "No such file
/// or directory" alone never tells anyone what to fix.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", path.display())]
pub struct IoError {
    pub op: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

impl Coded for IoError {
    fn code(&self) -> Code {
        match self.source.kind() {
            std::io::ErrorKind::NotFound => Code::NOT_FOUND,
            _ => Code::IO,
        }
    }
}

/// Extension to attach an operation and a path to an `io::Result`.
pub trait IoContext<T> {
    fn with_path(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, IoError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn with_path(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|source| IoError {
            op,
            path: path.as_ref().to_path_buf(),
            source,
        })
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn with_path(self, op: &'static str, path: impl AsRef<Path>) -> Result<T, IoError> {
        self.map_err(|errno| IoError {
            op,
            path: path.as_ref().to_path_buf(),
            source: std::io::Error::from(errno),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Demo {
        #[error("no such thing {0:?}")]
        Missing(String),
    }
    impl Coded for Demo {
        fn code(&self) -> Code {
            Code::NOT_FOUND
        }
    }

    #[test]
    fn module_errors_keep_their_code_and_causes() {
        let e: Error = Demo::Missing("x".into()).into();
        assert_eq!(e.code(), Code::NOT_FOUND);
        assert_eq!(e.one_line(), "no such thing \"x\"");
        let io: Error = std::fs::read("/nonexistent/berth")
            .with_path("read", "/nonexistent/berth")
            .unwrap_err()
            .into();
        assert_eq!(io.code(), Code::NOT_FOUND);
        assert!(
            io.one_line().starts_with("read /nonexistent/berth: "),
            "{io}"
        );
    }
}
