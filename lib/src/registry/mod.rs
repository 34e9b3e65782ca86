//! The registry client: the OCI distribution spec / Docker Registry HTTP API v2.
//!
//! The pieces, each usable on its own (push, login and search build on them):
//!
//! - [`config`]: per-machine settings: insecure registries, docker.io mirrors, where `certs.d`
//!   lives ([`RegistryConfig`]);
//! - [`credentials`]: what `docker login` saved in `config.json` (`auths`, `credHelpers`,
//!   `credsStore` through `docker-credential-<name> get`);
//! - [`auth`]: `WWW-Authenticate` challenges, Bearer tokens per scope, Basic;
//! - [`transport`]: HTTP agents with the right TLS trust, scheme probing (`/v2/` ping),
//!   bounded retries with backoff, and the mapping of HTTP failures to [`RegistryError`];
//! - [`client`]: [`Client`], one registry (or mirror) endpoint with its authenticator: any
//!   request with the auth dance done ([`Client::send`]), manifests, blobs;
//! - [`manifest`]: media types, schema 1 refusal, platform choice;
//! - [`download`]: a blob streamed into the store, verified while streaming, resumable;
//! - [`pull`]: the berth-pull job;
//! - [`push`]: berth push (HEAD-skip, cross-repository mount, monolithic or chunked upload);
//! - [`login`]: checking a password, writing and erasing credentials (helpers included);
//! - [`catalog`]: berth search over `/v2/_catalog` and tag lists.
//!
//! Nothing here prints: progress goes through [`pull::Progress`].
//!
//! Rules the pieces share:
//!
//! - **Mirrors** (`registry-mirrors`) apply to docker.io only and are tried in order before
//!   it. The standard proxy variables (`ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`)
//!   are honoured, through ureq's default agent configuration.
//! - **Store form.** Manifests are stored as OCI: a Docker v2 schema 2 manifest is converted
//!   as skopeo converts it (same blobs, OCI media types), because skopeo's and umoci's
//!   OCI-layout readers see only OCI manifests and indexes. The registry's own digest is kept
//!   as the ref annotation `io.berth.image.repo-digest` and the record's `image.repo_digest`;
//!   the index a platform manifest was chosen from as `io.berth.image.index-digest` /
//!   `image.index_digest`. A ref names one platform manifest.
//! - **Order.** The config is fetched first (it says whether the platform is right), then the
//!   layers, [`pull::PARALLEL_LAYERS`] at a time, largest first; the config blob, the manifest
//!   blob and, under the store lock, the ref are stored after them. A failed pull leaves no
//!   ref and no blob of the failing content.
//! - **Exit codes**: 4 a malformed reference or flag; 3 an unknown repository, tag or
//!   platform, or `--pull=never` without the image; 100 unauthorized; 101 unreachable (TLS
//!   failures too); 102 digest mismatch; 103 truncated download; 2 an unsupported media type
//!   or schema 1, or search on a registry without `/v2/_catalog` (Docker Hub); 6 an
//!   undecodable manifest or config; 11 a 5xx or 429 after the retries; 7 an invalid settings
//!   file; 108 (`REJECTED`) a push the registry refused with anything but 401, with its own
//!   message.
//! - **Tests** set `BERTH_REGISTRY_LOOPBACK_ONLY=1` (the harness's `TestEnv` does): berth then
//!   refuses every registry that is not on loopback, so no test reaches docker.io by accident.

pub mod auth;
pub mod catalog;
pub mod client;
pub mod config;
pub mod credentials;
pub mod download;
pub mod login;
pub mod manifest;
pub mod pull;
pub mod push;
pub mod transport;

pub use client::Client;
pub use config::RegistryConfig;
pub use pull::{PullOptions, PullPolicy, pull};

use crate::digest::DigestError;
use crate::error::{Code, Coded, IoError};
use crate::store::layout::StoreError;

/// Everything that can go wrong talking to a registry. Each variant's message is one line that
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "cannot reach registry {registry}: {reason} (check the address and that it is running)"
    )]
    Unreachable { registry: String, reason: String },
    #[error(
        "TLS with registry {registry} failed: {reason} (trust its CA in {certs_hint}/{registry}/ca.crt, or list it in insecure-registries)"
    )]
    Tls {
        registry: String,
        reason: String,
        certs_hint: String,
    },
    #[error(
        "unauthorized: {registry} refused {what}: {detail} (log in with the right credentials: berth login {registry})"
    )]
    Unauthorized {
        registry: String,
        what: String,
        detail: String,
    },
    #[error("{what} not found: {detail} (check the name and tag)")]
    NotFound { what: String, detail: String },
    #[error(
        "{reference}: the registry serves a Docker schema 1 manifest, which is deprecated and unsupported (push it again with a current tool, e.g. skopeo copy --format v2s2)"
    )]
    Schema1 { reference: String },
    #[error(
        "{what}: unsupported media type {media_type} (berth pulls OCI and Docker v2 schema 2 images)"
    )]
    UnsupportedMediaType { what: String, media_type: String },
    #[error("{what}: {detail}")]
    Invalid { what: String, detail: String },
    #[error("registry {registry}: {what}: HTTP {status}{detail}")]
    Http {
        registry: String,
        what: String,
        status: u16,
        detail: String,
    },
    #[error(
        "{what}: the download ended early after {got} of {expected} bytes ({reason}; pull again to resume)"
    )]
    Truncated {
        what: String,
        got: u64,
        expected: u64,
        reason: String,
    },
    #[error("{0}")]
    Config(String),
    #[error("credential helper {helper}: {reason}")]
    CredentialHelper { helper: String, reason: String },
    #[error(
        "image {reference} is not present locally and --pull=never forbids fetching it (pull it first, or use --pull=missing)"
    )]
    NotPresent { reference: String },
    #[error(
        "image {reference} is for platform {found}, not the requested {wanted} (pick a tag built for {wanted})"
    )]
    PlatformMismatch {
        reference: String,
        found: String,
        wanted: String,
    },
    #[error("cancelled: another download of this pull failed")]
    Cancelled,
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] IoError),
}

impl Coded for RegistryError {
    fn code(&self) -> Code {
        use RegistryError::*;
        match self {
            Unreachable { .. } | Tls { .. } => Code::UNREACHABLE,
            Unauthorized { .. } | CredentialHelper { .. } => Code::UNAUTHORIZED,
            NotFound { .. } | NotPresent { .. } | PlatformMismatch { .. } => Code::NOT_FOUND,
            Schema1 { .. } | UnsupportedMediaType { .. } => Code::UNSUPPORTED,
            Invalid { .. } => Code::DECODE,
            Http { status, .. } if *status >= 500 || *status == 429 => Code::TRY_AGAIN,
            Http { .. } => Code::IO,
            Truncated { .. } => Code::TRUNCATED,
            Config(_) => Code::INVALID_CONFIG,
            Cancelled => Code::IO,
            Digest(e) => e.code(),
            Store(e) => e.code(),
            Io(e) => e.code(),
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;
