"""Test helpers shared across packages (not fixtures of their own: plain classes)."""

import select
import socket
import subprocess
import sys
import threading
from pathlib import Path

from server.datadir import DataDir
from server.keys import KeyStore
from server.receiver import Receiver


class ReceiverThread:
    """A real collector receiver on a loopback port, served from a background thread."""

    def __init__(self, data_dir: Path, endpoint: str = "tcp://127.0.0.1:*", secure: bool = False,
                 database: str | None = None):
        self.data_dir = data_dir
        self.database = database
        """The database URL (None: the data directory's SQLite file)."""
        self.store = DataDir.open(data_dir, database=database)
        self.receiver = Receiver(self.store, endpoint, KeyStore(data_dir) if secure else None)
        self.endpoint = self.receiver.bound_endpoint
        self.thread = threading.Thread(target=self.receiver.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.receiver.stop()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the receiver did not stop within 10 s"
        self.receiver.close()
        self.store.close()

    def frames(self) -> list[dict]:
        with DataDir.open_readonly(self.data_dir, self.database) as store:
            return store.frame_rows()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_collector(data_dir: Path, endpoint: str = "tcp://127.0.0.1:*", *extra: str,
                    stderr=subprocess.DEVNULL) -> tuple[subprocess.Popen, str]:
    """A real ``serve`` process; returns it with the endpoint it bound, once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve", "--data-dir", str(data_dir), "--ingest", endpoint, *extra],
        stdout=subprocess.PIPE, stderr=stderr, text=True,
    )
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else ""
    assert line.startswith("listening on "), f"collector did not start: {line!r} (exit code {process.poll()})"
    return process, line.split()[2]


def init_collector(data_dir: Path, *extra: str) -> None:
    """``edgelabel-collector init`` (data directory, schema, key pair): what ``keys add-device`` needs first."""
    subprocess.run([sys.executable, "-m", "server", "init", "--data-dir", str(data_dir), *extra], check=True,
                   capture_output=True, timeout=120)
