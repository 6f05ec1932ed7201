"""sinter-edge, the OPC UA edge gateway, as a separate process between printers and sinter-server.

Every process is the real binary (``SINTER_EDGE_BIN``, ``SINTER_SIM_BIN``, ``SINTER_SERVER_BIN``)
or an asyncua process standing in for a machine (opcua_machine.py), on loopback, over temporary
directories. Every wait polls an observable condition (the edge's ``--status-file``, the
server's ``/api/v1/machines``, a child's stdout) with a deadline, and every child is stopped or
killed in a ``finally``.

Covered: client mode against a machine's own OPC UA server through a node mapping (values,
states, frames and their statistics, SourceTimestamps; matrix and flat frames; samples faster
than the publishing interval); printer mode fed by sinter-sim with ``--average 4`` (element-wise
frame means and channel means against the simulator's raw records, the partial group spooled
and forwarded at SIGTERM); a SIGKILLed edge whose spool is replayed by the next run; the server
stopped and restarted mid-stream (every record exactly once); a wrong token then the right one
on the same spool (nothing dropped, every record exactly once); writes to a printer the edge does
not serve; and flags the edge refuses.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

from conftest import STARTUP_SECONDS, ChildProcess, Edge, Server, _serve, edge_binary
from helpers import TIMEOUT, float32
from test_sim import START, START_NS, Sim, free_port_socket, records, run_sim, summary

HERE = Path(__file__).resolve().parent
MACHINE = HERE / "opcua_machine.py"
SECOND = 1_000_000_000
DELIVERY_SECONDS = 60      # until the server holds what the edge took in
MACHINE_LIFETIME = 180     # the machine's own limit, should pytest vanish without its teardown

MACHINE_LISTENING = re.compile(r"^listening (opc\.tcp://127\.0\.0\.1:\d+) ns=(\d+)$")
MACHINE_SAMPLE_OR_DONE = re.compile(r"^(?:sample (\{.*\})|done (\d+) samples)$")
MACHINE_SAMPLE = re.compile(r"^sample (\{.*\})$")

serve = contextlib.contextmanager(_serve)


# MARK: Helpers


def f32(value: float) -> float:
    return float32([value])[0]


def frame_stats(values: list[float]) -> dict[str, float]:
    """min, max, mean, population std of the finite values (as the server computes them)."""
    finite = [v for v in values if math.isfinite(v)]
    mean = math.fsum(finite) / len(finite)
    variance = math.fsum((v - mean) ** 2 for v in finite) / len(finite)
    return {"min": min(finite), "max": max(finite), "mean": mean, "std": math.sqrt(variance)}


def assert_stats(channels: dict, expected: dict[str, float], where) -> None:
    assert f32(channels["frame_min"]) == f32(expected["min"]), (where, channels, expected)
    assert f32(channels["frame_max"]) == f32(expected["max"]), (where, channels, expected)
    assert math.isclose(channels["frame_mean"], expected["mean"], rel_tol=1e-5, abs_tol=1e-4), (where, channels, expected)
    assert math.isclose(channels["frame_std"], expected["std"], rel_tol=1e-4, abs_tol=1e-4), (where, channels, expected)


def machine_counts(base: str) -> dict[str, int]:
    response = requests.get(base + "/api/v1/machines", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return {m["id"]: m["record_count"] for m in response.json()["machines"]}


def wait_for_counts(base: str, expected: dict[str, int], timeout: float = DELIVERY_SECONDS,
                    context: ChildProcess | None = None) -> dict[str, int]:
    """Polls the server until its record count per machine is `expected` (exactly those machines)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = machine_counts(base)
        if counts == expected:
            return counts
        if time.monotonic() > deadline:
            detail = f"\nedge status: {context.status()}\n{context.describe()}" if isinstance(context, Edge) else ""
            pytest.fail(f"server holds {counts}, expected {expected} within {timeout} s{detail}", pytrace=False)
        time.sleep(0.1)   # polling interval


