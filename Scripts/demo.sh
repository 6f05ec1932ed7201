#!/usr/bin/env bash
# The whole Sinter pipeline on one machine (`make demo`):
#
#   sinter-sim ──OPC UA──▶ sinter-edge ──HTTP──▶ sinter-server (Storage/data) ◀── sinter-detect
#                                                   └──▶ dashboard at http://127.0.0.1:8080/
#
# Starts the four programs in that order (server first, simulator last), prints the dashboard's
# URL, and on Ctrl-C (or after --seconds) stops them in the reverse order of the data flow:
# the simulator, then the edge (which forwards what it holds), the detector, and the server
# (which flushes the store). Each one gets 30 s to exit before it is killed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: Scripts/demo.sh [options]

Runs sinter-server, sinter-edge, sinter-detect and sinter-sim together, prints the dashboard
URL, and stops everything cleanly on Ctrl-C.

Options (environment variable in brackets):
  --bin DIR          the built binaries (default .build/release) [SINTER_DEMO_BIN]
  --state DIR        where data, spool, logs and the detector's files go (default Storage) [DEMO_STATE]
                     the store is DIR/data, kept between runs; remove it to start over
  --port N           dashboard/API port on 127.0.0.1, 0 = any free port (default 8080) [DEMO_PORT]
  --opcua-port N     the edge's OPC UA port, 0 = any free port (default 4840) [DEMO_OPCUA_PORT]
  --dmls N           DMLS printers (default 3) [DEMO_DMLS]
  --fdm N            FDM printers (default 2) [DEMO_FDM]
  --seconds N        stop by itself after N seconds; 0 = run until Ctrl-C (default 0) [DEMO_SECONDS]
  --speed X          simulated seconds per wall second (default 1) [DEMO_SPEED]
  -h, --help         this text

Scheduled faults, repeated every 5 minutes (times in simulated seconds after the start,
so at --speed 1 in wall seconds; the schedule covers the --seconds run, or 24 hours at
--speed when running until Ctrl-C), so that some alert is active at almost any moment:
  +10 s   recoater jam on dmls-01 for 90 s: a vibration alert (critical) within about 5 s,
          cleared about 10 s after the jam (the jam's extra motor power, +0.6 kW while the
          laser stops, stays below the power_spike rule: no power alert)
  +70 s   filament jam on fdm-01 for 60 s: a filament_jam alert
  +130 s  hot spot on dmls-02 (dmls-01 with --dmls 1) for 175 s: a frame_hot_spot alert
