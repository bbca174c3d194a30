// Shared by every page: the JSON API with the session's CSRF token, DOM helpers that only ever
// set textContent (data from devices and users never becomes HTML), logout, class colours.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]').content;

class ApiError extends Error {
  constructor(status, code, detail) { super(detail); this.status = status; this.code = code; }
}

async function api(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": CSRF }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  if (response.status === 401) { window.location.assign("/login"); throw new ApiError(401, "not_authenticated", "log in"); }
  const data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data.error, data.detail);
  return data;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

// Where a frame comes from, as a person says it: camera, local capture time, index in its source.
function frameWhere(frame) {
  const when = new Date(frame.capture_ts * 1000).toLocaleString();
  const index = frame.frame_index != null && frame.frame_index >= 0 ? ` · frame ${frame.frame_index} of its source` : "";
  return `${frame.device} · ${when}${index}`;
}

// What the edge redacted before sending: "faces blurred: 3 · heads blurred: 5" (nothing when it did not).
function describeRedactions(redactions) {
  return Object.entries(redactions || {}).map(([kind, n]) => `${kind} blurred: ${n}`).join(" · ");
}

function classColour(name) {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360}, 85%, 55%)`;
}

function loadImage(src) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${src}`));
    image.src = src;
  });
}

function typingInField(event) {
  const tag = event.target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
}

document.getElementById("logout").addEventListener("click", async () => {
  try { await api("POST", "/logout"); } finally { window.location.assign("/login"); }
});

// A frame's image on a canvas (scaled to the canvas width) with labelled boxes {x1, y1, x2, y2, class_name}.
// `disputed`: indices of boxes to ring in red (where two reviews disagree).
function drawBoxes(canvas, image, boxes, { dashed = false, disputed = new Set() } = {}) {
  const scale = canvas.width / image.naturalWidth;
  canvas.height = Math.round(image.naturalHeight * scale);
  const c = canvas.getContext("2d");
  c.drawImage(image, 0, 0, canvas.width, canvas.height);
  c.setLineDash(dashed ? [6, 3] : []);
  const scaled = boxes.map((box) => ({ x1: box.x1 * scale, y1: box.y1 * scale, x2: box.x2 * scale, y2: box.y2 * scale }));
  boxes.forEach((box, i) => {
    const { x1, y1, x2, y2 } = scaled[i];
    c.strokeStyle = classColour(box.class_name); c.lineWidth = 2; c.strokeRect(x1, y1, x2 - x1, y2 - y1);
    if (disputed.has(i)) {
      c.strokeStyle = "#ff3b30"; c.lineWidth = 3; c.strokeRect(x1 - 4, y1 - 4, x2 - x1 + 8, y2 - y1 + 8);
    }
  });
  c.setLineDash([]);
  drawLabels(c, scaled, boxes.map((box) => box.class_name), boxes.map((box) => classColour(box.class_name)),
             canvas.width, canvas.height);
}

// --- box labels: inside the image and apart from each other ---------------------------------------

const LABEL_FONT = "12px sans-serif";
const LABEL_HEIGHT = 15;
const LABEL_SEARCH_RINGS = 12;

// Draws each box's label (texts[i] on colours[i]) where placeLabels puts it, after every box, so no
// box's outline crosses a label; the rectangles are left on the canvas as data-label-rects (JSON,
// canvas pixels) for whoever checks the drawing.
function drawLabels(c, boxes, texts, colours, width, height) {
  c.font = LABEL_FONT;
  const sizes = texts.map((text) => ({ w: Math.ceil(c.measureText(text).width) + 6, h: LABEL_HEIGHT }));
  const rects = placeLabels(boxes, sizes, width, height);
  rects.forEach((r, i) => {
    c.fillStyle = colours[i]; c.fillRect(r.x, r.y, r.w, r.h);
    c.fillStyle = "#000"; c.fillText(texts[i], r.x + 3, r.y + 12);
  });
  c.canvas.dataset.labelRects = JSON.stringify(rects);
}

// Where each label goes ({x, y, w, h}), greedily in the order given: just above its box, just below
// it, inside its top edge, inside its bottom edge; each slid back inside the image at the edges. The
// first of these that overlaps no label placed so far wins; when all do, the free spot nearest the
// first on a grid of label-height steps around it; when none is free (no room left), the first.
function placeLabels(boxes, sizes, width, height) {
  const placed = [];
  boxes.forEach((box, i) => {
    const { w, h } = sizes[i];
    const inside = (x, y) => ({ x: Math.max(0, Math.min(x, width - w)), y: Math.max(0, Math.min(y, height - h)), w, h });
    const tries = [inside(box.x1, box.y1 - h), inside(box.x1, box.y2), inside(box.x1, box.y1), inside(box.x1, box.y2 - h)];
    const free = (r) => !placed.some((p) => overlaps(p, r));
    let spot = tries.find(free);
    for (let ring = 1; !spot && ring <= LABEL_SEARCH_RINGS; ring++) {
      spot = ringAround(tries[0], ring, h).map(([x, y]) => inside(x, y)).find(free);
    }
    placed.push(spot || tries[0]);
  });
  return placed;
}

// The grid points `ring` steps away from r (a square ring), nearest vertical moves first.
function ringAround(r, ring, step) {
  const points = [];
  for (let dy = -ring; dy <= ring; dy++) {
    for (let dx = -ring; dx <= ring; dx++) {
      if (Math.max(Math.abs(dx), Math.abs(dy)) === ring) points.push([r.x + dx * step, r.y + dy * step]);
    }
  }
  return points.sort((a, b) => Math.abs(a[0] - r.x) - Math.abs(b[0] - r.x) || Math.abs(a[1] - r.y) - Math.abs(b[1] - r.y));
}

function overlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

// A table row: a node goes in as it is, anything else as text ("–" for a missing value).
function tableRow(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    if (cell instanceof Node) td.append(cell); else td.textContent = cell == null ? "–" : String(cell);
    tr.append(td);
  }
  return tr;
}

// A link made of text only (hrefs built here from ids, never from device or user data as HTML).
function link(text, href) {
  const a = el("a", text);
  a.href = href;
  return a;
}

// The list of frames behind a number: /consistency/frames?ids=...&title=...
function framesLink(text, ids, title) {
  if (!ids || !ids.length) return el("span", text);
  return link(text, `/consistency/frames?${new URLSearchParams({ ids: ids.join(","), title })}`);
}
