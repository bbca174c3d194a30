"""Quality gates: reject frames a person could not label (blurred, black, badly exposed, frozen, obstructed).

Each gate measures the analysis image (see :func:`edge.contract.phash.analysis_gray`) of every frame
and vetoes keeping it with a *flaw* (``Vote.reject``); the selector counts the frames per flaw
whether or not a policy asked to keep them. A frame vetoed by a gate is simply not kept: a
trigger that follows an object (a new track) fires again on the next good frame.

Blur and obstruction are judged against the scene's own running level rather than a fixed
number: a foggy field and a brick wall differ tenfold in texture, but each drops sharply when the
lens is smeared or covered. The level follows the scene in source time with a half-life of
``adapt_s``, in the log domain (a ratio, not a difference): a sudden drop is rejected for about
1.7 half-lives (to a ratio of 0.4 from 0.05), and a lasting change of scene (night, a new
view, a permanently soft lens) becomes the new normal after that.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.contract.config_files import SettingError
from edge.selection.core import ABSTAIN, Candidate, KeptHistory, Vote

FEATURELESS_CONTRAST = 3.0
"""Gray-level standard deviation below which a frame has nothing to judge sharpness, movement or
cover on (a black, white or uniform frame); such frames are the exposure gate's business."""

OBSTRUCTION_GRID = (8, 6)
"""Tiles (columns, rows) the obstruction gate measures contrast in."""


class RunningLevel:
    """A scene's typical value of a measure (scalar or per tile), following it slowly in source time.

    An exponential moving average of the log with a half-life of ``half_life_s`` seconds; the
    first value seeds it. Time running backwards or standing still leaves it unchanged.
    """

    def __init__(self, half_life_s: float):
        self.half_life_s = half_life_s
        self._log = None
        self._ts: float | None = None

    @property
    def value(self):
        return None if self._log is None else np.exp(self._log)

    def update(self, value, source_ts: float) -> None:
        logged = np.log(np.maximum(value, 1e-6))
        if self._log is None:
            self._log = logged
        elif self._ts is not None and source_ts > self._ts:
            weight = 1.0 - 2.0 ** (-(source_ts - self._ts) / self.half_life_s)
            self._log = self._log + weight * (logged - self._log)
        self._ts = source_ts


def _check_adapt(adapt_s: float) -> None:
    if not (math.isfinite(adapt_s) and adapt_s > 0):
        raise SettingError("adapt_s", adapt_s, "a half-life in seconds > 0")


class BlurGate:
    """Reject a frame much less sharp than the scene usually is (flaw ``blur``).

    Sharpness is the energy of fine detail relative to coarse detail: the mean square of the
    Laplacian of the analysis image over that of the same image at half size. Blur removes fine
    detail first, while a change of content (objects taken away, a plain truck passing) lowers
    both, so the ratio follows focus rather than how busy the picture is. Measured on the shared
    clips, against each clip's median: the least sharp frame of any clip is at 0.74 or more; a
    Gaussian blur of sigma 1.5 px brings a frame to 0.22-0.54, sigma 3 px to 0.13-0.29 (0.48 on
    the 4K soccer clip, whose analysis image is 10x smaller than the frame, so fine blur there
    is invisible). The plain Laplacian variance, by comparison, fell to 0.38 of its median when
    a hand took two bottles off a table.

    * ``min_relative_sharpness`` (0..1): the frame is blurred below this share of the running
      level. Raising it catches milder blur (motion blur, focus breathing) but starts rejecting
      sharp frames of unusual content; lowering it rejects only gross blur.
    * ``min_sharpness``: an absolute floor on the ratio as well (0: none), for a camera that is
      blurred from the start (nothing to compare with); the shared clips' medians are 0.46-1.39
      (the sharper the lens and the finer the scene, the higher), so calibrate it per camera.
    * ``adapt_s``: half-life of the running level. Longer rejects a lasting blur for longer
      before accepting it as the scene; shorter accepts it sooner.

    Featureless frames (black, uniform) are left to the exposure gate and do not move the level.
    """

    def __init__(self, min_relative_sharpness: float = 0.5, min_sharpness: float = 0.0, adapt_s: float = 30.0):
        if not 0 < min_relative_sharpness < 1:
            raise SettingError("min_relative_sharpness", min_relative_sharpness, "a ratio in (0, 1)")
        if not (math.isfinite(min_sharpness) and min_sharpness >= 0):
            raise SettingError("min_sharpness", min_sharpness, "a fine-to-coarse detail ratio >= 0")
        _check_adapt(adapt_s)
        self.min_relative_sharpness = float(min_relative_sharpness)
        self.min_sharpness = float(min_sharpness)
        self.level = RunningLevel(adapt_s)

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        if candidate.contrast < FEATURELESS_CONTRAST:
            return ABSTAIN
        sharpness = detail_energy(candidate.gray) / max(detail_energy(candidate.half), 1e-6)
        level = self.level.value
        relative = 1.0 if level is None else sharpness / max(float(level), 1e-9)
        self.level.update(sharpness, candidate.frame.source_ts)
        signals = (("sharpness", sharpness), ("relative_sharpness", relative))
        if relative < self.min_relative_sharpness or sharpness < self.min_sharpness:
            return Vote.reject("blur", signals)
        return Vote.abstain(signals)


