#!/bin/sh
# container: what users type every day, `berth run` against `podman run`, the same images
# pulled by both from the same local registry (docker-registry on loopback, images pushed
# by skopeo from an umoci layout), alternating, median of $BENCH_RUNS runs (default 7):
#
#   run-rm-true      `berth run --rm busybox true` vs `podman run --rm ... busybox true`, the
#                    image cached. Target: <= 0.1x podman.
#   run-rm-true-none `berth run --rm --network none busybox true` vs `crun run` of a ready
#                    bundle of the same busybox (runc's default config running `true`), both
#                    timed by hyperfine, $BENCH_RUNS rounds alternating. Target: <= 2.5x crun.
#   run-p-http-200   from `run -d -p HOST:80 httpd` to the first HTTP 200 on 127.0.0.1:HOST
#                    (curl polling), the image cached. Target: <= 0.2x podman.
#
# Both run as root with their default networking (a bridge, NAT and published ports through
# iptables): berth on its own bridge `bbench0` (10.214.0.0/24, the root's network config),
# podman on netavark's default `podman` network. podman has a private root/runroot (overlay
# storage, cgroupfs, no events) and `--ulimit nofile=1024:1024 --ulimit nproc=1024:1024`:
# its defaults (1048576) are above this machine's hard limits and crun/runc refuse them.
# Container removal is not timed (the http bench removes each container after its round).
# crun (podman's runtime too) needs a hybrid host's v2 hierarchy empty: lib.sh's
# crun_hybrid_on binds hugetlb to v1 for the whole bench and the clean-up gives it back.
# peers: podman umoci skopeo docker-registry busybox-static curl crun runc hyperfine
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/berth-bench-container.XXXXXX)
layout="$work/layout"
export BERTH_ROOT="$work/root" BERTH_RUN_ROOT="$work/run"
export CONTAINERS_CONF=/dev/null CONTAINERS_REGISTRIES_CONF=/dev/null
# berth's containers' cgroups under a parent of the bench's own, removed with it.
export BERTH_CGROUP_PARENT=/berth-bench-container
# `berth` is the dispatcher a user types; it and berth-run come from tools/run.
PATH="$BERTH_BIN:$top/tools/run:$PATH"
podman="podman --root $work/proot --runroot $work/prun --tmpdir $work/ptmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend none"
limits="--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"

