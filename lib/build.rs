//! Builds berth-dmz (`src/runtime/dmz.c`, see `runtime::exeseal`): a libc-free static program
//! of about 500 bytes of code (an 8.7 KB file), embedded in the library. The `cc` crate finds
//! the C compiler (the one that links Rust programs here, or $CC); the flags are ours, since
//! `cc` builds objects and libraries, not a program. Where it cannot be built (another
//! architecture, no C compiler), the embedded file is empty and berth-spawn re-executes
//! itself sealed instead.

use std::path::PathBuf;

fn main() {
    let src = "src/runtime/dmz.c";
    println!("cargo::rerun-if-changed={src}");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("berth-dmz");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let built = os == "linux"
        && matches!(arch.as_str(), "x86_64" | "aarch64")
        && cc::Build::new()
            .cargo_metadata(false)
            .cargo_warnings(false)
            .get_compiler()
            .to_command()
            .args([
                "-Os",
                "-ffreestanding",
                "-fno-builtin",
                "-fno-stack-protector",
                "-fno-asynchronous-unwind-tables",
                "-fno-pie",
                "-no-pie",
                "-nostdlib",
                "-static",
                "-Wl,--build-id=none",
                "-Wl,-z,noexecstack",
                "-Wl,-z,norelro",
                "-s",
                "-o",
            ])
            .arg(&out)
            .arg(src)
            .status()
            .is_ok_and(|s| s.success());
    if !built {
        println!(
            "cargo::warning=berth-dmz was not built ({arch}): berth-spawn will re-execute itself sealed for every container"
        );
        std::fs::write(&out, b"").expect("writing an empty berth-dmz");
    }
}
