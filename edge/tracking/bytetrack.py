"""A ByteTrack-style multi-object tracker in numpy (Zhang et al., ECCV 2022).

One update, given the detections of a frame and the number of frames since the last update:

1. predict every track that many frames ahead (Kalman filter over ``cxcywh`` boxes);
2. match confident detections to the tracks matched at the last update, then the confident
   detections left to lost tracks (IoU, optionally weighted by score);
3. match the weak detections to the tracked ones still unmatched, at a stricter overlap: a weak
   box on top of a predicted track is usually the same object half hidden, while on its own
   it is usually noise (ByteTrack's central idea);
4. match the remaining confident detections to tentative tracks;
5. tracks left unmatched are lost (confirmed ones) or ended (tentative ones); lost tracks whose
   buffer ran out are ended;
6. confident detections nobody took start tentative tracks.

Every pair must be of the same class. Ids are owned by the tracker instance (1, 2, 3, ... in
order of start), so two trackers, one per camera, never share or skip ids because of each other.

Frames without detection: pass ``None`` with the number of frames since the last update to get
the predicted boxes of the tracked objects; the tracker does not change. The next real update
is then given the full gap, so the motion model steps over it in one go (see
:meth:`BoxKalmanFilter.predict`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.config import TrackerDefaults
from edge.contract.boxes import xyxy_to_cxcywh
from edge.contract.errors import ConfigError
from edge.contract.wire import NO_TRACK
from edge.frame_detections import Detections
from edge.tracking.association import Matches, iou_cost, match, weight_by_score
from edge.tracking.events import TrackEvent, TrackEventKind
from edge.tracking.kalman import BoxKalmanFilter
from edge.tracking.tracks import TrackStatus, TrackTable

_SIZE_VELOCITY = [6, 7]  # dw/dt and dh/dt in the Kalman state
# Plain ints: comparing arrays with IntEnum members goes through enum lookups on every access.
_TENTATIVE, _TRACKED, _LOST = int(TrackStatus.TENTATIVE), int(TrackStatus.TRACKED), int(TrackStatus.LOST)


@dataclass(frozen=True)
class TrackUpdate:
    detections: Detections
    """After a detection update: every detection given, in the same order, with the id of the
    confirmed track that took it (``NO_TRACK`` for the rest: weak boxes nobody took, and new or
    tentative tracks). After a prediction (``None`` given): the predicted boxes of the tracks
    matched at the last update, with their ids and last scores."""
    events: tuple[TrackEvent, ...] = ()

    @property
    def tracked(self) -> Detections:
        """Only the boxes that carry a track id."""
        return self.detections[self.detections.tracker_id != NO_TRACK]


class ByteTracker:
    """Tracks detections across frames (see the module docstring for the steps).

    Args:
        high_score_threshold: detections at or above it take part in the first association
            and may start tracks; those below (down to ``low_score_threshold``) can only keep
            an existing track alive. Raising it makes the first stage cleaner but leaves more
            real objects to the stricter second stage; lowering it lets weak false positives
            steal tracks.
        low_score_threshold: detections below it are ignored. Lowering it bridges deeper
            occlusions but matches more background to tracks; it is only useful if the
            detector is run with a score threshold at or below it.
        new_track_score_threshold: a detection no track took starts a track only at or above
            this score. Raising it gives fewer false tracks (and fewer ids wasted on flickers);
            lowering it picks up objects sooner, and weakly detected ones at all.
        min_iou_high_score: least overlap (IoU, times the score when ``weight_iou_by_score``)
            between a predicted track and a confident detection to match them. Lowering it
            follows fast or erratically moving objects and bridges longer gaps between
            detections; raising it avoids swapping ids between objects that pass close by.
        min_iou_low_score: least IoU between a tracked object and a weak detection. Kept high
            because weak boxes are only trusted where the track is expected to be.
        min_iou_tentative: least overlap between a tentative track (seen once) and a confident
            detection; a tentative track has no velocity yet, so its prediction is just its box.
        updates_to_confirm: consecutive matched updates before a track is confirmed and its
            boxes carry its id. Raising it suppresses tracks of flickering false positives but
            delays (and, with a strict detector, loses) the first frames of every object.
            Tracks started on the tracker's first update are confirmed at once (ByteTrack's
            rule): they have nothing to be confused with.
        lost_track_buffer_frames: how many frames a confirmed track is kept after its last
            match, predicted and waiting to be matched again. Raising it carries ids through
            longer occlusions, at the risk of a stale track grabbing another object that walks
            into its predicted place; lowering it gives a new id after short occlusions. Count
            it in source frames (30 is one second at 30 fps), whatever ``--detect-every`` is.
        duplicate_iou: a current track and a lost one that overlap at least this much are the
            same object twice; the one matched over the shorter span is ended.
        weight_iou_by_score: rank first-stage candidates by ``IoU x score`` instead of IoU, so
            of two overlapping boxes the confident one wins the track.
        kalman_filter: the motion model (default :class:`BoxKalmanFilter` with its defaults).
        first_track_id: the id of the first track. An agent passes one above every id its
            earlier runs sent (see :attr:`edge.spool.Spool.next_track_id`): the collector knows a
            track as (device, track id), so a restarted agent counting from 1 again would merge
            its new objects into old tracks.
    """

    def __init__(
        self,
        *,
        high_score_threshold: float = 0.5,
        low_score_threshold: float = TrackerDefaults.low_score_threshold,
        new_track_score_threshold: float = 0.7,
        min_iou_high_score: float = 0.2,
        min_iou_low_score: float = 0.5,
        min_iou_tentative: float = 0.3,
        updates_to_confirm: int = 2,
        lost_track_buffer_frames: int = TrackerDefaults.lost_track_buffer_frames,
        duplicate_iou: float = 0.85,
        weight_iou_by_score: bool = True,
        kalman_filter: BoxKalmanFilter | None = None,
        first_track_id: int = 1,
    ):
        for name, value in (
            ("high_score_threshold", high_score_threshold),
            ("low_score_threshold", low_score_threshold),
            ("new_track_score_threshold", new_track_score_threshold),
        ):
            _check_fraction(name, value, allow_zero=True)
        if low_score_threshold > high_score_threshold:
            raise ConfigError(
                f"low_score_threshold: expected at most high_score_threshold ({high_score_threshold}), "
                f"got {low_score_threshold}"
            )
        for name, value in (
            ("min_iou_high_score", min_iou_high_score),
            ("min_iou_low_score", min_iou_low_score),
            ("min_iou_tentative", min_iou_tentative),
            ("duplicate_iou", duplicate_iou),
        ):
            _check_fraction(name, value, allow_zero=False)
        if isinstance(updates_to_confirm, bool) or not isinstance(updates_to_confirm, int) or updates_to_confirm < 1:
            raise ConfigError(f"updates_to_confirm: expected an integer >= 1, got {updates_to_confirm!r}")
        if (
            isinstance(lost_track_buffer_frames, bool)
            or not isinstance(lost_track_buffer_frames, int)
            or lost_track_buffer_frames < 0
        ):
            raise ConfigError(f"lost_track_buffer_frames: expected an integer >= 0, got {lost_track_buffer_frames!r}")
        if isinstance(first_track_id, bool) or not isinstance(first_track_id, int) or first_track_id < 1:
            raise ConfigError(f"first_track_id: expected an integer >= 1, got {first_track_id!r}")
        self.high_score_threshold = float(high_score_threshold)
        self.low_score_threshold = float(low_score_threshold)
        self.new_track_score_threshold = float(new_track_score_threshold)
        self.min_iou_high_score = float(min_iou_high_score)
        self.min_iou_low_score = float(min_iou_low_score)
        self.min_iou_tentative = float(min_iou_tentative)
        self.updates_to_confirm = updates_to_confirm
        self.lost_track_buffer_frames = lost_track_buffer_frames
        self.duplicate_iou = float(duplicate_iou)
        self.weight_iou_by_score = bool(weight_iou_by_score)
        self.kalman_filter = kalman_filter or BoxKalmanFilter()
        self._tracks = TrackTable.empty()
        self._next_track_id = first_track_id
        self._updates = 0

    @property
    def tracks(self) -> TrackTable:
        """The current tracks (tentative, tracked and lost); read-only by convention."""
        return self._tracks

    def update(self, detections: Detections | None, frames_since_last_update: int = 1) -> TrackUpdate:
        """Advance by ``frames_since_last_update`` frames and take in ``detections``.

        ``None`` means the detector did not run on this frame: the result holds the predicted
        boxes and nothing changes, so call it with the frames since the last real update (not
        since the last prediction).
        """
        if isinstance(frames_since_last_update, bool) or not isinstance(frames_since_last_update, (int, np.integer)):
            raise ValueError(f"frames_since_last_update: expected an integer, got {frames_since_last_update!r}")
        if frames_since_last_update < 1:
            raise ValueError(f"frames_since_last_update: expected >= 1, got {frames_since_last_update}")
        frames = int(frames_since_last_update)
        if detections is None:
            return TrackUpdate(self._predicted(frames))
        if not np.isfinite(detections.xyxy).all() or not np.isfinite(detections.confidence).all():
            raise ValueError("detections: expected finite boxes and scores, got NaN or infinity")
        first_update = self._updates == 0
        self._updates += 1
        tracks = self._predict_all(frames)
        predicted_xyxy = tracks.xyxy
        cost = iou_cost(predicted_xyxy, tracks.class_id, detections.xyxy, detections.class_id)
        track_of_detection = self._associate(tracks, cost, detections.confidence)

        events: list[TrackEvent] = []
        taken = _where(track_of_detection >= 0)
        self._correct(tracks, track_of_detection[taken], detections, taken, events)
        missed = np.ones(len(tracks), bool)
        missed[track_of_detection[taken]] = False
        dropped = self._mark_missed(tracks, missed, predicted_xyxy, events)

        confidence = detections.confidence
        starts = _where(
            (track_of_detection < 0)
            & (confidence >= self.high_score_threshold)
            & (confidence >= self.new_track_score_threshold)
        )
        if len(starts):
            track_of_detection[starts] = len(tracks) + np.arange(len(starts))
            tracks = tracks.concatenate(self._start(detections, starts, confirmed=first_update, events=events))
            dropped = np.concatenate([dropped, np.zeros(len(starts), bool)])
        self._drop_duplicates(tracks, cost, track_of_detection, detections.xyxy, dropped, events)

        tracker_id = np.full(len(detections), NO_TRACK, np.int64)
        with_track = _where(track_of_detection >= 0)
        rows = track_of_detection[with_track]
        shown = (tracks.status[rows] == _TRACKED) & ~dropped[rows]
        tracker_id[with_track[shown]] = tracks.track_id[rows[shown]]
        self._tracks = tracks.select(~dropped) if dropped.any() else tracks
        result = Detections(detections.xyxy, confidence, detections.class_id, tracker_id)
        return TrackUpdate(result, tuple(events))

    def _predict_all(self, frames: int) -> TrackTable:
        tracks = self._tracks.copy()  # the tracker's state changes only when the update completes
        mean = tracks.mean.copy()
        # A lost object is usually hidden, not shrinking or growing: do not extrapolate its size.
        lost = _where(tracks.status == _LOST)
        mean[lost[:, None], _SIZE_VELOCITY] = 0.0
        tracks.mean, tracks.covariance = self.kalman_filter.predict(mean, tracks.covariance, frames)
        tracks.frames_since_match = tracks.frames_since_match + frames
        tracks.age_frames = tracks.age_frames + frames
        return tracks

    def _associate(self, tracks: TrackTable, cost: np.ndarray, score: np.ndarray) -> np.ndarray:
        """For each detection, the row of the track it matched, or -1 (the ByteTrack stages).

        ``cost`` is ``1 - IoU`` of every predicted track against every detection; each stage
        solves its block of it.
        """
        matched_track = np.full(len(score), -1, np.int64)
        confident_cost = weight_by_score(cost, score) if self.weight_iou_by_score else cost
        high = _where(score >= self.high_score_threshold)
        low = _where((score < self.high_score_threshold) & (score >= self.low_score_threshold))
        status = tracks.status

        def stage(rows: np.ndarray, cols: np.ndarray, costs: np.ndarray, min_iou: float) -> Matches:
            found = match(costs[rows][:, cols], 1.0 - min_iou)
            matched_track[cols[found.cols]] = rows[found.rows]
            return found

        # Tracked before lost (DeepSORT's matching cascade, which ByteTrack folds into one stage):
        # a track matched at the last update predicts better than one lost for a while, so a lost
        # track only gets the confident boxes that no tracked one can use.
        tracked = _where(status == _TRACKED)
        first = stage(tracked, high, confident_cost, self.min_iou_high_score)
        remaining_high = high[first.unmatched_cols]
        recovery = stage(_where(status == _LOST), remaining_high, confident_cost, self.min_iou_high_score)
        remaining_high = remaining_high[recovery.unmatched_cols]
        # Weak boxes only for tracks that were still tracked: a lost track's prediction is too
        # uncertain to trust a box the detector itself doubts.
        stage(tracked[first.unmatched_rows], low, cost, self.min_iou_low_score)
        stage(_where(status == _TENTATIVE), remaining_high, confident_cost, self.min_iou_tentative)
        return matched_track

    def _correct(
        self, tracks: TrackTable, rows: np.ndarray, detections: Detections, columns: np.ndarray, events: list
    ) -> None:
        """Kalman-correct the matched tracks and move them on in their lifecycle."""
        if len(rows) == 0:
            return
        xyxy = detections.xyxy[columns]
        tracks.mean[rows], tracks.covariance[rows] = self.kalman_filter.update(
            tracks.mean[rows], tracks.covariance[rows], xyxy_to_cxcywh(xyxy)
        )
        tracks.score[rows] = detections.confidence[columns]
        tracks.frames_since_match[rows] = 0
        tracks.hits[rows] += 1
        previous = tracks.status[rows].copy()
        confirming = (previous == _TENTATIVE) & (tracks.hits[rows] >= self.updates_to_confirm)
        recovering = previous == _LOST
        promoted = rows[(previous != _TENTATIVE) | confirming]
        tracks.status[promoted] = _TRACKED
        tracks.confirmed[promoted] = True
        for kind, mask in ((TrackEventKind.CONFIRMED, confirming), (TrackEventKind.RECOVERED, recovering)):
            for row, box in zip(rows[mask], xyxy[mask]):
                events.append(_event(kind, tracks, row, box))

    def _mark_missed(
        self, tracks: TrackTable, missed: np.ndarray, predicted_xyxy: np.ndarray, events: list
    ) -> np.ndarray:
        """Lose or end the tracks without a match; returns the rows to drop."""
        newly_lost = missed & (tracks.status == _TRACKED)
        tracks.status[newly_lost] = _LOST
        tracks.hits[missed] = 0
        expired = missed & (tracks.status == _LOST) & (tracks.frames_since_match > self.lost_track_buffer_frames)
        never_confirmed = missed & (tracks.status == _TENTATIVE)
        for row in _where(newly_lost & ~expired):
            events.append(_event(TrackEventKind.LOST, tracks, row, predicted_xyxy[row]))
        dropped = expired | never_confirmed
        for row in _where(dropped):
            events.append(_event(TrackEventKind.ENDED, tracks, row, predicted_xyxy[row]))
        return dropped

    def _start(self, detections: Detections, columns: np.ndarray, confirmed: bool, events: list) -> TrackTable:
        count = len(columns)
        xyxy = detections.xyxy[columns]
        mean, covariance = self.kalman_filter.initiate(xyxy_to_cxcywh(xyxy))
        status = _TRACKED if confirmed else _TENTATIVE
        started = TrackTable(
            track_id=np.arange(self._next_track_id, self._next_track_id + count, dtype=np.int64),
            class_id=detections.class_id[columns].astype(np.int64),
            status=np.full(count, status, np.int8),
            confirmed=np.full(count, confirmed),
            score=detections.confidence[columns].astype(np.float32),
            hits=np.ones(count, np.int64),
            frames_since_match=np.zeros(count, np.int64),
            age_frames=np.zeros(count, np.int64),
            mean=mean,
            covariance=covariance,
        )
        self._next_track_id += count
        for row, box in enumerate(xyxy):
            events.append(_event(TrackEventKind.STARTED, started, row, box))
            if confirmed:
                events.append(_event(TrackEventKind.CONFIRMED, started, row, box))
        return started

    def _drop_duplicates(
        self,
        tracks: TrackTable,
        cost: np.ndarray,
        track_of_detection: np.ndarray,
        detection_xyxy: np.ndarray,
        dropped: np.ndarray,
        events: list,
    ) -> None:
        """Mark in ``dropped`` one of each lost track and current track that are the same object.

        Every current track took a detection at this update, so "the same object" is a lost
        track whose prediction overlaps that detection by ``duplicate_iou`` (read from the cost
        matrix of the association instead of comparing boxes again), and only if the current
        track started after the lost one was last seen: two tracks matched at the same time are
        two objects (unlike ByteTrack's rule, which ends a track hidden behind the person it
        crosses). The track matched over the shorter span goes.
        """
        lost = _where((tracks.status[: len(cost)] == _LOST) & ~dropped[: len(cost)])
        taken = _where(track_of_detection >= 0)
        if len(lost) == 0 or len(taken) == 0:
            return
        overlapping = cost[lost][:, taken] <= 1.0 - self.duplicate_iou  # FORBIDDEN across classes
        current = track_of_detection[taken]
        overlapping &= tracks.age_frames[current][None, :] < tracks.frames_since_match[lost][:, None]
        if not overlapping.any():
            return
        matched_span = tracks.age_frames - tracks.frames_since_match
        for i, j in zip(*overlapping.nonzero()):
            lost_row, column = lost[i], taken[j]
            current_row = track_of_detection[column]
            if matched_span[current_row] > matched_span[lost_row]:
                loser, box = lost_row, tracks.xyxy[lost_row]
            else:
                loser, box = current_row, detection_xyxy[column]
            if not dropped[loser]:
                dropped[loser] = True
                events.append(_event(TrackEventKind.ENDED, tracks, loser, box))

    def _predicted(self, frames: int) -> Detections:
        tracked = self._tracks.select(self._tracks.status == _TRACKED)
        mean, _ = self.kalman_filter.predict(tracked.mean, tracked.covariance, frames)
        tracked.mean = mean
        return Detections(
            tracked.xyxy.astype(np.float32), tracked.score.astype(np.float32), tracked.class_id, tracked.track_id
        )


def _event(kind: TrackEventKind, tracks: TrackTable, row: int, xyxy) -> TrackEvent:
    return TrackEvent(
        kind=kind,
        track_id=int(tracks.track_id[row]),
        class_id=int(tracks.class_id[row]),
        xyxy=tuple(float(v) for v in xyxy),
        score=float(tracks.score[row]),
        age_frames=int(tracks.age_frames[row]),
        confirmed=bool(tracks.confirmed[row]),
    )


def _check_fraction(name: str, value: float, allow_zero: bool) -> None:
    low_ok = value >= 0 if allow_zero else value > 0
    if not (isinstance(value, (int, float)) and np.isfinite(value) and low_ok and value <= 1):
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ConfigError(f"{name}: expected a number in {bound}, got {value!r}")


def _where(mask: np.ndarray) -> np.ndarray:
    """Indices of the true entries of a 1-D mask (``np.flatnonzero`` without its ravel, which shows in profiles)."""
    return mask.nonzero()[0]
