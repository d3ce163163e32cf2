"""Hand-written TFLite flatbuffers for the tests that need what no converter emits.

The TFLite converter calibrates every scale from data, so some cases never come out of
a Keras model: an int8 -> int8 QUANTIZE, a fused activation whose clamp actually cuts
(the converter gives a fused op the activation's own output range), a MUL whose
rescale exceeds one. `write_model` builds such a model directly from tensors and
operators with the `tflite` package's generated flatbuffer builders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

# TensorType codes of the TFLite schema.
TENSOR_TYPES = {"float32": 0, "int32": 2, "int16": 7, "int8": 9}


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str
    quantization: tuple[float, int] | None = None  # (scale, zero point), per tensor
    data: np.ndarray | None = None                  # constant contents


@dataclass(frozen=True)
class OperatorSpec:
    code: str                                        # BuiltinOperator name, e.g. "ADD"
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    fused_activation: int | None = None              # for ops with AddOptions / MulOptions


def _options_writer(tflite, code: str, activation: int) -> tuple[int, Callable]:
    """(BuiltinOptions type, function writing the options table) of ADD or MUL."""
    table = {"ADD": "AddOptions", "MUL": "MulOptions"}[code]

    def write(builder):
        getattr(tflite, f"{table}Start")(builder)
        getattr(tflite, f"{table}AddFusedActivationFunction")(builder, activation)
        return getattr(tflite, f"{table}End")(builder)

    return getattr(tflite.BuiltinOptions, table), write


def write_model(path: Path, tensors: list[TensorSpec], operators: list[OperatorSpec],
                inputs: tuple[int, ...], outputs: tuple[int, ...]) -> Path:
    """A one-subgraph .tflite of `tensors` and `operators` (indices refer to `tensors`)."""
    import flatbuffers
    import tflite

    builder = flatbuffers.Builder(1024)

    def offsets_vector(start, offsets):
        start(builder, len(offsets))
        for offset in reversed(offsets):
            builder.PrependUOffsetTRelative(offset)
        return builder.EndVector()

    def int32_vector(values):
        return builder.CreateNumpyVector(np.array(values, dtype=np.int32))

    buffer_offsets = []  # buffer 0 is the empty buffer of every non-constant tensor
    for spec in [None] + [t for t in tensors if t.data is not None]:
        data = None
        if spec is not None:
            raw = np.ascontiguousarray(spec.data, dtype=np.dtype(spec.dtype).newbyteorder("<"))
            data = builder.CreateNumpyVector(np.frombuffer(raw.tobytes(), dtype=np.uint8))
        tflite.BufferStart(builder)
        if data is not None:
            tflite.BufferAddData(builder, data)
        buffer_offsets.append(tflite.BufferEnd(builder))

    tensor_offsets, next_buffer = [], 1
    for index, spec in enumerate(tensors):
        name = builder.CreateString(f"t{index}")
        shape = int32_vector(spec.shape)
        quantization = None
        if spec.quantization is not None:
            scales = builder.CreateNumpyVector(np.array([spec.quantization[0]], dtype=np.float32))
            zero_points = builder.CreateNumpyVector(np.array([spec.quantization[1]], dtype=np.int64))
            tflite.QuantizationParametersStart(builder)
            tflite.QuantizationParametersAddScale(builder, scales)
            tflite.QuantizationParametersAddZeroPoint(builder, zero_points)
            quantization = tflite.QuantizationParametersEnd(builder)
        tflite.TensorStart(builder)
        tflite.TensorAddShape(builder, shape)
        tflite.TensorAddType(builder, TENSOR_TYPES[spec.dtype])
        if spec.data is not None:
            tflite.TensorAddBuffer(builder, next_buffer)
            next_buffer += 1
        tflite.TensorAddName(builder, name)
        if quantization is not None:
            tflite.TensorAddQuantization(builder, quantization)
        tensor_offsets.append(tflite.TensorEnd(builder))

    codes = sorted({operator.code for operator in operators})
    code_offsets = []
    for code in codes:
        number = getattr(tflite.BuiltinOperator, code)
        tflite.OperatorCodeStart(builder)
        tflite.OperatorCodeAddDeprecatedBuiltinCode(builder, min(number, 127))
        tflite.OperatorCodeAddBuiltinCode(builder, number)
        tflite.OperatorCodeAddVersion(builder, 1)
        code_offsets.append(tflite.OperatorCodeEnd(builder))

    operator_offsets = []
    for operator in operators:
        operator_inputs, operator_outputs = int32_vector(operator.inputs), int32_vector(operator.outputs)
        options = None
        if operator.fused_activation is not None:
            options_type, write_options = _options_writer(tflite, operator.code, operator.fused_activation)
            options = write_options(builder)
        tflite.OperatorStart(builder)
        tflite.OperatorAddOpcodeIndex(builder, codes.index(operator.code))
        tflite.OperatorAddInputs(builder, operator_inputs)
        tflite.OperatorAddOutputs(builder, operator_outputs)
        if options is not None:
            tflite.OperatorAddBuiltinOptionsType(builder, options_type)
            tflite.OperatorAddBuiltinOptions(builder, options)
        operator_offsets.append(tflite.OperatorEnd(builder))

    tensors_vector = offsets_vector(tflite.SubGraphStartTensorsVector, tensor_offsets)
    operators_vector = offsets_vector(tflite.SubGraphStartOperatorsVector, operator_offsets)
    graph_inputs, graph_outputs = int32_vector(inputs), int32_vector(outputs)
    subgraph_name = builder.CreateString("main")
    tflite.SubGraphStart(builder)
    tflite.SubGraphAddTensors(builder, tensors_vector)
    tflite.SubGraphAddInputs(builder, graph_inputs)
    tflite.SubGraphAddOutputs(builder, graph_outputs)
    tflite.SubGraphAddOperators(builder, operators_vector)
    tflite.SubGraphAddName(builder, subgraph_name)
    subgraph = tflite.SubGraphEnd(builder)

    codes_vector = offsets_vector(tflite.ModelStartOperatorCodesVector, code_offsets)
    subgraphs_vector = offsets_vector(tflite.ModelStartSubgraphsVector, [subgraph])
    buffers_vector = offsets_vector(tflite.ModelStartBuffersVector, buffer_offsets)
    description = builder.CreateString("tinygen test model")
    tflite.ModelStart(builder)
    tflite.ModelAddVersion(builder, 3)
    tflite.ModelAddOperatorCodes(builder, codes_vector)
    tflite.ModelAddSubgraphs(builder, subgraphs_vector)
    tflite.ModelAddDescription(builder, description)
    tflite.ModelAddBuffers(builder, buffers_vector)
    builder.Finish(tflite.ModelEnd(builder), file_identifier=b"TFL3")
    path = Path(path)
    path.write_bytes(builder.Output())
    return path
