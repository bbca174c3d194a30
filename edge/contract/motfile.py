"""MOTChallenge text files: ``frame,id,x,y,w,h,score,...`` one box per line, frames 1-based.

Ground truth (``gt/gt.txt``) uses the seventh column as a flag: 0 marks a box to ignore. Results
use it for the score. Columns after the seventh (class, visibility, or world coordinates ``-1``)
are read by nobody here. Box corners are ``tlwh`` in pixels (``xywh`` in :mod:`edge.contract.boxes`).
The agent writes and scores these files (``track``, ``mot-eval``); the collector exports and imports them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

from edge.contract.errors import AgentError

MIN_COLUMNS = 7


class MotFileError(AgentError):
    """A MOTChallenge file that cannot be read or breaks the format."""


@dataclass(frozen=True)
class MotRows:
    """The rows of one MOTChallenge file as parallel arrays."""

    frame: np.ndarray
    """(N,) int64, 1-based."""
    track_id: np.ndarray
    """(N,) int64."""
    tlwh: np.ndarray
    """(N, 4) float64 pixels."""
    score: np.ndarray
    """(N,) float64: the detection score in results, the 'consider' flag (0 = ignore) in ground truth."""

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, mask) -> "MotRows":
        return MotRows(self.frame[mask], self.track_id[mask], self.tlwh[mask], self.score[mask])


def read_mot_file(path: str | Path) -> MotRows:
    """Parse a MOTChallenge file; blank lines are skipped, anything else malformed is a MotFileError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MotFileError(f"MOT file not found: {path}") from None
    except IsADirectoryError:
        raise MotFileError(f"MOT file {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MotFileError(f"cannot read MOT file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    rows: list[list[float]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.replace(" ", "").split(",")
        if len(fields) < MIN_COLUMNS:
            raise MotFileError(
                f"{path}:{number}: expected at least {MIN_COLUMNS} comma-separated columns "
                f"(frame,id,x,y,w,h,score), got {len(fields)}"
            )
        try:
            values = [float(v) for v in fields[:MIN_COLUMNS]]
        except ValueError:
            raise MotFileError(f"{path}:{number}: expected numbers in the first {MIN_COLUMNS} columns, got {line.strip()!r}") from None
        if not all(math.isfinite(v) for v in values):
            raise MotFileError(f"{path}:{number}: non-finite value in {line.strip()!r}")
        frame, track_id = values[0], values[1]
        if frame != int(frame) or frame < 1 or track_id != int(track_id):
            raise MotFileError(f"{path}:{number}: frame must be an integer >= 1 and id an integer, got {line.strip()!r}")
        rows.append(values)
    if not rows:
        return MotRows(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0))
    table = np.asarray(rows, np.float64)
    parsed = MotRows(table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2:6], table[:, 6])
    _check_unique_ids(parsed, path)
    return parsed


def _check_unique_ids(rows: MotRows, path: Path) -> None:
    pairs = np.stack([rows.frame, rows.track_id], axis=1)
    unique, counts = np.unique(pairs, axis=0, return_counts=True)
    if (counts > 1).any():
        frame, track_id = unique[np.argmax(counts > 1)]
        raise MotFileError(f"{path}: id {track_id} appears more than once in frame {frame}")


def format_mot_line(frame: int, track_id: int, tlwh, score: float) -> str:
    """One results line ``frame,id,x,y,w,h,score,-1,-1,-1`` (the MOT15 layout TrackEval reads)."""
    x, y, w, h = (float(v) for v in tlwh)
    return f"{frame},{track_id},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{score:.4f},-1,-1,-1\n"


def write_mot_frame(out: TextIO, frame: int, track_ids, tlwh, scores) -> int:
    """Write the boxes of one frame (``frame`` 1-based); returns how many lines were written."""
    count = 0
    for track_id, box, score in zip(track_ids, tlwh, scores):
        out.write(format_mot_line(frame, int(track_id), box, float(score)))
        count += 1
    return count
