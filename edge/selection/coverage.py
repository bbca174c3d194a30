"""Coverage as the objective: keep the frames that show the most objects not yet captured, at their best.

The budget is a set-cover problem over tracks. Every frame a quality gate accepts gets a *value*:

    value = sum over its tracks not yet captured of   q(track, frame)
          + BETTER_VIEW_WEIGHT * sum over captured tracks of the improvement  max(0, q - q of the kept view)
          + POLICY_WEIGHT * the priorities of the other policies asking to keep it (first, heartbeat,
            scene change, novelty, new or rare class, uncertain boxes, count change)

where ``q``, the worth of a view, is ``SEEN_WORTH + (1 - SEEN_WORTH) * (factor * size) ** 2``:
``factor`` is the product of :func:`edge.selection.views.view_factors` (border, occlusion,
confidence, sharpness), ``size`` the box's area over the largest area the track has shown so
far, capped by how large boxes in that part of the picture usually are against their track's
best (:mod:`edge.selection.sizes`, learned from the tracks that ended: an approaching car is
always the largest it has been so far, yet far from its best). The square makes two objects
near their best worth more than four at half size; the floor keeps every object worth showing.

The policy priorities keep scenes without tracked objects covered (a scene change, a novel
picture, a heartbeat) and fold the old triggers into the same number. Scene change and novelty
are only asked on frames without tracked objects: where objects are tracked, the coverage value
says what is new, and their thumbnail, hash and comparisons were about a third of the selector's
time (on the highway clip at the default budget the median best view also rose from 0.59 to 0.66
without their votes on busy frames). Novelty (a 64-bit perceptual hash at least 14 bits from every
kept frame's) is only asked when scene change found the picture changed against the recent kept
frames: a picture within a few percent of a kept one is not that far from it, and on the parking
clip, mostly without tracked objects, hashing every frame was a seventh of the selector's time.

**Look-ahead.** Frames worth something wait in a buffer of at most ``max_held`` frames and
``lookahead_s`` seconds of source time, so a better view of the same objects can still replace
them. The best frame of the buffer (highest value, values recomputed as tracks get captured and
grow) is committed, if the budget admits it at its priority: the higher of its rank (the share of
the last ``RANKED_VALUES`` frames, valued on arrival, worth less) and ``1 - 2**-value`` (the first
frame has priority 1). The rank makes a tight budget wait for the best moments of the scene,
whatever its usual number of objects (a lane with one car at a time); the absolute part keeps a
busy scene, where most frames show several new objects, from waiting too long. It is committed

* when an object it shows has left (not seen for ``leave_s``) and is not captured yet, or only
  in a worse view: waiting cannot bring a better view of it; the frame committed is the best one
  (highest value) showing it better;
* or when it has been the best for the whole look-ahead (it is about to expire);
* or at once when a held frame asks for a heartbeat (nothing kept for ``max_gap_s``): the best
  such frame shows the scene is still there, as with the previous rule.

A frame the budget refuses when an object leaves stays held: tokens come back with source time,
and a later frame may still pay for it while it waits (dropping it threw away the best views of
the moment on a busy road, where objects leave every half second). Refused on expiry or as a
heartbeat, it goes.

A committed frame drops every held frame before it (frames are released in order), and a frame
is released at most ``lookahead_s`` of source time after it arrived (for a live source at a
steady rate, that is its extra latency). The minimum gap applies between committed frames.
Quality gates (blur, black, frozen, obstruction) still veto: a rejected frame is never held.

**Memory.** Held frames are the pipeline's own decoded frames (no copy), with their analysis
images (about 0.1 MB at the default ``analysis_max_side``). The buffer holds at most
``max_held`` frames *and* at most ``max_held_megabytes`` of decoded pixels (but always the
newest frame); past either bound the least valuable frame goes. So the buffer's memory is at
most ``min(max_held * frame size, max(max_held_megabytes, one frame))`` plus 0.1 MB a frame:
8 frames at up to 1080p (6.2 MB each) at the defaults, 4 at 3072x1728 (16 MB each). Holding
JPEGs instead (at the uplink's quality, reused when kept) was measured and rejected: every
frame worth something is held, nearly every frame on a busy scene, and encoding each costs
0.3 ms at 320x240, 0.6 ms at 480x360, 1.6 ms at 960x540 and 19 ms at 3072x1728 (1 to 8 % of
the detector's 21 ms up to 960x540, as much as the rest of the selector), to save memory that
only matters above 1080p, where the bound in bytes caps it instead. A downscaled copy cannot
be sent: the kept frame must be the picture the uplink would have sent. The committed frame's
JPEG is made once (by the bytes budget, else by the uplink) from those same pixels.

**Missed tracks.** A confirmed track gone for ``lookahead_s`` (its held frames are gone too) that no
committed frame showed is counted in ``counts.missed_tracks``: the agent's heartbeat and the
``sample`` report say how many objects the budget let through.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.contract.config_files import SettingError
from edge.contract.wire import NO_TRACK
from edge.frame_detections import Detections
from edge.selection.core import (
    PRIORITY_FIRST,
    Budget,
    Candidate,
    Decision,
    KeptFrame,
    KeptHistory,
    SelectionCounts,
    SelectionPolicy,
)
from edge.selection.novelty import NoveltyPolicy, SceneChangePolicy
from edge.selection.objects import TrackEventPolicy
from edge.selection.sizes import MIN_TRACK_FRAMES, SizeMap
from edge.selection.timing import IntervalPolicy
from edge.selection.views import view_factors
from edge.sources import Frame

BETTER_VIEW_WEIGHT = 0.25
"""Worth of improving a captured track's view, against capturing a new one (1)."""

