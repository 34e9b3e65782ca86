#!/bin/sh
# image: berth save / load / push vs skopeo doing the same with the same image (busybox plus 4
# layers of 28 MB of random data, as in the pull bench), alternating, median of $BENCH_RUNS.
#   save: `berth save -o F IMAGE`       vs `skopeo copy oci:LAYOUT docker-archive:F`
#   load: `berth load -i F` (empty root) vs `skopeo copy docker-archive:F oci:DIR`
#   push: `berth push REG/IMAGE`        vs `skopeo copy oci:LAYOUT docker://REG/IMAGE`
#         (each into a freshly started, empty registry)
# peers: skopeo umoci docker-registry busybox-static curl
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

work="$BENCH_OUT/image"
layout="$work/image-v1"
mkdir -p "$work"

if [ ! -f "$layout/index.json" ]; then
  echo "image: building the benchmark image (once)" >&2
  rm -rf "$layout.tmp" "$work/bundle"
  umoci init --layout "$layout.tmp"
  umoci new --image "$layout.tmp:big"
  umoci unpack --image "$layout.tmp:big" "$work/bundle" >/dev/null
  mkdir -p "$work/bundle/rootfs/bin"
  cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
  umoci repack --image "$layout.tmp:big" "$work/bundle"
  for i in 1 2 3 4; do
    rm -rf "$work/bundle"
    umoci unpack --image "$layout.tmp:big" "$work/bundle" >/dev/null
    head -c 28000000 /dev/urandom > "$work/bundle/rootfs/data-$i.bin"
    umoci repack --image "$layout.tmp:big" "$work/bundle"
  done
  umoci config --image "$layout.tmp:big" --os linux --architecture amd64 --config.cmd sh
  umoci gc --layout "$layout.tmp"
  rm -rf "$work/bundle"
  mv "$layout.tmp" "$layout"
fi

reg="$work/registry"
cleanup() {
  registry_stop
  rm -rf "$reg" "${work:?}/root" "${work:?}/run" "${work:?}/root2" "${work:?}/skopeo" "${work:?}/home" \
    "$work/berth.tar" "$work/skopeo.tar"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export HOME="$work/home"
mkdir -p "$HOME"

# berth's store gets the image the way a user's would: pulled from a registry.
rm -rf "$reg" "${work:?}/root" "$work/run"
registry_start "$reg"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$layout:big" "docker://$REGISTRY/bench/big:1"
src="$REGISTRY/bench/big:1"
B="$BERTH_BIN/berth-image --root $work/root --run-root $work/run"
"$BERTH_BIN/berth-pull" --root "$work/root" --run-root "$work/run" "$src" >/dev/null
$B tag "$src" bench/big:1
registry_stop
rm -rf "$reg"

runs() { # NAME: runs berth_cmd/peer_cmd alternately, with `prepare` before each command
  : > "$work/$1.berth"
  : > "$work/$1.peer"
  # Not `i`: lib.sh's registry_start uses it.
  run_i=0
  while [ $run_i -lt "$BENCH_RUNS" ]; do
    run_i=$((run_i + 1))
    prepare berth
    # shellcheck disable=SC2086
    b=$(timed $berth_cmd)
    prepare peer
    # shellcheck disable=SC2086
    s=$(timed $peer_cmd)
    echo "$b" >> "$work/$1.berth"
    echo "$s" >> "$work/$1.peer"
    echo "image: $1 run $run_i: berth $b s, skopeo $s s" >&2
  done
  result "$1" "$(median < "$work/$1.berth")" "$(median < "$work/$1.peer")" skopeo
}

# save
berth_cmd="$B save -o $work/berth.tar bench/big:1"
peer_cmd="skopeo --insecure-policy copy -q oci:$layout:big docker-archive:$work/skopeo.tar:bench/big:1"
echo "image: save: berth:  $berth_cmd" >&2
echo "image: save: skopeo: $peer_cmd" >&2
prepare() {
  if [ "$1" = berth ]; then rm -f "$work/berth.tar"; else rm -f "$work/skopeo.tar"; fi
  sync
}
runs save

# load (from the archive berth saved, into empty stores)
berth_cmd="$BERTH_BIN/berth-image --root $work/root2 --run-root $work/run load -i $work/berth.tar"
peer_cmd="skopeo --insecure-policy copy -q docker-archive:$work/berth.tar oci:$work/skopeo:big"
echo "image: load: berth:  $berth_cmd" >&2
echo "image: load: skopeo: $peer_cmd" >&2
prepare() { rm -rf "$work/root2" "$work/skopeo"; sync; }
runs load

# push (each into a new, empty registry)
berth_cmd="$B push $REGISTRY/bench/pushed:1"
peer_cmd="skopeo --insecure-policy copy -q --dest-tls-verify=false oci:$layout:big docker://$REGISTRY/bench/pushed:1"
prepare() {
  registry_stop
  rm -rf "$reg" "$HOME"
  mkdir -p "$HOME"
  registry_start "$reg"
  if [ "$1" = berth ]; then
    $B tag bench/big:1 "$REGISTRY/bench/pushed:1"
    berth_cmd="$B push $REGISTRY/bench/pushed:1"
  else
    peer_cmd="skopeo --insecure-policy copy -q --dest-tls-verify=false oci:$layout:big docker://$REGISTRY/bench/pushed:1"
  fi
}
echo "image: push: berth:  berth-image push REGISTRY/bench/pushed:1" >&2
echo "image: push: skopeo: skopeo copy oci:LAYOUT:big docker://REGISTRY/bench/pushed:1" >&2
runs push
