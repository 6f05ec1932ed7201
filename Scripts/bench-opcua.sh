#!/usr/bin/env bash
# OPC UA benchmark: the release `sinter-opcua serve` pinned to core 0, the release client
# (`sinter-opcua bench`) on core 1: 100x100 Float matrix writes per second and the
# write -> data-change notification latency. Table on stdout, JSON in Benchmarks/Results.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release/sinter-opcua
OUT=Benchmarks/Results
mkdir -p "$OUT"
LOG=$(mktemp)
taskset -c 0 "$BIN" serve --listen opc.tcp://127.0.0.1:0 --printers dmls-01 --duration 600 >"$LOG" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
	URL=$(grep -m1 '^listening ' "$LOG" | cut -d' ' -f2 || true)
	[ -n "$URL" ] && break
	sleep 0.1
done
[ -n "${URL:-}" ] || { echo "server did not start:"; cat "$LOG"; exit 1; }
echo "server on core 0 at $URL; client on core 1"
taskset -c 1 "$BIN" bench "$URL" --printer dmls-01 --json "$OUT/opcua-bench.json" ${OPCUA_BENCH_FLAGS:-}
