#!/bin/sh
# shellcheck disable=SC2086 # podman and its flags live in one word-split variable (no arrays in sh)
# spawn: `berth-spawn run` vs `crun run` vs `runc run` of /bin/true on the same busybox
# bundle: 20 rounds ($SPAWN_RUNS), each a hyperfine of the three in turn ($HYPER_RUNS runs,
# default 5); the median of the rounds' medians, and ratios. Target: berth-spawn <= 0.6x crun.
# Then the resident memory of berth's monitor (berth-monitor, built static) against Podman's
# conmon, each holding one detached `sleep` container. Target: <= 1 MiB.
#
# crun refuses hybrid cgroups while the v2 hierarchy holds a controller; for this bench only,
# hugetlb is bound to v1 (and given back afterwards if the bench moved it).
# peers: crun runc podman conmon busybox-static umoci hyperfine
set -eu
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
runs=${SPAWN_RUNS:-20}
work="$BENCH_OUT/spawn"
rm -rf "$work"
mkdir -p "$work/bin"
podman_cid=
berth_cid=
# berth-spawn's cgroups under the bench's own parent, which the clean-up removes (not the
# default /berth, which would be left behind).
export BERTH_CGROUP_PARENT=/berth-bench

# The monitor as shipped (scripts/build-monitor.sh: static, optimised for size).
echo "spawn: building berth-monitor static" >&2
monitor=$("$(dirname "$0")/../scripts/build-monitor.sh" "$BENCH_OUT/spawn-monitor-target")
cp "$BERTH_BIN/berth-spawn" "$work/bin/"
cp "$monitor" "$work/bin/"
spawn="$work/bin/berth-spawn"

