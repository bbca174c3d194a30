"""Detector-driven triggers: what the detector and the tracker saw makes a frame worth labeling.

* :class:`TrackEventPolicy`: a tracked object appears (``track_start``) or leaves for good
  (``track_end``);
* :class:`ClassRarityPolicy`: a class no kept frame has shown (``new_class``) or few have
  (``rare_class``);
* :class:`UncertaintyPolicy`: detections scored in the band where the detector hesitates
  (``uncertain``), the classic active-learning signal;
* :class:`ObjectCountPolicy`: the number of objects per class changed and stayed changed
  (``count_change``).

They read the boxes the pipeline gives the selector: after the tracker, so confirmed tracks carry
their ids, and on frames between detector runs (``--detect-every``) the tracker's predictions.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from edge.contract.boxes import iou_xyxy
from edge.contract.config_files import SettingError
from edge.frame_detections import Detections
from edge.selection.core import ABSTAIN, Candidate, KeptHistory, Vote
from edge.tracking.events import TrackEventKind


def _check_priority(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise SettingError(name, value, "a priority in [0, 1]")


def _check_score(name: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise SettingError(name, value, "a detection score in [0, 1]")


class TrackEventPolicy:
    """Keep the frames where tracked objects appear and where they are gone for good.

    * ``track_start``: the frame shows a confirmed track that no kept frame has shown yet. That
      is first the frame of the track's ``confirmed`` event (when its boxes start carrying its
      id); if that frame is vetoed (minimum gap, budget, blur) the trigger stays armed for as
      long as the object is visible, so a short-lived object is still caught a moment later.
      Priority ``1 - (1 - start_priority) / n`` for ``n`` new tracks: a frame introducing
      several objects at once is worth more.
    * ``track_end``: a confirmed track's ``ended`` event (the tracker gave up on it after its
      lost-track buffer): the frame shows the scene after the object left. ``end_priority`` is
      low; such frames mostly add background examples.

    ``on_start`` / ``on_end`` turn each trigger off. Without a tracker there are no ids or events
    and the policy never fires.
    """

    def __init__(self, on_start: bool = True, on_end: bool = True, start_priority: float = 0.8, end_priority: float = 0.4):
        _check_priority("start_priority", start_priority)
        _check_priority("end_priority", end_priority)
        self.on_start = bool(on_start)
        self.on_end = bool(on_end)
        self.start_priority = float(start_priority)
        self.end_priority = float(end_priority)

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        new = len(candidate.track_ids - history.shown_track_ids) if self.on_start else 0
        signals = (("new_tracks", float(new)),)
        if new:
            return Vote.keep("track_start", 1.0 - (1.0 - self.start_priority) / new, signals)
        if self.on_end and any(e.kind is TrackEventKind.ENDED and e.confirmed for e in candidate.track_events):
            return Vote.keep("track_end", self.end_priority, signals)
        return Vote.abstain(signals)


class ClassRarityPolicy:
    """Keep frames showing a class never kept before (``new_class``) or rarely kept (``rare_class``).

    * ``min_score``: only detections at or above it count. Lowering it lets one-frame false
      positives of odd classes through (each is a ``new_class`` once); raising it waits until the
      detector is sure.
    * ``rare_fraction``: a class is rare while fewer than this share of the recently kept frames
      (the history's 64) show it. Raising it favours minority classes longer (a balanced
      dataset, at the cost of many frames of the same rare object); lowering it stops after a
      frame or two.
    * ``on_new`` / ``on_rare`` turn each trigger off; ``new_priority`` sits near the top because a
      class the dataset has never seen is the most valuable thing to label.
    """

    def __init__(self, min_score: float = 0.5, on_new: bool = True, on_rare: bool = True, rare_fraction: float = 0.05,
                 new_priority: float = 0.9, rare_priority: float = 0.7):
        _check_score("min_score", min_score)
        if not 0 < rare_fraction < 1:
            raise SettingError("rare_fraction", rare_fraction, "a fraction of the kept frames in (0, 1)")
        _check_priority("new_priority", new_priority)
        _check_priority("rare_priority", rare_priority)
        self.min_score = float(min_score)
        self.on_new = bool(on_new)
        self.on_rare = bool(on_rare)
        self.rare_fraction = float(rare_fraction)
        self.new_priority = float(new_priority)
        self.rare_priority = float(rare_priority)

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        detections = candidate.detections
        if not len(detections) or not len(history):
            return ABSTAIN
        classes = {int(c) for c in detections.class_id[detections.confidence >= self.min_score]}
        if self.on_new and classes - history.seen_classes:
            return Vote.keep("new_class", self.new_priority)
        if self.on_rare:
            shown = len(history)
            if any(history.class_frames[c] < self.rare_fraction * shown for c in classes):
                return Vote.keep("rare_class", self.rare_priority)
        return ABSTAIN


class UncertaintyPolicy:
    """Keep frames with detections whose score falls in the band ``[low, high)`` (reason ``uncertain``).

    Boxes the detector barely accepts are where it is most often wrong, and a reviewer's
    correction there teaches the most. The band sits just above the detector's score
    threshold (which hides what lies below it): with ``--score-threshold 0.3`` the default band
    is 0.3-0.45; run the detector lower to centre the band on its threshold.

    A box that a recently kept frame (the last four) already shows at the same place
    (IoU >= ``same_box_iou``, same class) does not count: a parked bicycle scored 0.35 all day
    would otherwise be sent at every minimum gap.

    * ``low`` / ``high``: widening the band sends more frames (and more confident boxes).
    * ``min_boxes``: how many such boxes a frame needs; raising it keeps only frames where the
      detector hesitates on several objects.
    * ``same_box_iou``: lowering it treats a slowly moving uncertain object as the same one for
      longer (fewer frames of it).
    """

    RECENT_KEPT = 4

    def __init__(self, low: float = 0.3, high: float = 0.45, min_boxes: int = 1, same_box_iou: float = 0.5,
                 priority: float = 0.45):
        _check_score("low", low)
        if not low < high <= 1:
            raise SettingError("high", high, f"a detection score in (low ({low}), 1]")
        if isinstance(min_boxes, bool) or not isinstance(min_boxes, int) or min_boxes < 1:
            raise SettingError("min_boxes", min_boxes, "an integer >= 1")
        if not 0 < same_box_iou <= 1:
            raise SettingError("same_box_iou", same_box_iou, "an overlap (IoU) in (0, 1]")
        _check_priority("priority", priority)
        self.low = float(low)
        self.high = float(high)
        self.min_boxes = min_boxes
        self.same_box_iou = float(same_box_iou)
        self.priority = float(priority)
        self._shown: tuple = ((0, -1), None, None)
        """(history id, kept count) -> the boxes and classes of the recent kept frames, concatenated."""

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        detections = candidate.detections
        in_band = (detections.confidence >= self.low) & (detections.confidence < self.high)
        if not in_band.any():  # most frames: no box to match against the kept ones
            return Vote.abstain(_NO_UNCERTAIN)
        count = int(np.count_nonzero(in_band))
        if self._shown[0] != (id(history), history.total):  # the kept boxes change only on a keep
            recent = [kept.detections for kept in history.recent(self.RECENT_KEPT) if len(kept.detections)]
            self._shown = ((id(history), history.total), np.concatenate([d.xyxy for d in recent]) if recent else None,
                           np.concatenate([d.class_id for d in recent]) if recent else None)
        _, shown_xyxy, shown_class = self._shown
        if shown_xyxy is not None:  # one IoU against the boxes of all of them: matching any one of them is enough
            iou = iou_xyxy(detections.xyxy[in_band], shown_xyxy)
            same_class = detections.class_id[in_band][:, None] == shown_class[None, :]
            count -= int(np.count_nonzero(np.any((iou >= self.same_box_iou) & same_class, axis=1)))
        signals = (("uncertain_boxes", float(count)),)
        if count >= self.min_boxes:
            return Vote.keep("uncertain", self.priority, signals)
        return Vote.abstain(signals)


_NO_UNCERTAIN = (("uncertain_boxes", 0.0),)


class ObjectCountPolicy:
    """Keep a frame when the number of objects per class changed and held (reason ``count_change``).

    The count is per class, of boxes scored at least ``min_score``; the change is the sum over
    classes of the difference with the last kept frame. It must have held for the last
    ``stable_frames`` frames, so a detection flickering around the threshold does not fire.

    * ``min_change``: raising it ignores one object coming or going in a crowd.
    * ``stable_frames``: raising it ignores brief changes (an occlusion) but fires later.
    * ``min_score``: counting only confident boxes makes counts steadier.
    """

    def __init__(self, min_score: float = 0.5, min_change: int = 1, stable_frames: int = 5, priority: float = 0.5):
        _check_score("min_score", min_score)
        if isinstance(min_change, bool) or not isinstance(min_change, int) or min_change < 1:
            raise SettingError("min_change", min_change, "an integer >= 1")
        if isinstance(stable_frames, bool) or not isinstance(stable_frames, int) or not 1 <= stable_frames <= 1000:
            raise SettingError("stable_frames", stable_frames, "an integer number of frames in 1..1000")
        _check_priority("priority", priority)
        self.min_score = float(min_score)
        self.min_change = min_change
        self.priority = float(priority)
        self._recent: deque[dict[int, int]] = deque(maxlen=stable_frames)
        self._kept_counts: tuple[int, dict[int, int]] = (-1, {})  # (frame index, counts) of the last kept frame

    def counts(self, detections: Detections) -> dict[int, int]:
        if not len(detections):
            return {}
        per_class = np.bincount(detections.class_id[detections.confidence >= self.min_score])
        return {int(c): int(per_class[c]) for c in np.flatnonzero(per_class)}

    def vote(self, candidate: Candidate, history: KeptHistory) -> Vote:
        now = self.counts(candidate.detections)
        self._recent.append(now)
        last = history.last
        if last is None or len(self._recent) < self._recent.maxlen or any(c != now for c in self._recent):
            return Vote.abstain((("objects", float(sum(now.values()))),))
        if self._kept_counts[0] != last.index:
            self._kept_counts = (last.index, self.counts(last.detections))
        before = self._kept_counts[1]
        change = sum(abs(now.get(c, 0) - before.get(c, 0)) for c in now.keys() | before.keys())
        signals = (("objects", float(sum(now.values()))), ("count_change", float(change)))
        if change >= self.min_change:
            return Vote.keep("count_change", self.priority, signals)
        return Vote.abstain(signals)
