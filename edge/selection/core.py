"""How policies combine into one decision per frame, and the history of kept frames they share.

A :class:`KeyframeSelector` asks each of its policies to vote on every frame. A policy is any
object with one method, ``vote(candidate, history) -> Vote``. It may

* ask to keep the frame, with a reason and a priority in [0, 1] (``Vote.keep``);
* forbid keeping it because of a bound such as the minimum gap (``Vote.forbid``);
* reject it because the picture is unusable: blurred, black, frozen... (``Vote.reject``); a
  rejection is a veto that is also counted per flaw on every frame it happens on, asked or not;
* or abstain. Any vote may carry measurements (``signals``) for reports and tuning.

A frame is kept when at least one policy asks, none vetoes, and the budget (if any) admits it
at its priority. Its reasons are those of every policy that asked, in policy order; its priority
is the highest of theirs. Every policy sees every frame, vetoed or not, so a policy may follow
state of its own (a running sharpness level, recent object counts).

State: :meth:`KeyframeSelector.consider` records a kept frame in the shared :class:`KeptHistory`
before it returns. A frame later lost downstream (spool full) still counts as kept; otherwise a
failing sender would make the selector keep every frame. Policies that need kept frames (last
time stamp, recent thumbnails, track ids already shown) read them from the history.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np

from edge.contract.config_files import SettingError
from edge.contract.phash import PHASH_THUMBNAIL_SIZE, phash64_of_thumbnail
from edge.contract.wire import NO_TRACK
from edge.frame_detections import Detections
from edge.jpeg import encode_jpeg
from edge.selection.thumbnails import analysis_gray
from edge.sources import Frame

if TYPE_CHECKING:
    from edge.tracking.events import TrackEvent

THUMBNAIL_SIZE = PHASH_THUMBNAIL_SIZE
"""Side of the gray thumbnail kept per kept frame (1 KiB), the size :func:`edge.contract.phash.phash64`
works at. It is made from the analysis image, so its pHash is within a bit or two of the
frame's own (the uplink hashes the full frame for the wire)."""

HISTORY_LENGTH = 64
"""How many kept frames the history holds; bounds memory on a device that runs for months."""

SHOWN_TRACKS_REMEMBERED = 4096
"""How many track ids the history remembers as shown; ids grow, so the oldest are forgotten first."""

PRIORITY_FIRST = 1.0


@dataclass(frozen=True)
class Decision:
    keep: bool
    reasons: tuple[str, ...]
    """Why the frame is kept (empty when it is not)."""
    priority: float
    """In [0, 1]; 0 when not kept."""
    vetoed_by: tuple[str, ...] = ()
    """What overruled a policy asking to keep the frame: bounds (``min_gap``, ``budget_frames``,
    ``budget_bytes``) and flaws (``blur``...). Tells tuning what was lost."""
    rejected_for: tuple[str, ...] = ()
    """The picture's flaws (``blur``, ``black``...), found whether or not a policy asked."""
    signals: Mapping[str, float] = field(default_factory=dict)
    """The policies' measurements on this frame (scene change, sharpness, budget fill...)."""
    jpegs: Mapping[int, bytes] = field(default_factory=dict, repr=False)
    """JPEG quality -> the kept frame's encoding, when selection already made one (the bytes
    budget measures the real size); whoever sends or saves the frame reuses it."""
    released: tuple = field(default=(), repr=False)
    """Earlier frames a look-ahead selector held and keeps now (``edge.selection.coverage.Released``,
    in frame order); they go to the sink before this frame would."""


Signals = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Vote:
    """One policy's say on one frame (see the module docstring)."""

    reason: str | None = None
    priority: float = 0.0
    veto: str | None = None
    flaw: bool = False
    """The veto is a flaw of the picture (counted per frame) rather than a bound."""
    signals: Signals = ()

    @classmethod
    def keep(cls, reason: str, priority: float, signals: Signals = ()) -> "Vote":
        return cls(reason=reason, priority=min(1.0, max(0.0, priority)), signals=signals)

    @classmethod
    def forbid(cls, bound: str, signals: Signals = ()) -> "Vote":
        return cls(veto=bound, signals=signals)

    @classmethod
    def reject(cls, flaw: str, signals: Signals = ()) -> "Vote":
        return cls(veto=flaw, flaw=True, signals=signals)

    @classmethod
    def abstain(cls, signals: Signals = ()) -> "Vote":
        return cls(signals=signals) if signals else ABSTAIN


