//! The escape probe (`escape_probe.c`): attacks from inside a container that busybox cannot
//! type (O_PATH handles on `/proc/PID/exe`, TIOCSTI), built `gcc -static` so it runs in any
//! image. Used by tests/tests/security_exec.rs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::fixtures::must;

/// Builds the probe into `dir` (created) and returns its path there.
pub fn build(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("probe dir");
    let out = dir.join("escape-probe");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/escape_probe.c");
    must(
        Command::new("gcc")
            .args(["-static", "-O2", "-s", "-o"])
            .arg(&out)
            .arg(&src),
    );
    out
}
