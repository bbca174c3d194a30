// The consistency dashboard: agreement per reviewer, per day and per class, gold accuracy and the
// open adjudications, from /api/consistency/summary. Every number links to the frames behind it.
"use strict";

function percent(value) { return value == null ? "–" : `${(100 * value).toFixed(0)} %`; }

// A tally's row: each count links to the frames that add to it.
function tallyCells(tally, who) {
  const w = tally.frames_with;
  return [
    framesLink(tally.frames, tally.frame_ids, `${who}: all pairs`),
    framesLink(percent(tally.mean_score), tally.frame_ids, `${who}: all pairs`),
    framesLink(tally.class_disagreements, w.class_disagreements, `${who}: class disagreements`),
    framesLink(tally.missed, w.missed, `${who}: boxes missed`),
    framesLink(tally.extra, w.extra, `${who}: extra boxes`),
    framesLink(tally.verdict_disagreements, w.verdict_disagreements, `${who}: verdicts differ`),
  ];
}

// Fill a table's body; with no rows, one row across the table says why it is empty.
function fillTable(selector, rows, emptyText) {
  const body = document.querySelector(`${selector} tbody`);
  if (rows.length) { body.replaceChildren(...rows); return; }
  const cell = document.createElement("td");
  cell.colSpan = document.querySelectorAll(`${selector} thead th`).length || 1;
  cell.className = "empty"; cell.textContent = emptyText;
  const row = document.createElement("tr"); row.append(cell);
  body.replaceChildren(row);
}

async function refresh() {
  const s = await api("GET", "/api/consistency/summary");
  const p = s.policy;
  document.getElementById("policy").textContent = `${percent(p.overlap_rate)} of frames reviewed twice blind, `
    + `${percent(p.gold_rate)} of claims served gold; pairs below ${percent(p.agreement_threshold)} agreement go to adjudication.`;
  const open = await api("GET", "/api/adjudication");
  fillTable("#adjudications", open.adjudications.map((a) => tableRow([
    link(`frame ${a.frame_id}`, `/consistency/frame?id=${a.frame_id}`),
    `${a.first_reviewer} / ${a.second_reviewer}`, percent(a.score), a.reason,
    new Date(a.opened_at * 1000).toLocaleString(),
    link("adjudicate", `/adjudicate?frame=${a.frame_id}`),
  ])), "None open: no pair of reviews disagrees beyond the threshold without an admin's decision.");
  const noPairs = "None yet: no frame has been reviewed twice (blind overlap).";
  fillTable("#per-reviewer", Object.entries(s.per_reviewer).map(([name, t]) => {
    const [pairs, mean, classes, missed, extra, verdicts] = tallyCells(t, name);
    return tableRow([name, pairs, mean, framesLink(t.matches, t.frames_with.matches, `${name}: matching boxes`),
                  classes, missed, extra, verdicts]);
  }), noPairs);
  fillTable("#per-day", Object.entries(s.per_reviewer_by_day).flatMap(
    ([name, days]) => Object.entries(days).map(([day, t]) => {
      const [pairs, mean, classes, missed, extra] = tallyCells(t, `${name} on ${day}`);
      return tableRow([name, day, pairs, mean, classes, missed, extra]);
    })), noPairs);
  fillTable("#per-class", Object.entries(s.per_class).map(([name, c]) => tableRow([
    name, framesLink(c.frame_ids.length, c.frame_ids, `class ${name}: all pairs`), `${c.boxes_a} / ${c.boxes_b}`,
    c.agreed, framesLink(percent(c.f1), c.frame_ids, `class ${name}: all pairs`),
    framesLink(c.disagreed_frame_ids.length, c.disagreed_frame_ids, `class ${name}: disagreements`),
  ])), noPairs);
  fillTable("#gold", Object.entries(s.gold_per_reviewer).map(([name, t]) => {
    const [answered, mean, classes, missed, extra, verdicts] = tallyCells(t, `${name} on gold`);
    return tableRow([name, answered, mean, classes, missed, extra, verdicts]);
  }), "None yet: no reviewer has answered a gold frame (mark verified frames gold from a frame's page).");
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.consistencyLoaded = "yes";
}

refresh().catch((e) => { document.getElementById("updated").textContent = `error: ${e.message}`; });
