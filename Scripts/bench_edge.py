"""The measuring half of Scripts/bench-edge.sh (which starts sinter-server and sinter-edge).

1. Throughput: `sinter-sim --opcua EDGE --dmls N --fdm 0 --speed max` writes every sample into
   the edge (the edge refuses writes with BadResourceUnavailable when it falls behind, and the
   simulator retries them, so the simulator's wall time is the edge's intake rate); frames/s is
   the number of frames the server then holds divided by the time from the simulator's start
   until the server holds all of them (polled on /api/v1/machines).
2. Latency: an asyncua client writes one whole dmls-01 sample (Temperature Float[100][100] and
   the scalars, so the record is complete at once) with a fresh SourceTimestamp every
   --interval-ms, and waits until the server's live stream (/api/v1/stream, SSE, published after
   the store's durable append) announces that record: write call -> stored.

A table goes to stdout, progress to stderr, the results as JSON to --json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import requests
from asyncua import Client, ua

NAMESPACE = "urn:sinter:printers"
SIDE = 100
START = "2026-11-21T10:00:00Z"
SIM_DONE = re.compile(r"^sinter-sim done: (\d+) samples per printer, (\d+) records \((\d+) frames\), .* in ([\d.]+) s wall")
SIM_SENT = re.compile(r"; sent (\d+) records in (\d+) requests, (\d+) retries, (\d+) dropped, (\d+) rejected")


def progress(text: str) -> None:
    print(f"bench-edge: {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank, as `sinter-opcua bench` computes it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def stored_count(server: str) -> int:
    response = requests.get(server + "/api/v1/machines", timeout=10)
    response.raise_for_status()
    return sum(m["record_count"] for m in response.json()["machines"])


def edge_status(path: str | None) -> dict:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (OSError, ValueError):
        return {}


# MARK: Throughput


def throughput(args: argparse.Namespace) -> dict:
    before = stored_count(args.server)
    command = [args.sim, "--opcua", args.edge, "--dmls", str(args.printers), "--fdm", "0", "--speed", "max",
               "--sim-seconds", str(args.sim_seconds), "--start", START, "--seed", "1", "--report-every", "5"]
    progress(f"throughput: {' '.join(command)}")
    started = time.monotonic()
    try:
        run = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                             timeout=args.max_seconds)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"bench-edge: sinter-sim still running after {args.max_seconds} s")
    intake_seconds = time.monotonic() - started
    done = [SIM_DONE.match(line) for line in run.stdout.splitlines()]
    done = [m for m in done if m]
    if run.returncode != 0 or not done:
        raise SystemExit(f"bench-edge: sinter-sim failed (status {run.returncode})\n{run.stdout}\n{run.stderr[-3000:]}")
    records, frames = int(done[0][2]), int(done[0][3])
    sent = SIM_SENT.search(run.stdout)
    if sent is None or int(sent[1]) != records:
        raise SystemExit(f"bench-edge: the edge did not take every record: {run.stdout.strip()}")
    expected = before + records
    deadline = started + args.max_seconds
    count = before
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.02)   # polling interval
        count = stored_count(args.server)
    seconds = time.monotonic() - started
    if count < expected:
        raise SystemExit(f"bench-edge: the server holds {count - before} of {records} records after {seconds:.1f} s; "
                         f"edge status: {edge_status(args.edge_status)}")
    status = edge_status(args.edge_status)
    return {
        "printers": args.printers, "records": records, "frames": frames, "seconds": round(seconds, 3),
        "frames_per_second": round(frames / seconds, 1),
        "intake_seconds": round(intake_seconds, 3), "intake_frames_per_second": round(frames / intake_seconds, 1),
        "sim_wall_seconds": float(done[0][4]), "sim_retries": int(sent[3]),
        "edge_writes_refused": status.get("writes_refused"), "edge_retries": status.get("retries"),
        "edge_dropped": status.get("dropped"),
    }


# MARK: Latency


class LiveRecords:
    """Reads the server's SSE stream for one machine in a thread; `seen[timestamp_ns]` = arrival time."""

    def __init__(self, server: str, machine: str) -> None:
        self.seen: dict[int, float] = {}
        self.condition = threading.Condition()
        self.ready = threading.Event()
        self.error: str | None = None
        self.response = requests.get(server + "/api/v1/stream", params={"machine": machine}, stream=True,
                                     timeout=(5, 60), headers={"Accept": "text/event-stream"})
        self.response.raise_for_status()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event = None
        try:
            self.ready.set()
            for raw in self.response.iter_lines(chunk_size=1, decode_unicode=True):
                if raw is None:
                    continue
                if raw.startswith("event:"):
                    event = raw[6:].strip()
                elif raw.startswith("data:") and event == "record":
                    arrived = time.monotonic()
                    record = json.loads(raw[5:])
                    with self.condition:
                        self.seen[int(record["timestamp_ns"])] = arrived
                        self.condition.notify_all()
                elif raw == "":
                    event = None
        except Exception as error:   # the stream ends at shutdown; report anything else
            self.error = repr(error)

    def wait(self, timestamp_ns: int, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.condition:
            while timestamp_ns not in self.seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.condition.wait(remaining)
            return self.seen[timestamp_ns]

    def close(self) -> None:
        self.response.close()


def epoch_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


async def latency(args: argparse.Namespace) -> dict:
    live = LiveRecords(args.server, "dmls-01")
    live.ready.wait(5)
    samples: list[float] = []
    missed = 0
    async with Client(args.edge, timeout=10) as client:
        ns = await client.get_namespace_index(NAMESPACE)
        names = ["Temperature", "PowerKW", "VibrationMmS", "PlateTempC", "ChamberTempC", "Layer", "State"]
        nodes = [client.get_node(ua.NodeId(f"dmls-01.{name}", ns)) for name in names]
        matrix = [[25.0 + (row * SIDE + column) % 50 for column in range(SIDE)] for row in range(SIDE)]
        # Unique, increasing sample times after everything the simulator wrote.
        after_sim = datetime.fromisoformat(START.replace("Z", "+00:00")) + timedelta(seconds=args.sim_seconds + 60)
        base = max(datetime.now(timezone.utc).replace(microsecond=0), after_sim)
        period = args.interval_ms / 1000
        progress(f"latency: {args.latency_samples} writes of a whole dmls-01 sample, one every {args.interval_ms} ms")
        due = time.monotonic()
        for k in range(args.latency_samples):
            moment = base + timedelta(milliseconds=k)
            matrix[0][0] = float(k % 1000)
            values = [
                ua.Variant(matrix, ua.VariantType.Float),
                ua.Variant(3.0 + k % 10 / 10, ua.VariantType.Double),
                ua.Variant(0.5, ua.VariantType.Double),
                ua.Variant(180.0, ua.VariantType.Double),
                ua.Variant(35.0, ua.VariantType.Double),
                ua.Variant(k, ua.VariantType.UInt32),
                ua.Variant("printing", ua.VariantType.String),
            ]
            data = [ua.DataValue(Value=v, SourceTimestamp=moment) for v in values]
            written = time.monotonic()
            await client.write_values(nodes, data)
            arrived = await asyncio.to_thread(live.wait, epoch_ns(moment), 5.0)
            if arrived is None:
                missed += 1
            else:
                samples.append((arrived - written) * 1000)
            due += period
            await asyncio.sleep(max(0.0, due - time.monotonic()))
    live.close()
    if live.error and not samples:
        raise SystemExit(f"bench-edge: the live stream failed: {live.error}")
    return {
        "samples": len(samples), "missed": missed, "interval_ms": args.interval_ms,
        "p50_ms": round(percentile(samples, 0.5), 3), "p90_ms": round(percentile(samples, 0.9), 3),
        "p99_ms": round(percentile(samples, 0.99), 3), "max_ms": round(max(samples, default=math.nan), 3),
    }


# MARK: Report


def machine_info() -> dict:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            model = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), "")
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return {"nproc": int(nproc) if nproc.isdigit() else os.cpu_count(), "cpu": model,
            "kernel": platform.release(), "load_average": [round(v, 2) for v in os.getloadavg()]}


