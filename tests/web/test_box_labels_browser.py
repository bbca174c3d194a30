"""Box labels on a crowded real frame (PETS 2009, 13 pre-labels, people at the right edge): the
review screen and the frame page draw every label inside the image and none over another. The
rectangles are read back from the canvas's data-label-rects, which the drawing code writes."""

import json
import sqlite3

import pytest

from tests.server._frames import PETS
from tests.web.collector import CollectorProcess, add_account
from tests.web.conftest import PASSWORD, log_in
from tests.web.footage import store_detected_frames

pytestmark = pytest.mark.slow
CROWD = 700
"""A PETS frame with 13 pre-labels, several of them by the right edge."""
OLD_LABEL_RISE = 15
"""Where labels used to go: 15 px above the box's top left corner (on it when that left the image)."""


@pytest.fixture(scope="module")
def crowd(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("crowd")
    store_detected_frames(data_dir, "gate", PETS, (CROWD,), first_capture_ts=1_700_000_000.0)
    for name, role in (("alice", "reviewer"), ("root", "admin")):
        add_account(data_dir, name, role, PASSWORD[name])
    collector = CollectorProcess(data_dir)
    yield collector, data_dir
    collector.stop()


def label_rects(page, canvas: str) -> list[dict]:
    return json.loads(page.locator(canvas).get_attribute("data-label-rects"))


def assert_inside_and_apart(rects: list[dict], width: float, height: float) -> None:
    for r in rects:
        assert 0 <= r["x"] and r["x"] + r["w"] <= width and 0 <= r["y"] and r["y"] + r["h"] <= height, r
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not overlap(a, b), (a, b)


def overlap(a: dict, b: dict) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


def test_review_labels_stay_inside_the_image_and_apart_in_a_crowd(crowd, browser, artifacts_dir):
    collector, data_dir = crowd
    with sqlite3.connect(data_dir / "edgelabel.db") as conn:
        frame_id, width, height = conn.execute("SELECT id, width, height FROM frames").fetchone()
        boxes = conn.execute("SELECT x1, y1, x2, y2 FROM detections WHERE frame_id = ?", [frame_id]).fetchall()
    context, page = log_in(browser, collector.url, "alice")
    try:
        page.wait_for_function(f"() => document.body?.dataset.frameId === '{frame_id}'", timeout=10_000)
        rects = label_rects(page, "#frame")
        assert len(rects) == len(boxes) >= 10
        # The scene has the old drawing's two faults: a label past the right edge, and labels over each other.
        narrowest = min(r["w"] for r in rects)
        old = [{"x": x1, "y": y1 - OLD_LABEL_RISE if y1 >= OLD_LABEL_RISE else y1, "w": narrowest, "h": OLD_LABEL_RISE}
               for x1, y1, _, _ in boxes]
        assert any(r["x"] + r["w"] > width for r in old)
        assert any(overlap(a, b) for i, a in enumerate(old) for b in old[i + 1:])
        assert_inside_and_apart(rects, width, height)
        page.locator("#frame").screenshot(path=str(artifacts_dir / "review-labels-crowd.png"))
        # Selecting another box redraws: its label is placed first, the rest still fit around it.
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        assert_inside_and_apart(label_rects(page, "#frame"), width, height)
    finally:
        context.close()


def test_frame_page_labels_stay_inside_and_apart(crowd, browser, artifacts_dir):
    collector, data_dir = crowd
    with sqlite3.connect(data_dir / "edgelabel.db") as conn:
        frame_id, = conn.execute("SELECT id FROM frames").fetchone()
    context, page = log_in(browser, collector.url, "root")
    try:
        page.goto(f"{collector.url}/consistency/frame?id={frame_id}")
        page.wait_for_function("() => document.body?.dataset.frameLoaded === 'yes'")
        page.check("#show-model")  # a queued frame has no verified labels yet: show the model's
        canvas = page.locator("#frame-canvas")
        rects = label_rects(page, "#frame-canvas")
        assert len(rects) >= 10
        width, height = (int(canvas.get_attribute(name)) for name in ("width", "height"))
        assert_inside_and_apart(rects, width, height)
        page.screenshot(path=str(artifacts_dir / "frame-page-labels-crowd.png"), full_page=True)
    finally:
        context.close()
