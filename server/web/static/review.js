// The review screen: one claimed frame on a canvas, its boxes editable by keyboard and mouse.
"use strict";

const canvas = document.getElementById("frame");
const ctx = canvas.getContext("2d");
const HANDLE = 6;
const RENEW_MS = 4 * 60 * 1000;

const state = {
  frame: null, image: null, boxes: [], selected: -1, threshold: 0, edited: false,
  skipped: [], drag: null, classNames: [], busy: false, lastClass: null,
  taxonomy: null, guidelineShown: undefined,
};

// --- boxes ------------------------------------------------------------------------------------

function boxesFromFrame(frame) {
  return frame.detections.map((d) => {
    const verdict = d.track_id === null ? undefined : frame.verdicts[String(d.track_id)];
    return {
      detection_id: d.id, x1: d.x1, y1: d.y1, x2: d.x2, y2: d.y2, score: d.score, track_id: d.track_id,
      class_name: verdict && verdict.class_name ? verdict.class_name : d.class_name, verified: Boolean(verdict),
      unmapped: d.mapping === null,  // a model class the taxonomy does not map: shown under the model's name
    };
  });
}

function visible(box) { return box.detection_id === null || box.score >= state.threshold; }

function visibleIndexes() { return state.boxes.map((b, i) => i).filter((i) => visible(state.boxes[i])); }

function markEdited() { state.edited = true; render(); }

function clampBox(box) {
  const w = state.frame.width, h = state.frame.height;
  let { x1, y1, x2, y2 } = box;
  [x1, x2] = [Math.min(x1, x2), Math.max(x1, x2)];
  [y1, y2] = [Math.min(y1, y2), Math.max(y1, y2)];
  box.x1 = Math.max(0, Math.min(x1, w - 1)); box.y1 = Math.max(0, Math.min(y1, h - 1));
  box.x2 = Math.min(w, Math.max(x2, box.x1 + 1)); box.y2 = Math.min(h, Math.max(y2, box.y1 + 1));
}

function selectedBox() { return state.selected >= 0 ? state.boxes[state.selected] : null; }

function setClass(name) {
  const box = selectedBox();
  if (!box || !name) return;
  box.class_name = name;
  box.unmapped = false;
  state.lastClass = name;
  markEdited();
}

// --- drawing ----------------------------------------------------------------------------------

function render() {
  if (!state.frame) return;
  ctx.drawImage(state.image, 0, 0);
  const shown = visibleIndexes();
  for (const i of shown) {
    const box = state.boxes[i];
    ctx.lineWidth = i === state.selected ? 3 : 2;
    ctx.strokeStyle = classColour(box.class_name);
    ctx.setLineDash(box.verified ? [] : box.detection_id === null ? [6, 3] : []);
    ctx.strokeRect(box.x1, box.y1, box.x2 - box.x1, box.y2 - box.y1);
  }
  ctx.setLineDash([]);
  // The selected box's label is placed first, so it keeps its place beside the box.
  const labelled = shown.includes(state.selected) ? [state.selected, ...shown.filter((i) => i !== state.selected)] : shown;
  drawLabels(ctx, labelled.map((i) => state.boxes[i]), labelled.map((i) => boxLabel(state.boxes[i])),
             labelled.map((i) => classColour(state.boxes[i].class_name)), canvas.width, canvas.height);
  const box = selectedBox();
  if (box && visible(box)) {
    ctx.fillStyle = "#fff";
    for (const [x, y] of corners(box)) ctx.fillRect(x - HANDLE / 2, y - HANDLE / 2, HANDLE, HANDLE);
  }
  renderPanel();
}

function boxLabel(box) {
  const parts = [box.class_name];
  if (box.score !== null && box.score !== undefined) parts.push(box.score.toFixed(2));
  if (box.track_id !== null && box.track_id !== undefined) parts.push(`#${box.track_id}`);
  if (box.verified) parts.push("✓");
  return parts.join(" ");
}

function corners(box) { return [[box.x1, box.y1], [box.x2, box.y1], [box.x1, box.y2], [box.x2, box.y2]]; }

function renderPanel() {
  const list = document.getElementById("boxes");
  list.replaceChildren();
  state.boxes.forEach((box, i) => {
    if (!visible(box)) return;
    const item = el("li", `${box.class_name}${box.score != null ? " " + box.score.toFixed(2) : " (drawn)"}`
      + `${box.track_id != null ? " track " + box.track_id : ""}${box.verified ? " ✓ track verified" : ""}`
      + `${box.unmapped ? " · unmapped model class" : ""}`);
    if (i === state.selected) item.className = "selected";
    item.addEventListener("click", () => { state.selected = i; render(); });
    list.append(item);
  });
  const hidden = state.boxes.filter((b) => !visible(b)).length;
  document.getElementById("hidden-note").textContent =
    hidden ? `${hidden} weak box(es) hidden: they will be dropped on accept or submit` : "";
  document.getElementById("status").textContent = state.edited ? "edited" : "";
  const box = selectedBox();
  const input = document.getElementById("class-input");
  if (document.activeElement !== input) input.value = box ? box.class_name : "";
  renderGuideline(box);
  renderContext();
}

