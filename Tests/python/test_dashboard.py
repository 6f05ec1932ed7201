"""The dashboard in a real headless browser (Debian chromium through selenium) against live
sinter-server processes fed by sinter-sim.

Two servers: one with 120 simulated seconds of a fixed fleet (2 DMLS + 1 FDM, fixed start and
seed) for the heatmap, plots, history browser and alerts; one with 20 printers streaming live
for live updates, pause, and responsiveness. Screenshots go to ``test-artifacts/dashboard/``.

Binaries: ``SINTER_SERVER_BIN`` and ``SINTER_SIM_BIN`` (set by ``make test-python``).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from browser import ARTIFACTS, canvas_colors, console, make_driver, screenshot, wait_until
from conftest import TOKEN, Server, _serve
from test_detect import sim_binary

START = "2026-11-21T10:00:00Z"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="module")
def history_server():
    """A server holding 120 simulated seconds of dmls-01, dmls-02 and fdm-01 (fixed start and seed)."""
    for server in _serve("dashboard-history"):
        result = subprocess.run([sim_binary(), "--dmls", "2", "--fdm", "1", "--http", server.base, "--speed", "max",
                                 "--sim-seconds", "119", "--start", START, "--seed", "7"],
                                capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr[-2000:]
        machines = requests.get(server.url("/api/v1/machines"), timeout=10).json()["machines"]
        assert sorted(m["id"] for m in machines) == ["dmls-01", "dmls-02", "fdm-01"]
        assert all(m["record_count"] >= 100 for m in machines), machines
        yield server


@pytest.fixture(scope="module")
def live_server():
    """A server with 10 DMLS and 10 FDM printers streaming in real time (1 record per printer per second)."""
    for server in _serve("dashboard-live"):
        sim = subprocess.Popen([sim_binary(), "--dmls", "10", "--fdm", "10", "--http", server.base, "--speed", "1",
                                "--seed", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            wait_until("20 printers stored", lambda: len(requests.get(server.url("/api/v1/machines"), timeout=10)
                                                             .json()["machines"]) == 20, timeout=60)
            yield server
        finally:
            sim.terminate()
            try:
                sim.wait(timeout=20)
            except subprocess.TimeoutExpired:
                sim.kill()
            assert sim.returncode == 0, (sim.stderr.read() or b"").decode()[-2000:]


@pytest.fixture(scope="module")
def browser_session():
    browser = make_driver()
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def driver(browser_session):
    """The module's browser; a test fails on any error the page logged (script errors, failed requests)."""
    console(browser_session)   # drop what earlier tests left
    yield browser_session
    problems = [entry for entry in console(browser_session) if entry.get("level") == "SEVERE"]
    browser_session.get("about:blank")   # the page lets its stream go before the module's server stops
    assert not problems, f"errors in the browser console: {problems}"


