"""`make demo`'s pipeline end to end, headless: Scripts/demo.sh starts sinter-server, sinter-edge,
sinter-detect and sinter-sim (3 DMLS + 2 FDM printers over OPC UA, a recoater jam scheduled on
dmls-01 at 10 s); the test waits for records from every printer and an alert from the fault,
loads the dashboard in headless chromium, then presses Ctrl-C (SIGINT) and checks that every
program stopped cleanly. About 30 s.

The script's own promises are checked without the programs too, against stand-ins that log
their arguments (a few seconds): the help text, the repeating fault schedule handed to
sinter-sim, and the logs of the previous run kept as ``*.log.1``.

Binaries: the directory of ``SINTER_SERVER_BIN`` (``make test-python`` builds all four there).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By

from browser import make_driver, screenshot, wait_until
from conftest import REPO, ChildProcess, server_binary

DASHBOARD = re.compile(r"^  Dashboard: +(http://127\.0\.0\.1:\d+)/$")
PRINTERS = ["dmls-01", "dmls-02", "dmls-03", "fdm-01", "fdm-02"]


def running_with(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        line = " ".join(a.decode("utf-8", "replace") for a in args if a)
        if text in line and "pytest" not in line:
            found.append(line)
    return found


def test_the_demo_pipeline_stores_every_printer_raises_the_fault_alert_and_stops_on_ctrl_c():
    binaries = server_binary().parent
    for name in ["sinter-server", "sinter-edge", "sinter-detect", "sinter-sim"]:
        if not (binaries / name).exists():
            pytest.fail(f"no {binaries / name}: make test-python builds it", pytrace=False)
    directory = Path(tempfile.mkdtemp(prefix="sinter-py-demo-"))
    state = directory / "state"
    # --seconds bounds the run should the test itself fail to stop it.
    demo = ChildProcess("demo", ["bash", str(REPO / "Scripts/demo.sh"), "--bin", str(binaries), "--state", str(state),
                                 "--port", "0", "--opcua-port", "0", "--seconds", "240"], directory)
    try:
        base = demo.wait_for_line(DASHBOARD, 120).group(1)

        def stored() -> dict[str, int]:
            return {m["id"]: m["record_count"] for m in requests.get(f"{base}/api/v1/machines", timeout=10).json()["machines"]}
        counts = wait_until("records from every printer", lambda: (c := stored()) and sorted(c) == PRINTERS
                            and all(n >= 5 for n in c.values()) and c, timeout=90)
        fault_alerts = wait_until("an alert from the recoater jam on dmls-01", lambda: [
            a for a in requests.get(f"{base}/api/v1/alerts", params={"machine": "dmls-01"}, timeout=10).json()["alerts"]
            if a["severity"] in ("warning", "critical")], timeout=90)
        assert {a["rule"] for a in fault_alerts} <= {"vibration", "power_spike", "frame_hot_spot", "non_uniform_layer",
                                                      "isolation_forest"}, fault_alerts

        driver = make_driver()
        try:
            driver.get(f"{base}/#machine=dmls-01")
            wait_until("every printer listed", lambda: sorted(e.get_attribute("data-machine") for e in
                                                               driver.find_elements(By.CSS_SELECTOR, "#machines li")) == PRINTERS,
                       driver=driver)
            wait_until("the heatmap drawn", lambda: driver.find_element(By.CSS_SELECTOR, ".heatmap-box")
                       .get_attribute("data-empty") == "false", driver=driver)
            wait_until("the fault's alert on the page", lambda: any(
                e.get_attribute("data-severity") in ("warning", "critical")
                for e in driver.find_elements(By.CSS_SELECTOR, "#alerts li")), driver=driver)
            assert driver.find_element(By.CSS_SELECTOR, '#machines li[data-machine="dmls-01"]').get_attribute("data-severity") \
                in ("warning", "critical")
            screenshot(driver, "demo")
        finally:
            driver.quit()

        # Ctrl-C: the script stops the simulator, the edge, the detector and the server, in that order.
        demo.process.send_signal(signal.SIGINT)
        code = demo.process.wait(timeout=120)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:   # the rest of its output
            try:
                line = demo.next_line(timeout=1)
            except Exception:
                break
            if line is None:
                break
            demo.stdout.append(line)
        output = "\n".join(demo.stdout)
        assert code == 0, output
        for name in ["sinter-sim", "sinter-edge", "sinter-detect", "sinter-server"]:
            assert f"demo: {name} stopped (exit status 0)" in output, output
        order = [output.index(f"demo: {name} stopped") for name in ["sinter-sim", "sinter-edge", "sinter-detect", "sinter-server"]]
        assert order == sorted(order), output
        assert re.search(r"demo: records stored: dmls-01 \d+", output), output
        assert not running_with(str(state)), f"processes left running: {running_with(str(state))}"
        assert counts and fault_alerts
    finally:
        demo.close()


# ---- the script alone, against stand-in programs ---------------------------------------------

DEMO = REPO / "Scripts/demo.sh"

# Each stand-in prints the start-up line demo.sh waits for, then its arguments one per line and
# the run it belongs to, and waits for SIGTERM (exit status 0), as the real programs do.
STAND_IN = """#!/usr/bin/env bash
trap 'kill $waiting 2>/dev/null; exit 0' TERM
case "$(basename "$0")" in
  sinter-server) echo "sinter-server listening on http://127.0.0.1:9 (data: stand-in)" ;;
  sinter-edge) echo "sinter-edge: OPC UA on opc.tcp://127.0.0.1:9 for 0 printers -> stand-in" ;;
  sinter-detect) echo "sinter-detect: following stand-in" ;;
