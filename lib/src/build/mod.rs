//! `berth build`: a Dockerfile and a context into an OCI image in the store.
//!
//! - [`parse`]: the Dockerfile's syntax (directives, continuations, flags, JSON/shell form).
//! - [`vars`]: variable substitution with ARG/ENV scoping.
//! - [`plan`]: stages, `ARG` before `FROM`, `--target`, and which stages are needed (unused
//!   stages are skipped, as BuildKit does).
//! - [`stage`]: one stage's instructions applied to its image state; metadata instructions
//!   change only the config and add a history entry with `empty_layer`.
//! - [`exec`]: the step containers, through the stages: each RUN/WORKDIR step's rootfs is a
//!   container bundle made by unpack (`bundle::create`: an overlay over the parent's
//!   layers); RUN runs in it through `berth-netns -` and `berth-spawn start -` (the same
//!   tools `berth run` composes); the step's layer is the diff of the overlay's upper
//!   directory (`layer::diff`). The container is torn down by the stages' teardown verbs
//!   whatever happens.
//! - `copystep` and `copylayer`: COPY/ADD written straight as a layer tar from the context,
//!   a heredoc, `--from`'s filesystem or [`fetch`]'s download, the image below looked up
//!   read-only in a detached overlay (ADD of a local archive goes through a step container).
//! - `steps`: RUN's command, environment and `--mount`s (cache, bind, `from=`, tmpfs,
//!   secret).
//! - [`cache`]: each step's key chains the parent's key, the instruction after substitution,
//!   the build args in scope and, for COPY/ADD, a checksum of the files copied (kept per
//!   path+size+mtime+inode); a hit reuses the step's resulting config and layers.
//!
//! Intermediate images are blobs (config + manifest) without a name: the build holds the
//! store's lease, and a RUN container's record names its manifest, so gc keeps them while
//! they are used. Errors carry the Dockerfile's line number (`Dockerfile:3: ...`).

pub mod cache;
pub mod context;
mod copylayer;
mod copystep;
pub mod exec;
pub mod fetch;
pub mod ignore;
pub mod meta;
pub mod parse;
pub mod plan;
pub mod stage;
mod steps;
pub mod vars;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Code, Coded, Error};

/// Set by the tool's SIGINT/SIGTERM handler: the build stops at the next check, a running
/// step is stopped, and its container is torn down.
pub static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The pid of the step's running `berth-spawn` (0: none), for the signal handler to stop.
pub static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("Dockerfile:{line}: {message}")]
    Syntax { line: usize, message: String },
    #[error("Dockerfile:{line}: {message}")]
    Step {
        line: usize,
        message: String,
        code: Code,
    },
    #[error(
        "Dockerfile:{line}: process \"{command}\" did not complete successfully: exit code: {status}"
    )]
    RunFailed {
        line: usize,
        command: String,
        status: i32,
    },
    #[error("{0}")]
    BadArgs(String),
    #[error("the Dockerfile cannot be empty")]
    Empty,
    #[error("build interrupted")]
    Interrupted,
}

impl Coded for BuildError {
    fn code(&self) -> Code {
        match self {
            BuildError::Syntax { .. } | BuildError::Empty => Code::INVALID_CONFIG,
            BuildError::Step { code, .. } => *code,
            BuildError::RunFailed { .. } => Code::INVALID_CONFIG,
            BuildError::BadArgs(_) => Code::BAD_ARGS,
            BuildError::Interrupted => Code::TRY_AGAIN,
        }
    }
}

/// An error of any module while running the instruction on `line`.
pub fn at(line: usize, e: Error) -> Error {
    if e.downcast_ref::<BuildError>().is_some() {
        return e;
    }
    BuildError::Step {
        line,
        message: e.one_line(),
        code: e.code(),
    }
    .into()
}

/// What a build needs.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// The context directory (a tar context is unpacked into one first by the caller).
    pub context: PathBuf,
    /// `-t`: names for the result.
    pub tags: Vec<String>,
    /// `--build-arg K=V` (or `K`, taken from the environment by the caller).
    pub build_args: Vec<(String, String)>,
    pub target: Option<String>,
    pub no_cache: bool,
    /// `--pull`: pull FROM images even if they are in the store.
    pub pull: bool,
    /// `--label K=V` on the result.
    pub labels: Vec<(String, String)>,
    /// RUN's network: bridge (default, as Docker), none, host.
    pub network: String,
    /// Print the plan and the cache's answers; build nothing.
    pub dry_run: bool,
    /// `--secret id=ID,...`: the values `RUN --mount=type=secret` can use, by id.
    pub secrets: std::collections::BTreeMap<String, Secret>,
    /// `--add-host NAME:IP`: lines added to RUN steps' /etc/hosts (berth-netns's flag).
    pub add_hosts: Vec<String>,
}

/// A secret's value; never printed.
#[derive(Clone, Default)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One layer of an image being built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub diff_id: String,
}

/// An image as the build goes: the whole image config (Docker's spelling) and its layers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageState {
    pub config: Value,
    pub layers: Vec<Layer>,
}

/// What the caller hears as the build goes (lib prints nothing).
pub trait Progress {
    /// A vertex starts: `[stage n/m] INSTRUCTION`.
    fn step(&mut self, title: &str);
    /// The step was served from the cache.
    fn cached(&mut self);
    /// A line the step printed (RUN's output).
    fn output(&mut self, line: &str);
    /// The step is done.
    fn done(&mut self);
    /// `--dry-run`: one step of the plan, and whether the cache would serve it.
    fn planned(&mut self, title: &str, cached: bool);
}

/// The result.
#[derive(Debug, Clone)]
pub struct Built {
    /// `sha256:<config digest>`.
    pub id: String,
    pub names: Vec<String>,
    /// `--build-arg` names no ARG of the built stages (or before the first FROM) declared,
    /// sorted: the caller warns of them, as Docker does.
    pub unused_args: Vec<String>,
}

pub use stage::build;
