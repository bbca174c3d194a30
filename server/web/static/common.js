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