The FDM printers' own cycle (idle, printing, anomaly, error: 60 s each) adds overheating and
error alerts every 4 minutes. Logs: STATE/logs/*.log; the previous run's are kept as *.log.1.
EOF
}

BIN=${SINTER_DEMO_BIN:-.build/release}
STATE=${DEMO_STATE:-Storage}
PORT=${DEMO_PORT:-8080}
OPCUA_PORT=${DEMO_OPCUA_PORT:-4840}
DMLS=${DEMO_DMLS:-3}
FDM=${DEMO_FDM:-2}
RUN_SECONDS=${DEMO_SECONDS:-0}
SPEED=${DEMO_SPEED:-1}

while [ $# -gt 0 ]; do
  case "$1" in
    --bin) BIN=$2; shift 2 ;;
    --state) STATE=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --opcua-port) OPCUA_PORT=$2; shift 2 ;;
    --dmls) DMLS=$2; shift 2 ;;
    --fdm) FDM=$2; shift 2 ;;
    --seconds) RUN_SECONDS=$2; shift 2 ;;
    --speed) SPEED=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
done
for flag in PORT OPCUA_PORT DMLS FDM RUN_SECONDS; do
  value=${!flag}
  if ! [[ $value =~ ^[0-9]+$ ]]; then
    name=$(echo "$flag" | tr 'A-Z_' 'a-z-'); [ "$name" = run-seconds ] && name=seconds
    echo "demo: --$name must be a whole number; got '$value'" >&2; exit 64
  fi
done
if [ $((DMLS + FDM)) -eq 0 ]; then echo "demo: --dmls and --fdm are both 0: nothing to simulate" >&2; exit 64; fi

for program in sinter-server sinter-edge sinter-detect sinter-sim; do
  if [ ! -x "$BIN/$program" ]; then
    echo "demo: no $BIN/$program; build first (make demo does: swift build -c release)" >&2
    exit 66
  fi
done

mkdir -p "$STATE/data" "$STATE/spool" "$STATE/logs"
LOGS="$STATE/logs"
declare -A PIDS=()
STOPPING=0

# Waits (at most $3 s) until log file $1 has a line matching extended regex $2; prints the match.
wait_for_line() {
  local file=$1 pattern=$2 limit=$3 name=$4 pid=$5 waited=0 line
  while [ "$waited" -lt $((limit * 10)) ]; do
    if line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null); then echo "$line"; return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name exited during start-up; its log ($file) ends with:" >&2
      tail -n 15 "$file" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  echo "demo: $name did not start within $limit s; see $file" >&2
  return 1
}

# Stops one child: SIGTERM, then up to 30 s for it to exit, then SIGKILL.
stop_child() {
  local name=$1 pid=${PIDS[$1]:-}
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: $name did not stop within 30 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  local status=0
  wait "$pid" 2>/dev/null || status=$?
  unset "PIDS[$name]"
  echo "demo: $name stopped (exit status $status)"
}

summary() {
  [ -n "${URL:-}" ] || return 0
  python3 - "$URL" <<'EOF' || true
import json, sys, urllib.request
base = sys.argv[1]
try:
    machines = json.load(urllib.request.urlopen(base + "/api/v1/machines", timeout=5))["machines"]
    alerts = json.load(urllib.request.urlopen(base + "/api/v1/alerts?limit=1000", timeout=5))["alerts"]
except Exception as error:  # the server may be gone already
    print(f"demo: no summary ({error})")
    sys.exit(0)
print("demo: records stored: " + ", ".join(f"{m['id']} {m['record_count']}" for m in machines))
active = sum(1 for a in alerts if a["active"])
print(f"demo: alerts: {len(alerts)} raised, {active} still active")
EOF
}

shutdown() {
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  # Whatever happened to our terminal or pipe (a Ctrl-C also ends a `| tee`), the children are
  # stopped: writes to a closed output must not end this script first.
  trap '' PIPE INT TERM
  echo
  echo "demo: stopping (simulator, edge, detector, then server)…"
  summary
  stop_child sinter-sim
  stop_child sinter-edge
  stop_child sinter-detect
  stop_child sinter-server
  echo "demo: stopped; the store stays in $STATE/data"
}
trap 'shutdown; exit 0' INT
trap 'shutdown; exit 143' TERM
trap 'shutdown' EXIT

# The previous run's log of each program is kept as NAME.log.1 (one generation), so a restart
# does not erase what happened before it.
rotate_log() {
  local log="$LOGS/$1.log"
  if [ -s "$log" ]; then mv -f "$log" "$log.1"; fi
  : > "$log"
}

# Each child runs in its own session, so a Ctrl-C reaches only this script, which stops them in order.
start_child() {
  local name=$1; shift
  rotate_log "$name"
  setsid "$BIN/$name" "$@" > "$LOGS/$name.log" 2>&1 < /dev/null &
  PIDS[$name]=$!
}

start_child sinter-server --data "$STATE/data" --host 127.0.0.1 --port "$PORT"
line=$(wait_for_line "$LOGS/sinter-server.log" '^sinter-server listening on http://' 60 sinter-server "${PIDS[sinter-server]}")
URL=$(echo "$line" | sed -E 's/^sinter-server listening on (http:\/\/[^ ]+).*/\1/')

printers=()
for i in $(seq 1 "$DMLS"); do printers+=("$(printf 'dmls-%02d' "$i")"); done
for i in $(seq 1 "$FDM"); do printers+=("$(printf 'fdm-%02d' "$i")"); done
PRINTERS=$(IFS=,; echo "${printers[*]}")

start_child sinter-edge --listen "opc.tcp://127.0.0.1:$OPCUA_PORT" --printers "$PRINTERS" --server "$URL" \
  --spool "$STATE/spool" --status-file "$STATE/edge-status.json" --report-every 30
