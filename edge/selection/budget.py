"""The budget: at most so many kept frames per minute and JPEG bytes per hour, best frames first.

Two token buckets, refilled in source time: one counts frames (``keyframes_per_minute``), one
counts the bytes of the JPEGs the uplink will send (``megabytes_per_hour``). Each holds at most
``window_s`` seconds of its rate, so over any stretch of ``T`` seconds the agent keeps at most
``rate * (T + window_s)``: the rate on average, with bursts of one window. The frames bucket
starts with one token, not full (the bytes bucket starts full: a frame's size is unknown before
its first encode): an agent restarted over and over must not send a burst each time, and a
burst of ordinary frames in the first seconds would leave nothing for the events that follow
(on the pets09 clip at 2 % of its frames, starting full lost 10 points of track coverage).

Which frames get the tokens when there are not enough for all? The choice here is a *rising
bar*: a candidate is admitted only if its priority is at least the share of a small reserve it
would leave empty, ``1 - (tokens - cost) / (reserve_frames * cost)``. With ``reserve_frames``
frames' worth to spare beyond this one, anything goes (a quiet scene sends its few frames,
heartbeats included); as the bucket drains, only more and more important frames get through,
and the last frame's worth goes to a priority-1 frame. The reserve, not the whole bucket, sets
the bar, so a long window only allows longer bursts without making the bar stay high for the
whole time the bucket takes to refill. When a burst of
low-priority frames has drained the bucket, the bar falls again as tokens come back, like a
descending-price auction: the first frame worth the current price takes it. That serves the
"drop low priority first" rule causally, with no delay and no frame held in memory. The
alternative, holding the best candidate of a short window and sending it at the window's end,
would pick a little better but delays every frame, holds a full-resolution frame per window, and
decides about frames after later ones were seen, which the kept-frame history (scene change,
novelty, tracks already shown) cannot follow. Triggers that stay armed (a track not yet shown)
make up for most of the difference: they ask again on the next frames and grow in priority as
more new objects accumulate.

The bytes are measured, not estimated: a frame that passes everything else is JPEG-encoded at
the uplink's quality (only then; about 1-3 ms at 480x360) and charged its exact size, so the
bytes bucket is never overdrawn. To spare encodes while the bytes bucket is low, a frame whose
estimated size (bytes per pixel of the last encodes) clearly would not be admitted is refused
without encoding. Message headers (about 1 KB) are not counted.
"""

from __future__ import annotations

import logging
import math

from edge.contract.config_files import SettingError
from edge.jpeg import DEFAULT_QUALITY
from edge.selection.core import Candidate, Signals

log = logging.getLogger("edge.selection")


class TokenBucket:
    """``capacity`` tokens at most, ``rate_per_s`` more each second of source time; starts with ``tokens``."""

    def __init__(self, rate_per_s: float, capacity: float, tokens: float):
        self.rate_per_s = rate_per_s
        self.capacity = capacity
        self.tokens = min(tokens, capacity)
        self._ts: float | None = None

    def refill(self, source_ts: float) -> None:
        if self._ts is not None and source_ts > self._ts:
            self.tokens = min(self.capacity, self.tokens + (source_ts - self._ts) * self.rate_per_s)
        if self._ts is None or source_ts > self._ts:
            self._ts = source_ts

    def bar(self, cost: float, reserve: float) -> float:
        """Least priority a candidate costing ``cost`` needs now (infinite: it cannot be paid).

        0 once ``reserve`` tokens would remain after paying (or the bucket cannot hold more),
        rising linearly to 1 as what would remain falls to nothing."""
        if cost > self.tokens:
            return math.inf
        reserve = min(reserve, self.capacity - cost)
        if reserve <= 0:
            return 0.0
        return max(0.0, 1.0 - (self.tokens - cost) / reserve)

    def take(self, cost: float) -> None:
        self.tokens -= cost

    @property
    def fill(self) -> float:
        return self.tokens / self.capacity


