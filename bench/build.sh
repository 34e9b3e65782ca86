#!/bin/sh
# build: `berth build` vs `podman build` (buildah), the same Dockerfiles and contexts, the
# same busybox image (built once with umoci; podman pulls it from the OCI layout, berth loads
# the docker-archive skopeo makes of it), alternating, median of $BENCH_RUNS runs (default 7):
#
#   build-cold       a 14-step multi-stage Dockerfile (RUN, COPY, COPY --from, ADD of a local
#                    tar.gz, WORKDIR, ENV, LABEL, CMD), `--no-cache`. Target: <= 0.5x podman.
#   build-cached     the same Dockerfile again, every step from the cache. Target: <= 0.1x.
#   build-ctx10k     `FROM busybox` + `COPY . /ctx/` over a context of $BUILD_FILES (default
#                    10000) small files in 100 directories, `--no-cache`. Target: <= 0.5x.
#
# BUILD_CASES picks the rows (default "cold cached ctx10k"), e.g. BUILD_CASES=ctx10k.
#
# Both engines run RUN with `--network none` (no traffic, no host bridge), as root, each
# with a private store: podman with its own root/runroot (overlay storage, cgroupfs, no
# events, runc: crun refuses this host's hybrid cgroups), berth with its own BERTH_ROOT
# (overlay). Each timed build tags the result; podman's
# dangling images are removed between rounds, outside the timing.
# peers: podman buildah umoci skopeo busybox-static
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"

top=$(cd "$(dirname "$0")/.." && pwd)
# Lower case: podman names an image pulled from oci:DIR after DIR.
work="$BENCH_OUT/build"
layout="$work/layout"
nfiles=${BUILD_FILES:-10000}
export BERTH_ROOT="$work/root" BERTH_RUN_ROOT="$work/run"
export CONTAINERS_CONF=/dev/null CONTAINERS_REGISTRIES_CONF=/dev/null
# `berth` is the dispatcher a user types; it and berth-run come from tools/run.
PATH="$BERTH_BIN:$top/tools/run:$PATH"
podman="podman --root $work/proot --runroot $work/prun --tmpdir $work/ptmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend none --runtime runc"

cleanup() {
  set +e
  $podman rmi -a -f >/dev/null 2>&1
  awk -v w="$work" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r umount -l 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
cleanup
mkdir -p "$work"

echo "build: berth binaries from $BERTH_BIN" >&2
case $BERTH_BIN in
  */debug) echo "NOTE build: berth's debug binaries ($BERTH_BIN), not the release build" ;;
esac

# The base image, built with umoci: busybox with its applet links.
echo "build: building the busybox image (umoci)" >&2
umoci init --layout "$layout"
umoci new --image "$layout:busybox"
umoci unpack --image "$layout:busybox" "$work/b" >/dev/null
mkdir -p "$work/b/rootfs/bin" "$work/b/rootfs/tmp" "$work/b/rootfs/etc"
cp "$(command -v busybox)" "$work/b/rootfs/bin/busybox"
for a in $("$work/b/rootfs/bin/busybox" --list); do
  [ -e "$work/b/rootfs/bin/$a" ] || ln -s busybox "$work/b/rootfs/bin/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$work/b/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$work/b/rootfs/etc/group"
umoci repack --image "$layout:busybox" "$work/b"
umoci config --image "$layout:busybox" --os linux --architecture amd64 --config.cmd sh \
  --config.env PATH=/bin
rm -rf "$work/b"
skopeo --insecure-policy copy -q "oci:$layout:busybox" "docker-archive:$work/bb.tar:busybox:latest"
berth load -q -i "$work/bb.tar" >/dev/null
$podman pull -q "oci:$layout:busybox" >/dev/null
$podman tag "$($podman images -q | head -1)" docker.io/library/busybox:latest

# The multi-stage context: sources, a tar.gz for ADD, a config file.
ms="$work/multistage"
mkdir -p "$ms/src/lib" "$ms/pkg/share"
i=0
while [ $i -lt 50 ]; do
  printf 'source file %d\n' "$i" > "$ms/src/f$i.txt"
  printf 'lib %d\n' "$i" > "$ms/src/lib/l$i.txt"
  printf 'data %d\n' "$i" > "$ms/pkg/share/d$i"
  i=$((i + 1))
done
tar -C "$ms/pkg" -czf "$ms/pkg.tar.gz" share
rm -rf "$ms/pkg"
printf 'key=value\n' > "$ms/app.conf"
cat > "$ms/Dockerfile" <<'EOF'
FROM busybox AS build
WORKDIR /src
COPY src/ ./
RUN mkdir -p /out && cat *.txt lib/*.txt > /out/all.txt && wc -l < /out/all.txt > /out/count
ADD pkg.tar.gz /opt/
RUN ls /opt/share | sort > /out/share.list && sha256sum /out/all.txt > /out/sum

FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY --from=build /out ./
COPY app.conf /etc/app.conf
RUN echo "built in $MODE" > built && chmod 0644 built
LABEL org.example.bench=build
CMD ["cat", "/app/built"]
EOF

# The 10,000-file context.
big="$work/ctx10k"
mkdir -p "$big"
d=0
while [ $d -lt 100 ]; do
  mkdir -p "$big/d$d"
  d=$((d + 1))
done
awk -v n="$nfiles" -v dir="$big" 'BEGIN {
  for (i = 0; i < n; i++) { f = sprintf("%s/d%d/f%d", dir, i % 100, i); print "file " i > f; close(f) }
}'
printf 'FROM busybox\nCOPY . /ctx/\n' > "$big/Dockerfile"

bb() { berth build -q --network none "$@"; }
pb() { $podman build -q --pull=never --network none "$@"; }
# A round's podman clean-up (not timed): the dangling images the last build replaced.
pclean() { $podman image prune -f >/dev/null 2>&1 || true; }

# bench NAME TAG CONTEXT FLAGS...: $BENCH_RUNS alternating builds, then the RESULT line.
bench() {
  name=$1 tag=$2 ctx=$3
  shift 3
  echo "build: berth build -q --network none $* -t $tag $ctx" >&2
  echo "build: $podman build -q --pull=never --network none $* -t $tag $ctx" >&2
  # Warm-up (and, for the cached row, the build that fills the cache).
  bb "$@" -t "$tag" "$ctx" >/dev/null
  pb "$@" -t "$tag" "$ctx" >/dev/null
  pclean
  : > "$work/$name-berth"; : > "$work/$name-podman"
  i=0
  while [ $i -lt "$BENCH_RUNS" ]; do
    timed bb "$@" -t "$tag" "$ctx" >> "$work/$name-berth" || exit 1
    timed pb "$@" -t "$tag" "$ctx" >> "$work/$name-podman" || exit 1
    pclean
    i=$((i + 1))
  done
  result "$name" "$(median < "$work/$name-berth")" "$(median < "$work/$name-podman")" podman
}

for c in ${BUILD_CASES:-cold cached ctx10k}; do
  case $c in
    cold) bench build-cold bench/ms:cold "$ms" --no-cache ;;
    cached) bench build-cached bench/ms:cached "$ms" ;;
    ctx10k) bench build-ctx10k bench/ctx:10k "$big" --no-cache ;;
    *) echo "build: unknown case $c in BUILD_CASES (cold, cached, ctx10k)" >&2; exit 2 ;;
  esac
done
