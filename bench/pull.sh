#!/bin/sh
# pull: berth-pull vs `skopeo copy docker://... oci:...` of the same image (>= 100 MB
# compressed: incompressible data in 4 layers plus busybox) from the same local registry,
# alternating, median of $BENCH_RUNS runs (default 7). Target: berth <= 0.5x skopeo.
# peers: skopeo umoci docker-registry busybox-static curl
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

work="$BENCH_OUT/pull"
image_layout="$work/image-v1"
mkdir -p "$work"

# The image, built once with umoci (cached across runs).
if [ ! -f "$image_layout/index.json" ]; then
  echo "pull: building the benchmark image (once)" >&2
  rm -rf "$image_layout.tmp" "$work/bundle"
  umoci init --layout "$image_layout.tmp"
  umoci new --image "$image_layout.tmp:big"
  umoci unpack --image "$image_layout.tmp:big" "$work/bundle" >/dev/null
  mkdir -p "$work/bundle/rootfs/bin"
  cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
  umoci repack --image "$image_layout.tmp:big" "$work/bundle"
  for i in 1 2 3 4; do
    rm -rf "$work/bundle"
    umoci unpack --image "$image_layout.tmp:big" "$work/bundle" >/dev/null
    head -c 28000000 /dev/urandom > "$work/bundle/rootfs/data-$i.bin"
    umoci repack --image "$image_layout.tmp:big" "$work/bundle"
  done
  umoci config --image "$image_layout.tmp:big" --os linux --architecture amd64 --config.cmd sh
  umoci gc --layout "$image_layout.tmp"
  rm -rf "$work/bundle"
  mv "$image_layout.tmp" "$image_layout"
fi
size=$(du -sb "$image_layout/blobs" | cut -f1)
echo "pull: image blobs: $((size / 1000000)) MB compressed" >&2

reg="$work/registry"
rm -rf "$reg"
registry_start "$reg"
cleanup() { registry_stop; rm -rf "$reg" "${work:?}/root" "${work:?}/run" "${work:?}/skopeo" "${work:?}/home"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
export HOME="$work/home"
mkdir -p "$HOME"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$image_layout:big" "docker://$REGISTRY/bench/big:1"
ref="$REGISTRY/bench/big:1"

berth_cmd="$BERTH_BIN/berth-pull --root $work/root --run-root $work/run $ref"
skopeo_cmd="skopeo --insecure-policy copy -q --src-tls-verify=false docker://$ref oci:$work/skopeo:big"
echo "pull: berth:  $berth_cmd" >&2
echo "pull: skopeo: $skopeo_cmd" >&2

: > "$work/berth.times"
: > "$work/skopeo.times"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  i=$((i + 1))
  # Each run starts from an empty destination with the previous run's writes on disk, so
  # neither tool pays for the other's writeback.
  rm -rf "$work/root" "$work/skopeo"
  sync
  # shellcheck disable=SC2086
  b=$(timed $berth_cmd)
  rm -rf "$work/root" "$work/skopeo"
  sync
  # shellcheck disable=SC2086
  s=$(timed $skopeo_cmd)
  echo "$b" >> "$work/berth.times"
  echo "$s" >> "$work/skopeo.times"
  echo "pull: run $i: berth $b s, skopeo $s s" >&2
done
result pull "$(median < "$work/berth.times")" "$(median < "$work/skopeo.times")" skopeo
