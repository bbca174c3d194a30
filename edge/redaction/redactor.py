"""What a kept frame's redaction covers, and the sink stage that applies it.

:class:`Redactor` finds the regions of one frame (faces from CenterFace, the top of each person box
for ``heads``, the whole box of a chosen class) and returns a redacted copy with the count of each
kind. :class:`RedactingSink` sits in front of the pipeline's sink (the uplink, or a sample report):
every kept frame is redacted at full resolution before anything encodes it, and the selector's
JPEG of the original (made to measure the bytes budget) is thrown away, so the original pixels
never reach the spool, the socket or a report. The detector's boxes were computed on the original
frame and go out unchanged.

Face detection runs only on kept frames, in a thread of its own: the detector does not wait for
it (on a busy machine the two share the cores).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections import Counter
from collections.abc import Sequence

import numpy as np

from edge.config import FACES, HEADS, RedactionConfig
from edge.contract.boxes import iou_xyxy
from edge.contract.errors import ConfigError
from edge.frame_detections import Detections
from edge.redaction.apply import grown_boxes, redact_boxes
from edge.uplink import Keyframe

log = logging.getLogger("edge.redaction")

PERSON = "person"
SAME_FACE_IOU = 0.3
_END = object()


class Redactor:
    """Redacts frames as ``settings`` say.

    Args:
        class_names: the detector's, to resolve class targets (and ``person`` for ``heads``).
        origin: where ``targets`` came from (``--redact``, a config file), for the error message.
        face_detector: anything with ``detect(image) -> (N, 5)`` (default: CenterFace from
            ``settings``, loaded now so a missing model shows at start).

    Raises :class:`ConfigError` (one line) for a target that is neither ``faces``, ``heads`` nor a
    class of the detector.
    """

    def __init__(self, settings: RedactionConfig, class_names: Sequence[str], origin: str | None = None,
                 face_detector=None):
        self.settings = settings
        self.targets = tuple(dict.fromkeys(settings.targets))
        names = list(class_names)
        where = f"{origin or 'redaction.targets'}: "
        self.class_ids: dict[str, int] = {}
        for target in self.targets:
            if target in (FACES, HEADS):
                continue
            if target not in names:
                shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
                raise ConfigError(f"{where}unknown redaction target {target!r}: expected {FACES}, {HEADS} "
                                  f"or a class of the detector ({shown})")
            self.class_ids[target] = names.index(target)
        if HEADS in self.targets:
            if PERSON not in names:
                raise ConfigError(f"{where}redaction target {HEADS!r} needs a {PERSON!r} class, which the "
                                  "detector does not have")
            self.person_id = names.index(PERSON)
        self.faces = None
        if FACES in self.targets:
            self.faces = face_detector if face_detector is not None else _load_centerface(settings)

    def regions(self, image: np.ndarray, detections: Detections) -> dict[str, np.ndarray]:
        """The boxes to redact of each target, as found (before the margin)."""
        found: dict[str, np.ndarray] = {}
        for target in self.targets:
            if target == FACES:
                found[target] = self.faces.detect(image)[:, :4]
            elif target == HEADS:
                people = np.asarray(detections.xyxy[detections.class_id == self.person_id], np.float64)
                heads = people.copy()
                heads[:, 3] = people[:, 1] + (people[:, 3] - people[:, 1]) * self.settings.head_share
                found[target] = heads
            else:
                found[target] = np.asarray(detections.xyxy[detections.class_id == self.class_ids[target]])
        return found

    def redact(self, image: np.ndarray, detections: Detections) -> tuple[np.ndarray, tuple[tuple[str, int], ...]]:
        """A redacted copy of ``image`` (the original is left as it is) and (target, regions) counts.

        Faces are looked for again on the redacted copy, ``face_passes`` times in all: a face
        next to a crowd is often found only once its neighbours are blurred."""
        found = self.regions(image, detections)
        redacted = image.copy()
        self._apply(redacted, found.values())
        counts = {target: len(xyxy) for target, xyxy in found.items()}
        faces = found.get(FACES)
        for _ in range(1, self.settings.face_passes if self.faces is not None else 1):
            more = self.faces.detect(redacted)[:, :4]
            if not len(more):
                break
            self._apply(redacted, [more])
            # Counted once: a blurred face found again where it was is not another face.
            new = more if not len(faces) else more[iou_xyxy(more, faces).max(axis=1) < SAME_FACE_IOU]
            counts[FACES] += len(new)
            faces = np.concatenate([faces, new])
        return redacted, tuple(counts.items())

    def _apply(self, image: np.ndarray, boxes_by_target) -> None:
        height, width = image.shape[:2]
        boxes = [grown_boxes(xyxy, self.settings.margin, width, height) for xyxy in boxes_by_target]
        if boxes:
            redact_boxes(image, np.concatenate(boxes), self.settings.style, self.settings.strength)


class RedactingSink:
    """The pipeline's sink with redaction in front: see the module docstring.

    Kept frames are redacted in a thread of their own, in the order they were put, so the
    selection threads (and through them the detector) never wait for the face detector unless
    ``queue_size`` kept frames are already waiting for it. ``put`` is safe to call from several
    selection threads."""

    def __init__(self, sink, redactor: Redactor, queue_size: int = 4):
        self.sink = sink
        self.redactor = redactor
        self.frames = 0
        self.totals: Counter[str] = Counter()
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="redaction", daemon=True)

    def start(self) -> None:
        self.sink.start()
        self._thread.start()

    def put(self, keyframe: Keyframe) -> None:
        self._hand_over(keyframe)

    def finish(self) -> None:
        self._hand_over(_END)
        self._thread.join()
        self._raise_if_failed()
        self.sink.finish()
        if self.frames:
            log.info("redacted %d kept frame(s): %s", self.frames,
                     ", ".join(f"{kind} {n}" for kind, n in self.totals.items()))

    def abort(self) -> None:
        self._stop.set()
        self.sink.abort()
        self._thread.join(timeout=5)

    def _hand_over(self, item) -> None:
        while not self._stop.is_set():
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise RuntimeError("redaction failed") from self._error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    keyframe = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                if keyframe is _END:
                    return
                self.sink.put(self._redacted(keyframe))
        except BaseException as exc:  # surfaced to the pipeline by put()/finish()
            self._error = exc
            log.exception("redaction failed")

    def _redacted(self, keyframe: Keyframe) -> Keyframe:
        image, counts = self.redactor.redact(keyframe.frame.image, keyframe.detections)
        self.frames += 1
        self.totals.update(dict(counts))
        return dataclasses.replace(
            keyframe,
            frame=dataclasses.replace(keyframe.frame, image=image),
            # The selector's JPEG holds the original pixels: never reuse it.
            decision=dataclasses.replace(keyframe.decision, jpegs={}),
            redactions=counts,
        )


def redaction_stage(settings: RedactionConfig, class_names: Sequence[str], origin: str | None = None):
    """A function that puts a sink behind a :class:`RedactingSink` when ``settings`` name targets
    (identity otherwise). The :class:`Redactor` is built now: a bad target or a missing face model
    fails before anything starts."""
    if not settings.targets:
        return lambda sink: sink
    redactor = Redactor(settings, class_names, origin)
    return lambda sink: RedactingSink(sink, redactor)


def _load_centerface(settings: RedactionConfig):
    from edge.redaction.centerface import CenterFace
    from edge.redaction.face_model import resolve_face_model

    # One thread: it runs beside the detector's streams, and a second pool of spinning threads
    # on the same cores slows the detector down more than it speeds the face detector up.
    return CenterFace(resolve_face_model(settings.face_model), threshold=settings.face_threshold,
                      max_side=settings.face_max_side, threads=1)