cleanup() {
  set +e
  if [ -d "$BERTH_ROOT/containers" ]; then
    for d in "$BERTH_ROOT"/containers/*; do
      id=${d##*/}
      case $id in *[!0-9a-f]*) continue ;; esac
      [ ${#id} -eq 64 ] || continue
      berth-spawn delete --force "$id" >/dev/null 2>&1
      berth-vol detach "$id" --volumes >/dev/null 2>&1
      berth-netns rm "$id" >/dev/null 2>&1
      berth-unpack rm "$id" >/dev/null 2>&1
    done
  fi
  # The default bridge outlives its containers (as docker0): prune takes it down idle.
  berth network prune -f >/dev/null 2>&1
  $podman rm -a -f >/dev/null 2>&1
  $podman rmi -a -f >/dev/null 2>&1
  crun --root "$work/crun" delete --force hc >/dev/null 2>&1
  crun_hybrid_off
  cni_chains_clean
  # podman's cgroupfs manager leaves its parent (libpod_parent, with conmon's) behind.
  libpod=/nonexistent
  [ "$libpod_had" != 0 ] || libpod=libpod_parent
  for c in /sys/fs/cgroup/*"$BERTH_CGROUP_PARENT" /sys/fs/cgroup/*/"$libpod"; do
    if [ -d "$c" ]; then find "$c" -depth -type d -exec rmdir {} + 2>/dev/null; fi
  done
  registry_stop
  awk -v w="$work" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r umount -l 2>/dev/null
  rm -rf "$work"
}
cni_chains_mark
libpod_had=$(find /sys/fs/cgroup -maxdepth 2 -name libpod_parent | wc -l)
trap cleanup EXIT INT TERM

# The images, built with umoci: busybox, and busybox httpd serving /www on port 80.
echo "container: building busybox and httpd images (umoci)" >&2
umoci init --layout "$layout"
umoci new --image "$layout:busybox"
umoci unpack --image "$layout:busybox" "$work/b" >/dev/null
mkdir -p "$work/b/rootfs/bin" "$work/b/rootfs/www" "$work/b/rootfs/tmp" "$work/b/rootfs/etc"
cp "$(command -v busybox)" "$work/b/rootfs/bin/busybox"
for a in sh true httpd; do ln -s busybox "$work/b/rootfs/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/b/rootfs/etc/passwd"
printf 'root:x:0:\n' > "$work/b/rootfs/etc/group"
umoci repack --image "$layout:busybox" "$work/b"
umoci config --image "$layout:busybox" --os linux --architecture amd64 --config.cmd sh \
  --config.env PATH=/bin
umoci tag --image "$layout:busybox" httpd
rm -rf "$work/b"
umoci unpack --image "$layout:httpd" "$work/b" >/dev/null
echo '<h1>bench</h1>' > "$work/b/rootfs/www/index.html"
umoci repack --image "$layout:httpd" "$work/b"
umoci config --image "$layout:httpd" --config.cmd httpd --config.cmd -f --config.cmd -p \
  --config.cmd 80 --config.cmd -h --config.cmd /www --config.exposedports 80/tcp
rm -rf "$work/b"

registry_start "$work/registry"
for i in busybox httpd; do
  skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$layout:$i" "docker://$REGISTRY/$i:latest"
done
bb=$REGISTRY/busybox:latest
web=$REGISTRY/httpd:latest

# berth's default network: a bridge of its own, away from berth0 and the tests' 10.213/16.
mkdir -p "$BERTH_ROOT/networks"
printf '{"bridge":"bbench0","bip":"10.214.0.1/24"}\n' > "$BERTH_ROOT/networks/default.json"
berth pull -q "$bb" >/dev/null
berth pull -q "$web" >/dev/null
$podman pull -q --tls-verify=false "$bb" >/dev/null
$podman pull -q --tls-verify=false "$web" >/dev/null

# podman runs crun, which needs hugetlb out of v2 on this hybrid host: for every row.
crun_hybrid_on

# 1. run --rm true, the image cached.
echo "container: berth run --rm $bb true" >&2
echo "container: $podman run --rm $limits $bb true" >&2
berth run --rm "$bb" true >/dev/null # warm-up (first bridge set-up, caches)
# shellcheck disable=SC2086 # $limits is a list of flags
$podman run --rm $limits "$bb" true >/dev/null
: > "$work/t-berth"; : > "$work/t-podman"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  timed berth run --rm "$bb" true >> "$work/t-berth"
  # shellcheck disable=SC2086
  timed $podman run --rm $limits "$bb" true >> "$work/t-podman"
  i=$((i + 1))
done
result run-rm-true "$(median < "$work/t-berth")" "$(median < "$work/t-podman")" podman

# 2. run --rm --network none true vs crun run of a ready bundle: the runtime's floor.
umoci unpack --image "$layout:busybox" "$work/ub" >/dev/null
true_bundle "$work/cbundle" "$work/ub/rootfs"
echo "container: $BENCH_RUNS rounds of hyperfine -N -r ${HYPER_RUNS:-5}: berth run --rm --network none $bb true | crun --root $work/crun run -b $work/cbundle hc" >&2
berth run --rm --network none "$bb" true >/dev/null # warm-up
rm -f "$work/n.1" "$work/n.2"
i=0
while [ $i -lt "$BENCH_RUNS" ]; do
  hyper "$work/n" "berth run --rm --network none $bb true" \
    "crun --root $work/crun run -b $work/cbundle hc"
  i=$((i + 1))
done
result run-rm-true-none "$(median < "$work/n.1")" "$(median < "$work/n.2")" crun

# 2. run -d -p HOST:80 httpd -> first HTTP 200 on the host port.
port=$(free_port)
url="http://127.0.0.1:$port/"
# first_200 CMD...: time from starting CMD to the first 200 at $url; prints seconds and
# leaves the container id in $work/cid.
first_200() {
  t0=$(now)
  "$@" > "$work/cid" 2>"$work/err" || { cat "$work/err" >&2; return 1; }
  n=0
  until curl -sf -o /dev/null --max-time 1 "$url"; do
    n=$((n + 1))
    [ $n -lt 20000 ] || { echo "container: no HTTP 200 at $url" >&2; return 1; }
  done
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}
echo "container: berth run -d -p $port:80 $web  (then curl $url until 200)" >&2
echo "container: $podman run -d $limits -p $port:80 $web  (then curl $url until 200)" >&2
: > "$work/h-berth"; : > "$work/h-podman"
i=-1
while [ $i -lt "$BENCH_RUNS" ]; do
  b=$(first_200 berth run -d -p "$port:80" "$web")
  berth rm -f "$(cat "$work/cid")" >/dev/null
  # shellcheck disable=SC2086
  p=$(first_200 $podman run -d $limits -p "$port:80" "$web")
  $podman rm -f -t 0 "$(cat "$work/cid")" >/dev/null
  # Round -1 is the warm-up.
  if [ $i -ge 0 ]; then echo "$b" >> "$work/h-berth"; echo "$p" >> "$work/h-podman"; fi
  i=$((i + 1))
done
result run-p-http-200 "$(median < "$work/h-berth")" "$(median < "$work/h-podman")" podman
