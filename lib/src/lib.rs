//! berth: a daemonless container toolkit. This crate holds all of the logic; the `berth-*`
//! binaries are thin shells over it (see DESIGN.md). It prints nothing: the tools' edge
//! (crate `berth-cli`) turns results and errors into output.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod build;
pub mod bundle;
pub mod confine;
pub mod container;
pub mod digest;
pub mod doctor;
pub mod elf;
pub mod error;
pub mod events;
pub mod format;
pub mod image;
pub mod info;
pub mod layer;
pub mod net;
pub mod ocispec;
pub mod paths;
pub mod protocol;
pub mod reference;
pub mod registry;
pub mod runtime;
pub mod state;
pub mod store;
pub mod timings;
pub mod units;
pub mod version;
pub mod views;
pub mod volume;

pub use error::{Code, Coded, Error, Result};
pub use paths::Paths;
