#!/usr/bin/env bash
# Benchmark: runs the benchmark pipelines over CloudTrail-shaped records on one core and
# on two, and prints events/s, MB/s and peak memory. Checks the output counts against
# an independent count of the input. Usage: bench/pipeline.sh [RECORDS]
# (PIPECTL_BIN=path runs that binary instead of building this tree).
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-1000000}"
work="bench/work"
mkdir -p "$work"
input="$work/cloudtrail-$records.jsonl"

# PIPECTL_BIN runs a given binary (an A/B against another build); otherwise the
# release build of this tree, in CARGO_TARGET_DIR when set.
if [[ -n "${PIPECTL_BIN:-}" ]]; then
  bin="$PIPECTL_BIN"
else
  cargo build --release --locked -p pipectl >&2
  bin="${CARGO_TARGET_DIR:-target}/release/pipectl"
fi

if [[ ! -s "$input" ]]; then
  echo "generating $records records into $input" >&2
  python3 examples/quickstart/gen_cloudtrail.py "$records" "$input.tmp"
  mv "$input.tmp" "$input"
fi
bytes=$(stat -c %s "$input")

# Independent expectation: write calls (readOnly false), and those from outside 10/8.
read -r expect_writes expect_external < <(python3 - "$input" <<'PY'
import json, sys
writes = external = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        if r["readOnly"] is False:
            writes += 1
            if not r["sourceIPAddress"].startswith("10."):
                external += 1
print(writes, external)
PY
)

printf "%-14s %5s %12s %10s %9s %10s %8s\n" pipeline cores events/s MB/s seconds maxRSS_MiB check
for pipeline in parse_filter full; do
  for cores in 1 2; do
    out="$work/out-$pipeline-$cores.ndjson"
    rm -f "$out" "$work/time.txt"
    cpus=$([[ $cores == 1 ]] && echo 0 || echo 0,1)
    start=$(date +%s.%N)
    BENCH_INPUT="$input" BENCH_OUTPUT="$out" /usr/bin/time -f "%M" -o "$work/time.txt" \
      taskset -c "$cpus" "$bin" --log warn run --threads "$cores" \
      --data-dir "$work/data-$pipeline-$cores" "bench/pipelines/$pipeline.pipe" 2>"$work/run.log" \
      || { cat "$work/run.log" >&2; exit 1; }
    end=$(date +%s.%N)
    rss_kib=$(tail -1 "$work/time.txt")
    lines=$(wc -l < "$out")
    expected=$([[ $pipeline == parse_filter ]] && echo "$expect_writes" || echo "$expect_external")
    check=$([[ $lines == "$expected" ]] && echo ok || echo "FAIL($lines!=$expected)")
    awk -v p="$pipeline" -v c="$cores" -v n="$records" -v b="$bytes" -v s="$start" -v e="$end" \
      -v r="$rss_kib" -v k="$check" 'BEGIN {
        t = e - s; printf "%-14s %5d %12.0f %10.1f %9.2f %10.1f %8s\n", p, c, n / t, b / t / 1048576, t, r / 1024, k }'
    rm -rf "$work/data-$pipeline-$cores"
  done
done
