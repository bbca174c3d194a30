"""``edgelabel-agent dynamic-batch`` on the shared model: a batch dimension, checked, used by tiles."""

import argparse

import cv2
import numpy as np
import onnx
import pytest

from edge.commands import dynamic_batch
from edge.detection import Detector
from edge.detection.dynamic_batch import make_batch_dynamic
from edge.detection.tiled import TiledDetector
from edge.errors import ModelError


def run(*argv):
    parser = argparse.ArgumentParser()
    dynamic_batch.add_parser(parser.add_subparsers())
    return dynamic_batch.run(parser.parse_args(["dynamic-batch", *map(str, argv)]))


@pytest.fixture(scope="module")
def batch_model(model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch") / "yolox_nano.batch.onnx"
    assert run("--model", model_path, "--out", out) == 0
    return out


def test_the_batch_dimension_is_symbolic_and_yolox_reshapes_copy_it(batch_model):
    model = onnx.load(str(batch_model))
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    shapes = {i.name: onnx.numpy_helper.to_array(i).tolist() for i in model.graph.initializer}
    reshapes = [shapes[n.input[1]] for n in model.graph.node if n.op_type == "Reshape"]
    assert reshapes == [[0, 85, -1]] * 3
    assert Detector(batch_model, warmup=False).takes_batches


def test_tiles_in_one_batch_give_the_boxes_of_tiles_one_by_one(model_path, batch_model, images_dir):
    image = cv2.resize(cv2.imread(str(images_dir / "yolov5_bus.jpg")), (1600, 1200))
    one_by_one = TiledDetector(Detector(model_path, threads=2), "2x2").detect(image)
    batched = TiledDetector(Detector(batch_model, threads=2), "2x2").detect(image)
    assert len(batched.xyxy) == len(one_by_one.xyxy) > 3
    np.testing.assert_allclose(batched.xyxy, one_by_one.xyxy, atol=0.5)


def test_a_model_whose_reshape_is_not_a_batch_is_refused(model_path, tmp_path):
    # The shared graph plus a Transpose that moves the batch off the front and a Reshape [1, -1, 85]
    # that folds it back: right for one frame, but its leading 1 is not a batch, so the rewritten
    # model's outputs are wrong. Loading it back or the batch check refuses it; nothing is written.
    from onnx import helper, numpy_helper

    model = onnx.load(str(model_path))
    graph = model.graph
    graph.initializer.append(numpy_helper.from_array(np.array([1, -1, 85], np.int64), "fold_shape"))
    graph.node.extend([
        helper.make_node("Transpose", ["output"], ["moved"], perm=[1, 0, 2]),
        helper.make_node("Reshape", ["moved", "fold_shape"], ["folded"]),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("folded", onnx.TensorProto.FLOAT, [1, 3549, 85]))
    trap = tmp_path / "folding.onnx"
    onnx.save(model, str(trap))
    frames = [np.full((240, 320, 3), 60, np.uint8), np.full((240, 320, 3), 200, np.uint8)]
    with pytest.raises(ModelError, match=r"out\.onnx|differs from each frame's alone"):
        make_batch_dynamic(trap, tmp_path / "out.onnx", frames)
    assert not (tmp_path / "out.onnx").exists()
