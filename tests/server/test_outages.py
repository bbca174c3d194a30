"""Storage outages under a real stream: the S3 server stopped for 20 s, the PostgreSQL server restarted.

A real ``serve`` process on a real PostgreSQL cluster and a real SeaweedFS S3 server, a real agent
on a real clip, CURVE on. While storing fails the collector must answer nothing (the agent keeps
the frames spooled and retransmits), survive, and catch up once the server is back. Afterwards:
every frame the agent selected is stored exactly once, every row's image is in the bucket with
the bytes its name says, no image lacks a row after ``media gc``, and the agent's spool is empty.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from edge.spool import Spool
from tests.conftest import DATA_DIR, MODEL_PATH
from tests.helpers import free_port, init_collector, start_collector
from tests.server._postgres import PostgresCluster
from tests.server._seaweedfs import RestartableSeaweedFS, SeaweedS3

PETS09 = DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"
S3_OUTAGE_S = 20
DATABASE_OUTAGE_S = 3
OUTAGE_STARTS = "storage outage: "
OUTAGE_ENDS = "storage outage over after "
MEDIA_PREFIX = "edgelabel/media"


class Node:
    """A collector ``serve`` process on PostgreSQL and S3, with one device's credentials, and that device's agent."""

    def __init__(self, tmp_path: Path, database: str, s3: SeaweedS3, monkeypatch):
        self.data_dir, self.spool_dir = tmp_path / "collector", tmp_path / "spool"
        self.credentials, self.log = tmp_path / "cam.toml", tmp_path / "collector.log"
        self.database, self.bucket, self.s3 = database, s3.new_bucket(), s3
        self.media = f"s3://{self.bucket}/{MEDIA_PREFIX}"
        for name, value in s3.environment().items():  # the collector and `media gc` find the bucket through these
            monkeypatch.setenv(name, value)
        self.endpoint = f"tcp://127.0.0.1:{free_port()}"
        self.metrics = f"127.0.0.1:{free_port()}"
        init_collector(self.data_dir)
        subprocess.run([sys.executable, "-m", "server", "keys", "add-device", "cam", "--data-dir", str(self.data_dir),
                        "--endpoint", self.endpoint, "--out", str(self.credentials)], check=True, capture_output=True)
        with self.log.open("w") as log:
            self.collector, _ = start_collector(self.data_dir, self.endpoint, "--database", database,
                                                "--media", self.media, "--metrics", self.metrics, stderr=log)
        # Replayed at 4x real time (about 20 s), a frame at most every 0.5 s of clip time.
        self.agent = subprocess.Popen(
            [sys.executable, "-m", "edge", "run", "--source", str(PETS09), "--model", str(MODEL_PATH),
             "--credentials", str(self.credentials), "--spool-dir", str(self.spool_dir), "--pace", "4",
             "--min-gap", "0.5", "--keyframes-per-minute", "0", "--threads", "1", "--ack-timeout", "1",
             "--flush-timeout", "120", "--status-interval", "1", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stored_frames(self) -> int:
        with psycopg.connect(self.database) as conn:
            return conn.execute("SELECT count(*) FROM frames").fetchone()[0]

    def wait_for_frames(self, count: int, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while self.stored_frames() < count:
            assert self.agent.poll() is None, f"the agent ended before {count} frames were stored"
            assert time.monotonic() < deadline, f"fewer than {count} frames stored within {timeout_s:.0f} s"
            time.sleep(0.2)

    def spooled_at_collector(self) -> int:
        """The spool size the agent's last heartbeat reported."""
        with psycopg.connect(self.database) as conn:
            row = conn.execute("SELECT counters FROM device_status WHERE device = 'cam'").fetchone()
        return json.loads(row[0])["spooled"] if row else 0

    def metric(self, name: str) -> float:
        """One unlabelled sample of the collector's /metrics."""
        with urllib.request.urlopen(f"http://{self.metrics}/metrics", timeout=30) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        raise AssertionError(f"no {name} in /metrics")

    def finish(self) -> dict:
        """Wait for the agent to end, stop the collector with SIGTERM; the agent's JSON summary."""
        try:
            stdout, stderr = self.agent.communicate(timeout=240)
            assert self.collector.poll() is None, "the collector died during the outage"
            self.collector.send_signal(signal.SIGTERM)
            self.collector.wait(timeout=30)
        finally:
            for process in (self.agent, self.collector):
                if process.poll() is None:
                    process.kill()
                    process.wait()
        assert self.agent.returncode == 0, stderr[-3000:]
        assert self.collector.returncode == 0, self.log.read_text()[-3000:]
        return json.loads(stdout.strip().splitlines()[-1])

    def outage_lines(self) -> tuple[list[str], list[str]]:
        lines = self.log.read_text().splitlines()
        return [line for line in lines if OUTAGE_STARTS in line], [line for line in lines if OUTAGE_ENDS in line]

    def check_nothing_lost_nothing_twice(self, summary: dict) -> dict:
        """The end checks every outage test makes; returns the tally to print."""
        assert summary["unacknowledged"] == 0 and summary["evicted"] == 0 and summary["rejected"] == 0
        spool = Spool(self.spool_dir, "cam", max_bytes=2**30, first_seq=lambda: 0)
        assert spool.count == 0, "frames left in the agent's spool"
        selected = set(range(spool.first_seq, spool.next_seq))
        with psycopg.connect(self.database) as conn:
            rows = conn.execute("SELECT seq, media_sha256 FROM frames WHERE device = 'cam'").fetchall()
        stored = sorted(seq for seq, _ in rows)
        assert len(selected) >= 10  # a real stream went through the outage (the count depends on machine load)
        assert stored == sorted(selected)  # every selected frame, each exactly once
        client = self.s3.client()
        for _, sha256 in rows:  # every row's image is there, with the bytes its name says
            key = f"{MEDIA_PREFIX}/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"
            body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            assert hashlib.sha256(body).hexdigest() == sha256
        gc = subprocess.run([sys.executable, "-m", "server", "media", "gc", "--data-dir", str(self.data_dir),
                             "--database", self.database, "--media", self.media, "--grace-minutes", "0",
                             "--json", "--no-progress"], capture_output=True, text=True)
        assert gc.returncode == 0, gc.stderr
        objects = {entry["Key"] for page in client.get_paginator("list_objects_v2").paginate(
                   Bucket=self.bucket, Prefix=MEDIA_PREFIX + "/") for entry in page.get("Contents", ())}
        assert {key.rsplit("/", 1)[1].removesuffix(".jpg") for key in objects} == {sha256 for _, sha256 in rows}
        return {"selected": len(selected), "stored": len(stored), "retransmits": summary["retransmits"],
                "duplicate_acks": summary["duplicates"], "gc": json.loads(gc.stdout)}