class KeyframeBudget:
    """Frames per minute and JPEG bytes per hour, enforced with token buckets (see the module docstring).

    Args:
        keyframes_per_minute: average kept frames allowed; 0 for no frame limit. Lowering it
            sends less and raises the bar for everything but the most important frames.
        megabytes_per_hour: average JPEG megabytes (10^6 bytes) allowed; 0 for no byte limit.
            A 480x360 frame is about 30 KB, a 1080p one about 250 KB at quality 85.
        window_s: how many seconds of each rate a bucket holds: the largest burst. Longer lets
            an eventful minute borrow from a quiet one (a burstier uplink); shorter holds the
            rate more tightly. A bytes bucket must hold at least one frame: a frame larger than
            ``megabytes_per_hour * window_s / 3600`` can never be sent.
        reserve_frames: how many frames' worth the bar ranks over (see the module docstring).
            Larger waits longer for better candidates (at 12 frames per minute, each frame's
            worth is 5 s) and keeps fewer frames than the budget allows on short or quiet
            stretches; smaller spends tokens on the first candidate that comes. 0 turns the
            ranking off (first come, first served).
        jpeg_quality: the uplink's JPEG quality, for measuring a frame's bytes.
    """

    def __init__(self, keyframes_per_minute: float = 12.0, megabytes_per_hour: float = 100.0, window_s: float = 30.0,
                 reserve_frames: float = 5.0, jpeg_quality: int = DEFAULT_QUALITY):
        if not (math.isfinite(keyframes_per_minute) and keyframes_per_minute >= 0):
            raise SettingError("keyframes_per_minute", keyframes_per_minute, "frames >= 0 (0: no limit)")
        if not (math.isfinite(megabytes_per_hour) and megabytes_per_hour >= 0):
            raise SettingError("megabytes_per_hour", megabytes_per_hour, "megabytes >= 0 (0: no limit)")
        if not (math.isfinite(window_s) and window_s > 0):
            raise SettingError("window_s", window_s, "seconds > 0")
        if not (math.isfinite(reserve_frames) and reserve_frames >= 0):
            raise SettingError("reserve_frames", reserve_frames, "frames >= 0 (0: no ranking)")
        if isinstance(jpeg_quality, bool) or not isinstance(jpeg_quality, int) or not 1 <= jpeg_quality <= 100:
            raise SettingError("jpeg_quality", jpeg_quality, "an integer in 1..100")
        frame_rate = keyframes_per_minute / 60.0
        byte_rate = megabytes_per_hour * 1e6 / 3600.0
        # A frames bucket below one token could never admit anything.
        frames_capacity = max(1.0, frame_rate * window_s)
        self.frames = TokenBucket(frame_rate, frames_capacity, 1.0) if frame_rate else None
        bytes_capacity = byte_rate * window_s
        # Full, as frame sizes are unknown before the first encode; the frames bucket bounds the burst.
        self.bytes = TokenBucket(byte_rate, bytes_capacity, bytes_capacity) if byte_rate else None
        self.jpeg_quality = jpeg_quality
        self.reserve_frames = float(reserve_frames)
        self.window_s = float(window_s)
        self._bytes_per_pixel: float | None = None
        self._warned_too_large = False
        self.encodes = 0
        """JPEG encodes spent measuring candidates (for the cost benchmark)."""

    def advance(self, source_ts: float) -> None:
        for bucket in (self.frames, self.bytes):
            if bucket is not None:
                bucket.refill(source_ts)

    def admit(self, candidate: Candidate, priority: float) -> str | None:
        if self.frames is not None and priority < self.frames.bar(1.0, self.reserve_frames):
            return "budget_frames"
        if self.bytes is not None:
            pixels = candidate.frame.width * candidate.frame.height
            estimate = 0.9 * self._bytes_per_pixel * pixels if self._bytes_per_pixel is not None else 0.0
            if self._bytes_per_pixel is not None and priority < self.bytes.bar(estimate, self.reserve_frames * estimate):
                return "budget_bytes"
            cost = len(candidate.jpeg(self.jpeg_quality))  # kept frames reuse this encode downstream
            self.encodes += 1
            self._bytes_per_pixel = cost / pixels
            if cost > self.bytes.capacity and not self._warned_too_large:
                self._warned_too_large = True
                log.warning("a %d-byte frame is larger than the bytes budget can ever hold (%d bytes); raise "
                            "megabytes_per_hour or window_s", cost, self.bytes.capacity)
            if priority < self.bytes.bar(cost, self.reserve_frames * cost):
                return "budget_bytes"
            self.bytes.take(cost)
        if self.frames is not None:
            self.frames.take(1.0)
        return None

    def signals(self) -> Signals:
        fills = []
        if self.frames is not None:
            fills.append(("budget_frames_fill", self.frames.fill))
        if self.bytes is not None:
            fills.append(("budget_bytes_fill", self.bytes.fill))
        return tuple(fills)
