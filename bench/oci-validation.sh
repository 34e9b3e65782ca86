#!/bin/sh
# oci-validation: the OCI runtime validation suite (opencontainers/runtime-tools
# `validation/`, 58 test binaries, pinned at commit 260e151 = runtime-spec 1.1.0) run against
# berth-spawn, runc and crun side by side, one binary at a time, each runtime with its own
# `--root`. Prints a markdown table (TAP ok / not ok per binary and runtime), a summary line
# per runtime, and RESULT lines (not ok counts and failing binaries, berth-spawn vs each peer).
#
#   bench/oci-validation.sh [-s SOURCE] [-o FILE.md] [BINARY...]
#   bench/oci-validation.sh -R RESULTS_DIR [-o FILE.md]
#
#   -s SOURCE   runtime-tools: a clone, a bare git dir, or a plain source tree of commit 260e151
#               (or RUNTIME_TOOLS=SOURCE). Needed only until the build is cached. This script
#               never downloads it: CI and this machine cannot.
#   -o FILE.md  also write the report (date, commits, command, table) to FILE.md
#   BINARY...   only these binaries (e.g. linux_devices hooks_stdin); default: all 58
#   -R DIR      no run: re-read the TAP of an earlier run (bench/out/oci-validation/results-*)
#               and print its report again
#
# Environment: BERTH_SPAWN (the berth-spawn to test; default $BERTH_BIN/berth-spawn, where BERTH_BIN
# is the shipped build when bench/run.sh runs it, else the shipped build (scripts/build-release.sh)
# or target/release if built, else target/debug), OCI_RUNTIMES (default "berth-spawn runc crun"),
# OCI_TIMEOUT (seconds per binary, default 300), OCI_CACHE (the build cache, default
# bench/out/oci-validation/cache), OCI_LOCK (a lock file held for the whole run, e.g. the machine's
# e2e lock), OCI_CGROUP_LAYOUT (hugetlb-v1, the default: on a hybrid host whose v2 hierarchy holds
# only hugetlb, bind hugetlb to v1 for the run, since crun refuses hybrid cgroups otherwise; as-is:
# leave the layout alone), OCI_STRICT=1 (exit 1 if berth-spawn fails a binary that a peer passes).
#
# Host /dev is checked before and after every binary (type, major:minor, mode, owner of
# every node on the /dev filesystem); a change is reported loudly, and null, zero, full,
# random, urandom and tty are put back (node, mode, owner) if they changed (exit status 3).
# Containers, cgroups, mounts and bundles the suite leaves are removed after every binary.
# See bench/README.md.
# peers: runc crun golang-go make
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
pin=260e151
argv="$0 $*"

if [ -z "${BERTH_BIN:-}" ]; then
  shipped=$top/target/shipped/$(rustc -vV 2>/dev/null | sed -n 's/^host: //p')/release
  BERTH_BIN=$top/target/debug
  for d in "$top/target/release" "$shipped"; do
    if [ -x "$d/berth-spawn" ]; then BERTH_BIN=$d; fi
  done
fi
# bench/run.sh sets BENCH_OUT: there a missing source skips this bench instead of failing.
under_runner=${BENCH_OUT:+1}
: "${BENCH_OUT:=$top/bench/out}"
export BERTH_BIN BENCH_OUT
# shellcheck source=bench/lib.sh disable=SC1091
. "$top/bench/lib.sh"

say() { echo "oci-validation: $*" >&2; }
field() { echo "$1" | cut -d' ' -f"$2"; }
die() { say "$*"; exit 2; }
loud() {
  {
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
    echo "!!! oci-validation: $*"
    echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  } >&2
}

source=${RUNTIME_TOOLS:-}
report_md=
reread=
while getopts s:o:R: opt; do
  case $opt in
    s) source=$OPTARG ;;
    o) report_md=$OPTARG ;;
    R) reread=$OPTARG ;;
    *) die "usage: $0 [-s RUNTIME_TOOLS_SOURCE] [-o FILE.md] [BINARY...] | -R RESULTS_DIR [-o FILE.md]" ;;
  esac
done
shift $((OPTIND - 1))

