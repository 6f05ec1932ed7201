"""OPC UA interoperability with the PyPI ``asyncua`` stack (1.1.5), each peer a separate process.

Three groups, all on loopback, every child process bounded (its own lifetime flag, a pytest-side
deadline, and a kill in teardown):

a. ``test_peer_*``: asyncua client (opcua_peer_client.py) against the asyncua peer server
   (opcua_peer_server.py): validates the peers themselves, so that failures in b and c point at
   sinter-opcua and not at the test tools.
b. ``test_our_server_*``: asyncua client against ``sinter-opcua serve``.
c. ``test_our_client_*``: ``sinter-opcua check`` against the asyncua peer server.

Both check runners print one JSON line per check, ``{"check", "ok", "detail"}``, in the order of
CHECKS, and exit 0 iff all are ok; a refused identity prints the connect line alone (ok false,
the status name in the detail) and exits 1.

sinter-opcua comes from ``SINTER_OPCUA_BIN`` (set by ``make test-python``); without it the b and
c tests fail, they are not skipped.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, ChildProcess

HERE = Path(__file__).resolve().parent
PEER_SERVER = HERE / "opcua_peer_server.py"
PEER_CLIENT = HERE / "opcua_peer_client.py"

CHECKS = ["connect", "browse_server", "read_namespace_array", "read_server_status", "translate_browse_path",
          "write_read_matrix", "subscription"]
PRINTERS = "dmls-01,fdm-01"
USER, PASSWORD = "operator", "s3cret"
BUFFER = 8192
REJECTED = ("BadUserAccessDenied", "BadIdentityTokenRejected")

STARTUP_SECONDS = 30      # until the `listening` line
SHUTDOWN_SECONDS = 20     # from SIGTERM to the exit
LIFETIME_SECONDS = 300    # the servers' own limit, should pytest vanish without its teardown
CHECK_TIMEOUT = 10        # --timeout of the asyncua check runner (each request, each check)
RUN_SECONDS = 150         # one check-runner process (beyond the asyncua runner's own worst case)

LISTENING = re.compile(r"^listening (opc\.tcp://127\.0\.0\.1:(\d+))$")
HELLO = re.compile(r"^hello receive_buffer=(\d+) send_buffer=(\d+) max_message_size=(\d+) max_chunk_count=(\d+)$")
ACKNOWLEDGED = re.compile(r"acknowledged receive buffer (\d+), send buffer (\d+)")
MATRIX_CHUNKS = re.compile(r"write sent in (\d+) chunks \(largest (\d+) bytes\), "
                           r"read answered in (\d+) chunks \(largest (\d+) bytes\)")


def opcua_binary() -> Path:
    value = os.environ.get("SINTER_OPCUA_BIN")
    if not value:
        pytest.fail("SINTER_OPCUA_BIN is not set: run `make test-python`, or set it to the sinter-opcua binary "
                    "(e.g. SINTER_OPCUA_BIN=.build/debug/sinter-opcua after `swift build --product sinter-opcua`)",
                    pytrace=False)
    path = Path(value)
    if not path.is_absolute():
        path = REPO / path
    if not path.exists():
        pytest.fail(f"no sinter-opcua binary at {path}: build it (swift build --product sinter-opcua) "
                    f"or fix SINTER_OPCUA_BIN", pytrace=False)
    return path


# MARK: Processes


class OpcuaServer(ChildProcess):
    """An OPC UA server child process, ready once it printed `listening opc.tcp://127.0.0.1:PORT`."""

    def __init__(self, name: str, args: list[str]) -> None:
        started = time.monotonic()
        super().__init__(name, args, Path(tempfile.mkdtemp(prefix=f"sinter-py-{name}-")))
        try:
            self.url = self.wait_for_line(LISTENING, STARTUP_SECONDS).group(1)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.monotonic() - started

    def drain(self) -> None:
        """Moves the stdout lines printed so far into `stdout`."""
        while True:
            try:
                line = self.next_line(timeout=0)
            except queue.Empty:
                return
            if line is None:
                return
            self.stdout.append(line)

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


def peer_server(name: str, *extra: str) -> OpcuaServer:
    return OpcuaServer(name, [sys.executable, str(PEER_SERVER), "--host", "127.0.0.1", "--port", "0",
                              "--printers", PRINTERS, "--user", f"{USER}:{PASSWORD}",
                              "--lifetime", str(LIFETIME_SECONDS), *extra])


def our_server(name: str, *extra: str) -> OpcuaServer:
    return OpcuaServer(name, [str(opcua_binary()), "serve", "--listen", "opc.tcp://127.0.0.1:0",
                              "--printers", PRINTERS, "--user", f"{USER}:{PASSWORD}",
                              "--allow-username-over-none", *extra, "--duration", str(LIFETIME_SECONDS)])


def serving(make, name: str, *extra: str):
    server = make(name, *extra)
    try:
        yield server
        was_alive = server.alive
        code = server.stop()
        assert was_alive, f"{name}: died during the tests (status {code})\n{server.describe()}"
        assert code == 0, f"{name}: exit status {code} after SIGTERM (expected 0)\n{server.describe()}"
    finally:
        server.kill()
        server.close()


@pytest.fixture(scope="module")
def peer():
    """The asyncua peer server with asyncua's default 65535-byte buffers."""
    yield from serving(peer_server, "opcua-peer")


