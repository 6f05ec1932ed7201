"""`make demo`'s pipeline end to end, headless: Scripts/demo.sh starts sinter-server, sinter-edge,
sinter-detect and sinter-sim (3 DMLS + 2 FDM printers over OPC UA, a recoater jam scheduled on
dmls-01 at 10 s); the test waits for records from every printer and an alert from the fault,
loads the dashboard in headless chromium, then presses Ctrl-C (SIGINT) and checks that every
program stopped cleanly. About 30 s.

Binaries: the directory of ``SINTER_SERVER_BIN`` (``make test-python`` builds all four there).
"""

from __future__ import annotations

import re
import signal
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