// The guideline (text and example crops) of the selected box's class, when the project has a taxonomy.
function renderGuideline(box) {
  const name = box ? box.class_name : null;
  if (name === state.guidelineShown) return;
  state.guidelineShown = name;
  const section = document.getElementById("guideline");
  const taxonomy = state.taxonomy;
  if (!name || !taxonomy || taxonomy.empty) { section.hidden = true; return; }
  const spec = taxonomy.classes.find((c) => c.name === name);
  section.hidden = false;
  document.getElementById("guideline-class").textContent = name;
  document.getElementById("guideline-text").textContent = !spec ? "not a class of the taxonomy: pick one (c)"
    : spec.guideline || "no guideline written for this class yet";
  document.getElementById("guideline-examples").replaceChildren(...(spec ? spec.examples : []).map((example) => {
    const image = document.createElement("img");
    image.src = `/media/${example.media}`;
    image.alt = `example of ${name} from frame ${example.frame_id}`;
    image.width = example.width; image.height = example.height;
    return image;
  }));
}

// The class a typed name stands for: a class or an alias (ignoring case), else a class it starts.
function resolveClass(typed) {
  const lower = typed.toLowerCase();
  const taxonomy = state.taxonomy;
  if (taxonomy && !taxonomy.empty) {
    for (const spec of taxonomy.classes) {
      if (spec.name.toLowerCase() === lower || spec.aliases.some((a) => a.toLowerCase() === lower)) return spec.name;
    }
  }
  return state.classNames.find((n) => n.toLowerCase() === lower)
    || state.classNames.find((n) => n.toLowerCase().startsWith(lower)) || typed;
}

async function renderContext() {
  const context = document.getElementById("context");
  const cctx = context.getContext("2d");
  const caption = document.getElementById("context-caption");
  const box = selectedBox() || state.boxes.find((b) => b.track_id != null);
  const previous = box && box.track_id != null ? state.frame.context[String(box.track_id)] : undefined;
  cctx.clearRect(0, 0, context.width, context.height);
  if (!previous) { caption.textContent = "no earlier frame of this track"; return; }
  const image = await loadImage(`/media/${previous.media}`);
  const scale = Math.min(context.width / previous.width, context.height / previous.height);
  cctx.drawImage(image, 0, 0, previous.width * scale, previous.height * scale);
  const [x1, y1, x2, y2] = previous.box;
  cctx.strokeStyle = classColour(previous.class_name);
  cctx.lineWidth = 2;
  cctx.strokeRect(x1 * scale, y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale);
  caption.textContent = `track #${box.track_id} in frame ${previous.frame_id}: ${previous.class_name}`;
}

function showFrame(frame, image) {
  state.frame = frame; state.image = image; state.edited = false; state.drag = null;
  state.boxes = boxesFromFrame(frame);
  state.selected = visibleIndexes().length ? visibleIndexes()[0] : -1;
  state.classNames = frame.class_names.length ? frame.class_names : [...new Set(state.boxes.map((b) => b.class_name))];
  canvas.width = frame.width; canvas.height = frame.height;
  document.getElementById("info").textContent =
    [frameWhere(frame), `kept for ${frame.reasons.join(", ")}`, `model ${frame.model_id}`, `id ${frame.id}`,
     describeRedactions(frame.redactions)].filter(Boolean).join(" · ");
  const classes = document.getElementById("classes");
  classes.replaceChildren(...state.classNames.slice(0, 9).map((name) => el("li", name)));
  const aliases = state.taxonomy ? state.taxonomy.classes.flatMap((c) => c.aliases.map((a) => [a, c.name])) : [];
  document.getElementById("class-list").replaceChildren(
    ...state.classNames.map((name) => { const option = document.createElement("option"); option.value = name; return option; }),
    ...aliases.map(([alias, name]) => {
      const option = document.createElement("option"); option.value = alias; option.label = `${alias} → ${name}`; return option;
    }));
  state.guidelineShown = undefined;
  render();
  document.body.dataset.frameId = String(frame.id);
}

// --- the queue ----------------------------------------------------------------------------------

async function claimNext() {
  const { frame } = await api("POST", "/api/queue/claim", { skip: state.skipped });
  if (!frame) {
    state.frame = null;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    document.getElementById("info").textContent = "the queue is empty";
    document.body.dataset.frameId = "none";
    return;
  }
  showFrame(frame, await loadImage(`/media/${frame.media_sha256}`));
}

