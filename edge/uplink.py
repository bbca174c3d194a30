"""The uplink stage: a thread that spools kept frames and streams the spool to the collector.

For each kept frame it encodes the JPEG, hashes the picture and writes the message into the
durable spool (which assigns the sequence number). Independently, it keeps the sender's window
full with the oldest spooled frames and removes each frame from the spool once the collector has
answered it for good. While the collector is unreachable, frames simply accumulate in the
(bounded) spool; the detector never waits for the network. A heartbeat per camera with its
counters goes out every ``status_interval_s``. One uplink, one spool and one connection serve
all of an agent's cameras; each frame carries its camera's device name.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge.contract.phash import phash64, phash_hex
from edge.contract.wire import DeviceStatus, FrameHeader
from edge.frame_detections import Detections
from edge.jpeg import encode_jpeg
from edge.selection import Decision
from edge.sender import FrameSender
from edge.sources import Frame
from edge.spool import Spool

log = logging.getLogger("edge.uplink")

_END = object()
REMOVE_BATCH_S = 0.2
"""How long answered frames wait to be removed from the spool together (one commit)."""


@dataclass(frozen=True)
class LabelingModel:
    """The model that labeled a frame: a rollout can swap the detector mid-stream, so each frame
    carries its own (see ``edge.rollout``)."""

    model_id: str
    """``{weights id}@{runtime tag}``, as the wire's ``model_id``."""
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class Keyframe:
    frame: Frame
    detections: Detections
    decision: Decision
    camera: str = ""
    """The device name the frame goes out under (``site-1/gate``); "" for the uplink's own device."""
    redactions: tuple[tuple[str, int], ...] = ()
    """(kind, count) of the redactions applied to ``frame`` (see edge.redaction); () for none."""
    model: LabelingModel | None = None
    """The model whose boxes ``detections`` hold; None: the uplink's ``model_id`` and ``class_names``."""

    def jpeg(self, quality: int) -> bytes:
        """The frame as a JPEG: the selector's encoding when it made one at this quality."""
        return self.decision.jpegs.get(quality) or encode_jpeg(self.frame.image, quality)


class Uplink:
    def __init__(
        self,
        sender: FrameSender,
        spool: Spool,
        model_id: str,
        class_names: tuple[str, ...],
        jpeg_quality: int = 85,
        queue_size: int = 8,
        flush_timeout_s: float = 60.0,
        status_interval_s: float = 10.0,
        statuses: Callable[[], Mapping[str, Mapping[str, float]]] | None = None,
    ):
        """
        Args:
            flush_timeout_s: at the end, how long to wait for the collector to ack the spool.
            status_interval_s: seconds between heartbeats. Shorter shows a stalled device sooner
                on the collector's dashboard, at a few hundred bytes each.
            statuses: each camera's counters (fps, frames read...) by its device name; one
                heartbeat per camera, each with the agent's spool and sender counters added.
                None: one heartbeat for the uplink's own device with those only.
        """
        self.sender = sender
        self.spool = spool
        self.device = spool.device
        self.model_id = model_id
        """What heartbeats name and frames without their own model carry; a rollout's swap replaces
        it (one attribute assignment: the uplink thread sees the old or the new one)."""
        self.class_names = class_names
        self.jpeg_quality = jpeg_quality
        self.flush_timeout_s = flush_timeout_s
        self.status_interval_s = status_interval_s
        self.statuses = statuses or (lambda: {self.device: {}})
        self.spooled = 0
        """Frames written to the spool by this run."""
        self.evicted = 0
        """Frames this run had to evict from the full spool."""
        self.bytes_spooled = 0
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._error: BaseException | None = None
        self._loaded_up_to = 0  # highest spooled seq handed to the sender
        self._answered: list[int] = []
        self._started = time.monotonic()

    @property
    def unacknowledged(self) -> int:
        """Frames still in the spool (they go out on the next run)."""
        return self.spool.count

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def put(self, keyframe: Keyframe) -> None:
        """Queue a kept frame; blocks only while the spool writer is behind (not on the network)."""
        while not self._stop.is_set():
            if self._error is not None:
                raise RuntimeError("uplink thread failed") from self._error
            try:
                self._queue.put(keyframe, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Spool what is queued, wait (up to ``flush_timeout_s``) for the spool to drain, and stop."""
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
        """Stop soon without waiting for acks; what is spooled stays spooled for the next run."""
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            next_status = time.monotonic()
            last_removal = time.monotonic()
            ending = False
            while not self._stop.is_set():
                if not ending:
                    try:
                        item = self._queue.get(timeout=0.05)
                    except queue.Empty:
                        item = None
                    if item is _END:
                        ending = True
                        flush_deadline = time.monotonic() + self.flush_timeout_s
                    elif item is not None:
                        self._spool(item)
                self._fill_window()
                self._answered.extend(self.sender.poll(timeout_s=0.05 if ending else 0))
                now = time.monotonic()
                if self._answered and (ending or now - last_removal >= REMOVE_BATCH_S):
                    self.spool.remove(self._answered)
                    self._answered = []
                    last_removal = now
                if now >= next_status:
                    self._send_status()
                    next_status = now + self.status_interval_s
                if ending and (self.spool.count == 0 or now >= flush_deadline):
                    break
            if self._answered:
                self.spool.remove(self._answered)
            self._send_status()
            if self.spool.count:
                log.warning("%d frame(s) remain in the spool %s; they will be sent on the next run",
                            self.spool.count, self.spool.directory)
        except BaseException as exc:  # surfaced to the pipeline thread by put()/finish()
            self._error = exc
            log.exception("uplink failed")

    def _spool(self, keyframe: Keyframe) -> None:
        frame = keyframe.frame
        jpeg = keyframe.jpeg(self.jpeg_quality)
        height, width = frame.image.shape[:2]
        model = keyframe.model or LabelingModel(self.model_id, self.class_names)
        header = FrameHeader(
            device=keyframe.camera or self.device,
            seq=0,  # the spool assigns it
            capture_ts=frame.capture_ts,
            width=width,
            height=height,
            model_id=model.model_id,
            class_names=model.class_names,
            labels=keyframe.detections.to_labels(),
            reasons=keyframe.decision.reasons,
            priority=keyframe.decision.priority,
            phash=phash_hex(phash64(frame.image)),
            frame_index=frame.index,
            source_ts=frame.source_ts,
            redactions=keyframe.redactions,
        )
        _, evicted = self.spool.add(header, jpeg)
        self.spooled += 1
        self.evicted += len(evicted)
        self.bytes_spooled += len(jpeg)

    def _fill_window(self) -> None:
        while self.sender.has_room:
            batch = self.spool.after(self._loaded_up_to, limit=self.sender.window)
            if not batch:
                return
            for seq, parts in batch:
                if not self.sender.has_room:
                    return
                self.sender.submit(seq, parts)
                self._loaded_up_to = seq

    def _send_status(self) -> None:
        agent = {
            "spooled": self.spool.count,
            "spool_bytes": self.spool.bytes,
            "evicted": self.spool.evicted_total,
            "sent": self.sender.counts.sent,
            "acknowledged": self.sender.counts.acknowledged,
            "uptime_s": round(time.monotonic() - self._started, 1),
        }
        if len(self.sender.endpoints) > 1:  # (a collector older than failover rejects an unknown counter)
            agent["failovers"] = self.sender.counts.failovers
        for device, counters in self.statuses().items():
            self.sender.send_status(DeviceStatus(device, time.time(), self.model_id, {**counters, **agent}))
