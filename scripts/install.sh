#!/bin/sh
# Builds berth in release mode and installs its tools into $PREFIX/bin (default /usr/local).
set -eu
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
./scripts/deps.sh
cargo build --workspace --release --bins --quiet
mkdir -p "$PREFIX/bin"
for exe in target/release/berth-*; do
  [ -f "$exe" ] && [ -x "$exe" ] && install -m 0755 "$exe" "$PREFIX/bin/"
done
# The monitor (one per detached container) and berth-init (`--init`'s PID 1, which runs inside
# the container's root) are shipped static and optimised for size; they replace the dynamic
# builds copied above.
install -m 0755 "$(./scripts/build-monitor.sh)" "$PREFIX/bin/"
install -m 0755 "$(./scripts/build-static.sh berth-init)" "$PREFIX/bin/"
for script in tools/run/*; do
  [ -f "$script" ] && install -m 0755 "$script" "$PREFIX/bin/"
done
./scripts/install-docs.sh "$PREFIX/bin" "$PREFIX"
echo "berth: installed into $PREFIX/bin" >&2
