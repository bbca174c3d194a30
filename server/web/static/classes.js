// The admin's taxonomy page: guidelines, aliases, example crops (picked from verified boxes) and
// the mapping of each model's classes onto the project's.
"use strict";

const status = document.getElementById("classes-status");
let taxonomy = null;

function splitNames(text) { return text.split(",").map((s) => s.trim()).filter(Boolean); }

async function change(request) {
  try {
    taxonomy = await request();
    status.textContent = "saved";
    render();
  } catch (e) { status.textContent = `error: ${e.message}`; }
}

// A verified box drawn as a crop from its frame's image (a candidate example).
async function candidateCanvas(candidate) {
  const image = await loadImage(`/media/${candidate.media}`);
  const w = candidate.x2 - candidate.x1, h = candidate.y2 - candidate.y1;
  const scale = Math.min(1, 120 / Math.max(w, h));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(w * scale)); canvas.height = Math.max(1, Math.round(h * scale));
  canvas.getContext("2d").drawImage(image, candidate.x1, candidate.y1, w, h, 0, 0, canvas.width, canvas.height);
  canvas.title = `frame ${candidate.frame_id}, labelled by ${candidate.author}: click to use as an example`;
  canvas.dataset.annotationId = String(candidate.annotation_id);
  return canvas;
}

async function showCandidates(spec, box) {
  const { candidates } = await api("GET", `/api/taxonomy/candidates?${new URLSearchParams({ class: spec.name })}`);
  if (!candidates.length) { box.replaceChildren(el("span", "no verified box of this class yet", "note")); return; }
  box.replaceChildren(...await Promise.all(candidates.map(async (candidate) => {
    const canvas = await candidateCanvas(candidate);
    canvas.addEventListener("click", async () => {
      try {
        await api("POST", "/api/taxonomy/examples", { class_name: spec.name, annotation_id: candidate.annotation_id });
        taxonomy = await api("GET", "/api/taxonomy");
        status.textContent = `example added to ${spec.name}`;
        render();
      } catch (e) { status.textContent = `error: ${e.message}`; }
    });
    return canvas;
  })));
}

function classCard(spec) {
  const card = document.createElement("section");
  card.className = "class-card";
  card.dataset.className = spec.name;
  const guideline = document.createElement("textarea"); guideline.value = spec.guideline;
  guideline.setAttribute("aria-label", `guideline of ${spec.name}`);
  const aliases = el("input"); aliases.value = spec.aliases.join(", ");
  aliases.setAttribute("aria-label", `aliases of ${spec.name}`);
  const save = el("button", "Save"); save.type = "button";
  save.addEventListener("click", () => change(() => api("POST", "/api/taxonomy/classes",
    { name: spec.name, guideline: guideline.value, aliases: splitNames(aliases.value) })));
  const remove = el("button", "Delete class"); remove.type = "button";
  remove.addEventListener("click", () => {
    if (window.confirm(`Delete ${spec.name} with its aliases, mappings and examples?`)) {
      change(() => api("DELETE", `/api/taxonomy/classes?${new URLSearchParams({ name: spec.name })}`));
    }
  });
  const examples = document.createElement("div"); examples.className = "examples";
  examples.append(...spec.examples.map((example) => {
    const figure = document.createElement("figure");
    const image = document.createElement("img"); image.src = `/media/${example.media}`;
    image.alt = `example of ${spec.name} from frame ${example.frame_id}`;
    const drop = el("button", "remove"); drop.type = "button";
    drop.addEventListener("click", async () => {
      try {
        await api("DELETE", `/api/taxonomy/examples/${example.id}`);
        taxonomy = await api("GET", "/api/taxonomy");
        render();
      } catch (e) { status.textContent = `error: ${e.message}`; }
    });
    figure.append(image, drop);
    return figure;
  }));
  const candidates = document.createElement("div"); candidates.className = "candidates";
  const pick = el("button", "Pick examples from verified boxes"); pick.type = "button";
  pick.addEventListener("click", () => showCandidates(spec, candidates).catch((e) => { status.textContent = `error: ${e.message}`; }));
  card.append(el("h2", spec.name), el("label", "Guideline"), guideline, el("label", "Aliases (comma separated)"), aliases,
              save, document.createTextNode(" "), remove, el("h3", "Example crops"), examples, pick, candidates);
  return card;
}

function modelTable(model) {
  const table = document.createElement("table"); table.className = "grid";
  const head = document.createElement("tr");
  head.append(el("th", "Model class"), el("th", "Project class"), el("th", "How"));
  table.append(head);
  for (const row of model.classes) {
    const tr = document.createElement("tr");
    if (row.how === null) tr.className = "flag";
    const select = document.createElement("select");
    select.setAttribute("aria-label", `${model.model_id} ${row.model_class}`);
    select.append(new Option(row.how === null ? "— unmapped —" : `(as ${row.how === "model" ? "named" : row.how})`, ""));
    for (const spec of taxonomy.classes) select.append(new Option(spec.name, spec.name, false, row.how === "mapped" && row.class_name === spec.name));
    select.addEventListener("change", () => change(() => api("POST", "/api/taxonomy/mapping",
      { model_id: model.model_id, model_class: row.model_class, class_name: select.value || null })));
    tr.append(el("td", row.model_class), document.createElement("td"), el("td", row.how === null ? "UNMAPPED" : row.how === "mapped" ? "mapped" : `${row.class_name} (${row.how})`));
    tr.children[1].append(select);
    table.append(tr);
  }
  const section = document.createElement("section");
  section.append(el("h3", `${model.model_id}${model.unmapped.length && !taxonomy.empty ? ` · ${model.unmapped.length} unmapped` : ""}`), table);
  return section;
}

function render() {
  document.getElementById("class-cards").replaceChildren(...taxonomy.classes.map(classCard));
  document.getElementById("models").replaceChildren(...taxonomy.models.map(modelTable));
  document.body.dataset.classesLoaded = "yes";
}

document.getElementById("add-class").addEventListener("submit", (event) => {
  event.preventDefault();
  const field = (name) => event.target.elements.namedItem(name).value;
  change(() => api("POST", "/api/taxonomy/classes", { name: field("name").trim(), guideline: field("guideline"),
                                                      aliases: splitNames(field("aliases")) }))
    .then(() => { if (status.textContent === "saved") event.target.reset(); });
});

api("GET", "/api/taxonomy").then((t) => { taxonomy = t; render(); })
  .catch((e) => { status.textContent = `error: ${e.message}`; });
