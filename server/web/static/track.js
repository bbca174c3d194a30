// The track view: every keyframe of one track as a strip; accept it whole or fix its class once.
"use strict";

const params = new URLSearchParams(window.location.search);
const device = params.get("device");
const trackId = Number(params.get("track_id"));
const classInput = document.getElementById("track-class");
let track = null;

async function load() {
  track = await api("GET", `/api/track?${new URLSearchParams({ device, track_id: String(trackId) })}`);
  document.getElementById("track-title").textContent = `Track #${track.track_id} of ${track.device}`;
  const queued = track.frames.filter((f) => f.status === "pending" || f.status === "in_review").length;
  const verdict = track.verdict
    ? ` Accepted by ${track.verdict.user}${track.verdict.class_name ? " as " + track.verdict.class_name : ""}.` : "";
  document.getElementById("track-summary").textContent =
    `${track.frames.length} keyframes, ${queued} still queued; classes: ${track.classes.join(", ")}.${verdict}`;
  document.getElementById("track-class-list").replaceChildren(...track.class_choices.map((name) => {
    const option = document.createElement("option"); option.value = name; return option;
  }));
  const strip = document.getElementById("strip");
  strip.replaceChildren(...track.frames.map(thumbnail));
  // Open on the track's best view (its largest box among the stored frames).
  const best = strip.querySelector(`[data-frame-id="${track.best_frame_id}"]`);
  if (best) best.scrollIntoView({ block: "nearest", inline: "center" });
  document.body.dataset.bestFrame = String(track.best_frame_id);
  document.body.dataset.trackLoaded = "yes";
}

function thumbnail(frame) {
  const isBest = frame.frame_id === track.best_frame_id;
  const figure = el("figure", undefined, `thumb status-${frame.status}${isBest ? " best-view" : ""}`);
  figure.dataset.frameId = String(frame.frame_id);
  const canvas = document.createElement("canvas");
  canvas.width = 200; canvas.height = 150;
  figure.append(canvas, el("figcaption", `${isBest ? "best view · " : ""}frame ${frame.frame_id} · `
    + `${frame.class_name} ${frame.score.toFixed(2)} · ${frame.status}`));
  loadImage(`/media/${frame.media}`).then((image) => {
    // Crop around the box (with margin) so the object is visible in a small tile.
    const [x1, y1, x2, y2] = frame.box;
    const margin = Math.max(x2 - x1, y2 - y1) * 0.6;
    const sx = Math.max(0, x1 - margin), sy = Math.max(0, y1 - margin);
    const sw = Math.min(frame.width - sx, x2 - x1 + 2 * margin), sh = Math.min(frame.height - sy, y2 - y1 + 2 * margin);
    const scale = Math.min(canvas.width / sw, canvas.height / sh);
    const c = canvas.getContext("2d");
    c.drawImage(image, sx, sy, sw, sh, 0, 0, sw * scale, sh * scale);
    c.strokeStyle = classColour(frame.class_name); c.lineWidth = 2;
    c.strokeRect((x1 - sx) * scale, (y1 - sy) * scale, (x2 - x1) * scale, (y2 - y1) * scale);
  });
  return figure;
}

// What accepting the track did, in words: which frames are finished, which still need a reviewer.
function trackAcceptedText(className, finished, waiting) {
  const frames = (n) => `${n} frame${n === 1 ? "" : "s"}`;
  let text = `Track accepted${className ? ` as ${className}` : ""}. `;
  text += finished ? `${frames(finished)} had no other boxes to check and ${finished === 1 ? "is" : "are"} now verified. `
    : "No frame is finished by it alone. ";
  if (waiting) {
    text += `${frames(waiting)} also show${waiting === 1 ? "s" : ""} other objects: ${waiting === 1 ? "it stays" : "they stay"} `
      + "in the queue with this track's boxes already settled, for a reviewer to check the rest.";
  }
  return text.trim();
}

async function accept(className) {
  const status = document.getElementById("track-status");
  try {
    const result = await api("POST", "/api/track/accept", { device, track_id: trackId, class_name: className || null });
    status.textContent = trackAcceptedText(className, result.finalised.length, result.waiting.length);
    document.body.dataset.trackAccepted = String(result.finalised.length);
    await load();
  } catch (error) {
    status.textContent = `error: ${error.message}`;
  }
}

document.getElementById("accept-track").addEventListener("click", () => accept(null));
document.getElementById("fix-class").addEventListener("click", () => accept(classInput.value.trim()));
classInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); accept(classInput.value.trim()); classInput.blur(); }
  else if (event.key === "Escape") { classInput.blur(); }
});
document.addEventListener("keydown", (event) => {
  if (typingInField(event)) return;
  if (event.key === "a") accept(null);
  else if (event.key === "f") { classInput.focus(); event.preventDefault(); }
  else if (event.key === "Escape") window.location.assign("/review");
});

load().catch((error) => { document.getElementById("track-status").textContent = `error: ${error.message}`; });