def report(args: argparse.Namespace, result: dict) -> None:
    def row(phase: str, metric: str, value) -> str:
        return phase.ljust(12) + metric.ljust(34) + str(value)

    t, lat, m = result["throughput"], result["latency"], result["machine"]
    lines = [
        f"sinter-edge bench: {t['printers']} DMLS printers through {args.edge} -> {args.server} "
        f"({args.build} build, {m['nproc']} cores)",
        row("phase", "metric", "value"),
        row("throughput", "frames (100x100 Float)", t["frames"]),
        row("", "seconds (sim start -> all stored)", f"{t['seconds']:.2f}"),
        row("", "frames/s end to end", f"{t['frames_per_second']:.1f}"),
        row("", "frames/s taken in (sim wall)", f"{t['intake_frames_per_second']:.1f}"),
        row("", "writes refused (backpressure)", t["edge_writes_refused"]),
        row("latency", "samples", lat["samples"]),
        row("", "missed (not stored within 5 s)", lat["missed"]),
        row("", "write interval ms", lat["interval_ms"]),
        row("", "p50 ms (write -> stored)", f"{lat['p50_ms']:.2f}"),
        row("", "p90 ms", f"{lat['p90_ms']:.2f}"),
        row("", "p99 ms", f"{lat['p99_ms']:.2f}"),
        row("", "max ms", f"{lat['max_ms']:.2f}"),
    ]
    print("\n".join(lines), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", required=True, help="sinter-server base URL")
    parser.add_argument("--edge", required=True, help="the edge's OPC UA endpoint")
    parser.add_argument("--edge-status", help="the edge's --status-file")
    parser.add_argument("--sim", required=True, help="the sinter-sim binary")
    parser.add_argument("--printers", type=int, default=10)
    parser.add_argument("--sim-seconds", type=int, default=999)
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--interval-ms", type=float, default=100)
    parser.add_argument("--max-seconds", type=float, default=300, help="bound on the throughput phase")
    parser.add_argument("--build", default="release")
    parser.add_argument("--json", required=True)
    args = parser.parse_args()

    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "build": args.build,
              "machine": machine_info()}
    result["throughput"] = throughput(args)
    result["latency"] = asyncio.run(latency(args))
    result["edge_status"] = {k: v for k, v in edge_status(args.edge_status).items() if k != "machines"}
    report(args, result)
    with open(args.json, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=2)
        file.write("\n")
    progress(f"results in {args.json}")
    return 0 if result["latency"]["samples"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
