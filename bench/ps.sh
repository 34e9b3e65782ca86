#!/bin/sh
# ps: `berth ps -a` vs `podman ps -a`, each with the same 100 created (not started) containers
# of the same image, alternating, median of $BENCH_RUNS runs (default 7). Target: berth <=
# 0.1x podman. Then `berth ps -a` alone with $PS_SCALE (default 1000) containers on record,
# printed as a NOTE: it must stay near-instant.
#
# Each sample times $PS_BATCH (default 10) back-to-back invocations and reports the time of
# one: `timed` costs a few milliseconds itself (two `date` forks), as much as berth's whole
# `ps`, so single invocations would measure the timer.
#
# podman runs with a private root and runroot (vfs storage, no events, cgroupfs), the image
# pulled from an OCI layout made by umoci; berth gets the same image through `berth-image load`.
# peers: podman umoci skopeo busybox-static
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd)
work="$BENCH_OUT/ps"
n=${PS_CONTAINERS:-100}
batch=${PS_BATCH:-10}
scale=${PS_SCALE:-1000}
layout="$work/image-v1"
mkdir -p "$work"

# The image, built once with umoci: busybox and its sh link.
if [ ! -f "$layout/index.json" ]; then
  echo "ps: building the image (once)" >&2
  rm -rf "$layout.tmp" "$work/bundle"
  umoci init --layout "$layout.tmp"
  umoci new --image "$layout.tmp:busybox"
  umoci unpack --image "$layout.tmp:busybox" "$work/bundle" >/dev/null
  mkdir -p "$work/bundle/rootfs/bin"
  cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
  ln -s busybox "$work/bundle/rootfs/bin/sh"
  umoci repack --image "$layout.tmp:busybox" "$work/bundle"
  umoci config --image "$layout.tmp:busybox" --os linux --architecture amd64 --config.cmd sh
  umoci gc --layout "$layout.tmp"
  rm -rf "$work/bundle"
  mv "$layout.tmp" "$layout"
fi

broot="$work/berth-root"
brun="$work/berth-run"
proot="$work/podman-root"
prun="$work/podman-run"
export CONTAINERS_CONF=/dev/null CONTAINERS_REGISTRIES_CONF=/dev/null
podman_cmd="podman --root $proot --runroot $prun --storage-driver vfs --events-backend none --cgroup-manager cgroupfs"

cleanup() {
  # berth's containers hold overlay mounts: tear each down with its stage's verb.
  if [ -d "$broot/containers" ]; then
    for d in "$broot"/containers/*; do
      id=${d##*/}
      case $id in *[!0-9a-f]*) continue ;; esac
      [ ${#id} -eq 64 ] || continue
      BERTH_ROOT=$broot BERTH_RUN_ROOT=$brun "$BERTH_BIN/berth-unpack" rm "$id" >/dev/null 2>&1 || true
    done
  fi
  $podman_cmd rm -a -f >/dev/null 2>&1 || true
  rm -rf "$broot" "$brun" "$prun" "$work/bb.tar"
  # vfs layers are plain directories, but podman may leave read-only bits behind.
  chmod -R u+w "$proot" 2>/dev/null || true
  rm -rf "$proot"
}
trap cleanup EXIT INT TERM
cleanup

export BERTH_ROOT="$broot" BERTH_RUN_ROOT="$brun"
skopeo --insecure-policy copy -q "oci:$layout:busybox" "docker-archive:$work/bb.tar:busybox:latest"
"$BERTH_BIN/berth-image" load -q -i "$work/bb.tar" >/dev/null
$podman_cmd pull -q "oci:$layout:busybox" >/dev/null
$podman_cmd tag "$($podman_cmd images -q | head -1)" docker.io/library/busybox:latest

# create NAME: one created container in each, with the same name and command.
create() {
  "$BERTH_BIN/berth-unpack" busybox:latest --name "$1" -- sh >/dev/null
  $podman_cmd create -q --name "$1" busybox:latest sh >/dev/null
}

echo "ps: creating $n containers in each" >&2
i=0
while [ $i -lt "$n" ]; do
  i=$((i + 1))
  create "c$i"
done

# batch CMD...: runs CMD $batch times in a row (output discarded); fails if any run does.
batch() {
  sh -c 'k=0; while [ $k -lt "$0" ]; do "$@" >/dev/null 2>&1 || exit 1; k=$((k + 1)); done' "$batch" "$@"
}

# per_run SECONDS: the time of one invocation in a batch.
per_run() { awk -v t="$1" -v n="$batch" 'BEGIN { printf "%.5f\n", t / n }'; }

# `berth` is the dispatcher a user types; it runs berth-ps from BERTH_BIN.
PATH="$BERTH_BIN:$PATH"
export PATH
berth_cmd="$top/tools/run/berth ps -a"
echo "ps: berth:  BERTH_ROOT=$broot BERTH_RUN_ROOT=$brun $berth_cmd" >&2
echo "ps: podman: $podman_cmd ps -a" >&2
echo "ps: each sample: $batch invocations in a row, time per invocation" >&2
[ "$($berth_cmd -q | wc -l)" -eq "$n" ] || { echo "ps: berth does not list $n containers" >&2; exit 1; }
[ "$($podman_cmd ps -a -q | wc -l)" -eq "$n" ] || { echo "ps: podman does not list $n containers" >&2; exit 1; }

: > "$work/berth.times"
: > "$work/podman.times"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  i=$((i + 1))
  # shellcheck disable=SC2086
  b=$(per_run "$(timed batch $berth_cmd)")
  # shellcheck disable=SC2086
  p=$(per_run "$(timed batch $podman_cmd ps -a)")
  echo "$b" >> "$work/berth.times"
  echo "$p" >> "$work/podman.times"
  echo "ps: run $i: berth $b s, podman $p s" >&2
done
result ps-a-100 "$(median < "$work/berth.times")" "$(median < "$work/podman.times")" podman

# Scale: berth alone with many containers on record.
if [ "$scale" -gt "$n" ]; then
  echo "ps: creating $((scale - n)) more berth containers" >&2
  i=$n
  while [ "$i" -lt "$scale" ]; do
    i=$((i + 1))
    "$BERTH_BIN/berth-unpack" busybox:latest --name "c$i" -- sh >/dev/null
  done
  : > "$work/scale.times"
  i=0
  while [ $i -lt "$BENCH_RUNS" ]; do
    i=$((i + 1))
    # shellcheck disable=SC2086
    per_run "$(timed batch $berth_cmd)" >> "$work/scale.times"
  done
  s=$(median < "$work/scale.times")
  echo "NOTE ps-a-$scale: berth ps -a with $scale containers: $s s (median of $BENCH_RUNS)"
fi
