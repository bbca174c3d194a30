// The dashboard: numbers from /api/dashboard as small inline-SVG charts and tables (no CDN).
"use strict";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function barChart(values, { width = 300, height = 60, colour = "#4a90d9" } = {}) {
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img" });
  const max = Math.max(1, ...values);
  const w = width / values.length;
  values.forEach((v, i) => {
    const h = (v / max) * (height - 2);
    const bar = svg("rect", { x: i * w, y: height - h, width: Math.max(1, w - 1), height: h, fill: colour });
    bar.append(svg("title")); bar.firstChild.textContent = String(v);
    chart.append(bar);
  });
  chart.append(svg("line", { x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, stroke: "#888" }));
  return chart;
}

function labelledBars(entries, { width = 300, row = 18 } = {}) {
  const chart = svg("svg", { width, height: entries.length * row + 2, role: "img" });
  const max = Math.max(1, ...entries.map(([, v]) => v));
  entries.forEach(([label, value], i) => {
    const y = i * row;
    const text = svg("text", { x: 0, y: y + 13, "font-size": 12, fill: "#ddd" }); text.textContent = label;
    const bar = svg("rect", { x: 90, y: y + 3, width: Math.max(1, (value / max) * (width - 140)), height: row - 6,
                              fill: classColour(label) });
    const count = svg("text", { x: 95 + (value / max) * (width - 140), y: y + 13, "font-size": 12, fill: "#ddd" });
    count.textContent = String(value);
    chart.append(text, bar, count);
  });
  return chart;
}

function rateBar(rate) {
  const chart = svg("svg", { width: 100, height: 12, role: "img" });
  chart.append(svg("rect", { x: 0, y: 0, width: 100, height: 12, fill: "#333" }));
  chart.append(svg("rect", { x: 0, y: 0, width: 100 * rate, height: 12, fill: rate >= 0.8 ? "#3c3" : rate >= 0.5 ? "#cc3" : "#c33" }));
  return chart;
}

function percent(rate) {
  return rate == null ? null : `${(100 * rate).toFixed(0)} %`;
}

function signedPoints(delta) {
  return delta == null ? "" : `${delta >= 0 ? "+" : "−"}${Math.abs(100 * delta).toFixed(0)} pts`;
}

// One row of "Models in the field": the precision bar, and the change against the device's previous model.
function fieldRow(row) {
  const precision = document.createElement("span");
  if (row.precision != null) precision.append(rateBar(row.precision));
  precision.append(el("span", row.precision == null ? "–" : ` ${percent(row.precision)}`));
  const change = row.change == null ? null
    : `from ${row.change.previous_model_id}: precision ${signedPoints(row.change.precision) || "n/a"}, `
      + `corrections ${signedPoints(row.change.correction_rate) || "n/a"}`;
  return tableRow([row.device, row.model_ids.join(", "), new Date(row.first_capture_ts * 1000).toLocaleString(),
                   new Date(row.last_capture_ts * 1000).toLocaleString(), row.frames, row.verified_frames,
                   row.prelabel_boxes,
                   `${row.kept_unchanged} / ${row.changed_boxes} / ${row.deleted_boxes} / ${row.added_boxes}`,
                   precision, percent(row.correction_rate), change]);
}

function ago(seconds) {
  if (seconds == null) return "never";
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

async function refresh() {
  const d = await api("GET", "/api/dashboard");
  document.getElementById("ingest-rate").textContent = `${d.ingest.last_hour} frames in the last hour (${d.ingest.per_minute.toFixed(1)}/min)`;
  document.getElementById("ingest-chart").replaceChildren(barChart(d.ingest.per_bin));
  const removed = d.duplicates.exact + d.duplicates.near;
  document.getElementById("duplicates").textContent = `${removed} (${d.duplicates.exact} exact, ${d.duplicates.near} near)`;
  document.getElementById("queue-chart").replaceChildren(labelledBars(Object.entries(d.queue)));
  document.getElementById("review-rate").textContent = `${d.reviews.last_hour} decisions in the last hour`;
  document.getElementById("review-chart").replaceChildren(barChart(d.reviews.per_bin, { colour: "#3c9" }));
  document.getElementById("reviewers").replaceChildren(
    ...Object.entries(d.reviews.by_reviewer).map(([name, n]) => el("li", `${name}: ${n}`)));
  document.querySelector("#acceptance tbody").replaceChildren(...d.acceptance.map((a) => {
    const rate = document.createElement("span");
    rate.append(rateBar(a.rate), el("span", ` ${(100 * a.rate).toFixed(0)} %`));
    return tableRow([a.device, a.model_id, a.class_name, a.boxes, a.unchanged, rate]);
  }));
  document.querySelector("#field tbody").replaceChildren(...d.field.map(fieldRow));
  document.querySelector("#devices tbody").replaceChildren(...d.devices.map((dev) => {
    const hb = dev.heartbeat;
    return tableRow([dev.device, dev.frames, dev.last_frame_at ? ago(d.now - dev.last_frame_at) : null,
                hb ? ago(hb.age_s) : "none", hb ? hb.model_id : null, hb && hb.fps != null ? Number(hb.fps).toFixed(1) : null,
                hb ? hb.spooled : null, hb ? hb.evicted : null]);
  }));
  document.getElementById("updated").textContent = `updated ${new Date(d.now * 1000).toLocaleTimeString()}`;
  document.body.dataset.dashboardLoaded = "yes";
}

refresh().catch((e) => { document.getElementById("updated").textContent = `error: ${e.message}`; });
setInterval(() => refresh().catch(() => {}), 10000);
