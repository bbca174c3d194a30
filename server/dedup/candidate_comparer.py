"""Comparing a new frame's thumbnail with its candidates: prepared once, several at a time.

The thumbnail check (:mod:`server.dedup.thumbnail_check`) is the costly part of ingest on a fixed
camera: a new frame meets up to ``max_candidates`` representatives, and each comparison that gets
past the quick look runs an ECC alignment (most of the time of a comparison). The engine still
takes the candidates in order and stops at the first copy; this module only computes every other
comparison ahead on a helper thread (OpenCV releases the GIL during the alignment) while the
caller's thread does the rest, so the answers, and so every decision, are the ones a plain loop
gives. One helper, not one per candidate: a task per comparison cost more CPU in handing work
around than it saved on 2 cores.

Representatives' prepared thumbnails stay in a small cache (a thumbnail never changes once stored):
a camera's new frames keep meeting its recent representatives.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from server.dedup.frame_signature import thumbnail_from_bytes
from server.dedup.thumbnail_check import PreparedThumbnail, compare_prepared, prepare

PREPARED_CACHE_SIZE = 4096
"""Representatives whose prepared thumbnail stays in memory (about 12 KB each)."""


class CandidateComparer:
    def __init__(self, threads: int | None = None, cache_size: int = PREPARED_CACHE_SIZE):
        """``threads``: 1 compares on the caller's thread only; 2 or more adds the helper thread
        (default: as many as usable cores, so a helper where there are two)."""
        self.threads = threads or len(os.sched_getaffinity(0))
        self.cache_size = cache_size
        self._prepared: OrderedDict[int, PreparedThumbnail] = OrderedDict()
        self._pool: ThreadPoolExecutor | None = None  # started on first use
        self._pool_lock = threading.Lock()

    def changed_areas(self, thumbnail: np.ndarray, candidates: list[tuple[int, bytes]]) -> Iterator[float]:
        """The changed area of ``thumbnail`` against each candidate (frame id, stored thumbnail), in
        order. With two threads or more, a helper thread compares every other candidate while the
        caller's thread does the rest in order; closing the iterator (or dropping it) stops it."""
        if not candidates:
            return
        new = prepare(thumbnail)
        prepared = [self._prepared_thumbnail(frame_id, stored) for frame_id, stored in candidates]
        if self.threads < 2 or len(prepared) < 2:
            for other in prepared:
                yield compare_prepared(new, other).changed_area
            return
        ahead = _Ahead(new, prepared[1::2])
        future = self._executor().submit(ahead.run)
        try:
            for position, other in enumerate(prepared):
                yield compare_prepared(new, other).changed_area if position % 2 == 0 else ahead.result(position // 2)
        finally:
            ahead.stop()
            future.result()  # the helper never raises: a failed comparison is re-raised by result()

    def forget(self) -> None:
        """Drop the cached thumbnails (SQLite may give a rolled-back frame's id to another frame)."""
        self._prepared.clear()

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def _prepared_thumbnail(self, frame_id: int, stored: bytes) -> PreparedThumbnail:
        prepared = self._prepared.get(frame_id)
        if prepared is None:
            prepared = self._prepared[frame_id] = prepare(thumbnail_from_bytes(stored))
            if len(self._prepared) > self.cache_size:
                self._prepared.popitem(last=False)
        else:
            self._prepared.move_to_end(frame_id)
        return prepared

    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnail-check")
            return self._pool


class _Ahead:
    """Comparisons done on a helper thread, in order, until stopped; the caller waits for each."""

    def __init__(self, new: PreparedThumbnail, others: list[PreparedThumbnail]):
        self._new, self._others = new, others
        self._results: list[float | BaseException] = []
        self._stopped = False
        self._changed = threading.Condition()

    def run(self) -> None:
        for other in self._others:
            with self._changed:
                if self._stopped:
                    return
            try:
                outcome: float | BaseException = compare_prepared(self._new, other).changed_area
            except BaseException as exc:  # handed to the caller's thread by result()
                outcome = exc
            with self._changed:
                self._results.append(outcome)
                self._changed.notify()

    def result(self, index: int) -> float:
        with self._changed:
            self._changed.wait_for(lambda: len(self._results) > index)
            outcome = self._results[index]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
