#!/bin/sh
# README's first command: installs berth (scripts/install.sh: Debian packages, a release build,
# the tools, completions and man pages into $PREFIX, default /usr/local), then runs a real
# container, offline:
#
#   berth image default                  busybox:latest from the host's busybox-static
#   berth run --rm busybox echo hello    through the whole pipeline, and removed again
#
# A busybox:latest already in the store (pulled, loaded) is used as it is.
# QUICKSTART_NO_INSTALL=1 skips the installation (the tools are taken from PATH): the
# end-to-end test runs this script so.
set -eu
cd "$(dirname "$0")/.."
if [ "${QUICKSTART_NO_INSTALL:-}" != 1 ]; then
  ./scripts/install.sh
  PATH="${PREFIX:-/usr/local}/bin:$PATH"
fi

if [ -z "$(berth images -q busybox:latest)" ]; then
  echo "quickstart: berth image default (busybox:latest from the host's busybox-static)" >&2
  berth image default >/dev/null
fi
echo "quickstart: berth run --rm busybox echo hello" >&2
berth run --rm busybox echo hello