POLICY_WEIGHT = 0.3
"""Worth of a policy asking for a frame, per unit of its priority, against a new track (1)."""

VIEW_EXPONENT = 2.0
"""A view's worth grows faster than its size: two objects near their best beat four at half size
(measured on the highway clip with each track's real largest box known, choosing 6 frames
offline: the exponent 1 gave a median best view of 0.58, 2 gave 0.68, covering 0.65 of the
tracks against 0.69)."""

SEEN_WORTH = 0.1
"""What showing an object at all is worth, whatever its view (the rest, ``1 - SEEN_WORTH``, scales
with the view's quality): without it, frames of many distant objects lose to a frame of one
near object, and coverage falls below uniform sampling's on the busy road."""

RANKED_VALUES = 600
"""How many recent frames' values a committed frame is ranked against (its priority)."""

TRACKS_REMEMBERED = 4096
"""Tracks the book follows at most (a bound for a device that runs for months)."""


@dataclass(frozen=True)
class Released:
    """A held frame the selector keeps now: the pipeline sends it like a frame kept on arrival."""

    frame: Frame
    detections: Detections
    decision: Decision


@dataclass(eq=False)
class _Held:
    candidate: Candidate
    detections: Detections
    views: dict[int, tuple[float, float, int]]
    """Track id -> (box area, view factor, size-map cell)."""
    asked: dict[str, float]
    """Reason -> priority of each policy asking to keep the frame (a committed frame serves the
    same reasons for the frames after it: they lose them)."""
    signals: dict[str, float]
    valued: tuple[float, int, int] = (0.0, 0, 0)
    valued_at: int = -1
    """The book's version ``valued`` was computed at (see :meth:`TrackBook.value`)."""
    refused: bool = False
    """The budget refused it once already (it may still be kept later)."""

    @property
    def bonus(self) -> float:
        return POLICY_WEIGHT * sum(self.asked.values())

    @property
    def ts(self) -> float:
        return self.candidate.frame.source_ts


