#!/usr/bin/env bash
# Edge gateway benchmark: sinter-server and sinter-edge (release builds from BIN_DIR, default
# .build/release) on loopback, then Scripts/bench_edge.py measures
#  - frames/s through the edge (OPC UA in, HTTP out): `sinter-sim --opcua --dmls N --speed max`
#    into the edge, divided by the time until the server holds every frame;
#  - the latency a device write gains on its way to a stored record: an asyncua client writes a
#    whole dmls-01 sample every 100 ms and waits for it on the server's live stream (p50/p90/p99/max).
# Table on stdout, JSON in Benchmarks/Results/edge-bench.json.
#
# Knobs (environment): BIN_DIR, PYTHON (.venv/bin/python), EDGE_BENCH_PRINTERS (10),
# EDGE_BENCH_SIM_SECONDS (999: 1000 samples per printer), EDGE_BENCH_LATENCY_SAMPLES (200),
# EDGE_BENCH_INTERVAL_MS (100), EDGE_BENCH_JSON (Benchmarks/Results/edge-bench.json),
# EDGE_BENCH_FLAGS (extra sinter-edge flags, e.g. "--average 1 --batch 128").
set -euo pipefail
cd "$(dirname "$0")/.."
BIN_DIR=${BIN_DIR:-.build/release}
PYTHON=${PYTHON:-.venv/bin/python}
PRINTERS=${EDGE_BENCH_PRINTERS:-10}
SIM_SECONDS=${EDGE_BENCH_SIM_SECONDS:-999}
LATENCY_SAMPLES=${EDGE_BENCH_LATENCY_SAMPLES:-200}
INTERVAL_MS=${EDGE_BENCH_INTERVAL_MS:-100}
JSON=${EDGE_BENCH_JSON:-Benchmarks/Results/edge-bench.json}
BUILD=$(basename "$BIN_DIR")

for binary in sinter-server sinter-edge sinter-sim; do
	[ -x "$BIN_DIR/$binary" ] || { echo "no $BIN_DIR/$binary: swift build -c release --product $binary (or set BIN_DIR)" >&2; exit 1; }
done
[ -x "$PYTHON" ] || { echo "no $PYTHON: make venv (or set PYTHON)" >&2; exit 1; }
mkdir -p "$(dirname "$JSON")"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sinter-bench-edge.XXXXXX")
SERVER_PID=""
EDGE_PID=""
cleanup() {
	for pid in $EDGE_PID $SERVER_PID; do kill "$pid" 2>/dev/null || true; done
	for pid in $EDGE_PID $SERVER_PID; do
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$WORK"
}
trap cleanup EXIT

# wait_for PID FILE REGEX SECONDS: prints the first line of FILE matching REGEX; fails when PID
# exits first or after SECONDS.
wait_for() {
	local line
	for _ in $(seq 1 $(($4 * 10))); do
		line=$(grep -m1 -E "$3" "$2" || true)
		[ -n "$line" ] && { echo "$line"; return 0; }
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

"$BIN_DIR/sinter-server" --data "$WORK/data" --host 127.0.0.1 --port 0 --log-level warning \
	>"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
LINE=$(wait_for "$SERVER_PID" "$WORK/server.out" '^sinter-server listening on ' 60) || { echo "server did not start:"; cat "$WORK/server.err"; exit 1; }
SERVER_URL=$(echo "$LINE" | grep -oE 'http://127\.0\.0\.1:[0-9]+')

PRINTER_LIST=$(for i in $(seq 1 "$PRINTERS"); do printf 'dmls-%02d,' "$i"; done)
PRINTER_LIST=${PRINTER_LIST%,}
# shellcheck disable=SC2086
"$BIN_DIR/sinter-edge" --listen opc.tcp://127.0.0.1:0 --printers "$PRINTER_LIST" --server "$SERVER_URL" \
	--spool "$WORK/spool" --status-file "$WORK/edge-status.json" --report-every 5 --log-level warning \
	${EDGE_BENCH_FLAGS:-} >"$WORK/edge.out" 2>"$WORK/edge.err" &
EDGE_PID=$!
LINE=$(wait_for "$EDGE_PID" "$WORK/edge.out" '^sinter-edge: OPC UA on ' 60) || { echo "edge did not start:"; cat "$WORK/edge.err"; exit 1; }
EDGE_URL=$(echo "$LINE" | grep -oE 'opc\.tcp://127\.0\.0\.1:[0-9]+')
echo "server $SERVER_URL, edge $EDGE_URL ($PRINTERS printers), $BUILD build, $(nproc) cores" >&2

STATUS=0
"$PYTHON" Scripts/bench_edge.py --server "$SERVER_URL" --edge "$EDGE_URL" --edge-status "$WORK/edge-status.json" \
	--sim "$BIN_DIR/sinter-sim" --printers "$PRINTERS" --sim-seconds "$SIM_SECONDS" \
	--latency-samples "$LATENCY_SAMPLES" --interval-ms "$INTERVAL_MS" --build "$BUILD" --json "$JSON" || STATUS=$?
if [ "$STATUS" -ne 0 ]; then
	echo "--- edge stderr (tail)"; tail -20 "$WORK/edge.err"
	echo "--- server stderr (tail)"; tail -20 "$WORK/server.err"
fi

# Both must stop cleanly on SIGTERM.
for name in edge server; do
	pid=$([ $name = edge ] && echo "$EDGE_PID" || echo "$SERVER_PID")
	kill -TERM "$pid"
	if ! timeout 30 tail --pid="$pid" -f /dev/null; then echo "$name still running 30 s after SIGTERM" >&2; STATUS=1; fi
	wait "$pid" || { code=$?; echo "$name exited with status $code after SIGTERM" >&2; STATUS=1; }
	[ $name = edge ] && EDGE_PID="" || SERVER_PID=""
done
exit "$STATUS"
