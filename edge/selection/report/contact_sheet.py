"""Contact sheets: kept frames side by side, each with its boxes, time, priority and reasons drawn on."""

from __future__ import annotations

import cv2
import numpy as np

CELL_WIDTH = 320
BANNER_HEIGHT = 40
COLUMNS = 5
FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(class_id: int) -> tuple[int, int, int]:
    """A stable, distinct BGR color per class."""
    hue = (class_id * 47) % 180
    bgr = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(bgr[0]), int(bgr[1]), int(bgr[2])


def draw_cell(image_bgr: np.ndarray, xyxy: np.ndarray, class_id: np.ndarray, title: str, reasons: str) -> np.ndarray:
    """A ``CELL_WIDTH``-wide thumbnail of the frame with its boxes, under a two-line banner."""
    height, width = image_bgr.shape[:2]
    scale = CELL_WIDTH / width
    thumb = cv2.resize(image_bgr, (CELL_WIDTH, max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    for box, cls in zip(xyxy * scale, class_id):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(thumb, (x1, y1), (x2, y2), class_color(int(cls)), 1)
    banner = np.full((BANNER_HEIGHT, CELL_WIDTH, 3), 32, np.uint8)
    cv2.putText(banner, title, (4, 15), FONT, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(banner, reasons[:52], (4, 33), FONT, 0.42, (120, 220, 255), 1, cv2.LINE_AA)
    return np.vstack([banner, thumb])


def contact_sheets(cells: list[np.ndarray], per_sheet: int = 30, columns: int = COLUMNS) -> list[np.ndarray]:
    """Cells (as :func:`draw_cell` makes them) tiled into sheets of at most ``per_sheet``."""
    sheets = []
    for start in range(0, len(cells), per_sheet):
        page = cells[start : start + per_sheet]
        cell_height = max(cell.shape[0] for cell in page)
        rows = -(-len(page) // columns)
        sheet = np.full((rows * (cell_height + 4) + 4, columns * (CELL_WIDTH + 4) + 4, 3), 255, np.uint8)
        for i, cell in enumerate(page):
            y, x = 4 + (i // columns) * (cell_height + 4), 4 + (i % columns) * (CELL_WIDTH + 4)
            sheet[y : y + cell.shape[0], x : x + CELL_WIDTH] = cell
        sheets.append(sheet)
    return sheets
