#!/usr/bin/env bash
# make bench: every benchmark, each printing ratios against its reference
# measured in the same run.
set -euo pipefail
build=${1:-build}
"$build/bin/crib-bench" --benchmark_min_time=0.2
