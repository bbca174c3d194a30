"""The uplink stage: a thread that turns kept frames into wire messages and sends them.

JPEG encoding, hashing and waiting for acks happen here, off the detector's thread, so they
overlap with inference instead of adding to it. The queue in front of it is bounded: when the
collector is slow the detector thread waits (file sources) rather than memory growing.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from edge.detections import Detections
from edge.jpeg import encode_jpeg
from edge.selector import Decision
from edge.sender import FrameSender
from edge.signature import phash64, phash_hex
from edge.sources import Frame
from edge.wire import FrameHeader

log = logging.getLogger("edge.uplink")

_END = object()


@dataclass(frozen=True)
class Keyframe:
    frame: Frame
    detections: Detections
    decision: Decision


class Uplink:
    def __init__(
        self,
        sender: FrameSender,
        device: str,
        model_id: str,
        class_names: tuple[str, ...],
        first_seq: int,
        jpeg_quality: int = 85,
        queue_size: int = 8,
        flush_timeout_s: float = 60.0,
    ):
        """
        Args:
            first_seq: sequence number of the first frame; each frame takes the next one.
            flush_timeout_s: at the end, how long to wait for the collector to ack what was sent.
        """
        self.sender = sender
        self.device = device
        self.model_id = model_id
        self.class_names = class_names
        self.jpeg_quality = jpeg_quality
        self.flush_timeout_s = flush_timeout_s
        self.next_seq = first_seq
        self.unacknowledged = 0
        """Frames still without an answer when the uplink finished."""
        self.bytes_sent = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def put(self, keyframe: Keyframe) -> None:
        """Queue a kept frame; blocks while the queue is full (back-pressure on the detector)."""
        while not self._stop.is_set():
            if self._error is not None:
                raise RuntimeError("uplink thread failed") from self._error
            try:
                self._queue.put(keyframe, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Send what is queued, wait for the acks (up to ``flush_timeout_s``), and stop."""
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=0.2)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is not None:
            raise RuntimeError("uplink thread failed") from self._error

    def abort(self) -> None:
        """Stop without waiting for the queue or for acks (interrupt)."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    item = self._queue.get(timeout=0.05)
                except queue.Empty:
                    self.sender.poll(timeout_s=0)
                    continue
                if item is _END:
                    break
                self._send(item)
            if not self._stop.is_set():
                started = time.monotonic()
                if not self.sender.flush(self.flush_timeout_s):
                    log.warning(
                        "%d frame(s) still unacknowledged after waiting %.0f s for %s",
                        self.sender.in_flight, time.monotonic() - started, self.sender.endpoint,
                    )
            self.unacknowledged = self.sender.in_flight
        except BaseException as exc:  # surfaced to the pipeline thread by put()/finish()
            self._error = exc
            log.exception("uplink failed")

    def _send(self, keyframe: Keyframe) -> None:
        frame = keyframe.frame
        jpeg = encode_jpeg(frame.image, self.jpeg_quality)
        height, width = frame.image.shape[:2]
        header = FrameHeader(
            device=self.device,
            seq=self.next_seq,
            capture_ts=frame.capture_ts,
            width=width,
            height=height,
            model_id=self.model_id,
            class_names=self.class_names,
            labels=keyframe.detections.to_labels(),
            reasons=keyframe.decision.reasons,
            priority=keyframe.decision.priority,
            phash=phash_hex(phash64(frame.image)),
            frame_index=frame.index,
            source_ts=frame.source_ts,
        )
        self.next_seq += 1
        if self.sender.send(header, jpeg, stop=self._stop):
            self.bytes_sent += len(jpeg)
