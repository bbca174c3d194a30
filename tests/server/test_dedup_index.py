import numpy as np
import pytest

from server.dedup import hash_index as index_module
from server.dedup.hash_index import HammingIndex, popcount64


def brute_force(keys: np.ndarray, alive: np.ndarray, query: int, radius: int) -> set[int]:
    distances = popcount64(keys ^ np.uint64(query))
    return set(np.flatnonzero((distances <= radius) & alive).tolist())


@pytest.fixture
def clustered_keys() -> np.ndarray:
    # Clusters of nearby keys (like one camera's frames) plus uniform ones.
    rng = np.random.default_rng(3)
    centres = rng.integers(0, 2**64, 200, dtype=np.uint64)
    flips = rng.integers(0, 64, (200, 30, 3))
    near = [int(c) ^ (1 << int(a)) ^ (1 << int(b)) ^ (1 << int(c2)) for c, row in zip(centres, flips) for a, b, c2 in row]
    uniform = [int(k) for k in rng.integers(0, 2**64, 4000, dtype=np.uint64)]
    return np.array(near + uniform, dtype=np.uint64)


@pytest.mark.parametrize("radius", [0, 3, 8, 11, 19, 24])
def test_queries_find_exactly_what_a_linear_scan_finds(clustered_keys, radius, monkeypatch):
    monkeypatch.setattr(index_module, "LINEAR_SCAN_BELOW", 0)  # use the bucket tables even at this size
    index = HammingIndex(merge_threshold=500)
    index.bulk_load(clustered_keys[:6000], np.arange(6000))
    for item in range(6000, len(clustered_keys)):  # through the tail and two merges
        index.add(int(clustered_keys[item]), item)
    alive = np.ones(len(clustered_keys), bool)
    for item in range(0, len(clustered_keys), 7):
        assert index.remove(int(clustered_keys[item]), item)
        alive[item] = False
    assert len(index) == alive.sum()
    rng = np.random.default_rng(radius)
    queries = [int(k) ^ (1 << int(rng.integers(64))) for k in clustered_keys[::97]]
    queries += [int(k) for k in rng.integers(0, 2**64, 20, dtype=np.uint64)]
    for query in queries:
        matches = index.query(int(query), radius)
        assert set(matches.items.tolist()) == brute_force(clustered_keys, alive, int(query), radius)
        assert all(d == (int(clustered_keys[i]) ^ int(query)).bit_count() for i, d in zip(matches.items, matches.distances))


def test_tags_and_stamps_come_back_with_the_matches():
    index = HammingIndex()
    index.add(0b1011, 7, tag=3, stamp=12.5)
    index.add(0b1011 ^ (1 << 40), 8, tag=4, stamp=99.0)
    matches = index.query(0b1011, 1)
    assert sorted(zip(matches.items.tolist(), matches.tags.tolist(), matches.stamps.tolist())) == [(7, 3, 12.5), (8, 4, 99.0)]


def test_removing_an_absent_entry_says_so():
    index = HammingIndex()
    index.add(5, 1)
    assert not index.remove(5, 2) and not index.remove(6, 1)
    assert index.remove(5, 1) and len(index) == 0 and not index.any_within(5, 64)
