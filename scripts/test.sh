#!/bin/sh
# Runs berth's whole test suite: the lint gate (scripts/lint.sh), unit tests beside the code
# and the end-to-end tests in tests/, which drive the built binaries. Needs root (namespaces,
# mounts, networking).
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/lint.sh
cargo build --workspace --bins --quiet
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --workspace --no-fail-fast
else
  exec cargo test --workspace --no-fail-fast
fi
