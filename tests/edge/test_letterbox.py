import numpy as np
import pytest

from edge.detection.letterbox import YOLOX_PAD_VALUE, letterbox, unletterbox_xyxy


def solid_bgr(height: int, width: int, bgr=(10, 20, 30)) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = bgr
    return image


def test_landscape_frame_fills_width_and_pads_below():
    tensor, scale = letterbox(solid_bgr(480, 640), (416, 416))
    assert tensor.shape == (1, 3, 416, 416) and tensor.dtype == np.float32
    assert scale == pytest.approx(0.65)
    # 640x480 * 0.65 = 416x312 at the top-left, the rest pad grey.
    assert np.all(tensor[0, :, :312, :] == np.array([10, 20, 30], np.float32)[:, None, None])
    assert np.all(tensor[0, :, 312:, :] == YOLOX_PAD_VALUE)


def test_portrait_frame_fills_height_and_pads_right():
    tensor, scale = letterbox(solid_bgr(800, 400), (416, 416))
    assert scale == pytest.approx(0.52)
    assert np.all(tensor[0, :, :, :208] != YOLOX_PAD_VALUE)
    assert np.all(tensor[0, :, :, 208:] == YOLOX_PAD_VALUE)


def test_small_frame_is_scaled_up():
    tensor, scale = letterbox(solid_bgr(104, 208), (416, 416))
    assert scale == pytest.approx(2.0)
    assert np.all(tensor[0, :, :208, :] != YOLOX_PAD_VALUE)
    assert np.all(tensor[0, :, 208:, :] == YOLOX_PAD_VALUE)


def test_channels_stay_bgr_and_values_0_255():
    tensor, _ = letterbox(solid_bgr(416, 416, bgr=(255, 0, 7)))
    assert tensor[0, 0].min() == 255 and tensor[0, 1].max() == 0 and np.all(tensor[0, 2] == 7)


def test_non_square_input_size_and_pad_value():
    tensor, scale = letterbox(solid_bgr(100, 100), (320, 640), pad_value=0)
    assert tensor.shape == (1, 3, 320, 640)
    assert scale == pytest.approx(3.2)
    assert np.all(tensor[0, :, :, 320:] == 0)


def test_greyscale_and_bgra_are_converted():
    grey, _ = letterbox(np.full((50, 50), 99, np.uint8))
    bgra, _ = letterbox(np.dstack([solid_bgr(50, 50), np.full((50, 50), 255, np.uint8)]))
    assert np.all(grey[0, :, 0, 0] == 99)
    assert list(bgra[0, :, 0, 0]) == [10, 20, 30]


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((0, 10, 3), np.uint8), "(H, W, 3)"),
        (np.zeros((10, 10, 2), np.uint8), "(H, W, 3)"),
        ([[1, 2], [3, 4]], "uint8"),
    ],
)
def test_rejects_what_is_not_an_image(image, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        letterbox(image)


def test_unletterbox_inverts_the_scale():
    frame_xyxy = np.array([[10, 20, 300, 400], [0, 0, 640, 480]], np.float32)
    _, scale = letterbox(solid_bgr(480, 640))
    back = unletterbox_xyxy(frame_xyxy * scale, scale, (480, 640))
    np.testing.assert_allclose(back, frame_xyxy, atol=1e-3)


def test_unletterbox_clips_to_the_frame():
    back = unletterbox_xyxy(np.array([[-5, -5, 500, 500], [420, 10, 430, 20]]), 0.65, (480, 640))
    np.testing.assert_allclose(back[0], [0, 0, 640, 480])
    # Entirely right of the frame (in the padding): clipped to an empty box the caller drops.
    assert back[1, 0] == back[1, 2] == 640


def test_unletterbox_of_nothing():
    assert unletterbox_xyxy(np.zeros((0, 4)), 0.5, (10, 10)).shape == (0, 4)
