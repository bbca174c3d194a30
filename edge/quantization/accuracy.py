"""What "accurate" means for a quantized model: one number per candidate, higher is better.

Two metrics, both computed with the detector's own pre- and post-processing, so that a candidate
model is judged exactly as the agent would run it:

* :class:`AgreementMetric` (always available): AP50 of the candidate's boxes scored against
  the float model's boxes on held-out frames of the calibration source. 1.0 means it finds what
  float finds, ranked the same way. It measures fidelity on the camera's own footage, not
  correctness: a labeled set says how much the loss matters.
* :class:`LabeledMetric` (``--eval``): COCO mAP@[.5:.95] against ground truth, the number a mAP
  budget is about.

A metric holds its images and answers :meth:`score` for any way of running a candidate (a model
the quantizer is still changing, or the written file on the agent's runtime).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from edge.contract.mean_ap import coco_mean_average_precision, mean_average_precision
from edge.detection.runner import Detector
from edge.errors import SourceError
from edge.evaluation.labeled import LabeledSet
from edge.frame_detections import Detections

RunModel = Callable[[np.ndarray], Sequence[np.ndarray]]
"""Runs a candidate on one letterboxed input tensor; returns the head's outputs in the order
:attr:`Detector.head_output_names` gives (as :meth:`Detector.infer` does)."""

PREDICTION_SCORE_THRESHOLD = 0.01
"""The candidate's boxes are ranked down to this score, as in COCO evaluation: mAP measures the
ranking, so a low floor keeps boxes a candidate scores a little lower than float from counting as
misses."""

class AccuracyMetric(ABC):
    name: str
    """What is measured on what, for reports: ``agreement AP50 with float32 on 100 held-out frames``."""

    @property
    @abstractmethod
    def items(self) -> int:
        """How many images the metric is computed over (indices 0..items-1)."""

    @abstractmethod
    def score(self, run: RunModel, indices: Iterable[int] | None = None) -> float:
        """The metric (0..1) of a candidate over ``indices`` (default: every image)."""

    def detect(self, detector: Detector, run: RunModel, image: np.ndarray) -> Detections:
        boxed = detector.preprocess(image)
        return detector.postprocess(run(boxed.tensor), boxed, image.shape[:2])


@dataclass(frozen=True)
class ClassAgreement:
    ap50: float
    reference_boxes: int


class AgreementMetric(AccuracyMetric):
    """Box-weighted AP50 of a candidate against float32's boxes, with float32's near misses ignored.

    Two choices make this steady enough to hold a model to within a point:

    * float32's boxes scoring just under the operating threshold (down to a third of it) are
      "don't care" regions, like COCO's crowd regions: a candidate that scores one of them a
      little higher is not a false positive, since float32 nearly kept it too;
    * classes count by their share of the reference boxes, so a class seen five times cannot
      swing the mean by tens of points.
    """

    NEAR_MISS_FRACTION = 1 / 3
    """Float32 boxes from this fraction of the threshold up to the threshold are ignored regions."""

    def __init__(self, reference: Detector, decoder: Detector, frames: Sequence[np.ndarray], description: str,
                 score_threshold: float):
        """
        Args:
            reference: the float model with its score threshold at most
                ``score_threshold * NEAR_MISS_FRACTION``; its boxes at or above ``score_threshold``
                are the truth, those below are ignored regions.
            decoder: the same model file with :data:`PREDICTION_SCORE_THRESHOLD`, whose
                pre- and post-processing decode every candidate.
            frames: held-out BGR frames (never used for calibration).
        """
        self._decoder = decoder
        self._frames = list(frames)
        self._references, self._ignored = [], []
        for frame in self._frames:
            found = reference.detect(frame)
            kept = found.confidence >= score_threshold
            self._references.append(_subset(found, kept))
            self._ignored.append(_subset(found, ~kept))
        self._class_names = reference.class_names
        boxes = sum(len(r.xyxy) for r in self._references)
        if boxes == 0:
            raise SourceError(
                f"the float model finds nothing at score >= {score_threshold} on the {len(self._frames)} held-out "
                "frames, so agreement cannot be measured: calibrate on footage with objects in it"
            )
        self.name = f"agreement AP50 with float32 on {len(self._frames)} held-out frames of {description}"

    @property
    def items(self) -> int:
        return len(self._frames)

    @property
    def frames(self) -> list[np.ndarray]:
        return list(self._frames)

    @property
    def reference_boxes(self) -> int:
        return sum(len(r.xyxy) for r in self._references)

    def score(self, run: RunModel, indices: Iterable[int] | None = None) -> float:
        return self.evaluate(run, indices)[0]

    def evaluate(self, run: RunModel, indices: Iterable[int] | None = None) -> tuple[float, dict[str, ClassAgreement]]:
        """The score and each class's AP50 with its reference boxes."""
        chosen = list(range(len(self._frames)) if indices is None else indices)
        predictions = [self.detect(self._decoder, run, self._frames[i]) for i in chosen]
        result = mean_average_precision(predictions, [self._references[i] for i in chosen], iou_threshold=0.5,
                                        ignored=[self._ignored[i] for i in chosen])
        per_class = {self._class_names[c]: ClassAgreement(ap, result.per_class_boxes[c])
                     for c, ap in result.per_class.items()}
        if not result.reference_boxes:  # a ranking subset without objects: nothing to disagree on
            return 1.0, per_class
        weighted = sum(c.ap50 * c.reference_boxes for c in per_class.values()) / result.reference_boxes
        return float(weighted), per_class


def _subset(detections: Detections, mask: np.ndarray) -> Detections:
    return Detections.from_arrays(detections.xyxy[mask], detections.confidence[mask], detections.class_id[mask])


class LabeledMetric(AccuracyMetric):
    def __init__(self, decoder: Detector, labeled: LabeledSet):
        """
        Args:
            decoder: the model file with COCO evaluation settings (score 0.001, NMS 0.65, at most
                100 boxes), whose pre- and post-processing decode every candidate.
        """
        import cv2

        self._decoder = decoder
        self._images = []
        for image in labeled.images:
            pixels = cv2.imread(str(image.path))
            if pixels is None:
                raise SourceError(f"--eval: cannot read image {image.path}")
            self._images.append(pixels)
        self._truth = [image.truth for image in labeled.images]
        self.name = f"mAP@[.5:.95] on {len(self._images)} labeled images ({labeled.description})"

    @property
    def items(self) -> int:
        return len(self._images)

    def score(self, run: RunModel, indices: Iterable[int] | None = None) -> float:
        return self.evaluate(run, indices).map or 0.0

    def evaluate(self, run: RunModel, indices: Iterable[int] | None = None):
        """:class:`~edge.contract.mean_ap.CocoMeanAP` of a candidate (mAP@[.5:.95] and AP50)."""
        chosen = list(range(len(self._images)) if indices is None else indices)
        predictions = [self.detect(self._decoder, run, self._images[i]) for i in chosen]
        return coco_mean_average_precision(predictions, [self._truth[i] for i in chosen])


def evaluation_settings() -> dict:
    """Detector settings of COCO evaluation (YOLOX's own): every box down to 0.001, NMS at 0.65, 100 per image."""
    return {"score_threshold": 0.001, "iou_threshold": 0.65, "max_detections": 100}