def detail_energy(gray: np.ndarray) -> float:
    """Mean square of the Laplacian: how much edge there is at this scale.

    The mean square rather than the variance: the Laplacian's mean is about 0 (edges go up and
    down), and the norm is 15x cheaper than ``meanStdDev`` on 16-bit data.
    """
    laplacian = cv2.Laplacian(gray, cv2.CV_16S)
    return cv2.norm(laplacian, cv2.NORM_L2SQR) / laplacian.size


class ExposureGate:
    """Reject black, under-exposed and over-exposed frames (flaws ``black``, ``underexposed``, ``overexposed``).

    * ``black_level`` and ``black_fraction``: the frame is black when at least ``black_fraction``
      of its pixels are at or below gray ``black_level`` (lost signal, lens cap, night without
      infrared; a time stamp burned into a corner does not save it).
    * ``dark_mean``: under-exposed below this mean gray level. The shared clips have means of
      57-156; a night street is about 40. Raising it rejects dim scenes that may still be
      labelable; lowering it sends murky frames.
    * ``bright_mean`` and ``max_saturated_fraction``: over-exposed above this mean, or when this
      share of the pixels is saturated (gray >= 250: glare, sun in the lens, a flash).
    """

    def __init__(self, black_level: int = 24, black_fraction: float = 0.95, dark_mean: float = 25.0,
                 bright_mean: float = 230.0, max_saturated_fraction: float = 0.5):
        if isinstance(black_level, bool) or not isinstance(black_level, int) or not 0 <= black_level < 128:
            raise SettingError("black_level", black_level, "a gray level in 0..127")
        if not 0 < black_fraction <= 1:
            raise SettingError("black_fraction", black_fraction, "a fraction of the pixels in (0, 1]")
        if not 0 <= dark_mean < 128:
            raise SettingError("dark_mean", dark_mean, "a mean gray level in [0, 128)")
        if not 128 < bright_mean <= 255:
            raise SettingError("bright_mean", bright_mean, "a mean gray level in (128, 255]")
        if not 0 < max_saturated_fraction <= 1:
            raise SettingError("max_saturated_fraction", max_saturated_fraction, "a fraction of the pixels in (0, 1]")
        self.black_level = black_level
        self.black_fraction = float(black_fraction)
        self.dark_mean = float(dark_mean)
        self.bright_mean = float(bright_mean)
        self.max_saturated_fraction = float(max_saturated_fraction)

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        gray = candidate.gray
        mean = float(cv2.mean(gray)[0])
        size = gray.size
        dark = np.count_nonzero(gray <= self.black_level) / size
        saturated = np.count_nonzero(gray >= 250) / size
        signals = (("brightness", mean), ("saturated_fraction", saturated))
        if dark >= self.black_fraction:
            return Vote.reject("black", signals)
        if mean < self.dark_mean:
            return Vote.reject("underexposed", signals)
        if mean > self.bright_mean or saturated >= self.max_saturated_fraction:
            return Vote.reject("overexposed", signals)
        return Vote.abstain(signals)


