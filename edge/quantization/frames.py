"""Sample frames of a source for calibration and for a held-out check, in one bounded pass."""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

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
    source: str,
    calibration_frames: int,
    held_out_frames: int,
    max_frames_read: int,
    fit_hw: tuple[int, int] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> FrameSample:
    """Pick frames spread over ``source`` (a clip, an image directory, a camera or stream).

    Reservoir sampling keeps a uniform sample of the whole source in one pass without knowing its
    length; the sample is then put back in source order and every k-th frame held out, so both
    sets cover the whole timeline and never share a frame.

    Args:
        calibration_frames: frames for calibration. More give steadier activation ranges; each
            one costs an inference of the augmented model (and, with percentile calibration,
            memory for all of its activations).
        held_out_frames: frames to compare int8 with float on. More make the agreement figure
            steadier; each costs two inferences.
        max_frames_read: stop reading after this many frames. A live source never ends, and a long
            clip is sampled from its beginning only; decoding is the cost.
        fit_hw: shrink frames larger than this (aspect kept) as they are sampled, so memory stays
            small; the detector's letterbox would shrink them to this size anyway.
    """
    from edge.sources import open_source

    wanted = calibration_frames + held_out_frames
    if calibration_frames < 1 or held_out_frames < 1:
        raise ValueError("calibration_frames and held_out_frames must be at least 1")
    rng = random.Random(seed)
    reservoir: list[tuple[int, np.ndarray]] = []
    frames_read = 0
    source_frames = open_source(source)
    bar = _progress_bar(f"reading {source_frames.description}", max_frames_read) if progress else None
    try:
        for frame in source_frames:
            frames_read += 1
            if bar is not None:
                bar.update(1)
            if len(reservoir) < wanted:
                reservoir.append((frame.index, _fit(frame.image, fit_hw)))
            else:
                slot = rng.randrange(frames_read)
                if slot < wanted:
                    reservoir[slot] = (frame.index, _fit(frame.image, fit_hw))
            if frames_read >= max_frames_read:
                break
    finally:
        source_frames.close()
        if bar is not None:
            bar.close()
    if len(reservoir) < 2:
        raise SourceError(f"{source_frames.description} gave {frames_read} frames; at least 2 are needed")
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
    return FrameSample(calibration, held, frames_read, source_frames.description)


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