esac
echo "run $DEMO_STAND_IN_RUN"
for argument in "$@"; do echo "arg $argument"; done
sleep 600 &
waiting=$!
wait $waiting
"""


def stand_ins(directory: Path) -> Path:
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    for name in ["sinter-server", "sinter-edge", "sinter-detect", "sinter-sim"]:
        path = bin_dir / name
        path.write_text(STAND_IN)
        path.chmod(0o755)
    return bin_dir


def run_demo(bin_dir: Path, state: Path, run: int, *flags: str) -> str:
    """demo.sh over the stand-ins for about a second (--seconds 1); its output; requires status 0."""
    environment = dict(os.environ, DEMO_STAND_IN_RUN=str(run))
    for name in ["DEMO_SECONDS", "DEMO_SPEED", "DEMO_DMLS", "DEMO_FDM"]:
        environment.pop(name, None)
    result = subprocess.run(["bash", str(DEMO), "--bin", str(bin_dir), "--state", str(state), "--port", "0",
                             "--opcua-port", "0", "--seconds", "1", *flags],
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, env=environment)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ["sinter-sim", "sinter-edge", "sinter-detect", "sinter-server"]:
        assert f"demo: {name} stopped (exit status 0)" in result.stdout, result.stdout + result.stderr
    return result.stdout


def faults_given(log: Path) -> list[str]:
    lines = log.read_text().splitlines()
    return [lines[i + 1][len("arg "):] for i, line in enumerate(lines) if line == "arg --fault"]


def test_the_help_promises_only_alerts_the_detector_raises_and_says_what_comes_when():
    result = subprocess.run(["bash", str(DEMO), "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    help_text = " ".join(result.stdout.split())
    # The recoater jam raises a vibration alert; its extra motor power stays below the power rule.
    assert "recoater jam on dmls-01 for 90 s: a vibration alert" in help_text, result.stdout
    assert "vibration and power alerts" not in help_text and "no power alert" in help_text, result.stdout
    assert "repeated every 5 minutes" in help_text, result.stdout
    for when in ["+10 s recoater jam", "+70 s filament jam", "+130 s hot spot"]:
        assert when in help_text, (when, result.stdout)
    assert "*.log.1" in help_text, result.stdout


def test_the_fault_schedule_repeats_every_five_minutes_over_the_run():
    directory = Path(tempfile.mkdtemp(prefix="sinter-py-demo-schedule-"))
    try:
        bin_dir = stand_ins(directory)
        # --seconds 1 stops the stand-ins; the schedule's length comes from --speed × --seconds, so a
        # 1 s run at --speed 600 covers 600 simulated seconds: three 5-minute cycles (0, 300, 600 s).
        run_demo(bin_dir, directory / "state", 1, "--speed", "600")
        cycle = lambda base: [f"recoater-jam:dmls-01@{base + 10}s+90s", f"filament-jam:fdm-01@{base + 70}s+60s",
                              f"hot-spot:dmls-02@{base + 130}s+175s"]
        assert faults_given(directory / "state/logs/sinter-sim.log") == cycle(0) + cycle(300) + cycle(600)
        # One DMLS printer and no FDM: the hot spot moves to dmls-01, the filament jam goes.
        run_demo(bin_dir, directory / "state", 2, "--speed", "1", "--dmls", "1", "--fdm", "0")
        assert faults_given(directory / "state/logs/sinter-sim.log") == ["recoater-jam:dmls-01@10s+90s",
                                                                        "hot-spot:dmls-01@130s+175s"]
    finally:
        assert not running_with(str(directory)), f"stand-ins left running: {running_with(str(directory))}"
        subprocess.run(["rm", "-rf", str(directory)], check=False)


def test_a_restart_keeps_the_previous_runs_logs_as_log_1():
    directory = Path(tempfile.mkdtemp(prefix="sinter-py-demo-logs-"))
    try:
        bin_dir = stand_ins(directory)
        logs = directory / "state/logs"
        run_demo(bin_dir, directory / "state", 1)
        assert not list(logs.glob("*.log.1"))                      # nothing to keep on the first run
        run_demo(bin_dir, directory / "state", 2)
        names = ["sinter-server", "sinter-edge", "sinter-detect", "sinter-sim"]
        assert sorted(p.name for p in logs.glob("*.log.1")) == sorted(f"{n}.log.1" for n in names)
        for name in names:
            assert "run 1" in (logs / f"{name}.log.1").read_text().splitlines(), name
            assert "run 2" in (logs / f"{name}.log").read_text().splitlines(), name
            assert "run 1" not in (logs / f"{name}.log").read_text().splitlines(), name
        # A third run keeps one generation: run 2's logs, not run 1's.
        run_demo(bin_dir, directory / "state", 3)
        for name in names:
            assert "run 2" in (logs / f"{name}.log.1").read_text().splitlines(), name
            assert "run 3" in (logs / f"{name}.log").read_text().splitlines(), name
    finally:
        assert not running_with(str(directory)), f"stand-ins left running: {running_with(str(directory))}"
        subprocess.run(["rm", "-rf", str(directory)], check=False)