[ "$(id -u)" = 0 ] || die "run it as root (the suite creates containers, cgroups and mounts)"
runtimes=${OCI_RUNTIMES:-berth-spawn runc crun}
timeout_s=${OCI_TIMEOUT:-300}
spawn=${BERTH_SPAWN:-$BERTH_BIN/berth-spawn}
cache=${OCI_CACHE:-$BENCH_OUT/oci-validation/cache}
src=$cache/runtime-tools

# --- The suite: checked out at the pinned commit and built offline, once. ---------------

missing_source() {
  cat >&2 <<EOF
oci-validation: the runtime-tools source is missing, and this script never downloads it.
  It needs opencontainers/runtime-tools (GitHub) at commit $pin, as a clone, a bare git
  directory or a plain source tree, given once:
      RUNTIME_TOOLS=/path/to/runtime-tools $0
      $0 -s /path/to/runtime-tools
  Clone it where there is network access and copy it here. It is built offline (Go from
  Debian's golang-go, vendored modules) into $cache; after that the source is not needed.
EOF
  if [ -n "$under_runner" ]; then
    echo "NOTE oci-validation skipped: no runtime-tools source (see bench/README.md)"
    exit 0
  fi
  exit 2
}

build_suite() {
  want="$pin $(go version 2>/dev/null || echo no-go)"
  if [ -f "$cache/built" ] && [ "$(cat "$cache/built")" = "$want" ]; then
    return 0
  fi
  command -v go >/dev/null || die "go is missing (apt-get install golang-go)"
  if ! git -C "$src" rev-parse -q --verify "$pin^{commit}" >/dev/null 2>&1; then
    [ -n "$source" ] || missing_source
    [ -d "$source" ] || die "$source: no such directory (give a runtime-tools clone or source tree)"
    rm -rf "$src"
    mkdir -p "$cache"
    if git -C "$source" rev-parse --git-dir >/dev/null 2>&1; then
      say "cloning $source into $src"
      git clone -q --no-checkout "$source" "$src"
      git -C "$src" rev-parse -q --verify "$pin^{commit}" >/dev/null ||
        die "$source does not have commit $pin (fetch it there first)"
    elif [ -f "$source/Makefile" ] && [ -d "$source/validation" ] && [ -d "$source/vendor" ]; then
      say "WARNING: $source is not a git repository; its commit cannot be checked (it must be $pin)"
      cp -a "$source" "$src"
    else
      die "$source is neither a git repository nor a runtime-tools source tree"
    fi
  fi
  if [ -d "$src/.git" ]; then
    git -C "$src" -c advice.detachedHead=false checkout -q -f "$pin"
    git -C "$src" clean -q -fdx
  fi
  say "building runtime-tools $pin offline: GOFLAGS=-mod=vendor make runtimetest validation-executables"
  if ! (cd "$src" && GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local GOCACHE="$cache/go-build" \
    GOPATH="$cache/go" make runtimetest validation-executables) >"$cache/build.log" 2>&1; then
    tail -20 "$cache/build.log" >&2
    die "the build failed (log: $cache/build.log)"
  fi
  echo "$want" >"$cache/built"
}

# tap_counts FILE: "ok notok skipped plan diagnostics". Some binaries print several TAP
# streams: the plan is the sum of their plans (-1 if there is none). diagnostics counts the
# YAML blocks (the hook binaries print one, and no test line, when they fail).
tap_counts() {
  awk '
    /^ok( |$)/ || /^not ok( |$)/ {
      if (tolower($0) ~ /# (skip|todo)/) s++
      else if ($0 ~ /^ok/) p++
      else f++
    }
    /^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan += $1; planned = 1 }
    /^  ---$/ { d++ }
    END { printf "%d %d %d %d %d\n", p, f, s, planned ? plan : -1, d }' "$1"
}

# verdict COUNTS RC: a binary fails on a not ok, a non-zero exit, or a plan it did not keep.
# Without any test line (the hook binaries report only failures, as a diagnostic with a
# 1..0 plan), it passes when it printed no diagnostic.
verdict() {
  vp=$(field "$1" 1) vf=$(field "$1" 2) vs=$(field "$1" 3) vplan=$(field "$1" 4) vd=$(field "$1" 5)
  if [ "$2" = 124 ] || [ "$2" = 137 ]; then
    echo TIMEOUT
  elif [ "$vf" -gt 0 ] || [ "$2" != 0 ] || { [ "$vplan" -ge 0 ] && [ "$vplan" != $((vp + vf + vs)) ]; }; then
    echo FAIL
  elif [ $((vp + vf + vs)) = 0 ]; then
    if [ "$vd" = 0 ] && [ "$vplan" = 0 ]; then echo PASS; else echo FAIL; fi
  elif [ "$vp" = 0 ]; then
    echo SKIP
  else
    echo PASS
  fi
}

# --- Report. ----------------------------------------------------------------------------

# cell B R: the table cell for binary B and runtime R.
cell() {
  awk -F'\t' -v b="$1" -v r="$2" '$1 == b && $2 == r {
    c = $3 " " $4 "/" ($4 + $5)
    if ($6 > 0) c = c " (" $6 " skipped)"
    if ($8 != 0 && $3 != "TIMEOUT") c = c " exit " $8
    print c }' "$results/summary.tsv"
}
status_of() { awk -F'\t' -v b="$1" -v r="$2" '$1 == b && $2 == r { print $3 }' "$results/summary.tsv"; }
failed() { case $(status_of "$1" "$2") in FAIL | TIMEOUT) return 0 ;; esac; return 1; }

