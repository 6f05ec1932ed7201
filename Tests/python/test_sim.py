"""sinter-sim, the printer simulator, as a separate process against a live sinter-server.

The simulator binary comes from ``SINTER_SIM_BIN`` (set by ``make test-python``); the servers are
the real ``sinter-server`` started by conftest. Everything runs on loopback, every child process
has a deadline, and waits poll with a bounded deadline instead of sleeping.

Covered: the whole pipeline (binary batches over HTTP into the store, frame statistics, a
scheduled filament jam in the records, ground-truth labels with exact timestamps), bit-for-bit
determinism across processes, seed 001's status endpoint while the simulation runs (and SIGTERM),
reconnecting to a server that comes up after the simulator, and refusal of bad flags.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import re
import signal
import socket
import struct
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests

from conftest import REPO, ChildProcess, Server, _serve
from helpers import TIMEOUT, epoch_ns

START = "2026-11-21T10:00:00Z"
START_NS = epoch_ns(datetime.fromisoformat(START.replace("Z", "+00:00")))
RUN_SECONDS = 60          # deadline of one simulator run
EXIT_SECONDS = 10         # deadline of the simulator's exit after SIGTERM
FRAMES = "application/vnd.sinter.frames"

STARTED = re.compile(r"^sinter-sim: (\d+) DMLS \+ (\d+) FDM printers, .* -> (.+)$")
STATUS = re.compile(r"^sinter-sim status on (http://127\.0\.0\.1:(\d+))/api/v1/printer/status$")
DONE = re.compile(r"^sinter-sim done: (\d+) samples per printer, (\d+) records \((\d+) frames\)")
SENT = re.compile(r"; sent (\d+) records in (\d+) requests, (\d+) retries, (\d+) dropped, (\d+) rejected")

# The pipeline run: 2 DMLS + 2 FDM printers for 120 simulated seconds (121 samples each), every
# FDM printer starting its cycle idle (60 s) -> printing (60 s) -> anomaly, and fdm-01's filament
# jammed from +70 s for 20 s.
PIPELINE = ["--dmls", "2", "--fdm", "2", "--speed", "max", "--sim-seconds", "120", "--start", START,
            "--no-stagger", "--fault", "filament-jam:fdm-01@70+20"]
MACHINES = {"dmls-01": "dmls", "dmls-02": "dmls", "fdm-01": "fdm", "fdm-02": "fdm"}


def sim_binary() -> Path:
    value = os.environ.get("SINTER_SIM_BIN")
    if not value:
        pytest.fail("SINTER_SIM_BIN is not set: run `make test-python`, or set it to the sinter-sim binary "
                    "(e.g. SINTER_SIM_BIN=.build/debug/sinter-sim)", pytrace=False)
    path = Path(value)
    if not path.is_absolute():
        path = REPO / path
    if not path.exists():
        pytest.fail(f"no sinter-sim binary at {path}: build it (swift build --product sinter-sim) "
                    f"or fix SINTER_SIM_BIN", pytrace=False)
    return path


def run_sim(*args: str, timeout: float = RUN_SECONDS) -> subprocess.CompletedProcess:
    """Runs sinter-sim to completion (text output); fails the test past `timeout`."""
    command = [str(sim_binary()), *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"sinter-sim still running after {timeout} s: {command}\nstdout: {error.stdout}\n"
                    f"stderr: {error.stderr}", pytrace=False)


class Sim(ChildProcess):
    """A sinter-sim child process whose stdout lines are read as they come."""

    def __init__(self, *args: str) -> None:
        super().__init__("sinter-sim", [str(sim_binary()), *args], Path(tempfile.mkdtemp(prefix="sinter-py-sim-")))

    def wait_for_line(self, pattern: re.Pattern, timeout: float = 30) -> re.Match:
        return super().wait_for_line(pattern, timeout)

    def wait(self, timeout: float) -> int:
        """Exit status within `timeout`, with every stdout line collected."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"sinter-sim still running {timeout} s later\n{self.describe()}", pytrace=False)
        while True:
            try:
                line = self.next_line(timeout=5)
            except queue.Empty:
                pytest.fail(f"sinter-sim exited but its stdout stayed open\n{self.describe()}", pytrace=False)
            if line is None:
                return code
            self.stdout.append(line)


