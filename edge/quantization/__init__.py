"""Static int8 quantization of a detector, calibrated and then judged on the camera's own footage.

``frames`` samples calibration and held-out frames from a source, ``graph`` prepares the ONNX
graph (opset upgrade, ORT's pre-processing pass, the output stage to keep in float),
``calibrate`` runs ONNX Runtime's static quantizer, ``compare`` scores the int8 model against the
float one (agreement mAP@0.5 and latency) and ``report`` prints and saves the verdict.
Needs the ``onnx`` and ``sympy`` packages besides onnxruntime (the ``quantize`` extra).
"""

from edge.errors import AgentError


class QuantizationRejected(AgentError):
    """The int8 model disagrees with the float model more than allowed, so it was not written."""
