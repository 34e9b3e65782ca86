#!/bin/sh
# Builds berth-monitor as shipped and prints its path: static (glibc's crt-static) and optimised
# for size (fat LTO, opt-level z, one codegen unit, abort on panic, stripped). The monitor lives
# as long as its container, one per detached container, so its resident size is what counts
# (DESIGN.md, "The monitor"). Usage: scripts/build-monitor.sh [TARGET_DIR]
set -eu
cd "$(dirname "$0")/.."
dir=${1:-target/monitor-static}
triple=$(rustc -vV | sed -n 's/^host: //p')
CARGO_PROFILE_RELEASE_LTO=fat CARGO_PROFILE_RELEASE_OPT_LEVEL=z \
  CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 CARGO_PROFILE_RELEASE_PANIC=abort \
  CARGO_PROFILE_RELEASE_STRIP=true RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --release --quiet -p berth-monitor --target "$triple" --target-dir "$dir"
echo "$dir/$triple/release/berth-monitor"
