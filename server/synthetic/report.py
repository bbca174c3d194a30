"""A page to judge realism at a glance: synthetic frames next to real frames of the same camera.

``write_report(path, ...)`` writes a self-contained HTML page (images inlined) with two grids,
synthetic samples (green boxes: the exact constructed boxes) and real verified frames (orange:
the reviewers' boxes), plus the background, and a PNG contact sheet with the same tiles next to
it (``path`` with ``.png``), for a chat message or an issue. Both are written to a temporary file
and renamed into place.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import Connection, text

from edge.contract.files import atomic_write_bytes, atomic_write_text
from server.db import sql
from server.errors import CollectorError
from server.frames.state import VERIFIED_STATUSES
from server.media import MediaBackend
from server.synthetic.source_frames import encode_jpeg, load_image

SAMPLES = 8
"""Tiles per grid."""
TILE_WIDTH = 320
SYNTHETIC_COLOUR, REAL_COLOUR = (60, 200, 60), (0, 140, 255)  # BGR
CAPTION_HEIGHT = 22
"""Pixels of the strip naming each group on the PNG sheet."""


def _boxed(image: np.ndarray, boxes: list[tuple], colour) -> np.ndarray:
    scale = TILE_WIDTH / image.shape[1]
    tile = cv2.resize(image, (TILE_WIDTH, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    for x1, y1, x2, y2, label in boxes:
        top_left, bottom_right = (round(x1 * scale), round(y1 * scale)), (round(x2 * scale) - 1, round(y2 * scale) - 1)
        cv2.rectangle(tile, top_left, bottom_right, colour, 1)
        cv2.putText(tile, label, (top_left[0], max(8, top_left[1] - 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour, 1)
    return tile


def _spread(rows: list, count: int) -> list:
    if len(rows) <= count:
        return rows
    return [rows[i] for i in np.linspace(0, len(rows) - 1, count).round().astype(int)]


def report_tiles(conn: Connection, media: MediaBackend, device: str, frame_ids: list[int]
                 ) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Captioned tiles: ``synthetic`` (of ``frame_ids``), ``real`` (verified frames) and ``background``."""
    tiles: dict[str, list[tuple[str, np.ndarray]]] = {"synthetic": [], "real": [], "background": []}
    for frame_id in _spread(sorted(frame_ids), SAMPLES):
        sha256 = conn.execute(text("SELECT media_sha256 FROM frames WHERE id = :id"), {"id": frame_id}).scalar_one()
        boxes = [(x1, y1, x2, y2, f"{name} {kind[0]}") for x1, y1, x2, y2, name, kind in conn.execute(text(
            "SELECT x1, y1, x2, y2, class_name, mask_kind FROM synthetic_objects WHERE frame_id = :id ORDER BY id"),
            {"id": frame_id})]
        tiles["synthetic"].append((f"synthetic frame {frame_id}, {len(boxes)} object(s)",
                                   _boxed(load_image(media, sha256), boxes, SYNTHETIC_COLOUR)))
    real = conn.execute(sql(
        "SELECT id, media_sha256 FROM frames WHERE device = :device AND status IN :verified"
        " AND id NOT IN (SELECT frame_id FROM synthetic_frames) ORDER BY id", "verified"),
        {"device": device, "verified": VERIFIED_STATUSES}).all()
    for frame_id, sha256 in _spread(real, SAMPLES):
        boxes = [(*xyxy, name) for *xyxy, name in conn.execute(text(
            "SELECT x1, y1, x2, y2, class_name FROM annotations WHERE frame_id = :id ORDER BY id"), {"id": frame_id})]
        tiles["real"].append((f"real frame {frame_id}, {len(boxes)} object(s)",
                              _boxed(load_image(media, sha256), boxes, REAL_COLOUR)))
    row = conn.execute(text("SELECT media_sha256, computed_at FROM device_backgrounds WHERE device = :device"),
                       {"device": device}).first()
    if row is not None:
        tiles["background"].append(("estimated background", _boxed(load_image(media, row[0]), [], REAL_COLOUR)))
    return tiles


