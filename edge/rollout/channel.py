"""The rollout thread's own connection to the collector: chunk requests and reports.

A DEALER socket of its own (ZeroMQ sockets are not thread-safe, so the sender's is never shared)
to the endpoint the sender uses at the moment, with the device's CURVE keys. One request at a
time: a request that gets no answer within ``timeout_s`` is sent again on a fresh socket (a
late answer to the old one can then never be taken for the answer to the next).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import zmq

from edge.contract.credentials import DeviceCredentials
from edge.contract.rollout import ModelReport, encode_report
from edge.contract.wire import WireError, decode_reply

log = logging.getLogger("edge.rollout")


class ChannelError(Exception):
    """No answer after every attempt."""


class RolloutChannel:
    def __init__(self, endpoint: Callable[[], str], credentials: DeviceCredentials | None,
                 timeout_s: float = 5.0, attempts: int = 4):
        """
        Args:
            endpoint: the collector endpoint to use now (the sender's, which follows failover).
            credentials: the device's CURVE keys; None for an --insecure agent.
            timeout_s: wait this long for an answer before asking again.
            attempts: ask this many times before giving up.
        """
        self._endpoint = endpoint
        self._credentials = credentials
        self.timeout_s = timeout_s
        self.attempts = attempts
        self._context = zmq.Context()
        self._socket: zmq.Socket | None = None
        self.bytes_received = 0

    def _open(self) -> zmq.Socket:
        if self._socket is None:
            endpoint = self._endpoint()
            socket = self._context.socket(zmq.DEALER)
            socket.linger = 0
            socket.setsockopt(zmq.RECONNECT_IVL, 100)
            socket.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
            if self._credentials is not None:
                socket.curve_secretkey = self._credentials.device_secret_key.encode()
                socket.curve_publickey = self._credentials.device_public_key.encode()
                socket.curve_serverkey = self._credentials.collectors_for([endpoint])[0].public_key.encode()
            socket.connect(endpoint)
            self._socket = socket
        return self._socket

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def request(self, parts: list[bytes]) -> list[bytes]:
        """Send ``parts`` and return the answer's parts; :class:`ChannelError` after every attempt."""
        for attempt in range(1, self.attempts + 1):
            socket = self._open()
            socket.send_multipart(parts)
            if socket.poll(int(self.timeout_s * 1000), zmq.POLLIN):
                answer = socket.recv_multipart()
                self.bytes_received += sum(len(part) for part in answer)
                return answer
            log.info("no answer from %s to a rollout request within %.1f s (attempt %d of %d)",
                     self._endpoint(), self.timeout_s, attempt, self.attempts)
            self._reset()
        raise ChannelError(f"no answer from {self._endpoint()} after {self.attempts} attempts")

    def report(self, report: ModelReport) -> bool:
        """Tell the collector what became of a deployment; False (logged) if it did not note it."""
        try:
            answer = self.request(encode_report(report))
            reply = decode_reply(answer[0]) if len(answer) == 1 else None
        except (ChannelError, WireError) as exc:
            log.warning("could not report %s of deployment %d: %s", report.outcome, report.deployment, exc)
            return False
        if reply is None or not reply.ok:
            log.warning("the collector did not take the report %s of deployment %d: %s", report.outcome,
                        report.deployment, f"{reply.status} {reply.detail}" if reply else "unexpected answer")
            return False
        return True

    def close(self) -> None:
        self._reset()
        self._context.term()
