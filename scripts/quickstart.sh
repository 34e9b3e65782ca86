#!/bin/sh
# Installs berth and runs its main job on this machine, offline.
#
# Until containers run, the main job is a pull from a registry: this script builds a busybox
# image from the host's busybox-static (umoci), serves it from a temporary local
# docker-registry on 127.0.0.1 (pushed with skopeo), and berth-pulls it as `busybox:latest` into
# the default store (/var/lib/berth), using that registry as the docker.io mirror. Nothing leaves
# the machine (BERTH_REGISTRY_LOOPBACK_ONLY).
set -eu
cd "$(dirname "$0")/.."
./scripts/install.sh
PATH="${PREFIX:-/usr/local}/bin:$PATH"

work=$(mktemp -d /tmp/berth-quickstart.XXXXXX)
reg_pid=""
cleanup() {
  if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "quickstart: building a busybox image with umoci" >&2
umoci init --layout "$work/layout"
umoci new --image "$work/layout:busybox"
umoci unpack --image "$work/layout:busybox" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/etc" "$work/bundle/rootfs/tmp"
cp "$(command -v busybox)" "$work/bundle/rootfs/bin/busybox"
for applet in $("$work/bundle/rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$work/bundle/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/bundle/rootfs/etc/passwd"
echo "root:x:0:" > "$work/bundle/rootfs/etc/group"
umoci repack --image "$work/layout:busybox" "$work/bundle"
umoci config --image "$work/layout:busybox" --os linux --architecture amd64 \
  --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

while :; do
  port=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 30000) }')
  ss -Hltn "sport = :$port" | grep -q . || break
done
mkdir -p "$work/storage"
cat > "$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:$port
YAML
echo "quickstart: starting a local registry on 127.0.0.1:$port" >&2
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
i=0
until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 200 ] || { cat "$work/registry.log" >&2; echo "quickstart: the registry did not start" >&2; exit 1; }
  sleep 0.05
done
HOME="$work" skopeo --insecure-policy copy -q --dest-tls-verify=false \
  "oci:$work/layout:busybox" "docker://127.0.0.1:$port/library/busybox:latest"

echo "quickstart: berth-pull busybox (through the local mirror)" >&2
printf '{"registry-mirrors": ["http://127.0.0.1:%s"]}\n' "$port" > "$work/registries.json"
export BERTH_REGISTRIES_CONFIG="$work/registries.json" BERTH_REGISTRY_LOOPBACK_ONLY=1
berth-pull --pull=always busybox >/dev/null

kill "$reg_pid"; wait "$reg_pid" 2>/dev/null || true; reg_pid=""
echo "quickstart: registry stopped; the image stays in ${BERTH_ROOT:-/var/lib/berth}/images" >&2
# Present now: --pull=missing answers from the store, with no registry at all.
berth-pull busybox | sed 's/^/  /'
echo "quickstart: done: busybox:latest is in the store (skopeo and umoci read it too:" >&2
echo "  skopeo inspect oci:${BERTH_ROOT:-/var/lib/berth}/images:busybox:latest)" >&2