class FrozenGate:
    """Reject frames of a picture that has not changed at all for ``seconds`` (flaw ``frozen``).

    A real sensor never repeats itself exactly: noise alone moves some pixels every frame.
    Measured on the shared clips, no analysis image repeats the previous one (no pixel differing
    by more than 2 gray levels) for more than 3 frames in a row. A capture card or an RTSP
    server that lost its camera, however, repeats the last picture forever.

    * ``seconds``: how long the picture must stand still. Shorter catches a stall sooner but may
      reject a perfectly still, noiseless synthetic or heavily compressed scene.
    * ``pixel_delta``: the largest gray-level difference still counted as "the same". Raising
      it tolerates a stuck picture re-encoded with noise; too high and a quiet real scene counts
      as frozen.
    """

    def __init__(self, seconds: float = 2.0, pixel_delta: int = 2):
        if not (math.isfinite(seconds) and seconds > 0):
            raise SettingError("seconds", seconds, "seconds > 0")
        if isinstance(pixel_delta, bool) or not isinstance(pixel_delta, int) or not 0 <= pixel_delta < 64:
            raise SettingError("pixel_delta", pixel_delta, "a gray-level difference in 0..63")
        self.seconds = float(seconds)
        self.pixel_delta = pixel_delta
        self._previous: np.ndarray | None = None
        self._still_since: float | None = None

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        gray, ts = candidate.gray, candidate.frame.source_ts
        previous, self._previous = self._previous, gray
        went_back = self._still_since is not None and ts < self._still_since
        if previous is None or previous.shape != gray.shape or went_back:
            self._still_since = ts
            return ABSTAIN
        if float(cv2.norm(gray, previous, cv2.NORM_INF)) > self.pixel_delta:
            self._still_since = ts
            return ABSTAIN
        still_s = ts - self._still_since
        if still_s >= self.seconds and candidate.contrast >= FEATURELESS_CONTRAST:
            return Vote.reject("frozen", (("still_s", still_s),))
        return Vote.abstain((("still_s", still_s),))


class ObstructionGate:
    """Reject frames where part of the picture went flat (flaw ``obstructed``).

    A finger, a leaf, a sticker or a splash close to the lens is out of focus and evenly lit, so
    the tiles it covers lose their contrast. The picture (the analysis image at half size: a
    covered tile is flat at any scale) is cut into 8x6 tiles; a tile is
    *covered* when its gray-level standard deviation is below ``flat_contrast`` and below
    ``relative_contrast`` times its own running level (so a patch of sky or a white table that
    is always flat never counts). The frame is obstructed when at least ``max_covered_fraction``
    of the tiles are covered.

    * ``max_covered_fraction``: lowering it catches smaller obstructions (a drop in a corner)
      but also a large plain object crossing close to the camera (a truck side, a wall of a van).
    * ``flat_contrast``: gray levels; raising it counts merely dim or smooth tiles as covered.
    * ``relative_contrast``: how far below its usual contrast a tile must fall.
    * ``adapt_s``: half-life of each tile's level: how long a lasting cover is rejected before it
      is taken as the scene (then the exposure gate still rejects it if it is dark).
    """

    def __init__(self, max_covered_fraction: float = 0.25, flat_contrast: float = 4.0,
                 relative_contrast: float = 0.3, adapt_s: float = 60.0):
        if not 0 < max_covered_fraction <= 1:
            raise SettingError("max_covered_fraction", max_covered_fraction, "a fraction of the picture in (0, 1]")
        if not (math.isfinite(flat_contrast) and flat_contrast > 0):
            raise SettingError("flat_contrast", flat_contrast, "a gray-level standard deviation > 0")
        if not 0 < relative_contrast < 1:
            raise SettingError("relative_contrast", relative_contrast, "a ratio in (0, 1)")
        _check_adapt(adapt_s)
        self.max_covered_fraction = float(max_covered_fraction)
        self.flat_contrast = float(flat_contrast)
        self.relative_contrast = float(relative_contrast)
        self.level = RunningLevel(adapt_s)

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        tiles = tile_contrast(candidate.half)
        level = self.level.value
        if level is None or np.shape(level) != tiles.shape:
            self.level = RunningLevel(self.level.half_life_s)
            covered = 0.0
        else:
            flat = (tiles < self.flat_contrast) & (tiles < self.relative_contrast * level)
            covered = float(np.count_nonzero(flat)) / tiles.size
        if candidate.contrast >= FEATURELESS_CONTRAST:
            self.level.update(tiles, candidate.frame.source_ts)
        signals = (("covered_fraction", covered),)
        if covered >= self.max_covered_fraction:
            return Vote.reject("obstructed", signals)
        return Vote.abstain(signals)


def tile_contrast(gray: np.ndarray, grid: tuple[int, int] = OBSTRUCTION_GRID) -> np.ndarray:
    """Gray-level standard deviation in each tile of a ``grid`` (columns, rows), shape (rows, columns)."""
    pixels = gray.astype(np.float32)
    mean = cv2.resize(pixels, grid, interpolation=cv2.INTER_AREA)
    mean_square = cv2.resize(pixels * pixels, grid, interpolation=cv2.INTER_AREA)
    return np.sqrt(np.maximum(mean_square - mean * mean, 0.0))
