"""The Ultralytics convention of :func:`letterbox_as`: centred, RGB, 0-1, pad 114/255."""

import numpy as np
import pytest

from edge.detection.letterbox import ULTRALYTICS_INPUT, YOLOX_INPUT, letterbox, letterbox_as, unletterbox_xyxy


def solid_bgr(height, width, bgr=(10, 20, 30)):
    image = np.empty((height, width, 3), np.uint8)
    image[:] = bgr
    return image


def test_centred_rgb_unit_range_with_grey_bands():
    boxed = letterbox_as(solid_bgr(480, 640), (416, 416), ULTRALYTICS_INPUT)
    assert boxed.tensor.shape == (1, 3, 416, 416) and boxed.tensor.dtype == np.float32
    assert boxed.scale == pytest.approx(0.65) and boxed.offset_xy == (0.0, 52.0)
    # 416x312 in the middle: 52 rows of padding above and below, channels now R, G, B.
    np.testing.assert_allclose(boxed.tensor[0, :, 52:364, :].reshape(3, -1)[:, 0], [30 / 255, 20 / 255, 10 / 255])
    assert np.allclose(boxed.tensor[0, :, :52, :], 114 / 255) and np.allclose(
        boxed.tensor[0, :, 364:, :], 114 / 255
    )


def test_odd_padding_follows_ultralytics_rounding():
    # 100x101 into 64x64: width 64, height round(100 * 64/101) = 63, one pad row, which goes below.
    boxed = letterbox_as(solid_bgr(100, 101), (64, 64), ULTRALYTICS_INPUT)
    assert boxed.offset_xy == (0.0, 0.0)
    assert np.allclose(boxed.tensor[0, :, 63, :], 114 / 255) and not np.allclose(
        boxed.tensor[0, :, 0, :], 114 / 255
    )


def test_yolox_format_is_the_original_letterbox():
    image = np.random.default_rng(0).integers(0, 255, (300, 500, 3), np.uint8)
    tensor, scale = letterbox(image, (416, 416))
    boxed = letterbox_as(image, (416, 416), YOLOX_INPUT)
    np.testing.assert_array_equal(boxed.tensor, tensor)
    assert boxed.scale == scale and boxed.offset_xy == (0.0, 0.0)


def test_unletterbox_removes_the_offset_then_the_scale():
    frame_xyxy = np.array([[10, 20, 300, 400]], np.float32)
    boxed = letterbox_as(solid_bgr(480, 640), (416, 416), ULTRALYTICS_INPUT)
    network_xyxy = frame_xyxy * boxed.scale + np.array(boxed.offset_xy * 2, np.float32)
    back = unletterbox_xyxy(network_xyxy, boxed.scale, (480, 640), boxed.offset_xy)
    np.testing.assert_allclose(back, frame_xyxy, atol=1e-3)
    # A box in the top band maps above the frame and is clipped to an empty box there.
    assert unletterbox_xyxy([[0, 0, 50, 40]], boxed.scale, (480, 640), boxed.offset_xy)[0, 3] == 0
