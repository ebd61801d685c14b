#!/usr/bin/env bash
# Benchmark: the events/s `sink opensearch` delivers to a local OpenSearch node, beside
# the rate of a plain, tuned bulk loop sending the same documents (the node's own limit
# on this machine). For each workload the loop's batch size, concurrency and compression
# are swept first; its best setting is the reference. Then the loop and the sink run
# ROUNDS times each, interleaved, and the best of each is reported (the machine is
# shared, so single runs are noisy), with the CPU pipectl itself used per event.
#
# Workloads, both from the quickstart's CloudTrail generator (about 1.3 KB a record):
#   ecs  events shaped as pipectl writes them (docs/schema.md: ECS fields, the record
#        under `aws.cloudtrail`, `event.id` set): what a node indexes in production.
#   raw  the raw records, into the same template, where almost nothing matches the
#        mapping: the node does little per document, so the client's CPU counts most.
#
# Usage: bench/opensearch.sh [RECORDS] [SWEEP_RECORDS] [ROUNDS]
#   defaults: 300000 documents per measured run, 100000 per sweep run, 3 rounds.
# Environment: OPENSEARCH_HEAP (default 1g) for the node it starts; KEEP_NODE=1 leaves it
# running; PIPECTL_BIN uses that binary instead of building target/release/pipectl.
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-300000}"
sweep_records="${2:-100000}"
rounds="${3:-3}"
work="bench/work"
mkdir -p "$work"

if [[ -n "${PIPECTL_BIN:-}" ]]; then
  bin="$PIPECTL_BIN"
else
  cargo build --release --locked -p pipectl >&2
  bin="target/release/pipectl"
fi

raw="$work/cloudtrail-$records.jsonl"
if [[ ! -s "$raw" ]]; then
  echo "generating $records records into $raw" >&2
  python3 examples/quickstart/gen_cloudtrail.py "$records" "$raw.tmp"
  mv "$raw.tmp" "$raw"
fi
ecs="$work/ecs-$records.jsonl"
if [[ ! -s "$ecs" ]]; then
  echo "shaping them as pipectl events into $ecs" >&2
  python3 bench/ecs_events.py "$raw" "$ecs.tmp"
  mv "$ecs.tmp" "$ecs"
fi

node_dir="$work/opensearch-node"
rm -rf "$node_dir"
if [[ "${KEEP_NODE:-}" != 1 ]]; then
  trap 'deploy/opensearch/node.sh stop --dir "$node_dir" >&2 || true' EXIT
fi
url=$(deploy/opensearch/node.sh start --port 0 --dir "$node_dir")
echo "node: $url (heap ${OPENSEARCH_HEAP:-1g})" >&2
"$bin" opensearch setup --url "$url" >&2

# Removes the benchmark's indices and lets the node settle between runs.
clean() {
  curl -s -X DELETE "$url/pipectl-events-bench*" >/dev/null
  sleep 3
}

landed() {
  curl -s -X POST "$url/pipectl-events-bench*/_refresh" >/dev/null
  curl -s "$url/pipectl-events-bench*/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}

# The first LIMIT lines of FILE, as a file.
head_of() {
  local file=$1 limit=$2 out
  out="${file%.jsonl}-head-$limit.jsonl"
  [[ -s $out ]] || head -n "$limit" "$file" >"$out"
  echo "$out"
}

# loop FILE TIME_FIELD BATCH CONCURRENCY GZIP(0|1) -> "events/s retried failed"
loop() {
  local flag=""
  [[ $5 == 1 ]] && flag="--gzip"
  clean
  python3 bench/opensearch_loop.py "$url" "$1" pipectl-events-bench --time-field "$2" \
    --batch "$3" --concurrency "$4" $flag \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["docs_per_s"], r["retried_requests"], r["failed_requests"])'
}

