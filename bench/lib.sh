# Helpers for bench/<name>.sh scripts (sourced). POSIX sh.
# shellcheck shell=sh

: "${BERTH_BIN:?run benches through bench/run.sh}"
: "${BENCH_OUT:?run benches through bench/run.sh}"
: "${BENCH_RUNS:=7}"

# now: seconds since the epoch with nanoseconds.
now() { date +%s.%N; }

# timed CMD...: runs CMD (output discarded), prints its wall time in seconds.
timed() {
  t0=$(now)
  "$@" >/dev/null 2>&1 || { echo "bench: command failed: $*" >&2; return 1; }
  t1=$(now)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

# hyper OUT CMD...: hyperfine (no shell, one warm-up, $HYPER_RUNS runs, default 5) on each
# CMD in turn, and appends each command's median seconds to OUT.1, OUT.2, ... For commands of
# a few milliseconds, where the forks of `timed` would weigh as much as the command. Call it
# once per round so that rounds alternate between berth and its peers.
hyper() {
  out=$1
  shift
  hyperfine -N --style none -w 1 -r "${HYPER_RUNS:-5}" --export-json "$out.json" "$@" \
    >/dev/null 2>&1 || { echo "bench: hyperfine failed on: $*" >&2; return 1; }
  awk -F': ' -v o="$out" '/"median"/ { gsub(/[ ,]/, "", $2); n++; print $2 >> (o "." n) }' "$out.json"
}

# median: reads numbers on stdin, prints the median.
median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ratio A B: A / B with 2 decimals.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f\n", a / b }'; }

# result NAME BERTH_S PEER_S PEER_NAME: the line bench/run.sh summarises.
result() {
  printf 'RESULT %s %.3f %.3f %s %s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")" "$4"
}

# free_port: a port that was free a moment ago on 127.0.0.1.
free_port() {
  while :; do
    p=$(awk 'BEGIN { srand(); print 20000 + int(rand() * 30000) }')
    ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
}

# registry_start DIR: runs docker-registry with storage in DIR on a free loopback port; sets
# REGISTRY (host:port) and REGISTRY_PID. Stop it with registry_stop.
registry_start() {
  mkdir -p "$1/storage"
  port=$(free_port)
  cat > "$1/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1/storage
http:
  addr: 127.0.0.1:$port
YAML
  docker-registry serve "$1/config.yml" >"$1/registry.log" 2>&1 &
  REGISTRY_PID=$!
  REGISTRY=127.0.0.1:$port
  i=0
  until curl -sf "http://$REGISTRY/v2/" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 200 ] || { echo "bench: registry did not start" >&2; cat "$1/registry.log" >&2; return 1; }
    sleep 0.05
  done
}

registry_stop() {
  if [ -n "${REGISTRY_PID:-}" ]; then
    kill "$REGISTRY_PID" 2>/dev/null || true
    wait "$REGISTRY_PID" 2>/dev/null || true
  fi
  REGISTRY_PID=
}

# crun_hybrid_on: crun refuses a hybrid host while its v2 hierarchy holds a controller. On
# such a host whose v2 hierarchy holds only hugetlb (ours), binds hugetlb to v1 for the bench
# (berth and crun then see the same layout), first taking it out of every v2
# cgroup.subtree_control that enables it (berth's parents enable it for their containers),
# deepest first as the kernel requires; crun_hybrid_off puts it back at the root (berth
# enables it below at need) after removing the empty v1 cgroups the bench made.
crun_hybrid_on() {
  u=/sys/fs/cgroup/unified
  if [ -d $u ] && ! grep -q " /sys/fs/cgroup/hugetlb " /proc/self/mounts; then
    if grep -qw hugetlb $u/cgroup.subtree_control; then
      find $u -name cgroup.subtree_control | awk -F/ '{ print NF, $0 }' | sort -rn |
        cut -d' ' -f2- | while read -r f; do
          grep -qw hugetlb "$f" || continue
          echo "bench: for crun: echo -hugetlb > $f" >&2
          echo -hugetlb > "$f" || exit 1
        done ||
        { echo "bench: a v2 cgroup uses hugetlb: crun cannot run on this host now" >&2; return 1; }
      CRUN_HUGETLB_SUBTREE=1
    fi
    echo "bench: for crun: mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb" >&2
    mkdir -p /sys/fs/cgroup/hugetlb
    mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    CRUN_MOVED_HUGETLB=1
  fi
}

crun_hybrid_off() {
  if [ -n "${CRUN_MOVED_HUGETLB:-}" ]; then
    # The v1 cgroups made meanwhile (berth's parents): an unmounted hierarchy with cgroups
    # left would keep hugetlb from v2.
    find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
    # The kernel frees an unmounted hierarchy a few seconds later; one unmounted while its
    # removed cgroups still went offline lingers: mount it again and unmount it once more.
    umount /sys/fs/cgroup/hugetlb 2>/dev/null || true
    for try in 1 2; do
      n=0
      while [ $n -lt 50 ] && ! grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; do
        sleep 0.2
        n=$((n + 1))
      done
      grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers && break
      [ $try = 1 ] && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb 2>/dev/null &&
        umount /sys/fs/cgroup/hugetlb
    done
    rmdir /sys/fs/cgroup/hugetlb 2>/dev/null || true
    CRUN_MOVED_HUGETLB=
  fi
  if [ -n "${CRUN_HUGETLB_SUBTREE:-}" ]; then
    # Refused while the kernel still holds the v1 hierarchy: said, not left silently undone.
    echo +hugetlb > /sys/fs/cgroup/unified/cgroup.subtree_control 2>/dev/null ||
      echo "bench: hugetlb is not back in the v2 hierarchy yet; once the kernel has freed the v1 one: echo +hugetlb > /sys/fs/cgroup/unified/cgroup.subtree_control" >&2
    CRUN_HUGETLB_SUBTREE=
  fi
}

# CNI's plugins (podman's network backend on Debian 12, and bench/netns.sh's own bridge and
# portmap) leave their top-level chains and podman's bridge cni-podman0 behind after their last
# container, as Docker leaves DOCKER-* and docker0. cni_chains_mark notes whether the host had
# any before the bench; cni_chains_clean then removes what the bench left (the bridge; jumps
# first, then rules, then chains) only if it had none, so a host's own podman keeps its own.
cni_chains_mark() {
  CNI_HAD=$(iptables-save 2>/dev/null | grep -c '^:CNI-' || true)
  ip link show cni-podman0 >/dev/null 2>&1 && CNI_HAD=$((CNI_HAD + 1))
  return 0
}
cni_chains_clean() {
  [ "${CNI_HAD:-1}" = 0 ] || return 0
  ip link del cni-podman0 2>/dev/null || true
  for t in nat filter; do
    iptables-save -t $t | awk '/^-A [A-Z]+ .*-j CNI-/ && !/^-A CNI-/ {sub("^-A ","-D "); print}' |
      while read -r rule; do eval "iptables -t $t $rule" 2>/dev/null || true; done
    for op in -F -X; do
      for c in $(iptables-save -t $t | awk -F'[: ]' '/^:CNI-/ {print $2}'); do
        iptables -t $t $op "$c" 2>/dev/null || true
      done
    done
  done
}

# true_bundle DIR ROOTFS: an OCI bundle in DIR whose rootfs is a copy of ROOTFS (busybox),
# with runc's default config.json running `true` (no terminal).
true_bundle() {
  mkdir -p "$1"
  cp -a "$2" "$1/rootfs"
  (cd "$1" && rm -f config.json && runc spec)
  sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"true"/' "$1/config.json"
}
