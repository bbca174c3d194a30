// An admin resolves a disagreement: the two blind reviews side by side on the image; take one as
// it is, or edit one (classes, boxes dropped or taken from the other review) and save.
"use strict";

const frameId = Number(new URLSearchParams(window.location.search).get("frame"));
const view = { frame: null, image: null, reviews: [], decision: null, from: null, classes: [] };

function sameBox(a, b) {
  return ["x1", "y1", "x2", "y2"].every((k) => Math.abs(a[k] - b[k]) <= 0.5);
}

// The frame's detection a box repeats unchanged, so a decision equal to the model's counts as accepted.
function detectionOf(box) {
  const d = view.frame.detections.find((det) => sameBox(det, box) && det.class_name === box.class_name);
  return d ? d.id : null;
}

// Per review (0: first, 1: second), the indices of its boxes the other review does not match with
// the same class: what the admin has to look at.
function disputedBoxes(agreement) {
  const disputed = view.reviews.map((review) => new Set(review.labels.map((_, i) => i)));
  for (const [i, j] of (agreement ? agreement.pairs : [])) {
    if (view.reviews[0].labels[i].class_name === view.reviews[1].labels[j].class_name) {
      disputed[0].delete(i); disputed[1].delete(j);
    }
  }
  return disputed;
}

function startFrom(index) {
  view.from = index;
  view.decision = view.reviews[index].labels.map((b) => ({ ...b }));
  renderDecision();
}

function renderDecision() {
  drawBoxes(document.getElementById("decision-canvas"), view.image, view.decision || []);
  const list = document.getElementById("decision-boxes");
  list.replaceChildren(...(view.decision || []).map((box, i) => {
    const item = document.createElement("li");
    const input = el("input"); input.value = box.class_name; input.setAttribute("list", "decision-classes");
    input.setAttribute("aria-label", `class of box ${i + 1}`);
    input.addEventListener("change", () => { if (input.value.trim()) box.class_name = input.value.trim(); renderDecision(); });
    const drop = el("button", "drop"); drop.type = "button";
    drop.addEventListener("click", () => { view.decision.splice(i, 1); renderDecision(); });
    item.append(input, el("span", ` at ${Math.round(box.x1)},${Math.round(box.y1)} `), drop);
    return item;
  }));
  const other = view.from === null ? [] : view.reviews[1 - view.from].labels
    .filter((b) => !(view.decision || []).some((d) => sameBox(d, b)));
  document.getElementById("other-boxes").replaceChildren(...other.map((box) => {
    const item = el("li", `${box.class_name} at ${Math.round(box.x1)},${Math.round(box.y1)} `);
    const add = el("button", "add"); add.type = "button";
    add.addEventListener("click", () => { view.decision.push({ ...box }); renderDecision(); });
    item.append(add);
    return item;
  }));
  document.getElementById("save-decision").disabled = view.decision === null;
}

async function decide(body) {
  try {
    const { frame } = await api("POST", `/api/adjudication/${frameId}`, body);
    document.getElementById("adjudication-status").textContent = `decided: the frame is ${frame.status} with `
      + `${frame.annotations.length} box(es)`;
    document.body.dataset.adjudicated = frame.status;
    for (const button of document.querySelectorAll("button")) if (button.id !== "logout") button.disabled = true;
  } catch (e) { document.getElementById("adjudication-status").textContent = `error: ${e.message}`; }
}

function take(index) {
  const review = view.reviews[index];
  if (review.verdict === "rejected") return decide({ decision: "reject" });
  return decide({ decision: "correct", annotations: annotationsOf(review.labels) });
}

function annotationsOf(boxes) {
  return boxes.map((b) => ({ x1: b.x1, y1: b.y1, x2: b.x2, y2: b.y2, class_name: b.class_name,
                             track_id: b.track_id ?? null, detection_id: detectionOf(b) }));
}