def text(driver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def open_page(driver, base: str, machine: str) -> None:
    """A fresh page load (not only a hash change) with `machine` selected."""
    driver.get("about:blank")
    driver.get(f"{base}/#machine={machine}")
    wait_until(f"{machine} selected", lambda: text(driver, "machine-title") == machine, driver=driver)


def latest(base: str, machine: str) -> dict:
    return requests.get(f"{base}/api/v1/machines/{machine}/latest", timeout=10).json()


def records(base: str, machine: str, **query) -> list[dict]:
    return requests.get(f"{base}/api/v1/machines/{machine}/records", params={"limit": 1000, **query}, timeout=10).json()["records"]


def shown_stats(driver) -> dict[str, float]:
    return {name: float(text(driver, f"stat-{name}")) for name in ["min", "max", "mean", "std"]}


def assert_stats_match(driver, record: dict) -> None:
    """The statistics the page computed from the frame it drew equal the store's for that record."""
    shown = shown_stats(driver)
    for name in ["min", "max", "mean"]:
        assert shown[name] == pytest.approx(record["channels"][f"frame_{name}"], abs=0.006), (name, shown, record["channels"])
    assert shown["std"] == pytest.approx(record["channels"]["frame_std"], abs=0.0006)


# ---- the page over stored history ------------------------------------------------------------

def test_the_page_lists_every_machine_with_its_state_and_filters_by_kind(driver, history_server):
    base = history_server.base
    open_page(driver, base, "dmls-01")
    rows = wait_until("three machine rows", lambda: (r := driver.find_elements(By.CSS_SELECTOR, "#machines li")) and len(r) == 3 and r,
                      driver=driver)
    assert [r.get_attribute("data-machine") for r in rows] == ["dmls-01", "dmls-02", "fdm-01"]
    for row in rows:
        machine = row.get_attribute("data-machine")
        state = latest(base, machine)["state"]
        wait_until(f"{machine}'s state shown", lambda: row.find_element(By.CSS_SELECTOR, ".state").text == state, driver=driver)
        assert row.find_element(By.CSS_SELECTOR, ".kind").text.lower() == machine.split("-")[0]
        assert "ago" in row.find_element(By.CSS_SELECTOR, ".seen").text   # last seen, relative
    driver.find_element(By.CSS_SELECTOR, '.kind-filter[data-kind="fdm"]').click()
    wait_until("only FDM rows visible", lambda: [r.get_attribute("data-machine") for r in rows if r.is_displayed()] == ["fdm-01"],
               driver=driver)
    driver.find_element(By.CSS_SELECTOR, '.kind-filter[data-kind="dmls"]').click()
    wait_until("only DMLS rows visible",
               lambda: [r.get_attribute("data-machine") for r in rows if r.is_displayed()] == ["dmls-01", "dmls-02"], driver=driver)
    search = driver.find_element(By.ID, "machine-search")
    search.send_keys("02")
    wait_until("the search narrows the list", lambda: [r.get_attribute("data-machine") for r in rows if r.is_displayed()] == ["dmls-02"],
               driver=driver)
    search.clear()
    search.send_keys(" ")   # an input event with an empty filter
    driver.find_element(By.CSS_SELECTOR, '.kind-filter[data-kind="all"]').click()
    wait_until("all rows visible again", lambda: all(r.is_displayed() for r in rows), driver=driver)


def test_the_heatmap_draws_the_newest_frame_with_a_color_scale_hover_values_and_its_statistics(driver, history_server):
    base = history_server.base
    newest = latest(base, "dmls-01")
    open_page(driver, base, "dmls-01")
    wait_until("the newest record shown", lambda: text(driver, "record-id") == newest["id"], driver=driver)
    wait_until("the heatmap drawn", lambda: driver.find_element(By.CSS_SELECTOR, ".heatmap-box").get_attribute("data-empty") == "false",
               driver=driver)
    colors = canvas_colors(driver, "heatmap")
    assert colors["painted"] == colors["total"], colors        # every pixel drawn
    assert colors["distinct"] >= 20, colors                    # a field of temperatures, not one flat color
    scale = canvas_colors(driver, "scale")
    assert scale["distinct"] >= 50, scale
    assert text(driver, "scale-min") == "20.0 °C" and text(driver, "scale-max") == "80.0 °C"
    assert_stats_match(driver, newest)
    # Scaled to the frame instead: the labels follow the frame's own range.
    driver.find_element(By.ID, "auto-scale").click()
    wait_until("the scale follows the frame", lambda: text(driver, "scale-max") == f"{newest['channels']['frame_max']:.1f} °C", driver=driver)
    driver.find_element(By.ID, "auto-scale").click()
    # Hovering a cell shows its coordinates and temperature.
    heatmap = driver.find_element(By.ID, "heatmap")
    ActionChains(driver).move_to_element_with_offset(heatmap, 10, 10).perform()
    hover = wait_until("a hover value", lambda: (t := text(driver, "hover")) and "°C" in t and t, driver=driver)
    assert hover.startswith("x ") and ", y " in hover
    screenshot(driver, "heatmap")


def test_the_plots_have_points_for_each_kind(driver, history_server):
    base = history_server.base
    open_page(driver, base, "dmls-01")
    expected = {"dmls-01": ["power_kw", "vibration_mm_s", "frame_max", "frame_mean"],
                "fdm-01": ["nozzle_temp_c", "bed_temp_c", "filament_flow", "power_kw"]}
    for machine, channels in expected.items():
        if machine != "dmls-01":
            driver.find_element(By.CSS_SELECTOR, f'#machines li[data-machine="{machine}"]').click()
            wait_until(f"{machine} selected", lambda: text(driver, "machine-title") == machine, driver=driver)
        plots = wait_until(f"{machine}'s plots", lambda: (p := driver.find_elements(By.CSS_SELECTOR, "#plots .plot"))
                           and [e.get_attribute("data-channel") for e in p] == channels and p, driver=driver)
        # 120 s of records in the 15-minute window: about one point per record or bucket.
        wait_until(f"{machine}'s plots filled", lambda: all(int(p.get_attribute("data-points") or 0) >= 50 for p in plots), driver=driver)
        for plot in plots:
            line = driver.execute_script("""
                const c = arguments[0].querySelector('canvas');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 36) < 12 && Math.abs(d[i+1] - 87) < 12 && Math.abs(d[i+2] - 197) < 12) n++;
                return n;""", plot)
            assert line > 50, f"{plot.get_attribute('data-channel')}: the mean line is not drawn ({line} pixels)"
        screenshot(driver, f"plots-{machine}")


def test_the_history_browser_steps_record_by_record_and_jumps_to_a_time(driver, history_server):
    base = history_server.base
    newest_two = records(base, "dmls-01", order="desc", limit=2)
    open_page(driver, base, "dmls-01")
    wait_until("the newest record shown", lambda: text(driver, "record-id") == newest_two[0]["id"], driver=driver)
    assert text(driver, "mode") == "LIVE"

    driver.find_element(By.ID, "prev-record").click()
    wait_until("the previous record shown", lambda: text(driver, "record-id") == newest_two[1]["id"], driver=driver)
    assert text(driver, "mode") == "HISTORY"
    wait_until("its frame's statistics", lambda: shown_stats(driver)["mean"] == pytest.approx(newest_two[1]["channels"]["frame_mean"], abs=0.006),
               driver=driver)
    assert_stats_match(driver, newest_two[1])

    driver.find_element(By.ID, "next-record").click()
    wait_until("the next record shown", lambda: text(driver, "record-id") == newest_two[0]["id"], driver=driver)
    assert_stats_match(driver, newest_two[0])
    driver.find_element(By.ID, "next-record").click()
    wait_until("the end reported", lambda: "newest" in text(driver, "nav-message"), driver=driver)
    assert text(driver, "record-id") == newest_two[0]["id"]

    # Jump to a time: the first record at or after it.
    target = records(base, "dmls-01", order="asc", limit=31)[30]
    driver.execute_script("""
        const d = new Date(arguments[0]);
        const p = (n) => String(n).padStart(2, '0');
        document.getElementById('jump-time').value =
            `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    """, ms(target["timestamp"]))
    driver.find_element(By.ID, "jump-go").click()
    wait_until("the record at the chosen time", lambda: text(driver, "record-id") == target["id"], driver=driver)
    assert_stats_match(driver, target)
    screenshot(driver, "history")

    # Clicking a plot opens the record at that time.
    before = text(driver, "record-id")
    plot = driver.find_element(By.CSS_SELECTOR, '#plots .plot[data-channel="power_kw"] canvas')
    ActionChains(driver).move_to_element_with_offset(plot, plot.size["width"] // 2 - 20, 0).click().perform()
    wait_until("a record from the plot", lambda: text(driver, "record-id") not in ("", before), driver=driver)
    assert text(driver, "mode") == "HISTORY"

    driver.find_element(By.ID, "live-button").click()
    wait_until("back to the newest", lambda: text(driver, "record-id") == newest_two[0]["id"] and text(driver, "mode") == "LIVE",
               driver=driver)


def alert_item(driver, alert_id: str):
    items = driver.find_elements(By.CSS_SELECTOR, f'#alerts li[data-id="{alert_id}"]')
    return items[0] if items else None


def alert_attribute(driver, alert_id: str, name: str) -> str | None:
    """An attribute of the alert's list item, read in one step (the list is redrawn on every alert change)."""
    return driver.execute_script(
        "const e = document.querySelector(`#alerts li[data-id=\"${arguments[0]}\"]`);"
        "return e ? (arguments[1] === 'border' ? getComputedStyle(e).borderLeftColor : e.getAttribute(arguments[1])) : null;",
        alert_id, name)


def click_alert_button(driver, alert_id: str, kind: str) -> None:
    def click():
        item = alert_item(driver, alert_id)
        buttons = item.find_elements(By.CSS_SELECTOR, f"button.{kind}") if item else []
        if not buttons:
            return False
        buttons[0].click()
        return True
    wait_until(f"the {kind} button of alert {alert_id} clicked", click, driver=driver)


def test_alerts_show_severity_colors_and_acknowledge_and_resolve_change_their_state(driver, history_server):
    base = history_server.base
    open_page(driver, base, "dmls-01")
    wait_until("no active alerts", lambda: driver.find_element(By.ID, "alerts-empty").is_displayed(), driver=driver)
    critical = requests.post(f"{base}/api/v1/alerts", json={"machine_id": "dmls-02", "rule": "frame_hot_spot",
                             "severity": "critical", "message": "hot spot 14 °C above the bed"}, timeout=10)
    warning = requests.post(f"{base}/api/v1/alerts", json={"machine_id": "fdm-01", "rule": "predictive_overheat",
                            "severity": "warning", "message": "nozzle rising 0.4 °C/s"}, timeout=10)
    assert critical.status_code == 201 and warning.status_code == 201, (critical.text, warning.text)
    critical_id, warning_id = critical.json()["id"], warning.json()["id"]

    # Both arrive over the live stream, red and yellow; the machines' dots follow.
    wait_until("the critical alert listed", lambda: alert_item(driver, critical_id), driver=driver)
    wait_until("the warning alert listed", lambda: alert_item(driver, warning_id), driver=driver)
    assert alert_attribute(driver, critical_id, "border") == "rgb(211, 47, 47)"
    assert alert_attribute(driver, warning_id, "border") == "rgb(242, 194, 0)"
    row = lambda m: driver.find_element(By.CSS_SELECTOR, f'#machines li[data-machine="{m}"]').get_attribute("data-severity")
    wait_until("dmls-02 marked critical", lambda: row("dmls-02") == "critical", driver=driver)
    assert row("fdm-01") == "warning"
    assert row("dmls-01") == "normal"
    assert not driver.find_element(By.ID, "alerts-empty").is_displayed()
    screenshot(driver, "alerts")

    click_alert_button(driver, critical_id, "ack")
    wait_until("acknowledged on the page", lambda: alert_attribute(driver, critical_id, "data-state") == "acknowledged", driver=driver)
    stored = requests.get(f"{base}/api/v1/alerts", params={"machine": "dmls-02"}, timeout=10).json()["alerts"]
    assert [(a["id"], a["state"], a["acknowledged_by"]) for a in stored] == [(critical_id, "acknowledged", "dashboard")]
    # Nothing left to acknowledge; it can still be resolved.
    assert not driver.find_elements(By.CSS_SELECTOR, f'#alerts li[data-id="{critical_id}"] button.ack')
    assert driver.find_elements(By.CSS_SELECTOR, f'#alerts li[data-id="{critical_id}"] button.resolve')

    click_alert_button(driver, critical_id, "resolve")
    wait_until("gone from the active list", lambda: alert_item(driver, critical_id) is None, driver=driver)
    stored = requests.get(f"{base}/api/v1/alerts", params={"machine": "dmls-02"}, timeout=10).json()["alerts"]
    assert [(a["state"], a["active"], a["resolved_by"]) for a in stored] == [("resolved", False, "dashboard")]
    wait_until("dmls-02 back to normal", lambda: row("dmls-02") == "normal", driver=driver)

    driver.find_element(By.ID, "alerts-show-resolved").click()
    wait_until("the resolved alert shown on request", lambda: alert_attribute(driver, critical_id, "data-state") == "resolved",
               driver=driver)
    assert alert_attribute(driver, critical_id, "border") == "rgb(46, 157, 79)"   # normal green
    driver.find_element(By.ID, "alerts-show-resolved").click()
    click_alert_button(driver, warning_id, "resolve")
    wait_until("all systems normal", lambda: driver.find_element(By.ID, "alerts-empty").is_displayed(), driver=driver)


# ---- live -------------------------------------------------------------------------------------

def test_live_updates_follow_the_stream_and_pause_holds_the_page(driver, live_server):
    base = live_server.base
    open_page(driver, base, "dmls-03")
    wait_until("the stream connected", lambda: text(driver, "connection") == "live", driver=driver)
    rows = wait_until("20 machine rows", lambda: (r := driver.find_elements(By.CSS_SELECTOR, "#machines li")) and len(r) == 20 and r,
                      driver=driver)
    assert sum(1 for r in rows if r.get_attribute("data-machine").startswith("dmls")) == 10
    first = wait_until("a record", lambda: text(driver, "record-id"), driver=driver)
    # New records replace it as they arrive, three times over.
    seen = {first}
    wait_until("three newer records", lambda: ((t := text(driver, "record-id")) and seen.add(t)) or len(seen) >= 4, timeout=30,
               driver=driver)
    assert all(i.startswith("dmls-03@") for i in seen)
    wait_until("the heatmap drawn", lambda: driver.find_element(By.CSS_SELECTOR, ".heatmap-box").get_attribute("data-empty") == "false",
               driver=driver)
    plot = driver.find_element(By.CSS_SELECTOR, '#plots .plot[data-channel="power_kw"]')
    points = int(plot.get_attribute("data-points"))
    wait_until("the plots grow", lambda: int(plot.get_attribute("data-points")) > points, timeout=30, driver=driver)

    driver.find_element(By.ID, "pause-button").click()
    wait_until("paused", lambda: text(driver, "connection") == "paused" and text(driver, "mode") == "PAUSED", driver=driver)
    held = text(driver, "record-id")
    held_ns = int(held.split("@")[1])
    # The server goes on storing; the page holds still.
    wait_until("two newer records stored", lambda: int(latest(base, "dmls-03")["id"].split("@")[1]) > held_ns + 1_500_000_000,
               timeout=30, driver=driver)
    assert text(driver, "record-id") == held
    driver.find_element(By.ID, "pause-button").click()
    wait_until("live again", lambda: text(driver, "connection") == "live", driver=driver)
    # (Resuming reloads the page's state: the record shown is empty for a moment.)
    wait_until("newer records again", lambda: (t := text(driver, "record-id")) and int(t.split("@")[1]) > held_ns, timeout=30,
               driver=driver)
    screenshot(driver, "live-20-machines")


def test_twenty_streaming_machines_keep_the_page_responsive(driver, live_server):
    """Records from 20 printers (10 with frames) keep coming; the page keeps painting and answering.

    Measured over 5 s of the live stream: animation frames painted, long tasks (> 50 ms of main
    thread), and the time of a script round trip. The bounds are generous (a loaded 2-core CI
    machine runs the server, the simulator and chromium at once); the numbers go to
    test-artifacts/dashboard/responsiveness.json.
    """
    base = live_server.base
    open_page(driver, base, "dmls-07")
    wait_until("20 machine rows", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#machines li")) == 20, driver=driver)
    wait_until("the stream connected", lambda: text(driver, "connection") == "live", driver=driver)
    driver.set_script_timeout(30)
    measured = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const longTasks = [];
        let observer = null;
        try {
            observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(e.duration); });
            observer.observe({entryTypes: ['longtask']});
        } catch (e) { /* not supported: reported as null */ }
        let frames = 0;
        const ids = new Set();
        const start = performance.now();
        function tick() {
            frames++;
            ids.add(document.getElementById('record-id').textContent);
            if (performance.now() - start < 5000) { requestAnimationFrame(tick); return; }
            if (observer) observer.disconnect();
            done({frames: frames, seconds: (performance.now() - start) / 1000, records_shown: ids.size,
                  long_tasks: observer ? longTasks.length : null, longest_task_ms: longTasks.length ? Math.max(...longTasks) : 0});
        }
        requestAnimationFrame(tick);
    """)
    started = time.monotonic()
    assert driver.execute_script("return document.querySelectorAll('#machines li').length") == 20
    round_trip = time.monotonic() - started
    measured["script_round_trip_s"] = round_trip
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "responsiveness.json").write_text(json.dumps(measured, indent=2))
    fps = measured["frames"] / measured["seconds"]
    assert fps >= 10, measured                       # kept painting
    assert measured["records_shown"] >= 3, measured  # the heatmap followed dmls-07 as it streamed
    assert measured["longest_task_ms"] < 1000, measured
    assert round_trip < 2, measured


# ---- before the data, and when it cannot be read ------------------------------------------------

# Installed with CDP before the page's own script runs: fetches whose path starts with one of the
# held prefixes wait until the test releases them, so the page's state before an answer is shown
# deterministically (no timing involved).
FETCH_GATE = """
(() => {
  const realFetch = window.fetch.bind(window);
  const gate = { held: ["/api/v1/machines", "/api/v1/alerts"], waiting: [], count: {} };
  gate.release = (prefix) => {
    gate.held = gate.held.filter((p) => p !== prefix);
    const still = [];
    for (const w of gate.waiting) (w.path.startsWith(prefix) ? w.go : () => still.push(w))();
    gate.waiting = still;
  };
  window.__fetchGate = gate;
  window.fetch = (input, init) => {
    const path = new URL(typeof input === "string" ? input : input.url, location.href).pathname;
    const prefix = gate.held.find((p) => path.startsWith(p));
    if (prefix === undefined) return realFetch(input, init);
    gate.count[prefix] = (gate.count[prefix] || 0) + 1;
    return new Promise((go) => gate.waiting.push({ path, go })).then(() => realFetch(input, init));
  };
})();
"""

GREEN, GREY = "rgb(46, 157, 79)", "rgb(156, 163, 175)"


def fleet_with_an_alert(server, token: str | None = None) -> str:
    """20 simulated seconds of dmls-01, dmls-02 and fdm-01, and one critical alert on dmls-02 (its id)."""
    result = subprocess.run([sim_binary(), "--dmls", "2", "--fdm", "1", "--http", server.base, "--speed", "max",
                             "--sim-seconds", "19", "--start", START, "--seed", "7", *(["--token", token] if token else [])],
                            capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    alert = requests.post(server.url("/api/v1/alerts"), json={"machine_id": "dmls-02", "rule": "frame_hot_spot", "severity": "critical",
                                                              "message": "hot spot 14 °C above the bed"}, headers=headers, timeout=10)
    assert alert.status_code == 201, alert.text
    return alert.json()["id"]


def dots(driver) -> dict[str, tuple[str, str]]:
    """Each machine row's data-severity and its dot's computed color."""
    return {m: (s, c) for m, s, c in driver.execute_script(
        "return [...document.querySelectorAll('#machines li')].map((li) => "
        "[li.dataset.machine, li.dataset.severity, getComputedStyle(li.querySelector('.dot')).backgroundColor]);")}


def shown(driver, element_id: str) -> bool:
    return driver.find_element(By.ID, element_id).is_displayed()


@pytest.fixture
def failing_driver(browser_session):
    """The module's browser for pages whose requests are meant to fail (their console errors are expected)."""
    console(browser_session)
    yield browser_session
    browser_session.execute_script("try { localStorage.clear(); } catch (e) {}")
    browser_session.get("about:blank")
    console(browser_session)


def test_before_the_machines_and_alerts_answer_the_page_says_loading_and_nothing_is_green(driver):
    for server in _serve("dashboard-initial"):
        alert_id = fleet_with_an_alert(server)
        gate = driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FETCH_GATE})["identifier"]
        try:
            driver.get("about:blank")
            driver.get(f"{server.base}/#machine=dmls-01")
            wait_until("both reads held", lambda: driver.execute_script(
                "const g = window.__fetchGate; return g && g.count['/api/v1/machines'] >= 1 && g.count['/api/v1/alerts'] >= 1;"),
                driver=driver)
            # Nothing has answered: every panel says it is loading; nothing claims "normal".
            assert text(driver, "machines-empty") == "loading machines…"
            assert text(driver, "alerts-status") == "loading alerts…"
            assert not shown(driver, "alerts-empty")
            assert "normal" not in driver.find_element(By.TAG_NAME, "body").text
            assert driver.find_elements(By.CSS_SELECTOR, "#machines li") == []
            screenshot(driver, "initial-loading")

            # The machines answer, the alerts not yet: the rows are there, their dots grey ("unknown").
            driver.execute_script("window.__fetchGate.release('/api/v1/machines')")
            wait_until("three rows with their states", lambda: len(d := dots(driver)) == 3 and all(
                r.find_element(By.CSS_SELECTOR, ".state").text not in ("", "—") for r in driver.find_elements(By.CSS_SELECTOR, "#machines li"))
                and d, driver=driver)
            assert dots(driver) == {m: ("unknown", GREY) for m in ["dmls-01", "dmls-02", "fdm-01"]}
            assert not shown(driver, "machines-empty")
            assert text(driver, "alerts-status") == "loading alerts…"
            assert not shown(driver, "alerts-empty")
            assert "normal" not in driver.find_element(By.TAG_NAME, "body").text
            screenshot(driver, "initial-machines-no-alerts")

            # The alerts answer: now (and only now) the real colors, the alert listed, no loading line.
            driver.execute_script("window.__fetchGate.release('/api/v1/alerts')")
            wait_until("dmls-02 marked critical", lambda: dots(driver)["dmls-02"][0] == "critical", driver=driver)
            wait_until("the others normal and green", lambda: dots(driver)["dmls-01"] == ("normal", GREEN)
                       and dots(driver)["fdm-01"] == ("normal", GREEN), driver=driver)
            assert alert_item(driver, alert_id) is not None
            assert not shown(driver, "alerts-status")
            assert not shown(driver, "alerts-empty")   # one alert is active
            wait_until("dmls-01 selected", lambda: text(driver, "machine-title") == "dmls-01", driver=driver)
        finally:
            driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": gate})
            driver.get("about:blank")


