"""Several collector nodes (real ``serve`` processes) on one PostgreSQL database.

Ingest nodes: a near-duplicate of a frame stored through another node is recognized (each node's
duplicate index follows the database), also when both arrive at the same instant. Web-only nodes
(``serve --no-ingest --http``): no ZeroMQ socket, a session made on one works on another, and two
reviewers claiming through two nodes never get the same frame.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, text

from edge.sender import FrameSender
from server.cli import main
from server.consistency import reviews as consistency
from server.consistency.reviews import ConsistencyPolicy
from server.datadir import DataDir
from server.db.database import normalize_url
from server.dedup.policy import DedupPolicy
from server.errors import ClaimError
from server.frames import state
from server.review.queue import ReviewQueue
from tests.server._frames import (
    INDOOR,
    PARKING,
    PETS,
    clip_frames,
    encode,
    header_for,
    near_copies,
)
from tests.server._login import add_accounts, logged_in

STOP_TIMEOUT_S = 20


def start_serves(database: str, *nodes: tuple[Path, tuple[str, ...]]) -> list[tuple[subprocess.Popen, list[str]]]:
    """``serve`` processes on ``database`` (one per (data dir, flags), started together); each with
    the lines it printed once ready: "listening on ...", or for a web-only node "review API on ..."
    and the line saying it does not ingest."""
    started = []
    for data_dir, flags in nodes:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--database", database, *flags],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        printed: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda out=process.stdout, into=printed: [into.put(line.strip()) for line in out],
                         daemon=True).start()
        started.append((process, printed, 2 if "--no-ingest" in flags else 1))
    ready = []
    for process, printed, count in started:
        lines = []
        while len(lines) < count:
            try:
                lines.append(printed.get(timeout=60))
            except queue.Empty:
                raise AssertionError(f"serve did not start (exit code {process.poll()}); printed {lines}") from None
        ready.append((process, lines))
    return ready


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def serving(database: str, *nodes: tuple[Path, tuple[str, ...]]) -> Iterator[list[tuple[subprocess.Popen, list[str]]]]:
    """:func:`start_serves`' nodes for the block; then each is stopped (SIGTERM) and must exit 0."""
    started = start_serves(database, *nodes)
    try:
        yield started
    finally:
        codes = [stop(process) for process, _ in started]
    assert codes == [0] * len(started)


@contextmanager
def queue_nodes(data_dir: Path, database: str, **options) -> Iterator[tuple[ReviewQueue, ReviewQueue]]:
    """Two review queues on one database, each with its own connections, as on two web nodes."""
    nodes = [ReviewQueue.open(data_dir, database=database, **options) for _ in range(2)]
    try:
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            node.close()


