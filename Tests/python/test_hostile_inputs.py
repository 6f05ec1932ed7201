"""Hostile and edge-case requests: each must get a 4xx (never a 5xx) and leave the server running.

Fuzzing rarely hits these exact corners, so they are spelled out. The probes share one server;
when a probe kills it, the failure shows the server's last words and the next probe gets a new
server.
"""

from __future__ import annotations

import json
import struct

import pytest
import requests

from conftest import Server
from helpers import TIMEOUT

MACHINE = "dmls-probe"


@pytest.fixture(scope="module")
def probes():
    holder = {"server": Server("probe")}
    requests.post(holder["server"].base + "/api/v1/telemetry", timeout=TIMEOUT, json=[
        {"machine_id": MACHINE, "timestamp": 1795255200000 + i, "channels": {"power_kw": i}} for i in range(3)])
    yield holder
    server = holder["server"]
    try:
        if server.alive:
            assert server.stop() == 0, server.stderr_tail()
    finally:
        server.kill()
        server.close()


@pytest.fixture
def probe_server(probes):
    if not probes["server"].alive:
        probes["server"].close()
        probes["server"] = Server("probe")
        requests.post(probes["server"].base + "/api/v1/telemetry", timeout=TIMEOUT, json=[
            {"machine_id": MACHINE, "timestamp": 1795255200000 + i, "channels": {"power_kw": i}} for i in range(3)])
    return probes["server"]


def last_words(server: Server) -> str:
    tail = server.stderr_tail(20_000)
    lines = [line for line in tail.splitlines()
             if "Fatal error" in line or ("/Sources/" in line and ".build/" not in line)]
    return "\n".join(lines[:6]) or tail[-2000:]


def send(server: Server, method: str, path: str, **kwargs):
    try:
        response = requests.request(method, server.base + path, timeout=TIMEOUT, **kwargs)
    except requests.ConnectionError as error:
        pytest.fail(f"{method} {path}: no answer ({error.__class__.__name__}); the server died:\n"
                    f"{last_words(server)}", pytrace=False)
    try:
        health = requests.get(server.base + "/healthz", timeout=TIMEOUT)
    except requests.ConnectionError:
        pytest.fail(f"{method} {path}: answered {response.status_code}, then the server died:\n"
                    f"{last_words(server)}", pytrace=False)
    assert health.status_code == 200
    assert response.status_code < 500, (method, path, response.status_code, response.text[:500])
    return response


# Ten fraction digits: more than nanoseconds. RFC 3339 allows any number; Sinter keeps nine
# and drops the rest (this once trapped the server).
LONG_FRACTION = "2026-11-21T10:00:00.1234567890Z"


@pytest.mark.parametrize("path, field", [
    # 2^64 ns over one 1 ns step: far more buckets than an Int holds.
    (f"/api/v1/machines/{MACHINE}/series?channel=power_kw&from=-9223372036853&to=9223372036853&step=0.000001ms",
     "step"),
    (f"/api/v1/machines/{MACHINE}/series?channel=power_kw&from=-9223372036853&to=9223372036853&step=1ms", "step"),
    (f"/api/v1/machines/{MACHINE}/series?channel=power_kw&step=0", "step"),
    (f"/api/v1/machines/{MACHINE}/series?channel=power_kw&step=-5s", "step"),
    (f"/api/v1/machines/{MACHINE}/series?channel=power_kw&step=1e999s", "step"),
    (f"/api/v1/machines/{MACHINE}/series?channel=power_kw&step=nans", "step"),
    (f"/api/v1/machines/{MACHINE}/series?channel=power_kw&from=9223372036854&to=9223372036854", None),
    (f"/api/v1/machines/{MACHINE}/records?from={LONG_FRACTION}", "from"),
    (f"/api/v1/machines/{MACHINE}/records?to=9999999999999999999999", "to"),
    (f"/api/v1/machines/{MACHINE}/records?from=-9223372036854&to=9223372036854&order=desc", None),
    (f"/api/v1/machines/{MACHINE}/records?limit=99999999999999999999", "limit"),
    (f"/api/v1/machines/{MACHINE}/records?limit=-1", "limit"),
    (f"/api/v1/machines/{MACHINE}/latest?include=frame,none,frames", None),
    (f"/api/v1/alerts?from={LONG_FRACTION}", "from"),
    ("/api/v1/alerts?limit=0", "limit"),
    ("/api/v1/records/dmls-probe@99999999999999999999", "id"),
    ("/api/v1/records/dmls-probe@-9223372036854775808", "id"),
    ("/api/v1/records/@1", "id"),
    ("/api/v1/machines/..%2F..%2Fetc/latest", "machine_id"),
    ("/api/v1/stream?machine=bad%20id", "machine"),
])
def test_hostile_queries(probe_server, path, field):
    response = send(probe_server, "GET", path, stream=path.startswith("/api/v1/stream"))
    with response:
        if response.status_code >= 400 and field:
            body = response.json()
            assert body["error"].get("field") == field, body


