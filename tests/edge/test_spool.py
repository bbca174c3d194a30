import json
import multiprocessing
import os
import signal

import cv2
import pytest

from edge.contract.errors import ConfigError
from edge.contract.wire import NO_TRACK, FrameHeader, Labels, decode_frame
from edge.spool import Spool
from tests.conftest import DATA_DIR

MiB = 2**20


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    image = cv2.imread(str(DATA_DIR / "images" / "darknet_dog.jpg"))
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()  # about 60 KB


def header(priority: float = 0.5, frame_index: int = 0) -> FrameHeader:
    return FrameHeader(device="cam", seq=0, capture_ts=1.0, width=768, height=576, model_id="m",
                       class_names=("dog",), priority=priority, frame_index=frame_index)


def test_sequence_numbers_continue_across_reopen_and_frames_survive(tmp_path, jpeg):
    spool = Spool(tmp_path, "cam", max_bytes=64 * MiB, first_seq=lambda: 500)
    assert [spool.add(header(), jpeg)[0] for _ in range(3)] == [500, 501, 502]
    spool.close()
    spool = Spool(tmp_path, "cam", max_bytes=64 * MiB, first_seq=lambda: 1)  # first_seq only for a new spool
    assert spool.count == 3
    assert spool.add(header(), jpeg)[0] == 503
    messages = spool.after(0, limit=10)
    assert [seq for seq, _ in messages] == [500, 501, 502, 503]
    decoded, payload = decode_frame(messages[0][1])
    assert decoded.seq == 500 and payload == jpeg


def with_tracks(*track_ids: int) -> FrameHeader:
    labels = Labels(xyxy=tuple((0.0, 0.0, 10.0, 10.0) for _ in track_ids), score=(0.9,) * len(track_ids),
                    class_id=(0,) * len(track_ids), track_id=track_ids)
    return FrameHeader(device="cam", seq=0, capture_ts=1.0, width=768, height=576, model_id="m",
                       class_names=("dog",), priority=0.5, labels=labels)


def test_track_ids_continue_after_every_id_the_spool_took_even_once_sent_or_evicted(tmp_path, jpeg):
    spool = Spool(tmp_path, "cam", max_bytes=64 * MiB, first_seq=lambda: 1)
    assert spool.next_track_id == 1
    spool.add(with_tracks(3, NO_TRACK, 7), jpeg)
    spool.add(with_tracks(5), jpeg)  # a lower id does not move it back
    spool.add(with_tracks(), jpeg)
    assert spool.next_track_id == 8
    spool.remove([1, 2, 3])  # acknowledged frames leave the spool; the ids they carried stay taken
    spool.close()
    reopened = Spool(tmp_path, "cam", max_bytes=64 * MiB, first_seq=lambda: 1)
    assert reopened.count == 0 and reopened.next_track_id == 8


def test_after_and_remove(tmp_path, jpeg):
    spool = Spool(tmp_path, "cam", max_bytes=64 * MiB, first_seq=lambda: 1)
    for _ in range(5):
        spool.add(header(), jpeg)
    assert [seq for seq, _ in spool.after(2, limit=2)] == [3, 4]
    spool.remove([1, 3, 99])
    assert spool.count == 3
    assert [seq for seq, _ in spool.after(0, limit=10)] == [2, 4, 5]
    assert spool.bytes == sum(len(h) + len(j) for _, (h, j) in spool.after(0, limit=10))


def test_full_spool_evicts_lowest_priority_then_oldest_and_counts_it(tmp_path, jpeg, caplog):
    spool = Spool(tmp_path, "cam", max_bytes=1 * MiB, first_seq=lambda: 1)
    per_frame = len(jpeg) + 400
    fits = MiB // per_frame
    priorities = [0.9, 0.1, 0.5, 0.1] + [0.9] * (fits - 4)
    for index, priority in enumerate(priorities):
        assert spool.add(header(priority, index), jpeg)[1] == []
    seq, evicted = spool.add(header(0.9, 99), jpeg)
    assert evicted == [2]  # the oldest of the two lowest-priority frames
    seq, evicted = spool.add(header(0.9, 100), jpeg)
    assert evicted == [4]
    seq, evicted = spool.add(header(0.0, 101), jpeg)
    assert evicted == [seq]  # a frame less important than everything spooled is the one dropped
    assert spool.bytes <= spool.max_bytes
    assert "evicted frame seq=2" in caplog.text
    spool.close()
    assert Spool(tmp_path, "cam", max_bytes=1 * MiB, first_seq=lambda: 1).evicted_total == 3


def test_a_spool_belongs_to_one_device(tmp_path, jpeg):
    Spool(tmp_path, "cam", max_bytes=64 * MiB, first_seq=lambda: 1).close()
    with pytest.raises(ConfigError, match="belongs to device 'cam'"):
        Spool(tmp_path, "other-cam", max_bytes=64 * MiB, first_seq=lambda: 1)


def _add_forever(directory, jpeg, added_file):
    spool = Spool(directory, "cam", max_bytes=512 * MiB, first_seq=lambda: 1)
    while True:
        seq, _ = spool.add(header(), jpeg)
        # Written only after add() returned: every number in this file must survive the kill.
        with open(added_file, "a") as handle:
            handle.write(json.dumps(seq) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def test_frames_added_before_a_kill_are_all_there(tmp_path, jpeg):
    added_file = tmp_path / "added.jsonl"
    process = multiprocessing.get_context("spawn").Process(
        target=_add_forever, args=(tmp_path / "spool", jpeg, added_file)
    )
    process.start()
    try:
        for _ in range(100):
            process.join(0.05)
            if added_file.exists() and len(added_file.read_text().splitlines()) >= 20:
                break
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.join()
    confirmed = [json.loads(line) for line in added_file.read_text().splitlines()]
    assert len(confirmed) >= 20
    spool = Spool(tmp_path / "spool", "cam", max_bytes=512 * MiB, first_seq=lambda: 1)
    stored = {seq for seq, _ in spool.after(0, limit=10_000)}
    assert set(confirmed) <= stored
    for _, parts in spool.after(0, limit=10_000):
        decode_frame(parts)  # every stored message is whole