@pytest.mark.slow
def test_an_s3_outage_of_20_s_stops_acks_and_the_node_catches_up_without_losing_a_frame(
        tmp_path, postgres_cluster, monkeypatch):
    seaweed = RestartableSeaweedFS(tmp_path / "seaweedfs")
    try:
        node = Node(tmp_path, postgres_cluster.new_database(), seaweed.start(), monkeypatch)
        try:
            node.wait_for_frames(3)
            seaweed.stop()
            time.sleep(2)  # a batch already uploaded may still commit
            before = node.stored_frames()
            time.sleep(S3_OUTAGE_S - 2)
            during = node.stored_frames()
            spooled = node.spooled_at_collector()  # the database is up: heartbeats still arrive
            failed_batches = node.metric("edgelabel_ingest_failed_batches_total")
            seaweed.start()
        finally:
            summary = node.finish()
        tally = node.check_nothing_lost_nothing_twice(summary)
    finally:
        seaweed.stop()
    assert during == before, "frames were stored while their images could not be"
    assert spooled > 0, "the agent did not spool during the outage"
    assert failed_batches > 0
    starts, ends = node.outage_lines()
    assert len(starts) == len(ends) >= 1, (starts, ends)
    assert len(starts) <= 3, f"one line per outage, not per batch: {starts}"  # the server may hiccup as it starts
    tally.update(s3_outage_s=S3_OUTAGE_S, spooled_during_outage=spooled, failed_batches=failed_batches,
                 outages_logged=len(starts))
    print("s3 outage tally:", json.dumps(tally))


@pytest.mark.slow
def test_a_database_restart_mid_stream_loses_nothing_and_stores_nothing_twice(tmp_path, seaweedfs, monkeypatch):
    cluster = PostgresCluster()  # its own: the session's cluster stays up for the other tests
    try:
        node = Node(tmp_path, cluster.new_database(), seaweedfs, monkeypatch)
        try:
            node.wait_for_frames(3)
            cluster.stop_server()
            database_up = node.metric("edgelabel_database_up")  # the scrape itself still works
            time.sleep(DATABASE_OUTAGE_S)
            cluster.start_server()
            assert node.metric("edgelabel_database_up") == 1
        finally:
            summary = node.finish()
        starts, ends = node.outage_lines()
        tally = node.check_nothing_lost_nothing_twice(summary)
    finally:
        cluster.stop()
    assert len(starts) == len(ends) == 1, (starts, ends)
    assert database_up == 0
    tally.update(database_outage_s=DATABASE_OUTAGE_S, outages_logged=len(starts))
    print("database restart tally:", json.dumps(tally))