def records_with_frames(base: str, machine: str) -> list[dict]:
    response = requests.get(base + f"/api/v1/machines/{machine}/records",
                            params={"limit": 100_000, "include": "frame"}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["truncated"] is False, page.get("next_from")
    return page["records"]


def finish(process: ChildProcess, name: str) -> None:
    """SIGTERM (Edge/Server/OpcuaMachine `stop`), and a clean exit required."""
    was_alive = process.alive
    code = process.stop()
    assert was_alive, f"{name}: died before the end of the test (status {code})\n{process.describe()}"
    assert code == 0, f"{name}: exit status {code} after SIGTERM (expected 0)\n{process.describe()}"


def stop_quietly(*processes) -> None:
    for process in processes:
        if process is not None:
            process.kill()
            process.close()


class OpcuaMachine(ChildProcess):
    """opcua_machine.py: ready once it printed `listening URL ns=IDX` and its sample 0."""

    def __init__(self, *args: str) -> None:
        super().__init__("opcua-machine", [sys.executable, str(MACHINE), "--host", "127.0.0.1", "--port", "0",
                                           "--lifetime", str(MACHINE_LIFETIME), *args],
                         Path(tempfile.mkdtemp(prefix="sinter-py-machine-")))
        listening = self.wait_for_line(MACHINE_LISTENING, STARTUP_SECONDS)
        self.url, self.namespace = listening[1], int(listening[2])
        self.samples = [json.loads(self.wait_for_line(MACHINE_SAMPLE, 10)[1])]

    def collect(self, timeout: float) -> list[dict]:
        """Every sample up to the `done N samples` line."""
        deadline = time.monotonic() + timeout
        while True:
            match = self.wait_for_line(MACHINE_SAMPLE_OR_DONE, max(0.1, deadline - time.monotonic()))
            if match[2] is not None:
                assert int(match[2]) == len(self.samples) - 1, (match[0], len(self.samples))
                return self.samples
            self.samples.append(json.loads(match[1]))

    def stop(self) -> int:
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"opcua-machine: still running 20 s after SIGTERM\n{self.describe()}", pytrace=False)


# MARK: 1. Client mode against a machine's own OPC UA server


def check_machine_records(base: str, machine: str, samples: list[dict]) -> list[dict]:
    """The server's records of `machine` are the samples, one each: time, values, state, frame, statistics."""
    stored = records_with_frames(base, machine)
    assert [r["timestamp_ns"] for r in stored] == [s["timestamp_ns"] for s in samples], \
        ([r["timestamp"] for r in stored], [s["timestamp_ns"] for s in samples])
    for record, sample in zip(stored, samples):
        where = (machine, sample["index"], record["timestamp"])
        c = record["channels"]
        assert record["kind"] == "dmls" and record["has_frame"] is True, (where, record["kind"], record["has_frame"])
        assert record["state"] == sample["status"], (where, record["state"])
        assert f32(c.get("power_kw", math.nan)) == f32(sample["power"]), (where, c, sample["power"])
        assert f32(c.get("vibration_mm_s", math.nan)) == f32(sample["vibration"]), (where, c, sample["vibration"])
        frame = record["frame"]
        assert (frame["width"], frame["height"]) == (100, 100), (where, frame["width"], frame["height"])
        assert [f32(v) for v in frame["data"]] == sample["frame"], where   # bit for bit (Float32)
        assert_stats(c, frame_stats(sample["frame"]), where)
    return stored