# note B: "berth-spawn fails, PEER passes" when it does.
note() {
  echo " $runtimes " | grep -q " berth-spawn " || return 0
  failed "$1" berth-spawn || return 0
  for r in $runtimes; do
    [ "$r" = berth-spawn ] && continue
    if [ "$(status_of "$1" "$r")" = PASS ]; then
      echo "berth-spawn fails, $r passes"
      return 0
    fi
  done
}

table() {
  printf '| binary |'
  for r in $runtimes; do printf ' %s |' "$r"; done
  printf ' note |\n| --- |'
  for r in $runtimes; do printf ' --- |'; done
  printf ' --- |\n'
  for b in $binaries; do
    printf '| %s |' "$b"
    for r in $runtimes; do printf ' %s |' "$(cell "$b" "$r")"; done
    printf ' %s |\n' "$(note "$b")"
  done
}

# totals R: "ok notok skipped failing-binaries binaries containers-left".
totals() {
  awk -F'\t' -v r="$1" '$2 == r {
      p += $4; f += $5; s += $6; n++
      if ($3 == "FAIL" || $3 == "TIMEOUT") bad++
      left += $10
    } END { printf "%d %d %d %d %d %d\n", p, f, s, bad, n, left }' "$results/summary.tsv"
}
# report: the table, the summary lines and the RESULT lines of $results; -o's file.
report() {
  tbl=$(table)
  berth_only=$(for b in $binaries; do [ -z "$(note "$b")" ] || echo "$b"; done)
  {
    echo "$tbl"
    echo
    echo "Cells: PASS/FAIL/SKIP/TIMEOUT, TAP ok / (ok + not ok), skipped TAP lines, and the binary's exit"
    echo "status when not 0. A binary fails on any not ok, a non-zero exit, or a plan it did not"
    echo "keep. The hook binaries (hooks, prestart, poststart, poststop and their _fail forms) print"
    echo "no test line: they pass with a bare 1..0 plan and fail with a diagnostic (FAIL 0/0)."
    echo
    for r in $runtimes; do
      t=$(totals "$r")
      printf -- '- **%s**: %s TAP ok, %s not ok, %s skipped; %s of %s binaries failing; %s containers left behind by the suite (removed)\n' \
        "$r" "$(field "$t" 1)" "$(field "$t" 2)" "$(field "$t" 3)" "$(field "$t" 4)" "$(field "$t" 5)" "$(field "$t" 6)"
    done
    if [ -n "$berth_only" ]; then
      echo
      echo "berth-spawn fails $(echo "$berth_only" | wc -w) binaries that a peer passes: $(echo "$berth_only" | tr '\n' ' ')"
    fi
    if [ -n "$dev_changed" ]; then
      echo
      echo "**HOST /dev CHANGED**:$dev_changed"
    fi
  } >"$results/table.md"
  cat "$results/table.md"

  if [ -n "$report_md" ]; then
    {
      echo "# OCI runtime validation suite: $(echo "$runtimes" | sed 's/ *$//; s/ /, /g')"
      echo
      cat "$results/meta.md" 2>/dev/null || echo "- (no meta.md in $results)"
    if [ -n "$reread" ]; then echo "- verdicts re-read from the TAP with: \`$argv\`"; fi
      echo
      cat "$results/table.md"
    } >"$report_md"
    say "report written to $report_md"
  fi

  # RESULT lines: berth-spawn against each peer (bench/run.sh collects them).
  if echo " $runtimes " | grep -q " berth-spawn "; then
    t=$(totals berth-spawn)
    for r in $runtimes; do
      [ "$r" = berth-spawn ] && continue
      u=$(totals "$r")
      for k in 2:oci-tap-not-ok 4:oci-binaries-failing; do
        a=$(field "$t" "${k%%:*}")
        b=$(field "$u" "${k%%:*}")
        printf 'RESULT %s %s %s %s %s\n' "${k#*:}" "$a" "$b" \
          "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "-"; else printf "%.2f\n", a / b }')" "$r"
      done
    done
  fi

  if [ -n "$dev_changed" ]; then
    loud "host /dev changed during:$dev_changed (see above; evidence in $results)"
    return 3
  fi
  if [ "${OCI_STRICT:-0}" = 1 ] && [ -n "$berth_only" ]; then return 1; fi
  return 0
}

