"""How ``--tiles`` and ``[detector] tiles`` are written: ``auto``, ``off`` or ``ROWSxCOLS``.

Standard library only: the config reader checks it without loading the detector.
"""

from __future__ import annotations

import re

TILES_PATTERN = re.compile(r"^(\d+)x(\d+)$")
MAX_TILES_PER_SIDE = 16


def parse_tiles(spec: str) -> str | tuple[int, int] | None:
    """``off``/``""``/``1x1`` -> None, ``auto`` -> "auto", ``RxC`` -> (rows, cols); ValueError otherwise."""
    text = spec.strip().lower()
    if text in ("", "off", "none", "1x1"):
        return None
    if text == "auto":
        return "auto"
    match = TILES_PATTERN.match(text)
    if not match or not all(1 <= int(v) <= MAX_TILES_PER_SIDE for v in match.groups()):
        raise ValueError(f"tiles: expected auto, off or ROWSxCOLS (each 1..{MAX_TILES_PER_SIDE}, e.g. 2x4), "
                         f"got {spec!r}")
    return int(match.group(1)), int(match.group(2))


def valid_tiles(spec: str) -> bool:
    try:
        parse_tiles(spec)
    except ValueError:
        return False
    return True
