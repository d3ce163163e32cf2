"""Front end: a .tflite flatbuffer -> the IR.

The model is read with the `tflite` package (the flatbuffer schema's generated Python
reader), never by hand-parsing bytes, and without importing TensorFlow. Options of each
op are read generically from its options table: every getter of the options class
becomes a snake_case key (`StrideW` -> `stride_w`), vectors become tuples.

Anything unreadable (missing file, truncated or random bytes, a flatbuffer that is not a
TFLite model) raises ModelFormatError with one line that says what is wrong.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import numpy as np

from ..errors import ModelFormatError, UnsupportedModelError
from ..ir import Graph, NO_TENSOR, Op, Quantization, Tensor

# TFLite file identifier at bytes 4..8 of every model flatbuffer.
TFLITE_IDENTIFIER = b"TFL3"

_TENSOR_TYPES = {"FLOAT32": "float32", "INT32": "int32", "UINT8": "uint8", "INT64": "int64",
                 "BOOL": "bool", "INT16": "int16", "INT8": "int8"}


def _enum_names(enum_class) -> dict[int, str]:
    return {value: name for name, value in vars(enum_class).items()
            if not name.startswith("_") and isinstance(value, int)}


def _snake_case(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def load(path: str | Path) -> Graph:
    """Read a .tflite file into a Graph."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: no such file") from None
    except OSError as error:
        raise ModelFormatError(f"{path}: cannot read ({error.strerror})") from None
    return parse(data, name=path.stem, origin=str(path))


def parse(data: bytes, name: str = "model", origin: str = "<bytes>") -> Graph:
    """Parse .tflite bytes into a Graph; ModelFormatError if they are not a valid model."""
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelFormatError(f"{origin}: not a TFLite model (no 'TFL3' file identifier)")
    import tflite  # the flatbuffer reader; imported here so the CLI starts fast

    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        return _read_graph(tflite, model, name)
    except (UnsupportedModelError, ModelFormatError):
        raise
    except Exception as error:  # the generated reader fails in many ways on corrupt bytes
        raise ModelFormatError(f"{origin}: corrupt or truncated TFLite model "
                               f"({type(error).__name__}: {error})") from None


def _read_graph(tflite, model, name: str) -> Graph:
    if model.SubgraphsLength() < 1:
        raise ModelFormatError("the model has no subgraph")
    if model.SubgraphsLength() > 1:
        raise UnsupportedModelError(f"the model has {model.SubgraphsLength()} subgraphs; "
                                    "tinygen compiles single-subgraph models (no control flow)")
    subgraph = model.Subgraphs(0)
    op_names = _enum_names(tflite.BuiltinOperator)
    type_names = _enum_names(tflite.TensorType)
    options_names = _enum_names(tflite.BuiltinOptions)

    tensors = [_read_tensor(model, subgraph.Tensors(i), i, type_names) for i in range(subgraph.TensorsLength())]
    ops = []
    for index in range(subgraph.OperatorsLength()):
        operator = subgraph.Operators(index)
        opcode = model.OperatorCodes(operator.OpcodeIndex())
        code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
        kind = op_names.get(code, f"BUILTIN_{code}")
        if kind == "CUSTOM":
            custom = opcode.CustomCode()
            kind = f"CUSTOM({custom.decode('utf-8', 'replace') if custom else '?'})"
        ops.append(Op(index=index, kind=kind,
                      inputs=tuple(int(i) for i in _vector(operator.InputsAsNumpy())),
                      outputs=tuple(int(i) for i in _vector(operator.OutputsAsNumpy())),
                      options=MappingProxyType(_read_options(tflite, operator, options_names))))
    for op in ops:
        for i in op.inputs + op.outputs:
            if i != NO_TENSOR and not 0 <= i < len(tensors):
                raise ModelFormatError(f"node {op.index} {op.kind} refers to tensor {i}, the model has {len(tensors)}")
    return Graph(name=name, tensors=tensors, ops=ops,
                 inputs=tuple(int(i) for i in _vector(subgraph.InputsAsNumpy())),
                 outputs=tuple(int(i) for i in _vector(subgraph.OutputsAsNumpy())))


def _vector(values) -> np.ndarray:
    """The generated reader returns 0 instead of an empty array for absent vectors."""
    return values if isinstance(values, np.ndarray) else np.zeros(0, dtype=np.int32)


def _read_tensor(model, tensor, index: int, type_names: dict[int, str]) -> Tensor:
    raw_name = tensor.Name()
    name = raw_name.decode("utf-8", "replace") if raw_name else f"tensor{index}"
    type_name = type_names.get(tensor.Type(), str(tensor.Type()))
    dtype = _TENSOR_TYPES.get(type_name)
    if dtype is None:
        raise UnsupportedModelError(f"tensor '{name}' has type {type_name}, which tinygen does not support")
    shape = tuple(int(d) for d in _vector(tensor.ShapeAsNumpy()))
    quant = _read_quantization(tensor.Quantization())
    data = None
    buffer_index = tensor.Buffer()
    if 0 < buffer_index < model.BuffersLength():
        buffer = model.Buffers(buffer_index)
        raw = _vector(buffer.DataAsNumpy())
        if raw.size:
            expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
            if raw.size != expected:
                raise ModelFormatError(f"constant tensor '{name}' holds {raw.size} bytes, "
                                       f"its shape {shape} needs {expected}")
            data = np.frombuffer(raw.tobytes(), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype)
            data = data.reshape(shape)
            data.setflags(write=False)
    return Tensor(index=index, name=name, shape=shape, dtype=dtype, quant=quant, data=data)


def _read_quantization(params) -> Quantization | None:
    if params is None:
        return None
    scales = _vector(params.ScaleAsNumpy())
    zero_points = _vector(params.ZeroPointAsNumpy())
    if scales.size == 0:
        return None
    if zero_points.size == 0:
        zero_points = np.zeros(scales.size, dtype=np.int64)
    return Quantization(scales=tuple(float(s) for s in scales),
                        zero_points=tuple(int(z) for z in zero_points),
                        axis=int(params.QuantizedDimension()))


_SKIPPED_GETTERS = ("Init", "GetRootAs")


def _read_options(tflite, operator, options_names: dict[int, str]) -> dict[str, object]:
    options_type = operator.BuiltinOptionsType()
    table = operator.BuiltinOptions()
    if options_type == 0 or table is None:
        return {}
    class_name = options_names.get(options_type)
    options_class = getattr(tflite, class_name, None) if class_name else None
    if options_class is None:
        return {}
    options = options_class()
    options.Init(table.Bytes, table.Pos)
    values = {}
    for attribute in sorted(vars(options_class)):
        if attribute.startswith("_") or attribute.startswith(_SKIPPED_GETTERS) or attribute.endswith(
                ("AsNumpy", "Length", "IsNone", "BufferHasIdentifier")):
            continue
        if hasattr(options_class, attribute + "AsNumpy"):
            values[_snake_case(attribute)] = tuple(_vector(getattr(options, attribute + "AsNumpy")()).tolist())
        else:
            try:
                values[_snake_case(attribute)] = getattr(options, attribute)()
            except TypeError:  # a getter that takes an index without an AsNumpy twin
                continue
    return values