async function load() {
  const { adjudication, frame } = await api("GET", `/api/adjudication/${frameId}`);
  const taxonomy = await api("GET", "/api/taxonomy");
  view.frame = frame;
  view.image = await loadImage(`/media/${frame.media_sha256}`);
  view.reviews = ["first", "second"].map((kind) => adjudication.reviews.find((r) => r.kind === kind)).filter(Boolean);
  document.getElementById("adjudication-title").textContent = `Adjudication of frame ${frame.id} · ${frame.device} #${frame.seq}`;
  const agreement = adjudication.agreement;
  document.getElementById("adjudication-reason").textContent = `${adjudication.state}: ${adjudication.reason}`
    + (agreement ? ` · ${agreement.matches} matching box(es), ${agreement.class_disagreements} class disagreement(s), `
      + `${agreement.missed} missed, ${agreement.extra} extra` : "");
  view.classes = taxonomy.empty ? [...new Set(view.reviews.flatMap((r) => r.labels.map((b) => b.class_name)))]
    : taxonomy.classes.map((c) => c.name);
  document.getElementById("decision-classes").replaceChildren(...view.classes.map((name) => {
    const option = document.createElement("option"); option.value = name; return option;
  }));
  const disputed = view.reviews.length === 2 ? disputedBoxes(agreement) : view.reviews.map(() => new Set());
  document.getElementById("pair").replaceChildren(...view.reviews.map((review, index) => {
    const column = document.createElement("div");
    column.className = "review-column";
    column.dataset.reviewer = review.reviewer;
    const canvas = document.createElement("canvas"); canvas.width = 640;
    drawBoxes(canvas, view.image, review.labels, { disputed: disputed[index] });
    canvas.dataset.disputed = disputed[index].size;
    const takeButton = el("button", `Take ${review.reviewer}'s labels`); takeButton.type = "button";
    takeButton.className = "take";
    takeButton.addEventListener("click", () => take(index));
    const editButton = el("button", `Edit from ${review.reviewer}'s`); editButton.type = "button";
    editButton.className = "edit";
    editButton.addEventListener("click", () => startFrom(index));
    column.append(el("h2", `${review.reviewer} (${review.kind} review): ${review.verdict}, ${review.labels.length} box(es)`
                     + (disputed[index].size ? `, ${disputed[index].size} in dispute (ringed red)` : "")),
                  canvas, takeButton, document.createTextNode(" "), editButton);
    return column;
  }));
  if (adjudication.state !== "open") {
    document.getElementById("adjudication-status").textContent = `already decided by ${adjudication.resolved_by}`;
    for (const button of document.querySelectorAll("button")) if (button.id !== "logout") button.disabled = true;
  }
  renderDecision();
  document.body.dataset.adjudicationLoaded = "yes";
}

document.getElementById("reject-frame").addEventListener("click", () => decide({ decision: "reject" }));
document.getElementById("save-decision").addEventListener("click",
  () => decide({ decision: "correct", annotations: annotationsOf(view.decision) }));

// Without ?frame=: the open disagreements, oldest first, each a link to its page.
async function listOpen() {
  const { adjudications } = await api("GET", "/api/adjudication");
  document.getElementById("decision-section").hidden = true;
  document.getElementById("adjudication-title").textContent = "Open adjudications";
  document.getElementById("adjudication-reason").textContent = adjudications.length
    ? `${adjudications.length} frame(s) whose two reviewers disagree wait for an admin's decision, oldest first.`
    : "None open: every disagreement between reviewers has been decided.";
  const list = document.getElementById("open-adjudications");
  list.hidden = false;
  list.replaceChildren(...adjudications.map((a) => {
    const item = document.createElement("li");
    const link = el("a", `frame ${a.frame_id}`); link.href = `/adjudicate?frame=${a.frame_id}`;
    const who = a.first_reviewer ? ` · ${a.first_reviewer} and ${a.second_reviewer}` : "";
    item.append(link, el("span", ` · ${a.reason}${who} · opened ${new Date(a.opened_at * 1000).toLocaleString()}`));
    return item;
  }));
  document.body.dataset.adjudicationList = String(adjudications.length);
}

(frameId ? load() : listOpen())
  .catch((e) => { document.getElementById("adjudication-title").textContent = `error: ${e.message}`; });
