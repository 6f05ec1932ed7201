"""Live sinter-server processes for the Python API tests.

Each server runs the real binary (``SINTER_SERVER_BIN``, default ``.build/debug/sinter-server``)
over a fresh temporary data directory on a free loopback port. Start-up waits for the line
``sinter-server listening on http://127.0.0.1:PORT (data: …)`` on stdout; teardown sends SIGTERM
and requires a clean exit (status 0) within 20 seconds, so every test run also checks graceful
shutdown.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60
SHUTDOWN_SECONDS = 20
TOKEN = "s3cret"
# Hypothesis (under schemathesis) keeps its files out of the work tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "sinter-py-hypothesis"))
LISTENING = re.compile(r"^sinter-server listening on (http://127\.0\.0\.1:(\d+)) \(data: .*\)$")


def server_binary() -> Path:
    path = Path(os.environ.get("SINTER_SERVER_BIN", ".build/debug/sinter-server"))
    if not path.is_absolute():
        path = REPO / path
    return path


class ChildProcess:
    """A child process of the tests whose stdout lines are read as they come (stderr goes to a file)."""

    def __init__(self, name: str, args: list[str], directory: Path) -> None:
        self.name = name
        self.directory = directory
        self.stderr_path = self.directory / "stderr.log"
        self._stderr = open(self.stderr_path, "wb")
        self.args = args
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._stderr,
                                        stdin=subprocess.DEVNULL)
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.stdout: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self._lines.put(None)

    def stderr_tail(self, limit: int = 4000) -> str:
        self._stderr.flush()
        try:
            text = self.stderr_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return text[-limit:]

    def describe(self) -> str:
        return f"args: {self.args}\nstdout: {self.stdout}\nstderr:\n{self.stderr_tail()}"

    def wait_for_line(self, pattern: re.Pattern, timeout: float) -> re.Match:
        """The first stdout line matching `pattern` (earlier lines are kept in `stdout`)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                pytest.fail(f"{self.name}: no line matching {pattern.pattern!r} within {timeout} s\n{self.describe()}",
                            pytrace=False)
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self.process.wait(timeout=5)
                pytest.fail(f"{self.name}: exited with status {code} before a line matching {pattern.pattern!r}\n"
                            f"{self.describe()}", pytrace=False)
            self.stdout.append(line)
            match = pattern.match(line)
            if match:
                return match

    def next_line(self, timeout: float) -> str | None:
        """The next stdout line, None at end of output; raises queue.Empty after `timeout`."""
        return self._lines.get(timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
        self._stderr.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class Server(ChildProcess):
    """One sinter-server child process."""

    def __init__(self, name: str, *extra: str, data: Path | None = None) -> None:
        binary = server_binary()
        if not binary.exists():
            pytest.fail(f"no server binary at {binary}: build it (swift build --product sinter-server) "
                        f"or set SINTER_SERVER_BIN", pytrace=False)
        directory = Path(tempfile.mkdtemp(prefix=f"sinter-py-{name}-"))
        self.data = data or directory / "data"
        args = [str(binary), "--data", str(self.data), "--port", "0", "--host", "127.0.0.1", *extra]
        super().__init__(name, args, directory)
        self.base = self.wait_for_line(LISTENING, STARTUP_SECONDS).group(1)

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> int:
        """SIGTERM, then the exit status (None → killed after the deadline)."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            raise



EDGE_STARTED = re.compile(r"^sinter-edge: (?:OPC UA on (opc\.tcp://127\.0\.0\.1:\d+) for \d+ printers"
                          r"|no OPC UA server \(client mode\))(?:, subscribed to \S+)? -> (\S+), average (\d+), spool (.+)$")


def edge_binary() -> Path:
    path = Path(os.environ.get("SINTER_EDGE_BIN", ".build/debug/sinter-edge"))
    if not path.is_absolute():
        path = REPO / path
    return path


class Edge(ChildProcess):
    """One sinter-edge child process with a status file; ready once it printed its `sinter-edge: …` line.

    `url` is its OPC UA endpoint (None in client mode). The spool directory is the caller's, so
    that a second Edge can reuse it; the status file lives in the edge's own temporary directory.
    """

    def __init__(self, name: str, *extra: str, server: str, spool: Path,
                 listen: str = "opc.tcp://127.0.0.1:0") -> None:
        binary = edge_binary()
        if not binary.exists():
            pytest.fail(f"no edge binary at {binary}: build it (swift build --product sinter-edge) "
                        f"or set SINTER_EDGE_BIN", pytrace=False)
        directory = Path(tempfile.mkdtemp(prefix=f"sinter-py-{name}-"))
        self.spool = spool
        self.status_path = directory / "status.json"
        args = [str(binary), "--listen", listen, "--server", server, "--spool", str(spool),
                "--status-file", str(self.status_path), "--report-every", "1", *extra]
        super().__init__(name, args, directory)
        self.url: str | None = self.wait_for_line(EDGE_STARTED, STARTUP_SECONDS).group(1)

    def status(self) -> dict | None:
        """The status file's JSON (written atomically), or None before the first write."""
        try:
            return json.loads(self.status_path.read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def wait_status(self, what: str, predicate, timeout: float) -> dict:
        """Polls the status file until `predicate(status)` holds; fails after `timeout` or if the edge exits."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.status() or last
            if last is not None and predicate(last):
                return last
            if not self.alive:
                pytest.fail(f"{self.name}: exited (status {self.process.returncode}) before {what}\n"
                            f"last status: {last}\n{self.describe()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: not {what} within {timeout} s\nlast status: {last}\n{self.describe()}",
                            pytrace=False)
            time.sleep(0.1)   # polling interval of a file rewritten every second

    def stop(self) -> int:
        """SIGTERM, then the exit status; kills it and fails past SHUTDOWN_SECONDS."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name}: still running {SHUTDOWN_SECONDS} s after SIGTERM\n{self.describe()}",
                        pytrace=False)


def _serve(name: str, *extra: str):
    server = Server(name, *extra)
    try:
        yield server
        was_alive = server.alive
        try:
            code = server.stop()
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name}: still running {SHUTDOWN_SECONDS} s after SIGTERM\nstderr:\n{server.stderr_tail()}",
                        pytrace=False)
        assert was_alive, f"{name}: the server died during the tests (status {code})\nstderr:\n{server.stderr_tail()}"
        assert code == 0, f"{name}: exit status {code} after SIGTERM (expected 0)\nstderr:\n{server.stderr_tail()}"
    finally:
        server.kill()
        server.close()


@pytest.fixture(scope="session")
def server():
    """An open server (no token) shared by the client tests."""
    yield from _serve("main")


@pytest.fixture(scope="session")
def base(server) -> str:
    return server.base


@pytest.fixture(scope="session")
def token_server():
    """A server whose writes need ``Authorization: Bearer s3cret``."""
    yield from _serve("token", "--token", TOKEN)


@pytest.fixture(scope="session")
def small_server():
    """A server that refuses bodies over 100,000 bytes."""
    yield from _serve("small", "--max-body-bytes", "100000")


@pytest.fixture(scope="session")
def fuzz_server():
    """A server of its own for schemathesis, so fuzzed writes never disturb the other tests."""
    yield from _serve("fuzz")


@pytest.fixture(scope="session")
def http():
    with requests.Session() as session:
        yield session
