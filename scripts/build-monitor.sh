#!/bin/sh
# Builds berth-monitor as shipped (static, optimised for size: scripts/build-static.sh) and
# prints its path. The monitor lives as long as its container, one per detached container, so
# its resident size is what counts (DESIGN.md, "The monitor").
# Usage: scripts/build-monitor.sh [TARGET_DIR]
set -eu
exec "$(dirname "$0")/build-static.sh" berth-monitor "${1:-target/monitor-static}"