# sink FILE TIMESTAMP_ATTRIBUTE EXTRA_ATTRIBUTES -> "events/s cpu_us_per_event"
sink() {
  local file=$1 n
  n=$(wc -l <"$file")
  clean
  cat >"$work/opensearch.pipe" <<EOF
pipeline "bench" {
  source file "input" {
    path = "$file"
  }
  transform parse "decode" {
    inputs = [input]
    codec  = "json"
  }
  sink opensearch "out" {
    inputs = [decode]
    endpoint = "$url"
    index = "pipectl-events-bench-%Y.%m.%d"
    $2
    $3
  }
}
EOF
  rm -rf "$work/opensearch-data"
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/opensearch-time.txt" \
    "$bin" --log warn run --data-dir "$work/opensearch-data" "$work/opensearch.pipe" 2>"$work/opensearch-run.log" \
    || { cat "$work/opensearch-run.log" >&2; exit 1; }
  end=$(date +%s.%N)
  local got
  got=$(landed)
  [[ $got == "$n" ]] || { echo "sink delivered $got of $n documents" >&2; exit 1; }
  read -r user sys <"$work/opensearch-time.txt"
  awk -v n="$n" -v s="$start" -v e="$end" -v u="$user" -v y="$sys" \
    'BEGIN { printf "%.0f %.1f\n", n / (e - s), 1e6 * (u + y) / n }'
}

max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }

# workload NAME FILE TIME_FIELD TIMESTAMP_ATTRIBUTE
workload() {
  local name=$1 file=$2 time_field=$3 ts_attr=$4
  local sweep_file best_rate=0 best="" rate retries failed
  sweep_file=$(head_of "$file" "$sweep_records")
  echo "== $name: sweeping the loop on $sweep_records documents" >&2
  loop "$sweep_file" "$time_field" 2000 4 0 >/dev/null # warm-up
  printf "%-8s %-6s %-5s %10s %8s\n" batch conc gzip events/s retries >&2
  for gz in 0 1; do
    for batch in 1000 2500 5000; do
      for conc in 2 4 8; do
        read -r rate retries failed < <(loop "$sweep_file" "$time_field" "$batch" "$conc" "$gz")
        printf "%-8s %-6s %-5s %10s %8s\n" "$batch" "$conc" "$gz" "$rate" "$retries" >&2
        [[ $failed == 0 ]] || { echo "loop: $failed requests failed" >&2; exit 1; }
        if (( rate > best_rate )); then best_rate=$rate best="$batch $conc $gz"; fi
      done
    done
  done
  local lb lc lg
  read -r lb lc lg <<<"$best"
  echo "== $name: best loop setting: batch $lb, concurrency $lc, gzip $lg; $rounds rounds of $records documents" >&2
  local loop_best=0 gzip_best=0 gzip_cpu="" none_best=0 none_cpu="" s c
  for ((r = 1; r <= rounds; r++)); do
    read -r rate _ _ < <(loop "$file" "$time_field" "$lb" "$lc" "$lg")
    loop_best=$(max "$loop_best" "$rate")
    read -r s c < <(sink "$file" "$ts_attr" "")
    if (( s > gzip_best )); then gzip_best=$s gzip_cpu=$c; fi
    read -r s c < <(sink "$file" "$ts_attr" 'compression = "none"')
    if (( s > none_best )); then none_best=$s none_cpu=$c; fi
    echo "   round $r: loop $rate, sink gzip $gzip_best, sink none $none_best (best so far)" >&2
  done
  printf "%-5s %-44s %10s %8s %14s\n" "$name" "bulk loop (batch $lb, concurrency $lc, gzip $lg)" "$loop_best" "100%" "-"
  printf "%-5s %-44s %10s %8s %14s\n" "$name" "sink opensearch, defaults (gzip)" "$gzip_best" "$(pct "$gzip_best" "$loop_best")" "$gzip_cpu"
  printf "%-5s %-44s %10s %8s %14s\n" "$name" "sink opensearch, compression = \"none\"" "$none_best" "$(pct "$none_best" "$loop_best")" "$none_cpu"
}

{
  printf "%-5s %-44s %10s %8s %14s\n" load run events/s of-loop "cpu_us/event"
  workload ecs "$ecs" "@timestamp" ""
  workload raw "$raw" "eventTime" "timestamp_field = eventTime"
} | tee "$work/opensearch-results.txt"
clean
