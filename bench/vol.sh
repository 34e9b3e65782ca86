#!/bin/sh
# shellcheck disable=SC2086 # podman and its flags live in one word-split variable (no arrays in sh)
# vol: volume management against podman's (`podman volume`, local driver), alternating,
# median of $BENCH_RUNS runs (default 7), each tool in its own temporary root:
#   vol-create-rm  `volume create NAME` then `volume rm NAME`
#   vol-ls-200     `volume ls -q` with 200 volumes
#   vol-prune-50   `volume prune -f` removing 50 unused volumes
# peers: podman
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
bin=$BERTH_BIN
work=$(mktemp -d /tmp/berth-bench-vol.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT INT TERM

export BERTH_ROOT="$work/root" BERTH_RUN_ROOT="$work/run"
p="podman --root $work/proot --runroot $work/prun --tmpdir $work/ptmp --storage-driver=vfs --events-backend=file --cgroup-manager=cgroupfs"
berth="$bin/berth-vol"
echo "vol: berth: $berth ... ; podman: $p volume ..." >&2

# Warm both (first podman run initialises its store).
$berth ls -q >/dev/null
$p volume ls -q >/dev/null

cycle_berth() { $berth create benchvol >/dev/null && $berth rm benchvol >/dev/null; }
cycle_podman() { $p volume create benchvol >/dev/null && $p volume rm benchvol >/dev/null; }

: > "$work/b1"; : > "$work/p1"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  timed cycle_berth >> "$work/b1"
  timed cycle_podman >> "$work/p1"
  i=$((i + 1))
done
result vol-create-rm "$(median < "$work/b1")" "$(median < "$work/p1")" podman

n=0
while [ $n -lt 200 ]; do
  $berth create "v$n" >/dev/null
  $p volume create "v$n" >/dev/null
  n=$((n + 1))
done
: > "$work/b2"; : > "$work/p2"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  timed "$berth" ls -q >> "$work/b2"
  timed $p volume ls -q >> "$work/p2"
  i=$((i + 1))
done
result vol-ls-200 "$(median < "$work/b2")" "$(median < "$work/p2")" podman
$berth prune -f >/dev/null
$p volume prune -f >/dev/null

: > "$work/b3"; : > "$work/p3"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  n=0
  while [ $n -lt 50 ]; do
    $berth create "p$n" >/dev/null
    $p volume create "p$n" >/dev/null
    n=$((n + 1))
  done
  timed "$berth" prune -f >> "$work/b3"
  timed $p volume prune -f >> "$work/p3"
  i=$((i + 1))
done
result vol-prune-50 "$(median < "$work/b3")" "$(median < "$work/p3")" podman
