"""Quantized detectors that keep their accuracy, checked on the camera's own footage.

``frames`` samples calibration and held-out frames from sources, ``accuracy`` defines what
"accurate" means (agreement with float32, or mAP on a labeled set), ``targets`` knows each
runtime's model format, ``mixed_precision`` is the glue to NNCF's accuracy-aware int8,
``compare`` times models side by side, ``workflow`` runs the whole thing and ``report`` prints
and saves the verdict. Needs the ``quantize`` extra (NNCF, onnx), and ``openvino`` for that target.
"""

from edge.contract.errors import AgentError


class QuantizationRejected(AgentError):
    """The quantized model misses the accuracy budget, so it was not written."""
