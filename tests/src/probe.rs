//! The escape probe (`escape_probe.c`): attacks from inside a container that busybox cannot
//! type (O_PATH handles on `/proc/PID/exe`, TIOCSTI), built `gcc -static` so it runs in any
//! image. Used by tests/tests/security_exec.rs. [`build_c`] builds the other probes
//! (`keyring_probe.c`) the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::must;

/// Builds the probe into `dir` (created) and returns its path there.
pub fn build(dir: &Path) -> PathBuf {
    build_c(dir, "escape_probe.c", "escape-probe")
}

/// Builds `tests/src/SOURCE` static into `dir` (created) as `name`; returns its path.
pub fn build_c(dir: &Path, source: &str, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("probe dir");
    let out = dir.join(name);
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(source);
    must(
        Command::new("gcc")
            .args(["-static", "-O2", "-s", "-o"])
            .arg(&out)
            .arg(&src),
    );
    out
}