def test_alerts_that_cannot_be_read_show_the_reason_and_never_all_normal(failing_driver):
    """--protect-reads without a token: every read answers 401; the page says so, then a token fixes it."""
    driver = failing_driver
    for server in _serve("dashboard-protected", "--token", TOKEN, "--protect-reads"):
        alert_id = fleet_with_an_alert(server, TOKEN)
        driver.get("about:blank")
        driver.get(f"{server.base}/#machine=dmls-01")
        status = wait_until("the alerts' error shown", lambda: shown(driver, "alerts-status")
                            and "could not be loaded" in (t := text(driver, "alerts-status")) and t, driver=driver)
        assert "Authorization" in status and "set the API token above" in status and "retrying in" in status, status
        machines = wait_until("the machines' error shown", lambda: "could not be loaded" in (t := text(driver, "machines-empty")) and t,
                              driver=driver)
        assert "Authorization" in machines and "retrying in" in machines, machines
        assert driver.find_element(By.ID, "alerts-status").value_of_css_property("color") == "rgba(211, 47, 47, 1)"
        assert not shown(driver, "alerts-empty")
        assert "normal" not in driver.find_element(By.TAG_NAME, "body").text
        screenshot(driver, "alerts-unauthorized")

        # Entering the token reads both again at once.
        token = driver.find_element(By.ID, "token")
        token.send_keys(TOKEN)
        driver.execute_script("arguments[0].dispatchEvent(new Event('change'))", token)
        wait_until("dmls-02 marked critical", lambda: dots(driver).get("dmls-02", ("",))[0] == "critical", driver=driver)
        wait_until("the alerts read", lambda: not shown(driver, "alerts-status"), driver=driver)
        assert alert_item(driver, alert_id) is not None
        assert dots(driver)["dmls-01"] == ("normal", GREEN)
        assert not shown(driver, "machines-empty")
        driver.get("about:blank")


