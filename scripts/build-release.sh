#!/bin/sh
# Builds berth's tools as shipped (scripts/install.sh installs them, bench/run.sh measures them)
# and prints the directory they are in: release, linked static against glibc (`crt-static`,
# a static-pie: ASLR stays) with libseccomp linked in.
# Why static: the stages are small, short-lived processes, and a `run` execs six of them, so
# their start-up is much of what a run costs. A static-pie maps no shared library and binds no
# symbol at exec; berth-spawn's `--version` takes 1.06 ms of CPU static against 1.65 ms
# dynamic, and a `run --rm --network none` 26.0 ms against 27.7 ms (medians of 64, hyperfine;
# DESIGN.md "Fast by design"). glibc's name service (getaddrinfo for a registry's host name)
# still loads its modules at run time, from the glibc the tools were built against: build
# where they run, as install.sh does.
# `--target` keeps crt-static away from build scripts and proc macros.
# Usage: scripts/build-release.sh [TARGET_DIR]   (default: target/shipped)
set -eu
cd "$(dirname "$0")/.."
dir=${1:-target/shipped}
triple=$(rustc -vV | sed -n 's/^host: //p')
# libseccomp-sys looks for the static library only where it is told (libseccomp-dev's).
seccomp_a=$(gcc -print-file-name=libseccomp.a)
[ -f "$seccomp_a" ] || { echo "build-release.sh: no libseccomp.a (install libseccomp-dev)" >&2; exit 1; }
LIBSECCOMP_LINK_TYPE=static LIBSECCOMP_LIB_PATH=$(dirname "$seccomp_a") RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --workspace --release --bins --quiet --target "$triple" --target-dir "$dir"
echo "$dir/$triple/release"
