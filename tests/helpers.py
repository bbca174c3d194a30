"""Test helpers shared across packages (not fixtures of their own: plain classes)."""

import threading
from pathlib import Path

from server.keys import KeyStore
from server.receiver import Receiver
from server.store import Store


class ReceiverThread:
    """A real collector receiver on a loopback port, served from a background thread."""

    def __init__(self, data_dir: Path, endpoint: str = "tcp://127.0.0.1:*", secure: bool = False):
        self.data_dir = data_dir
        self.store = Store.open(data_dir)
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
        with Store.open_readonly(self.data_dir) as store:
            return store.frame_rows()