def run_client_mode(tmp_path: Path, *machine_args: str, edge_args: tuple[str, ...] = (),
                    shared_power: bool = False) -> None:
    """The machine writes samples 1-10 once the edge subscribed; the server must hold all 11.
    With `shared_power`, Press7.Power also feeds dmls-08's power_kw (one node, two fields)."""
    machine = edge = None
    with serve("edge-client") as server:
        try:
            machine = OpcuaMachine("--samples", "10", "--seed", "3", *machine_args)
            mapping = tmp_path / "press7.map"
            mapping.write_text(
                "# machine  field           node\n"
                "dmls-07    frame           nsu=urn:acme:press;s=Press7.Thermal\n"
                f"dmls-07    power_kw        ns={machine.namespace};s=Press7.Power   # by index\n"
                "dmls-07    vibration_mm_s  nsu=urn:acme:press;s=Press7.Vibration\n"
                "\n"
                "dmls-07    state           nsu=urn:acme:press;s=Press7.Status\n"
                + ("dmls-08    power_kw        nsu=urn:acme:press;s=Press7.Power\n" if shared_power else ""), "utf-8")
            edge = Edge("edge-client", "--subscribe", machine.url, "--mapping", str(mapping), *edge_args,
                        server=server.base, spool=tmp_path / "spool", listen="none")
            assert edge.url is None, edge.stdout
            assert f"subscribed to {machine.url} -> {server.base}" in edge.stdout[-1], edge.stdout

            samples = machine.collect(timeout=60)
            assert len(samples) == 11 and [s["index"] for s in samples] == list(range(11))
            expected = {"dmls-07": len(samples), **({"dmls-08": len(samples)} if shared_power else {})}
            total = sum(expected.values())
            wait_for_counts(server.base, expected, context=edge)
            status = edge.wait_status("all records forwarded",
                                      lambda s: s["forwarded"] == total and s["spool"]["pending_records"] == 0,
                                      timeout=10)
            finish(edge, "sinter-edge")
            finish(machine, "opcua-machine")

            if shared_power:
                shared = records(server.base, "dmls-08")
                assert [r["timestamp_ns"] for r in shared] == [s["timestamp_ns"] for s in samples], shared
                for record, sample in zip(shared, samples):
                    assert f32(record["channels"].get("power_kw", math.nan)) == f32(sample["power"]), (record, sample["power"])
                    assert record["has_frame"] is False, record
            stored = check_machine_records(server.base, "dmls-07", samples)
            final = edge.status()
            assert final is not None
            for s in (status, final):
                assert (s["records_in"], s["records_out"], s["forwarded"]) == (total, total, total), s
                assert (s["values_unusable"], s["rejected"], s["dropped"]) == (0, 0, 0), s
                if not shared_power:
                    assert s["values_in"] == 44, s   # 4 variables × 11 samples, every one notified once
            last = final["machines"]["dmls-07"]
            assert last["records_out"] == 11 and last["last_timestamp"] == stored[-1]["timestamp"], last
            assert last["last_state"] == samples[-1]["status"], last
            assert_stats({f"frame_{k}": v for k, v in last["last_frame"].items()}, frame_stats(samples[-1]["frame"]),
                         "status")
        finally:
            stop_quietly(edge, machine)


@pytest.mark.parametrize("shape", ["matrix", "flat"])
def test_client_mode_forwards_every_sample_of_a_machine(tmp_path, shape):
    """A press with its own names and namespace (index 3), 5 samples/s after the edge subscribed:
    the initial values (sample 0) and each sample become one record with the sample's
    SourceTimestamp, its values, state and frame (Float[100][100], or a flat Float[10000])."""
    run_client_mode(tmp_path, *(["--flat"] if shape == "flat" else []))


def test_client_mode_samples_faster_than_the_publishing_interval(tmp_path):
    """25 samples/s against a 250 ms publishing interval: each notification message carries
    several samples, item by item (asyncua groups a message's changes per monitored item), and
    still every sample is one record with its own values."""
    run_client_mode(tmp_path, "--hz", "25", "--step-ms", "40", edge_args=("--publishing-interval", "250"))


def test_client_mode_one_node_feeds_two_machines(tmp_path):
    """A mapping may name one node twice (a power meter shared by two machines): Press7.Power
    feeds dmls-07's power_kw and dmls-08's; both machines get every sample's value."""
    run_client_mode(tmp_path, shared_power=True)


# MARK: 2. Simulator -> edge -> server, averaged


