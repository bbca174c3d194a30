"""The edge pipeline: the one place that knows the order of the stages.

    capture thread ─► detector (this thread) ─► selection thread: tracker, selector ─► sink

The sink takes the kept frames: the uplink (``edgelabel-agent run``: JPEG, spool, send) or a
report (``edgelabel-agent sample``: nothing is sent); see :class:`KeyframeSink`.

The detector's thread does nothing but inference, on every ``detect_every``-th frame (every
frame by default). With ``detections_in_flight`` > 1 it keeps that many frames in detection at
once (the runtime's streams, each on its own worker thread) and hands the results on in frame
order; on a small CPU two single-threaded inferences side by side do more frames per second than
one two-threaded inference. The selection thread runs the tracker on every frame, in order: it updates
the tracks where the detector ran and predicts the boxes in between, so every box sent carries
its track id; the selector then sees the boxes and the track events (started, confirmed, lost,
recovered, ended) of the frame. Decoding the next frame (capture thread), tracking and judging
the last one (selection thread) and encoding and sending the kept ones (uplink thread) overlap
with inference; OpenCV and ONNX Runtime release the GIL while they work. Every queue between
stages is bounded. A file source is never dropped from: when the detector falls behind, capture
waits. A live source cannot wait, so when the queue is full its oldest frame is dropped on
purpose, and the drops are counted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from edge.detections import Detections
from edge.selection import Decision
from edge.sources import Frame, FrameSource
from edge.tracking import ByteTracker, StridedTracker, Tracker, TrackEvent, TrackEventKind
from edge.uplink import Keyframe

log = logging.getLogger("edge.pipeline")

_END = object()


def _done(detections: Detections) -> Future:
    future: Future = Future()
    future.set_result(detections)
    return future


def _ready(pending: Future | None) -> bool:
    return pending is None or pending.done()


class Detector:
    """What the pipeline needs of a detector (see ``edge.detection.runner.Detector``)."""

    def detect(self, image_bgr) -> Detections: ...


class Selector(Protocol):
    """What the pipeline needs of a keyframe selector (see ``edge.selection.KeyframeSelector``)."""

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence[TrackEvent] = ()) -> Decision: ...


class KeyframeSink(Protocol):
    """Where kept frames go (see ``edge.uplink.Uplink``). The pipeline calls :meth:`start` before
    the first frame, :meth:`put` from its selection thread for each kept frame in order, and at
    the end either :meth:`finish` (the source ended or was stopped) or :meth:`abort` (Ctrl-C)."""

    def start(self) -> None: ...

    def put(self, keyframe: Keyframe) -> None:
        """Take one kept frame; may block to apply back-pressure, never for the network."""

    def finish(self) -> None:
        """Deal with what was put (flush, write out) and stop; raise if the sink failed."""

    def abort(self) -> None:
        """Stop soon, and unblock a :meth:`put` in progress."""


@dataclass
class PipelineCounts:
    frames_read: int = 0
    frames_dropped: int = 0
    """Live frames dropped on purpose because the detector was busy."""
    frames_detected: int = 0
    """Frames the detector ran on (all of them unless ``detect_every`` > 1)."""
    frames_selected: int = 0
    tracks_confirmed: int = 0
    """Tracks that became confirmed (objects followed long enough to carry an id)."""
    seconds: float = 0.0


class Pipeline:
    def __init__(
        self,
        source: FrameSource,
        detector: Detector,
        selector: Selector,
        sink: KeyframeSink,
        capture_queue_size: int = 4,
        tracker: Tracker | None = None,
        detect_every: int = 1,
        detections_in_flight: int = 1,
    ):
        """
        Args:
            sink: takes the kept frames (the uplink, or a report).
            tracker: gives boxes their track ids and the selector its track events; ``None``
                means a :class:`ByteTracker` with its default settings (one per pipeline, as
                track ids belong to one camera).
            detect_every: run the detector on every k-th frame only and let the tracker predict
                the boxes of the frames in between (see :class:`StridedTracker`).
            detections_in_flight: frames in detection at once; the detector's ``detect`` must be
                safe to call from that many threads (a runtime with as many streams).
        """
        if detections_in_flight < 1:
            raise ValueError(f"detections_in_flight must be at least 1, got {detections_in_flight}")
        self.detections_in_flight = detections_in_flight
        self.source = source
        self.detector = detector
        self.selector = selector
        self.sink = sink
        self.tracking = StridedTracker(tracker if tracker is not None else ByteTracker(), detect_every)
        self.counts = PipelineCounts()
        self._frames: queue.Queue = queue.Queue(maxsize=capture_queue_size)
        self._detected: queue.Queue = queue.Queue(maxsize=capture_queue_size)
        self._stop = threading.Event()
        self._capture_error: BaseException | None = None
        self._selection_error: BaseException | None = None

    def stop(self) -> None:
        """Ask the pipeline to stop reading; safe from a signal handler or another thread."""
        self._stop.set()
        self.source.close()

    def run(self) -> PipelineCounts:
        started = time.monotonic()
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        selection = threading.Thread(target=self._select, name="selection", daemon=True)
        self.sink.start()
        selection.start()
        capture.start()
        interrupted = False
        workers = (ThreadPoolExecutor(self.detections_in_flight, thread_name_prefix="detect")
                   if self.detections_in_flight > 1 else None)
        in_flight: deque[tuple[Frame, Future | None]] = deque()
        try:
            while True:
                frame = self._frames.get()
                if frame is _END:
                    break
                pending = None
                if self.tracking.needs_detection(frame):
                    pending = workers.submit(self.detector.detect, frame.image) if workers else _done(
                        self.detector.detect(frame.image))
                    self.counts.frames_detected += 1
                in_flight.append((frame, pending))
                # Hand results on in frame order: the oldest as soon as it is done, or when the
                # workers are all busy and waiting is the only way to make room.
                while in_flight and (len(in_flight) >= self.detections_in_flight or _ready(in_flight[0][1])):
                    self._hand_on(*in_flight.popleft())
            while in_flight:
                self._hand_on(*in_flight.popleft())
        except KeyboardInterrupt:
            interrupted = True
            self.stop()
            raise
        finally:
            if workers is not None:
                workers.shutdown(wait=True, cancel_futures=True)
            self._stop.set()
            capture.join(timeout=5)
            if interrupted:
                self.sink.abort()  # also unblocks a selection thread waiting to hand over a frame
            self._put_waiting(self._detected, _END, even_if_stopped=True)
            selection.join()
            if not interrupted:
                self.sink.finish()
            self.counts.seconds = time.monotonic() - started
        for error in (self._capture_error, self._selection_error):
            if error is not None:
                raise error
        return self.counts

    def _hand_on(self, frame: Frame, pending: Future | None) -> None:
        """Pass one frame and its detections (None: not detected) to the selection thread."""
        self._put_waiting(self._detected, (frame, pending.result() if pending is not None else None))

    def _select(self) -> None:
        try:
            while True:
                item = self._detected.get()
                if item is _END:
                    return
                frame, detections = item
                update = self.tracking.step(frame, detections)
                self.counts.tracks_confirmed += sum(e.kind is TrackEventKind.CONFIRMED for e in update.events)
                decision = self.selector.consider(frame, update.detections, track_events=update.events)
                if decision.keep:
                    self.counts.frames_selected += 1
                    self.sink.put(Keyframe(frame, update.detections, decision))
        except BaseException as exc:  # re-raised in the pipeline thread
            self._selection_error = exc
            self.stop()
            # Keep draining so the detector thread never blocks on a full queue.
            while self._detected.get() is not _END:
                pass

    def _capture(self) -> None:
        try:
            for frame in self.source:
                if self._stop.is_set():
                    break
                self.counts.frames_read += 1
                if self.source.is_live:
                    self._put_dropping_oldest(frame)
                else:
                    self._put_waiting(self._frames, frame)
        except BaseException as exc:  # re-raised in the pipeline thread
            self._capture_error = exc
        finally:
            self._put_waiting(self._frames, _END, even_if_stopped=True)

    def _put_waiting(self, target: queue.Queue, item, even_if_stopped: bool = False) -> None:
        while even_if_stopped or not self._stop.is_set():
            try:
                target.put(item, timeout=0.2)
                return
            except queue.Full:
                if even_if_stopped and self._stop.is_set() and target is self._frames:
                    # The detector has stopped reading; make room so the end marker gets through.
                    self._drain_one()

    def _put_dropping_oldest(self, frame: Frame) -> None:
        while True:
            try:
                self._frames.put_nowait(frame)
                return
            except queue.Full:
                if self._drain_one():
                    self.counts.frames_dropped += 1
                    if self.counts.frames_dropped in (1, 10, 100) or self.counts.frames_dropped % 1000 == 0:
                        log.warning("detector is behind the live source: %d frame(s) dropped so far", self.counts.frames_dropped)

    def _drain_one(self) -> bool:
        try:
            self._frames.get_nowait()
            return True
        except queue.Empty:
            return False
