"""The review UI in a real browser (Chromium) against a real collector process with real frames.

The tests run in order and share one collector: alice reviews with the keyboard, bob reviews
beside her, root (admin) reads the dashboard. Each step is checked in the database.
"""

import re
import sqlite3
import statistics
import time

import pytest

from tests.web.collector import XSS_DEVICE
from tests.web.conftest import log_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def alice(site, browser):
    collector, _, _ = site
    context, page = log_in(browser, collector.url, "alice")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page, dialogs
    context.close()


def db(site) -> sqlite3.Connection:
    return sqlite3.connect(site[1] / "edgelabel.db")


def shown_frame(page, not_id: str | None = None) -> int:
    """The id of the frame the review screen shows, once it differs from ``not_id``."""
    page.wait_for_function("(old) => document.body?.dataset.frameId && document.body.dataset.frameId !== old",
                           arg=not_id or "", timeout=10_000)
    return int(page.evaluate("document.body.dataset.frameId"))


def to_screen(page, x: float, y: float, width: int) -> tuple[float, float]:
    box = page.locator("#frame").bounding_box()
    scale = box["width"] / width
    return box["x"] + x * scale, box["y"] + y * scale


def test_accept_unchanged_frames_with_the_keyboard(site, alice, artifacts_dir):
    page, _ = alice
    assert page.url.endswith("/review")
    frame_id = shown_frame(page)
    page.wait_for_timeout(200)  # let the context thumbnail draw for the screenshot
    page.screenshot(path=str(artifacts_dir / "review.png"))
    # The frame is named by camera, time and place in its clip; keys 1-9 start with what this camera shows.
    info = page.locator("#info").text_content()
    assert re.search(r" · frame \d+ of its source · kept for ", info) and f"id {frame_id}" in info, info
    assert page.locator("#classes li").first.text_content() == "person"
    accepted, times = [], []
    for _ in range(6):
        started = time.perf_counter()
        page.keyboard.press("a")
        next_id = shown_frame(page, str(frame_id))
        times.append(time.perf_counter() - started)
        accepted.append(frame_id)
        frame_id = next_id
    print(f"\naccept round trip (keypress to next frame drawn): median {statistics.median(times) * 1000:.0f} ms "
          f"over {len(times)} frames, min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    with db(site) as conn:
        for fid in accepted:
            status, = conn.execute("SELECT status FROM frames WHERE id = ?", [fid]).fetchone()
            detections = conn.execute("SELECT COUNT(*) FROM detections WHERE frame_id = ?", [fid]).fetchone()[0]
            kept = conn.execute("SELECT COUNT(*) FROM annotations WHERE frame_id = ? AND source = 'model'"
                                " AND author = 'alice'", [fid]).fetchone()[0]
            assert (status, kept) == ("accepted", detections)


def test_move_delete_draw_relabel_and_submit(site, alice):
    page, _ = alice
    # Skip until a frame with at least two boxes is shown (the solo device's frames have one).
    frame_id = shown_frame(page)
    with db(site) as conn:
        while conn.execute("SELECT COUNT(*) FROM detections WHERE frame_id = ?", [frame_id]).fetchone()[0] < 2:
            page.keyboard.press("n")
            frame_id = shown_frame(page, str(frame_id))
        width, = conn.execute("SELECT width FROM frames WHERE id = ?", [frame_id]).fetchone()
        detections = conn.execute("SELECT id, x1, y1, x2, y2 FROM detections WHERE frame_id = ? ORDER BY id",
                                  [frame_id]).fetchall()
    # The first box is selected on load: drag it 20 px right and 10 px down by its centre.
    first = detections[0]
    cx, cy = (first[1] + first[3]) / 2, (first[2] + first[4]) / 2
    page.mouse.move(*to_screen(page, cx, cy, width))
    page.mouse.down()
    page.mouse.move(*to_screen(page, cx + 10, cy + 5, width))
    page.mouse.move(*to_screen(page, cx + 20, cy + 10, width))
    page.mouse.up()
    page.keyboard.press("Tab")  # the next box
    page.keyboard.press("Delete")
    # Draw a box in the sky above everyone (top band of the picture holds no boxes in PETS).
    page.mouse.move(*to_screen(page, 10, 4, width))
    page.mouse.down()
    page.mouse.move(*to_screen(page, 40, 20, width))
    page.mouse.move(*to_screen(page, 60, 34, width))
    page.mouse.up()
    third = page.locator("#classes li").nth(2).text_content()  # the camera's third most frequent class
    page.keyboard.press("3")  # the drawn box becomes that class
    page.keyboard.press("s")
    shown_frame(page, str(frame_id))
    with db(site) as conn:
        status, = conn.execute("SELECT status FROM frames WHERE id = ?", [frame_id]).fetchone()
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT detection_id, x1, y1, x2, y2, class_name, source FROM annotations WHERE frame_id = ?", [frame_id])}
    assert status == "corrected"
    moved = rows[first[0]]
    assert moved[0] == pytest.approx(first[1] + 20, abs=1.5) and moved[1] == pytest.approx(first[2] + 10, abs=1.5)
    assert moved[5] == "human"
    deleted = [d[0] for d in detections if d[0] not in rows]
    assert len(deleted) == 1
    drawn = rows[None]
    assert drawn[4:] == (third, "human") and drawn[0] == pytest.approx(10, abs=1.5) and drawn[3] == pytest.approx(34, abs=1.5)
    assert len(rows) == len(detections)  # one deleted, one drawn


def test_reject_a_frame(site, alice):
    page, _ = alice
    frame_id = shown_frame(page)
    page.keyboard.press("r")
    shown_frame(page, str(frame_id))
    with db(site) as conn:
        assert conn.execute("SELECT status FROM frames WHERE id = ?", [frame_id]).fetchone()[0] == "rejected"
        assert conn.execute("SELECT COUNT(*) FROM annotations WHERE frame_id = ?", [frame_id]).fetchone()[0] == 0


def test_a_second_reviewer_never_sees_the_frame_alice_holds(site, browser, alice):
    page, _ = alice
    held = shown_frame(page)
    context, bob = log_in(browser, site[0].url, "bob")
    try:
        seen = [shown_frame(bob)]
        for _ in range(4):
            bob.keyboard.press("n")
            seen.append(shown_frame(bob, str(seen[-1])))
        assert held not in seen
        with db(site) as conn:
            assert conn.execute("SELECT claimed_by FROM frames WHERE id = ?", [held]).fetchone()[0] == "alice"
    finally:
        context.close()


def test_leaving_the_review_screen_gives_the_frame_back_at_once(site, browser):
    context, bob = log_in(browser, site[0].url, "bob")
    try:
        held = shown_frame(bob)
        with db(site) as conn:
            assert conn.execute("SELECT claimed_by FROM frames WHERE id = ?", [held]).fetchone()[0] == "bob"
        bob.goto("about:blank")  # like closing the tab: no submit, no skip
        deadline = time.monotonic() + 10
        while True:
            with db(site) as conn:
                status, claimed_by = conn.execute("SELECT status, claimed_by FROM frames WHERE id = ?",
                                                  [held]).fetchone()
            if status == "pending" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (status, claimed_by) == ("pending", None)  # not after the 10-minute lease
    finally:
        context.close()


def test_accept_a_whole_track_and_fix_a_class(site, alice):
    page, _ = alice
    _, _, solo_track = site
    with db(site) as conn:
        queued = [r[0] for r in conn.execute(
            "SELECT id FROM frames WHERE device = 'solo' AND (status = 'pending' OR claimed_by = 'alice')")]
    assert queued
    page.goto(f"{site[0].url}/track?device=solo&track_id={solo_track}")
    page.wait_for_function("() => document.body?.dataset.trackLoaded === 'yes'")
    page.keyboard.press("a")
    page.wait_for_function("() => document.body?.dataset.trackAccepted !== undefined")
    # Said in words: every queued frame of the solo track had no other box, so all are verified now.
    assert page.locator("#track-status").text_content() == (
        f"Track accepted. {len(queued)} frame{'s' if len(queued) > 1 else ''} had no other boxes to check and "
        f"{'are' if len(queued) > 1 else 'is'} now verified.")
    with db(site) as conn:
        assert conn.execute("SELECT class_name, user FROM track_verdicts WHERE device = 'solo' AND track_id = ?",
                            [solo_track]).fetchone() == (None, "alice")
        for fid in queued:
            status, = conn.execute("SELECT status FROM frames WHERE id = ?", [fid]).fetchone()
            sources = {r[0] for r in conn.execute("SELECT source FROM annotations WHERE frame_id = ?", [fid])}
            assert (status, sources) == ("accepted", {"model"})
        cam_track, = conn.execute(
            "SELECT d.track_id FROM detections d JOIN frames f ON f.id = d.frame_id WHERE f.device = 'cam'"
            " AND f.status = 'pending' AND d.track_id IS NOT NULL GROUP BY 1 ORDER BY COUNT(*) DESC LIMIT 1").fetchone()
    # Fix a cam track's class once, by keyboard: f, type-ahead, Enter.
    page.goto(f"{site[0].url}/track?device=cam&track_id={cam_track}")
    page.wait_for_function("() => document.body?.dataset.trackLoaded === 'yes'")
    # The strip opens on the track's best view: the frame where its box is largest.
    with db(site) as conn:
        largest, = conn.execute(
            "SELECT d.frame_id FROM detections d JOIN frames f ON f.id = d.frame_id WHERE f.device = 'cam'"
            " AND d.track_id = ? ORDER BY (d.x2 - d.x1) * (d.y2 - d.y1) DESC, d.frame_id LIMIT 1", [cam_track]).fetchone()
    assert page.evaluate("() => document.body.dataset.bestFrame") == str(largest)
    best = page.locator(".thumb.best-view")
    assert best.count() == 1 and best.get_attribute("data-frame-id") == str(largest)
    assert best.locator("figcaption").inner_text().startswith("best view")
    page.keyboard.press("f")
    page.keyboard.type("bicycle")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.body?.dataset.trackAccepted !== undefined")
    said = page.locator("#track-status").text_content()
    assert said.startswith("Track accepted as bicycle. ") and "stay in the queue with this track's boxes" in said
    with db(site) as conn:
        assert conn.execute("SELECT class_name FROM track_verdicts WHERE device = 'cam' AND track_id = ?",
                            [cam_track]).fetchone() == ("bicycle",)


def test_dashboard_shows_precision_and_device_names_as_text(site, browser, alice, artifacts_dir):
    context, page = log_in(browser, site[0].url, "root")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        assert page.url.endswith("/dashboard")
        page.wait_for_function("() => document.body?.dataset.dashboardLoaded === 'yes'")
        cells = page.locator("#devices tbody td:first-child").all_text_contents()
        assert XSS_DEVICE in cells
        assert page.locator("img").count() == 0
        rates = page.locator("#acceptance tbody tr").all_text_contents()
        assert any("cam" in r and "person" in r for r in rates)
        page.screenshot(path=str(artifacts_dir / "dashboard.png"), full_page=True)
        # This collector reviews each frame once: the consistency page says why its tables are empty.
        page.goto(f"{site[0].url}/consistency")
        page.wait_for_function("() => document.body?.dataset.consistencyLoaded === 'yes'")
        assert page.locator("#per-reviewer tbody td.empty").text_content().startswith("None yet")
        assert page.locator("#adjudications tbody td.empty").text_content().startswith("None open")
        assert page.locator("#gold tbody td.empty").get_attribute("colspan") == "7"
        page.screenshot(path=str(artifacts_dir / "consistency-empty.png"), full_page=True)
        # The same name on the track page, and a reviewer is refused the dashboard.
        page.goto(f"{site[0].url}/track?device={XSS_DEVICE}&track_id=1")
        page.wait_for_timeout(300)
        assert page.locator("img").count() == 0 and dialogs == [] and alice[1] == []
        status = alice[0].goto(f"{site[0].url}/dashboard").status
        assert status == 403
    finally:
        context.close()