def ingest(server, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return send(server, "POST", "/api/v1/telemetry", data=data, headers={"Content-Type": content_type})


@pytest.mark.parametrize("body, status", [
    ({"machine_id": MACHINE, "timestamp": LONG_FRACTION}, 201),
    ({"machine_id": MACHINE, "timestamp": "2026-02-30T00:00:00Z"}, 422),
    ({"machine_id": MACHINE, "timestamp": "9999-12-31T23:59:59Z"}, 422),
    ({"machine_id": MACHINE, "timestamp": "0001-01-01T00:00:00Z"}, 422),
    ({"machine_id": MACHINE, "timestamp": 1e300}, 422),
    ({"machine_id": MACHINE, "timestamp": -9223372036854775808}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "frame": {"width": 4096, "height": 4096, "data": [1]}}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "frame": {"width": 0, "height": 0, "data": []}}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "frame": {"width": 1e10, "height": 1, "data": [1]}}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "frame": [[]]}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "channels": {"": 1}}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "channels": {f"c{i}": i for i in range(1025)}}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "power_consumption": 1e39}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "kind": "k" * 65}, 422),
    ({"machine_id": MACHINE, "timestamp": 1795255200000, "state": ""}, 422),
    ([], 422),
    ("[" * 100_000, 400),
    ('{"machine_id": "\\ud800", "timestamp": 1}', 400),
    (b'{"machine_id": "\xff\xfe", "timestamp": 1}', 400),
    ("null", 422),
    ("1e99999", 422),
])
def test_hostile_ingest(probe_server, body, status):
    response = ingest(probe_server, body)
    assert response.status_code == status, response.text[:500]


@pytest.mark.parametrize("body", [
    b"",
    b"SNFB",
    b"SNFB\x01\x00\x00\x00\xff\xff\xff\xff",                      # four billion records announced
    b"SNFB\x01\x00\x00\x00\x01\x00\x00\x00\xff\xff\xff\x7f",      # a record longer than the body
    b"SNFB\x02\x00\x00\x00\x00\x00\x00\x00",                      # unknown version
    b"XXXX\x01\x00\x00\x00\x00\x00\x00\x00",
    b"SNFB\x01\x00\x00\x00\x01\x00\x00\x00" + struct.pack("<I", 30) + b"\x00" * 30,
])
def test_hostile_batches(probe_server, body):
    response = ingest(probe_server, body, "application/vnd.sinter.frames")
    assert response.status_code in (400, 422), response.text[:500]


@pytest.mark.parametrize("body, status", [
    ({"machine_id": MACHINE, "rule": "r", "severity": "info", "message": "m", "timestamp": LONG_FRACTION}, 201),
    ({"machine_id": MACHINE, "rule": "r" * 65, "severity": "info", "message": "m"}, 422),
    ({"machine_id": MACHINE, "rule": "bad rule", "severity": "info", "message": "m"}, 422),
    ({"machine_id": MACHINE, "rule": "r", "severity": "info", "message": ""}, 422),
    ({"machine_id": MACHINE, "rule": "r", "severity": "info", "message": "m" * 1025}, 422),
    ({"machine_id": MACHINE, "rule": "r", "severity": "info", "message": "m",
      "details": {f"d{i}": i for i in range(65)}}, 422),
    ({"machine_id": MACHINE, "rule": "r", "severity": "info", "message": "m", "details": {"bad name": 1}}, 422),
    ('{"machine_id": "dmls-probe", "rule": "r", "severity": "info", "message": "m", "details": {"x": 1e999}}', None),
    ("m" * 70_000, 413),
])
def test_hostile_alerts(probe_server, body, status):
    data = body if isinstance(body, str) else json.dumps(body)
    response = send(probe_server, "POST", "/api/v1/alerts", data=data, headers={"Content-Type": "application/json"})
    if status:
        assert response.status_code == status, response.text[:500]
    else:
        assert 400 <= response.status_code < 500, response.text[:500]


@pytest.mark.parametrize("alert_id", ["0", "-1", "99999999999999999999", "abc", "1.5", "%20"])
def test_hostile_alert_ids(probe_server, alert_id):
    for action in ("ack", "resolve"):
        response = send(probe_server, "POST", f"/api/v1/alerts/{alert_id}/{action}",
                        json={"by": "b" * 129} if alert_id == "abc" else None)
        assert response.status_code in (400, 404, 422), response.text[:500]


def test_long_ack_fields_are_refused(probe_server):
    alert = send(probe_server, "POST", "/api/v1/alerts",
                 json={"machine_id": MACHINE, "rule": "long-fields", "severity": "info", "message": "m"}).json()
    response = send(probe_server, "POST", f"/api/v1/alerts/{alert['id']}/ack", json={"by": "b" * 129})
    assert response.status_code == 422, response.text
    response = send(probe_server, "POST", f"/api/v1/alerts/{alert['id']}/ack", json={"note": "n" * 1025})
    assert response.status_code == 422, response.text
    resolved = send(probe_server, "POST", f"/api/v1/alerts/{alert['id']}/resolve", json={"by": "me"})
    assert resolved.status_code == 200
    conflict = send(probe_server, "POST", f"/api/v1/alerts/{alert['id']}/ack")
    assert conflict.status_code == 409, conflict.text
