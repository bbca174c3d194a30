"""The pipeline with the tracker: detector every k-th frame, track ids on the wire, events to the selector."""

import pytest

from edge.detection.runner import Detector
from edge.pipeline import Pipeline
from edge.selection import ABSTAIN, IntervalPolicy, KeyframeSelector
from edge.sender import FrameSender
from edge.sources import open_source
from edge.spool import Spool
from edge.tracking import TrackEventKind
from edge.uplink import Uplink
from server.datadir import DataDir
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import ReceiverThread

TUD_CAMPUS = DATA_DIR / "mot" / "TUD-Campus" / "img1"


class EventLog:
    """A selection policy that never votes and notes the track events each frame came with."""

    def __init__(self):
        self.events_by_frame = {}

    def vote(self, candidate, history):
        self.events_by_frame[candidate.frame.index] = candidate.track_events
        return ABSTAIN


@pytest.mark.parametrize("detect_every", [1, 2])
def test_boxes_sent_carry_track_ids_and_the_selector_sees_track_events(tmp_path, detect_every):
    detector = Detector(MODEL_PATH, threads=1)
    collector = ReceiverThread(tmp_path / "data")
    sender = FrameSender(collector.endpoint, None, window=8, ack_timeout_s=5.0)
    spool = Spool(tmp_path / "spool", "test-cam", max_bytes=64 * 2**20, first_seq=lambda: 1)
    uplink = Uplink(sender, spool, model_id=detector.model_id, class_names=detector.class_names, flush_timeout_s=30)
    log = EventLog()
    selector = KeyframeSelector([IntervalPolicy(min_gap_s=0.2, max_gap_s=0.4), log])
    try:
        source = open_source(str(TUD_CAMPUS), image_fps=25.0)
        counts = Pipeline(source, detector, selector, uplink, detect_every=detect_every).run()
    finally:
        sender.close()
        collector.close()

    assert counts.frames_read == 71
    assert counts.frames_detected == len(range(0, 71, detect_every))
    assert sorted(log.events_by_frame) == list(range(71))  # the selector saw every frame
    kinds = [e.kind for events in log.events_by_frame.values() for e in events]
    assert kinds.count(TrackEventKind.CONFIRMED) == counts.tracks_confirmed >= 5
    if detect_every == 2:  # events happen at updates, never on predicted frames
        assert not any(log.events_by_frame[i] for i in range(1, 71, 2))

    assert sender.counts.acknowledged == counts.frames_selected >= 5
    with DataDir.open_readonly(tmp_path / "data") as store:
        stored = list(store.iter_frames())
    track_ids = {d["track_id"] for frame in stored for d in frame["detections"]}
    assert len(track_ids - {None}) >= 4  # several people, each with the id of their track
