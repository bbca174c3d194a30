"""Where the browser tests save their screenshots: the folder named by ``EDGELABEL_SCREENSHOTS``
when it is set (so a closing note or a CI artifact can show them, e.g.
``EDGELABEL_SCREENSHOTS=/tmp/screens pytest tests/web``), else the test's own temporary folder."""

from __future__ import annotations

import os
from pathlib import Path

SCREENSHOTS_ENV = "EDGELABEL_SCREENSHOTS"


def screenshot_dir(fallback: Path) -> Path:
    """The folder for this run's screenshots (created when missing)."""
    chosen = os.environ.get(SCREENSHOTS_ENV)
    path = Path(chosen) if chosen else Path(fallback)
    path.mkdir(parents=True, exist_ok=True)
    return path

