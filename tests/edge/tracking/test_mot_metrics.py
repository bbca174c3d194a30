"""MOT metrics: hand-computable cases, TrackEval's numbers on a real tracker output, MOT file parsing."""

import io
import json
from pathlib import Path

import numpy as np
import pytest

from edge.contract.motfile import MotFileError, MotRows, read_mot_file, write_mot_frame
from edge.evaluation.mot import evaluate_mot
from tests.conftest import DATA_DIR

TUD_CAMPUS = DATA_DIR / "mot" / "TUD-Campus"
GT_FILE = TUD_CAMPUS / "gt" / "gt.txt"
RESULTS_FILE = DATA_DIR / "mot" / "results" / "TUD-Campus.txt"
TRACKEVAL_NUMBERS = json.loads((Path(__file__).parent / "trackeval_tud_campus.json").read_text())


def rows(*lines) -> MotRows:
    """MotRows from ``(frame, id, x, y, w, h)`` tuples, score 1."""
    table = np.asarray(lines, np.float64).reshape(-1, 6)
    return MotRows(table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2:6], np.ones(len(table)))


A, B = (0, 0, 10, 20), (100, 0, 10, 20)  # two people far apart


def test_perfect_tracking_scores_one_everywhere():
    gt = read_mot_file(GT_FILE)
    metrics = evaluate_mot(gt, gt)
    assert metrics.mota == metrics.idf1 == metrics.hota == metrics.motp == 1.0
    assert metrics.id_switches == metrics.false_positives == metrics.false_negatives == 0
    assert metrics.mostly_tracked == metrics.gt_ids == 8


def test_an_id_swap_by_hand():
    gt = rows(*[(f, 1, *A) for f in (1, 2, 3, 4)], *[(f, 2, *B) for f in (1, 2, 3, 4)])
    # The tracker swaps its ids 7 and 8 between the two people from frame 3 on.
    results = rows(*[(f, 7 if f < 3 else 8, *A) for f in (1, 2, 3, 4)],
                   *[(f, 8 if f < 3 else 7, *B) for f in (1, 2, 3, 4)])
    metrics = evaluate_mot(gt, results)
    assert metrics.id_switches == 2
    assert metrics.mota == pytest.approx(1 - 2 / 8)
    # Best id pairing agrees on 2 of 4 frames per person: IDTP 4, IDFP 4, IDFN 4.
    assert (metrics.idtp, metrics.idfp, metrics.idfn) == (4, 4, 4)
    assert metrics.idf1 == pytest.approx(0.5)
    assert metrics.false_positives == metrics.false_negatives == 0


def test_misses_false_alarms_and_a_loose_box_by_hand():
    gt = rows((1, 1, *A), (2, 1, *A), (3, 1, *A), (4, 1, *A))
    results = rows(
        (1, 5, *A),
        (2, 5, 0, 0, 10, 40),  # IoU 0.5 exactly: still a match
        (3, 5, 4, 0, 10, 20),  # IoU 6/14 = 0.43: a miss and a false alarm
        (3, 6, *B),  # a false alarm
    )  # frame 4: nothing, a miss
    metrics = evaluate_mot(gt, results)
    assert (metrics.true_positives, metrics.false_negatives, metrics.false_positives) == (2, 2, 2)
    assert metrics.mota == pytest.approx((2 - 2 - 0) / 4)
    assert metrics.motp == pytest.approx((1.0 + 0.5) / 2)
    assert metrics.idtp == 2 and metrics.idf1 == pytest.approx(2 / (2 + 0.5 * 2 + 0.5 * 2))
    assert metrics.mostly_tracked == 0 and metrics.partially_tracked == 1


def test_ground_truth_rows_flagged_zero_are_ignored():
    gt = rows((1, 1, *A), (1, 2, *B))
    gt = MotRows(gt.frame, gt.track_id, gt.tlwh, np.array([1.0, 0.0]))
    metrics = evaluate_mot(gt, rows((1, 3, *A)))
    assert metrics.gt_boxes == 1 and metrics.mota == 1.0


def test_empty_results_score_zero():
    metrics = evaluate_mot(read_mot_file(GT_FILE), rows())
    assert metrics.false_negatives == 359 and metrics.mota == 0.0 and metrics.idf1 == 0.0 and metrics.hota == 0.0


