#!/bin/sh
# Builds berth as shipped (scripts/build-release.sh: release, static) and installs its tools
# into $PREFIX/bin (default /usr/local).
set -eu
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
./scripts/deps.sh
bin=$(./scripts/build-release.sh)
mkdir -p "$PREFIX/bin"
for exe in "$bin"/berth-*; do
  [ -f "$exe" ] && [ -x "$exe" ] && install -m 0755 "$exe" "$PREFIX/bin/"
done
# The monitor (one per detached container) and berth-init (`--init`'s PID 1, which runs inside
# the container's root) are shipped optimised for size; they replace the builds copied above.
install -m 0755 "$(./scripts/build-monitor.sh)" "$PREFIX/bin/"
install -m 0755 "$(./scripts/build-static.sh berth-init)" "$PREFIX/bin/"
for script in tools/run/*; do
  [ -f "$script" ] && install -m 0755 "$script" "$PREFIX/bin/"
done
./scripts/install-docs.sh "$PREFIX/bin" "$PREFIX"
echo "berth: installed into $PREFIX/bin" >&2