def test_sim_through_edge_averages_groups_of_four(tmp_path):
    """sinter-sim (1 DMLS + 1 FDM, 13 samples each) into an edge with --average 4: groups
    0-3, 4-7, 8-11 leave at once, sample 12 alone at SIGTERM. Every stored record is the
    element-wise mean of its group's frames and the mean of its channels, stamped with the
    group's last time and state; the raw records come from the same simulation sent to a
    second server over HTTP."""
    sim_args = ["--dmls", "1", "--fdm", "1", "--speed", "max", "--sim-seconds", "12", "--start", START, "--seed", "5"]
    edge = None
    with serve("edge-average") as server, serve("edge-average-raw") as raw:
        try:
            edge = Edge("edge-average", "--average", "4", "--printers", "dmls-01,fdm-01",
                        server=server.base, spool=tmp_path / "spool")
            run = run_sim(*sim_args, "--opcua", edge.url)
            assert run.returncode == 0, f"status {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
            done = summary(run.stdout)
            assert done["samples"] == 13 and done["records"] == 26, done["line"]
            assert (done.get("sent"), done.get("dropped"), done.get("rejected")) == (26, 0, 0), done["line"]

            wait_for_counts(server.base, {"dmls-01": 3, "fdm-01": 3}, context=edge)
            edge.wait_status("26 records in, 6 forwarded",
                             lambda s: s["records_in"] == 26 and s["forwarded"] == 6, timeout=10)
            finish(edge, "sinter-edge")   # spools and forwards the partial group (sample 12)
            final = edge.status()
            assert final is not None
            assert (final["records_in"], final["records_out"], final["forwarded"]) == (26, 8, 8), final
            assert final["spool"]["pending_records"] == 0 and final["dropped"] == 0, final
            assert machine_counts(server.base) == {"dmls-01": 4, "fdm-01": 4}

            again = run_sim(*sim_args, "--http", raw.base)
            assert again.returncode == 0, again.stderr
            assert summary(again.stdout).get("sent") == 26, again.stdout
        finally:
            stop_quietly(edge)

        groups = [range(0, 4), range(4, 8), range(8, 12), range(12, 13)]
        for machine in ("dmls-01", "fdm-01"):
            originals = records_with_frames(raw.base, machine)
            averaged = records_with_frames(server.base, machine)
            assert [r["timestamp_ns"] for r in originals] == [START_NS + k * SECOND for k in range(13)]
            assert [r["timestamp_ns"] for r in averaged] == [START_NS + g[-1] * SECOND for g in groups], \
                [r["timestamp"] for r in averaged]
            for group, record in zip(groups, averaged):
                members = [originals[k] for k in group]
                where = (machine, list(group))
                assert record["state"] == members[-1]["state"], where
                assert record["kind"] == members[-1]["kind"], where
                names = {n for m in members for n in m["channels"] if not n.startswith("frame_")}
                assert {n for n in record["channels"] if not n.startswith("frame_")} == names, (where, record)
                for name in names:
                    mean = math.fsum(m["channels"][name] for m in members) / len(members)
                    assert math.isclose(record["channels"][name], mean, rel_tol=1e-6, abs_tol=1e-4), \
                        (where, name, record["channels"][name], mean)
                if machine == "fdm-01":
                    assert record["has_frame"] is False and "frame" not in record, where
                    continue
                assert record["has_frame"] is True, where
                width, height = record["frame"]["width"], record["frame"]["height"]
                assert (width, height) == (100, 100), where
                expected = [math.fsum(m["frame"]["data"][i] for m in members) / len(members)
                            for i in range(width * height)]
                got = record["frame"]["data"]
                worst = max(abs(a - b) for a, b in zip(got, expected))
                assert worst <= 1e-4, (where, worst)
                assert_stats(record["channels"], frame_stats(got), where)
            if machine == "dmls-01":
                # The status's last frame is the last forwarded record's: sample 12 alone.
                last = final["machines"]["dmls-01"]
                assert last["records_out"] == 4 and last["last_timestamp"] == averaged[-1]["timestamp"], last
                assert_stats({f"frame_{k}": v for k, v in last["last_frame"].items()},
                             frame_stats(originals[12]["frame"]["data"]), "status")


# MARK: 3. SIGKILL and restart: the spool is replayed


def check_exactly_once(base: str, machine: str, count: int) -> None:
    """`count` records, at START + k s for k in 0..count-1, none twice."""
    listed = {m["id"]: m for m in requests.get(base + "/api/v1/machines", timeout=TIMEOUT).json()["machines"]}
    assert listed[machine]["record_count"] == count, listed[machine]
    stored = records(base, machine)
    times = [r["timestamp_ns"] for r in stored]
    assert len(set(times)) == len(times) == count, times
    assert times == [START_NS + k * SECOND for k in range(count)], times