def run_together(*calls: Callable[[], None]) -> None:
    """Each call in a thread of its own, all started, then joined; what one raised fails the test here."""
    failures = []

    def run(call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures


def rows_by_seq(database: str, device: str) -> dict[int, dict]:
    """Each frame of ``device`` with its status, group and what it duplicates."""
    engine = create_engine(normalize_url(database))
    try:
        with engine.connect() as conn:
            return {row.seq: row._asdict() for row in conn.execute(text(
                "SELECT f.seq, f.id, f.status, s.group_id, d.duplicate_of FROM frames f"
                " JOIN frame_signatures s ON s.frame_id = f.id LEFT JOIN duplicates d ON d.frame_id = f.id"
                " WHERE f.device = :device"), {"device": device})}
    finally:
        engine.dispose()


def send(endpoint_sender: FrameSender, frames: list) -> None:
    for header, jpeg in frames:
        assert endpoint_sender.send(header, jpeg)
    assert endpoint_sender.flush(timeout_s=30)


@pytest.fixture
def shared_database(postgres_cluster) -> str:
    """One PostgreSQL database the nodes of a test share."""
    return postgres_cluster.new_database()


def test_near_duplicates_sent_to_two_ingest_nodes_form_one_group(tmp_path, shared_database):
    database = shared_database
    # Both nodes load their (empty) index before any frame exists: what they learn later comes
    # from each other through the database.
    ingest_flags = ("--ingest", "tcp://127.0.0.1:*", "--insecure")
    with serving(database, (tmp_path / "a", ingest_flags), (tmp_path / "b", ingest_flags)) as nodes, \
            closing(FrameSender(nodes[0][1][0].split()[2], None, window=4, ack_timeout_s=10.0)) as sender_a, \
            closing(FrameSender(nodes[1][1][0].split()[2], None, window=4, ack_timeout_s=10.0)) as sender_b:
        # One after the other: B sees the frame A stored after B started.
        original = clip_frames(PETS, (0,))[0]
        copy = near_copies(original)["jpeg30"]
        send(sender_a, [(header_for(original, "cam", 0, capture_ts=10.0), encode(original))])
        send(sender_b, [(header_for(copy, "cam", 1, capture_ts=11.0), encode(copy))])
        # A better copy through B replaces A's representative; A then knows the new one.
        sharp = clip_frames(INDOOR, (300,))[0]
        blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
        darker = near_copies(sharp)["bright-10"]
        send(sender_a, [(header_for(blurred, "cam", 2, capture_ts=50_000.0), encode(blurred))])
        send(sender_b, [(header_for(sharp, "cam", 3, capture_ts=50_001.0), encode(sharp))])
        send(sender_a, [(header_for(darker, "cam", 4, capture_ts=50_002.0), encode(darker))])

        # At the same instant, several times: one picture to A, its near copy to B. Rounds are
        # hours apart in capture time, so each round's frames can only match each other.
        pictures = [*clip_frames(PETS, (100, 200)), *clip_frames(PARKING, (0, 150)), *clip_frames(INDOOR, (0, 100))]
        start_together = threading.Barrier(2)

        def node_stream(sender: FrameSender, copy_name: str | None, seq_offset: int) -> None:
            for round_number, picture in enumerate(pictures):
                image = picture if copy_name is None else near_copies(picture)[copy_name]
                header = header_for(image, "cam", 100 + 2 * round_number + seq_offset,
                                    capture_ts=100_000.0 * (round_number + 1) + seq_offset)
                jpeg = encode(image)
                start_together.wait(timeout=30)
                send(sender, [(header, jpeg)])

        run_together(lambda: node_stream(sender_a, None, 0), lambda: node_stream(sender_b, "jpeg60", 1))

    frames = rows_by_seq(database, "cam")
    assert (frames[1]["status"], frames[1]["duplicate_of"]) == ("duplicate", frames[0]["id"])
    assert frames[0]["status"] == "pending" and frames[1]["group_id"] == frames[0]["group_id"]
    assert (frames[2]["status"], frames[2]["duplicate_of"]) == ("duplicate", frames[3]["id"])
    assert frames[3]["status"] == "pending"
    assert (frames[4]["status"], frames[4]["duplicate_of"]) == ("duplicate", frames[3]["id"])
    for round_number in range(len(pictures)):
        pair = [frames[100 + 2 * round_number], frames[101 + 2 * round_number]]
        assert sorted(frame["status"] for frame in pair) == ["duplicate", "pending"], (round_number, pair)
        representative = next(frame for frame in pair if frame["status"] == "pending")
        duplicate = next(frame for frame in pair if frame["status"] == "duplicate")
        assert duplicate["duplicate_of"] == representative["id"]
        assert duplicate["group_id"] == representative["group_id"]


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on (its socket inodes matched against /proc/net/tcp*)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def noise_frames(count: int) -> list:
    """Pictures unlike each other (random noise), so none is a duplicate of another."""
    rng = np.random.default_rng(19)
    frames = []
    for seq in range(count):
        image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        frames.append((header_for(image, "cam", seq, capture_ts=float(seq)), encode(image)))
    return frames


def ingest_noise(data_dir: Path, database: str, count: int) -> None:
    """``count`` frames of :func:`noise_frames` stored in ``database``, as one node would."""
    with DataDir.open(data_dir, database=database) as store:
        assert [outcome.status for outcome in store.ingest_frames(noise_frames(count))] == ["pending"] * count


def test_reviewers_on_two_web_only_nodes_share_sessions_and_never_get_the_same_frame(tmp_path, shared_database):
    database = shared_database
    frame_count = 40
    ingest_noise(tmp_path / "seed", database, frame_count)
    add_accounts(tmp_path / "seed", "alice", "bob", database=database)

    web_only = ("--no-ingest", "--http", "127.0.0.1:0")
    with serving(database, (tmp_path / "w1", web_only), (tmp_path / "w2", web_only)) as nodes:
        urls = []
        for process, lines in nodes:
            assert lines[0].startswith("review API on http://127.0.0.1:")
            assert lines[1].startswith("no ingest:") and not any(line.startswith("listening on") for line in lines)
            url = lines[0].split()[-1]
            assert listening_ports(process.pid) == {int(url.rsplit(":", 1)[1])}  # HTTP only: no ZeroMQ socket
            urls.append(url)

        # A session (and its CSRF token) made on one node works on the other.
        with logged_in(urls[0], "alice") as on_first:
            with httpx.Client(base_url=urls[1], timeout=10, cookies=on_first.cookies,
                              headers={"X-CSRF-Token": on_first.headers["X-CSRF-Token"]}) as on_second:
                claimed = on_second.post("/api/queue/claim").json()["frame"]
                assert claimed["claimed_by"] == "alice"
                assert on_second.post(f"/api/frames/{claimed['id']}/release").status_code == 200
                assert on_second.get("/api/queue").status_code == 200

        got: dict[str, list[int]] = {"alice": [], "bob": []}

        def reviewer(name: str, url: str) -> None:
            with logged_in(url, name) as http:
                while (frame := http.post("/api/queue/claim").json()["frame"]) is not None:
                    got[name].append(frame["id"])

        run_together(lambda: reviewer("alice", urls[0]), lambda: reviewer("bob", urls[1]))
    claims = got["alice"] + got["bob"]
    assert len(claims) == len(set(claims)) == frame_count, got
    assert got["alice"] and got["bob"]  # both nodes handed out frames


def test_a_web_only_node_needs_http(tmp_path, capsys):
    assert main(["serve", "--data-dir", str(tmp_path), "--no-ingest"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and 'collector.ingest = "off" (from --no-ingest): a web-only node needs' in error


def test_an_expired_lease_returned_by_two_nodes_at_once_is_returned_once_and_the_new_claim_stands(
        tmp_path, shared_database):
    ingest_noise(tmp_path, shared_database, 1)
    now = [1000.0]
    with queue_nodes(tmp_path, shared_database, clock=lambda: now[0]) as (node_1, node_2):
        frame_id = node_1.claim("alice", lease_seconds=10)["id"]
        now[0] += 60  # alice's lease is over
        carol_got = []
        # Node 1 returns the frame to the queue and bob claims it; before that commits, carol claims on node 2.
        with node_1.write_transaction() as (conn, at):
            state.return_expired_leases(conn, at)
            state.claim(conn, frame_id, "bob", at, at + 600)
            carol = threading.Thread(target=lambda: carol_got.append(node_2.claim("carol")))
            carol.start()
            carol.join(timeout=3)  # let carol's claim run into bob's uncommitted one
        carol.join(timeout=30)
        assert carol_got == [None]
        frame = node_1.frame(frame_id)
        assert (frame["status"], frame["claimed_by"]) == ("in_review", "bob")
        assert [event["action"] for event in frame["events"]].count("lease_expired") == 1


def test_a_gold_frame_is_served_once_to_a_reviewer_claiming_on_two_nodes(tmp_path, shared_database):
    ingest_noise(tmp_path, shared_database, 2)
    with ReviewQueue.open(tmp_path, database=shared_database) as queue:
        gold_id = queue.claim("alice")["id"]
        queue.submit("alice", gold_id, "accept")
        queue.mark_gold("admin", gold_id)
        # Both nodes' claims of bob picked this gold frame; the one that commits second gets a queued frame.
        with queue.write_transaction() as (conn, now):
            assert consistency.assign_gold(conn, gold_id, "bob", now, 600)
            assert not consistency.assign_gold(conn, gold_id, "bob", now, 600)


def test_two_admins_deciding_one_adjudication_on_two_nodes_decide_it_once(tmp_path, shared_database):
    ingest_noise(tmp_path, shared_database, 1)
    policy = ConsistencyPolicy(overlap_rate=1.0, gold_rate=0.0)
    with queue_nodes(tmp_path, shared_database, consistency_policy=policy) as (node_1, node_2):
        frame_id = node_1.claim("alice")["id"]
        node_1.submit("alice", frame_id, "reject")
        node_2.claim("bob")
        node_2.submit("bob", frame_id, "accept")  # the verdicts differ: an adjudication is open
        second_decision = []

        def decide_on_node_2() -> None:
            try:
                second_decision.append(node_2.adjudicate("carol", frame_id, "accept"))
            except ClaimError as exc:
                second_decision.append(str(exc))

        with node_1.write_transaction() as (conn, now):  # dave decides on node 1; carol starts meanwhile
            consistency.check_adjudicable(conn, frame_id)
            state.adjudicate(conn, frame_id, "dave", "rejected", [], now)
            consistency.resolve_adjudication(conn, frame_id, "dave", "rejected", [], now)
            carol = threading.Thread(target=decide_on_node_2)
            carol.start()
            carol.join(timeout=3)
        carol.join(timeout=30)
        assert second_decision == [f"the adjudication of frame {frame_id} was already decided"]
        assert node_1.frame(frame_id)["status"] == "rejected"


def test_across_devices_two_writers_at_the_same_instant_make_one_group(tmp_path, shared_database):
    # The one lock of all devices: two writers (each its own connections, as two nodes) store a
    # picture from cam-a and its near copy from cam-b at once, round after round.
    policy = DedupPolicy(across_devices=True)
    nodes = [DataDir.open(tmp_path / name, policy, database=shared_database) for name in ("a", "b")]
    try:
        for node in nodes:
            node.prepare_ingest()
        pictures = [*clip_frames(PETS, (100, 200)), *clip_frames(PARKING, (0, 150))]
        start_together = threading.Barrier(2)
        outcomes: dict[str, list] = {"cam-a": [], "cam-b": []}

        def write(node: DataDir, device: str, copy_name: str | None) -> None:
            for round_number, picture in enumerate(pictures):
                image = picture if copy_name is None else near_copies(picture)[copy_name]
                frame = (header_for(image, device, round_number, capture_ts=100_000.0 * (round_number + 1)),
                         encode(image))
                start_together.wait(timeout=30)
                outcomes[device].extend(node.ingest_frames([frame]))

        run_together(lambda: write(nodes[0], "cam-a", None), lambda: write(nodes[1], "cam-b", "jpeg60"))
    finally:
        for node in nodes:
            node.close()
    for a, b in zip(outcomes["cam-a"], outcomes["cam-b"]):
        assert sorted([a.status, b.status]) == ["duplicate", "pending"], (a, b)
        representative, duplicate = (a, b) if a.status == "pending" else (b, a)
        assert duplicate.duplicate_of == representative.frame_id
