// The frames behind a number of the consistency dashboard: ?ids=1,2,3&title=...; each one click from its view.
"use strict";

async function load() {
  const params = new URLSearchParams(window.location.search);
  document.getElementById("frames-title").textContent = params.get("title") || "Frames";
  const { frames } = await api("GET", `/api/consistency/frames?${new URLSearchParams({ ids: params.get("ids") || "" })}`);
  document.getElementById("frames").replaceChildren(...frames.map((f) => {
    const figure = document.createElement("figure");
    const anchor = link("", `/consistency/frame?id=${f.id}`);
    const image = document.createElement("img");
    image.src = `/media/${f.media_sha256}`; image.alt = `frame ${f.id}`; image.loading = "lazy";
    anchor.append(image);
    const caption = el("figcaption", `frame ${f.id} · ${frameWhere(f)} · ${f.status} · ${f.annotations} label(s)`
      + `${f.adjudication === "open" ? " · waits for adjudication" : ""}${f.gold ? " · gold" : ""}`);
    figure.append(anchor, caption);
    return figure;
  }));
  document.body.dataset.framesLoaded = "yes";
}

load().catch((e) => { document.getElementById("frames-title").textContent = `error: ${e.message}`; });
