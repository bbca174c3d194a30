// One frame for an admin: its verified labels (or the model's) on the image, every review, the
// adjudication and gold state, and its history.
"use strict";

const frameId = Number(new URLSearchParams(window.location.search).get("id"));
let frame = null, image = null;

function draw() {
  const model = document.getElementById("show-model").checked;
  drawBoxes(document.getElementById("frame-canvas"), image, model ? frame.detections : frame.annotations, { dashed: model });
}

function describeLabels(labels) {
  const counts = {};
  for (const box of labels) counts[box.class_name] = (counts[box.class_name] || 0) + 1;
  return Object.entries(counts).map(([name, n]) => `${n} ${name}`).join(", ") || "no boxes";
}

// What the edge redacted before sending: "faces blurred: 3 · heads blurred: 5" (nothing when it did not).
function describeRedactions(redactions) {
  return Object.entries(redactions || {}).map(([kind, n]) => `${kind} blurred: ${n}`).join(" · ");
}

async function load() {
  const [{ frame: loaded }, { consistency }] = await Promise.all([
    api("GET", `/api/frames/${frameId}`), api("GET", `/api/consistency/frames/${frameId}`)]);
  frame = loaded;
  image = await loadImage(`/media/${frame.media_sha256}`);
  document.getElementById("frame-title").textContent = `Frame ${frame.id} · ${frame.device} #${frame.seq}`;
  document.getElementById("frame-summary").textContent = `${frame.status}; ${describeLabels(frame.annotations)} verified; `
    + `model: ${describeLabels(frame.detections)}${consistency.gold ? "; gold frame" : ""}`;
  document.getElementById("frame-redactions").textContent = describeRedactions(frame.redactions);
  const open = consistency.adjudication && consistency.adjudication.state === "open";
  const adjudicate = document.getElementById("adjudicate-link");
  adjudicate.hidden = !open; adjudicate.href = `/adjudicate?frame=${frame.id}`;
  document.getElementById("mark-gold").hidden = open || Boolean(consistency.gold)
    || !["accepted", "corrected", "rejected"].includes(frame.status);
  document.getElementById("reviews").replaceChildren(...consistency.reviews.map((r) => el("li",
    `${new Date(r.at * 1000).toLocaleString()} · ${r.reviewer} (${r.kind}): ${r.verdict}, ${describeLabels(r.labels)}`)));
  if (consistency.overlap && consistency.overlap.score != null) {
    document.getElementById("reviews").append(el("li", `agreement of the blind pair: ${(100 * consistency.overlap.score).toFixed(0)} %`));
  }
  if (consistency.adjudication) {
    const a = consistency.adjudication;
    document.getElementById("reviews").append(el("li", `adjudication ${a.state}: ${a.reason}`
      + `${a.resolved_by ? " · decided by " + a.resolved_by : ""}`));
  }
  document.getElementById("events").replaceChildren(...frame.events.map((e) => el("li",
    `${new Date(e.at * 1000).toLocaleString()} · ${e.user} · ${e.action}`)));
  draw();
  document.body.dataset.frameLoaded = "yes";
}

document.getElementById("show-model").addEventListener("change", draw);
document.getElementById("mark-gold").addEventListener("click", async () => {
  try {
    await api("POST", `/api/gold/${frameId}`);
    document.getElementById("frame-status").textContent = "marked as gold";
    await load();
  } catch (e) { document.getElementById("frame-status").textContent = `error: ${e.message}`; }
});

load().catch((e) => { document.getElementById("frame-title").textContent = `error: ${e.message}`; });
