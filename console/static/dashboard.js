// The monitoring dashboard: reads /api/dashboard?days=N and draws the figures with uPlot (vendored in
// static/vendor/uplot). Text from the log (words, alert messages) goes in with textContent only.
"use strict";

(function () {
  const { api } = window.ShopcueConsole;
  const $ = (id) => document.getElementById(id);
  const charts = [];
  const WIDTH = 500;
  const HEIGHT = 220;
  const BLUE = "#2557d6";
  const ORANGE = "#d97706";
  const RED = "#b3261e";

  function percent(value) {
    return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)}%`;
  }

  function number(value, digits) {
    return value === null || value === undefined ? "–" : Number(value).toFixed(digits);
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // A chart in its container; `points` (how many values it draws) is kept on the container for tests.
  function draw(id, opts, data) {
    const target = $(id);
    clear(target);
    const points = data.slice(1).reduce((n, s) => n + s.filter((v) => v !== null && v !== undefined).length, 0);
    target.dataset.points = String(points);
    charts.push(new uPlot({ width: WIDTH, height: HEIGHT, ...opts }, data, target));
  }

  function tile(container, label, value, breach) {
    const box = document.createElement("div");
    box.className = breach ? "tile breach" : "tile";
    const v = document.createElement("div");
    v.className = "value";
    v.textContent = value;
    const l = document.createElement("div");
    l.className = "label";
    l.textContent = label;
    box.append(v, l);
    container.append(box);
  }

  function showAlerts(alerts) {
    const box = $("alerts");
    clear(box);
    box.hidden = alerts.length === 0;
    if (!alerts.length) return;
    const title = document.createElement("strong");
    title.textContent = `${alerts.length} alert${alerts.length > 1 ? "s" : ""}`;
    const list = document.createElement("ul");
    for (const alert of alerts) {
      const item = document.createElement("li");
      item.textContent = alert.message;
      item.dataset.metric = alert.metric;
      list.append(item);
    }
    box.append(title, list);
  }

  function showTiles(data) {
    const s = data.summary;
    const breached = new Set(data.alerts.map((a) => a.metric));
    const container = $("tiles");
    clear(container);
    const live = data.confidence.live_summary;
    const held = data.confidence.heldout_summary;
    tile(container, "messages", String(s.messages), false);
    tile(container, "fallback rate", percent(s.fallback_rate), breached.has("fallback_rate"));
    tile(container, "handoffs", String(s.handoffs), false);
    tile(container, "zero-result searches", `${s.zero_result_searches} (${percent(s.zero_result_rate)})`,
      breached.has("zero_result_rate"));
    tile(container, "turn latency p50 / p95 (s)", `${number(s.latency_s.p50, 2)} / ${number(s.latency_s.p95, 2)}`,
      breached.has("p95_latency_s"));
    tile(container, "intent-mix PSI (latest day)", number(s.psi_latest, 3), breached.has("psi"));
    tile(container, "mean confidence live / held-out",
      `${number(live.mean, 3)} / ${held ? number(held.mean, 3) : "–"}`, false);
  }

  function showCharts(data) {
    while (charts.length) charts.pop().destroy();
    const series = data.series;
    const bars = uPlot.paths.bars({ size: [0.7, 40] });
    // Time axes span the whole window plus half a bucket each side, so edge bars are not cut in half.
    const half = (data.bucket_hours * 3600) / 2;
    const first = series.t[0];
    const last = series.t[series.t.length - 1];
    const timeScale = { x: { time: true, range: () => [first - half, last + half] } };
    draw("chart-volume", {
      scales: timeScale,
      series: [{}, { label: "messages", stroke: BLUE, fill: "rgba(37,87,214,0.3)", paths: bars }],
    }, [series.t, series.messages]);
    draw("chart-fallback", {
      series: [{}, { label: "fallback rate", stroke: RED, fill: "rgba(179,38,30,0.3)", paths: bars,
        value: (u, v) => percent(v) },
      { label: "threshold", stroke: "#999", dash: [4, 4], points: { show: false } }],
      // From 0 to a little over the larger of the highest rate and the threshold: a 1% rate stays visible.
      scales: { ...timeScale, y: { range: (u, min, max) => [0, Math.max(max, data.thresholds.fallback_rate) * 1.25] } },
    }, [series.t, series.fallback_rate, series.t.map(() => data.thresholds.fallback_rate)]);

    const conf = data.confidence;
    const centres = conf.edges.slice(0, -1).map((e, i) => (e + conf.edges[i + 1]) / 2);
    const confSeries = [{ label: "confidence" },
      { label: "live", stroke: BLUE, fill: "rgba(37,87,214,0.25)", paths: bars }];
    const confData = [centres, conf.live];
    if (conf.heldout) {
      confSeries.push({ label: "held-out", stroke: ORANGE, width: 2, points: { show: true } });
      confData.push(conf.heldout);
    }
    draw("chart-confidence", { scales: { x: { time: false, range: [0, 1] } }, series: confSeries }, confData);
    const live = conf.live_summary;
    const held = conf.heldout_summary;
    $("confidence-note").textContent = `live: ${live.count} messages, median ${number(live.median, 3)}, ` +
      `${percent(live.below_threshold)} under the fallback threshold` + (held
      ? `; held-out: ${held.count} messages, median ${number(held.median, 3)}, ` +
        `${percent(held.below_threshold)} under it` : "; no held-out baseline for the live model yet");

    const days = data.psi.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
    const dayScale = {
      x: { time: true, range: () => [first - 43200, last + 43200] },
      y: { range: (u, min, max) => [0, Math.max(max, data.thresholds.psi) * 1.25] },
    };
    draw("chart-psi", {
      scales: dayScale,
      series: [{}, { label: "PSI", stroke: ORANGE, fill: "rgba(217,119,6,0.3)", paths: bars },
        { label: "threshold", stroke: "#999", dash: [4, 4], points: { show: false } }],
    }, [days, data.psi.map((d) => d.psi), days.map(() => data.thresholds.psi)]);

    draw("chart-latency", {
      scales: timeScale,
      series: [{}, { label: "p50", stroke: BLUE, width: 2, spanGaps: true, points: { show: true, size: 9 } },
        { label: "p95", stroke: RED, width: 2, spanGaps: true, points: { show: true, size: 9 } }],
    }, [series.t, series.p50_s, series.p95_s]);

    const body = $("gap-words").tBodies[0];
    clear(body);
    const top = data.zero_result_words.length ? data.zero_result_words[0][1] : 1;
    for (const [word, count] of data.zero_result_words) {
      const row = body.insertRow();
      row.insertCell().textContent = word;
      row.insertCell().textContent = String(count);
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${Math.round((count / top) * 200)}px`;
      row.insertCell().append(bar);
    }
    if (!data.zero_result_words.length) {
      body.insertRow().insertCell().textContent = "no zero-result searches in this window";
    }
  }

  async function load() {
    const days = $("days").value;
    $("status").textContent = "loading…";
    try {
      const data = await api("GET", `/api/dashboard?days=${encodeURIComponent(days)}`);
      showAlerts(data.alerts);
      showTiles(data);
      showCharts(data);
      $("status").textContent = `${data.summary.messages} messages since ${data.since.slice(0, 16)} UTC`;
      document.body.dataset.dashboard = "ready";
    } catch (error) {
      $("status").textContent = `could not load the figures: ${error.message}`;
    }
  }

  $("days").addEventListener("change", load);
  load();
})();