@pytest.fixture(scope="module")
def small_peer():
    """The asyncua peer server limited to 8192-byte buffers."""
    yield from serving(peer_server, "opcua-peer-small", "--max-buffer-size", str(BUFFER))


class LazyServer:
    """A module-wide server started by the first test that asks for it, so that a missing or broken
    sinter-opcua fails those tests (instead of erroring in fixture set-up); a start that failed once
    fails the later tests at once with the same message."""

    def __init__(self, make, name: str, *extra: str) -> None:
        self._make, self._name, self._extra = make, name, extra
        self._server: OpcuaServer | None = None
        self._failure: str | None = None

    @property
    def url(self) -> str:
        if self._failure is not None:
            pytest.fail(f"{self._name} did not start (see the first test that used it):\n{self._failure}",
                        pytrace=False)
        if self._server is None:
            try:
                self._server = self._make(self._name, *self._extra)
            except pytest.fail.Exception as failure:
                self._failure = str(failure)
                raise
        return self._server.url

    def finish(self) -> None:
        if self._server is None:
            return
        server = self._server
        try:
            was_alive = server.alive
            code = server.stop()
            assert was_alive, f"{self._name}: died during the tests (status {code})\n{server.describe()}"
            assert code == 0, f"{self._name}: exit status {code} after SIGTERM (expected 0)\n{server.describe()}"
        finally:
            server.kill()
            server.close()


@pytest.fixture(scope="module")
def ours():
    """sinter-opcua serve with its default buffers (started on first use)."""
    server = LazyServer(our_server, "sinter-opcua")
    yield server
    server.finish()


@pytest.fixture(scope="module")
def ours_small():
    """sinter-opcua serve limited to 8192-byte buffers (started on first use)."""
    server = LazyServer(our_server, "sinter-opcua-small", "--max-buffer-size", str(BUFFER))
    yield server
    server.finish()


# MARK: Check runs