def test_killed_edge_replays_its_spool_after_restart(tmp_path):
    """The server is not there yet: 20 samples per printer go into the spool; SIGKILL; the server
    comes up on the port the edge was pointed at; the next run over the same spool recovers
    every record and delivers each exactly once."""
    spool = tmp_path / "spool"
    reserved = free_port_socket()   # bound, not listening: connections are refused until the server
    port = reserved.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    edge = again = server = None
    try:
        edge = Edge("edge-killed", "--printers", "dmls-01,fdm-01", server=base, spool=spool)
        run = run_sim("--dmls", "1", "--fdm", "1", "--speed", "max", "--sim-seconds", "19", "--start", START,
                      "--opcua", edge.url)
        assert run.returncode == 0, f"status {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
        assert summary(run.stdout).get("sent") == 40, run.stdout
        status = edge.wait_status("40 records spooled",
                                  lambda s: s["records_in"] == 40 and s["spool"]["pending_records"] == 40, timeout=20)
        assert status["forwarded"] == 0 and status["server_reachable"] is False, status
        edge.process.send_signal(signal.SIGKILL)
        assert edge.process.wait(timeout=10) == -signal.SIGKILL, edge.describe()

        reserved.close()
        server = Server("edge-killed-server", "--port", str(port))
        assert server.base == base, server.stdout
        again = Edge("edge-restarted", "--printers", "dmls-01,fdm-01", server=base, spool=spool)
        wait_for_counts(base, {"dmls-01": 20, "fdm-01": 20}, context=again)
        status = again.wait_status("the spool forwarded",
                                   lambda s: s["spool"]["pending_records"] == 0 and s["forwarded"] == 40, timeout=10)
        assert status["spool"]["recovered_records"] == 40, status
        assert status["spool"]["corrupt_entries"] == 0 and status["dropped"] == 0, status
        assert status["records_in"] == 0, status   # nothing new: every record came from the spool
        finish(again, "sinter-edge (restarted)")
        for machine in ("dmls-01", "fdm-01"):
            check_exactly_once(base, machine, 20)
        finish(server, "sinter-server")
    finally:
        reserved.close()
        stop_quietly(edge, again, server)


# MARK: 4. Server stopped and restarted mid-stream


def test_server_restarted_mid_stream_loses_and_duplicates_nothing(tmp_path):
    """sinter-sim at x5 for 40 samples per printer through the edge; the server is stopped
    (SIGTERM) once the edge forwarded some records, and started again on the same port and
    data directory once the edge has seen the outage and taken in more: in the end every
    sample is stored exactly once."""
    data = tmp_path / "data"
    edge = sim = first = second = None
    try:
        first = Server("edge-outage-1", data=data)
        port = first.base.rsplit(":", 1)[1]
        edge = Edge("edge-outage", "--printers", "dmls-01,fdm-01", server=first.base, spool=tmp_path / "spool")
        sim = Sim("--dmls", "1", "--fdm", "1", "--speed", "5", "--sim-seconds", "39", "--start", START,
                  "--opcua", edge.url)
        edge.wait_status("10 records forwarded", lambda s: s["forwarded"] >= 10, timeout=30)
        finish(first, "sinter-server (first run)")
        down = edge.wait_status("the outage seen and more records taken in",
                                lambda s: s["retries"] >= 1 and s["server_reachable"] is False
                                and s["spool"]["pending_records"] >= 6, timeout=30)
        assert sim.alive and down["records_in"] < 80, f"the simulation ended before the restart: {down}"
        second = Server("edge-outage-2", "--port", port, data=data)
        assert second.base == f"http://127.0.0.1:{port}", second.stdout
        code = sim.wait(60)
        assert code == 0, sim.describe()
        assert summary(sim.stdout).get("sent") == 80, sim.stdout
        wait_for_counts(second.base, {"dmls-01": 40, "fdm-01": 40}, context=edge)
        # (forwarded may exceed 80: a batch in flight at the outage may be posted twice)
        status = edge.wait_status("everything forwarded",
                                  lambda s: s["records_in"] == 80 and s["forwarded"] >= 80
                                  and s["spool"]["pending_records"] == 0 and s["server_reachable"], timeout=10)
        assert status["dropped"] == 0 and status["rejected"] == 0, status
        finish(edge, "sinter-edge")
        for machine in ("dmls-01", "fdm-01"):
            check_exactly_once(second.base, machine, 40)
        finish(second, "sinter-server (second run)")
    finally:
        stop_quietly(sim, edge, first, second)


