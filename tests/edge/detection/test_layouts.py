"""Layout recognition rules on described outputs (no model run unless the rules need the probe)."""

import numpy as np
import pytest

from edge.detection.layouts import LayoutError, OutputInfo, anchor_points, looks_decoded, recognise
from edge.detection.letterbox import ULTRALYTICS_INPUT, YOLOX_INPUT
from edge.detection.metadata import ModelMetadata

FLOAT, INT64 = "tensor(float)", "tensor(int64)"
HW = (640, 640)  # 8400 anchor points, 25200 for three anchors per cell


def never_probed():
    raise AssertionError("the probe should not be needed")


def probe_returning(*arrays):
    calls = []

    def probe():
        calls.append(1)
        return list(arrays)

    probe.calls = calls
    return probe


def raw_yolox_rows(n, classes=80):
    rng = np.random.default_rng(0)
    rows = rng.uniform(0, 1, (n, 5 + classes)).astype(np.float32)
    rows[:, 0:2] = rng.uniform(-1, 2, (n, 2))  # grid offsets
    rows[:, 2:4] = rng.uniform(-2, 3, (n, 2))  # log sizes, negative below one stride
    return rows


def decoded_rows(n, hw=HW, classes=80):
    rows = raw_yolox_rows(n, classes)
    rows[:, 0] = np.linspace(4, hw[1] - 4, n)
    rows[:, 1] = np.linspace(4, hw[0] - 4, n)
    rows[:, 2:4] = np.abs(rows[:, 2:4]) * 20
    return rows


def test_anchor_points():
    assert anchor_points((640, 640)) == 8400 and anchor_points((416, 416)) == 3549
    assert anchor_points((640, 640), (8, 16, 32, 64)) == 8500


def test_three_anchors_per_cell_is_yolov5_from_the_shape_alone():
    found = recognise([OutputInfo("output0", (1, 25200, 85), FLOAT)], HW, ModelMetadata(), never_probed)
    assert (found.head.layout, found.num_classes, found.how) == ("yolov5", 80, "shape")
    assert found.input_format == ULTRALYTICS_INPUT


def test_p6_yolov5():
    rows = 3 * anchor_points((1280, 1280), (8, 16, 32, 64))
    found = recognise([OutputInfo("output0", (1, rows, 85), FLOAT)], (1280, 1280), ModelMetadata(), never_probed)
    assert found.head.layout == "yolov5"


def test_channels_first_is_yolov8():
    found = recognise([OutputInfo("output0", (1, 84, 8400), FLOAT)], HW, ModelMetadata(), never_probed)
    assert (found.head.layout, found.num_classes) == ("yolov8", 80)
    one_class = recognise([OutputInfo("output0", (1, 5, 8400), FLOAT)], HW, ModelMetadata(), never_probed)
    assert (one_class.head.layout, one_class.num_classes) == ("yolov8", 1)


def test_grid_sized_rows_are_settled_by_the_probe():
    outputs = [OutputInfo("output", (1, 8400, 85), FLOAT)]
    raw = probe_returning(raw_yolox_rows(8400)[None])
    found = recognise(outputs, HW, ModelMetadata(), raw)
    assert (found.head.layout, found.input_format, found.how) == ("yolox", YOLOX_INPUT, "probe")
    assert len(raw.calls) == 1
    decoded = recognise(outputs, HW, ModelMetadata(), probe_returning(decoded_rows(8400)[None]))
    assert (decoded.head.layout, decoded.input_format) == ("yolov5", ULTRALYTICS_INPUT)


def test_ultralytics_metadata_settles_grid_sized_rows_without_probing():
    metadata = ModelMetadata(names=("a",) * 80, stride=32)
    found = recognise([OutputInfo("output0", (1, 8400, 85), FLOAT)], HW, metadata, never_probed)
    assert (found.head.layout, found.how) == ("yolov5", "metadata")


def test_looks_decoded_rules():
    assert not looks_decoded(raw_yolox_rows(100), HW)
    assert looks_decoded(decoded_rows(100), HW)
    clustered = decoded_rows(100)
    clustered[:, 0] = 300  # all centres in one place: not spread over the input
    assert not looks_decoded(clustered, HW)
    assert not looks_decoded(np.zeros((0, 85)), HW)


@pytest.mark.parametrize("shape", [(1, 300, 6), (1, 100, 7), (1, 0, 6)])
def test_end_to_end_rows(shape):
    found = recognise([OutputInfo("output0", shape, FLOAT)], HW, ModelMetadata(), never_probed)
    assert (found.head.layout, found.num_classes) == ("end2end", None)


