import cv2
import numpy as np
import pytest

from edge.contract.wire import WireError
from server.images import verify_jpeg
from tests.server._paths import IMAGES_DIR


def encode(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buffer.tobytes()


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    return cv2.imread(str(IMAGES_DIR / "yolov5_bus.jpg"))


def test_returns_the_decoded_image_at_one_eighth_scale_in_gray(bus):
    jpeg = encode(bus)
    height, width = bus.shape[:2]

    small = verify_jpeg(jpeg, width, height)

    assert small.shape == (-(-height // 8), -(-width // 8)) and small.dtype == np.uint8
    full = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    expected = cv2.resize(full, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA)
    # The same picture, just smaller (libjpeg's rounding of the size shifts pixels a little).
    assert np.corrcoef(small.ravel(), expected.ravel())[0, 1] > 0.97


def test_grayscale_and_odd_sized_jpegs_decode(bus):
    gray = cv2.cvtColor(bus, cv2.COLOR_BGR2GRAY)[:1001, :803]
    small = verify_jpeg(encode(gray), 803, 1001)
    assert small.shape == (126, 101)


def test_truncated_jpeg_is_bad_image(bus):
    jpeg = encode(bus)
    height, width = bus.shape[:2]
    with pytest.raises(WireError) as error:
        verify_jpeg(jpeg[: len(jpeg) // 2], width, height)
    assert error.value.code == "bad_image"


def test_size_other_than_the_header_is_bad_image(bus):
    height, width = bus.shape[:2]
    with pytest.raises(WireError, match=f"{width}x{height}") as error:
        verify_jpeg(encode(bus), width + 1, height)
    assert error.value.code == "bad_image"


def test_png_is_bad_image(bus):
    ok, png = cv2.imencode(".png", bus)
    height, width = bus.shape[:2]
    with pytest.raises(WireError) as error:
        verify_jpeg(png.tobytes(), width, height)
    assert error.value.code == "bad_image"


def test_jpeg_with_intact_markers_but_broken_tables_is_bad_image(bus):
    """The marker scan passes (SOI, SOF with the right size, EOI); only a real decode can tell."""
    jpeg = bytearray(encode(bus))
    dht = jpeg.index(b"\xff\xc4")
    length = int.from_bytes(jpeg[dht + 2 : dht + 4], "big")
    jpeg[dht + 4 : dht + 2 + length] = b"\xff" * (length - 2)  # a Huffman table no decoder accepts
    height, width = bus.shape[:2]

    with pytest.raises(WireError) as error:
        verify_jpeg(bytes(jpeg), width, height)
    assert error.value.code == "bad_image"
