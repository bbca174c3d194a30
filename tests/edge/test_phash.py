"""The perceptual hash on real frames: the thumbnail, the DCT hash and its comparisons."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.contract.phash import gray_thumbnail, hamming, phash64, phash_hex
from edge.contract.wire import FrameHeader, decode_frame, encode_frame
from edge.jpeg import encode_jpeg
from edge.sources import open_source
from tests.conftest import DATA_DIR as DATA

VIDEOS = DATA / "videos"


def first_frames(name: str, count: int = 1) -> list[np.ndarray]:
    with open_source(VIDEOS / name) as source:
        images = []
        for frame in source:
            images.append(frame.image)
            if len(images) == count:
                return images
    raise AssertionError(f"{name} has fewer than {count} frames")


@pytest.fixture(scope="module")
def pets09() -> list[np.ndarray]:
    return first_frames("pets09_s2l1_pedestrians_vtest_480x360.mp4", 2)


@pytest.fixture(scope="module")
def other_clips() -> list[np.ndarray]:
    names = [
        "parking_lot_overhead_cars_intel.mp4",
        "indoor_bottles_hand_intel.mp4",
        "highway_cam_traffic_bgslibrary_video02.avi",
        "dashcam_highway_udacity_solidWhiteRight.mp4",
    ]
    return [first_frames(name)[0] for name in names]


def reencode(image: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(encode_jpeg(image, quality), np.uint8), cv2.IMREAD_COLOR)


def test_gray_thumbnail_is_the_area_average_of_the_gray_frame(pets09):
    thumbnail = gray_thumbnail(pets09[0])
    assert thumbnail.shape == (32, 32) and thumbnail.dtype == np.uint8
    gray = cv2.cvtColor(pets09[0], cv2.COLOR_BGR2GRAY)
    assert np.array_equal(thumbnail, cv2.resize(gray, (32, 32), interpolation=cv2.INTER_AREA))
    assert np.array_equal(gray_thumbnail(gray), thumbnail)
    assert gray_thumbnail(pets09[0], size=64).shape == (64, 64)


def test_gray_thumbnail_rejects_what_is_not_an_image():
    with pytest.raises(ValueError, match="expected a uint8 numpy array, got float32"):
        gray_thumbnail(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected shape \(H, W\) or \(H, W, 3\), got \(8, 8, 4\)"):
        gray_thumbnail(np.zeros((8, 8, 4), np.uint8))


def test_phash_is_the_standard_dct_hash(pets09):
    # An independent DCT-II (orthonormal basis matrix) must give the same 64 bits.
    thumbnail = gray_thumbnail(pets09[0]).astype(np.float64)
    n = 32
    k = np.arange(n)[:, None]
    basis = np.sqrt(2 / n) * np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n))
    basis[0] /= np.sqrt(2)
    block = (basis @ thumbnail @ basis.T)[:8, :8].ravel()
    bits = block > np.median(block[1:])
    expected = int("".join("1" if b else "0" for b in bits), 2)
    assert phash64(pets09[0]) == expected


def test_phash_is_pinned_because_the_collector_stores_it(pets09):
    # Changing the hash definition silently would split stored duplicates: this value is the contract.
    assert phash_hex(phash64(pets09[0])) == "90d56c2ed8ccf51a"
    assert phash64(pets09[0]) == phash64(pets09[0].copy())


def test_phash_of_the_thumbnail_equals_phash_of_the_frame(pets09):
    assert phash64(gray_thumbnail(pets09[0])) == phash64(pets09[0])


def test_jpeg_reencode_barely_changes_the_hash(pets09, other_clips):
    # Measured: at most 4 bits over the first 8 frames of seven clips at quality 50.
    for image in [pets09[0], *other_clips]:
        assert hamming(phash64(image), phash64(reencode(image, 50))) <= 6


def test_next_frame_is_near_and_other_clips_are_far(pets09, other_clips):
    assert hamming(phash64(pets09[0]), phash64(pets09[1])) <= 6
    # Measured: different clips differ in 22 to 40 bits (random hashes would average 32).
    hashes = [phash64(image) for image in [pets09[0], *other_clips]]
    distances = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert min(distances) >= 16


def test_uniform_images_set_at_most_the_dc_bit():
    assert phash64(np.zeros((48, 64, 3), np.uint8)) == 0
    assert phash64(np.full((48, 64, 3), 200, np.uint8)) == 1 << 63


def test_phash_hex_is_what_the_wire_carries(pets09):
    value = phash64(pets09[0])
    text = phash_hex(value)
    assert len(text) == 16 and text == text.lower() and int(text, 16) == value
    assert phash_hex(1) == "0000000000000001"
    header = FrameHeader(
        device="cam-1", seq=1, capture_ts=0.0, width=480, height=360, model_id="m", class_names=("person",), phash=text
    )
    decoded, _ = decode_frame(encode_frame(header, encode_jpeg(pets09[0])))
    assert decoded.phash == text
    with pytest.raises(ValueError, match="unsigned 64-bit"):
        phash_hex(2**64)
    with pytest.raises(ValueError, match="unsigned 64-bit"):
        phash_hex(-1)


def test_hamming_counts_differing_bits():
    assert hamming(0, 0) == 0
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(0, 2**64 - 1) == 64
