"""sinter-detect as a process: the simulator feeding a real sinter-server while the detector
follows it live, alerts checked through the API, the label evaluation, SKAB, and bad flags.

Binaries: ``SINTER_DETECT_BIN``, ``SINTER_SIM_BIN``, ``SINTER_SERVER_BIN`` (set by ``make test-python``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path

import pytest
import requests

from conftest import REPO, ChildProcess, Server
from helpers import epoch_ns

START = "2026-11-21T10:00:00Z"
START_NS = epoch_ns(datetime.fromisoformat(START.replace("Z", "+00:00")))
SECOND = 1_000_000_000
DETECT_STARTED = re.compile(r"^sinter-detect: following (\S+), status (\S+), alerts log (\S+)$")


def binary(variable: str, default: str) -> str:
    path = Path(os.environ.get(variable, default))
    if not path.is_absolute():
        path = REPO / path
    if not path.exists():
        pytest.fail(f"no binary at {path}: build it or set {variable}", pytrace=False)
    return str(path)


def detect_binary() -> str:
    return binary("SINTER_DETECT_BIN", ".build/debug/sinter-detect")


def sim_binary() -> str:
    return binary("SINTER_SIM_BIN", ".build/debug/sinter-sim")


def run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def alerts(base: str) -> list[dict]:
    response = requests.get(base + "/api/v1/alerts", params={"limit": 1000}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["alerts"]


def test_follows_a_live_fleet_and_its_alerts_pass_through_the_api(tmp_path):
    server = Server("detect-live")
    work = Path(tempfile.mkdtemp(prefix="sinter-py-detect-"))
    detect = ChildProcess("detect", [detect_binary(), "--server", server.base, "--interval", "0.2", "--history", "60",
                                     "--status-file", str(tmp_path / "status.json"),
                                     "--alerts-log", str(tmp_path / "alerts.log"), "--report-every", "1"], work)
    try:
        detect.wait_for_line(DETECT_STARTED, 30)
        # 2 DMLS + 1 FDM printers for 420 simulated seconds at 60× real time: the FDM cycle
        # (idle, printing, anomaly 120–180 s, error 180–240 s, printing) and a power spike.
        labels = tmp_path / "labels.jsonl"
        sim = run([sim_binary(), "--dmls", "2", "--fdm", "1", "--no-stagger", "--speed", "60", "--sim-seconds", "419",
                   "--start", START, "--seed", "5", "--http", server.base, "--labels", str(labels),
                   "--fault", "power-spike:dmls-02@300+40"])
        assert sim.returncode == 0, sim.stderr
        # The detector follows within a few intervals; wait (bounded) for its last alert changes.
        deadline = 30
        import time
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            listed = alerts(server.base)
            spike = [a for a in listed if a["rule"] == "power_spike"]
            failure = [a for a in listed if a["rule"] == "hard_failure"]
            if spike and failure and not spike[0]["active"] and not failure[0]["active"]:
                break
            time.sleep(0.2)
        listed = alerts(server.base)
        by_rule = {}
        for a in listed:
            by_rule.setdefault((a["machine_id"], a["rule"]), []).append(a)
        failure = by_rule.get(("fdm-01", "hard_failure"))
        assert failure and len(failure) == 1, listed
        assert failure[0]["severity"] == "critical"
        # Raised with the time of the record that showed the error: 180 s into the simulation.
        assert epoch_ns(datetime.fromisoformat(failure[0]["raised_at"].replace("Z", "+00:00"))) == START_NS + 180 * SECOND
        assert failure[0]["active"] is False and failure[0]["resolved_by"] == "sinter-detect", failure[0]
        warned = [a for (m, r), xs in by_rule.items() if m == "fdm-01" and r in ("predictive_overheat", "overheating") for a in xs]
        assert any(epoch_ns(datetime.fromisoformat(a["raised_at"].replace("Z", "+00:00"))) < START_NS + 180 * SECOND
                   for a in warned), listed
        spike = by_rule.get(("dmls-02", "power_spike"))
        assert spike and len(spike) == 1, listed
        raised = epoch_ns(datetime.fromisoformat(spike[0]["raised_at"].replace("Z", "+00:00")))
        assert START_NS + 300 * SECOND <= raised <= START_NS + 310 * SECOND, spike
        assert not any(a["machine_id"] == "dmls-01" for a in listed), listed   # the healthy printer stays quiet

        detect.process.send_signal(signal.SIGTERM)
        assert detect.process.wait(timeout=20) == 0, detect.describe()
        status = json.loads((tmp_path / "status.json").read_text())
        assert set(status["printers"]) == {"dmls-01", "dmls-02", "fdm-01"}, status
        assert status["printers"]["dmls-01"]["overall"] == "normal"
        log = (tmp_path / "alerts.log").read_text()
        assert "RAISE CRITICAL fdm-01 hard_failure" in log and "RESOLVE" in log, log

        # The label evaluation replays the stored run against the simulator's ground truth.
        evaluation = run([detect_binary(), "evaluate", "--labels", str(labels), "--server", server.base])
        assert evaluation.returncode == 0, evaluation.stderr
        lines = evaluation.stdout.splitlines()
        assert "detection 100.0 % (1 of 1 faults)" in lines, lines
        assert "warned before error 1 of 1" in lines, lines
        assert any(line.startswith("false alerts 0 of ") for line in lines), lines
    finally:
        detect.close()
        server.stop()
        server.close()


def test_skab_evaluation_meets_the_bar():
    result = run([detect_binary(), "evaluate", "--skab", str(REPO / "Tests/AnomalyDetectionTests/Fixtures/skab")])
    assert result.returncode == 0, result.stderr
    metrics = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert float(metrics["F1"]) >= 0.5, result.stdout
    assert float(metrics["FAR"].rstrip(" %")) <= 10, result.stdout
    assert "MAR" in metrics and "NAB" in metrics, result.stdout


@pytest.mark.parametrize("args,named", [
    (["--interval", "0"], "--interval"),
    (["--server", "ftp://x"], "--server"),
    (["--disable", "vibration,nosuch"], "--disable"),
    (["--history", "-1"], "--history"),
    (["evaluate"], "--skab"),
    (["evaluate", "--labels", "/nonexistent/labels.jsonl"], "--labels"),
    (["evaluate", "--skab", "/nonexistent"], "--skab"),
])
def test_bad_flags_are_named(args, named):
    result = run([detect_binary(), *args], timeout=30)
    assert result.returncode != 0, result.stdout
    assert named in result.stderr, result.stderr


@pytest.mark.parametrize("args,named,words", [
    (["--interval", "-3"], "--interval", "between 0 and 3600"),
    (["--history", "-1"], "--history", "-1"),
])
def test_negative_numbers_are_refused_naming_the_flag_and_the_range(args, named, words):
    result = run([detect_binary(), *args], timeout=30)
    assert result.returncode != 0, result.stdout
    assert named in result.stderr and words in result.stderr, result.stderr
    assert "Missing value" not in result.stderr, result.stderr


def test_help_explains_the_rules():
    result = run([detect_binary(), "run", "--help"], timeout=30)
    assert result.returncode == 0
    for rule in ("hard_failure", "filament_jam", "predictive_overheat", "frame_hot_spot", "isolation_forest"):
        assert rule in result.stdout, result.stdout
