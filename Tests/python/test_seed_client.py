"""A client like the seed's Python edge, against a live sinter-server.

The seed's edge posts ``requests.post(url, json=payload)`` with ``machine_id``, ``timestamp``,
``temperature_data`` (10,000 temperatures, flat or 100 × 100), ``power_consumption`` and
``vibration``. These tests post exactly that, read it back every way the API offers, and check
the error answers a client relies on.
"""

from __future__ import annotations

import json
import math
import random
import struct
import time

import pytest
import requests

from conftest import TOKEN
from helpers import TIMEOUT, at, epoch_ms, epoch_ns, error_of, f32, flatten, float32, iso, seed_payload

INGEST = "/api/v1/telemetry"


def post(http, base, payload, **kwargs):
    return http.post(base + INGEST, json=payload, timeout=TIMEOUT, **kwargs)


def machine_summary(http, base, machine):
    response = http.get(base + "/api/v1/machines", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    matches = [m for m in response.json()["machines"] if m["id"] == machine]
    assert len(matches) <= 1
    return matches[0] if matches else None


# MARK: Ingest and read back


def test_flat_and_nested_seed_posts_read_back_bit_exact(server, http):
    base = server.base
    rng = random.Random(598)
    machine = "dmls-seed-01"
    sent = []
    for i, nested in enumerate([False, True]):
        payload = seed_payload(machine, at(i), rng, nested=nested)
        response = post(http, base, payload)
        assert response.status_code == 201, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        body = response.json()
        record_id = f"{machine}@{epoch_ns(at(i))}"
        assert body == {"accepted": 1, "duplicates": 0, "ids": [record_id]}
        sent.append((record_id, payload))

    for record_id, payload in sent:
        values = flatten(payload["temperature_data"])
        expected = float32(values)

        # The raw frame: Float32 little-endian, 100 × 100.
        raw = http.get(base + f"/api/v1/records/{record_id}", headers={"Accept": "application/octet-stream"},
                       timeout=TIMEOUT)
        assert raw.status_code == 200, raw.text
        assert raw.headers["Content-Type"] == "application/octet-stream"
        assert raw.headers["X-Frame-Width"] == "100" and raw.headers["X-Frame-Height"] == "100"
        assert len(raw.content) == 40_000
        assert struct.unpack("<10000f", raw.content) == struct.unpack("<10000f", struct.pack("<10000f", *values))

        # The JSON record: the same values, the scalars, and frame statistics as channels.
        record = http.get(base + f"/api/v1/records/{record_id}", timeout=TIMEOUT)
        assert record.status_code == 200, record.text
        r = record.json()
        assert r["id"] == record_id
        assert r["machine_id"] == machine
        assert r["kind"] == "dmls"
        assert r["state"] is None
        assert r["has_frame"] is True
        assert r["timestamp_ns"] == int(record_id.split("@")[1])
        assert r["frame"]["width"] == 100 and r["frame"]["height"] == 100
        assert float32(r["frame"]["data"]) == expected
        channels = r["channels"]
        assert f32(channels["power_kw"]) == f32(payload["power_consumption"])
        assert f32(channels["vibration_mm_s"]) == f32(payload["vibration"])
        assert f32(channels["frame_min"]) == min(expected)
        assert f32(channels["frame_max"]) == max(expected)
        mean = sum(expected) / len(expected)
        std = math.sqrt(sum((v - mean) ** 2 for v in expected) / len(expected))
        assert channels["frame_mean"] == pytest.approx(mean, rel=1e-5)
        assert channels["frame_std"] == pytest.approx(std, rel=1e-4)
        assert 20 <= channels["frame_min"] <= channels["frame_mean"] <= channels["frame_max"] <= 80

    summary = machine_summary(http, base, machine)
    assert summary is not None
    assert summary["record_count"] == 2
    assert summary["kind"] == "dmls"
    assert summary["first_timestamp"] == "2026-11-21T10:00:00Z"
    assert summary["last_timestamp"] == "2026-11-21T10:00:01Z"


def test_array_of_seed_records_with_epoch_ms_and_stats_key(server, http):
    """An array in one post; integer epoch-ms timestamps; the edge's extra temperature_stats is ignored."""
    base = server.base
    rng = random.Random(1)
    machine = "dmls-seed-array"
    payloads = []
    for i in range(3):
        p = seed_payload(machine, at(100 + i), rng)
        p["timestamp"] = epoch_ms(at(100 + i))
        p["temperature_stats"] = {"min": min(p["temperature_data"]), "max": max(p["temperature_data"])}
        payloads.append(p)
    response = post(http, base, payloads)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["accepted"] == 3 and body["duplicates"] == 0
    assert body["ids"] == [f"{machine}@{epoch_ns(at(100 + i))}" for i in range(3)]
    assert machine_summary(http, base, machine)["record_count"] == 3


def test_full_record_shape(server, http):
    base = server.base
    machine = "fdm-py-01"
    records = [
        {"machine_id": machine, "timestamp": iso(at(i)), "kind": "fdm", "state": "printing" if i < 2 else "anomaly",
         "channels": {"nozzle_temp_c": 215.5 + i, "bed_temp_c": 60, "filament_flow": 0.98}}
        for i in range(3)
    ]
    records.append({"machine_id": machine, "timestamp": iso(at(3)), "kind": "fdm",
                    "frame": {"width": 3, "height": 2, "data": [[1.5, 2.5, 3.5], [4.5, 5.5, 6.5]]}})
    response = post(http, base, records)
    assert response.status_code == 201, response.text
    assert response.json()["accepted"] == 4
    latest = http.get(base + f"/api/v1/machines/{machine}/latest?include=frame", timeout=TIMEOUT).json()
    assert latest["timestamp"] == "2026-11-21T10:00:03Z"
    assert latest["frame"] == {"width": 3, "height": 2, "data": [1.5, 2.5, 3.5, 4.5, 5.5, 6.5]}
    assert latest["channels"]["frame_max"] == 6.5
    state = http.get(base + f"/api/v1/machines/{machine}/records?order=desc&limit=2", timeout=TIMEOUT).json()
    assert [r["state"] for r in state["records"]] == [None, "anomaly"]
    assert state["records"][1]["channels"] == {"nozzle_temp_c": 217.5, "bed_temp_c": 60.0, "filament_flow": 0.98}


def test_range_query_latest_and_series(server, http):
    base = server.base
    rng = random.Random(7)
    machine = "dmls-seed-range"
    payloads = [seed_payload(machine, at(10 * i), rng) for i in range(6)]
    for p in payloads:
        assert post(http, base, p).status_code == 201

    url = base + f"/api/v1/machines/{machine}/records"
    everything = http.get(url, timeout=TIMEOUT)
    assert everything.status_code == 200, everything.text
    page = everything.json()
    assert page["machine_id"] == machine and page["order"] == "asc"
    assert page["count"] == 6 and page["truncated"] is False
    assert [r["timestamp_ns"] for r in page["records"]] == [epoch_ns(at(10 * i)) for i in range(6)]
    assert all("frame" not in r and r["has_frame"] for r in page["records"])
    assert [f32(r["channels"]["power_kw"]) for r in page["records"]] == [f32(p["power_consumption"]) for p in payloads]

    # A window in RFC 3339 and epoch ms, newest first, limited: truncated with where to go on.
    window = http.get(url, params={"from": iso(at(10)), "to": epoch_ms(at(40)), "order": "desc", "limit": 2},
                      timeout=TIMEOUT).json()
    assert [r["timestamp"] for r in window["records"]] == ["2026-11-21T10:00:40Z", "2026-11-21T10:00:30Z"]
    assert window["count"] == 2 and window["truncated"] is True
    assert window["next_to"] == "2026-11-21T10:00:29.999999999Z"
    rest = http.get(url, params={"from": iso(at(10)), "to": window["next_to"], "order": "desc"},
                    timeout=TIMEOUT).json()
    assert [r["timestamp"] for r in rest["records"]] == ["2026-11-21T10:00:20Z", "2026-11-21T10:00:10Z"]

    # Frames when asked for, equal to what was sent.
    frames = http.get(url, params={"include": "frame", "limit": 2}, timeout=TIMEOUT).json()
    for record, payload in zip(frames["records"], payloads):
        assert float32(record["frame"]["data"]) == float32(payload["temperature_data"])

    latest = http.get(base + f"/api/v1/machines/{machine}/latest", timeout=TIMEOUT)
    assert latest.status_code == 200
    assert latest.json()["timestamp"] == "2026-11-21T10:00:50Z"
    assert "frame" not in latest.json()

    series = http.get(base + f"/api/v1/machines/{machine}/series", params={"channel": "power_kw", "step": "20s"},
                      timeout=TIMEOUT)
    assert series.status_code == 200, series.text
    s = series.json()
    assert s["channel"] == "power_kw" and s["step_ms"] == 20_000
    assert s["from"] == "2026-11-21T10:00:00Z" and s["to"] == "2026-11-21T10:00:50Z"
    powers = [f32(p["power_consumption"]) for p in payloads]
    assert [b["count"] for b in s["buckets"]] == [2, 2, 2]
    for k, bucket in enumerate(s["buckets"]):
        pair = powers[2 * k:2 * k + 2]
        assert bucket["start"] == iso(at(20 * k)).replace("+00:00", "Z")
        assert f32(bucket["min"]) == min(pair) and f32(bucket["max"]) == max(pair)
        assert bucket["mean"] == pytest.approx(sum(pair) / 2, rel=1e-6)

    stats = http.get(base + f"/api/v1/machines/{machine}/series", params={"channel": "frame_max"},
                     timeout=TIMEOUT).json()
    assert sum(b["count"] for b in stats["buckets"]) == 6
    assert max(f32(b["max"]) for b in stats["buckets"]) == max(max(float32(p["temperature_data"])) for p in payloads)


def test_binary_batch_response_for_range_and_record(server, http):
    base = server.base
    rng = random.Random(3)
    machine = "dmls-seed-binary"
    payload = seed_payload(machine, at(0), rng)
    record_id = post(http, base, payload).json()["ids"][0]
    for url in (f"/api/v1/records/{record_id}", f"/api/v1/machines/{machine}/records"):
        response = http.get(base + url, headers={"Accept": "application/vnd.sinter.frames"}, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == "application/vnd.sinter.frames"
        assert response.content[:4] == b"SNFB"
        # The frame's Float32 bytes are in the batch as they are.
        assert struct.pack("<10000f", *payload["temperature_data"]) in response.content


def test_duplicate_post_is_stored_once(server, http):
    base = server.base
    rng = random.Random(11)
    machine = "dmls-seed-dup"
    payload = seed_payload(machine, at(0), rng)
    first = post(http, base, payload)
    assert first.status_code == 201
    assert first.json()["duplicates"] == 0
    count = machine_summary(http, base, machine)["record_count"]
    second = post(http, base, payload)
    assert second.status_code == 201
    assert second.json()["ids"] == first.json()["ids"]
    assert second.json()["duplicates"] == 1 and second.json()["accepted"] == 1
    assert machine_summary(http, base, machine)["record_count"] == count == 1


# MARK: Errors


def test_malformed_json_is_400_with_position(server, http):
    body = '{"machine_id": "dmls-01", "timestamp": "2026-11-21T10:00:00Z", "temperature_data": [1.5, 2.5 3.5]}'
    response = http.post(server.base + INGEST, data=body, headers={"Content-Type": "application/json"},
                         timeout=TIMEOUT)
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["code"] == "malformed_json"
    assert error["position"] in (body.index("3.5"), body.index("3.5") - 1)
    assert response.headers.get("X-Request-ID")

    truncated = http.post(server.base + INGEST, data=body[:40], headers={"Content-Type": "application/json"},
                          timeout=TIMEOUT)
    assert truncated.status_code == 400
    assert error_of(truncated)["position"] <= 40

    empty = http.post(server.base + INGEST, data=b"", headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
    assert empty.status_code == 400
    error_of(empty)


@pytest.mark.parametrize("change, field", [
    (lambda p: p.update(temperature_data=p["temperature_data"][:9_999]), "temperature_data"),
    (lambda p: p.update(machine_id="bad id!"), "machine_id"),
    (lambda p: p.update(machine_id="x" * 65), "machine_id"),
    (lambda p: p.pop("machine_id"), "machine_id"),
    (lambda p: p.pop("timestamp"), "timestamp"),
    (lambda p: p.update(timestamp="yesterday"), "timestamp"),
    (lambda p: p.update(power_consumption="high"), "power_consumption"),
    (lambda p: p.update(temperature_data=[[1.0] * 100] * 99), "temperature_data"),
], ids=["9999-values", "bad-machine-id", "long-machine-id", "no-machine-id", "no-timestamp", "bad-timestamp",
        "string-power", "99-rows"])
def test_invalid_records_are_422_naming_the_field(server, http, change, field):
    payload = seed_payload("dmls-seed-invalid", at(0), random.Random(5))
    change(payload)
    response = post(http, server.base, payload)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert field in error["field"], error
    # Nothing was stored.
    assert machine_summary(http, server.base, "dmls-seed-invalid") is None


def test_one_bad_record_in_an_array_stores_nothing(server, http):
    rng = random.Random(9)
    good = seed_payload("dmls-seed-atomic", at(0), rng)
    bad = seed_payload("dmls-seed-atomic", at(1), rng, count=9_999)
    response = post(http, server.base, [good, bad])
    assert response.status_code == 422
    assert error_of(response)["field"].startswith("records[1].")
    assert machine_summary(http, server.base, "dmls-seed-atomic") is None


def test_unsupported_content_type_is_415(server, http):
    payload = seed_payload("dmls-seed-415", at(0), random.Random(2))
    response = http.post(server.base + INGEST, data=json.dumps(payload), headers={"Content-Type": "text/plain"},
                         timeout=TIMEOUT)
    assert response.status_code == 415, response.text
    assert error_of(response)["field"] == "Content-Type"


def test_body_over_the_limit_is_413(small_server, http):
    rng = random.Random(4)
    payload = [seed_payload("dmls-seed-big", at(i), rng) for i in range(2)]
    body = json.dumps(payload).encode()
    assert len(body) > 100_000
    response = http.post(small_server.base + INGEST, data=body, headers={"Content-Type": "application/json"},
                         timeout=TIMEOUT)
    assert response.status_code == 413, response.text
    assert error_of(response)["code"] == "body_too_large"

    # Without Content-Length (chunked), the limit holds while the body is read.
    def chunks():
        for k in range(0, len(body), 16_384):
            yield body[k:k + 16_384]

    chunked = requests.post(small_server.base + INGEST, data=chunks(), headers={"Content-Type": "application/json"},
                            timeout=TIMEOUT)
    assert chunked.status_code == 413, chunked.text
    assert error_of(chunked)["code"] == "body_too_large"

    # One record fits.
    one = requests.post(small_server.base + INGEST, json=payload[0], timeout=TIMEOUT)
    assert one.status_code == 201, one.text
    machines = requests.get(small_server.base + "/api/v1/machines", timeout=TIMEOUT).json()["machines"]
    assert [m["record_count"] for m in machines if m["id"] == "dmls-seed-big"] == [1]


def test_token_guards_writes(token_server, http):
    base = token_server.base
    payload = seed_payload("dmls-seed-token", at(0), random.Random(6))
    none = post(http, base, payload)
    assert none.status_code == 401, none.text
    assert error_of(none)["code"] == "unauthorized"
    assert none.headers.get("WWW-Authenticate", "").startswith("Bearer")
    wrong = post(http, base, payload, headers={"Authorization": "Bearer s3creT"})
    assert wrong.status_code == 401
    alert = http.post(base + "/api/v1/alerts", json={"machine_id": "dmls-seed-token", "rule": "r", "severity": "info",
                                                     "message": "m"}, timeout=TIMEOUT)
    assert alert.status_code == 401
    right = post(http, base, payload, headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 201, right.text
    # Reads stay open without --protect-reads.
    machines = http.get(base + "/api/v1/machines", timeout=TIMEOUT)
    assert machines.status_code == 200
    assert [m["id"] for m in machines.json()["machines"]] == ["dmls-seed-token"]
    assert http.get(base + "/healthz", timeout=TIMEOUT).status_code == 200


# MARK: Alerts


def test_alert_lifecycle(server, http):
    base = server.base
    machine = "dmls-seed-alerts"
    raise_body = {"machine_id": machine, "rule": "frame_hotspot", "severity": "critical",
                  "message": "hot spot of 412 °C", "timestamp": "2026-11-21T10:00:00Z", "details": {"max_c": 412.5}}
    raised = http.post(base + "/api/v1/alerts", json=raise_body, timeout=TIMEOUT)
    assert raised.status_code == 201, raised.text
    alert = raised.json()
    assert alert["machine_id"] == machine and alert["rule"] == "frame_hotspot"
    assert alert["severity"] == "critical" and alert["active"] is True
    assert alert["raised_at"] == "2026-11-21T10:00:00Z"
    assert alert["details"] == {"max_c": 412.5}
    assert alert["acknowledged_at"] is None and alert["resolved_at"] is None
    assert alert["updated_at"] is None and alert["updates"] == 0

    # Raising it again while it is open answers the open alert, unchanged.
    again = http.post(base + "/api/v1/alerts", json=raise_body, timeout=TIMEOUT)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == alert["id"] and again.json()["updates"] == 0

    # With new details, it answers the open alert updated.
    hotter = dict(raise_body, timestamp="2026-11-21T10:01:00Z", details={"max_c": 431.0})
    updated = http.post(base + "/api/v1/alerts", json=hotter, timeout=TIMEOUT)
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == alert["id"] and updated.json()["details"] == {"max_c": 431.0}
    assert updated.json()["updates"] == 1 and updated.json()["updated_at"] == "2026-11-21T10:01:00Z"
    assert updated.json()["raised_at"] == "2026-11-21T10:00:00Z"

    listed = http.get(base + "/api/v1/alerts", params={"machine": machine, "active": "true"}, timeout=TIMEOUT)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json()["alerts"]] == [alert["id"]]

    ack = http.post(base + f"/api/v1/alerts/{alert['id']}/ack", json={"by": "operator-1", "note": "looking"},
                    timeout=TIMEOUT)
    assert ack.status_code == 200, ack.text
    assert ack.json()["acknowledged_by"] == "operator-1" and ack.json()["acknowledged_at"]
    assert ack.json()["active"] is True

    resolved = http.post(base + f"/api/v1/alerts/{alert['id']}/resolve", timeout=TIMEOUT)  # no body
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["active"] is False and resolved.json()["resolved_at"]

    active = http.get(base + "/api/v1/alerts", params={"machine": machine, "active": "true"}, timeout=TIMEOUT)
    assert active.json()["alerts"] == []
    inactive = http.get(base + "/api/v1/alerts", params={"machine": machine, "active": "false"}, timeout=TIMEOUT)
    assert [a["id"] for a in inactive.json()["alerts"]] == [alert["id"]]

    # After resolution, raising the rule again opens a new alert.
    new = http.post(base + "/api/v1/alerts", json=raise_body, timeout=TIMEOUT)
    assert new.status_code == 201
    assert new.json()["id"] != alert["id"]


@pytest.mark.parametrize("change, status, field", [
    (lambda b: b.update(severity="fatal"), 422, "severity"),
    (lambda b: b.pop("rule"), 422, "rule"),
    (lambda b: b.update(machine_id="no/slashes"), 422, "machine_id"),
    (lambda b: b.update(details={"x": "y"}), 422, "details"),
    (lambda b: b.update(timestamp="soon"), 422, "timestamp"),
])
def test_bad_alerts_are_refused(server, http, change, status, field):
    body = {"machine_id": "dmls-seed-alerts-bad", "rule": "r1", "severity": "warning", "message": "m"}
    change(body)
    response = http.post(server.base + "/api/v1/alerts", json=body, timeout=TIMEOUT)
    assert response.status_code == status, response.text
    assert field in error_of(response).get("field", ""), response.text


def test_alert_errors(server, http):
    base = server.base
    text = http.post(base + "/api/v1/alerts", data="{}", headers={"Content-Type": "text/plain"}, timeout=TIMEOUT)
    assert text.status_code == 415
    malformed = http.post(base + "/api/v1/alerts", data="{nope", headers={"Content-Type": "application/json"},
                          timeout=TIMEOUT)
    assert malformed.status_code == 400
    error_of(malformed)
    for action in ("ack", "resolve"):
        missing = http.post(base + f"/api/v1/alerts/no-such-alert/{action}", timeout=TIMEOUT)
        assert missing.status_code == 404, missing.text
        error_of(missing)
    bad_active = http.get(base + "/api/v1/alerts", params={"active": "maybe"}, timeout=TIMEOUT)
    assert bad_active.status_code == 400
    assert error_of(bad_active)["field"] == "active"


# MARK: Operations


def test_healthz_and_metrics(server, http):
    base = server.base
    # Make sure at least one record has been ingested by this server.
    post(http, base, seed_payload("dmls-seed-ops", at(0), random.Random(8)))
    health = http.get(base + "/healthz", timeout=TIMEOUT)
    assert health.status_code == 200
    h = health.json()
    assert h["status"] == "ok" and h["problems"] == []
    assert h["records"] >= 1 and h["machines"] >= 1

    metrics = http.get(base + "/metrics", timeout=TIMEOUT)
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    lines = metrics.text.splitlines()
    ingested = [line for line in lines if line.startswith("sinter_ingest_records_total")]
    assert ingested, metrics.text[:2000]
    assert float(ingested[0].split()[-1]) >= 1
    assert any(line.startswith("sinter_http_request_duration_seconds") for line in lines)


def test_request_id_is_echoed(server, http):
    mine = http.get(server.base + "/api/v1/machines", headers={"X-Request-ID": "py-req-42"}, timeout=TIMEOUT)
    assert mine.headers["X-Request-ID"] == "py-req-42"
    theirs = http.get(server.base + "/api/v1/machines", headers={"X-Request-ID": "no spaces!"}, timeout=TIMEOUT)
    assert theirs.headers["X-Request-ID"] and theirs.headers["X-Request-ID"] != "no spaces!"


def test_not_found_and_invalid_paths(server, http):
    base = server.base
    unknown = http.get(base + "/api/v1/nothing-here", timeout=TIMEOUT)
    assert unknown.status_code == 404
    error_of(unknown)
    wrong_method = http.delete(base + "/api/v1/machines", timeout=TIMEOUT)
    assert wrong_method.status_code in (404, 405)
    error_of(wrong_method)
    no_machine = http.get(base + "/api/v1/machines/never-seen/latest", timeout=TIMEOUT)
    assert no_machine.status_code == 404
    assert error_of(no_machine)["field"] == "machine_id"
    bad_machine = http.get(base + "/api/v1/machines/bad%20id/records", timeout=TIMEOUT)
    assert bad_machine.status_code == 400
    bad_record = http.get(base + "/api/v1/records/not-an-id", timeout=TIMEOUT)
    assert bad_record.status_code == 400
    no_record = http.get(base + "/api/v1/records/never-seen@1", timeout=TIMEOUT)
    assert no_record.status_code == 404
    for params, field in ([{"order": "sideways"}, "order"], [{"limit": "0"}, "limit"], [{"from": "soon"}, "from"],
                          [{"include": "everything"}, "include"]):
        response = http.get(base + "/api/v1/machines/dmls-seed-01/records", params=params, timeout=TIMEOUT)
        assert response.status_code == 400, (params, response.text)
        assert error_of(response)["field"] == field
    no_channel = http.get(base + "/api/v1/machines/dmls-seed-01/series", timeout=TIMEOUT)
    assert no_channel.status_code == 400
    assert error_of(no_channel)["field"] == "channel"


# MARK: Live stream


def read_events(response, deadline: float):
    """Yields (event, data) pairs from an SSE response until `deadline` (comments as ('comment', text))."""
    event, data = None, []
    for line in response.iter_lines(chunk_size=64, decode_unicode=True):
        if time.monotonic() > deadline:
            return
        if line is None:
            continue
        if line == "":
            if event or data:
                yield event or "message", "\n".join(data)
            event, data = None, []
        elif line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())


def test_live_stream_sees_new_records_and_alerts(server, http):
    base = server.base
    machine = "dmls-seed-live"
    with requests.get(base + "/api/v1/stream", params={"machine": machine}, stream=True, timeout=(5, 20)) as stream:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        deadline = time.monotonic() + 30
        events = read_events(stream, deadline)
        # The greeting comment comes after the subscription: from now on nothing is missed.
        kind, _ = next(events)
        assert kind == "comment"

        payload = seed_payload(machine, at(0), random.Random(12))
        other = seed_payload("dmls-seed-not-live", at(0), random.Random(13))
        assert post(http, base, other).status_code == 201
        assert post(http, base, payload).status_code == 201
        alert = http.post(base + "/api/v1/alerts", json={"machine_id": machine, "rule": "live_rule",
                                                         "severity": "info", "message": "m"}, timeout=TIMEOUT)
        assert alert.status_code == 201

        seen = {}
        for kind, data in events:
            if kind in ("record", "alert"):
                body = json.loads(data)
                assert body["machine_id"] == machine, body
                seen[kind] = body
            if len(seen) == 2:
                break
        assert "record" in seen, "no record event within 30 s"
        assert "alert" in seen, "no alert event within 30 s"
        record = seen["record"]
        assert record["id"] == f"{machine}@{epoch_ns(at(0))}"
        assert f32(record["channels"]["power_kw"]) == f32(payload["power_consumption"])
        assert "frame_max" in record["channels"] and "frame" not in record
        assert seen["alert"]["rule"] == "live_rule"