line=$(wait_for_line "$LOGS/sinter-edge.log" '^sinter-edge: OPC UA on opc\.tcp://' 60 sinter-edge "${PIDS[sinter-edge]}")
OPCUA=$(echo "$line" | sed -E 's/^sinter-edge: OPC UA on (opc\.tcp:\/\/[^ ]+).*/\1/')

start_child sinter-detect --server "$URL" --interval 1 --status-file "$STATE/status.json" \
  --alerts-log "$STATE/alerts.log" --report-every 30
wait_for_line "$LOGS/sinter-detect.log" '^sinter-detect: following ' 60 sinter-detect "${PIDS[sinter-detect]}" > /dev/null

# The fault schedule (see --help), repeated every CYCLE simulated seconds over the run: its
# length in simulated seconds is --seconds × --speed, or 24 h × --speed until Ctrl-C (at most
# 1000 cycles, e.g. with --speed max).
CYCLE=300
cycles=$(awk -v run="$RUN_SECONDS" -v speed="$SPEED" -v cycle="$CYCLE" 'BEGIN {
  if (speed !~ /^[0-9]*\.?[0-9]+$/) { print 1000; exit }
  horizon = (run > 0 ? run : 86400) * speed
  n = int(horizon / cycle) + 1
  print (n > 1000 ? 1000 : n) }')
HOT_SPOT_PRINTER=dmls-01
if [ "$DMLS" -ge 2 ]; then HOT_SPOT_PRINTER=dmls-02; fi
faults=()
for ((k = 0; k < cycles; k++)); do
  base=$((k * CYCLE))
  if [ "$DMLS" -ge 1 ]; then faults+=(--fault "recoater-jam:dmls-01@$((base + 10))s+90s"); fi
  if [ "$FDM" -ge 1 ]; then faults+=(--fault "filament-jam:fdm-01@$((base + 70))s+60s"); fi
  if [ "$DMLS" -ge 1 ]; then faults+=(--fault "hot-spot:$HOT_SPOT_PRINTER@$((base + 130))s+175s"); fi
done
schedule=()
if [ "$DMLS" -ge 1 ]; then schedule+=("recoater jam on dmls-01 at 10 s (vibration alert)"); fi
if [ "$FDM" -ge 1 ]; then schedule+=("filament jam on fdm-01 at 70 s"); fi
if [ "$DMLS" -ge 1 ]; then schedule+=("hot spot on $HOT_SPOT_PRINTER at 130 s (until 305 s)"); fi
SCHEDULE=$(IFS=,; echo "${schedule[*]:-none (no printer they apply to)}" | sed 's/,/, /g')
start_child sinter-sim --dmls "$DMLS" --fdm "$FDM" --speed "$SPEED" --opcua "$OPCUA" \
  --labels "$STATE/labels.jsonl" --report-every 30 "${faults[@]}"

cat <<EOF

  Sinter demo is running: ${#printers[@]} printers (${PRINTERS}) → OPC UA ${OPCUA} → edge → ${URL}

  Dashboard:   ${URL}/
  API:         ${URL}/api/v1/machines   ${URL}/openapi.json
  Alerts:      ${URL}/api/v1/alerts     (also ${STATE}/alerts.log, ${STATE}/status.json)
  Logs:        ${LOGS}/

  Scheduled faults, every 5 min from the start: ${SCHEDULE}.
  Press Ctrl-C to stop everything.

EOF

# Runs until Ctrl-C, --seconds, or a child exiting on its own.
started=$(date +%s)
while true; do
  for name in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
      echo "demo: $name exited on its own; its log ($LOGS/$name.log) ends with:" >&2
      tail -n 15 "$LOGS/$name.log" >&2
      exit 1
    fi
  done
  if [ "$RUN_SECONDS" -gt 0 ] && [ $(( $(date +%s) - started )) -ge "$RUN_SECONDS" ]; then
    echo "demo: ran for $RUN_SECONDS s"
    exit 0
  fi
  sleep 1 & wait $! || true
done
