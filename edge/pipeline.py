"""The edge pipeline: the one place that knows the order of the stages.

    camera 1 capture thread ─┐                               ┌─► selection thread 1 ─┐
    camera 2 capture thread ─┼─► detector (this thread): ────┼─► selection thread 2 ─┼─► sink
    ...                      ┘   batches of the frames       └─► ...                 ┘
                                 waiting at the same moment

One process serves one camera or many (a site's cameras next to one box). Each camera has its own
capture thread (decoding is a real cost for high-resolution streams), tracker, keyframe selector
and counters; one detector serves them all. The detector's thread gathers the frames waiting at
the same moment, at most one per camera, waiting at most ``batch_wait_s`` after the first for the
others, and runs them through the detector together (one batched inference where the model takes
batches, else side by side on its streams). With ``detections_in_flight`` > 1 it keeps that many
batches in detection at once. Results go to each camera's selection thread in frame order.

Each selection thread runs its camera's tracker on every frame, in order: it updates the tracks
where the detector ran and predicts the boxes in between (``detect_every``), so every box sent
carries its track id; the selector then sees the boxes and the track events of the frame. Kept
frames go to the sink: the uplink (``edgelabel-agent run``: JPEG, spool, send) or a report
(``edgelabel-agent sample``); see :class:`KeyframeSink`.

Every queue between stages is bounded. A file source is never dropped from: when the detector
falls behind, its capture waits. A live source cannot wait, so when its queue is full its oldest
frame is dropped on purpose, and the drops are counted per camera. A camera whose source fails
stops alone: the others go on, and :attr:`Camera.error` says what happened.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from edge.frame_detections import Detections
from edge.selection import Decision
from edge.sources import Frame, FrameSource
from edge.tracking import ByteTracker, StridedTracker, Tracker, TrackEvent, TrackEventKind
from edge.uplink import Keyframe, LabelingModel

log = logging.getLogger("edge.pipeline")

_END = object()
WAKE_S = 0.05
"""How often waiting threads look at the stop flag."""


class Detector(Protocol):
    """What the pipeline needs of a detector (see ``edge.detection.runner.Detector``); ``detect_many``
    is optional (several frames at once), and so is ``detect_labeled`` (``images`` ->
    ``(LabelingModel, detections)``: a detector that a rollout may swap, see
    ``edge.rollout.live``, says which model labeled the frames, and they carry it)."""

    def detect(self, image_bgr) -> Detections: ...


class Selector(Protocol):
    """What the pipeline needs of a keyframe selector (see ``edge.selection.KeyframeSelector``)."""

    def consider(self, frame: Frame, detections: Detections, track_events: Sequence[TrackEvent] = ()) -> Decision: ...


class KeyframeSink(Protocol):
    """Where kept frames go (see ``edge.uplink.Uplink``). The pipeline calls :meth:`start` before
    the first frame, :meth:`put` from the selection threads for each kept frame (in frame order
    per camera), and at the end either :meth:`finish` (the sources ended or were stopped) or
    :meth:`abort` (Ctrl-C). ``put`` must be safe to call from several threads."""

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

    def add(self, other: "PipelineCounts") -> None:
        for name in ("frames_read", "frames_dropped", "frames_detected", "frames_selected", "tracks_confirmed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


SourceOpener = Callable[[], FrameSource]
"""Opens a camera's source; called in the camera's capture thread (so one slow or dead camera
does not hold the others up)."""


@dataclass(eq=False)
class Camera:
    """One camera of the pipeline and everything that is its own.

    Args:
        name: the device name its frames carry (``site-1`` alone, ``site-1/gate`` among several).
        source: the opened source, or a function that opens it in the capture thread.
        tracker: ``None`` means a :class:`ByteTracker` with its default settings.
        detect_every: run the detector on every k-th frame only; the tracker predicts between.
    """

    name: str
    source: FrameSource | SourceOpener
    selector: Selector
    tracker: Tracker | None = None
    detect_every: int = 1
    queue_size: int = 4
    detector: Detector | None = None
    """This camera's own detector (other tiling settings); None: the pipeline's."""
    counts: PipelineCounts = field(default_factory=PipelineCounts)
    error: BaseException | None = None
    """Why this camera stopped early (its source could not be opened or read), else None."""

    def __post_init__(self) -> None:
        self.tracking = StridedTracker(self.tracker if self.tracker is not None else ByteTracker(), self.detect_every)
        self.labeled_by: list[tuple[int, LabelingModel]] = []
        """(first frame index, model) at each change of the model that labels this camera's
        frames (selection thread only): predicted and look-ahead frames take the model of the
        last detection at or before them."""
        self.frames: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self.detected: queue.Queue = queue.Queue(maxsize=self.queue_size)
        self.opened: FrameSource | None = self.source if isinstance(self.source, FrameSource) else None
        self.capture_done = False
        self.selection_error: BaseException | None = None


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
        """One camera; see :meth:`for_cameras` for several.

        Args:
            sink: takes the kept frames (the uplink, or a report).
            tracker: gives boxes their track ids and the selector its track events; ``None``
                means a :class:`ByteTracker` with its default settings.
            detect_every: run the detector on every k-th frame only and let the tracker predict
                the boxes of the frames in between (see :class:`StridedTracker`).
            detections_in_flight: frames in detection at once; the detector's ``detect`` must be
                safe to call from that many threads (a runtime with as many streams).
        """
        camera = Camera("", source, selector, tracker, detect_every, capture_queue_size)
        self._setup([camera], detector, sink, detections_in_flight, batch_size=1, batch_wait_s=0.0)

    @classmethod
    def for_cameras(
        cls,
        cameras: Sequence[Camera],
        detector: Detector,
        sink: KeyframeSink,
        detections_in_flight: int = 1,
        batch_size: int | None = None,
        batch_wait_s: float = 0.01,
    ) -> "Pipeline":
        """Several cameras, one detector.

        Args:
            batch_size: most frames detected together (default: one per camera).
            batch_wait_s: after the first frame of a batch, how long to wait for the other
                cameras' frames. Longer fills batches better; each frame waits up to that long.
        """
        pipeline = cls.__new__(cls)
        pipeline._setup(list(cameras), detector, sink, detections_in_flight,
                        batch_size or len(cameras), batch_wait_s)
        return pipeline

    def _setup(self, cameras, detector, sink, detections_in_flight, batch_size, batch_wait_s) -> None:
        if detections_in_flight < 1:
            raise ValueError(f"detections_in_flight must be at least 1, got {detections_in_flight}")
        if not cameras:
            raise ValueError("at least one camera is needed")
        names = [camera.name for camera in cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must differ, got {names}")
        self.cameras = cameras
        self.detector = detector
        self.sink = sink
        self.detections_in_flight = detections_in_flight
        self.batch_size = max(1, batch_size)
        self.batch_wait_s = batch_wait_s
        self._stop = threading.Event()
        self._frame_ready = threading.Condition()
        self._first_camera = 0
        self._started = time.monotonic()
        self._seconds = 0.0

    @property
    def counts(self) -> PipelineCounts:
        """Every camera's counts added up (the one camera's, for a single camera)."""
        total = PipelineCounts()
        for camera in self.cameras:
            total.add(camera.counts)
        total.seconds = self._seconds or (time.monotonic() - self._started)
        return total

    def stop(self) -> None:
        """Ask the pipeline to stop reading; safe from a signal handler or another thread."""
        self._stop.set()
        for camera in self.cameras:
            if camera.opened is not None:
                camera.opened.close()

    def run(self) -> PipelineCounts:
        self._started = time.monotonic()
        captures = [threading.Thread(target=self._capture, args=(camera,), name=f"capture-{camera.name or i}",
                                     daemon=True) for i, camera in enumerate(self.cameras)]
        selections = [threading.Thread(target=self._select, args=(camera,), name=f"selection-{camera.name or i}",
                                       daemon=True) for i, camera in enumerate(self.cameras)]
        self.sink.start()
        for thread in (*selections, *captures):
            thread.start()
        interrupted = False
        try:
            self._detect_all()
        except KeyboardInterrupt:
            interrupted = True
            self.stop()
            raise
        finally:
            self._stop.set()
            for thread in captures:
                thread.join(timeout=5)
            if interrupted:
                self.sink.abort()  # also unblocks a selection thread waiting to hand over a frame
            for camera in self.cameras:
                self._put_waiting(camera.detected, _END, even_if_stopped=True)
            for thread in selections:
                thread.join()
            if not interrupted:
                self.sink.finish()
            self._seconds = time.monotonic() - self._started
        for camera in self.cameras:
            if camera.selection_error is not None:
                raise camera.selection_error
        if len(self.cameras) == 1 and self.cameras[0].error is not None:
            raise self.cameras[0].error  # one camera: its failure is the run's
        return self.counts

    # --- the detector's thread ------------------------------------------------------------------

    def _detect_all(self) -> None:
        workers = (ThreadPoolExecutor(self.detections_in_flight, thread_name_prefix="detect")
                   if self.detections_in_flight > 1 else None)
        in_flight: deque[tuple[list[tuple[Camera, object]], Future | None, set[int]]] = deque()
        try:
            while True:
                batch = self._gather()
                if batch is None:
                    break
                to_detect = [(camera, item) for camera, item in batch
                             if item is not _END and camera.tracking.needs_detection(item)]
                for camera, _ in to_detect:
                    camera.counts.frames_detected += 1
                if not to_detect:
                    pending = None
                elif workers is not None:
                    pending = workers.submit(self._detect_many, to_detect)
                else:
                    pending = _done(self._detect_many(to_detect))
                in_flight.append((batch, pending, {id(item) for _, item in to_detect}))
                # Hand results on in order: the oldest batch as soon as it is done, or when the
                # workers are all busy and waiting is the only way to make room.
                while in_flight and (len(in_flight) >= self.detections_in_flight or _ready(in_flight[0][1])):
                    self._hand_on(*in_flight.popleft())
            while in_flight:
                self._hand_on(*in_flight.popleft())
        finally:
            if workers is not None:
                workers.shutdown(wait=True, cancel_futures=True)

    def _detect_many(self, frames: list[tuple[Camera, Frame]]) -> list[tuple[Detections, LabelingModel | None]]:
        """Detections of each frame and the model that made them (None: the sink's), in order;
        cameras with a detector of their own (other tiling) are run as their own group."""
        groups: dict[int, list[int]] = {}
        detectors = {}
        for index, (camera, _) in enumerate(frames):
            detector = camera.detector or self.detector
            detectors[id(detector)] = detector
            groups.setdefault(id(detector), []).append(index)
        found: list = [None] * len(frames)
        for key, indices in groups.items():
            images = [frames[i][1].image for i in indices]
            model = None
            detect_labeled = getattr(detectors[key], "detect_labeled", None)
            detect_many = getattr(detectors[key], "detect_many", None)
            if detect_labeled is not None:
                model, results = detect_labeled(images)
            elif detect_many is not None:
                results = detect_many(images)
            else:
                results = [detectors[key].detect(image) for image in images]
            for index, detections in zip(indices, results):
                found[index] = (detections, model)
        return found

    def _gather(self) -> list[tuple[Camera, object]] | None:
        """At most one waiting item (a frame, or a camera's end) per camera, up to the batch size;
        None when every camera has ended. Waits for the first item, then up to ``batch_wait_s``
        for the other cameras'."""
        batch: list[tuple[Camera, object]] = []
        deadline = None
        # Checked and waited on under the condition's lock: a capture thread notifies under it
        # after each put, so no frame arrives unnoticed between the check and the wait.
        with self._frame_ready:
            while True:
                active = [camera for camera in self.cameras if not camera.capture_done]
                if not active:
                    return batch or None
                taken = {id(camera) for camera, _ in batch}
                for offset in range(len(active)):
                    camera = active[(self._first_camera + offset) % len(active)]
                    if id(camera) in taken or len(batch) >= self.batch_size:
                        continue
                    try:
                        item = camera.frames.get_nowait()
                    except queue.Empty:
                        continue
                    if item is _END:
                        camera.capture_done = True
                    batch.append((camera, item))
                    taken.add(id(camera))
                self._first_camera += 1  # fairness: another camera goes first next time
                waiting_for = [c for c in self.cameras if not c.capture_done and id(c) not in taken]
                if batch and (len(batch) >= self.batch_size or not waiting_for):
                    return batch
                now = time.monotonic()
                if batch:
                    deadline = deadline or now + self.batch_wait_s
                    if now >= deadline:
                        return batch
                    self._frame_ready.wait(deadline - now)
                else:
                    self._frame_ready.wait(WAKE_S)

    def _hand_on(self, batch, pending: Future | None, detected_ids: set[int]) -> None:
        """Pass a batch's frames and their detections (None: not detected) to their cameras."""
        found = iter(pending.result()) if pending is not None else iter(())
        for camera, item in batch:
            if item is _END:
                self._put_waiting(camera.detected, _END, even_if_stopped=True)
                continue
            detections, model = next(found) if id(item) in detected_ids else (None, None)
            self._put_waiting(camera.detected, (item, detections, model))

    # --- per camera ------------------------------------------------------------------------------

    def _select(self, camera: Camera) -> None:
        try:
            while True:
                item = camera.detected.get()
                if item is _END:
                    # A look-ahead selector still holds its last candidates. (Handled here: the
                    # handler below waits for an end marker this one already was.)
                    try:
                        self._put_released(camera, getattr(camera.selector, "flush", tuple)())
                    except BaseException as exc:
                        camera.selection_error = exc
                    return
                frame, detections, model = item
                if model is not None and (not camera.labeled_by or camera.labeled_by[-1][1] != model):
                    camera.labeled_by.append((frame.index, model))
                update = camera.tracking.step(frame, detections)
                camera.counts.tracks_confirmed += sum(e.kind is TrackEventKind.CONFIRMED for e in update.events)
                decision = camera.selector.consider(frame, update.detections, track_events=update.events)
                self._put_released(camera, decision.released)
                if decision.keep:
                    camera.counts.frames_selected += 1
                    self.sink.put(Keyframe(frame, update.detections, decision, camera=camera.name,
                                           model=_labeled_by(camera, frame)))
        except BaseException as exc:  # re-raised in the pipeline thread
            camera.selection_error = exc
            self.stop()
            # Keep draining so the detector thread never blocks on a full queue.
            while camera.detected.get() is not _END:
                pass

    def _put_released(self, camera: Camera, released) -> None:
        """Send the earlier frames a look-ahead selector decided to keep (``Decision.released``)."""
        for kept in released:
            camera.counts.frames_selected += 1
            self.sink.put(Keyframe(kept.frame, kept.detections, kept.decision, camera=camera.name,
                                   model=_labeled_by(camera, kept.frame)))

    def _capture(self, camera: Camera) -> None:
        try:
            if camera.opened is None:
                camera.opened = camera.source()
                if self._stop.is_set():
                    camera.opened.close()
            for frame in camera.opened:
                if self._stop.is_set():
                    break
                camera.counts.frames_read += 1
                if camera.opened.is_live:
                    self._put_dropping_oldest(camera, frame)
                else:
                    self._put_waiting(camera.frames, frame)
                with self._frame_ready:
                    self._frame_ready.notify_all()
        except BaseException as exc:
            camera.error = exc
            if len(self.cameras) > 1:
                log.error("camera %s stopped: %s; the other cameras go on", camera.name, exc)
        finally:
            self._put_waiting(camera.frames, _END, even_if_stopped=True, make_room=True)
            with self._frame_ready:
                self._frame_ready.notify_all()

    def _put_waiting(self, target: queue.Queue, item, even_if_stopped: bool = False, make_room: bool = False) -> None:
        while even_if_stopped or not self._stop.is_set():
            try:
                target.put(item, timeout=0.2)
                return
            except queue.Full:
                if make_room and self._stop.is_set():
                    # The detector has stopped reading; make room so the end marker gets through.
                    _drain_one(target)

    def _put_dropping_oldest(self, camera: Camera, frame: Frame) -> None:
        while True:
            try:
                camera.frames.put_nowait(frame)
                return
            except queue.Full:
                if _drain_one(camera.frames):
                    camera.counts.frames_dropped += 1
                    dropped = camera.counts.frames_dropped
                    if dropped in (1, 10, 100) or dropped % 1000 == 0:
                        log.warning("detector is behind the live source%s: %d frame(s) dropped so far",
                                    f" of camera {camera.name}" if camera.name else "", dropped)


def _labeled_by(camera: Camera, frame: Frame) -> LabelingModel | None:
    """The model of the last detection at or before ``frame`` (None: the detector names none)."""
    changes = camera.labeled_by
    if not changes:
        return None
    if len(changes) > 8:
        del changes[:-8]  # a look-ahead selector holds frames for seconds, not for eight swaps
    for first_index, model in reversed(changes):
        if first_index <= frame.index:
            return model
    return changes[0][1]  # a source that restarted its numbering


def _drain_one(target: queue.Queue) -> bool:
    try:
        target.get_nowait()
        return True
    except queue.Empty:
        return False


def _done(detections: list[Detections]) -> Future:
    future: Future = Future()
    future.set_result(detections)
    return future


def _ready(pending: Future | None) -> bool:
    return pending is None or pending.done()
