#!/usr/bin/env bash
# Benchmark: Sigma detection on one core over CloudTrail-shaped records, with the whole
# SigmaHQ corpus (../shared/sigma: rules, rules-emerging-threats, rules-threat-hunting)
# loaded at once and with its cloud subset. Prints events per CPU-second for matching
# alone, for matching plus building the hit documents, and for parsing JSON as well.
# Usage: bench/sigma.sh [RECORDS] [PASSES]
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-100000}"
passes="${2:-3}"
sigma="${SIGMA_DIR:-../shared/sigma}"
work="bench/work"
mkdir -p "$work"
input="$work/cloudtrail-$records.jsonl"

cargo build --release --locked -p pipectl-core --example sigma_bench >&2

if [[ ! -s "$input" ]]; then
  echo "generating $records records into $input" >&2
  python3 examples/quickstart/gen_cloudtrail.py "$records" "$input.tmp"
  mv "$input.tmp" "$input"
fi

taskset -c 0 target/release/examples/sigma_bench "$sigma" "$input" "$passes"
