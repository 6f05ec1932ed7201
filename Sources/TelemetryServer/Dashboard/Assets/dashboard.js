// Sinter dashboard: plain JavaScript over the public HTTP API, no framework, no third-party code.
//
// Data flow: one Server-Sent Events stream of every machine's records (no frames) and alerts
// keeps the machine list, the trend plots and the alerts panel current (one connection per tab:
// browsers allow six per server); the selected machine's frames are fetched raw as its records
// arrive, while the page is in live mode. History comes from
// range queries (`/records`, `/series`) and raw frames (`/records/{id}` as Float32). Rendering
// is coalesced into animation frames, so a fleet streaming fast costs one redraw per frame.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);

  // ---- state ----------------------------------------------------------------------------
  const state = {
    machines: new Map(),      // id → { id, kind, last, row }
    selected: null,
    kindFilter: "all",
    search: "",
    mode: "live",             // "live": follows the newest record; "history": a chosen record
    paused: false,
    current: null,            // { rec, frame: { width, height, data: Float32Array } | null }
    rangeSeconds: 900,
    plots: [],                // { channel, label, unit, canvas, points: [{ t, min, max, mean }] }
    alerts: new Map(),        // id → alert JSON
    // What the page knows of the alerts and machines: "loading" until the first answer, "ok", or
    // "error" (then `error` says why and a retry is scheduled). Nothing is shown as normal unless
    // the alerts are "ok": before the first answer and after a failure the machines are "unknown".
    alertsStatus: { state: "loading", error: "", loadedOnce: false, retryIn: 0 },
    machinesStatus: { state: "loading", error: "", retryIn: 0 },
    streams: [],
    token: localStorage.getItem("sinter.token") || "",
    lastSeriesLoad: 0,
  };

  const PLOT_CHANNELS = {
    dmls: [["power_kw", "Power", "kW"], ["vibration_mm_s", "Vibration", "mm/s"],
           ["frame_max", "Frame max", "°C"], ["frame_mean", "Frame mean", "°C"]],
    fdm: [["nozzle_temp_c", "Nozzle temperature", "°C"], ["bed_temp_c", "Bed temperature", "°C"],
          ["filament_flow", "Filament flow", ""], ["power_kw", "Power", "kW"]],
  };
  const SEVERITY_RANK = { critical: 3, warning: 2, info: 1 };

  // ---- time: RFC 3339 with nanoseconds, as BigInt nanoseconds -------------------------------
  function parseNs(text) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(text);
    if (!m) throw new Error("not an RFC 3339 time: " + text);
    const ms = Date.parse(m[1] + m[3]);
    const fraction = (m[2] || "").padEnd(9, "0").slice(0, 9);
    return BigInt(ms) * 1000000n + BigInt(fraction);
  }
  function formatNs(ns) {
    const seconds = ns / 1000000000n;
    const fraction = ns % 1000000000n;
    const whole = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
    return `${whole}.${fraction.toString().padStart(9, "0")}Z`;
  }
  const ms = (text) => Date.parse(text);
  function localTime(t, withDate) {
    const d = new Date(t);
    const time = d.toLocaleTimeString([], { hour12: false });
    return withDate ? `${d.toLocaleDateString()} ${time}` : time;
  }
  function ago(t) {
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 0) return "in the future";
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400 * 2) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  }
  const fmt = (v, digits = 2) => (v === null || v === undefined || Number.isNaN(v)) ? "—" : Number(v).toFixed(digits);

  // ---- HTTP -------------------------------------------------------------------------------
  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {});
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        const body = await response.json();
        if (body && body.error) message = body.error.message + (response.status === 401 ? " (set the API token above)" : "");
      } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return response;
  }
  const getJSON = async (path) => (await api(path)).json();

  // ---- retries of the initial reads: 2 s, 4 s, … up to 30 s, one timer per kind ---------------------
  const retries = { alerts: { timer: null, delay: 0 }, machines: { timer: null, delay: 0 } };
  function scheduleRetry(kind, action) {
    const retry = retries[kind];
    clearTimeout(retry.timer);
    retry.delay = Math.min(30, retry.delay ? retry.delay * 2 : 2);
    retry.timer = setTimeout(() => { retry.timer = null; action(); }, retry.delay * 1000);
    return retry.delay;
  }
  function cancelRetry(kind) {
    clearTimeout(retries[kind].timer);
    retries[kind].timer = null;
    retries[kind].delay = 0;
  }
  const machinePath = (id) => `/api/v1/machines/${encodeURIComponent(id)}`;

  // ---- animation-frame coalescing ---------------------------------------------------------------
  const dirty = new Set();
  let frameRequested = false;
  function schedule(part) {
    dirty.add(part);
    if (frameRequested) return;
    frameRequested = true;
    requestAnimationFrame(() => {
      frameRequested = false;
      const parts = new Set(dirty);
      dirty.clear();
      if (parts.has("machines")) renderMachines();
      if (parts.has("record")) renderRecord();
      if (parts.has("plots")) renderPlots();
      if (parts.has("alerts")) renderAlerts();
    });
  }

  // ---- machines ---------------------------------------------------------------------------
  function ensureMachine(id, kind) {
    let m = state.machines.get(id);
    if (!m) {
      m = { id, kind: kind || "", last: null, lastTime: 0, row: null };
      state.machines.set(id, m);
    } else if (kind && !m.kind) {
      m.kind = kind;
    }
    return m;
  }

  // Reads the machine list; on failure the panel says why and a retry is scheduled (never throws).
  async function loadMachines() {
    let body;
    try {
      body = await getJSON("/api/v1/machines");
    } catch (e) {
      state.machinesStatus = { state: "error", error: e.message, retryIn: scheduleRetry("machines", retryMachines) };
      schedule("machines");
      return false;
    }
    cancelRetry("machines");
    state.machinesStatus = { state: "ok", error: "", retryIn: 0 };
    for (const info of body.machines) {
      const m = ensureMachine(info.id, info.kind);
      if (info.last_timestamp) m.lastTime = Math.max(m.lastTime, ms(info.last_timestamp));
    }
    // The newest record of each machine gives its state; one request per machine, once.
    await Promise.all(body.machines.map(async (info) => {
      try {
        const rec = await getJSON(`${machinePath(info.id)}/latest`);
        noteRecord(rec);
      } catch (_) { /* no records yet */ }
    }));
    schedule("machines");
    return true;
  }

  // A retried read selects a machine if none is selected yet (the first read failed).
  const retryMachines = () => loadMachines().then((ok) => { if (ok && !state.selected) selectInitial(); });

  function noteRecord(rec) {
    const m = ensureMachine(rec.machine_id, rec.kind);
    const t = ms(rec.timestamp);
    if (!m.last || t >= m.lastTime) {
      m.last = rec;
      m.lastTime = t;
    }
    return m;
  }

  // "critical"/"warning" from the known active alerts; "normal" only while the alerts are known to
  // be current, "unknown" before they have loaded and after a failed read.
  function machineSeverity(id) {
    let worst = 0;
    for (const a of state.alerts.values()) {
      if (a.machine_id === id && a.active) worst = Math.max(worst, SEVERITY_RANK[a.severity] || 0);
    }
    if (worst === 3) return "critical";
    if (worst === 2) return "warning";
    return state.alertsStatus.state === "ok" ? "normal" : "unknown";
  }

  function visible(m) {
    if (state.kindFilter !== "all" && m.kind !== state.kindFilter) return false;
    return !state.search || m.id.toLowerCase().includes(state.search);
  }

  function renderMachines() {
    const list = $("machines");
    const ids = [...state.machines.keys()].sort();
    for (const id of ids) {
      const m = state.machines.get(id);
      if (!m.row) {
        const li = document.createElement("li");
        li.dataset.machine = id;
        li.innerHTML = '<span class="dot"></span><span class="name"></span><span class="kind"></span>' +
                       '<span class="state"></span><span class="seen"></span>';
        li.querySelector(".name").textContent = id;
        li.addEventListener("click", () => selectMachine(id));
        m.row = li;
      }
      const li = m.row;
      li.querySelector(".kind").textContent = m.kind;
      li.querySelector(".state").textContent = (m.last && m.last.state) || "—";
      li.dataset.state = (m.last && m.last.state) || "";
      const severity = machineSeverity(id);
      li.dataset.severity = severity;
      li.querySelector(".dot").title = severity === "unknown" ? "alerts not known yet" : severity;
      li.classList.toggle("selected", id === state.selected);
      li.hidden = !visible(m);
      updateSeen(m);
    }
    // Keep the rows in id order without rebuilding them.
    ids.forEach((id, index) => {
      const row = state.machines.get(id).row;
      if (list.children[index] !== row) list.insertBefore(row, list.children[index] || null);
    });
    const empty = $("machines-empty");
    const status = state.machinesStatus;
    empty.dataset.state = status.state;
    empty.textContent = status.state === "error"
      ? `machines could not be ${state.machines.size ? "refreshed" : "loaded"}: ${status.error}; retrying in ${status.retryIn} s`
      : status.state === "loading" ? "loading machines…" : "No machines yet: start sinter-sim or an edge gateway.";
    empty.hidden = state.machines.size > 0 && status.state !== "error";
  }

  function updateSeen(m) {
    if (!m.row) return;
    const seen = m.row.querySelector(".seen");
    seen.textContent = m.lastTime ? ago(m.lastTime) : "never";
    seen.title = m.lastTime ? new Date(m.lastTime).toISOString() : "";
    m.row.classList.toggle("stale", !m.lastTime || Date.now() - m.lastTime > 30000);
  }

  function selectMachine(id) {
    if (!state.machines.has(id)) return;
    if (id !== state.selected) state.current = null;   // the same machine again (resume) keeps its record until the newest arrives
    state.selected = id;
    history.replaceState(null, "", "#machine=" + encodeURIComponent(id));
    state.mode = "live";
    $("nav-message").textContent = "";
    schedule("machines");
    schedule("record");
    schedule("alerts");
    buildPlots();
    showLatest().catch((e) => navMessage(e.message));
    loadSeries().catch((e) => navMessage(e.message));
  }

  // ---- the record panel: heatmap, statistics, channels, navigation ---------------------------------
  function setCurrent(rec, frame) {
    state.current = { rec, frame };
    schedule("record");
    schedule("plots");
  }

  async function fetchFrame(rec) {
    if (!rec.has_frame) return null;
    const response = await api(`/api/v1/records/${encodeURIComponent(rec.id)}`, { headers: { Accept: "application/octet-stream" } });
    const width = Number(response.headers.get("X-Frame-Width")) || 100;
    const height = Number(response.headers.get("X-Frame-Height")) || 100;
    const view = new DataView(await response.arrayBuffer());
    const data = new Float32Array(width * height);
    for (let i = 0; i < data.length && 4 * i + 3 < view.byteLength; i++) data[i] = view.getFloat32(4 * i, true);
    return { width, height, data };
  }

  async function showLatest() {
    const id = state.selected;
    if (!id) return;
    const rec = await getJSON(`${machinePath(id)}/latest`);
    const frame = await fetchFrame(rec);
    if (id !== state.selected || state.mode !== "live") return;
    noteRecord(rec);
    setCurrent(rec, frame);
  }

  async function showRecord(rec) {
    const frame = await fetchFrame(rec);
    state.mode = "history";
    frameFollow.next = null;
    setCurrent(rec, frame);
  }

  function navMessage(text) { $("nav-message").textContent = text; }

  async function step(direction) {
    const id = state.selected;
    const cur = state.current && state.current.rec;
    if (!id || !cur) return;
    const ns = parseNs(cur.timestamp);
    const query = direction > 0
      ? `from=${encodeURIComponent(formatNs(ns + 1n))}&order=asc&limit=1`
      : `to=${encodeURIComponent(formatNs(ns - 1n))}&order=desc&limit=1`;
    const body = await getJSON(`${machinePath(id)}/records?${query}`);
    if (!body.records.length) {
      navMessage(direction > 0 ? "this is the newest record" : "this is the oldest record");
      return;
    }
    navMessage("");
    await showRecord(body.records[0]);
  }

  async function jumpTo(t) {
    const id = state.selected;
    if (!id || !Number.isFinite(t)) { navMessage("choose a time to jump to"); return; }
    let body = await getJSON(`${machinePath(id)}/records?from=${Math.floor(t)}&order=asc&limit=1`);
    if (!body.records.length) body = await getJSON(`${machinePath(id)}/records?to=${Math.floor(t)}&order=desc&limit=1`);
    if (!body.records.length) { navMessage("no records for this machine"); return; }
    navMessage("");
    await showRecord(body.records[0]);
  }

  function goLive() {
    state.mode = "live";
    navMessage("");
    showLatest().catch((e) => navMessage(e.message));
    schedule("record");
  }

  function renderRecord() {
    const id = state.selected;
    $("machine-title").textContent = id || "select a machine";
    const mode = $("mode");
    const shownMode = state.mode === "history" ? "history" : state.paused ? "paused" : "live";
    mode.dataset.mode = shownMode;
    mode.textContent = shownMode.toUpperCase();
    $("live-button").disabled = state.mode === "live";
    const cur = state.current;
    const rec = cur && cur.rec;
    $("record-time").textContent = rec ? `${localTime(ms(rec.timestamp), true)}  (${rec.timestamp})` : "";
    $("record-id").textContent = rec ? rec.id : "";
    const badge = $("record-state");
    badge.textContent = (rec && rec.state) || "";
    badge.dataset.state = (rec && rec.state) || "";
    // Channels, sorted; frame statistics are shown in their own table.
    const table = $("channels");
    table.querySelectorAll("tr").forEach((tr) => tr.remove());
    if (rec) {
      for (const name of Object.keys(rec.channels).sort()) {
        if (name.startsWith("frame_")) continue;
        const tr = table.insertRow();
        tr.insertCell().outerHTML = `<th>${name}</th>`;
        tr.insertCell().textContent = fmt(rec.channels[name]);
      }
    }
    const frame = cur && cur.frame;
    $("heatmap").parentElement.dataset.empty = frame ? "false" : "true";
    if (frame) {
      const s = frameStatistics(frame.data);
      $("stat-min").textContent = fmt(s.min);
      $("stat-max").textContent = fmt(s.max);
      $("stat-mean").textContent = fmt(s.mean);
      $("stat-std").textContent = fmt(s.std, 3);
      drawHeatmap(frame, s);
    } else {
      const c = (rec && rec.channels) || {};
      $("stat-min").textContent = fmt(c.frame_min);
      $("stat-max").textContent = fmt(c.frame_max);
      $("stat-mean").textContent = fmt(c.frame_mean);
      $("stat-std").textContent = fmt(c.frame_std, 3);
      const ctx = $("heatmap").getContext("2d");
      ctx.clearRect(0, 0, 400, 400);
      $("heatmap-empty").textContent = rec ? (rec.has_frame ? "loading frame…" : "no thermal frame for this record") : "no record yet";
    }
  }

  function frameStatistics(data) {
    let min = Infinity, max = -Infinity, sum = 0, n = 0;
    for (const v of data) {
      if (Number.isNaN(v)) continue;
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      n++;
    }
    const mean = n ? sum / n : NaN;
    let squares = 0;
    for (const v of data) if (!Number.isNaN(v)) squares += (v - mean) * (v - mean);
    return { min: n ? min : NaN, max: n ? max : NaN, mean, std: n ? Math.sqrt(squares / n) : NaN, count: n };
  }

  // A perceptually ordered palette of our own: dark blue → cyan → green → yellow → orange → red.
  const PALETTE = (() => {
    const stops = [[0, [20, 24, 82]], [0.2, [33, 102, 200]], [0.4, [26, 188, 196]], [0.55, [110, 204, 88]],
                   [0.7, [246, 214, 46]], [0.85, [245, 122, 30]], [1, [196, 28, 36]]];
    const table = new Uint8ClampedArray(256 * 3);
    for (let i = 0; i < 256; i++) {
      const x = i / 255;
      let k = 0;
      while (k < stops.length - 2 && x > stops[k + 1][0]) k++;
      const [x0, c0] = stops[k], [x1, c1] = stops[k + 1];
      const f = (x - x0) / (x1 - x0);
      for (let j = 0; j < 3; j++) table[3 * i + j] = c0[j] + f * (c1[j] - c0[j]);
    }
    return table;
  })();

  function scaleRange(stats) {
    if ($("auto-scale").checked && Number.isFinite(stats.min) && stats.max > stats.min) return [stats.min, stats.max];
    return [20, 80];   // the DMLS bed's working range
  }

  const offscreen = document.createElement("canvas");
  function drawHeatmap(frame, stats) {
    const [lo, hi] = scaleRange(stats);
    offscreen.width = frame.width;
    offscreen.height = frame.height;
    const octx = offscreen.getContext("2d");
    const image = octx.createImageData(frame.width, frame.height);
    const px = image.data;
    const span = hi - lo || 1;
    for (let i = 0; i < frame.data.length; i++) {
      const v = frame.data[i];
      if (Number.isNaN(v)) { px[4 * i] = px[4 * i + 1] = px[4 * i + 2] = 128; px[4 * i + 3] = 255; continue; }
      const k = Math.max(0, Math.min(255, Math.round(((v - lo) / span) * 255)));
      px[4 * i] = PALETTE[3 * k];
      px[4 * i + 1] = PALETTE[3 * k + 1];
      px[4 * i + 2] = PALETTE[3 * k + 2];
      px[4 * i + 3] = 255;
    }
    octx.putImageData(image, 0, 0);
    const ctx = $("heatmap").getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(offscreen, 0, 0, 400, 400);
    drawScale(lo, hi);
  }

  function drawScale(lo, hi) {
    const canvas = $("scale");
    const ctx = canvas.getContext("2d");
    for (let x = 0; x < canvas.width; x++) {
      const k = Math.round((x / (canvas.width - 1)) * 255);
      ctx.fillStyle = `rgb(${PALETTE[3 * k]},${PALETTE[3 * k + 1]},${PALETTE[3 * k + 2]})`;
      ctx.fillRect(x, 0, 1, canvas.height);
    }
    $("scale-min").textContent = `${fmt(lo, 1)} °C`;
    $("scale-mid").textContent = `${fmt((lo + hi) / 2, 1)} °C`;
    $("scale-max").textContent = `${fmt(hi, 1)} °C`;
  }

  function onHeatmapHover(event) {
    const hover = $("hover");
    const frame = state.current && state.current.frame;
    if (!frame) { hover.style.display = "none"; return; }
    const rect = event.target.getBoundingClientRect();
    const x = Math.floor(((event.clientX - rect.left) / rect.width) * frame.width);
    const y = Math.floor(((event.clientY - rect.top) / rect.height) * frame.height);
    if (x < 0 || y < 0 || x >= frame.width || y >= frame.height) { hover.style.display = "none"; return; }
    const v = frame.data[y * frame.width + x];
    hover.textContent = `x ${x}, y ${y}: ${Number.isNaN(v) ? "no reading" : v.toFixed(2) + " °C"}`;
    hover.style.display = "block";
    hover.style.left = `${Math.min(event.clientX - rect.left + 12, 300)}px`;
    hover.style.top = `${event.clientY - rect.top + 12}px`;
  }

  // ---- trend plots ------------------------------------------------------------------------
  function plotChannels() {
    const m = state.machines.get(state.selected);
    if (!m) return [];
    if (PLOT_CHANNELS[m.kind]) return PLOT_CHANNELS[m.kind];
    const names = m.last ? Object.keys(m.last.channels).sort().slice(0, 4) : [];
    return names.map((n) => [n, n, ""]);
  }

  function buildPlots() {
    const container = $("plots");
    container.textContent = "";
    state.plots = plotChannels().map(([channel, label, unit]) => {
      const box = document.createElement("div");
      box.className = "plot";
      box.dataset.channel = channel;
      box.innerHTML = '<div class="title"><span class="label"></span><span class="value mono"></span></div><canvas></canvas>';
      box.querySelector(".label").textContent = unit ? `${label} (${unit})` : label;
      const canvas = box.querySelector("canvas");
      const plot = { channel, label, unit, canvas, box, points: [], from: 0, to: 0 };
      canvas.addEventListener("click", (event) => {
        const t = plotTimeAt(plot, event);
        if (t !== null) jumpTo(t).catch((e) => navMessage(e.message));
      });
      container.appendChild(box);
      return plot;
    });
  }

  /// The window shown: `rangeSeconds` back from the machine's newest record (not the wall
  /// clock, so replayed or simulated data in the past shows too).
  function plotWindow() {
    const m = state.machines.get(state.selected);
    const end = (m && m.lastTime) || Date.now();
    return [end - state.rangeSeconds * 1000, end];
  }

  async function loadSeries() {
    const id = state.selected;
    if (!id || !state.plots.length) return;
    state.lastSeriesLoad = Date.now();
    const [from, to] = plotWindow();
    await Promise.all(state.plots.map(async (plot) => {
      const body = await getJSON(`${machinePath(id)}/series?channel=${encodeURIComponent(plot.channel)}&from=${Math.floor(from)}&to=${Math.ceil(to) + 1}`);
      if (id !== state.selected) return;
      plot.points = body.buckets.filter((b) => b.count > 0).map((b) => ({ t: ms(b.start), min: b.min, max: b.max, mean: b.mean }));
    }));
    schedule("plots");
  }

  function appendLive(rec) {
    const t = ms(rec.timestamp);
    const [from] = plotWindow();
    for (const plot of state.plots) {
      const v = rec.channels[plot.channel];
      if (v === undefined || v === null) continue;
      const last = plot.points[plot.points.length - 1];
      if (last && last.t >= t) continue;
      plot.points.push({ t, min: v, max: v, mean: v });
      while (plot.points.length && plot.points[0].t < from) plot.points.shift();
    }
    schedule("plots");
    // Buckets are re-read now and then, so long ranges stay downsampled.
    const every = state.rangeSeconds > 3600 ? 60000 : 15000;
    if (Date.now() - state.lastSeriesLoad > every) loadSeries().catch(() => {});
  }

  const PLOT_MARGIN = { left: 52, right: 8, top: 6, bottom: 20 };
  function renderPlots() {
    const [from, to] = plotWindow();
    const marker = state.mode === "history" && state.current ? ms(state.current.rec.timestamp) : null;
    for (const plot of state.plots) drawPlot(plot, from, to, marker);
  }

  function niceTicks(lo, hi, count) {
    const span = hi - lo;
    if (!(span > 0)) return [lo];
    const raw = span / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw) || raw;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(v);
    return ticks;
  }

  function drawPlot(plot, from, to, marker) {
    const canvas = plot.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 380, height = canvas.clientHeight || 150;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const points = plot.points.filter((p) => p.t >= from && p.t <= to && Number.isFinite(p.mean));
    plot.box.dataset.points = String(points.length);
    plot.from = from;
    plot.to = to;
    const m = PLOT_MARGIN;
    const w = width - m.left - m.right, h = height - m.top - m.bottom;
    ctx.strokeStyle = "#d9dde3";
    ctx.strokeRect(m.left, m.top, w, h);
    const value = plot.box.querySelector(".value");
    if (!points.length) {
      ctx.fillStyle = "#6b7280";
      ctx.font = "12px sans-serif";
      ctx.fillText("no data in this range", m.left + 8, m.top + 18);
      value.textContent = "";
      return;
    }
    let lo = Infinity, hi = -Infinity;
    for (const p of points) { lo = Math.min(lo, p.min); hi = Math.max(hi, p.max); }
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.06;
    lo -= pad; hi += pad;
    const x = (t) => m.left + ((t - from) / (to - from || 1)) * w;
    const y = (v) => m.top + (1 - (v - lo) / (hi - lo)) * h;
    // Grid and labels.
    ctx.font = "10px sans-serif";
    ctx.fillStyle = "#6b7280";
    ctx.strokeStyle = "#eef0f3";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of niceTicks(lo, hi, 4)) {
      ctx.beginPath(); ctx.moveTo(m.left, y(v)); ctx.lineTo(m.left + w, y(v)); ctx.stroke();
      ctx.fillText(Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3), m.left - 4, y(v));
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const long = to - from > 2 * 86400000;
    for (let i = 0; i <= 4; i++) {
      const t = from + ((to - from) * i) / 4;
      const d = new Date(t);
      const label = long ? `${d.getMonth() + 1}/${d.getDate()} ${String(d.getHours()).padStart(2, "0")}h`
                         : d.toLocaleTimeString([], { hour12: false, hour: "2-digit", minute: "2-digit", second: to - from <= 3600000 ? "2-digit" : undefined });
      ctx.fillText(label, Math.min(Math.max(x(t), m.left + 20), m.left + w - 20), m.top + h + 4);
    }
    // Min–max band, then the mean.
    ctx.fillStyle = "rgba(36, 87, 197, 0.16)";
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.max)) : ctx.moveTo(x(p.t), y(p.max))));
    for (let i = points.length - 1; i >= 0; i--) ctx.lineTo(x(points[i].t), y(points[i].min));
    ctx.closePath();
    ctx.fill();
    ctx.strokeStyle = "#2457c5";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.mean)) : ctx.moveTo(x(p.t), y(p.mean))));
    ctx.stroke();
    if (points.length === 1) { ctx.fillStyle = "#2457c5"; ctx.fillRect(x(points[0].t) - 2, y(points[0].mean) - 2, 4, 4); }
    ctx.lineWidth = 1;
    if (marker !== null && marker >= from && marker <= to) {
      ctx.strokeStyle = "#d32f2f";
      ctx.beginPath(); ctx.moveTo(x(marker), m.top); ctx.lineTo(x(marker), m.top + h); ctx.stroke();
    }
    value.textContent = fmt(points[points.length - 1].mean);
  }

  function plotTimeAt(plot, event) {
    const rect = plot.canvas.getBoundingClientRect();
    const w = rect.width - PLOT_MARGIN.left - PLOT_MARGIN.right;
    const f = (event.clientX - rect.left - PLOT_MARGIN.left) / w;
    if (f < 0 || f > 1 || !(plot.to > plot.from)) return null;
    return plot.from + f * (plot.to - plot.from);
  }

  // ---- alerts -----------------------------------------------------------------------------
  // Reads the alerts. On failure the last known alerts stay, the panel says why, the machines
  // without a known alert turn "unknown", and a retry is scheduled (never throws).
  let alertsRequest = 0;
  async function loadAlerts() {
    const all = $("alerts-show-resolved").checked;
    const request = ++alertsRequest;
    let body;
    try {
      body = await getJSON(all ? "/api/v1/alerts?limit=500" : "/api/v1/alerts?active=true&limit=500");
    } catch (e) {
      if (request === alertsRequest) alertsFailed(e.message);
      return false;
    }
    if (request !== alertsRequest) return true;   // a newer read is under way
    cancelRetry("alerts");
    state.alerts.clear();
    for (const a of body.alerts) state.alerts.set(a.id, a);
    state.alertsStatus = { state: "ok", error: "", loadedOnce: true, retryIn: 0 };
    schedule("alerts");
    schedule("machines");
    return true;
  }

  function alertsFailed(reason) {
    state.alertsStatus = { state: "error", error: reason, loadedOnce: state.alertsStatus.loadedOnce,
                           retryIn: scheduleRetry("alerts", loadAlerts) };
    schedule("alerts");
    schedule("machines");
  }

  function onAlert(a) {
    state.alerts.set(a.id, a);
    schedule("alerts");
    schedule("machines");
  }

  function renderAlerts() {
    const list = $("alerts");
    const showResolved = $("alerts-show-resolved").checked;
    const onlySelected = $("alerts-selected-only").checked;
    const shown = [...state.alerts.values()]
      .filter((a) => (showResolved || a.active) && (!onlySelected || a.machine_id === state.selected))
      .sort((a, b) => (b.active - a.active) || ((SEVERITY_RANK[b.severity] || 0) - (SEVERITY_RANK[a.severity] || 0)) ||
                      (ms(b.raised_at) - ms(a.raised_at)))
      .slice(0, 200);
    list.textContent = "";
    for (const a of shown) {
      const li = document.createElement("li");
      li.dataset.id = a.id;
      li.dataset.severity = a.severity;
      li.dataset.state = a.state;
      li.innerHTML = '<div class="line1"><span class="sev"></span><span class="rule"></span><span class="machine"></span>' +
                     '<span class="when"></span></div><div class="msg"></div><div class="actions"><span class="status muted"></span></div>';
      li.querySelector(".sev").textContent = a.severity;
      li.querySelector(".rule").textContent = a.rule;
      const machine = li.querySelector(".machine");
      machine.textContent = a.machine_id;
      machine.addEventListener("click", () => selectMachine(a.machine_id));
      li.querySelector(".when").textContent = localTime(ms(a.raised_at), true) + (a.updates ? ` · ${a.updates} updates` : "");
      li.querySelector(".msg").textContent = a.message;
      const status = li.querySelector(".status");
      status.textContent = a.state === "acknowledged" ? `acknowledged${a.acknowledged_by ? " by " + a.acknowledged_by : ""}`
                         : a.state === "resolved" ? `resolved${a.resolved_by ? " by " + a.resolved_by : ""}` : "open";
      const actions = li.querySelector(".actions");
      if (a.state === "active") actions.appendChild(alertButton("Acknowledge", "ack", a));
      if (a.state !== "resolved") actions.appendChild(alertButton("Resolve", "resolve", a));
      list.appendChild(li);
    }
    const anyActive = [...state.alerts.values()].some((a) => a.active && (!onlySelected || a.machine_id === state.selected));
    const status = state.alertsStatus;
    const line = $("alerts-status");
    line.dataset.state = status.state;
    line.textContent = status.state === "loading" ? "loading alerts…"
      : status.state === "error" ? (status.loadedOnce
        ? `alerts could not be refreshed: ${status.error}; retrying in ${status.retryIn} s (showing the last known alerts)`
        : `alerts could not be loaded: ${status.error}; retrying in ${status.retryIn} s`)
      : "";
    line.hidden = status.state === "ok";
    // "All normal" only from a successful read: never while loading or after a failure.
    $("alerts-empty").hidden = anyActive || status.state !== "ok";
  }

  function alertButton(label, action, alert) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = action;
    button.textContent = label;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const response = await api(`/api/v1/alerts/${encodeURIComponent(alert.id)}/${action}`, {
          method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ by: "dashboard" }),
        });
        onAlert(await response.json());
        $("alerts-message").textContent = "";
      } catch (e) {
        $("alerts-message").textContent = `${label} failed: ${e.message}`;
        button.disabled = false;
      }
    });
    return button;
  }

  // ---- live streams -----------------------------------------------------------------------
  function setConnection(text) {
    const el = $("connection");
    el.dataset.state = text;
    el.textContent = text;
  }

  function openStreams() {
    closeStreams();
    const stream = new EventSource("/api/v1/stream");
    stream.addEventListener("record", (e) => onRecord(JSON.parse(e.data)));
    stream.addEventListener("alert", (e) => onAlert(JSON.parse(e.data)));
    let broken = false;
    stream.onopen = () => {
      setConnection("live");
      if (!broken) return;
      // Back after an outage: what changed meanwhile is read once, then the stream carries on.
      broken = false;
      loadMachines().catch(() => {});
      loadAlerts().catch(() => {});
      loadSeries().catch(() => {});
    };
    stream.onerror = () => {
      broken = true;
      setConnection("reconnecting");
      // Without the stream the alerts are not current: say so (keeping the last known ones) and
      // read them again until that works; the stream's own reconnection carries on meanwhile.
      if (state.alertsStatus.state !== "error") alertsFailed("the live stream is disconnected");
    };
    state.streams.push(stream);
  }

  function closeStreams() {
    for (const s of state.streams) s.close();
    state.streams = [];
    frameFollow.next = null;
  }

  // The selected machine's frames while following it live: each new record's frame is fetched
  // raw (Float32, 40 kB); while one fetch is under way only the newest record waits, so a fast
  // machine costs at most one fetch at a time and the page never falls behind.
  const frameFollow = { busy: false, next: null };
  function followFrame(rec) {
    frameFollow.next = rec;
    if (!frameFollow.busy) pumpFrames();
  }
  async function pumpFrames() {
    frameFollow.busy = true;
    while (frameFollow.next) {
      const rec = frameFollow.next;
      frameFollow.next = null;
      try {
        const frame = await fetchFrame(rec);
        if (state.mode === "live" && !state.paused && rec.machine_id === state.selected) setCurrent(rec, frame);
      } catch (_) { /* the next record brings another frame */ }
    }
    frameFollow.busy = false;
  }

  function onRecord(rec) {
    const known = state.machines.has(rec.machine_id);
    const m = noteRecord(rec);
    schedule("machines");
    if (!known && !state.selected) selectMachine(m.id);
    if (rec.machine_id !== state.selected) return;
    appendLive(rec);
    if (state.mode !== "live" || state.paused) return;
    if (rec.has_frame) followFrame(rec);
    else setCurrent(rec, null);   // FDM records are shown straight from the stream
  }

  // ---- controls ---------------------------------------------------------------------------
  function setPaused(paused) {
    state.paused = paused;
    const button = $("pause-button");
    button.textContent = paused ? "Resume" : "Pause";
    button.setAttribute("aria-pressed", String(paused));
    if (paused) {
      closeStreams();
      cancelRetry("alerts");
      cancelRetry("machines");
      setConnection("paused");
    } else {
      setConnection("connecting");
      start().catch((e) => navMessage(e.message));
    }
    schedule("record");
  }

  function wire() {
    $("pause-button").addEventListener("click", () => setPaused(!state.paused));
    $("prev-record").addEventListener("click", () => step(-1).catch((e) => navMessage(e.message)));
    $("next-record").addEventListener("click", () => step(1).catch((e) => navMessage(e.message)));
    $("live-button").addEventListener("click", goLive);
    $("jump-go").addEventListener("click", () => {
      const value = $("jump-time").value;
      jumpTo(value ? new Date(value).getTime() : NaN).catch((e) => navMessage(e.message));
    });
    $("heatmap").addEventListener("mousemove", onHeatmapHover);
    $("heatmap").addEventListener("mouseleave", () => { $("hover").style.display = "none"; });
    $("auto-scale").addEventListener("change", () => schedule("record"));
    for (const button of document.querySelectorAll(".kind-filter")) {
      button.addEventListener("click", () => {
        state.kindFilter = button.dataset.kind;
        document.querySelectorAll(".kind-filter").forEach((b) => b.classList.toggle("active", b === button));
        schedule("machines");
      });
    }
    $("machine-search").addEventListener("input", (e) => { state.search = e.target.value.trim().toLowerCase(); schedule("machines"); });
    for (const button of document.querySelectorAll(".range")) {
      button.addEventListener("click", () => {
        state.rangeSeconds = Number(button.dataset.seconds);
        document.querySelectorAll(".range").forEach((b) => b.classList.toggle("active", b === button));
        loadSeries().catch((e) => navMessage(e.message));
      });
    }
    $("alerts-show-resolved").addEventListener("change", () => loadAlerts());
    $("alerts-selected-only").addEventListener("change", () => schedule("alerts"));
    const token = $("token");
    token.value = state.token;
    token.addEventListener("change", () => {
      state.token = token.value.trim();
      localStorage.setItem("sinter.token", state.token);
      // A new token: what failed is read again now rather than at the next retry.
      if (state.alertsStatus.state === "error") { cancelRetry("alerts"); loadAlerts(); }
      if (state.machinesStatus.state === "error") { cancelRetry("machines"); retryMachines(); }
    });
    window.addEventListener("resize", () => schedule("plots"));
    // A page put in the back/forward cache lets its stream go, and takes it up again on return.
    window.addEventListener("pagehide", () => closeStreams());
    window.addEventListener("pageshow", (event) => { if (event.persisted && !state.paused) start().catch((e) => navMessage(e.message)); });
    // A link or bookmark to #machine=ID selects that machine.
    window.addEventListener("hashchange", () => {
      const wanted = decodeURIComponent((location.hash.match(/machine=([^&]+)/) || [])[1] || "");
      if (wanted && wanted !== state.selected) selectMachine(wanted);
    });
    // Last-seen times age by themselves.
    setInterval(() => { for (const m of state.machines.values()) updateSeen(m); }, 1000);
  }

  async function start() {
    openStreams();   // first, so nothing that happens while loading is missed
    await Promise.all([loadMachines(), loadAlerts()]);
    selectInitial();
  }

  // The machine named in the URL, else the one selected before, else the first.
  function selectInitial() {
    const wanted = decodeURIComponent((location.hash.match(/machine=([^&]+)/) || [])[1] || "");
    const id = state.machines.has(wanted) ? wanted : state.selected && state.machines.has(state.selected) ? state.selected : [...state.machines.keys()].sort()[0];
    if (id) selectMachine(id);
    else schedule("record");
  }

  wire();
  start().catch((e) => navMessage(e.message));
})();
