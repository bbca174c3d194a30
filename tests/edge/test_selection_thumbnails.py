"""The selector's small images on real frames: how much of the picture changed between two thumbnails."""

from __future__ import annotations

import numpy as np
import pytest

from edge.contract.phash import gray_thumbnail
from edge.selection.thumbnails import analysis_gray, changed_fraction
from edge.sources import open_source
from tests.conftest import DATA_DIR


@pytest.fixture(scope="module")
def pets09() -> list[np.ndarray]:
    with open_source(DATA_DIR / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4") as source:
        return [next(iter(source)).image]


def test_changed_fraction_ignores_brightness_and_sees_objects(pets09):
    thumbnail = gray_thumbnail(pets09[0])
    assert changed_fraction(thumbnail, thumbnail) == 0.0
    brighter = np.clip(thumbnail.astype(int) + 40, 0, 255).astype(np.uint8)
    assert changed_fraction(brighter, thumbnail) < 0.05  # only pixels that clipped at 255 count
    covered = thumbnail.copy()
    covered[:8, :8] = 255 - covered[:8, :8]  # an object over 1/16 of the picture
    assert changed_fraction(covered, thumbnail) == pytest.approx(64 / 1024, abs=0.01)
    with pytest.raises(ValueError, match="differ in shape"):
        changed_fraction(thumbnail, gray_thumbnail(pets09[0], 16))


def test_analysis_gray_keeps_the_aspect_ratio_within_max_side(pets09):
    gray = analysis_gray(pets09[0], max_side=320)
    assert gray.dtype == np.uint8 and gray.ndim == 2
    assert max(gray.shape) <= 320 and gray.shape[1] / gray.shape[0] == pytest.approx(480 / 360, rel=0.02)
