"""Give an ONNX detector a symbolic batch dimension, so several views run in one inference.

Many exports fix the batch at 1: the input is ``[1, 3, H, W]`` and Reshape nodes carry shape
constants such as YOLOX's ``[1, 85, -1]``. Changing the input alone would let ONNX Runtime fold a
batch of N into one row of N times the anchors, silently. So the rewrite:

* names the first dimension of every graph input and output ``batch``;
* turns a leading 1 of every constant Reshape shape into 0 ("copy this dimension from the input"),
  which is the batch wherever the reshaped tensor carries it first;
* drops the stored intermediate shapes (they say 1), for the runtime to infer again;

and then checks itself: two different frames run as one batch of two through the new model must
give the raw outputs each gives alone through the original. A model whose Reshapes mean something else
fails that check and is not written. Needs the ``onnx`` package (the ``quantize`` extra).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.errors import ModelError

BATCH = "batch"


def make_batch_dynamic(model_path: Path, out_path: Path, probe_images: list[np.ndarray]) -> int:
    """Write ``model_path`` with a symbolic batch to ``out_path``; returns the Reshapes changed.

    ``probe_images`` (two or more BGR frames) are run through both models for the check.
    Raises ModelError when the model cannot be rewritten or the rewritten one disagrees.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelError("making a batch dimension needs the onnx package: pip install 'edgelabel[quantize]'") from None
    from edge.quantization.graph import load

    model = load(model_path)
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    constants = {node.output[0]: node for node in graph.node if node.op_type == "Constant"}
    changed = 0
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        shape_name = node.input[1]
        if shape_name in initializers:
            shape = numpy_helper.to_array(initializers[shape_name]).copy()
            if shape.ndim == 1 and len(shape) and shape[0] == 1:
                shape[0] = 0
                initializers[shape_name].CopyFrom(numpy_helper.from_array(shape, shape_name))
                changed += 1
        elif shape_name in constants:
            attribute = next(a for a in constants[shape_name].attribute if a.name == "value")
            shape = numpy_helper.to_array(attribute.t).copy()
            if shape.ndim == 1 and len(shape) and shape[0] == 1:
                shape[0] = 0
                attribute.t.CopyFrom(numpy_helper.from_array(shape, attribute.t.name))
                changed += 1
    for value in [*graph.input, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = BATCH
    del graph.value_info[:]
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"model {model_path}: the rewritten graph is not valid ONNX: {str(exc).splitlines()[0]}") from None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out_path))
    try:
        _check_against_original(model_path, out_path, probe_images)
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    return changed


def _check_against_original(model_path: Path, out_path: Path, probe_images: list[np.ndarray]) -> None:
    from edge.detection.runner import Detector

    original = Detector(model_path, threads=2, warmup=False)
    batched = Detector(out_path, threads=2, warmup=False, layout=original.layout)
    if not batched.takes_batches:
        raise ModelError(f"model {out_path}: the batch dimension is still fixed after the rewrite")
    names = original.head_output_names
    tensors = [original.preprocess(image).tensor for image in probe_images]
    alone = [original.infer(tensor) for tensor in tensors]
    together = batched.infer(np.concatenate(tensors))
    for index, outputs in enumerate(alone):
        for name, one, stacked in zip(names, outputs, together):
            if stacked.shape[0] != len(tensors) or not np.allclose(one[0], stacked[index], rtol=1e-3, atol=1e-3):
                raise ModelError(
                    f"model {model_path}: output {name!r} of a batch through the rewritten model differs from each "
                    "frame's alone (its Reshape nodes mean something other than a leading batch); re-export the "
                    "model with a dynamic batch instead"
                )
