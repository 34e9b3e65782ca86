#!/bin/sh
# Installs shell completions (bash, zsh, fish) and man pages for every berth tool, generated
# from the tools' own clap definitions: each Rust tool prints them when run with
# BERTH_GENERATE (berth::cli::main), and berth-ctl prints those of the two scripts (berth,
# berth-run).
#
#   scripts/install-docs.sh BINDIR PREFIX
#
# BINDIR holds the built tools; the files go under PREFIX/share (bash-completion, zsh
# site-functions, fish vendor_completions.d, man/man1), where the shells and man look.
set -eu
bindir=$1
prefix=$2
bash_dir=$prefix/share/bash-completion/completions
zsh_dir=$prefix/share/zsh/site-functions
fish_dir=$prefix/share/fish/vendor_completions.d
man_dir=$prefix/share/man/man1
mkdir -p "$bash_dir" "$zsh_dir" "$fish_dir" "$man_dir"

# gen NAME COMMAND...: NAME's completions and man pages, from COMMAND run with $what.
for exe in "$bindir"/berth-*; do
  name=${exe##*/}
  # The scripts (berth-run) are described by berth-ctl below; the monitor and berth-init
  # (run by berth-spawn only) have no CLI.
  case $name in berth-run | berth-monitor | berth-init | *.d | *.rlib) continue ;; esac
  if [ ! -f "$exe" ] || [ ! -x "$exe" ]; then continue; fi
  BERTH_GENERATE=bash "$exe" >"$bash_dir/$name"
  BERTH_GENERATE=zsh "$exe" >"$zsh_dir/_$name"
  BERTH_GENERATE=fish "$exe" >"$fish_dir/$name.fish"
  BERTH_GENERATE="man:$man_dir" "$exe"
done
for script in berth berth-run; do
  "$bindir/berth-ctl" generate "$script" bash >"$bash_dir/$script"
  "$bindir/berth-ctl" generate "$script" zsh >"$zsh_dir/_$script"
  "$bindir/berth-ctl" generate "$script" fish >"$fish_dir/$script.fish"
  "$bindir/berth-ctl" generate "$script" "man:$man_dir"
done
echo "berth: completions and man pages installed under $prefix/share" >&2