# MARK: 4b. A wrong token, then the right one, on the same spool


def test_wrong_token_keeps_the_spool_and_the_right_one_delivers_each_record_once(tmp_path):
    """sinter-server --token right, sinter-edge --token wrong fed by sinter-sim: the server
    answers 401, the edge keeps all 40 records spooled (none rejected, none dead-lettered) and
    says so in its status file; a restart with the right token on the same spool stores every
    record exactly once."""
    spool = tmp_path / "spool"
    edge = again = server = None
    try:
        server = Server("edge-token-server", "--token", "right")
        base = server.base
        edge = Edge("edge-wrong-token", "--printers", "dmls-01,fdm-01", "--token", "wrong", server=base, spool=spool)
        run = run_sim("--dmls", "1", "--fdm", "1", "--speed", "max", "--sim-seconds", "19", "--start", START,
                      "--opcua", edge.url)
        assert run.returncode == 0, f"status {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
        assert summary(run.stdout).get("sent") == 40, run.stdout
        status = edge.wait_status("40 records spooled and the token refused",
                                  lambda s: s["records_in"] == 40 and s["spool"]["pending_records"] == 40
                                  and s["server_refuses_token"] is True and s["retries"] >= 2, timeout=30)
        assert status["forwarded"] == 0 and status["rejected"] == 0 and status["dropped"] == 0, status
        assert status["dead_letter"]["entries"] == 0, status
        assert status["last_http_error"].startswith("HTTP 401"), status
        edge._stderr.flush()
        logged = edge.stderr_path.read_text("utf-8", "replace")
        assert logged.count("edge.token_refused") == 1, logged[-4000:]   # once a minute, not per attempt
        listed = requests.get(base + "/api/v1/machines", timeout=TIMEOUT).json()["machines"]
        assert listed == [], listed
        finish(edge, "sinter-edge (wrong token)")

        again = Edge("edge-right-token", "--printers", "dmls-01,fdm-01", "--token", "right", server=base, spool=spool)
        wait_for_counts(base, {"dmls-01": 20, "fdm-01": 20}, context=again)
        status = again.wait_status("the spool forwarded",
                                   lambda s: s["spool"]["pending_records"] == 0 and s["forwarded"] == 40, timeout=10)
        assert status["spool"]["recovered_records"] == 40 and status["server_refuses_token"] is False, status
        assert status["rejected"] == 0 and status["dead_letter"]["entries"] == 0, status
        finish(again, "sinter-edge (right token)")
        for machine in ("dmls-01", "fdm-01"):
            check_exactly_once(base, machine, 20)
        listing = subprocess.run([str(edge_binary()), "dead-letter", "list", "--spool", str(spool), "--json"],
                                 capture_output=True, text=True, timeout=TIMEOUT)
        assert listing.returncode == 0, listing.stderr
        assert json.loads(listing.stdout)["entries"] == [], listing.stdout
        finish(server, "sinter-server")
    finally:
        stop_quietly(edge, again, server)


# MARK: 5. Writes to a printer the edge does not serve