if [ -n "$reread" ]; then
  # -R: the rows of an earlier run, verdicts made again from its TAP.
  results=$reread
  [ -f "$results/summary.tsv" ] || die "$results has no summary.tsv (give a bench/out/oci-validation/results-* directory)"
  runtimes=$(cut -f2 "$results/summary.tsv" | awk '!seen[$0]++' | tr '\n' ' ')
  binaries=$(cut -f1 "$results/summary.tsv" | awk '!seen[$0]++' | tr '\n' ' ')
  dev_changed=$(cat "$results/dev-changed" 2>/dev/null || true)
  while IFS="$(printf '\t')" read -r b r _ _ _ _ _ rc secs left cgs; do
    counts=$(tap_counts "$results/$r/$b.tap")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$r" "$(verdict "$counts" "$rc")" \
      "$(field "$counts" 1)" "$(field "$counts" 2)" "$(field "$counts" 3)" "$(field "$counts" 4)" \
      "$rc" "$secs" "$left" "$cgs"
  done <"$results/summary.tsv" >"$results/summary.tsv.new"
  mv "$results/summary.tsv.new" "$results/summary.tsv"
  report
  exit $?
fi

build_suite
all=$(cd "$src/validation" && for d in */; do d=${d%/}; if [ -x "$d/$d.t" ]; then echo "$d"; fi; done)
if [ $# -gt 0 ]; then
  for b in "$@"; do
    echo "$all" | grep -qx "$b" || die "no such validation binary: $b (see $src/validation/)"
  done
  binaries=$*
else
  binaries=$all
fi
for r in $runtimes; do
  case $r in
    berth-spawn) [ -x "$spawn" ] || die "$spawn is missing: cargo build --release (or set BERTH_SPAWN)" ;;
    *) command -v "$r" >/dev/null || die "$r is not installed (apt-get install $r)" ;;
  esac
done

if [ -n "${OCI_LOCK:-}" ]; then
  exec 8>"$OCI_LOCK"
  say "waiting for the lock $OCI_LOCK"
  flock 8
fi
# One run at a time on the machine: the suite's absolute cgroup path (/cgrouptest) is shared.
exec 9>/run/lock/berth-oci-validation.lock
flock -n 9 || die "another oci-validation run is going on (/run/lock/berth-oci-validation.lock)"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
results=$BENCH_OUT/oci-validation/results-$stamp
work=$(mktemp -d /tmp/oci-validation.XXXXXX)
# The bundles (under $work/tmp) must be reachable by a container's mapped root, as under
# /tmp: the directory is traversable, the runtimes' state dirs are not.
chmod 711 "$work"
mkdir -p "$results" "$work/bin"
mkdir -m 1777 "$work/tmp"
ln -sfn "results-$stamp" "$BENCH_OUT/oci-validation/latest"
: >"$results/summary.tsv"
dev_changed=
moved_hugetlb=
for n in null zero full random urandom tty; do
  echo "$n $(stat -c '%F %t:%T %a %u:%g' "/dev/$n")"