function submission() {
  const shown = state.boxes.filter(visible);
  const unchanged = !state.edited && shown.length === state.frame.detections.length
    && shown.every((b) => !b.verified || b.class_name === state.frame.detections.find((d) => d.id === b.detection_id).class_name);
  if (unchanged) return { decision: "accept" };
  return {
    decision: "correct",
    annotations: shown.map((b) => ({
      x1: round2(b.x1), y1: round2(b.y1), x2: round2(b.x2), y2: round2(b.y2), class_name: b.class_name,
      track_id: b.track_id, detection_id: b.detection_id,
    })),
  };
}

function round2(value) { return Math.round(value * 100) / 100; }

async function act(action) {
  if (!state.frame || state.busy) return;
  state.busy = true;
  const id = state.frame.id;
  try {
    if (action === "accept" && state.edited) {
      document.getElementById("status").textContent = "you changed boxes: s submits them, u undoes them";
      return;
    }
    if (action === "skip") {
      await api("POST", `/api/frames/${id}/release`);
      state.skipped.push(id);
    } else if (action === "reject") {
      await api("POST", `/api/frames/${id}/submit`, { decision: "reject" });
    } else {
      await api("POST", `/api/frames/${id}/submit`, submission());
    }
    await claimNext();
  } catch (error) {
    document.getElementById("status").textContent = `error: ${error.message}`;
  } finally {
    state.busy = false;
  }
}

// --- keyboard -------------------------------------------------------------------------------------

function cycle(step) {
  const shown = visibleIndexes();
  if (!shown.length) { state.selected = -1; return; }
  const at = shown.indexOf(state.selected);
  state.selected = shown[(at + step + shown.length) % shown.length];
}

function nudge(key, amount, resize) {
  const box = selectedBox();
  if (!box) return;
  const dx = key === "ArrowLeft" ? -amount : key === "ArrowRight" ? amount : 0;
  const dy = key === "ArrowUp" ? -amount : key === "ArrowDown" ? amount : 0;
  if (resize) { box.x2 += dx; box.y2 += dy; } else {
    const w = box.x2 - box.x1, h = box.y2 - box.y1;
    box.x1 = Math.max(0, Math.min(box.x1 + dx, state.frame.width - w));
    box.y1 = Math.max(0, Math.min(box.y1 + dy, state.frame.height - h));
    box.x2 = box.x1 + w; box.y2 = box.y1 + h;
  }
  clampBox(box);
  markEdited();
}

function addBox(x1, y1, x2, y2) {
  const box = { detection_id: null, x1, y1, x2, y2, score: null, track_id: null, verified: false,
                class_name: state.lastClass || state.classNames[0] || "object" };
  clampBox(box);
  state.boxes.push(box);
  state.selected = state.boxes.length - 1;
  markEdited();
}

document.addEventListener("keydown", (event) => {
  if (typingInField(event) || !state.frame) return;
  const key = event.key;
  if (event.ctrlKey || event.metaKey) return;
  if (key.startsWith("Arrow")) { nudge(key, event.shiftKey ? 10 : 1, event.altKey); }
  else if (key === "Tab") { cycle(event.shiftKey ? -1 : 1); render(); }
  else if (key === "a" || key === "Enter") { act("accept"); }
  else if (key === "s") { act("submit"); }
  else if (key === "r") { act("reject"); }
  else if (key === "n") { act("skip"); }
  else if (key === "Delete" || key === "Backspace" || key === "x") {
    if (state.selected >= 0) { state.boxes.splice(state.selected, 1); state.selected = -1; cycle(1); markEdited(); }
  } else if (key === "b") {
    const w = state.frame.width, h = state.frame.height;
    addBox(w * 0.4, h * 0.4, w * 0.6, h * 0.6);
  } else if (/^[1-9]$/.test(key)) { setClass(state.classNames[Number(key) - 1]); }
  else if (key === "c") { document.getElementById("class-input").focus(); document.getElementById("class-input").select(); }
  else if (key === "[" || key === "]") { setThreshold(state.threshold + (key === "]" ? 0.05 : -0.05)); }
  else if (key === "t") { openTrack(); }
  else if (key === "u") { showFrame(state.frame, state.image); }
  else if (key === "Escape") { state.selected = -1; render(); }
  else { return; }
  event.preventDefault();
});

const classInput = document.getElementById("class-input");
classInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    setClass(resolveClass(classInput.value.trim()));
    classInput.blur();
  } else if (event.key === "Escape") { classInput.blur(); render(); }
});