def test_one_class_dense_head_is_not_mistaken_for_end_to_end_rows():
    outputs = [OutputInfo("output", (1, 8400, 6), FLOAT)]
    found = recognise(outputs, HW, ModelMetadata(), probe_returning(raw_yolox_rows(8400, classes=1)[None]))
    assert (found.head.layout, found.num_classes) == ("yolox", 1)


def test_symbolic_dimensions_are_read_from_the_probe():
    outputs = [OutputInfo("dets", (None, 7), FLOAT)]
    probe = probe_returning(np.zeros((3, 7), np.float32))
    assert recognise(outputs, HW, ModelMetadata(), probe).head.layout == "end2end"
    assert len(probe.calls) == 1


def test_separate_outputs_efficient_nms_style():
    outputs = [
        OutputInfo("num_dets", (1, 1), "tensor(int32)"),
        OutputInfo("det_boxes", (1, 100, 4), FLOAT),
        OutputInfo("det_scores", (1, 100), FLOAT),
        OutputInfo("det_classes", (1, 100), "tensor(int32)"),
    ]
    found = recognise(outputs, HW, ModelMetadata(), never_probed)
    assert found.head.layout == "end2end"
    assert found.head.output_names == ("det_boxes", "det_scores", "det_classes", "num_dets")


def test_separate_outputs_with_float_labels_are_told_apart_by_name():
    outputs = [
        OutputInfo("boxes", (1, 50, 4), FLOAT),
        OutputInfo("labels", (1, 50), FLOAT),
        OutputInfo("scores", (1, 50), FLOAT),
    ]
    assert recognise(outputs, HW, ModelMetadata(), never_probed).head.output_names == ("boxes", "scores", "labels")


def test_mmdeploy_dets_and_labels():
    outputs = [OutputInfo("dets", (1, 100, 5), FLOAT), OutputInfo("labels", (1, 100), INT64)]
    assert recognise(outputs, HW, ModelMetadata(), never_probed).head.output_names == ("dets", "labels")


def test_ambiguous_separate_outputs_are_unsupported():
    outputs = [
        OutputInfo("boxes", (1, 50, 4), FLOAT),
        OutputInfo("a", (1, 50), FLOAT),
        OutputInfo("b", (1, 50), FLOAT),
    ]
    with pytest.raises(LayoutError, match="cannot tell the output layout from 'boxes' \\[1, 50, 4\\], 'a'"):
        recognise(outputs, HW, ModelMetadata(), never_probed)


def test_unsupported_names_the_layouts_and_the_shapes_found():
    with pytest.raises(LayoutError) as caught:
        recognise(
            [OutputInfo("output0", (1, 116, 8400), FLOAT), OutputInfo("output1", (1, 32, 160, 160), FLOAT)],
            HW, ModelMetadata(), never_probed,
        )  # fmt: skip
    message = str(caught.value)
    assert "'output0' [1, 116, 8400], 'output1' [1, 32, 160, 160]" in message
    for expected in (
        "yolox [1, 8400, 5 + C]",
        "yolov5 [1, 25200, 5 + C]",
        "yolov8 [1, 4 + C, 8400]",
        "end2end [1, N, 6]",
    ):
        assert expected in message
    assert "--layout" in message and "\n" not in message


def test_metadata_task_is_checked_first():
    with pytest.raises(LayoutError, match="is a 'segment' model"):
        recognise([OutputInfo("output0", (1, 116, 8400), FLOAT)], HW, ModelMetadata(task="segment"), never_probed)


def test_end2end_metadata_with_dense_outputs_is_refused():
    with pytest.raises(LayoutError, match="metadata says end2end but the outputs are not end-to-end"):
        recognise([OutputInfo("output0", (1, 84, 8400), FLOAT)], HW, ModelMetadata(end2end=True), never_probed)


def test_forced_layouts_accept_unusual_grids_except_yolox():
    odd = [OutputInfo("output0", (1, 1000, 85), FLOAT)]
    assert recognise(odd, HW, ModelMetadata(), never_probed, layout="yolov5").head.layout == "yolov5"
    with pytest.raises(
        LayoutError, match=r"layout yolox needs one output \[1, 8400, 5 \+ C\] for a 640x640 input"
    ):
        recognise(odd, HW, ModelMetadata(), never_probed, layout="yolox")
    channels = [OutputInfo("output0", (1, 84, 1000), FLOAT)]
    assert recognise(channels, HW, ModelMetadata(), never_probed, layout="yolov8").num_classes == 80
