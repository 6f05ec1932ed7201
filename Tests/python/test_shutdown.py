"""Graceful shutdown with work in flight: SIGTERM ends live streams, the process exits 0, and
what was acknowledged is there after a restart."""

from __future__ import annotations

import random
import signal
import struct
import time

import requests

from conftest import SHUTDOWN_SECONDS, Server
from helpers import TIMEOUT, at, seed_payload


def test_sigterm_with_an_open_stream_exits_cleanly_and_keeps_the_data():
    server = Server("shutdown")
    machine = "dmls-shutdown"
    payload = seed_payload(machine, at(0), random.Random(1))
    try:
        stream = requests.get(server.base + "/api/v1/stream", stream=True, timeout=(5, 30))
        assert stream.status_code == 200
        lines = stream.iter_lines(chunk_size=64, decode_unicode=True)
        assert next(lines).startswith(":")  # subscribed
        ingest = requests.post(server.base + "/api/v1/telemetry", json=payload, timeout=TIMEOUT)
        assert ingest.status_code == 201
        record_id = ingest.json()["ids"][0]

        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # The server ends the stream instead of leaving it to the client's read timeout.
        for _ in lines:
            assert time.monotonic() - started < SHUTDOWN_SECONDS
        stream.close()
        code = server.process.wait(timeout=SHUTDOWN_SECONDS)
        assert code == 0, server.stderr_tail()
    finally:
        server.kill()

    reopened = Server("shutdown-reopen", data=server.data)
    try:
        raw = requests.get(reopened.base + f"/api/v1/records/{record_id}",
                           headers={"Accept": "application/octet-stream"}, timeout=TIMEOUT)
        assert raw.status_code == 200, raw.text
        assert raw.content == struct.pack("<10000f", *payload["temperature_data"])
        assert reopened.stop() == 0, reopened.stderr_tail()
    finally:
        reopened.kill()
        reopened.close()
        server.close()
