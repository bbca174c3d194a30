"""Multi-object tracking metrics against MOTChallenge ground truth: CLEAR-MOT, identity and HOTA.

Pure numpy and scipy. The definitions and tie rules follow TrackEval (Luiten et al.), the code
behind the MOTChallenge leaderboards, for the MOT15 protocol: ground-truth rows flagged 0 in
the seventh column are ignored, nothing else is filtered (the MOT16/17/20 distractor rules are
not applied). Boxes match at ``IoU >= 0.5`` for CLEAR and identity metrics.

* CLEAR-MOT (Bernardin & Stiefelhagen 2008): per frame, a one-to-one matching that keeps last
  frame's pairs when they still overlap enough; ``MOTA = 1 - (FN + FP + IDSW) / GT``; an id
  switch is a ground-truth object matched to another id than the last time it was matched.
* Identity (Ristani et al. 2016): one global matching of ground-truth ids to result ids that
  maximises the frames they agree on; ``IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN)``.
* HOTA (Luiten et al. 2021): the geometric mean of detection and association accuracy,
  averaged over IoU thresholds 0.05 ... 0.95.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.contract.boxes import iou_xyxy, xywh_to_xyxy
from edge.contract.motfile import MotRows

MATCH_IOU = 0.5
HOTA_THRESHOLDS = np.arange(0.05, 0.99, 0.05)
_EPS = np.finfo(float).eps  # TrackEval compares thresholds with this tolerance; so do we, to agree exactly
_CONTINUITY_BONUS = 1000.0  # dominates any IoU: keeping last frame's pair beats a better overlap


@dataclass(frozen=True)
class MotMetrics:
    mota: float
    motp: float
    """Mean IoU of the matched pairs."""
    idf1: float
    idp: float
    idr: float
    hota: float
    deta: float
    assa: float
    loca: float
    true_positives: int
    false_positives: int
    false_negatives: int
    id_switches: int
    fragmentations: int
    mostly_tracked: int
    partially_tracked: int
    mostly_lost: int
    idtp: int
    idfp: int
    idfn: int
    gt_boxes: int
    result_boxes: int
    gt_ids: int
    result_ids: int
    frames: int

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _Frame:
    gt_ids: np.ndarray
    """(G_t,) dense ground-truth ids 0..num_gt_ids-1."""
    result_ids: np.ndarray
    similarity: np.ndarray
    """(G_t, R_t) IoU."""


def evaluate_mot(gt: MotRows, results: MotRows) -> MotMetrics:
    """All metrics of ``results`` against ``gt`` over the frames either of them mentions."""
    gt = gt[gt.score != 0]  # MOT15: a 0 in the 'consider' column marks a box nobody should be scored on
    frames, num_gt_ids, num_result_ids = _frames(gt, results)
    clear = _clear(frames, num_gt_ids)
    identity = _identity(frames, num_gt_ids, num_result_ids)
    hota = _hota(frames, num_gt_ids, num_result_ids)
    return MotMetrics(
        **clear,
        **identity,
        **hota,
        gt_boxes=len(gt),
        result_boxes=len(results),
        gt_ids=num_gt_ids,
        result_ids=num_result_ids,
        frames=len(frames),
    )


def _frames(gt: MotRows, results: MotRows) -> tuple[list[_Frame], int, int]:
    _, gt_dense = np.unique(gt.track_id, return_inverse=True)
    _, result_dense = np.unique(results.track_id, return_inverse=True)
    gt_xyxy = xywh_to_xyxy(gt.tlwh)
    result_xyxy = xywh_to_xyxy(results.tlwh)
    frames = []
    for number in np.union1d(gt.frame, results.frame):
        in_gt = gt.frame == number
        in_results = results.frame == number
        similarity = iou_xyxy(gt_xyxy[in_gt], result_xyxy[in_results])
        frames.append(_Frame(gt_dense[in_gt], result_dense[in_results], similarity))
    num_gt_ids = int(gt_dense.max()) + 1 if len(gt) else 0
    num_result_ids = int(result_dense.max()) + 1 if len(results) else 0
    return frames, num_gt_ids, num_result_ids


def _clear(frames: list[_Frame], num_gt_ids: int) -> dict:
    tp = fp = fn = switches = 0
    iou_sum = 0.0
    last_matched = np.full(num_gt_ids, -1)  # result id each object was last matched to, ever
    previous_frame = np.full(num_gt_ids, -1)  # result id it was matched to in the previous frame
    frames_present = np.zeros(num_gt_ids)
    frames_matched = np.zeros(num_gt_ids)
    fragments = np.zeros(num_gt_ids)
    for frame in frames:
        gt_ids, result_ids, similarity = frame.gt_ids, frame.result_ids, frame.similarity
        frames_present[gt_ids] += 1
        if len(gt_ids) == 0 or len(result_ids) == 0:
            # TrackEval keeps the previous frame's pairs across such a frame; so do we, to agree.
            fp += len(result_ids)
            fn += len(gt_ids)
            continue
        continuing = (result_ids[None, :] == previous_frame[gt_ids][:, None]) & (previous_frame[gt_ids][:, None] >= 0)
        score = _CONTINUITY_BONUS * continuing + similarity
        score[similarity < MATCH_IOU - _EPS] = 0
        rows, cols = linear_sum_assignment(-score)
        keep = score[rows, cols] > _EPS
        rows, cols = rows[keep], cols[keep]
        matched_gt, matched_result = gt_ids[rows], result_ids[cols]
        before = last_matched[matched_gt]
        switches += int(np.sum((before >= 0) & (before != matched_result)))
        frames_matched[matched_gt] += 1
        was_tracked = previous_frame >= 0
        last_matched[matched_gt] = matched_result
        previous_frame[:] = -1
        previous_frame[matched_gt] = matched_result
        fragments += ~was_tracked & (previous_frame >= 0)
        tp += len(rows)
        fn += len(gt_ids) - len(rows)
        fp += len(result_ids) - len(rows)
        iou_sum += float(similarity[rows, cols].sum())
    present = frames_present > 0
    tracked_ratio = frames_matched[present] / frames_present[present]
    mostly_tracked = int(np.sum(tracked_ratio > 0.8))
    partially_tracked = int(np.sum(tracked_ratio >= 0.2)) - mostly_tracked
    return {
        "mota": (tp - fp - switches) / max(1, tp + fn),
        "motp": iou_sum / max(1, tp),
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "id_switches": switches,
        # A track of an object that starts again after a gap; the first start is not a fragment.
        "fragmentations": int(np.sum(fragments[fragments > 0] - 1)),
        "mostly_tracked": mostly_tracked,
        "partially_tracked": partially_tracked,
        "mostly_lost": num_gt_ids - mostly_tracked - partially_tracked,
    }


def _identity(frames: list[_Frame], num_gt_ids: int, num_result_ids: int) -> dict:
    agreeing = np.zeros((num_gt_ids, num_result_ids))
    gt_boxes = result_boxes = 0
    for frame in frames:
        gt_boxes += len(frame.gt_ids)
        result_boxes += len(frame.result_ids)
        rows, cols = np.nonzero(frame.similarity >= MATCH_IOU)  # no tolerance here in TrackEval
        np.add.at(agreeing, (frame.gt_ids[rows], frame.result_ids[cols]), 1)
    # Pairing an object with a result id costs (its boxes + the id's boxes - 2 x agreeing frames) in
    # IDFN + IDFP, leaving both unpaired costs the sum, so the best pairing maximises the agreement.
    rows, cols = linear_sum_assignment(-agreeing) if agreeing.size else (np.zeros(0, int), np.zeros(0, int))
    idtp = int(agreeing[rows, cols].sum())
    idfn, idfp = gt_boxes - idtp, result_boxes - idtp
    return {
        "idf1": idtp / max(1, idtp + 0.5 * idfp + 0.5 * idfn),
        "idp": idtp / max(1, idtp + idfp),
        "idr": idtp / max(1, idtp + idfn),
        "idtp": idtp,
        "idfp": idfp,
        "idfn": idfn,
    }


def _hota(frames: list[_Frame], num_gt_ids: int, num_result_ids: int) -> dict:
    # Global alignment: how much each (object, id) pair overlaps over the whole sequence, with each
    # frame's IoU normalised by the competing overlaps in its row and column.
    overlap = np.zeros((num_gt_ids, num_result_ids))
    gt_count = np.zeros((num_gt_ids, 1))
    result_count = np.zeros((1, num_result_ids))
    for frame in frames:
        similarity = frame.similarity
        denominator = similarity.sum(0)[None, :] + similarity.sum(1)[:, None] - similarity
        normalised = np.zeros_like(similarity)
        positive = denominator > _EPS
        normalised[positive] = similarity[positive] / denominator[positive]
        overlap[frame.gt_ids[:, None], frame.result_ids[None, :]] += normalised
        gt_count[frame.gt_ids] += 1
        result_count[0, frame.result_ids] += 1
    alignment = overlap / np.maximum(gt_count + result_count - overlap, _EPS)

    n = len(HOTA_THRESHOLDS)
    tp, fn, fp, loc = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
    pair_matches = np.zeros((n, num_gt_ids, num_result_ids))
    for frame in frames:
        gt_ids, result_ids, similarity = frame.gt_ids, frame.result_ids, frame.similarity
        if len(gt_ids) == 0 or len(result_ids) == 0:
            fp += len(result_ids)
            fn += len(gt_ids)
            continue
        score = alignment[gt_ids[:, None], result_ids[None, :]] * similarity
        rows, cols = linear_sum_assignment(-score)
        for a, threshold in enumerate(HOTA_THRESHOLDS):
            keep = similarity[rows, cols] >= threshold - _EPS
            r, c = rows[keep], cols[keep]
            tp[a] += len(r)
            fn[a] += len(gt_ids) - len(r)
            fp[a] += len(result_ids) - len(r)
            loc[a] += similarity[r, c].sum()
            np.add.at(pair_matches[a], (gt_ids[r], result_ids[c]), 1)
    assa = np.zeros(n)
    for a in range(n):
        matches = pair_matches[a]
        pair_accuracy = matches / np.maximum(1, gt_count + result_count - matches)
        assa[a] = np.sum(matches * pair_accuracy) / max(1, tp[a])
    deta = tp / np.maximum(1, tp + fn + fp)
    loca = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    hota = np.sqrt(deta * assa)
    return {"hota": float(hota.mean()), "deta": float(deta.mean()), "assa": float(assa.mean()), "loca": float(loca.mean())}