def summary(stdout: list[str] | str) -> dict:
    """The numbers of the `sinter-sim done` line."""
    lines = stdout.splitlines() if isinstance(stdout, str) else stdout
    done = [line for line in lines if line.startswith("sinter-sim done:")]
    assert len(done) == 1, f"expected one 'sinter-sim done' line, got: {lines}"
    line = done[0]
    head = DONE.match(line)
    assert head, line
    result = {"line": line, "samples": int(head[1]), "records": int(head[2]), "frames": int(head[3])}
    sent = SENT.search(line)
    if sent:
        result.update(sent=int(sent[1]), requests=int(sent[2]), retries=int(sent[3]), dropped=int(sent[4]),
                      rejected=int(sent[5]))
    return result


def machines(base: str) -> dict[str, dict]:
    response = requests.get(base + "/api/v1/machines", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return {m["id"]: m for m in response.json()["machines"]}


def records(base: str, machine: str, **params) -> list[dict]:
    """Every record of `machine` (JSON, oldest first) within the optional from/to."""
    response = requests.get(base + f"/api/v1/machines/{machine}/records", params={"limit": 100_000, **params},
                            timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["truncated"] is False, page.get("next_from")
    return page["records"]


def frames_batch(base: str, machine: str) -> bytes:
    """Every record of `machine` with its frame, as the server's binary batch."""
    response = requests.get(base + f"/api/v1/machines/{machine}/records", params={"limit": 100_000},
                            headers={"Accept": FRAMES}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(FRAMES), response.headers
    return response.content


def offset_of(record: dict) -> float:
    return (record["timestamp_ns"] - START_NS) / 1e9


def free_port_socket() -> socket.socket:
    """A socket bound (not listening) to a free loopback port: connections to it are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


serve = contextlib.contextmanager(_serve)


# MARK: Pipeline


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """One server fed by the PIPELINE run with seed 7: (server, completed process, labels file)."""
    labels = tmp_path_factory.mktemp("sim") / "labels.jsonl"
    with serve("sim-pipeline") as server:
        run = run_sim(*PIPELINE, "--seed", "7", "--labels", str(labels), "--http", server.base)
        yield server, run, labels


def test_pipeline_run_sends_every_record(pipeline):
    server, run, _ = pipeline
    assert run.returncode == 0, f"status {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    first = run.stdout.splitlines()[0]
    started = STARTED.match(first)
    assert started, first
    assert (started[1], started[2]) == ("2", "2"), first
    assert started[3] == server.base + "/api/v1/telemetry", first
    done = summary(run.stdout)
    assert done["samples"] == 121 and done["records"] == 484 and done["frames"] == 242, done["line"]
    assert (done.get("sent"), done.get("dropped"), done.get("rejected")) == (484, 0, 0), done["line"]


def test_pipeline_server_holds_every_machine(pipeline):
    server, _, _ = pipeline
    listed = machines(server.base)
    assert set(listed) == set(MACHINES), listed
    for machine, kind in MACHINES.items():
        entry = listed[machine]
        assert entry["kind"] == kind, entry
        assert entry["record_count"] == 121, entry
        assert entry["first_timestamp"] == "2026-11-21T10:00:00Z", entry
        assert entry["last_timestamp"] == "2026-11-21T10:02:00Z", entry
        stored = records(server.base, machine)
        assert [r["timestamp_ns"] for r in stored] == [START_NS + k * 1_000_000_000 for k in range(121)]
        assert all(r["kind"] == kind and r["has_frame"] == (kind == "dmls") for r in stored)


def test_pipeline_dmls_frames_are_in_the_camera_range(pipeline):
    server, _, _ = pipeline
    for machine in ("dmls-01", "dmls-02"):
        for record in records(server.base, machine):
            c = record["channels"]
            for key in ("frame_min", "frame_max", "frame_mean", "frame_std", "power_kw", "vibration_mm_s",
                        "plate_temp_c", "chamber_temp_c", "layer"):
                assert isinstance(c.get(key), (int, float)), (key, record)
            assert 20 <= c["frame_min"] <= c["frame_mean"] <= c["frame_max"] <= 80, record
            assert c["frame_std"] >= 0, record
    # One frame, raw: 100 × 100 Float32 within 20…80, and its statistics match what the record says.
    record = records(server.base, "dmls-01")[60]
    raw = requests.get(server.base + f"/api/v1/records/{record['id']}",
                       headers={"Accept": "application/octet-stream"}, timeout=TIMEOUT)
    assert raw.status_code == 200, raw.text
    assert (raw.headers["X-Frame-Width"], raw.headers["X-Frame-Height"]) == ("100", "100")
    values = struct.unpack("<10000f", raw.content)
    assert all(20 <= v <= 80 for v in values)
    assert math.isclose(min(values), record["channels"]["frame_min"], abs_tol=1e-3)
    assert math.isclose(max(values), record["channels"]["frame_max"], abs_tol=1e-3)
    assert math.isclose(sum(values) / len(values), record["channels"]["frame_mean"], abs_tol=1e-2)


def test_pipeline_filament_jam_shows_in_fdm_01_only(pipeline):
    server, _, _ = pipeline
    for machine in ("fdm-01", "fdm-02"):
        by_offset = {offset_of(r): r for r in records(server.base, machine)}
        assert sorted(by_offset) == list(range(121))
        for t in range(0, 60):
            assert by_offset[t]["state"] == "idle", (machine, t, by_offset[t])
            assert by_offset[t]["channels"]["filament_flow"] == 0, (machine, t, by_offset[t])
        for t in range(60, 121):
            # The anomaly from +120 s is reported as printing (as a real printer would).
            assert by_offset[t]["state"] == "printing", (machine, t, by_offset[t])
        for t in range(62, 70):
            assert by_offset[t]["channels"]["filament_flow"] > 3, (machine, t, by_offset[t])
        for t in range(70, 90):
            c = by_offset[t]["channels"]
            if machine == "fdm-01":   # jammed: no flow, the extruder strains
                assert c["filament_flow"] < 1.5 and c["extruder_load"] > 70, (machine, t, c)
            else:                     # the fault is fdm-01's alone
                assert c["filament_flow"] > 3 and c["extruder_load"] < 70, (machine, t, c)
        for t in range(91, 121):      # flowing again after the jam
            assert by_offset[t]["channels"]["filament_flow"] > 3, (machine, t, by_offset[t])
    # The range query sees the jam too.
    jammed = records(server.base, "fdm-01", **{"from": "2026-11-21T10:01:10Z", "to": "2026-11-21T10:01:29Z"})
    assert len(jammed) == 20 and all(r["channels"]["filament_flow"] < 1.5 for r in jammed)


def test_pipeline_labels_have_exact_times(pipeline):
    _, run, labels = pipeline
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in labels.read_text("utf-8").splitlines()]
    assert events, "empty labels file"
    header = events[0]
    assert header["event"] == "simulation", header
    assert header["seed"] == 7 and header["start"] == START and header["start_ns"] == START_NS, header
    assert {(p["machine_id"], p["kind"]) for p in header["printers"]} == set(MACHINES.items()), header
    assert all(e["event"] != "simulation" for e in events[1:])
    assert summary(run.stdout).get("line", "").endswith(f"; {len(events) - 1} labels"), run.stdout

    states = [(e["machine_id"], e["time_ns"], e["state"], e["previous"]) for e in events if e["event"] == "state"]
    for machine in ("fdm-01", "fdm-02"):
        assert [s[1:] for s in states if s[0] == machine] == [
            (START_NS, "idle", None),
            (START_NS + 60_000_000_000, "printing", "idle"),
            (START_NS + 120_000_000_000, "anomaly", "printing"),
        ], states
    for event in events[1:]:
        # `time` and `time_ns` name the same instant.
        parsed = datetime.fromisoformat(event["time"].replace("Z", "+00:00"))
        assert epoch_ns(parsed) == event["time_ns"], event

    faults = [e for e in events if e["event"] in ("fault_start", "fault_end")]
    assert [(e["event"], e["kind"], e["machine_id"]) for e in faults] == [
        ("fault_start", "filament-jam", "fdm-01"), ("fault_end", "filament-jam", "fdm-01")], faults
    start, end = faults
    assert start["fault_id"] == end["fault_id"], faults
    assert start["scheduled"] is True, start
    assert start["time_ns"] == START_NS + 70_000_000_000, start
    assert start["end_ns"] == START_NS + 90_000_000_000, start
    assert epoch_ns(datetime.fromisoformat(start["end"].replace("Z", "+00:00"))) == start["end_ns"], start
    assert end["time_ns"] == START_NS + 90_000_000_000, end
    assert isinstance(start.get("parameters", {}), dict), start


# MARK: Determinism


def test_same_seed_gives_the_same_records_in_another_process(pipeline):
    first, run, _ = pipeline
    assert run.returncode == 0, run.stderr
    compared = ("dmls-01", "fdm-02")

    def view(base: str, machine: str) -> list[tuple]:
        return [(r["timestamp_ns"], r["state"], r["channels"]) for r in records(base, machine)]

    with serve("sim-same-seed") as second:
        again = run_sim(*PIPELINE, "--seed", "7", "--http", second.base)
        assert again.returncode == 0, again.stderr
        assert summary(again.stdout).get("sent") == 484, again.stdout
        for machine in compared:
            assert view(second.base, machine) == view(first.base, machine), machine
            # Frames too, bit for bit.
            assert frames_batch(second.base, machine) == frames_batch(first.base, machine), machine

    with serve("sim-other-seed") as third:
        other = run_sim(*PIPELINE, "--seed", "8", "--http", third.base)
        assert other.returncode == 0, other.stderr
        assert summary(other.stdout).get("sent") == 484, other.stdout
        for machine in compared:
            theirs, ours = view(third.base, machine), view(first.base, machine)
            assert [r[0] for r in theirs] == [r[0] for r in ours]   # same sample times
            differing = sum(a[2] != b[2] for a, b in zip(theirs, ours))
            assert differing > 100, (machine, differing)            # different noise nearly everywhere
        assert frames_batch(third.base, "dmls-01") != frames_batch(first.base, "dmls-01")


# MARK: Seed 001's status endpoint


STATUS_FIELDS = {
    "printer_status": str, "nozzle_temp": (int, float), "bed_temp": (int, float),
    "print_progress": (int, float), "filament_status": str, "timestamp": str, "printer_id": str,
    "filament_flow": (int, float), "extruder_load": (int, float), "power_kw": (int, float),
}


def check_status_shape(body: dict) -> datetime:
    assert set(body) == set(STATUS_FIELDS), body
    for key, kind in STATUS_FIELDS.items():
        assert isinstance(body[key], kind) and not isinstance(body[key], bool), (key, body)
        if kind != str:
            assert math.isfinite(body[key]), (key, body)
    assert body["printer_status"] in ("idle", "printing", "error"), body
    assert body["filament_status"] in ("ok", "jammed"), body
    assert 0 <= body["print_progress"] <= 100, body
    moment = datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    assert moment.tzinfo is not None, body
    assert epoch_ns(moment) >= START_NS, body
    return moment


def test_status_endpoint_follows_the_simulation_and_sigterm_ends_it():
    sim = Sim("--dmls", "0", "--fdm", "2", "--speed", "60", "--status-port", "0", "--no-stagger", "--start", START)
    try:
        started = sim.wait_for_line(STARTED)
        assert started[3] == "no output (dry run)", sim.stdout
        base = sim.wait_for_line(STATUS)[1]
        status_url = base + "/api/v1/printer/status"

        response = requests.get(status_url, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("application/json"), response.headers
        first = response.json()
        first_time = check_status_shape(first)
        assert first["printer_id"] == "fdm-01", first

        other = requests.get(status_url, params={"printer": "fdm-02"}, timeout=TIMEOUT)
        assert other.status_code == 200, other.text
        check_status_shape(other.json())
        assert other.json()["printer_id"] == "fdm-02", other.json()

        missing = requests.get(status_url, params={"printer": "fdm-09"}, timeout=TIMEOUT)
        assert missing.status_code == 404, missing.text
        assert missing.headers["Content-Type"].startswith("application/json"), missing.headers
        error = missing.json()["error"]
        assert isinstance(error["code"], str) and error["code"], error
        assert isinstance(error["message"], str) and "fdm-09" in error["message"], error
        assert error["field"] == "printer", error

        fleet = requests.get(base + "/api/v1/printers", timeout=TIMEOUT)
        assert fleet.status_code == 200, fleet.text
        assert [p["machine_id"] for p in fleet.json()["printers"]] == ["fdm-01", "fdm-02"], fleet.json()
        health = requests.get(base + "/health", timeout=TIMEOUT)
        assert health.status_code == 200, health.text

        # Idle for 60 simulated seconds (1 wall second at x60), then printing and heating up.
        deadline = time.monotonic() + 15
        seen = []
        while True:
            body = requests.get(status_url, timeout=TIMEOUT).json()
            moment = check_status_shape(body)
            seen.append((body["timestamp"], body["printer_status"], body["nozzle_temp"]))
            if body["printer_status"] == "printing" and body["nozzle_temp"] > 100:
                break
            if body["printer_status"] == "idle":
                assert epoch_ns(moment) < START_NS + 60_000_000_000, body
            assert time.monotonic() < deadline, f"not printing above 100 °C within 15 s: {seen[-5:]}"
            time.sleep(0.1)   # polling interval, not synchronization
        assert moment > first_time, seen
        assert epoch_ns(moment) >= START_NS + 60_000_000_000, body
        assert body["filament_status"] == "ok" and body["filament_flow"] > 0, body

        assert sim.process.poll() is None, sim.describe()
        sim.process.send_signal(signal.SIGTERM)
        code = sim.wait(EXIT_SECONDS)
        assert code == 0, f"status {code} after SIGTERM\n{sim.describe()}"
        done = summary(sim.stdout)
        assert done["samples"] >= 65 and done["records"] == 2 * done["samples"], done["line"]
        assert "sent" not in done, done["line"]   # a dry run sends nothing
    finally:
        sim.close()


# MARK: Reconnect


def test_simulator_started_before_the_server_delivers_everything():
    reserved = free_port_socket()   # bound, not listening: the port refuses connections until the server
    port = reserved.getsockname()[1]
    sim = Sim("--dmls", "1", "--fdm", "1", "--speed", "20", "--sim-seconds", "60", "--start", START,
              "--http", f"http://127.0.0.1:{port}")
    server = None
    try:
        started = sim.wait_for_line(STARTED)
        assert started[3] == f"http://127.0.0.1:{port}/api/v1/telemetry", sim.stdout
        assert sim.process.poll() is None, sim.describe()
        # The server comes up only once the simulator has found it missing (its first refused
        # attempt is logged), so the retries below never depend on who was faster.
        deadline = time.monotonic() + 30
        while "output.unreachable" not in sim.stderr_tail():
            assert time.monotonic() < deadline, f"the simulator never reported the server unreachable\n{sim.describe()}"
            assert sim.process.poll() is None, sim.describe()
            time.sleep(0.05)
        reserved.close()
        server = Server("sim-reconnect", "--port", str(port))
        assert server.base == f"http://127.0.0.1:{port}", server.stdout

        code = sim.wait(RUN_SECONDS)
        assert code == 0, f"status {code}\n{sim.describe()}"
        done = summary(sim.stdout)
        assert done["records"] == 122, done["line"]
        assert (done.get("sent"), done.get("dropped"), done.get("rejected")) == (122, 0, 0), done["line"]

        listed = machines(server.base)
        assert {m: e["record_count"] for m, e in listed.items()} == {"dmls-01": 61, "fdm-01": 61}, listed
        for machine in ("dmls-01", "fdm-01"):
            assert [r["timestamp_ns"] for r in records(server.base, machine)] == \
                [START_NS + k * 1_000_000_000 for k in range(61)], machine

        assert server.stop() == 0, server.stderr_tail()

        # The first attempts found no server: the summary must count them.
        assert done["retries"] > 0, f"no retries counted although the server came up after the simulator\n" \
                                    f"{done['line']}\nstderr:\n{sim.stderr_tail()}"
    finally:
        reserved.close()
        sim.close()
        if server is not None:
            server.kill()
            server.close()


# MARK: OPC UA output

OPCUA_LISTENING = re.compile(r"^listening (opc\.tcp://127\.0\.0\.1:(\d+))$")


def opcua_binary() -> Path:
    value = os.environ.get("SINTER_OPCUA_BIN")
    if not value:
        pytest.fail("SINTER_OPCUA_BIN is not set: run `make test-python`, or set it to the sinter-opcua binary "
                    "(e.g. SINTER_OPCUA_BIN=.build/debug/sinter-opcua)", pytrace=False)
    path = Path(value)
    if not path.is_absolute():
        path = REPO / path
    if not path.exists():
        pytest.fail(f"no sinter-opcua binary at {path}: build it (swift build --product sinter-opcua) "
                    f"or fix SINTER_OPCUA_BIN", pytrace=False)
    return path


def test_opcua_output_writes_every_record_into_the_gateway():
    server = ChildProcess("sim-opcua-server", [str(opcua_binary()), "serve", "--listen", "opc.tcp://127.0.0.1:0",
                                               "--printers", "dmls-01,fdm-01", "--duration", "120"],
                          Path(tempfile.mkdtemp(prefix="sinter-py-sim-opcua-")))
    try:
        url = server.wait_for_line(OPCUA_LISTENING, 30).group(1)
        run = run_sim("--dmls", "1", "--fdm", "1", "--opcua", url, "--speed", "max", "--sim-seconds", "5",
                      "--start", START)
        assert run.returncode == 0, f"status {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
        started = [STARTED.match(line) for line in run.stdout.splitlines()]
        assert any(m and m[3] == url for m in started), run.stdout
        done = summary(run.stdout)
        # 6 samples (0..5 s) of 2 printers, one Write request per step.
        assert done["records"] == 12, done["line"]
        assert (done.get("sent"), done.get("requests"), done.get("dropped"), done.get("rejected")) == (12, 6, 0, 0), \
            f"{done['line']}\nstderr:\n{run.stderr}"
    finally:
        server.close()


# MARK: Bad flags


@pytest.mark.parametrize("args, flag, words", [
    (["--fault", "bogus:dmls-01@3"], "--fault", "unknown fault kind"),
    (["--fault", "hot-spot:dmls-09@3"], "--fault", "dmls-09"),
    (["--fault", "filament-jam:dmls-01@3"], "--fault", "FDM"),
    (["--speed", "0"], "--speed", ""),
    (["--speed", "fast"], "--speed", ""),
    (["--rate", "0"], "--rate", ""),
    (["--rate=-1"], "--rate", ""),
    (["--temperature-range", "80:20"], "--temperature-range", ""),
    (["--temperature-range", "abc"], "--temperature-range", ""),
    (["--http", "not-a-url"], "--http", "not-a-url"),
    (["--http", "ftp://127.0.0.1:1"], "--http", ""),
    (["--sim-seconds=-1"], "--sim-seconds", ""),
    (["--dmls", "0", "--fdm", "0"], "--dmls", ""),
    # A negative number is the flag's value, refused with the allowed range (not "Missing value").
    (["--dmls", "-1"], "--dmls", "got -1"),
    (["--fdm", "-2"], "--fdm", "got -2"),
    (["--http", "http://127.0.0.1:1", "--opcua", "opc.tcp://127.0.0.1:1"], "--opcua", "--http"),
    (["--opcua", "http://127.0.0.1:4840"], "--opcua", "opc.tcp://"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_flags_are_refused(args, flag, words):
    started = time.monotonic()
    # Valid limits first, the bad flag last (it wins over an earlier value of the same option).
    run = run_sim("--sim-seconds", "1", "--speed", "max", "--dmls", "1", "--fdm", "1", *args, timeout=20)
    elapsed = time.monotonic() - started
    assert run.returncode != 0, f"{args} accepted\nstdout: {run.stdout}"
    assert flag in run.stderr, run.stderr
    assert words in run.stderr, run.stderr
    assert "sinter-sim done" not in run.stdout, run.stdout
    assert elapsed < 10, f"refusing {args} took {elapsed:.1f} s"
