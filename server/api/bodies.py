"""The JSON API's request bodies, one frozen dataclass per endpoint's body.

They are read by the same checker as the config files (:func:`edge.contract.config_files.from_plain`):
types are checked there (``bool`` is not an ``int``, a number is finite, an unknown or missing
field is refused, each named in the message), bounds by the ``check`` metadata of a field. A
field typed ``X | None`` may be left out or null. The rules a value must also meet where it is
used stay with the module that uses it, which Python callers reach without a body: the review
queue checks the decision, the comment's length, the lease's range and each box against its
frame (inside the image, a known detection, a class of the taxonomy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from edge.contract.config_files import check

MAX_SKIPPED = 1000
"""Frames a reviewer may skip in one session (the claim's ``skip`` list)."""


def row_id(**kwargs):
    """An integer field the database compares with a 64-bit column (a larger one would fail in the driver)."""
    return field(**kwargs, metadata=check(lambda value: -(2**63) <= value < 2**63, "an integer that fits in 64 bits"))


@dataclass(frozen=True)
class NoBody:
    """An endpoint that takes no fields (an empty body or ``{}``)."""


@dataclass(frozen=True)
class ClaimBody:
    """``POST /api/queue/claim``: a given frame, or the next one not in ``skip``."""

    frame_id: int | None = row_id(default=None)
    lease_seconds: float | None = None
    skip: tuple[int, ...] | None = field(default=None, metadata=check(
        lambda ids: len(ids) <= MAX_SKIPPED, f"a list of at most {MAX_SKIPPED} frame ids"))


@dataclass(frozen=True)
class RenewBody:
    """``POST /api/frames/{id}/renew``."""

    lease_seconds: float | None = None


@dataclass(frozen=True)
class Box:
    """A submitted box in pixel ``xyxy`` of the full frame (see :mod:`server.review.annotations`)."""

    x1: float
    y1: float
    x2: float
    y2: float
    class_name: str
    track_id: int | None = row_id(default=None)
    detection_id: int | None = row_id(default=None)
    """The model's box it was made from; None for a box the reviewer drew."""


@dataclass(frozen=True)
class DecisionBody:
    """``POST /api/adjudication/{id}``: ``accept``, ``correct`` (with ``annotations``) or ``reject``."""

    decision: str
    annotations: tuple[Box, ...] | None = None

    def boxes(self) -> list[dict] | None:
        """The boxes as the review queue takes them (plain objects, as submitted)."""
        if self.annotations is None:
            return None
        return [asdict(box) for box in self.annotations]


@dataclass(frozen=True)
class SubmitBody(DecisionBody):
    """``POST /api/frames/{id}/submit``: a reviewer's decision, with an optional comment."""

    comment: str | None = None


@dataclass(frozen=True)
class TrackAcceptBody:
    """``POST /api/track/accept``: accept a whole track, optionally as another class."""

    device: str
    track_id: int = row_id()
    class_name: str | None = None


@dataclass(frozen=True)
class ClassBody:
    """``POST /api/taxonomy/classes``: add or change a class; a field left out (or null) stays as it is."""

    name: str
    guideline: str | None = None
    aliases: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MappingBody:
    """``POST /api/taxonomy/mapping``: map a model's class to a project class; ``class_name`` null removes it."""

    model_id: str
    model_class: str
    class_name: str | None = None


@dataclass(frozen=True)
class ExampleBody:
    """``POST /api/taxonomy/examples``: keep a verified box as an example of its class."""

    class_name: str
    annotation_id: int = row_id()
