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
  c.font = "12px sans-serif";
  c.setLineDash(dashed ? [6, 3] : []);
  for (const box of boxes) {
    const colour = classColour(box.class_name);
    const [x, y, w, h] = [box.x1 * scale, box.y1 * scale, (box.x2 - box.x1) * scale, (box.y2 - box.y1) * scale];
    c.strokeStyle = colour; c.lineWidth = 2; c.strokeRect(x, y, w, h);
    if (disputed.has(boxes.indexOf(box))) {
      c.strokeStyle = "#ff3b30"; c.lineWidth = 3; c.strokeRect(x - 4, y - 4, w + 8, h + 8);
    }
    const width = c.measureText(box.class_name).width + 6;
    const top = y >= 15 ? y - 15 : y;
    c.fillStyle = colour; c.fillRect(x, top, width, 15);
    c.fillStyle = "#000"; c.fillText(box.class_name, x + 3, top + 12);
  }
  c.setLineDash([]);
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
