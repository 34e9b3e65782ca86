//! Local image management (berth-image): listing, tagging, removal and garbage collection,
//! Docker archives (save/load), import, history, inspect, and the offline default image.
//!
//! Everything here works on the OCI layout of [`crate::store::ImageStore`]. The model:
//!
//! - an *image* is an entry of `index.json`: named by the `org.opencontainers.image.ref.name`
//!   annotation (`busybox:latest`), or unnamed, which is Docker's *dangling* image
//!   (`<none>:<none>`). Its id is Docker's: the digest of its config.
//! - a blob lives while an entry reaches it. A container's image stays (dangling if need be)
//!   while the container exists, and with it the unpacked layers in `<root>/layers`.
//! - a container pins its image: `rmi` and `prune` read the `image` section of every record
//!   ([`usage`]; `rmi`'s rules are in [`remove`]). `ImageStore::set_ref` keeps the image it
//!   displaces as a dangling entry (as `docker pull`/`tag`/`load` do) unless another entry
//!   still reaches it.
//! - garbage collection takes the store's gc lock; writers that rely on unnamed blobs hold a
//!   lease ([`crate::store::ImageStore::lease`], a shared flock on
//!   `<root>/locks/images-gc.lock`). `ImageStore::open` takes the lease for the life of the
//!   handle and its clones, so a tool that keeps its handle while it works is protected
//!   without doing anything: berth-pull from its first blob (or partial download) until the
//!   ref is set; berth-unpack from resolving the image until the container's record (with its
//!   `image` section) is saved, and while it makes `<root>/layers/sha256/<diffid>`. Only
//!   garbage collection opens the store without one (`ImageStore::open_for_gc`). Leases come
//!   before `ImageStore::lock`. `image prune` waits for the gc lock; `rmi` untags at once and
//!   collects only if the gc lock is free (else a later prune does). A partial download still
//!   flocked by its pull is never collected ([`gc`]: what collection removes).

pub mod archive;
pub mod busybox;
pub mod changes;
pub mod gc;
pub mod history;
pub mod import;
pub mod inspect;
pub mod inventory;
pub mod list;
pub mod remove;
pub mod usage;

pub(crate) mod compress;
pub(crate) mod oneshot;

use crate::digest::DigestError;
use crate::error::{Code, Coded, IoError};
use crate::reference::RefError;
use crate::store::layout::StoreError;

pub use inventory::{Inventory, LocalImage};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Ref(#[from] RefError),
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("{0}")]
    BadArgs(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error(
        "{file}: not a valid image archive: {reason} (the file is corrupt or not made by `docker save`/`berth save`)"
    )]
    Archive { file: String, reason: String },
    #[error("{file}: not a tar of a root filesystem: {reason}")]
    BadTar { file: String, reason: String },
    #[error(
        "{file}: the archive ends early{detail} (the file is truncated; copy or save it again)"
    )]
    Truncated { file: String, detail: String },
    #[error(
        "{file}: {what}: digest mismatch: expected {expected}, got {actual} (the archive is corrupt or was tampered with; save it again)"
    )]
    ArchiveDigest {
        file: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{0}: unsupported (berth handles {1})")]
    Unsupported(String, &'static str),
    #[error("{what}: cannot decode: {reason}")]
    Decode { what: String, reason: String },
    #[error("{0}")]
    HostUnsupported(String),
}

impl Coded for ImageError {
    fn code(&self) -> Code {
        match self {
            ImageError::Io(e) => e.code(),
            ImageError::Store(e) => e.code(),
            ImageError::Digest(e) => e.code(),
            ImageError::Ref(e) => e.code(),
            ImageError::NoSuchImage(_) => Code::NOT_FOUND,
            ImageError::BadArgs(_) => Code::BAD_ARGS,
            ImageError::Conflict(_) => Code::CONFLICT,
            ImageError::Archive { .. } | ImageError::BadTar { .. } | ImageError::Decode { .. } => {
                Code::DECODE
            }
            ImageError::Truncated { .. } => Code::TRUNCATED,
            ImageError::ArchiveDigest { .. } => Code::DIGEST_MISMATCH,
            ImageError::Unsupported(..) => Code::UNSUPPORTED,
            ImageError::HostUnsupported(_) => Code::HOST_UNSUPPORTED,
        }
    }
}

pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// What a tar reading error means to a user. The tar crate's own message quotes the bytes it
/// choked on, which is noise in a one-line error.
pub(crate) fn tar_problem(e: &std::io::Error) -> String {
    let m = e.to_string();
    if m.contains("cksum") || m.contains("numeric field") || m.contains("checksum") {
        "its tar headers are damaged, or it is not a tar archive".into()
    } else {
        m
    }
}
