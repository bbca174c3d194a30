"""Failed CURVE handshakes on the ingest socket, in the collector's log (rate-limited).

A device whose credentials hold another collector's public key (or that runs ``--insecure``
against a CURVE collector) never gets past the handshake, so no frame and no rejection ever
reaches the receiver: without this, only the agent says anything. A device key that is simply not
allowed fails later, at the ZAP check, which logs its key (:class:`server.keys.DeviceAuthenticator`).
"""

from __future__ import annotations

import logging
import time

import zmq
from zmq.utils.monitor import recv_monitor_message

log = logging.getLogger("server.receiver")

LOG_EVERY_S = 60.0
"""A device retries its handshake every few seconds: one line per minute at most says enough."""

_EVENTS = zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL


class HandshakeFailures:
    """Watches ``socket`` for handshakes that fail before a device key is known; :meth:`drain` logs them."""

    def __init__(self, socket: zmq.Socket, endpoint: str):
        self.endpoint = endpoint
        self._socket = socket
        self._monitor = socket.get_monitor_socket(_EVENTS)
        self.count = 0
        self._logged_at: float | None = None
        self._unlogged = 0

    def drain(self) -> None:
        """Count the failures that happened since the last call; log one line if a minute has passed."""
        while True:
            try:
                recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            self.count += 1
            self._unlogged += 1
        now = time.monotonic()
        if self._unlogged and (self._logged_at is None or now - self._logged_at >= LOG_EVERY_S):
            log.warning("%d CURVE handshake(s) failed on %s (%d since start): a device holds another collector's "
                        "public key in its credentials, or runs --insecure; compare its collector_public_key "
                        "with the one 'serve' logs at start", self._unlogged, self.endpoint, self.count)
            self._logged_at, self._unlogged = now, 0

    def close(self) -> None:
        self._socket.disable_monitor()
        self._monitor.close(linger=0)
