"""Shape ops: RESHAPE and SQUEEZE (aliases), PAD / PADV2 and CONCATENATION (int8).

Semantics are TensorFlow Lite Micro's (micro/kernels/reshape.cc, squeeze.cc, pad.cc,
pad_common.cc, concatenation.cc):

- RESHAPE and SQUEEZE only reinterpret their input's bytes: they compile to no code and
  the planner gives input and output one buffer. tinygen requires equal dtypes, element
  counts and quantization.
- PAD writes the output zero point into the padding (PADV2: its constant scalar, which
  TFLM requires to share the output's quantization). TFLM supports up to 5 dimensions
  and only non-negative paddings from a constant int32 tensor. Bytes are copied, never
  requantized. At compile time every axis without padding is merged into the axis before
  it (its rows become longer), so the kernel copies the longest possible runs.
- CONCATENATION copies bytes too: for int8, TFLM requires every input to have exactly
  the output's scale and zero point, no fused activation and at most 10 inputs.
  Constant inputs are placed in flash.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..ir import Graph, Op, Quantization, shape_str
from .registry import ConstArray, Layer, OpSpec, check_dtypes, register

# Limits of TFLM's reference kernels.
PAD_MAX_DIMS = 5
CONCAT_MAX_INPUTS = 10


def _same_quantization(a: Quantization | None, b: Quantization | None) -> bool:
    """Equal scales and zero points, as TFLM compares them (the axis of a per-tensor
    quantization means nothing)."""
    if a is None or b is None:
        return a is b
    return a.scales == b.scales and a.zero_points == b.zero_points


# -------------------------------------------------------------------- RESHAPE, SQUEEZE

def _check_alias(graph: Graph, op: Op) -> str | None:
    source, result = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    if source.is_constant:
        return f"input '{source.name}' is a constant (a reshape of a constant should be folded by the converter)"
    if source.dtype != result.dtype:
        return f"input is {source.dtype}, output is {result.dtype}"
    if source.num_elements != result.num_elements:
        return f"input {shape_str(source.shape)} and output {shape_str(result.shape)} differ in element count"
    if not _same_quantization(source.quant, result.quant):
        return "input and output quantization differ, so the bytes cannot be shared"
    return None


# ---------------------------------------------------------------------------- PAD, PADV2

def _check_pad(graph: Graph, op: Op) -> str | None:
    inputs = ("int8", "int32", "int8") if op.kind == "PADV2" else ("int8", "int32")
    reason = check_dtypes(graph, op, inputs, ("int8",))
    if reason:
        return reason
    source, paddings = graph.op_inputs(op)[:2]
    result = graph.op_outputs(op)[0]
    if paddings.data is None:
        return "the paddings tensor must be a constant"
    rank = len(source.shape)
    if rank > PAD_MAX_DIMS:
        return f"{rank}-D input; TFLM pads at most {PAD_MAX_DIMS} dimensions"
    if paddings.data.shape != (rank, 2):
        return f"paddings of shape {shape_str(paddings.data.shape)}, expected {rank}x2"
    if (paddings.data < 0).any():
        return f"negative paddings {paddings.data.tolist()} are not supported"
    expected = tuple(int(d + before + after) for d, (before, after) in zip(source.shape, paddings.data))
    if expected != result.shape:
        return f"output shape {shape_str(result.shape)} differs from the padded {shape_str(expected)}"
    if op.kind == "PADV2":
        pad_value = graph.op_inputs(op)[2]
        if pad_value is None or pad_value.data is None or pad_value.num_elements != 1:
            return "the pad value must be a constant scalar"
        if not _same_quantization(pad_value.quant, result.quant):
            return "the pad value's quantization differs from the output's; TFLM requires them equal"
    return None


def _folded_pad_dims(shape: tuple[int, ...], paddings: np.ndarray) -> list[list[int]]:
    """[size, before, after] per kept axis. An axis without padding is merged into the
    axis before it; an axis of size 1 without padding is dropped."""
    folded: list[list[int]] = []
    for size, (before, after) in zip(shape, paddings.tolist()):
        if before == after == 0:
            if size == 1:
                continue
            if folded:
                folded[-1] = [value * size for value in folded[-1]]
                continue
        folded.append([size, before, after])
    return folded or [[1, 0, 0]]


def _lower_pad(graph: Graph, op: Op, backend: str) -> Layer:
    source, paddings = graph.op_inputs(op)[:2]
    result = graph.op_outputs(op)[0]
    if op.kind == "PADV2":
        pad_value = int(graph.op_inputs(op)[2].data.reshape(-1)[0])
    else:
        pad_value = result.quant.zero_point
    dims = _folded_pad_dims(source.shape, paddings.data)
    output_dims = [size + before + after for size, before, after in dims]
    output_strides = [int(np.prod(output_dims[axis + 1:], dtype=np.int64)) for axis in range(len(dims))]
    unused = PAD_MAX_DIMS - len(dims)
    params = dict(
        dims_count=len(dims),
        input_dims=tuple(size for size, _, _ in dims) + (0,) * unused,
        pad_before=tuple(before for _, before, _ in dims) + (0,) * unused,
        pad_after=tuple(after for _, _, after in dims) + (0,) * unused,
        output_strides=tuple(output_strides) + (0,) * unused,
        pad_value=pad_value,
    )
    summary = (f"{op.kind} {shape_str(source.shape)} -> {shape_str(result.shape)}, "
               f"paddings {[tuple(pair) for pair in paddings.data.tolist()]}, value {pad_value}")
    return Layer(op=op, template="ops/pad.c.j2", kernels=("shape",), params=params, summary=summary)


# ------------------------------------------------------------------------ CONCATENATION

def _concat_axis(graph: Graph, op: Op) -> int:
    rank = len(graph.op_outputs(op)[0].shape)
    axis = op.options.get("axis", 0)
    return axis + rank if axis < 0 else axis


def _check_concat(graph: Graph, op: Op) -> str | None:
    sources, result = graph.op_inputs(op), graph.op_outputs(op)[0]
    reason = check_dtypes(graph, op, ("int8",) * len(sources), ("int8",))
    if reason:
        return reason
    if not 1 <= len(sources) <= CONCAT_MAX_INPUTS:
        return f"{len(sources)} inputs; TFLM concatenates 1 to {CONCAT_MAX_INPUTS}"
    if op.options.get("fused_activation_function", 0) != 0:
        return "a fused activation is not supported (TFLM refuses it)"
    rank = len(result.shape)
    axis = _concat_axis(graph, op)
    if not 0 <= axis < rank:
        return f"axis {op.options.get('axis')} out of range for {rank}-D tensors"
    for position, source in enumerate(sources):
        if not _same_quantization(source.quant, result.quant):
            return (f"input {position} '{source.name}' is quantized with scale {source.quant.scale:g}, zero point "
                    f"{source.quant.zero_point}; the output with {result.quant.scale:g}, "
                    f"{result.quant.zero_point}: TFLM requires every int8 input to equal the output's")
        if len(source.shape) != rank or any(source.shape[d] != result.shape[d] for d in range(rank) if d != axis):
            return f"input {position} {shape_str(source.shape)} does not fit output {shape_str(result.shape)}"
    if sum(source.shape[axis] for source in sources) != result.shape[axis]:
        return f"inputs do not add up to the output's {result.shape[axis]} along axis {axis}"
    return None


def _lower_concat(graph: Graph, op: Op, backend: str) -> Layer:
    sources, result = graph.op_inputs(op), graph.op_outputs(op)[0]
    axis = _concat_axis(graph, op)
    inner = int(np.prod(result.shape[axis + 1:], dtype=np.int64))
    params = dict(outer_count=int(np.prod(result.shape[:axis], dtype=np.int64)), input_count=len(sources),
                  copy_sizes=tuple(source.shape[axis] * inner for source in sources))
    constants = tuple(ConstArray(f"input{position}", "int8_t", source.data, f"constant input '{source.name}'")
                      for position, source in enumerate(sources) if source.is_constant)
    summary = (f"CONCATENATION {' + '.join(shape_str(source.shape) for source in sources)} -> "
               f"{shape_str(result.shape)}, axis {axis}")
    # With nothing but size-1 axes before the axis, each input is one contiguous block of the
    # output, which its producer can write in place (no kernel writes with an output stride).
    contiguous = params["outer_count"] == 1
    offsets = tuple(itertools.accumulate(params["copy_sizes"][:-1], initial=0)) if contiguous else None
    return Layer(op=op, template="ops/concatenation.c.j2", kernels=("shape",), params=params,
                 constants=constants, summary=summary, slice_offsets=offsets)


register(OpSpec("RESHAPE", _check_alias, alias=True))
register(OpSpec("SQUEEZE", _check_alias, alias=True))
register(OpSpec("PAD", _check_pad, _lower_pad))
register(OpSpec("PADV2", _check_pad, _lower_pad))
register(OpSpec("CONCATENATION", _check_concat, _lower_concat))
