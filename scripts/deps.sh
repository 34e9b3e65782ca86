#!/bin/sh
# Installs the Debian 12 packages berth's build, tests and benchmarks need. Idempotent.
set -eu
PACKAGES="
  build-essential pkg-config
  busybox-static
  docker-registry apache2-utils openssl curl
  skopeo umoci
  runc crun podman conmon containerd libseccomp-dev
  iproute2 iptables containernetworking-plugins
  procps psmisc util-linux
  shellcheck
"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
# docker-registry's Debian package starts a system registry on :5000; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
command -v cargo >/dev/null || { echo "deps: cargo is missing: install Rust (https://rustup.rs) and retry" >&2; exit 1; }