def contact_sheet(tiles: dict[str, list[tuple[str, np.ndarray]]]) -> np.ndarray:
    """Synthetic tiles in the top row(s), real ones below, same columns: compare straight down."""
    columns = 4
    all_tiles = [tile for _, tile in tiles["synthetic"] + tiles["real"]]
    if not all_tiles:
        raise CollectorError("nothing to show in the report: no synthetic and no real frames")
    blank = np.zeros_like(all_tiles[0])
    rows = []
    for group, colour, title in (("synthetic", SYNTHETIC_COLOUR, "SYNTHETIC (constructed boxes)"),
                                 ("real", REAL_COLOUR, "REAL verified frames of the same camera (reviewers' boxes)")):
        group_tiles = [tile for _, tile in tiles[group]]
        if group_tiles:  # a caption strip, so the PNG alone says which row is which
            strip = np.full((CAPTION_HEIGHT, columns * blank.shape[1], 3), 32, np.uint8)
            cv2.putText(strip, title, (6, CAPTION_HEIGHT - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
            rows.append(strip)
        for start in range(0, len(group_tiles), columns):
            row = group_tiles[start:start + columns]
            rows.append(np.hstack(row + [blank] * (columns - len(row))))
    return np.vstack(rows)


def write_report(path: Path, device: str, tiles: dict[str, list[tuple[str, np.ndarray]]], summary: dict) -> Path:
    """Write the HTML page at ``path`` and the PNG sheet beside it; the PNG's path."""
    path = Path(path)
    png_path = path.with_suffix(".png")
    sections = []
    for group, title in (("synthetic", "Synthetic frames (constructed boxes)"),
                         ("real", "Real verified frames of the same camera (reviewers' boxes)"),
                         ("background", "Estimated background")):
        figures = "".join(
            f'<figure><img src="data:image/jpeg;base64,{base64.b64encode(encode_jpeg(tile, 88)).decode()}" '
            f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
            for caption, tile in tiles[group])
        sections.append(f"<h2>{title}</h2><div class=grid>{figures or '<p>none</p>'}</div>")
    facts = "".join(_fact(key, value) for key, value in summary.items())
    page = (f"<!doctype html><html><head><meta charset=utf-8><title>Synthetic frames of {html.escape(device)}</title>"
            "<style>body{font-family:sans-serif;margin:1em}.grid{display:grid;grid-template-columns:"
            f"repeat(4,{TILE_WIDTH}px);gap:8px}}figure{{margin:0}}figcaption{{font-size:12px;color:#444}}</style>"
            f"</head><body><h1>Synthetic frames of {html.escape(device)}</h1><ul>{facts}</ul>"
            f"<p>Mask kinds: f = foreground, g = GrabCut, b = box. Sheet: {html.escape(png_path.name)}</p>"
            f"{''.join(sections)}</body></html>\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(png_path, cv2.imencode(".png", contact_sheet(tiles))[1].tobytes())
        atomic_write_text(path, page)
    except OSError as exc:
        raise CollectorError(f"cannot write the report {path}: {exc.strerror or exc}") from None
    return png_path


def _fact(key: str, value) -> str:
    """One line of the page's summary, in words: a table of values becomes a nested list, a list a
    comma-separated one, a fraction a short number (not Python's reprs)."""
    label = html.escape(key.replace("_", " "))
    if isinstance(value, dict):
        if not value:
            return f"<li>{label}: none</li>"
        return f"<li>{label}:<ul>{''.join(_fact(str(k), v) for k, v in value.items())}</ul></li>"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_plain(item) for item in value) or "none"
    else:
        shown = _plain(value)
    return f"<li>{label}: {html.escape(shown)}</li>"


def _plain(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_plain(v)}" for k, v in value.items())
    return str(value)