class Run:
    """One finished check-runner process: its exit status and its parsed JSON lines."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        try:
            done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=RUN_SECONDS)
        except subprocess.TimeoutExpired as error:
            pytest.fail(f"still running after {RUN_SECONDS} s: {command}\nstdout: {error.stdout}\n"
                        f"stderr: {error.stderr}", pytrace=False)
        self.code = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.lines: list[dict] = []
        for line in done.stdout.splitlines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"not a JSON line: {line!r}\n{self}", pytrace=False)
            assert isinstance(entry, dict) and set(entry) == {"check", "ok", "detail"}, f"{entry!r}\n{self}"
            assert isinstance(entry["ok"], bool) and isinstance(entry["detail"], str), f"{entry!r}\n{self}"
            self.lines.append(entry)
        self.checks = {entry["check"]: entry for entry in self.lines}

    def __str__(self) -> str:
        return f"command: {self.command}\nexit status: {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr[-4000:]}"

    __repr__ = __str__

    def detail(self, check: str) -> str:
        return self.checks[check]["detail"]

    def assert_all_ok(self) -> None:
        assert [entry["check"] for entry in self.lines] == CHECKS, f"checks missing or out of order\n{self}"
        failed = [entry for entry in self.lines if not entry["ok"]]
        assert not failed, f"failed checks: {failed}\n{self}"
        assert self.code == 0, f"every check ok but exit status {self.code}\n{self}"

    def assert_rejected(self) -> None:
        assert [entry["check"] for entry in self.lines] == ["connect"], \
            f"expected the connect check alone (no other check after a refused identity)\n{self}"
        connect = self.lines[0]
        assert connect["ok"] is False, f"a wrong password was accepted\n{self}"
        assert any(name in connect["detail"] for name in REJECTED), \
            f"the connect detail names neither of {REJECTED}\n{self}"
        assert self.code == 1, f"exit status {self.code}, expected 1\n{self}"


def peer_client(url: str, *extra: str) -> Run:
    return Run([sys.executable, str(PEER_CLIENT), url, "--printer", "dmls-01", "--timeout", str(CHECK_TIMEOUT),
                *extra])


def our_client(url: str, *extra: str) -> Run:
    return Run([str(opcua_binary()), "check", url, "--printer", "dmls-01", *extra])


def assert_chunked(run: Run, buffer: int = BUFFER) -> None:
    """The asyncua client acknowledged `buffer`-byte buffers and moved the matrix in chunks no larger."""
    acknowledged = ACKNOWLEDGED.search(run.detail("connect"))
    assert acknowledged, run
    assert (int(acknowledged[1]), int(acknowledged[2])) == (buffer, buffer), run
    chunks = MATRIX_CHUNKS.search(run.detail("write_read_matrix"))
    assert chunks, run
    written, largest_written, read, largest_read = map(int, chunks.groups())
    # 10,000 Float values are 40,000 bytes: at least five chunks of 8192 bytes each way.
    assert written >= 5 and largest_written <= buffer, run
    assert read >= 5 and largest_read <= buffer, run


def hellos(server: OpcuaServer) -> list[tuple[int, int]]:
    """(receive, send) buffer sizes of the Hellos the peer server printed since the last call."""
    server.drain()
    found = [HELLO.match(line) for line in server.stdout]
    server.stdout.clear()
    return [(int(m[1]), int(m[2])) for m in found if m]


def wait_for_hello(server: OpcuaServer) -> tuple[int, int]:
    """The (receive, send) buffer sizes of the next Hello line of the peer server."""
    match = server.wait_for_line(HELLO, timeout=10)
    server.stdout.clear()
    return int(match[1]), int(match[2])


# MARK: a. asyncua client against the asyncua peer server


def test_peer_anonymous(peer):
    run = peer_client(peer.url)
    run.assert_all_ok()
    assert "anonymous" in run.detail("connect"), run
    # asyncua's own Hello offers 2**31 - 1; the peer answers with its 65535-byte limit.
    acknowledged = ACKNOWLEDGED.search(run.detail("connect"))
    assert acknowledged and (int(acknowledged[1]), int(acknowledged[2])) == (65535, 65535), run
    assert "5/5" in run.detail("subscription"), run
    print(f"asyncua peer server started in {peer.startup_seconds:.2f} s")


def test_peer_username_accepted(peer):
    run = peer_client(peer.url, "--username", USER, "--password", PASSWORD)
    run.assert_all_ok()
    assert f"UserName {USER!r}" in run.detail("connect"), run


@pytest.mark.parametrize("user, password", [(USER, "wrong"), ("nobody", PASSWORD), (USER, "")],
                         ids=["wrong-password", "unknown-user", "empty-password"])
def test_peer_bad_credentials_refused(peer, user, password):
    peer_client(peer.url, "--username", user, "--password", password).assert_rejected()


def test_peer_buffer_8192(peer):
    hellos(peer)
    run = peer_client(peer.url, "--buffer-size", str(BUFFER))
    run.assert_all_ok()
    # What the client really put in its Hello, as the server read it.
    assert wait_for_hello(peer) == (BUFFER, BUFFER), run
    assert_chunked(run)


def test_peer_server_limits_its_buffers(small_peer):
    """asyncua's default Hello (2**31 - 1 bytes) against --max-buffer-size 8192: the server's limit wins."""
    hellos(small_peer)
    run = peer_client(small_peer.url)
    run.assert_all_ok()
    assert wait_for_hello(small_peer) == (2**31 - 1, 2**31 - 1), run
    assert_chunked(run)


def test_peer_client_reports_failures(peer):
    """A printer the server does not have: the address-space checks fail and the exit status is 1."""
    run = peer_client(peer.url, "--printer", "dmls-09")
    assert [entry["check"] for entry in run.lines] == CHECKS, run
    verdicts = {entry["check"]: entry["ok"] for entry in run.lines}
    assert verdicts == {**{name: True for name in CHECKS[:4]},
                        "translate_browse_path": False, "write_read_matrix": False, "subscription": False}, run
    assert "BadNoMatch" in run.detail("translate_browse_path"), run
    # asyncua checks the (absent) node's access level before its existence: BadUserAccessDenied.
    assert run.detail("write_read_matrix").startswith("Bad"), run
    assert run.code == 1, run


def test_peer_client_only_selects_checks(peer):
    run = peer_client(peer.url, "--only", "read_server_status,translate_browse_path")
    assert [(e["check"], e["ok"]) for e in run.lines] == [("read_server_status", True),
                                                         ("translate_browse_path", True)], run
    assert run.code == 0, run


def test_peer_client_matrix_write_always_changes_the_value(peer):
    """A second run with the same seed finds its values in place and writes the next seed's instead."""
    first = peer_client(peer.url, "--only", "write_read_matrix", "--seed", "41")
    second = peer_client(peer.url, "--only", "write_read_matrix", "--seed", "41")
    for run in (first, second):
        assert [(e["check"], e["ok"]) for e in run.lines] == [("write_read_matrix", True)], run
    assert "(seed 41)" in first.detail("write_read_matrix"), first
    assert "(seed 42)" in second.detail("write_read_matrix"), second


