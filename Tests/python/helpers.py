"""Payloads and small helpers shared by the Python API tests."""

from __future__ import annotations

import random
import struct
from datetime import datetime, timedelta, timezone

TIMEOUT = 30  # seconds, for every request
BASE_TIME = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    """BASE_TIME plus `seconds`."""
    return BASE_TIME + timedelta(seconds=seconds)


def iso(moment: datetime) -> str:
    """RFC 3339 as Python writes it (`2026-11-21T10:00:00.250000+00:00`)."""
    return moment.isoformat()


def epoch_ms(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def epoch_ns(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def temperatures(rng: random.Random, count: int = 10_000) -> list[float]:
    """What the seed's physical device sends: temperatures in 20-80 °C with 2 decimals."""
    return [round(rng.uniform(20.0, 80.0), 2) for _ in range(count)]


def seed_payload(machine: str, moment: datetime, rng: random.Random, *, nested: bool = False,
                 count: int = 10_000, values: list[float] | None = None) -> dict:
    """Exactly the seed edge's JSON: machine_id, timestamp, temperature_data, power_consumption, vibration."""
    flat = values if values is not None else temperatures(rng, count)
    data = [flat[row * 100:(row + 1) * 100] for row in range(100)] if nested else flat
    return {
        "machine_id": machine,
        "timestamp": iso(moment),
        "temperature_data": data,
        "power_consumption": round(rng.uniform(1.0, 5.0), 2),
        "vibration": round(rng.uniform(0.0, 2.0), 3),
    }


def flatten(data: list) -> list[float]:
    if data and isinstance(data[0], list):
        return [v for row in data for v in row]
    return list(data)


def float32(values) -> tuple[float, ...]:
    """`values` rounded to Float32, as the server stores them."""
    values = list(values)
    return struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values))


def f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def error_of(response) -> dict:
    """The `error` object of an error response, checking the shared shape."""
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], error
    assert isinstance(error.get("message"), str) and error["message"], error
    assert set(error) <= {"code", "message", "field", "position"}, error
    return error