done >"$work/dev-critical"
if grep -qv " character special file " "$work/dev-critical"; then
  rm -rf "$work"
  die "host /dev is already damaged: $(grep -v ' character special file ' "$work/dev-critical" | tr '\n' ' ')"
fi

# --- Runtimes: a wrapper each, with its own --root. -------------------------------------

for r in $runtimes; do
  mkdir -m 700 "$work/root-$r"
  case $r in
    berth-spawn)
      mkdir -m 700 "$work/berth-root"
      printf '#!/bin/sh\nexec env BERTH_ROOT=%s BERTH_CGROUP_PARENT=/berth-oci-validation %s --root %s "$@"\n' \
        "$work/berth-root" "$spawn" "$work/root-$r" >"$work/bin/$r" ;;
    *)
      printf '#!/bin/sh\nexec %s --root %s "$@"\n' "$(command -v "$r")" "$work/root-$r" >"$work/bin/$r" ;;
  esac
  chmod 755 "$work/bin/$r"
done

# --- Host state: /dev, cgroups, mounts. -------------------------------------------------

# dev_snapshot: every node on the /dev filesystem: path, type, major:minor (hex), mode, owner;
# and where symlinks point.
dev_snapshot() {
  find /dev -xdev -print0 2>/dev/null | xargs -0 stat -c '%n %F %t:%T %a %u:%g' 2>/dev/null | sort
  find /dev -xdev -type l -printf '%p -> %l\n' 2>/dev/null | sort
}

# dev_critical NAME RT: checks the nodes every process relies on (type, major:minor, mode,
# owner), against what they were when the run began; puts back any that changed.
dev_critical() {
  for spec in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    n=${spec%%:*}
    mm=${spec#*:}
    want_hex=$(printf '%x:%x' "${mm%:*}" "${mm#*:}")
    got=$(stat -c '%F %t:%T %a %u:%g' "/dev/$n" 2>/dev/null || echo missing)
    was=$(grep "^$n " "$work/dev-critical" | cut -d' ' -f2-)
    [ "$got" = "$was" ] && continue
    loud "HOST /dev/$n CHANGED during $1 ($2): it is now: $got (it was: $was)"
    ev=$results/evidence-dev-$n-$1-$2
    stat "/dev/$n" >"$ev.stat" 2>&1 || true
    cat "$ev.stat" >&2
    if [ -f "/dev/$n" ]; then cp "/dev/$n" "$ev"; fi
    mode=$(echo "$was" | awk '{ print $(NF-1) }')
    owner=$(echo "$was" | awk '{ print $NF }')
    case $got in
      "character special file $want_hex "*) ;;
      *)
        rm -rf "/dev/${n:?}"
        mknod "/dev/$n" c "${mm%:*}" "${mm#*:}" ;;
    esac
    chmod "$mode" "/dev/$n"
    chown "$owner" "/dev/$n"
    say "/dev/$n put back: $(stat -c '%F %t:%T %a %u:%g' "/dev/$n") (evidence kept in $results)"
    dev_changed="$dev_changed $1($2):/dev/$n"
    echo " $1($2):/dev/$n" >>"$results/dev-changed"
  done
}

mount_points() { awk '{ print $5 }' /proc/self/mountinfo | sort -u; }

cgroup_mounts() { awk '$9 == "cgroup" || $9 == "cgroup2" { print $5 }' /proc/self/mountinfo; }

# The cgroups the suite and the runtimes make: the suite's /cgrouptest and relative
# testdir/cgrouptest/container, and per-container cgroups named by the suite's UUID container
# ids (runc's and crun's default path, and berth-spawn's under /berth-oci-validation, which
# goes at the end).
suite_cgroups() {
  for m in $(cgroup_mounts); do
    find "$m" -mindepth 1 -maxdepth 6 -regextype posix-extended -type d \( -name cgrouptest \
      -o -regex '.*/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' \) \
      -prune -print 2>/dev/null
  done
}

