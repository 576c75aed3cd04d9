#!/usr/bin/env bash
# Times the README's first command as a new user runs it: a fresh clone, a new virtualenv,
# `pip install -e .` (no pip cache, no local wheel directory) and `gruponos demo`.
# Prints the install and the demo time separately; the README states what this printed.
# Usage: scripts/time-readme-demo.sh [python3]
set -euo pipefail
python=${1:-python3}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone --quiet "$repo" "$work/gruponos"
cd "$work/gruponos"
export PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
start=$(date +%s.%N)
"$python" -m venv .venv
.venv/bin/pip install --quiet -e . >/dev/null
installed=$(date +%s.%N)
.venv/bin/gruponos demo >demo.out 2>demo.err
done=$(date +%s.%N)
grep -q "demo finished in" demo.out
awk -v s="$start" -v i="$installed" -v d="$done" \
  'BEGIN { printf "install (venv + pip install -e .): %.1f s\ndemo (gruponos demo): %.1f s\ntotal: %.1f s\n", i - s, d - i, d - s }'
