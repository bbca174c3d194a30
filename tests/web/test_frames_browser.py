"""The admin's frame browser in a real browser: reached from the nav, filtered by device and class,
each row naming the camera, capture time and frame index, and linking to the frame's page (where
gold frames are marked)."""

import sqlite3

import pytest

from tests.server._frames import HIGHWAY, PETS
from tests.server._login import logged_in
from tests.web.collector import CollectorProcess, add_account
from tests.web.conftest import PASSWORD, log_in
from tests.web.footage import store_detected_frames

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def cameras(tmp_path_factory):
    """Two cameras: ``gate`` (PETS pedestrians, cars, a ball now and then) and ``road`` (highway
    traffic); gate's first frame accepted and marked gold."""
    data_dir = tmp_path_factory.mktemp("cameras")
    store_detected_frames(data_dir, "gate", PETS, (0, 175, 250, 700), first_capture_ts=1_700_000_000.0)
    store_detected_frames(data_dir, "road", HIGHWAY, (0, 100), first_capture_ts=1_700_100_000.0)
    for name, role in (("alice", "reviewer"), ("root", "admin")):
        add_account(data_dir, name, role, PASSWORD[name])
    collector = CollectorProcess(data_dir)
    with sqlite3.connect(data_dir / "edgelabel.db") as conn:
        gold, = conn.execute("SELECT id FROM frames WHERE device = 'gate' AND seq = 0").fetchone()
    with logged_in(collector.url, "alice") as alice, logged_in(collector.url, "root") as root:
        alice.post("/api/queue/claim", json={"frame_id": gold}).raise_for_status()
        alice.post(f"/api/frames/{gold}/submit", json={"decision": "accept"}).raise_for_status()
        root.post(f"/api/gold/{gold}").raise_for_status()
    yield collector, data_dir
    collector.stop()


def test_filter_by_device_and_class_then_open_a_frame(cameras, browser, artifacts_dir):
    collector, data_dir = cameras
    with sqlite3.connect(data_dir / "edgelabel.db") as conn:
        by_class: dict[str, set[int]] = {}
        for frame_id, class_name in conn.execute(
                "SELECT f.id, a.class_name FROM frames f JOIN annotations a ON a.frame_id = f.id"
                " WHERE f.device = 'gate' AND f.status IN ('accepted', 'corrected') UNION "
                "SELECT f.id, d.class_name FROM frames f JOIN detections d ON d.frame_id = f.id"
                " WHERE f.device = 'gate' AND f.status NOT IN ('accepted', 'corrected')"):
            by_class.setdefault(class_name, set()).add(frame_id)
        gate = {row[0] for row in conn.execute("SELECT id FROM frames WHERE device = 'gate'")}
    # A class some of gate's frames show and others do not, so the class filter has something to leave out.
    class_name, expected = next((name, ids) for name, ids in sorted(by_class.items()) if ids and ids != gate)
    context, page = log_in(browser, collector.url, "root")
    try:
        page.click("nav >> text=Frames")
        page.wait_for_function("() => document.body?.dataset.framesListed === 'yes'")
        assert page.locator("#frame-list tbody tr").count() == 6
        page.screenshot(path=str(artifacts_dir / "frames-all.png"), full_page=True)
        page.select_option("#filter-device", "gate")
        page.fill("#filter-class", class_name)
        page.click("#frame-filters button[type=submit]")
        page.wait_for_url("**/frames?*")
        page.wait_for_function("() => document.body?.dataset.framesListed === 'yes'")
        rows = page.locator("#frame-list tbody tr")
        listed = {int(rows.nth(i).get_attribute("data-frame-id")) for i in range(rows.count())}
        assert listed == expected
        assert page.locator("#browse-summary").text_content().startswith(f"{len(expected)} frame")
        for text in rows.all_text_contents():
            assert "gate · " in text and " of its source" in text and class_name in text, text
        assert page.input_value("#filter-device") == "gate" and page.input_value("#filter-class") == class_name
        page.screenshot(path=str(artifacts_dir / "frames-filtered.png"), full_page=True)
        first = rows.first
        frame_id = int(first.get_attribute("data-frame-id"))
        first.locator(f"text=frame {frame_id}").click()
        page.wait_for_function("() => document.body?.dataset.frameLoaded === 'yes'")
        assert page.url.endswith(f"/consistency/frame?id={frame_id}")
        assert page.locator("#frame-title").text_content().startswith(f"Frame {frame_id} · gate · ")
        page.screenshot(path=str(artifacts_dir / "frames-opened-frame.png"), full_page=True)
    finally:
        context.close()


def test_status_and_time_filters_and_the_gold_mark(cameras, browser):
    collector, _ = cameras
    context, page = log_in(browser, collector.url, "root")
    try:
        page.goto(f"{collector.url}/frames?status=verified")
        page.wait_for_function("() => document.body?.dataset.framesListed === 'yes'")
        row = page.locator("#frame-list tbody tr")
        assert row.count() == 1 and "accepted · gold" in row.text_content()
        row.locator("a").nth(1).click()
        page.wait_for_function("() => document.body?.dataset.frameLoaded === 'yes'")
        assert "gold frame" in page.locator("#frame-summary").text_content()
        assert page.locator("#mark-gold").is_hidden()
        # A time range as the form's date-time fields send it (the browser's local time): road's frames
        # were captured a day after gate's.
        between = page.evaluate("(t) => { const d = new Date(t * 1000), p = (n) => String(n).padStart(2, '0');"
                                " return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T`"
                                " + `${p(d.getHours())}:${p(d.getMinutes())}`; }", 1_700_050_000)
        page.goto(f"{collector.url}/frames?since={between}")
        page.wait_for_function("() => document.body?.dataset.framesListed === 'yes'")
        assert page.input_value("#filter-since") == between
        texts = page.locator("#frame-list tbody tr").all_text_contents()
        assert len(texts) == 2 and all(text.count("road · ") == 1 for text in texts), texts
    finally:
        context.close()
