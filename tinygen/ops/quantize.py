"""QUANTIZE and DEQUANTIZE: the float32 <-> int8 conversions at a model's edges, and
int8 -> int8 requantization.

Semantics are TensorFlow Lite Micro's reference kernels (micro/kernels/quantize_common.cc,
dequantize_common.cc, reference/quantize.h, requantize.h, dequantize.h), per tensor:

- float32 -> int8 (AffineQuantize): q = clamp(round(x / scale) + zero_point). TFLM keeps
  the scale as a double but casts it back to float for the division, so the division is
  a float32 one (the kernel must not replace it by a multiplication with 1 / scale), and
  round is std::round (halves away from zero).
- int8 -> int8 (Requantize): the multiplier of input_scale / output_scale, computed in
  double (QuantizeMultiplier, may exceed one), applied to q - input_zero_point with the
  double-rounding MultiplyByQuantizedMultiplier, plus the output zero point, saturated.
- int8 -> float32 (Dequantize): scale * (q - zero_point) computed by TFLM in double and
  rounded to float; the kernel's float multiplication gives the same bits (see
  tg_quantize.c).
"""

from __future__ import annotations

from ..ir import Graph, Op, Tensor, shape_str
from ..quant import quantize_multiplier
from .access import elementwise
from .registry import Layer, OpSpec, check_dtypes, register


def _per_tensor_reason(tensors: tuple[Tensor, ...]) -> str | None:
    for tensor in tensors:
        if tensor.quant is None:
            return f"'{tensor.name}' has no quantization parameters"
        if tensor.quant.per_channel:
            return f"'{tensor.name}' is quantized per channel; only per-tensor is supported"
    return None


def _check_same_size(source: Tensor, result: Tensor) -> str | None:
    if source.num_elements != result.num_elements:
        return f"input {shape_str(source.shape)} and output {shape_str(result.shape)} differ in size"
    return None


def _check_quantize(graph: Graph, op: Op) -> str | None:
    reason = check_dtypes(graph, op, (None,), ("int8",))
    if reason:
        return reason
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    if source.dtype == "float32":
        return _per_tensor_reason((result,)) or _check_same_size(source, result)
    if source.dtype == "int8":
        return _per_tensor_reason((source, result)) or _check_same_size(source, result)
    return f"input '{source.name}' is {source.dtype}; only float32 and int8 are supported"


def _check_dequantize(graph: Graph, op: Op) -> str | None:
    reason = check_dtypes(graph, op, ("int8",), ("float32",))
    if reason:
        return reason
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    return _per_tensor_reason((source,)) or _check_same_size(source, result)


def _describe(tensor: Tensor) -> str:
    text = tensor.describe()
    if tensor.quant is not None:
        text += f" (scale {tensor.quant.scale:g}, zero point {tensor.quant.zero_point})"
    return text


def _lower_quantize(graph: Graph, op: Op, backend: str) -> Layer:
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    summary = f"QUANTIZE {_describe(source)} -> {_describe(result)}"
    if source.dtype == "float32":
        params = dict(variant="f32_s8", scale=float(result.quant.scale), zero_point=result.quant.zero_point,
                      size=result.num_elements)
    else:
        multiplier, shift = quantize_multiplier(float(source.quant.scale) / float(result.quant.scale))
        params = dict(variant="s8_s8", input_offset=-source.quant.zero_point, multiplier=multiplier, shift=shift,
                      output_offset=result.quant.zero_point, size=result.num_elements)
    # tg_quantize_*: reads element i, then writes it.
    access = elementwise(result.num_elements, source.nbytes // result.num_elements, 1)
    return Layer(op=op, template="ops/quantize.c.j2", kernels=("quantize",), params=params, summary=summary,
                 access=access)


def _lower_dequantize(graph: Graph, op: Op, backend: str) -> Layer:
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    params = dict(scale=float(source.quant.scale), zero_point=source.quant.zero_point, size=result.num_elements)
    summary = f"DEQUANTIZE {_describe(source)} -> {_describe(result)}"
    return Layer(op=op, template="ops/dequantize.c.j2", kernels=("quantize",), params=params, summary=summary,
                 access=elementwise(result.num_elements, 1, 4))  # tg_dequantize_s8_f32: element i read, then written


register(OpSpec("QUANTIZE", _check_quantize, _lower_quantize))
register(OpSpec("DEQUANTIZE", _check_dequantize, _lower_dequantize))
