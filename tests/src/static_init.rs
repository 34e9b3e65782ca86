//! berth-init runs inside a container's root as `--init`'s PID 1, where there is no host
//! libc, so berth-spawn refuses a dynamically linked one. `cargo build` makes it dynamic
//! (crt-static would also hit build scripts and proc macros); the tests use the binary as
//! shipped instead: `scripts/build-static.sh berth-init` (its own target directory), copied
//! over the one beside the built tools. Done once per test process, under a lock, and only
//! when the binary there is not static already.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::Command;
use std::sync::Once;

use berth::elf::{Linkage, linkage};

use crate::{bin_dir, repo_dir, target_dir};

fn is_static(path: &Path) -> bool {
    File::open(path)
        .ok()
        .and_then(|mut f| linkage(&mut f).ok())
        .is_some_and(|l| l == Linkage::Static)
}

fn build_and_install(dest: &Path) {
    let lock = File::create(target_dir().join("static.lock")).expect("create static.lock");
    // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
    unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    if is_static(dest) {
        return;
    }
    let out = Command::new("sh")
        .arg(repo_dir().join("scripts/build-static.sh"))
        .arg("berth-init")
        .arg(target_dir().join("static"))
        .current_dir(repo_dir())
        .output()
        .expect("run scripts/build-static.sh");
    assert!(
        out.status.success(),
        "scripts/build-static.sh berth-init failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let built = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let built = if Path::new(&built).is_absolute() {
        built.into()
    } else {
        repo_dir().join(built)
    };
    assert!(is_static(&built), "{} is not static", built.display());
    let tmp = dest.with_extension("static-tmp");
    fs::copy(&built, &tmp).expect("copy the static berth-init");
    fs::rename(&tmp, dest).expect("install the static berth-init");
}

/// Makes `berth-init` beside the built tools the static one.
pub fn ensure() {
    static DONE: Once = Once::new();
    DONE.call_once(|| {
        let dest = bin_dir().join("berth-init");
        if !is_static(&dest) {
            build_and_install(&dest);
        }
    });
}
