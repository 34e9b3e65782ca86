#!/bin/sh
# Builds one of berth's small libc-only binaries as shipped and prints its path: static
# (glibc's crt-static) and optimised for size (fat LTO, opt-level z, one codegen unit, abort on
# panic, stripped).
# - berth-monitor lives as long as its container, one per detached container, so its resident
#   size is what counts (DESIGN.md, "The monitor").
# - berth-init runs inside the container's root as PID 1 (`--init`), where there is no host
#   libc: it must be static (DESIGN.md, "--init").
# `--target` keeps crt-static away from build scripts and proc macros.
# Usage: scripts/build-static.sh berth-monitor|berth-init [TARGET_DIR]
set -eu
cd "$(dirname "$0")/.."
pkg=${1:?usage: build-static.sh berth-monitor|berth-init [TARGET_DIR]}
case $pkg in berth-monitor | berth-init) ;; *) echo "build-static.sh: not a static tool: $pkg" >&2; exit 2 ;; esac
dir=${2:-target/static}
triple=$(rustc -vV | sed -n 's/^host: //p')
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort \
  CARGO_PROFILE_RELEASE_STRIP=true RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --quiet -p "$pkg" --target "$triple" --target-dir "$dir"
echo "$dir/$triple/release/$pkg"
