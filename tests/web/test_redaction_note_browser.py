"""The frame page's small note of what the edge redacted, in a real browser over a real collector."""

import cv2

from edge.contract.wire import FrameHeader
from server.datadir import DataDir
from tests.server._frames import PETS, VIDEOS_DIR, encode
from tests.web.collector import CollectorProcess, add_account
from tests.web.conftest import PASSWORD, log_in


def test_the_frame_page_says_how_many_faces_the_edge_blurred(tmp_path, browser, artifacts_dir):
    capture = cv2.VideoCapture(str(VIDEOS_DIR / PETS))
    image = capture.read()[1]
    capture.release()
    height, width = image.shape[:2]
    headers = [FrameHeader(device="cam", seq=seq, capture_ts=1_700_000_000.0 + seq, width=width, height=height,
                           model_id="m", class_names=("person",), redactions=redactions, frame_index=seq)
               for seq, redactions in ((1, (("faces", 3), ("heads", 0))), (2, ()))]
    with DataDir.open(tmp_path) as store:
        # The second is another picture, so it is not a duplicate of the first.
        store.ingest_frames([(headers[0], encode(image)), (headers[1], encode(255 - image))])
    add_account(tmp_path, "root", "admin", PASSWORD["root"])
    collector = CollectorProcess(tmp_path)
    try:
        context, page = log_in(browser, collector.url, "root")
        notes = []
        for frame_id in (1, 2):
            page.goto(f"{collector.url}/consistency/frame?id={frame_id}")
            page.wait_for_function("() => document.body?.dataset.frameLoaded === 'yes'")
            notes.append(page.locator("#frame-redactions").text_content())
            if frame_id == 1:
                page.screenshot(path=str(artifacts_dir / "frame-redactions.png"))
        context.close()
    finally:
        collector.stop()
    assert notes == ["faces blurred: 3 · heads blurred: 0", ""]
