"""JPEG encoding of real frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.contract.wire import jpeg_size
from edge.jpeg import encode_jpeg
from edge.sources import open_source
from tests.conftest import DATA_DIR as DATA

PETS09 = DATA / "videos" / "pets09_s2l1_pedestrians_vtest_480x360.mp4"


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    with open_source(PETS09) as source:
        return next(iter(source)).image


def test_encoded_frame_is_a_complete_jpeg_of_the_same_size(frame):
    jpeg = encode_jpeg(frame)
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    assert jpeg_size(jpeg) == (480, 360)  # the check the collector runs
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == frame.shape
    assert cv2.PSNR(frame, decoded) > 30


def test_lower_quality_gives_fewer_bytes(frame):
    sizes = [len(encode_jpeg(frame, quality)) for quality in (30, 50, 85, 95)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 2


def test_gray_and_non_contiguous_images_encode(frame):
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert jpeg_size(encode_jpeg(gray)) == (480, 360)
    assert jpeg_size(encode_jpeg(frame[:, ::2])) == (240, 360)


@pytest.mark.parametrize("quality", [0, 101, -5, 85.0, True, "85"])
def test_quality_outside_1_to_100_is_a_value_error(frame, quality):
    with pytest.raises(ValueError, match=r"quality: expected an integer in 1\.\.100"):
        encode_jpeg(frame, quality)


def test_non_images_are_value_errors():
    with pytest.raises(ValueError, match="expected a uint8 numpy array, got float64"):
        encode_jpeg(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match=r"got \(4, 4, 2\)"):
        encode_jpeg(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match=r"got \(0, 4, 3\)"):
        encode_jpeg(np.zeros((0, 4, 3), np.uint8))
