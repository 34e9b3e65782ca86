#!/bin/sh
# The lint gate, run by scripts/test.sh (and so by CI) before the build: rustfmt, clippy with
# warnings as errors, and shellcheck on every shell script the repository tracks.
set -eu
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Every tracked file whose first line is a sh or bash shebang, plus the sourced bench helpers.
scripts=$(git ls-files -z | xargs -0 awk 'FNR == 1 && /^#!(\/usr)?\/bin\/(env )?(ba)?sh/ { print FILENAME } { nextfile }')
# shellcheck disable=SC2086 # one path per word; the repository's paths have no spaces
shellcheck -x $scripts bench/lib.sh
