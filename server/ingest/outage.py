"""Storage outages as the receiver sees them: one log line when storing starts failing, one when it works again.

While the database or the media store is down every batch fails. The receiver then answers none of
its frames (an answer would be an ack it cannot give, or a rejection the agent would take as
final); the agents keep the frames in their spools and send them again. Logging each failed batch
would flood the log at the agents' retransmission rate, so :class:`OutageLog` says when an outage
starts (with the first error) and when it ends (how long, how many batches failed meanwhile).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class OutageLog:
    def __init__(self, log: logging.Logger, clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._clock = clock
        self.since: float | None = None
        """When the current outage began (``clock`` time), None while storing works."""
        self._failed_batches = 0
        self._unanswered_frames = 0

    @property
    def ongoing(self) -> bool:
        return self.since is not None

    def failed(self, error: Exception, frames: int) -> None:
        """A write failed (``frames`` frames left unanswered); logs only the first failure of an outage."""
        if self.since is None:
            self.since = self._clock()
            self._failed_batches = self._unanswered_frames = 0
            self._log.error("storage outage: %s; not acknowledging frames until it works again "
                            "(agents keep them in their spools and retransmit)", error)
        self._failed_batches += 1
        self._unanswered_frames += frames

    def succeeded(self) -> None:
        """A batch was stored; ends the outage in progress, if any, with one line."""
        if self.since is None:
            return
        self._log.warning("storage outage over after %.1f s: %d write(s) failed meanwhile, %d frame message(s) "
                          "left unanswered for the agents to retransmit", self._clock() - self.since,
                          self._failed_batches, self._unanswered_frames)
        self.since = None