# remove_cgroup DIR: thaws, kills what is inside, removes the tree (deepest first).
remove_cgroup() {
  find "$1" -depth -type d 2>/dev/null | while read -r d; do
    [ -f "$d/freezer.state" ] && echo THAWED >"$d/freezer.state" 2>/dev/null
    [ -f "$d/cgroup.freeze" ] && echo 0 >"$d/cgroup.freeze" 2>/dev/null
    while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done <"$d/cgroup.procs" 2>/dev/null
  done
  i=0
  while [ -d "$1" ] && [ $i -lt 50 ]; do
    find "$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
    [ -d "$1" ] || break
    i=$((i + 1))
    sleep 0.1
  done
  [ ! -d "$1" ] || say "WARNING: cannot remove cgroup $1"
  # The suite's relative path is testdir/cgrouptest/container: testdir goes too, if empty.
  [ "$(basename "$(dirname "$1")")" != testdir ] || rmdir "$(dirname "$1")" 2>/dev/null || true
}

# clean_runtime RT: deletes every container RT still knows, then the suite's cgroups,
# mounts and bundles. Prints how many containers and cgroups were left.
clean_runtime() {
  left=0
  for id in $("$work/bin/$1" list -q 2>/dev/null); do
    left=$((left + 1))
    "$work/bin/$1" kill "$id" KILL >/dev/null 2>&1 || true
    "$work/bin/$1" delete --force "$id" >/dev/null 2>&1 || true
  done
  cg=0
  for d in $(suite_cgroups); do
    cg=$((cg + 1))
    remove_cgroup "$d"
  done
  mount_points | awk -v w="$work" 'index($0, w "/") == 1' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$work/tmp" "$work/root-$1"/* 2>/dev/null || true
  mkdir -m 1777 "$work/tmp"
  echo "$left $cg"
}

hugetlb_to_v1() {
  [ "${OCI_CGROUP_LAYOUT:-hugetlb-v1}" = hugetlb-v1 ] || return 0
  v2=/sys/fs/cgroup/unified/cgroup.controllers
  [ -f "$v2" ] || return 0
  ctrls=$(cat "$v2")
  if [ -z "$ctrls" ]; then
    if awk '$1 == "hugetlb" && $2 != 0 { f = 1 } END { exit !f }' /proc/cgroups &&
      ! grep -q " /sys/fs/cgroup/hugetlb " /proc/self/mounts; then
      say "WARNING: hugetlb is in an unmounted v1 hierarchy: the hugetlb binaries cannot pass"
    fi
    return 0
  fi
  if [ "$ctrls" != hugetlb ] || grep -q " /sys/fs/cgroup/hugetlb " /proc/self/mounts; then
    say "the v2 hierarchy holds '$ctrls': crun will refuse this hybrid layout"
    return 0
  fi
  say "binding hugetlb to v1 for the run (crun refuses hybrid cgroups while v2 holds a controller)"
  # The kernel moves a controller only while no v2 cgroup below the root enables it, and
  # berth-spawn enables hugetlb down a container's v2 path for its hugepageLimits: disable it
  # again, deepest first (it comes back on demand).
  find /sys/fs/cgroup/unified -depth -name cgroup.subtree_control | while read -r f; do
    if grep -qw hugetlb "$f"; then echo -hugetlb >"$f"; fi
  done
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
  moved_hugetlb=1
}

# shellcheck disable=SC2317 # called from the traps
hugetlb_back() {
  [ -n "$moved_hugetlb" ] || return 0
  find /sys/fs/cgroup/hugetlb -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
  if ! umount /sys/fs/cgroup/hugetlb; then
    say "WARNING: cannot give hugetlb back to v2 (umount /sys/fs/cgroup/hugetlb failed)"
    return 0
  fi
  rmdir /sys/fs/cgroup/hugetlb
  moved_hugetlb=
  # The kernel destroys an unmounted v1 hierarchy lazily, and until then hugetlb is in
  # neither hierarchy; mounting and unmounting it again lets it go.
  i=0
  until grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers; do
    i=$((i + 1))
    if [ $i -gt 120 ]; then
      say "WARNING: hugetlb is not back in the v2 hierarchy after a minute (see /proc/cgroups)"
      return 0
    fi
    sleep 0.5
    [ $((i % 10)) = 0 ] || continue
    mkdir -p /sys/fs/cgroup/hugetlb
    if mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb; then umount /sys/fs/cgroup/hugetlb; fi
    rmdir /sys/fs/cgroup/hugetlb
  done
}

