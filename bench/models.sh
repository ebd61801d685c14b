#!/usr/bin/env bash
# Throughput (events/s on one core) and state per entity of `model behaviour`:
# synthetic events over 100,000 entities with five features (two novelty, volume,
# count, distinct). Arguments: [events] [entities] (default 2000000 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p pipectl-models --example bench
exe="${CARGO_TARGET_DIR:-target}/release/examples/bench"
if command -v taskset >/dev/null; then
  exec taskset -c 0 "$exe" "$@"
fi
exec "$exe" "$@"
