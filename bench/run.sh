#!/usr/bin/env bash
# make bench: every benchmark, each printing ratios against its reference
# measured in the same run. Layers add bin/crib-bench-<name> executables.
set -euo pipefail
build=${1:-build}
"$build/bin/crib-bench" --benchmark_min_time=0.2
for bench in "$build"/bin/crib-bench-*; do
  [ -x "$bench" ] || continue
  echo "== $(basename "$bench")"
  "$bench"
done
