"""End to end through the receiver (real ZeroMQ on loopback): duplicates are stored, recorded and not queued."""

import argparse
import json

import pytest

from edge.sender import FrameSender
from server.commands import duplicates as duplicates_command
from server.datadir import DataDir
from server.review.queue import ReviewQueue
from tests.helpers import ReceiverThread
from tests.server._frames import INDOOR, PARKING, PETS, clip_frames, encode, header_for, near_copies


def send_all(endpoint: str, frames: list) -> FrameSender:
    sender = FrameSender(endpoint, None, window=8, ack_timeout_s=5.0)
    try:
        for header, jpeg in frames:
            assert sender.send(header, jpeg)
        assert sender.flush(timeout_s=20)
    finally:
        sender.close()
    return sender


def test_duplicates_sent_by_an_agent_are_recorded_and_never_queued(tmp_path, capsys, backend):
    data_dir = tmp_path / "data"
    pets, parking = clip_frames(PETS, (0, 60)), clip_frames(PARKING, (100,))
    originals = [*pets, *parking]
    frames, seq = [], 0
    for image in originals:
        frames.append((header_for(image, "cam-a", seq, capture_ts=1000.0 + seq), encode(image)))
        seq += 1
    copies = [near_copies(image)[name] for image in originals for name in ("jpeg30", "bright-10", "noise")]
    for copy in copies:
        frames.append((header_for(copy, "cam-a", seq, capture_ts=1000.0 + seq), encode(copy)))
        seq += 1
    frames.append(frames[0])  # a retransmission: acked as such, stored once

    running = ReceiverThread(data_dir)
    try:
        sender = send_all(running.endpoint, frames)
    finally:
        running.close()
    assert (sender.counts.acknowledged, sender.counts.duplicates) == (len(frames), 1)

    with ReviewQueue.open(data_dir) as queue:
        assert queue.counts() == {"pending": 3, "duplicate": 9}
        # One frame of each original's group is queued. Which member represents a group (the original
        # or a copy that scored sharper) has varied on a loaded machine (3 of about 8 full runs), so
        # the test checks the groups, not the member.
        original_of = {n: n if n < len(originals) else (n - len(originals)) // 3 for n in range(seq)}
        assert sorted(original_of[f["seq"]] for f in queue.next(limit=50)) == [0, 1, 2]

    args = argparse.Namespace(data_dir=data_dir, database=None, device=None, min_size=2, limit=None, json=True)
    assert duplicates_command.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["duplicates"] == {"exact": 0, "near": 9}
    assert [group["size"] for group in report["groups"]] == [4, 4, 4]
    for group in report["groups"]:
        members = {m["frame_id"]: m for m in group["members"]}
        assert members[group["representative_id"]]["duplicate_of"] is None
        assert all(m["duplicate_of"] == group["representative_id"] and m["kind"] == "near" and m["distance"] <= 7
                   for fid, m in members.items() if fid != group["representative_id"])
    assert report["devices"]["cam-a"]["flagged"] is False


def test_the_index_survives_a_restart_and_a_lying_device_is_flagged(tmp_path, backend):
    data_dir = tmp_path / "data"
    image = clip_frames(INDOOR, (200,))[0]
    running = ReceiverThread(data_dir)
    try:
        send_all(running.endpoint, [(header_for(image, "cam-a", 0, capture_ts=10.0), encode(image))])
    finally:
        running.close()
    others = clip_frames(PETS, tuple(range(0, 240, 20)))
    running = ReceiverThread(data_dir)  # a new collector process would rebuild the index the same way
    try:
        copy = near_copies(image)["shift2%"]
        send_all(running.endpoint, [(header_for(copy, "cam-a", 1, capture_ts=20.0), encode(copy))])
        # cam-liar's hashes have nothing to do with its pictures.
        send_all(running.endpoint, [(header_for(frame, "cam-liar", seq, capture_ts=100.0 + seq, phash=f"{seq * 7919:016x}"),
                                     encode(frame)) for seq, frame in enumerate(others)])
    finally:
        running.close()
    with DataDir.open_readonly(data_dir) as store:
        rows = {(r["device"], r["seq"]): r["status"] for r in store.frame_rows()}
        from server.dedup.report import duplicate_report

        with store.db.read() as conn:
            devices = duplicate_report(conn)["devices"]
    assert rows[("cam-a", 0)] == "pending" and rows[("cam-a", 1)] == "duplicate"
    assert devices["cam-liar"]["flagged"] and not devices["cam-a"]["flagged"]
    assert devices["cam-liar"]["disagreed"] >= 10


def test_duplicates_command_help_has_an_example_and_text_output(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="edgelabel-collector")
    commands = parser.add_subparsers(dest="command")
    sub = duplicates_command.add_parser(commands)
    assert "example" in sub.format_help() and "--json" in sub.format_help()
    image = clip_frames(PARKING, (100,))[0]
    with DataDir.open(tmp_path) as store:
        store.ingest_frames([(header_for(image, "cam", 1, capture_ts=1.0), encode(image)),
                             (header_for(image, "cam", 2, capture_ts=2.0), encode(image))])
    args = parser.parse_args(["duplicates", "--data-dir", str(tmp_path)])
    assert args.handler(args) == 0
    out = capsys.readouterr().out
    assert "1 exact, 0 near" in out and "exact duplicate of 1" in out


def test_duplicates_command_needs_a_database(tmp_path):
    from server.errors import CollectorError

    args = argparse.Namespace(data_dir=tmp_path / "nothing", database=None, device=None, min_size=2, limit=None, json=False)
    with pytest.raises(CollectorError, match="no edgelabel database"):
        duplicates_command.run(args)
