"""The candidate comparer gives the plain thumbnail check's answers, in order, with or without its helper thread."""

import threading

import pytest

from server.dedup.candidate_comparer import CandidateComparer
from server.dedup.frame_signature import signature_of_gray
from server.dedup.thumbnail_check import compare_thumbnails
from server.images import verify_jpeg
from tests.server._frames import PETS, clip_frames, encode, near_copies


@pytest.fixture(scope="module")
def thumbnails():
    """Consecutive pets09 frames (people moved a little: most pass the quick look and get aligned) and near copies."""
    frames = list(clip_frames(PETS, tuple(range(0, 40, 3))))
    frames += list(near_copies(frames[0]).values())[:4]
    return [signature_of_gray(verify_jpeg(encode(f), f.shape[1], f.shape[0])).thumbnail for f in frames]


@pytest.mark.parametrize("threads", [1, 2])
def test_areas_are_the_plain_checks_in_order(thumbnails, threads):
    comparer = CandidateComparer(threads=threads)
    candidates = [(frame_id, thumbnail.tobytes()) for frame_id, thumbnail in enumerate(thumbnails[1:], start=1)]
    try:
        for _ in range(2):  # the second time from the prepared-thumbnail cache
            areas = list(comparer.changed_areas(thumbnails[0], candidates))
            assert areas == [compare_thumbnails(thumbnails[0], other).changed_area for other in thumbnails[1:]]
    finally:
        comparer.close()
    assert any(area <= 0.012 for area in areas) and any(area > 0.012 for area in areas)


def test_closing_early_stops_the_helper(thumbnails):
    comparer = CandidateComparer(threads=2)
    candidates = [(frame_id, thumbnail.tobytes()) for frame_id, thumbnail in enumerate(thumbnails[1:], start=1)]
    areas = comparer.changed_areas(thumbnails[0], candidates)
    first = next(areas)
    areas.close()  # what the engine does when the first candidate is a copy
    assert first == compare_thumbnails(thumbnails[0], thumbnails[1]).changed_area
    comparer.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("thumbnail-check")]


def test_a_rollback_forgets_the_prepared_thumbnails(thumbnails):
    comparer = CandidateComparer(threads=1)
    list(comparer.changed_areas(thumbnails[0], [(7, thumbnails[1].tobytes())]))
    comparer.forget()  # frame id 7 rolled back; SQLite may reuse it for another picture
    area, = comparer.changed_areas(thumbnails[0], [(7, thumbnails[2].tobytes())])
    assert area == compare_thumbnails(thumbnails[0], thumbnails[2]).changed_area
    assert area != compare_thumbnails(thumbnails[0], thumbnails[1]).changed_area  # what a stale entry would give
