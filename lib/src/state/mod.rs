//! Container state on disk: one directory per container, no global database and no global
//! lock (DESIGN.md, "No global lock, no database").
//!
//! ```text
//! <root>/containers/<id>/record.json   the record (atomic replace)
//! <root>/containers/<id>/lock          flock around read-modify-write of the record
//! <root>/names/<name>                  holds the id; created atomically to reserve the name
//! ```

pub mod containers;
pub mod ids;
pub mod liveness;
pub mod names;
pub mod truth;

pub use containers::{Containers, StateError};