# shellcheck disable=SC2317 # called from the traps
cleanup() {
  for r in $runtimes; do clean_runtime "$r" >/dev/null; done
  for m in $(cgroup_mounts); do
    [ ! -d "$m/berth-oci-validation" ] || remove_cgroup "$m/berth-oci-validation"
  done
  hugetlb_back
  mount_points | awk -v w="$work" 'index($0, w "/") == 1' | sort -r | xargs -r umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hugetlb_to_v1
kind=$(case $spawn in */release/*) echo release ;; */debug/*) echo debug ;; *) echo "custom" ;; esac)
commit=$(git -C "$top" rev-parse --short HEAD)
git -C "$top" diff --quiet HEAD -- lib tools 2>/dev/null || commit="$commit (lib or tools modified)"
{
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- berth commit: $commit; berth-spawn: the $kind build ($spawn)"
  echo "- suite: opencontainers/runtime-tools $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "$pin") (runtime-spec 1.1.0), built with $(go version | cut -d' ' -f3)"
  for r in $runtimes; do
    case $r in berth-spawn) ;; *) echo "- $r: $("$r" --version | head -1)" ;; esac
  done
  echo "- host: kernel $(uname -r), cgroups $(if [ -d /sys/fs/cgroup/unified ]; then echo hybrid; elif [ -f /sys/fs/cgroup/cgroup.controllers ]; then echo v2; else echo v1; fi)$(if [ -n "$moved_hugetlb" ]; then echo ", hugetlb bound to v1 for the run (OCI_CGROUP_LAYOUT=hugetlb-v1)"; fi)"
  echo "- command: \`$(env | grep -E '^(OCI_[A-Z_]*|BERTH_SPAWN|RUNTIME_TOOLS)=' | tr '\n' ' ')$argv\`"
} >"$results/meta.md"

# --- Running. ---------------------------------------------------------------------------

run_one() {
  b=$1
  r=$2
  out=$results/$r/$b
  mkdir -p "$results/$r"
  dev_snapshot >"$out.dev-before"
  mount_points >"$out.mounts-before"
  t0=$(now)
  rc=0
  (cd "$src" && RUNTIME="$work/bin/$r" TMPDIR="$work/tmp" timeout -k 10 "$timeout_s" \
    "./validation/$b/$b.t") >"$out.tap" 2>"$out.err" </dev/null || rc=$?
  secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  # The nodes every process writes to are checked first: a redirection to a /dev/null that
  # became a regular file would truncate the evidence.
  dev_critical "$b" "$r"
  counts=$(clean_runtime "$r")
  left=${counts% *}
  cgs=${counts#* }
  dev_critical "$b" "$r"
  dev_snapshot >"$out.dev-after"
  if cmp -s "$out.dev-before" "$out.dev-after"; then
    rm -f "$out.dev-before" "$out.dev-after"
  else
    loud "host /dev changed while $b ran against $r (the machine is shared: check the diff)"
    diff "$out.dev-before" "$out.dev-after" >&2 || true
    dev_changed="$dev_changed $b($r):diff"
    echo " $b($r):diff" >>"$results/dev-changed"
  fi
  mount_points >"$out.mounts-after"
  comm -13 "$out.mounts-before" "$out.mounts-after" | grep -v "^$work/" |
    sed "s|^|oci-validation: NOTE: new host mount during $b ($r): |" >&2 || true
  rm -f "$out.mounts-before" "$out.mounts-after"
  counts=$(tap_counts "$out.tap")
  status=$(verdict "$counts" "$rc")
  p=$(field "$counts" 1)
  f=$(field "$counts" 2)
  s=$(field "$counts" 3)
  plan=$(field "$counts" 4)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$b" "$r" "$status" "$p" "$f" "$s" "$plan" "$rc" "$secs" "$left" "$cgs" >>"$results/summary.tsv"
  say "$(printf '%-34s %-12s %-7s ok %4s  not ok %3s  skip %3s  exit %3s  %6ss  left: %s containers, %s cgroups' "$b" "$r" "$status" "$p" "$f" "$s" "$rc" "$secs" "$left" "$cgs")"
}

say "berth-spawn: $spawn ($(case $spawn in */release/*) echo release ;; */debug/*) echo debug ;; *) echo custom ;; esac) build)"
say "runtimes: $runtimes; results in $results"
for b in $binaries; do
  for r in $runtimes; do run_one "$b" "$r"; done
done

report
