"""Sample frames of sources for calibration and for a held-out check, in one bounded pass each.

A source is anything ``--source`` takes (a clip, an image directory, a camera or stream), or an
agent's spool (its directory or its ``spool.db``): the frames the agent kept and has not yet
delivered, read without changing the spool. Several sources (a site's cameras) share the sample
evenly.
"""

from __future__ import annotations

import random
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.errors import SourceError


@dataclass(frozen=True)
class FrameSample:
    calibration: list[np.ndarray]
    """BGR frames the quantizer calibrates activation ranges on."""
    held_out: list[np.ndarray]
    """BGR frames, disjoint from ``calibration``, the int8 model is judged on."""
    frames_read: int
    description: str


def sample_frames(
    source: str | Sequence[str],
    calibration_frames: int,
    held_out_frames: int,
    max_frames_read: int,
    fit_hw: tuple[int, int] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> FrameSample:
    """Pick frames spread over ``source`` (one source, or several sharing the counts evenly).

    Reservoir sampling keeps a uniform sample of the whole source in one pass without knowing its
    length; the sample is then put back in source order and every k-th frame held out, so both
    sets cover the whole timeline and never share a frame.

    Args:
        calibration_frames: frames for calibration. More give steadier activation ranges; each
            one costs an inference of the model being calibrated.
        held_out_frames: frames to compare the quantized model with float on. More make the
            agreement figure steadier; each costs an inference per candidate model.
        max_frames_read: stop reading a source after this many frames. A live source never ends,
            and a long clip is sampled from its beginning only; decoding is the cost.
        fit_hw: shrink frames larger than this (aspect kept) as they are sampled, so memory stays
            small; the detector's letterbox would shrink them to this size anyway.
    """
    sources = [source] if isinstance(source, str) else list(source)
    if not sources:
        raise ValueError("at least one source is needed")
    if calibration_frames < 1 or held_out_frames < 1:
        raise ValueError("calibration_frames and held_out_frames must be at least 1")
    samples = []
    for position, one in enumerate(sources):
        # An even share for each source; the first ones take the remainder.
        calibration = _share(calibration_frames, len(sources), position)
        held_out = _share(held_out_frames, len(sources), position)
        samples.append(_sample_one(one, max(calibration, 1), max(held_out, 1), max_frames_read, fit_hw, seed, progress))
    return FrameSample(
        [image for sample in samples for image in sample.calibration],
        [image for sample in samples for image in sample.held_out],
        sum(sample.frames_read for sample in samples),
        "; ".join(sample.description for sample in samples),
    )


def _share(total: int, parts: int, position: int) -> int:
    return total // parts + (1 if position < total % parts else 0)


def _sample_one(source, calibration_frames, held_out_frames, max_frames_read, fit_hw, seed, progress) -> FrameSample:
    wanted = calibration_frames + held_out_frames
    rng = random.Random(seed)
    reservoir: list[tuple[int, np.ndarray]] = []
    frames_read = 0
    description, images, close, length = _open_images(source)
    total = min(max_frames_read, length) if length else max_frames_read
    bar = _progress_bar(f"reading {description}", total) if progress else None
    try:
        for index, image in images:
            frames_read += 1
            if bar is not None:
                bar.update(1)
            if len(reservoir) < wanted:
                reservoir.append((index, _fit(image, fit_hw)))
            else:
                slot = rng.randrange(frames_read)
                if slot < wanted:
                    reservoir[slot] = (index, _fit(image, fit_hw))
            if frames_read >= max_frames_read:
                break
    finally:
        close()
        if bar is not None:
            bar.close()
    if len(reservoir) < 2:
        raise SourceError(f"{description} gave {frames_read} frames; at least 2 are needed")
    reservoir.sort(key=lambda item: item[0])
    # Spread the held-out share evenly through the ordered sample (every k-th, not the tail).
    held_share = held_out_frames / wanted
    held, calibration = [], []
    for position, (_, image) in enumerate(reservoir):
        is_held = int((position + 1) * held_share) > int(position * held_share)
        (held if is_held else calibration).append(image)
    if not held:  # a sample smaller than asked for: keep at least one frame to judge on
        held.append(calibration.pop())
    if not calibration:
        calibration.append(held.pop())
    return FrameSample(calibration, held, frames_read, description)


def _open_images(source: str) -> tuple[str, Iterator[tuple[int, np.ndarray]], Callable[[], None], int | None]:
    """(description, (index, BGR image) pairs, close, length if known) for a source or an agent's spool."""
    spool_db = _spool_database(source)
    if spool_db is not None:
        return _spool_images(spool_db)
    from edge.sources import ImageDirSource, VideoFileSource, open_source

    frames = open_source(source)
    length = (len(frames.paths) if isinstance(frames, ImageDirSource)
              else frames.reported_frames if isinstance(frames, VideoFileSource) else None)
    return frames.description, ((frame.index, frame.image) for frame in frames), frames.close, length


def _spool_database(source: str) -> Path | None:
    from edge.spool import SPOOL_FILENAME

    path = Path(source).expanduser()
    if path.is_file() and path.name == SPOOL_FILENAME:
        return path
    if path.is_dir() and (path / SPOOL_FILENAME).is_file():
        return path / SPOOL_FILENAME
    return None


def _spool_images(database: Path):
    """The JPEGs waiting in an agent's spool, oldest first, read-only (the agent may be running)."""
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        (count,) = connection.execute("SELECT COUNT(*) FROM frames").fetchone()
        rows = connection.execute("SELECT seq, jpeg FROM frames ORDER BY seq")
    except sqlite3.Error as exc:
        raise SourceError(f"cannot read the spool {database}: {exc}") from None

    def images():
        for seq, jpeg in rows:
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is not None:  # a damaged JPEG is skipped; the spool is not ours to judge
                yield int(seq), image

    return f"spool {database.parent}", images(), connection.close, count


def _fit(image: np.ndarray, fit_hw: tuple[int, int] | None) -> np.ndarray:
    if fit_hw is None:
        return image.copy()
    scale = min(fit_hw[0] / image.shape[0], fit_hw[1] / image.shape[1])
    if scale >= 1.0:
        return image.copy()
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _progress_bar(label: str, total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="frame", file=sys.stderr, leave=False)