podman_opts="--root $work/proot --runroot $work/prun --tmpdir $work/ptmp --cgroup-manager=cgroupfs --storage-driver=vfs --events-backend=file"
cleanup() {
  for r in berth crun runc; do
    for d in "$work/root-$r"/*; do
      [ -e "$d" ] || continue
      id=${d##*/}
      case $r in
        berth) "$spawn" --root "$work/root-$r" delete --force "$id" >/dev/null 2>&1 || true ;;
        *) "$r" --root "$work/root-$r" delete --force "$id" >/dev/null 2>&1 || true ;;
      esac
    done
  done
  [ -z "$berth_cid" ] || BERTH_ROOT=$work/broot BERTH_RUN_ROOT=$work/brun "$spawn" delete --force "$berth_cid" >/dev/null 2>&1 || true
  [ -z "$podman_cid" ] || podman $podman_opts --runtime "$spawn" --runtime-flag "root=$work/prt" rm -f "$podman_cid" >/dev/null 2>&1 || true
  # podman's cgroups under --cgroup-parent (libpod-<id>, conmon) outlive `podman rm`, and
  # conmon may still be on its way out of them: retried for up to 5 s.
  k=0
  while [ $k -lt 50 ] && ls -d /sys/fs/cgroup/*/berth-bench >/dev/null 2>&1; do
    for c in /sys/fs/cgroup/*/berth-bench; do
      if [ -d "$c" ]; then find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
    done
    k=$((k + 1))
    if ls -d /sys/fs/cgroup/*/berth-bench >/dev/null 2>&1; then sleep 0.1; fi
  done
  awk -v w="$work" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r umount -l 2>/dev/null || true
  crun_hybrid_off
}
trap cleanup EXIT INT TERM

crun_hybrid_on

# The bundle: busybox-static in a rootfs, runc's default config running /bin/true.
b="$work/bundle"
mkdir -p "$b/rootfs/bin" "$b/rootfs/proc" "$b/rootfs/dev" "$b/rootfs/sys" "$b/rootfs/tmp"
cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
for a in true sh sleep; do ln -s busybox "$b/rootfs/bin/$a"; done
(cd "$b" && runc spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/"sh"$/"\/bin\/true"/' "$b/config.json"

# hyperfine per round (the three runtimes in turn, $HYPER_RUNS runs each); `run` deletes the
# container when it exits, so each runtime reuses one id.
echo "spawn: $runs rounds of hyperfine -N -r ${HYPER_RUNS:-5} over {berth-spawn,crun,runc} --root DIR run -b $b ID" >&2
for _ in $(seq 1 "$runs"); do
  hyper "$work/t" "$spawn --root $work/root-berth run -b $b hb" \
    "crun --root $work/root-crun run -b $b hc" "runc --root $work/root-runc run -b $b hr"
done
mv "$work/t.1" "$work/t-berth"
mv "$work/t.2" "$work/t-crun"
mv "$work/t.3" "$work/t-runc"
mb=$(median <"$work/t-berth")
mc=$(median <"$work/t-crun")
mr=$(median <"$work/t-runc")
echo "spawn: medians: berth-spawn ${mb}s crun ${mc}s runc ${mr}s (crun/runc $(ratio "$mc" "$mr"))" >&2
result spawn-run-true "$mb" "$mc" crun
result spawn-run-true "$mb" "$mr" runc

# Monitor RSS. A berth container record around a copy of the bundle, started detached.
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# settled PID NAME: waits until PID runs the executable NAME (the monitor is forked by
# berth-spawn, then execs) and its RSS has stopped changing (it is in its loop).
settled() {
  k=0
  until [ "$(basename "$(readlink "/proc/$1/exe" 2>/dev/null)")" = "$2" ]; do
    k=$((k + 1)); [ $k -lt 500 ] || { echo "spawn: pid $1 never ran $2" >&2; exit 1; }
    sleep 0.01
  done
  prev=0
  while [ "$(rss "$1")" != "$prev" ]; do prev=$(rss "$1"); sleep 0.2; done
}
berth_cid=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cd_="$work/broot/containers/$berth_cid"
mkdir -p "$cd_" "$work/broot/names"
cp -a "$b/rootfs" "$cd_/rootfs"
sed -e 's/"\/bin\/true"/"sleep", "1000"/' "$b/config.json" >"$cd_/config.json"
printf '%s' "$berth_cid" >"$work/broot/names/bench"
printf '{"berth":1,"id":"%s","name":"bench","bundle":{"path":"%s","rootfs":"%s/rootfs","driver":"dir","config":{}}}\n' \
  "$berth_cid" "$cd_" "$cd_" >"$cd_/record.json"
BERTH_ROOT=$work/broot BERTH_RUN_ROOT=$work/brun "$spawn" start -d - <"$cd_/record.json" >/dev/null
mon=$(sed -n 's/.*"monitor_pid": *\([0-9]*\).*/\1/p' "$cd_/record.json")
settled "$mon" berth-monitor
berth_rss=$(rss "$mon")
priv=$(awk '/^Private_(Clean|Dirty)/ { s += $2 } END { print s }' "/proc/$mon/smaps")
echo "spawn: berth-monitor VmRSS ${berth_rss} KiB, private ${priv} KiB ($(file -b "$work/bin/berth-monitor" | cut -d, -f2,4))" >&2

fixture=
for f in "$(cd "$(dirname "$0")/.." && pwd)"/target/berth-fixtures/v*; do
  if [ -d "$f" ]; then fixture=$f; fi
done
if [ -z "$fixture" ]; then
  umoci init --layout "$work/layout"
  umoci new --image "$work/layout:busybox"
  umoci unpack --image "$work/layout:busybox" "$work/ub" >/dev/null
  mkdir -p "$work/ub/rootfs/bin" && cp "$(command -v busybox)" "$work/ub/rootfs/bin/" && ln -s busybox "$work/ub/rootfs/bin/sleep"
  umoci repack --image "$work/layout:busybox" "$work/ub"
  fixture="$work/layout"
fi
image=$(podman $podman_opts pull -q "oci:$fixture:busybox")
podman_cid=$(podman $podman_opts --runtime "$spawn" --runtime-flag "root=$work/prt" run -d --network none --cgroup-parent /berth-bench "$image" sleep 1000)
conmon=$(pgrep -f "conmon.*$podman_cid" | head -1)
settled "$conmon" conmon
conmon_rss=$(rss "$conmon")
cpriv=$(awk '/^Private_(Clean|Dirty)/ { s += $2 } END { print s }' "/proc/$conmon/smaps")
echo "spawn: conmon VmRSS ${conmon_rss} KiB, private ${cpriv} KiB" >&2
printf 'RESULT monitor-rss-kib %s %s %s conmon\n' "$berth_rss" "$conmon_rss" "$(ratio "$berth_rss" "$conmon_rss")"