@dataclass
class _Track:
    best_area: float
    last_seen: float
    captured_quality: float = 0.0
    """Quality of its view in the committed frame; 0 while not captured."""
    left: bool = False
    """Unseen for ``leave_s``: its best held frame was tried already."""
    frames: int = 0
    area_per_cell: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Size-map cell -> (sum of its areas there, frames): what it teaches the map when it ends."""


class TrackBook:
    """What the selector knows of each track: its largest box so far, when it was last seen, its kept
    view; and, from the tracks that ended, where in the picture objects show their best (:class:`SizeMap`)."""

    def __init__(self) -> None:
        self.tracks: dict[int, _Track] = {}
        self.sizes = SizeMap()
        self.version = 0
        """Changes whenever a held frame's value may change: a track grown or new, a frame kept,
        tracks forgotten (and the size map taught)."""

    def see(self, views: dict[int, tuple[float, float, int]], ts: float) -> None:
        for track_id, (area, _, cell) in views.items():
            track = self.tracks.get(track_id)
            if track is None:
                track = self.tracks[track_id] = _Track(area, ts)
                self.version += 1
            else:
                if area > track.best_area:
                    track.best_area = area
                    self.version += 1
                track.last_seen = ts
                track.left = False
            track.frames += 1
            total, frames = track.area_per_cell.get(cell, (0.0, 0))
            track.area_per_cell[cell] = (total + area, frames + 1)

    def quality(self, track_id: int, area: float, factor: float, cell: int) -> float:
        """What one view is worth: ``SEEN_WORTH`` for showing the object, plus the rest times the
        square of its factor times its size, the box's area over the track's largest so far, or
        less where boxes are usually smaller than their best (the size map)."""
        track = self.tracks.get(track_id)
        best = track.best_area if track is not None else area
        size = min(area / best if best > 0 else 1.0, self.sizes.expected[cell])
        return SEEN_WORTH + (1.0 - SEEN_WORTH) * (factor * size) ** VIEW_EXPONENT

    def leaving(self, now: float, leave_s: float) -> list[int]:
        """Tracks gone (unseen for ``leave_s``) and not captured, or captured and not tried again yet."""
        return [i for i, t in self.tracks.items()
                if now - t.last_seen >= leave_s and (t.captured_quality == 0.0 or not t.left)]

    def gain(self, held: _Held, track_id: int) -> float:
        """What keeping ``held`` adds for one track: its view if not captured, else the improvement."""
        if track_id not in held.views:
            return 0.0
        track = self.tracks.get(track_id)
        quality = self.quality(track_id, *held.views[track_id])
        if track is None or track.captured_quality == 0.0:
            return quality
        return BETTER_VIEW_WEIGHT * max(0.0, quality - track.captured_quality)

    def value(self, held: _Held) -> tuple[float, int, int]:
        """(value, new tracks, better views) of a held frame now.

        Computed once per state of the book (:attr:`version`): the buffer asks for every held
        frame's value several times per frame."""
        if held.valued_at == self.version:
            return held.valued
        tracks, expected, rest = self.tracks, self.sizes.expected, 1.0 - SEEN_WORTH
        value, new, better = held.bonus, 0, 0
        for track_id, (area, factor, cell) in held.views.items():
            track = tracks.get(track_id)
            best = track.best_area if track is not None else area
            size = area / best if best > 0 else 1.0
            if size > expected[cell]:
                size = expected[cell]
            quality = SEEN_WORTH + rest * (factor * size) ** VIEW_EXPONENT
            if track is None or track.captured_quality == 0.0:
                value += quality
                new += 1
            elif quality > track.captured_quality:
                value += BETTER_VIEW_WEIGHT * (quality - track.captured_quality)
                better += 1
        held.valued, held.valued_at = (value, new, better), self.version
        return held.valued

    def capture(self, held: _Held) -> None:
        self.version += 1
        for track_id, view in held.views.items():
            track = self.tracks.get(track_id)
            if track is not None:
                track.captured_quality = max(track.captured_quality, self.quality(track_id, *view))

    def forget_gone(self, now: float, gone_after_s: float) -> int:
        """Forget tracks unseen for ``gone_after_s`` (the size map learns from them); returns how
        many of them were never captured."""
        gone = [i for i, t in self.tracks.items() if now - t.last_seen >= gone_after_s or now < t.last_seen]
        if len(self.tracks) - len(gone) > TRACKS_REMEMBERED:
            gone += sorted(set(self.tracks) - set(gone))[: len(self.tracks) - len(gone) - TRACKS_REMEMBERED]
        missed = sum(self.tracks[i].captured_quality == 0.0 for i in gone)
        if gone:
            self.version += 1
        for track_id in gone:
            track = self.tracks.pop(track_id)
            if track.frames >= MIN_TRACK_FRAMES:
                self.sizes.learn({cell: total / n for cell, (total, n) in track.area_per_cell.items()}, track.best_area)
        return missed