def test_the_shared_tracker_output_scores_what_trackeval_reports():
    metrics = evaluate_mot(read_mot_file(GT_FILE), read_mot_file(RESULTS_FILE)).to_json()
    for name, expected in TRACKEVAL_NUMBERS.items():
        if not name.startswith("_"):
            assert metrics[name] == pytest.approx(expected, abs=1e-6), name


def perturbed_results(gt: MotRows, seed: int) -> MotRows:
    """A plausible bad tracker: jittered boxes, dropped rows, swapped and split ids, false alarms."""
    rng = np.random.default_rng(seed)
    keep = rng.random(len(gt)) > 0.2
    frame, track_id, tlwh = gt.frame[keep], gt.track_id[keep] + 100, gt.tlwh[keep].copy()
    tlwh += rng.normal(0, 0.12, tlwh.shape) * tlwh[:, 2:4].repeat(2, axis=1)
    track_id = np.where((frame > 30) & (track_id == 101), 102, np.where((frame > 30) & (track_id == 102), 101, track_id))
    track_id = np.where((frame > 50) & (track_id == 103), 199, track_id)
    alarms = 25
    frame = np.concatenate([frame, rng.integers(1, 72, alarms)])
    track_id = np.concatenate([track_id, 300 + np.arange(alarms)])
    tlwh = np.concatenate([tlwh, np.column_stack([rng.uniform(0, 500, (alarms, 2)), rng.uniform(30, 120, (alarms, 2))])])
    return MotRows(frame, track_id, tlwh, np.ones(len(frame)))


def write_rows(path: Path, results: MotRows) -> None:
    with open(path, "w") as out:
        for f, i, box, s in zip(results.frame, results.track_id, results.tlwh, results.score):
            write_mot_frame(out, int(f), [i], [box], [s])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agreement_with_trackeval_itself_on_perturbed_tracks(tmp_path, seed):
    pytest.importorskip("trackeval", reason="cross-check against the real TrackEval; the stored numbers test runs always")
    from tests.edge.tracking.trackeval_reference import trackeval_metrics

    gt = read_mot_file(GT_FILE)
    results_file = tmp_path / "results.txt"
    write_rows(results_file, perturbed_results(gt, seed))
    ours = evaluate_mot(gt, read_mot_file(results_file)).to_json()
    theirs = trackeval_metrics(GT_FILE, results_file, TUD_CAMPUS / "seqinfo.ini", tmp_path / "trackeval")
    for name, expected in theirs.items():
        assert ours[name] == pytest.approx(expected, abs=1e-6), name


def test_results_round_trip_through_the_mot_format(tmp_path):
    out = io.StringIO()
    assert write_mot_frame(out, 3, [7, 8], [[1.0, 2.0, 30.0, 40.0], [5.5, 6.25, 7.0, 8.0]], [0.9, 0.42]) == 2
    assert out.getvalue().splitlines() == ["3,7,1.00,2.00,30.00,40.00,0.9000,-1,-1,-1",
                                           "3,8,5.50,6.25,7.00,8.00,0.4200,-1,-1,-1"]
    path = tmp_path / "r.txt"
    path.write_text(out.getvalue() + "\n")
    parsed = read_mot_file(path)
    assert list(parsed.frame) == [3, 3] and list(parsed.track_id) == [7, 8]
    np.testing.assert_allclose(parsed.tlwh[1], [5.5, 6.25, 7.0, 8.0])


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,1,0,0,10\n", "r.txt:1: expected at least 7"),
        ("1,1,0,0,10,10,1\n1,x,0,0,10,10,1\n", "r.txt:2: expected numbers"),
        ("0,1,0,0,10,10,1\n", "frame must be an integer >= 1"),
        ("1,1,0,0,nan,10,1\n", "non-finite"),
        ("1,1,0,0,10,10,1\n1,1,5,5,10,10,1\n", "id 1 appears more than once in frame 1"),
    ],
)
def test_malformed_files_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "r.txt"
    path.write_text(text)
    with pytest.raises(MotFileError, match=message):
        read_mot_file(path)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(MotFileError, match="not found"):
        read_mot_file(tmp_path / "absent.txt")
