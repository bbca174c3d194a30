"""Domain errors of the collector. The CLI turns them into one line and a non-zero exit."""


class CollectorError(Exception):
    """Base class: something the operator can fix (bad data dir, unknown device, bad export)."""


class StoreError(CollectorError):
    """The database or the media directory cannot be opened, migrated, read or written."""


class StoreUnavailableError(StoreError):
    """The database or the media store did not answer or could not take the write (down, restarting,
    locked, full): the same request may work later. Ingest answers such a batch with nothing, so
    the agents keep its frames and send them again."""


class ReviewError(CollectorError):
    """A review-queue request that cannot be carried out (base class of the review errors)."""


class FrameNotFoundError(ReviewError):
    """No frame has the requested id."""


class ClaimError(ReviewError):
    """The frame is not claimable, or not claimed by this reviewer (anymore): claim it again."""


class SubmissionError(ReviewError):
    """A review decision or an annotation box breaks the rules (unknown decision, box outside the image)."""


class ApiConfigError(CollectorError):
    """The review HTTP API cannot start as asked (bad address, no login layer without --insecure-http)."""
