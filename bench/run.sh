#!/bin/sh
# Runs berth's benchmarks side by side with their peers and prints the ratios.
#
#   bench/run.sh [NAME...]     run bench/NAME.sh for each NAME (default: every bench)
#
# Builds berth as shipped (scripts/build-release.sh) and copies its tools into bench/out/bin as
# scripts/install.sh does, installs the Debian packages each bench declares on a
# `# peers: pkg...` line, then runs the benches one after another. See bench/README.md.
set -eu
cd "$(dirname "$0")/.."
top=$PWD

if [ $# -eq 0 ]; then
  set --
  for f in bench/*.sh; do
    n=$(basename "$f" .sh)
    case "$n" in run|lib) continue ;; esac
    set -- "$@" "$n"
  done
fi

peers=""
for n in "$@"; do
  [ -f "bench/$n.sh" ] || { echo "bench: no such benchmark: $n (see bench/*.sh)" >&2; exit 4; }
  peers="$peers $(sed -n 's/^# peers: *//p' "bench/$n.sh")"
done
missing=""
for p in $peers; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "bench: installing peers:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/dev/null
fi

echo "bench: building berth as shipped (scripts/build-release.sh: release, static)" >&2
built="$top/$(./scripts/build-release.sh)"
export BENCH_OUT="$top/bench/out"
# The tools copied as scripts/install.sh installs them, not run where the linker wrote them:
# the two sit differently in the page cache (README.md, "Which binaries").
BERTH_BIN="$BENCH_OUT/bin"
export BERTH_BIN
rm -rf "$BERTH_BIN"
mkdir -p "$BERTH_BIN"
for exe in "$built"/berth-*; do
  if [ -f "$exe" ] && [ -x "$exe" ]; then install -m 0755 "$exe" "$BERTH_BIN/"; fi
done
results="$BENCH_OUT/results.txt"
: > "$results"

status=0
for n in "$@"; do
  echo "bench: == $n ==" >&2
  # Not `sh ... | tee`: a pipeline's status is tee's, and a failed bench must show.
  if ! sh "bench/$n.sh" > "$BENCH_OUT/$n.out"; then
    echo "bench: $n failed" >&2
    status=1
  fi
  cat "$BENCH_OUT/$n.out"
  cat "$BENCH_OUT/$n.out" >> "$results"
done

echo
echo "Summary (berth / peer wall time; < 1 means berth is faster):"
grep '^RESULT' "$results" | while read -r _ name berth peer ratio peer_name; do
  printf '  %-12s berth %8s s   %-8s %8s s   ratio %s\n' "$name" "$berth" "$peer_name" "$peer" "$ratio"
done
exit $status
