"""An in-memory index of 64-bit keys that answers "which keys are within Hamming distance r?".

Multi-index hashing (Norouzi, Punjani and Fleet, CVPR 2012): the key is cut into four 16-bit
chunks, and each chunk has a bucket table (keys sorted by that chunk, with the start of every
one of the 65,536 buckets). Two keys within distance ``r = 4q + a`` (0 <= a < 4) agree within
``q`` bits on one of the chunks 0..a, or within ``q - 1`` bits on one of the others (else the
chunks would add up to more than ``r``). So a query looks only into the buckets of those chunk
values: 1 + 16 = 17 buckets for a chunk radius of 1, 137 for a radius of 2, and checks the keys
it finds there. At radius 7 (every chunk within 1 bit) and a million uniformly spread keys that
is 68 buckets and about 1,000 keys instead of a million, in about twenty numpy calls.

New keys go to a small unsorted tail that queries scan linearly; when it reaches
``merge_threshold`` keys it is merged into the bucket tables (a radix sort per chunk: tens of
milliseconds at a million keys). Removal marks an entry dead; merges drop dead entries.

Not thread-safe: the ingest thread (the database's single writer) owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

CHUNKS = 4
CHUNK_BITS = 16
_CHUNK_VALUES = 1 << CHUNK_BITS
_CHUNK_MASK = np.uint64(_CHUNK_VALUES - 1)
_SHIFTS = tuple(np.uint64(CHUNK_BITS * (CHUNKS - 1 - c)) for c in range(CHUNKS))  # chunk 0 = top 16 bits
_SHIFT_ARRAY = np.array(_SHIFTS, dtype=np.uint64)

MAX_CHUNK_RADIUS = 4
MAX_INDEXED_RADIUS = CHUNKS * MAX_CHUNK_RADIUS + CHUNKS - 1
"""Radii above this (19) are answered by a linear scan: the buckets to visit would cost more."""

LINEAR_SCAN_BELOW = 50_000
"""Below this many keys in the bucket tables, one vectorised scan is faster than the probes."""

DEFAULT_MERGE_THRESHOLD = 8192
"""Tail length that triggers a merge. Larger: rarer merges, slower queries (the tail is scanned)."""


def _masks_by_radius() -> list[np.ndarray]:
    values = np.arange(_CHUNK_VALUES, dtype=np.int64)
    weight = np.array([bin(v).count("1") for v in range(_CHUNK_VALUES)])
    order = np.argsort(weight, kind="stable")
    return [values[order][: int((weight <= r).sum())] for r in range(MAX_CHUNK_RADIUS + 1)]


_MASKS = _masks_by_radius()
"""_MASKS[r]: every 16-bit value with at most r bits set (the XOR masks of one chunk's probes)."""


def popcount64(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64."""
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(values)
    return _BYTE_POPCOUNT[values.view(np.uint8).reshape(-1, 8)].sum(axis=1)


_BYTE_POPCOUNT = np.array([bin(v).count("1") for v in range(256)], dtype=np.uint8)


@dataclass(frozen=True)
class Matches:
    """Entries found by :meth:`HammingIndex.query`, as parallel arrays (unordered)."""

    items: np.ndarray
    distances: np.ndarray
    tags: np.ndarray
    stamps: np.ndarray

    def __len__(self) -> int:
        return len(self.items)


class HammingIndex:
    """64-bit keys, each with an integer item (a frame id), a tag (a device) and a stamp (a time).

    Tags and stamps ride along so that a caller can narrow the matches to a scope (one device,
    a time window) in numpy, without a lookup per match. See the module docstring.
    """

    def __init__(self, merge_threshold: int = DEFAULT_MERGE_THRESHOLD):
        if merge_threshold < 1:
            raise ValueError(f"merge_threshold: expected at least 1 key, got {merge_threshold}")
        self.merge_threshold = merge_threshold
        self._set_main(np.empty(0, np.uint64), np.empty(0, np.int64), np.empty(0, np.int32), np.empty(0, np.float64))
        self._tail_keys = np.empty(merge_threshold, np.uint64)
        self._tail_items = np.empty(merge_threshold, np.int64)
        self._tail_tags = np.empty(merge_threshold, np.int32)
        self._tail_stamps = np.empty(merge_threshold, np.float64)
        self._tail_alive = np.zeros(merge_threshold, bool)
        self._tail_count = 0
        self._dead = 0

    def __len__(self) -> int:
        """Live entries."""
        return len(self._keys) + self._tail_count - self._dead

    # --- building -----------------------------------------------------------------------------------

    def bulk_load(self, keys: np.ndarray, items: np.ndarray, tags: np.ndarray | None = None,
                  stamps: np.ndarray | None = None) -> None:
        """Replace the whole content with these entries (parallel arrays); one sort per chunk."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        items = np.ascontiguousarray(items, dtype=np.int64)
        tags = np.zeros(len(keys), np.int32) if tags is None else np.ascontiguousarray(tags, dtype=np.int32)
        stamps = np.zeros(len(keys), np.float64) if stamps is None else np.ascontiguousarray(stamps, dtype=np.float64)
        if keys.ndim != 1 or not keys.shape == items.shape == tags.shape == stamps.shape:
            raise ValueError(f"entries: expected 1-D arrays of one length, got {keys.shape}, {items.shape}, "
                             f"{tags.shape}, {stamps.shape}")
        self._set_main(keys, items, tags, stamps)
        self._tail_count = 0
        self._tail_alive[:] = False
        self._dead = 0

    def add(self, key: int, item: int, tag: int = 0, stamp: float = 0.0) -> None:
        if self._tail_count == self.merge_threshold:
            self._merge()
        n = self._tail_count
        self._tail_keys[n] = key
        self._tail_items[n] = item
        self._tail_tags[n] = tag
        self._tail_stamps[n] = stamp
        self._tail_alive[n] = True
        self._tail_count = n + 1

    def remove(self, key: int, item: int) -> bool:
        """Forget the entry (key, item); False if there is none."""
        n = self._tail_count
        found = np.flatnonzero((self._tail_items[:n] == item) & (self._tail_keys[:n] == np.uint64(key)) & self._tail_alive[:n])
        if len(found):
            self._tail_alive[found[0]] = False
            self._dead += 1
            return True
        chunk = int((np.uint64(key) >> _SHIFTS[0]) & _CHUNK_MASK)  # chunk 0's bucket holds the key
        start, end = self._flat_bounds[chunk]
        bucket = self._flat_positions[start:end]
        found = bucket[(self._items[bucket] == item) & (self._keys[bucket] == np.uint64(key)) & self._alive[bucket]]
        if len(found):
            self._alive[found[0]] = False
            self._dead += 1
            self._dead_in_main += 1
            return True
        return False

    # --- searching ----------------------------------------------------------------------------------

    def query(self, key: int, radius: int) -> Matches:
        """Every live entry within ``radius`` bits of ``key``."""
        if radius < 0:
            raise ValueError(f"radius: expected a number of bits >= 0, got {radius}")
        query = np.uint64(key)
        positions, distances = self._main_hits(query, radius)
        matches = Matches(self._items[positions], distances.astype(np.int64), self._tags[positions], self._stamps[positions])
        n = self._tail_count
        if n:
            tail_distances = popcount64(self._tail_keys[:n] ^ query)
            hits = np.flatnonzero((tail_distances <= radius) & self._tail_alive[:n])
            if len(hits):
                matches = Matches(
                    np.concatenate([matches.items, self._tail_items[hits]]),
                    np.concatenate([matches.distances, tail_distances[hits].astype(np.int64)]),
                    np.concatenate([matches.tags, self._tail_tags[hits]]),
                    np.concatenate([matches.stamps, self._tail_stamps[hits]]),
                )
        return matches

    def any_within(self, key: int, radius: int) -> bool:
        return len(self.query(key, radius)) > 0

    # --- internals ----------------------------------------------------------------------------------

    def _main_hits(self, query: np.uint64, radius: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the main arrays of live keys within ``radius``, and their distances."""
        if len(self._keys) < LINEAR_SCAN_BELOW or radius > MAX_INDEXED_RADIUS:
            distances = popcount64(self._keys ^ query)
            positions = np.flatnonzero((distances <= radius) & self._alive)
            return positions, distances[positions]
        plan = _probe_plan(radius)
        value = int(query)
        chunk_values = np.array([(value >> (CHUNK_BITS * (CHUNKS - 1 - c))) & 0xFFFF for c in range(CHUNKS)])
        # Rows of the probed buckets: (chunk << 16 | mask) ^ chunk value, as the masks fit in 16 bits.
        bounds = self._flat_bounds[plan.rows ^ chunk_values[plan.chunk]]
        starts = bounds[:, 0]
        lengths = bounds[:, 1] - starts
        ends = np.cumsum(lengths)
        total = int(ends[-1])
        if not total:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        # The probed buckets are runs of the chunk-sorted copies: gather them without a Python loop.
        runs = np.repeat(starts - ends + lengths, lengths)
        runs += np.arange(total)
        distances = popcount64(self._flat_keys[runs] ^ query)
        near = np.flatnonzero(distances <= radius)
        positions, distances = self._flat_positions[runs[near]], distances[near]
        if self._dead_in_main:
            live = self._alive[positions]
            positions, distances = positions[live], distances[live]
        if len(positions) > 1:  # a key sits in the probed buckets of several chunks
            positions, first = np.unique(positions, return_index=True)
            distances = distances[first]
        return positions, distances

    def _merge(self) -> None:
        n = self._tail_count
        live_main = self._alive
        live_tail = self._tail_alive[:n]
        self.bulk_load(*(
            np.concatenate([main[live_main], tail[:n][live_tail]])
            for main, tail in ((self._keys, self._tail_keys), (self._items, self._tail_items),
                               (self._tags, self._tail_tags), (self._stamps, self._tail_stamps))
        ))

    def _set_main(self, keys: np.ndarray, items: np.ndarray, tags: np.ndarray, stamps: np.ndarray) -> None:
        self._keys = keys
        self._items = items
        self._dead_in_main = 0
        self._tags = tags
        self._stamps = stamps
        self._alive = np.ones(len(keys), bool)
        # Per chunk, a copy of the keys sorted by that chunk, all four side by side in one array, and
        # where each bucket starts in it: a query then needs a handful of numpy calls, not four sets.
        count = len(keys)
        self._flat_keys = np.empty(CHUNKS * count, np.uint64)
        index_type = np.int32 if CHUNKS * count < 2**31 else np.int64  # half the cache misses
        self._flat_positions = np.empty(CHUNKS * count, index_type)
        # Row (chunk, value): [start, end) of that bucket in the flat arrays; one gather gives both.
        self._flat_bounds = np.empty((CHUNKS * _CHUNK_VALUES, 2), index_type)
        for c in range(CHUNKS):
            chunk = ((keys >> _SHIFTS[c]) & _CHUNK_MASK).astype(np.uint16)
            order = np.argsort(chunk, kind="stable")  # a radix sort for 16-bit values
            self._flat_keys[c * count : (c + 1) * count] = keys[order]
            self._flat_positions[c * count : (c + 1) * count] = order
            ends = np.cumsum(np.bincount(chunk, minlength=_CHUNK_VALUES)) + c * count
            rows = self._flat_bounds[c * _CHUNK_VALUES : (c + 1) * _CHUNK_VALUES]
            rows[:, 1] = ends
            rows[0, 0] = c * count
            rows[1:, 0] = ends[:-1]


@dataclass(frozen=True)
class _ProbePlan:
    rows: np.ndarray
    """Per probe, its chunk's first row in the bucket bounds plus its XOR mask."""
    chunk: np.ndarray
    """Which chunk each probe belongs to."""


@lru_cache(maxsize=MAX_INDEXED_RADIUS + 1)
def _probe_plan(radius: int) -> _ProbePlan:
    quotient, extra = divmod(radius, CHUNKS)
    masks, chunks = [], []
    for c in range(CHUNKS):
        chunk_radius = quotient if c <= extra else quotient - 1
        if chunk_radius >= 0:
            masks.append(_MASKS[chunk_radius])
            chunks.append(np.full(len(_MASKS[chunk_radius]), c, np.int64))
    chunk = np.concatenate(chunks)
    return _ProbePlan(np.concatenate(masks) + chunk * _CHUNK_VALUES, chunk)
