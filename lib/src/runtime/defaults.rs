//! Docker's defaults for what a container may do. The lists live in `crate::bundle::defaults`
//! (berth-unpack writes them into config.json); berth-spawn applies `--cap-add/--cap-drop/
//! --privileged` on top of the same lists, because capabilities, masking and seccomp are
//! Docker HostConfig, which is spawn's part of the record.

use crate::bundle::defaults;

/// Docker's 14 default capabilities: CapEff 00000000a80425fb inside a default container.
pub const CAPABILITIES: &[&str] = &defaults::DEFAULT_CAPABILITIES;

/// Paths Docker hides from a non-privileged container.
pub const MASKED_PATHS: &[&str] = &defaults::MASKED_PATHS;

/// Paths Docker makes read-only in a non-privileged container.
pub const READONLY_PATHS: &[&str] = &defaults::READONLY_PATHS;

/// The PATH a container gets when its image sets none (Docker's).
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