def test_a_failed_alerts_reload_keeps_the_last_known_alerts_and_says_it_is_retrying(failing_driver):
    """The server stops under the page: the alerts shown stay, marked out of date, and no machine turns green."""
    driver = failing_driver
    server = Server("dashboard-stopped")
    try:
        alert_id = fleet_with_an_alert(server)
        driver.get("about:blank")
        driver.get(f"{server.base}/#machine=dmls-01")
        wait_until("the stream connected", lambda: text(driver, "connection") == "live", driver=driver)
        wait_until("dmls-02 critical, the others green", lambda: dots(driver) == {
            "dmls-01": ("normal", GREEN), "dmls-02": ("critical", "rgb(211, 47, 47)"), "fdm-01": ("normal", GREEN)}, driver=driver)
        assert alert_item(driver, alert_id) is not None

        assert server.stop() == 0
        status = wait_until("a failed refresh reported", lambda: shown(driver, "alerts-status")
                            and "alerts could not be refreshed" in (t := text(driver, "alerts-status")) and t, driver=driver)
        assert "retrying in" in status and "last known alerts" in status, status
        # A reload was tried and failed too (not only the stream's loss): its reason replaces the first.
        wait_until("the retry's failure reported", lambda: "Failed to fetch" in text(driver, "alerts-status"), driver=driver)
        assert alert_item(driver, alert_id) is not None          # the last known alert is still listed
        assert dots(driver) == {"dmls-01": ("unknown", GREY), "dmls-02": ("critical", "rgb(211, 47, 47)"), "fdm-01": ("unknown", GREY)}
        assert not shown(driver, "alerts-empty")
        assert text(driver, "connection") == "reconnecting"
        screenshot(driver, "alerts-refresh-failed")
    finally:
        driver.get("about:blank")
        server.kill()
        server.close()