@dataclass
class CoverageCounts(SelectionCounts):
    missed_tracks: int = 0
    """Confirmed tracks that left before any committed frame showed them."""
    captured_tracks: int = 0
    held_peak: int = 0
    """Most frames the look-ahead buffer held at once."""
    held_bytes_peak: int = 0
    """Most decoded pixels (bytes) it held at once."""
    waited_s_max: float = 0.0
    """Longest a kept frame waited in the buffer (source seconds)."""
    committed_on: dict[str, int] = field(default_factory=dict)
    """Why kept frames were committed when they were: ``leaving``, ``expiring``, ``heartbeat``, ``end``."""

    def as_dict(self) -> dict:
        return {**super().as_dict(), "missed_tracks": self.missed_tracks, "captured_tracks": self.captured_tracks,
                "held_peak": self.held_peak, "held_megabytes_peak": round(self.held_bytes_peak / 1e6, 3),
                "waited_s_max": round(self.waited_s_max, 3),
                "committed_on": dict(self.committed_on)}


class CoverageSelector:
    _not_asked_when_tracked = (TrackEventPolicy, SceneChangePolicy, NoveltyPolicy)
    """Keeps the frames of highest coverage value within the budget (see the module docstring).

    Args:
        policies: the quality gates (their flaws veto) and triggers (their keep priorities add to
            the value); a :class:`TrackEventPolicy` does not vote (coverage replaces it) and an
            :class:`IntervalPolicy` gives its ``min_gap_s`` between committed frames.
        budget: admits committed frames at their priority; None: every committed frame is kept.
        lookahead_s: longest a frame waits for a better one (source seconds). Longer finds better
            views and better-covering frames, at that much extra latency and memory.
        max_held: most frames held at once.
        max_held_megabytes: most decoded pixels held at once, in 10^6 bytes (the newest frame
            is held whatever its size); see "Memory" in the module docstring.
        leave_s: a track unseen this long counts as having left (commit its best frame now).
    """

    def __init__(self, policies: Sequence[SelectionPolicy], budget: Budget | None = None, lookahead_s: float = 3.0,
                 max_held: int = 8, leave_s: float = 0.5, analysis_max_side: int = 320,
                 max_held_megabytes: float = 64.0):
        if not policies:
            raise SettingError("policies", [], "at least one selection policy")
        if not 0 <= lookahead_s <= 60:
            raise SettingError("lookahead_s", lookahead_s, "seconds in 0..60")
        if isinstance(max_held, bool) or not isinstance(max_held, int) or not 1 <= max_held <= 256:
            raise SettingError("max_held", max_held, "an integer number of frames in 1..256")
        if not (math.isfinite(max_held_megabytes) and max_held_megabytes > 0):
            raise SettingError("max_held_megabytes", max_held_megabytes, "megabytes > 0")
        if not 0 < leave_s <= 60:
            raise SettingError("leave_s", leave_s, "seconds in (0, 60]")
        if isinstance(analysis_max_side, bool) or not isinstance(analysis_max_side, int) or not 32 <= analysis_max_side <= 4096:
            raise SettingError("analysis_max_side", analysis_max_side, "an integer number of pixels in 32..4096")
        self.policies = tuple(policies)
        intervals = [p for p in policies if isinstance(p, IntervalPolicy)]
        self.min_gap_s = intervals[0].min_gap_s if intervals else 0.0
        self.budget = budget
        self.lookahead_s = float(lookahead_s)
        self.max_held = max_held
        self.max_held_bytes = max_held_megabytes * 1e6
        self.leave_s = min(float(leave_s), self.lookahead_s) if self.lookahead_s > 0 else float(leave_s)
        self.analysis_max_side = analysis_max_side
        self.history = KeptHistory()
        self.counts = CoverageCounts()
        self.book = TrackBook()
        self.held: list[_Held] = []
        self._last_ts: float | None = None
        self._frame_gap = 0.0
        self._recent_values: deque[float] = deque(maxlen=RANKED_VALUES)

    def _rank(self, value: float) -> float:
        """The rank of a frame worth ``value`` among the recent frames: the share worth less (ties
        count half); part of its budget priority (see the module docstring)."""
        if value <= 0:
            return 0.0
        recent = np.fromiter(self._recent_values, float, len(self._recent_values))
        if not len(recent):
            return 1.0
        return float((np.count_nonzero(recent < value) + 0.5 * np.count_nonzero(recent == value)) / len(recent))

    @property
    def considered(self) -> int:
        return self.counts.considered

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence = ()) -> Decision:
        """Weigh one frame; the returned decision never keeps it at once (it may be held), but its
        ``released`` lists earlier held frames kept now, in frame order."""
        counts = self.counts
        counts.considered += 1
        now = frame.source_ts
        released = []
        if self._last_ts is not None and now < self._last_ts:
            # Source time ran backwards (a live source reopened): decide on what waits now, or it
            # would wait until time catches up.
            released += self._commit_due(self._last_ts, end=True)
            self.held.clear()
        if self._last_ts is not None and now > self._last_ts:
            self._frame_gap = now - self._last_ts
        self._last_ts = now
        candidate = Candidate(frame, detections, tuple(track_events), self.analysis_max_side)
        if self.budget is not None:
            self.budget.advance(now)
        # Scene change and novelty: only without tracked objects, novelty only on a changed
        # picture (see the module docstring).
        tracked = bool((detections.tracker_id != NO_TRACK).any())
        not_asked = self._not_asked_when_tracked if tracked else TrackEventPolicy
        votes = []
        for policy in self.policies:
            if isinstance(policy, not_asked):
                continue
            vote = policy.vote(candidate, self.history)
            votes.append(vote)
            if isinstance(policy, SceneChangePolicy) and vote.reason is None and vote.signals:
                not_asked = (TrackEventPolicy, NoveltyPolicy)  # unchanged since a recent keep
        signals = {name: value for vote in votes for name, value in vote.signals}
        flaws = tuple(v.veto for v in votes if v.flaw)
        counts.rejected.update(flaws)
        if flaws and any(v.reason is not None for v in votes):
            counts.overruled.update(flaws)
        views = view_factors(detections, frame.width, frame.height, signals.get("relative_sharpness", 1.0))
        self.book.see(views, now)
        if not flaws:
            asked = [v for v in votes if v.reason is not None and v.veto is None]
            held = _Held(candidate, detections, views, {v.reason: v.priority for v in asked}, signals)
            value = self.book.value(held)[0]
            signals["value"] = value
            self._recent_values.append(value)
            if value > 0:
                self._hold(held)
        released += self._commit_due(now, end=False)
        counts.missed_tracks += self.book.forget_gone(now, max(self.lookahead_s, self.leave_s) + self._frame_gap)
        signals["held"] = float(len(self.held))
        signals["missed_tracks"] = float(counts.missed_tracks)
        if self.budget is not None:
            signals.update(self.budget.signals())
        return Decision(False, (), 0.0, rejected_for=flaws, signals=signals, released=tuple(released))

    def flush(self) -> tuple[Released, ...]:
        """At the end of the source: commit what the budget admits of the held frames."""
        released = self._commit_due(self._last_ts or 0.0, end=True)
        self.held.clear()
        self.counts.missed_tracks += sum(t.captured_quality == 0.0 for t in self.book.tracks.values())
        self.book.tracks.clear()
        return tuple(released)

    # --- the buffer ------------------------------------------------------------------------------

    def _hold(self, held: _Held) -> None:
        self.held.append(held)
        while len(self.held) > self.max_held or (len(self.held) > 1 and self.held_bytes > self.max_held_bytes):
            # Drop the least valuable (never the newest: it may grow into the best); of equals, the latest.
            worst = min(self.held[:-1], key=lambda h: (self.book.value(h)[0], -h.ts))
            self.held.remove(worst)
        self.counts.held_peak = max(self.counts.held_peak, len(self.held))
        self.counts.held_bytes_peak = max(self.counts.held_bytes_peak, self.held_bytes)

    @property
    def held_bytes(self) -> int:
        """Decoded pixels the buffer holds now (the bound ``max_held_megabytes`` applies to)."""
        return sum(h.candidate.frame.image.nbytes for h in self.held)

    def _commit_due(self, now: float, end: bool) -> list[Released]:
        released = []
        while self.held:
            leaving = [] if end else self.book.leaving(now, self.leave_s)
            if not (end or leaving or any("heartbeat" in h.asked for h in self.held)
                    or now + self._frame_gap >= self.held[0].ts + self.lookahead_s):
                break  # most frames: nothing due (held frames are in arrival order, the oldest first)
            valued = [(self.book.value(h)[0], h) for h in self.held]
            best_value, best = max(valued, key=lambda vh: vh[0])
            target, trigger = None, None
            heartbeats = [(v, h) for v, h in valued if "heartbeat" in h.asked]
            if end:
                target, trigger = best, "end"
            elif heartbeats:  # the scene is due to be shown: waiting adds nothing to that
                target, trigger = max(heartbeats, key=lambda vh: vh[0])[1], "heartbeat"
            elif now + self._frame_gap >= best.ts + self.lookahead_s:
                target, trigger = best, "expiring"
            else:
                showing = [(v, h) for v, h in valued if any(self.book.gain(h, i) > 0 for i in leaving)]
                for track_id in leaving:  # a better view: one attempt per departure; a new track: until kept
                    self.book.tracks[track_id].left = True
                if showing:
                    target, trigger = max(showing, key=lambda vh: vh[0])[1], "leaving"
            if target is None:
                break
            kept = self._commit(target, trigger, now)
            if kept is not None:
                released.append(kept)
            elif trigger == "leaving" and target in self.held:
                break  # the budget said not yet: it may admit the frame on a later frame, while it is held
            # Held frames past the look-ahead go, kept or not.
            self.held = [h for h in self.held if now + self._frame_gap < h.ts + self.lookahead_s or end]
        if not end:
            self.held = [h for h in self.held if now + self._frame_gap < h.ts + self.lookahead_s]
        return released

    def _commit(self, held: _Held, trigger: str, now: float) -> Released | None:
        """Keep ``held`` if the minimum gap and the budget allow it; either way it leaves the buffer."""
        counts = self.counts
        value, new, better = self.book.value(held)
        last = self.history.last
        if last is not None and 0 <= held.ts - last.source_ts < self.min_gap_s:
            counts.overruled["min_gap"] += 1
            self.held.remove(held)
            return None
        priority = max(self._rank(value), 1.0 - 2.0 ** -value, PRIORITY_FIRST if "first" in held.asked else 0.0)
        if self.budget is not None:
            veto = self.budget.admit(held.candidate, priority)
            if veto is not None:
                if not held.refused:  # a frame left waiting is asked again on later frames: count it once
                    counts.overruled[veto] += 1
                    held.refused = True
                if trigger != "leaving":
                    self.held.remove(held)
                return None
        self.held.remove(held)
        # Frames are released in order: the ones before this one can no longer be sent.
        self.held = [h for h in self.held if h.ts > held.ts]
        for later in self.held:
            for reason in held.asked:
                later.asked.pop(reason, None)
            later.valued_at = -1
        self.book.capture(held)
        counts.captured_tracks += new
        reasons = tuple(held.asked) + (("new_tracks",) if new else ()) + (("better_view",) if better else ())
        waited = max(0.0, now - held.ts)
        counts.waited_s_max = max(counts.waited_s_max, waited)
        counts.committed_on[trigger] = counts.committed_on.get(trigger, 0) + 1
        signals = {**held.signals, "value": value, "new_tracks": float(new), "better_views": float(better),
                   "waited_s": waited, "committed_on_leave": float(trigger == "leaving")}
        candidate = held.candidate
        self.history.add(KeptFrame(candidate.frame.index, held.ts, candidate.thumbnail, reasons, candidate.phash,
                                   held.detections))
        counts.kept += 1
        counts.kept_by_reason.update(reasons)
        decision = Decision(True, reasons, priority, signals=signals, jpegs=candidate.jpegs)
        return Released(candidate.frame, held.detections, decision)
