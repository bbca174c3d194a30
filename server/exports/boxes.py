"""Box formats of the datasets we write and read, and every conversion between them.

* ``xyxy``: pixel corners ``(x1, y1, x2, y2)``, what the store and the wire hold.
* ``xywh``: pixel top-left corner, width and height (COCO ``bbox``; MOTChallenge calls it ``tlwh``).
* ``yolo``: centre x, centre y, width, height as fractions of the image size (Ultralytics labels).
* ``percent_xywh``: top-left corner, width and height in percent of the image (Label Studio).

Exporters and importers both use these, so a round trip goes through the same arithmetic.
Each function takes and returns one box as a tuple of four floats.
"""

from __future__ import annotations

Box = tuple[float, float, float, float]


def xyxy_to_xywh(xyxy: Box) -> Box:
    x1, y1, x2, y2 = xyxy
    return (x1, y1, x2 - x1, y2 - y1)


def xywh_to_xyxy(xywh: Box) -> Box:
    x, y, w, h = xywh
    return (x, y, x + w, y + h)


def xyxy_to_yolo(xyxy: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = xyxy
    return ((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


def yolo_to_xyxy(yolo: Box, width: int, height: int) -> Box:
    cx, cy, w, h = yolo
    return ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)


def xyxy_to_percent_xywh(xyxy: Box, width: int, height: int) -> Box:
    x1, y1, x2, y2 = xyxy
    return (100 * x1 / width, 100 * y1 / height, 100 * (x2 - x1) / width, 100 * (y2 - y1) / height)


def clip_xyxy(xyxy: Box, width: int, height: int) -> Box | None:
    """The box cut to the image, or None when nothing of it is left (the wire refuses empty boxes)."""
    x1, y1, x2, y2 = xyxy
    x1, x2 = min(max(x1, 0.0), float(width)), min(max(x2, 0.0), float(width))
    y1, y2 = min(max(y1, 0.0), float(height)), min(max(y2, 0.0), float(height))
    if x2 <= x1 or y2 <= y1:
        return None
    return (x1, y1, x2, y2)


def area_xyxy(xyxy: Box) -> float:
    x1, y1, x2, y2 = xyxy
    return (x2 - x1) * (y2 - y1)
