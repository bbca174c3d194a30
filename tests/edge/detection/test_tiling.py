"""Tile plans and the merge of tile boxes (pure numpy), then sliced inference on real footage."""

import cv2
import numpy as np
import pytest

from edge.contract.boxes import iou_xyxy
from edge.contract.errors import ConfigError
from edge.contract.mean_ap import mean_average_precision
from edge.detection import Detector
from edge.detection.tiled import TiledDetector
from edge.detection.tiling import TilePlan, View, merge_views, plan_tiles
from edge.frame_detections import Detections
from edge.tile_spec import parse_tiles
from tests.conftest import DATA_DIR, MODEL_PATH

INPUT = (416, 416)
SOCCER = DATA_DIR / "videos" / "soccer_sideline_soccertrack_left_camera.mp4"
PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


@pytest.mark.parametrize(
    "frame_hw, expected",
    [
        ((1728, 3072), (2, 4)),  # the SoccerTrack sideline camera
        ((1080, 1920), (2, 3)),
        ((2160, 3840), (3, 5)),
        ((360, 480), None),  # pets09: within twice the input, detected whole
        ((576, 768), None),
    ],
)
def test_auto_picks_the_fewest_tiles_shrunk_at_most_two_and_a_half_times(frame_hw, expected):
    plan = plan_tiles("auto", frame_hw, INPUT)
    assert (plan.rows, plan.cols) == expected if expected else plan is None
    if plan:
        tiles = plan.tiles_xyxy(frame_hw)
        widths, heights = tiles[:, 2] - tiles[:, 0], tiles[:, 3] - tiles[:, 1]
        assert max(widths.max() / INPUT[1], heights.max() / INPUT[0]) <= 2.5


def test_tiles_cover_the_frame_and_overlap_by_the_share_asked():
    frame_hw = (1728, 3072)
    tiles = TilePlan(2, 4, 0.2, True).tiles_xyxy(frame_hw)
    assert len(tiles) == 8
    assert tiles[:, 0].min() == 0 and tiles[:, 1].min() == 0
    assert tiles[:, 2].max() == 3072 and tiles[:, 3].max() == 1728
    first, second = tiles[0], tiles[1]
    shared = first[2] - second[0]
    assert shared / (first[2] - first[0]) == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("text, expected", [("auto", "auto"), ("OFF", None), ("2x4", (2, 4)), ("1x1", None)])
def test_tile_specs(text, expected):
    assert parse_tiles(text) == expected


@pytest.mark.parametrize("text", ["3", "0x2", "2x17", "big"])
def test_bad_tile_specs_are_refused(text):
    with pytest.raises(ValueError, match="expected auto, off or ROWSxCOLS"):
        parse_tiles(text)
    with pytest.raises(ConfigError):
        TiledDetector(None, text)


def boxes(*rows):
    """Detections from (x1, y1, x2, y2, score, class) rows."""
    array = np.array(rows, np.float32).reshape(-1, 6)
    return Detections.from_arrays(array[:, :4], array[:, 4], array[:, 5].astype(np.int64))


FRAME = (100, 200)  # two tiles side by side: x 0..120 and 80..200


def test_an_object_on_the_seam_comes_out_whole_once():
    # A person at x 100..130: the left tile sees it cut at its right edge (x 120), the right one whole.
    left = View(boxes((100, 20, 119.5, 80, 0.9, 0)), (0, 0, 120, 100), True)
    right = View(boxes((20, 20, 50, 80, 0.8, 0)), (80, 0, 200, 100), True)  # tile pixels: +80
    merged = merge_views([left, right], FRAME)
    assert len(merged.xyxy) == 1
    np.testing.assert_allclose(merged.xyxy[0], [100, 20, 130, 80])
    assert merged.confidence[0] == pytest.approx(0.9)


def test_duplicates_from_overlapping_tiles_and_the_full_frame_are_one_box():
    inside_both = (90, 10, 110, 60)
    left = View(boxes((*inside_both, 0.7, 0)), (0, 0, 120, 100), True)
    right = View(boxes((10, 10, 30, 60, 0.75, 0)), (80, 0, 200, 100), True)
    whole = View(boxes((89, 11, 111, 59, 0.6, 0)), (0, 0, 200, 100), False)
    merged = merge_views([left, right, whole], FRAME)
    assert len(merged.xyxy) == 1 and merged.confidence[0] == pytest.approx(0.75)


def test_neighbours_and_other_classes_are_not_merged():
    left = View(boxes((10, 10, 30, 60, 0.9, 0), (32, 10, 52, 60, 0.8, 0), (10, 10, 30, 60, 0.7, 2)),
                (0, 0, 120, 100), True)
    merged = merge_views([left], FRAME)
    assert len(merged.xyxy) == 3


@pytest.fixture(scope="module")
def soccer_frames():
    capture = cv2.VideoCapture(str(SOCCER))
    frames = []
    index = 0
    while len(frames) < 6:
        ok, image = capture.read()
        assert ok, "the soccer clip has 250 frames"
        if index % 25 == 0:
            frames.append(image)
        index += 1
    return frames


@pytest.fixture(scope="module")
def detector():
    return Detector(MODEL_PATH, threads=2)


@pytest.mark.slow
def test_tiles_find_three_times_the_players_on_a_3k_sideline_camera(detector, soccer_frames):
    tiled = TiledDetector(detector, "auto")
    counts = []
    for image in soccer_frames:
        people_whole = int((detector.detect(image).class_id == 0).sum())
        found = tiled.detect(image)
        people = found.xyxy[found.class_id == 0]
        counts.append((people_whole, len(people)))
        assert len(people) >= 15  # about 22 players and staff on the pitch
        overlap = iou_xyxy(people, people)
        np.fill_diagonal(overlap, 0)
        assert overlap.max() <= 0.6, "a player was boxed twice"
    # Measured: 195 people in 10 frames tiled against 51 untiled (3.8x), never below 2x in a frame.
    assert sum(t for _, t in counts) >= 3 * sum(w for w, _ in counts), counts
    assert all(t >= 2 * w for w, t in counts), counts


def test_forced_tiles_leave_a_small_frame_detected_as_whole(detector):
    """pets09 (480x360) cut into 2x2 tiles anyway: the boxes agree with the untiled ones."""
    capture = cv2.VideoCapture(str(PETS09))
    frames = []
    for index in range(240):
        ok, image = capture.read()
        if index % 16 == 0:
            frames.append(image)
    tiled = TiledDetector(detector, "2x2")
    references = [detector.detect(image) for image in frames]
    result = mean_average_precision([tiled.detect(image) for image in frames], references, iou_threshold=0.5)
    weighted = sum(result.per_class[c] * n for c, n in result.per_class_boxes.items()) / result.reference_boxes
    assert weighted >= 0.95
    assert result.per_class[0] >= 0.95  # people, most of the boxes
