import cv2
import pytest

from edge.contract.phash import phash64
from server.dedup.frame_signature import from_sqlite_int, signature_of_gray, to_sqlite_int
from server.images import gray_for_signature, verify_jpeg
from tests.server._frames import PETS, clip_frames, encode
from tests.server._paths import IMAGES_DIR


@pytest.mark.parametrize("name", ["yolov5_bus.jpg", "darknet_dog.jpg", "udacity_vehdet_test1.jpg"])
def test_the_collector_phash_is_the_edge_phash(name):
    image = cv2.imread(str(IMAGES_DIR / name))
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert signature_of_gray(gray).phash == phash64(image)


def test_hashing_the_received_jpeg_at_one_eighth_scale_stays_within_2_bits_of_the_edge_hash():
    for image in clip_frames(PETS, (0, 100, 200)):
        jpeg = encode(image, 80)
        small = verify_jpeg(jpeg, image.shape[1], image.shape[0])
        signature = signature_of_gray(gray_for_signature(jpeg, small))
        assert (signature.phash ^ phash64(image)).bit_count() <= 2


def test_small_images_are_decoded_larger_for_their_signature():
    image = cv2.resize(clip_frames(PETS, (0,))[0], (200, 150))
    jpeg = encode(image)
    small = verify_jpeg(jpeg, 200, 150)
    assert min(small.shape) < 32 <= min(gray_for_signature(jpeg, small).shape)


@pytest.mark.parametrize("value", [0, 1, 2**63 - 1, 2**63, 2**64 - 1])
def test_hashes_round_trip_through_sqlite_integers(value):
    stored = to_sqlite_int(value)
    assert -(2**63) <= stored < 2**63 and from_sqlite_int(stored) == value
