// The admin's frame browser: filters in the page's own query string (?device=&status=&class=&since=&until=
// &offset=, times as the form's local date-times), the list from /api/frames, each row linking to its frame page.
"use strict";

const PAGE_SIZE = 50;
const STATUS_WORDS = { queued: "queued (pending or in review)", verified: "verified (accepted or corrected)" };
const query = new URLSearchParams(window.location.search);

// A datetime-local value (the browser's local time) as Unix seconds; "" stays "".
function unixSeconds(local) {
  if (!local) return "";
  const at = new Date(local).getTime();
  if (Number.isNaN(at)) throw new Error(`not a date and time: ${local}`);
  return String(at / 1000);
}

function describeBoxes(classes) {
  return Object.entries(classes).map(([name, n]) => `${n} ${name}`).join(", ") || "no boxes";
}

function describeStatus(frame) {
  return [frame.status, frame.gold ? "gold" : "", frame.adjudication === "open" ? "waits for adjudication" : ""]
    .filter(Boolean).join(" · ");
}

async function fillFilters() {
  const choices = await api("GET", "/api/frames/choices");
  const option = (value, text) => { const o = el("option", text || value); o.value = value; return o; };
  document.getElementById("filter-device").append(...choices.devices.map((d) => option(d)));
  document.getElementById("filter-status").append(...choices.statuses.map((s) => option(s, STATUS_WORDS[s])));
  document.getElementById("filter-classes").replaceChildren(...choices.classes.map((c) => option(c)));
  for (const name of ["device", "status", "class", "since", "until"]) {
    document.querySelector(`#frame-filters [name="${name}"]`).value = query.get(name) || "";
  }
}

function pageLink(id, offset) {
  const anchor = document.getElementById(id);
  const target = new URLSearchParams(query);
  target.set("offset", String(offset));
  anchor.href = `/frames?${target}`;
  anchor.hidden = false;
}

function frameRow(frame) {
  const image = document.createElement("img");
  image.src = `/media/${frame.media_sha256}`; image.alt = `frame ${frame.id}`; image.loading = "lazy";
  image.className = "frame-thumb";
  const thumb = link("", `/consistency/frame?id=${frame.id}`);
  thumb.append(image);
  const row = tableRow([thumb, link(`frame ${frame.id}`, `/consistency/frame?id=${frame.id}`), frameWhere(frame),
                        describeStatus(frame), describeBoxes(frame.classes)]);
  row.dataset.frameId = String(frame.id);
  return row;
}

async function load() {
  await fillFilters();
  const offset = Math.max(0, Number(query.get("offset")) || 0);
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  for (const name of ["device", "status", "class"]) if (query.get(name)) params.set(name, query.get(name));
  for (const name of ["since", "until"]) if (query.get(name)) params.set(name, unixSeconds(query.get(name)));
  const page = await api("GET", `/api/frames?${params}`);
  const body = document.querySelector("#frame-list tbody");
  if (page.frames.length) {
    body.replaceChildren(...page.frames.map(frameRow));
  } else {
    const cell = el("td", page.total ? "No frames on this page." : "No frame matches these filters.", "empty");
    cell.colSpan = 5;
    const row = document.createElement("tr"); row.append(cell);
    body.replaceChildren(row);
  }
  const shown = page.frames.length ? `; showing ${offset + 1}–${offset + page.frames.length}` : "";
  const one = page.total === 1;
  document.getElementById("browse-summary").textContent = `${page.total} frame${one ? "" : "s"} match${one ? "es" : ""}${shown}`;
  if (offset > 0) pageLink("page-previous", Math.max(0, offset - PAGE_SIZE));
  if (offset + page.frames.length < page.total) pageLink("page-next", offset + PAGE_SIZE);
  document.body.dataset.framesListed = "yes";
}

load().catch((e) => { document.getElementById("browse-summary").textContent = `error: ${e.message}`; });