def test_writes_to_an_unknown_printer_are_refused(tmp_path):
    """sinter-sim with dmls-01 and dmls-02 into an edge serving dmls-01 only: every dmls-02 record
    is refused (BadNodeIdUnknown, counted rejected by the simulator), dmls-01's all arrive."""
    edge = None
    with serve("edge-unknown") as server:
        try:
            edge = Edge("edge-unknown", "--printers", "dmls-01", server=server.base, spool=tmp_path / "spool")
            run = run_sim("--dmls", "2", "--fdm", "0", "--speed", "max", "--sim-seconds", "5", "--start", START,
                          "--opcua", edge.url)
            assert run.returncode == 0, f"status {run.returncode}\nstdout: {run.stdout}\nstderr: {run.stderr}"
            done = summary(run.stdout)
            assert done["samples"] == 6 and done["records"] == 12, done["line"]
            assert (done.get("sent"), done.get("rejected"), done.get("dropped")) == (6, 6, 0), done["line"]
            assert "dmls-02" in run.stderr, run.stderr
            wait_for_counts(server.base, {"dmls-01": 6}, context=edge)
            status = edge.wait_status("6 records forwarded", lambda s: s["forwarded"] == 6, timeout=10)
            finish(edge, "sinter-edge")
            assert set(status["machines"]) == {"dmls-01"}, status
            assert status["records_in"] == 6 and status["values_unusable"] == 0, status
            assert machine_counts(server.base) == {"dmls-01": 6}
            missing = requests.get(server.base + "/api/v1/machines/dmls-02/latest", timeout=TIMEOUT)
            assert missing.status_code == 404, missing.text
        finally:
            stop_quietly(edge)


# MARK: 6. Flags the edge refuses


@pytest.mark.parametrize("flags, named", [
    (["--average", "0", "--printers", "dmls-01"], "--average"),
    (["--spool-when-full", "maybe", "--printers", "dmls-01"], "--spool-when-full"),
    (["--listen", "none"], "--subscribe"),
    (["--listen", "none", "--mapping", "press7.map"], "--subscribe"),
    (["--frame-size", "100by100", "--printers", "dmls-01"], "--frame-size"),
    (["--batch", "0", "--printers", "dmls-01"], "--batch"),
    (["--printers", "dmls-01", "--server", "ftp://127.0.0.1:1"], "--server"),
    (["--printers", "press-01"], "--printers"),
    (["--listen", "opc.tcp://127.0.0.1:0"], "--printers"),
    (["--printers", "dmls-01", "--listen", "http://127.0.0.1:4840"], "--listen"),
    (["--average", "-1", "--printers", "dmls-01"], "got -1"),
], ids=["average-0", "spool-when-full", "listen-none", "mapping-without-subscribe", "frame-size", "batch-0",
        "server-not-http", "printer-kind", "no-printers", "listen-not-opc-tcp", "average-negative"])
def test_bad_flags_are_refused(tmp_path, flags, named):
    """Exit status ≠ 0 at once, and stderr names the flag; nothing is listening afterwards."""
    spool = tmp_path / "spool"
    try:
        run = subprocess.run([str(edge_binary()), "--spool", str(spool), "--server", "http://127.0.0.1:9",
                              "--listen", "opc.tcp://127.0.0.1:0", "--duration", "30", *flags],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=30)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"sinter-edge {flags} still running after 30 s\nstdout: {error.stdout}\nstderr: {error.stderr}",
                    pytrace=False)
    assert run.returncode != 0, f"{flags}: exit status 0\nstdout: {run.stdout}\nstderr: {run.stderr}"
    assert named in run.stderr, f"{flags}: stderr does not name {named}:\n{run.stderr}"
    assert "sinter-edge: OPC UA on" not in run.stdout, run.stdout
    # Every flag is checked before the spool is touched: a refused start leaves no spool behind.
    assert not spool.exists(), f"{flags}: the spool directory was created: {sorted(p.name for p in spool.iterdir())}"


def test_bad_mapping_line_is_refused_with_its_number(tmp_path):
    mapping = tmp_path / "bad.map"
    mapping.write_text("dmls-07 frame nsu=urn:acme:press;s=Press7.Thermal\n# fine so far\ndmls-07 power_kw\n", "utf-8")
    try:
        run = subprocess.run([str(edge_binary()), "--listen", "none", "--subscribe", "opc.tcp://127.0.0.1:9",
                              "--mapping", str(mapping), "--spool", str(tmp_path / "spool"), "--duration", "30"],
                             capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=30)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"sinter-edge still running after 30 s\nstderr: {error.stderr}", pytrace=False)
    assert run.returncode != 0, run.stderr
    assert "--mapping" in run.stderr and "line 3" in run.stderr, run.stderr
