"""Good means durable: sinter-edge is SIGKILLed right after it answered OPC UA Writes Good, and
every Write it answered Good reaches the store, once.

Real processes on loopback: sinter-server, sinter-edge (restarted on the same spool directory and
OPC UA port after each kill) and opcua_durable_writer.py, an asyncua client that writes each
printer's fields in one Write (one record per Write) from two concurrent tasks on one connection
and logs which Writes were answered Good. The test reads that log as it comes and kills the edge
a seeded random number of Good answers into each run (at once, or a seeded 1-4 ms later), not
after the spool drained. A last edge run, not killed, forwards what the spool holds; then the
server must hold every Good sample of each printer, no sample twice, and nothing that was never
written.

SIGKILL keeps the page cache, so this shows that Good comes only once the records are in the
spool files; that they are also fdatasynced (group commit) is shown by the Swift unit tests of
the spool (SpoolGroupCommitTests), which count the fdatasyncs.
"""

from __future__ import annotations

import contextlib
import queue
import random
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ChildProcess, Edge, _serve
from test_edge import finish, stop_quietly
from test_sim import START_NS, records

HERE = Path(__file__).resolve().parent
WRITER = HERE / "opcua_durable_writer.py"
PRINTERS = ("dmls-01", "fdm-01")
KILLS = 10
SEED = 17
RUN_SECONDS = 60    # one edge run: the writer's Good answers before the kill, and its log after

serve = contextlib.contextmanager(_serve)


class Writer(ChildProcess):
    """opcua_durable_writer.py from sample `first` on; `lines` keeps its stdout as read."""

    def __init__(self, url: str, first: int) -> None:
        super().__init__("durable-writer", [sys.executable, str(WRITER), url, "--printers", ",".join(PRINTERS),
                                            "--first", str(first), "--count", "2000", "--start-ns", str(START_NS),
                                            "--seed", str(first)],
                         Path(tempfile.mkdtemp(prefix="sinter-py-durable-writer-")))
        self.lines: list[str] = []

    def read(self, deadline: float) -> str | None:
        """The next line (kept in `lines`), None at the end of its output; fails at `deadline`."""
        try:
            line = self.next_line(max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"durable-writer: no line before the deadline\n{self.describe()}\nlog: {self.lines[-20:]}",
                        pytrace=False)
        if line is not None:
            self.lines.append(line)
        return line

    def samples(self, kind: str) -> dict[str, set[int]]:
        """Timestamps per printer of the `attempt`, `good` or `bad` lines."""
        found: dict[str, set[int]] = {p: set() for p in PRINTERS}
        for line in self.lines:
            parts = line.split()
            if parts and parts[0] == kind:
                found[parts[1]].add(int(parts[2]))
        return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_every_write_answered_good_survives_sigkill_of_the_edge(tmp_path):
    rng = random.Random(SEED)
    spool = tmp_path / "spool"
    listen = f"opc.tcp://127.0.0.1:{free_port()}"
    attempted: dict[str, set[int]] = {p: set() for p in PRINTERS}
    good: dict[str, set[int]] = {p: set() for p in PRINTERS}
    first = 0
    edge = writer = None
    with serve("edge-durable") as server:
        try:
            for kill in range(KILLS):
                edge = Edge(f"edge-durable-{kill}", "--printers", ",".join(PRINTERS), server=server.base,
                            spool=spool, listen=listen)
                writer = Writer(edge.url, first)
                target = rng.randint(3, 40)
                delay = rng.choice([0.0, 0.0, 0.001, 0.004])
                deadline = time.monotonic() + RUN_SECONDS
                goods = 0
                while goods < target:
                    line = writer.read(deadline)
                    assert line is not None and not line.startswith("stopped"), \
                        f"run {kill}: the writer stopped after {goods} of {target} Good answers\n{writer.describe()}" \
                        f"\nlog: {writer.lines[-20:]}\n{edge.describe()}"
                    assert not line.startswith("bad"), f"run {kill}: {line}\n{edge.describe()}"
                    goods += line.startswith("good")
                if delay:
                    time.sleep(delay)   # the seeded kill moment: at once, or a few ms after a Good answer
                edge.process.send_signal(signal.SIGKILL)
                assert edge.process.wait(timeout=10) == -signal.SIGKILL, edge.describe()
                # The writer sees its connection fail and stops; the rest of its log says which
                # Writes in flight at the kill were still answered Good.
                while (line := writer.read(deadline)) is not None:
                    pass
                assert writer.process.wait(timeout=10) == 0, writer.describe()
                assert writer.lines[-1].startswith("stopped"), writer.lines[-5:]
                for printer, times in writer.samples("attempt").items():
                    attempted[printer] |= times
                for printer, times in writer.samples("good").items():
                    good[printer] |= times
                first = (max(max(t) for t in attempted.values()) - START_NS) // 1_000_000_000 + 1
                edge.close()
                writer.close()
                edge = writer = None

            # A last run, not killed, forwards what the spool holds.
            edge = Edge("edge-durable-last", "--printers", ",".join(PRINTERS), server=server.base, spool=spool,
                        listen=listen)
            deadline = time.monotonic() + RUN_SECONDS
            while True:
                stored = {p: [r["timestamp_ns"] for r in records(server.base, p)] for p in PRINTERS}
                missing = {p: sorted(good[p] - set(stored[p])) for p in PRINTERS}
                if not any(missing.values()):
                    break
                assert time.monotonic() < deadline, \
                    f"Good writes not in the store after {RUN_SECONDS} s: { {p: len(m) for p, m in missing.items()} } " \
                    f"first {[(p, m[:5]) for p, m in missing.items()]}\nedge status: {edge.status()}\n{edge.describe()}"
                time.sleep(0.2)   # polling interval
            edge.wait_status("the spool drained", lambda s: s["spool"]["pending_records"] == 0, timeout=RUN_SECONDS)
            stored = {p: [r["timestamp_ns"] for r in records(server.base, p)] for p in PRINTERS}
            for printer in PRINTERS:
                times = stored[printer]
                assert len(times) == len(set(times)), f"{printer}: a sample stored twice"
                assert good[printer] <= set(times), printer
                assert set(times) <= attempted[printer], f"{printer}: stored samples that were never written"
            answered = sum(len(g) for g in good.values())
            assert answered >= KILLS * 3, good
            print(f"\nedge durability: {KILLS} kills, {answered} writes answered Good, "
                  f"{sum(len(a) for a in attempted.values())} attempted, "
                  f"{sum(len(s) for s in stored.values())} stored, lost 0")
            finish(edge, "sinter-edge (last run)")
            edge = None
        finally:
            stop_quietly(edge, writer)
