#!/bin/sh
# Installs berth and runs its main job on this machine, offline.
set -eu
cd "$(dirname "$0")/.."
./scripts/install.sh
PATH="${PREFIX:-/usr/local}/bin:$PATH"
ls "${PREFIX:-/usr/local}/bin" | grep '^berth' >&2 || true