def test_peer_server_ends_by_itself():
    server = peer_server("opcua-peer-lifetime", "--lifetime", "1")
    try:
        try:
            code = server.process.wait(timeout=SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {SHUTDOWN_SECONDS} s after a 1 s lifetime\n{server.describe()}",
                        pytrace=False)
        assert code == 0, server.describe()
        server.wait_for_line(re.compile(r"^stopped \(lifetime over\)$"), timeout=5)
    finally:
        server.close()


# MARK: b. asyncua client against sinter-opcua serve


def test_our_server_anonymous(ours):
    peer_client(ours.url).assert_all_ok()


def test_our_server_username_accepted(ours):
    run = peer_client(ours.url, "--username", USER, "--password", PASSWORD)
    run.assert_all_ok()
    assert f"UserName {USER!r}" in run.detail("connect"), run


def test_our_server_wrong_password_refused(ours):
    peer_client(ours.url, "--username", USER, "--password", "wrong").assert_rejected()


def test_our_server_buffer_8192(ours_small):
    run = peer_client(ours_small.url, "--buffer-size", str(BUFFER))
    run.assert_all_ok()
    assert_chunked(run)


def test_our_server_limits_its_buffers(ours_small):
    """asyncua's default Hello offers 2**31 - 1 bytes; --max-buffer-size 8192 must still cap every chunk."""
    run = peer_client(ours_small.url)
    run.assert_all_ok()
    assert_chunked(run)


# MARK: c. sinter-opcua check against the asyncua peer server


def test_our_client_anonymous(peer):
    our_client(peer.url).assert_all_ok()


def test_our_client_username_accepted(peer):
    our_client(peer.url, "--username", USER, "--password", PASSWORD).assert_all_ok()


def test_our_client_wrong_password_refused(peer):
    our_client(peer.url, "--username", USER, "--password", "wrong").assert_rejected()


def test_our_client_buffer_8192(small_peer):
    """Against a server refusing chunks over 8192 bytes, having offered 8192-byte buffers in the Hello."""
    opcua_binary()
    hellos(small_peer)
    run = our_client(small_peer.url, "--buffer-size", str(BUFFER))
    run.assert_all_ok()
    assert wait_for_hello(small_peer) == (BUFFER, BUFFER), run