ABSTAIN = Vote()


@dataclass(eq=False)
class Candidate:
    """The frame under consideration, with features computed once (lazily) and shared by all policies."""

    frame: Frame
    detections: Detections
    track_events: tuple[TrackEvent, ...] = ()
    """What happened to tracks at this frame (started, confirmed, lost, recovered, ended);
    empty without a tracker and on frames where only the tracker's prediction ran."""
    analysis_max_side: int = 320
    jpegs: dict[int, bytes] = field(default_factory=dict, repr=False)
    """JPEG quality -> encoding, filled by :meth:`jpeg`."""

    def jpeg(self, quality: int) -> bytes:
        """The frame as a JPEG at ``quality``, encoded at most once."""
        if quality not in self.jpegs:
            self.jpegs[quality] = encode_jpeg(self.frame.image, quality)
        return self.jpegs[quality]

    @cached_property
    def gray(self) -> np.ndarray:
        """The analysis image: gray, about ``analysis_max_side`` on its longest side."""
        return analysis_gray(self.frame.image, self.analysis_max_side)

    @cached_property
    def half(self) -> np.ndarray:
        """The analysis image at half its size (a 2x2 box average)."""
        height, width = self.gray.shape
        return cv2.resize(self.gray, (max(1, width // 2), max(1, height // 2)), interpolation=cv2.INTER_AREA)

    @cached_property
    def thumbnail(self) -> np.ndarray:
        # From the half-size image: the whole-factor halving takes OpenCV's fast path, and the
        # two box averages make 16 us instead of 44 us for one (at 240x180).
        return cv2.resize(self.half, (THUMBNAIL_SIZE, THUMBNAIL_SIZE), interpolation=cv2.INTER_AREA)

    @cached_property
    def phash(self) -> int:
        return phash64_of_thumbnail(self.thumbnail)

    @cached_property
    def contrast(self) -> float:
        """Standard deviation of the analysis image's gray levels (about 0 for a uniform frame)."""
        return float(cv2.meanStdDev(self.gray)[1][0, 0])

    @cached_property
    def track_ids(self) -> frozenset[int]:
        """Ids of the tracked objects visible in this frame (confirmed tracks only carry one)."""
        ids = self.detections.tracker_id
        return frozenset(int(i) for i in ids[ids != NO_TRACK])


@dataclass(frozen=True, eq=False)
class KeptFrame:
    index: int
    source_ts: float
    thumbnail: np.ndarray
    reasons: tuple[str, ...]
    phash: int = 0
    detections: Detections = field(default_factory=Detections.empty)

    @property
    def track_ids(self) -> frozenset[int]:
        ids = self.detections.tracker_id
        return frozenset(int(i) for i in ids[ids != NO_TRACK])

    @property
    def class_ids(self) -> frozenset[int]:
        return frozenset(int(c) for c in self.detections.class_id)


class KeptHistory:
    """The most recent kept frames (oldest first, at most :data:`HISTORY_LENGTH`), plus what
    every kept frame so far has shown: track ids and classes."""

    def __init__(self) -> None:
        self._frames: deque[KeptFrame] = deque(maxlen=HISTORY_LENGTH)
        self.total = 0
        """Frames kept since the selector started (not bounded by the history length)."""
        self.shown_track_ids: set[int] = set()
        """Track ids visible in at least one kept frame (the most recent ones, see
        :data:`SHOWN_TRACKS_REMEMBERED`)."""
        self.seen_classes: set[int] = set()
        """Every class detected in at least one kept frame since the start."""
        self.class_frames: Counter[int] = Counter()
        """Per class, how many frames of the history show it."""

    def add(self, kept: KeptFrame) -> None:
        if len(self._frames) == self._frames.maxlen:
            self.class_frames.subtract(self._frames[0].class_ids)
        self._frames.append(kept)
        self.total += 1
        classes = kept.class_ids
        self.class_frames.update(classes)
        self.seen_classes |= classes
        self.shown_track_ids |= kept.track_ids
        if len(self.shown_track_ids) > SHOWN_TRACKS_REMEMBERED:
            newest = sorted(self.shown_track_ids)[-SHOWN_TRACKS_REMEMBERED // 2 :]
            self.shown_track_ids = set(newest)

    @property
    def last(self) -> KeptFrame | None:
        return self._frames[-1] if self._frames else None

    def recent(self, count: int) -> list[KeptFrame]:
        """Up to ``count`` most recent kept frames, newest first."""
        return [self._frames[-i] for i in range(1, min(count, len(self._frames)) + 1)]

    def __len__(self) -> int:
        return len(self._frames)


class SelectionPolicy(Protocol):
    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote: ...


class Budget(Protocol):
    """What the selector needs of a budget (see ``edge.selection.budget.KeyframeBudget``)."""

    def advance(self, source_ts: float) -> None:
        """Called once per frame, before any :meth:`admit`, with the frame's source time."""

    def admit(self, candidate: Candidate, priority: float) -> str | None:
        """Take the frame's cost and return None, or return the name of the bound it would break."""

    def signals(self) -> Signals: ...


@dataclass
class SelectionCounts:
    considered: int = 0
    kept: int = 0
    kept_by_reason: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    """Frames with each flaw (a frame with two flaws counts under both), asked to keep or not."""
    overruled: Counter[str] = field(default_factory=Counter)
    """Frames a policy asked to keep that a bound or a flaw vetoed, per veto."""

    def as_dict(self) -> dict:
        return {"considered": self.considered, "kept": self.kept, "kept_by_reason": dict(self.kept_by_reason),
                "rejected": dict(self.rejected), "overruled": dict(self.overruled)}


class KeyframeSelector:
    """Combines policies and a budget (see the module docstring) and owns the history of kept frames.

    Args:
        policies: voted in this order; the order of a kept frame's reasons.
        budget: admits frames at their priority; None keeps every frame the policies agree on.
        analysis_max_side: longest side of the gray analysis image (see
            :func:`edge.contract.phash.analysis_gray`): lower is cheaper, higher sees finer blur and
            smaller obstructions.
    """

    def __init__(self, policies: Sequence[SelectionPolicy], budget: Budget | None = None, analysis_max_side: int = 320):
        if not policies:
            raise SettingError("policies", [], "at least one selection policy")
        if isinstance(analysis_max_side, bool) or not isinstance(analysis_max_side, int) or not 32 <= analysis_max_side <= 4096:
            raise SettingError("analysis_max_side", analysis_max_side, "an integer number of pixels in 32..4096")
        self.policies = tuple(policies)
        self.budget = budget
        self.analysis_max_side = analysis_max_side
        self.history = KeptHistory()
        self.counts = SelectionCounts()

    @property
    def considered(self) -> int:
        return self.counts.considered

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence[TrackEvent] = ()) -> Decision:
        """Decide on one frame; a kept frame is recorded in :attr:`history` before this returns."""
        counts = self.counts
        counts.considered += 1
        candidate = Candidate(frame, detections, tuple(track_events), self.analysis_max_side)
        if self.budget is not None:
            self.budget.advance(frame.source_ts)
        votes = [policy.vote(candidate, self.history) for policy in self.policies]
        signals = {name: value for vote in votes for name, value in vote.signals}
        if self.budget is not None:
            signals.update(self.budget.signals())
        flaws = tuple(v.veto for v in votes if v.flaw)
        counts.rejected.update(flaws)
        reasons = tuple(v.reason for v in votes if v.reason is not None)
        if not reasons:
            return Decision(False, (), 0.0, rejected_for=flaws, signals=signals)
        vetoes = tuple(v.veto for v in votes if v.veto is not None)
        priority = max(v.priority for v in votes if v.reason is not None)
        if not vetoes and self.budget is not None:
            bound = self.budget.admit(candidate, priority)
            vetoes = (bound,) if bound else ()
        if vetoes:
            counts.overruled.update(vetoes)
            return Decision(False, (), 0.0, vetoed_by=vetoes, rejected_for=flaws, signals=signals)
        self.history.add(KeptFrame(frame.index, frame.source_ts, candidate.thumbnail, reasons, candidate.phash, detections))
        counts.kept += 1
        counts.kept_by_reason.update(reasons)
        return Decision(True, reasons, priority, signals=signals, jpegs=candidate.jpegs)