function setThreshold(value) {
  state.threshold = Math.max(0, Math.min(1, Math.round(value * 20) / 20));
  document.getElementById("threshold").value = String(state.threshold);
  document.getElementById("threshold-value").textContent = state.threshold.toFixed(2);
  if (state.selected >= 0 && !visible(state.boxes[state.selected])) cycle(1);
  render();
}

document.getElementById("threshold").addEventListener("input", (e) => { setThreshold(Number(e.target.value)); e.target.blur(); });

function openTrack() {
  const box = selectedBox();
  if (!box || box.track_id == null) { document.getElementById("status").textContent = "select a tracked box first"; return; }
  const query = new URLSearchParams({ device: state.frame.device, track_id: String(box.track_id) });
  window.location.assign(`/track?${query}`);
}

for (const [id, action] of [["accept", "accept"], ["submit", "submit"], ["reject", "reject"], ["skip", "skip"]]) {
  document.getElementById(id).addEventListener("click", (e) => { e.target.blur(); act(action); });
}

// --- mouse ----------------------------------------------------------------------------------------

function pointer(event) {
  const rect = canvas.getBoundingClientRect();
  return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
}

function boxAt(x, y) {
  let best = -1, bestArea = Infinity;
  state.boxes.forEach((b, i) => {
    const area = (b.x2 - b.x1) * (b.y2 - b.y1);
    if (visible(b) && x >= b.x1 && x <= b.x2 && y >= b.y1 && y <= b.y2 && area < bestArea) { best = i; bestArea = area; }
  });
  return best;
}

canvas.addEventListener("mousedown", (event) => {
  if (!state.frame) return;
  const [x, y] = pointer(event);
  const box = selectedBox();
  const reach = HANDLE * canvas.width / canvas.getBoundingClientRect().width + 2;
  const corner = box ? corners(box).findIndex(([cx, cy]) => Math.abs(cx - x) <= reach && Math.abs(cy - y) <= reach) : -1;
  if (corner >= 0) { state.drag = { mode: "resize", corner, x, y }; return; }
  const hit = boxAt(x, y);
  if (hit >= 0) {
    state.selected = hit;
    const b = state.boxes[hit];
    state.drag = { mode: "move", x, y, start: { ...b } };
  } else {
    state.drag = { mode: "draw", x, y };
  }
  render();
});

window.addEventListener("mousemove", (event) => {
  const drag = state.drag;
  if (!drag) return;
  const [x, y] = pointer(event);
  if (drag.mode === "move") {
    const box = selectedBox(), s = drag.start, w = s.x2 - s.x1, h = s.y2 - s.y1;
    box.x1 = Math.max(0, Math.min(s.x1 + x - drag.x, state.frame.width - w));
    box.y1 = Math.max(0, Math.min(s.y1 + y - drag.y, state.frame.height - h));
    box.x2 = box.x1 + w; box.y2 = box.y1 + h;
    drag.changed = true;
    render();
  } else if (drag.mode === "resize") {
    const box = selectedBox();
    if (drag.corner === 0 || drag.corner === 2) box.x1 = x; else box.x2 = x;
    if (drag.corner === 0 || drag.corner === 1) box.y1 = y; else box.y2 = y;
    drag.changed = true;
    render();
  } else {
    render();
    ctx.strokeStyle = "#fff"; ctx.setLineDash([4, 4]);
    ctx.strokeRect(drag.x, drag.y, x - drag.x, y - drag.y);
    ctx.setLineDash([]);
  }
});

window.addEventListener("mouseup", (event) => {
  const drag = state.drag;
  if (!drag) return;
  state.drag = null;
  const [x, y] = pointer(event);
  if (drag.mode === "draw") {
    if (Math.abs(x - drag.x) >= 4 && Math.abs(y - drag.y) >= 4) addBox(drag.x, drag.y, x, y); else { state.selected = -1; render(); }
  } else if (drag.changed) {
    clampBox(selectedBox());
    markEdited();
  }
});

setInterval(() => {
  if (state.frame) api("POST", `/api/frames/${state.frame.id}/renew`).catch(() => {});
}, RENEW_MS);

// Closing or leaving the tab gives the frame back at once rather than when its lease runs out
// (10 minutes); keepalive lets the request outlive the page. A page restored from the
// back/forward cache claims again, as its frame may be someone else's by then.
window.addEventListener("pagehide", () => {
  if (!state.frame) return;
  fetch(`/api/frames/${state.frame.id}/release`,
        { method: "POST", keepalive: true, credentials: "same-origin", headers: { "X-CSRF-Token": CSRF } });
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted) claimNext().catch((error) => { document.getElementById("status").textContent = `error: ${error.message}`; });
});

api("GET", "/api/taxonomy")
  .then((taxonomy) => { state.taxonomy = taxonomy; return claimNext(); })
  .catch((error) => { document.getElementById("info").textContent = `error: ${error.message}`; });
