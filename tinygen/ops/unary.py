"""Element-wise int8 -> int8 activations as 256-entry lookup tables: RELU, RELU6,
LEAKY_RELU, LOGISTIC, TANH, HARD_SWISH.

An int8 input takes only 256 values, so each op's output for every input value is
computed here, at compile time, by emulating TensorFlow Lite Micro's integer algorithm
step by step in Python; the C kernel `tg_lookup_s8` only indexes the table. Semantics
(micro/kernels/activations_common.cc, leaky_relu_common.cc, logistic_common.cc, tanh.cc,
hard_swish_common.cc and the reference kernels they call):

- RELU requantizes (input_scale / output_scale, divided in float32, QuantizeMultiplier)
  and clamps to [max(-128, output zero point), 127].
- RELU6 does NOT requantize: TFLM clamps the raw input to [input zero point,
  round(6 / input_scale) + input zero point] and writes it as the output, whatever the
  output's quantization (the converter gives the output its own scale, so TFLM's result
  is off from the float model; tinygen reproduces it, as it must equal TFLM).
- LEAKY_RELU requantizes non-negative inputs by input_scale / output_scale and negative
  ones by input_scale * alpha / output_scale (float32 products, a negative alpha's sign
  applied after the multiplication).
- LOGISTIC and TANH rescale the input into a fixed-point number with 4 integer bits
  (multiplier from frexp(input_scale * 2^27), no rounding fix-up), saturate outside the
  input radius, and evaluate gemmlowp's fixed-point logistic / tanh (tinygen.fixedpoint).
  TFLM assumes the output quantization the converter gives (LOGISTIC: 1/256, zero point
  -128, which it checks; TANH: 1/128, zero point 0, unchecked) and so does tinygen.
- HARD_SWISH computes in int16 with two 16-bit multipliers and rounding-toward-zero in
  the final product (reference hard_swish.h).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

import numpy as np

from .. import fixedpoint
from ..ir import Graph, Op, Tensor, shape_str
from ..quant import (INT8_MAX, INT8_MIN, lookup_table, multiply_by_quantized_multiplier, quantize_multiplier,
                     quantize_value, rounding_divide_by_pot, tflite_round)
from .access import elementwise
from .registry import ConstArray, Layer, OpSpec, check_dtypes, register

# LOGISTIC and TANH: integer bits of the fixed-point input (kInputIntegerBits).
FIXED_POINT_INPUT_INTEGER_BITS = 4
# LOGISTIC's output: 1/256 with zero point -128, i.e. the Q0.31 result shifted right 23 bits.
LOGISTIC_OUTPUT_SHIFT = 31 - 8
LOGISTIC_OUTPUT_ZERO_POINT = -128
# TANH's output: 1/128 with zero point 0, the Q0.31 result shifted right 24 bits.
TANH_OUTPUT_SHIFT = 31 - 7

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1

Int8Function = Callable[[int], int]  # one int8 input value -> its int8 output value
# Builds an op's Int8Function from its input and output tensors and its options.
TableBuilder = Callable[[Tensor, Tensor, Mapping[str, object]], Int8Function]


def _clamp(value: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, value))


def _float32_ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator divided in float32, as TFLM divides two float scales."""
    return float(np.float32(numerator) / np.float32(denominator))


def _relu(source: Tensor, result: Tensor, options: Mapping[str, object]) -> Int8Function:
    multiplier, shift = quantize_multiplier(_float32_ratio(source.quant.scale, result.quant.scale))
    lowest = max(INT8_MIN, result.quant.zero_point)

    def relu(q: int) -> int:
        requantized = result.quant.zero_point + multiply_by_quantized_multiplier(
            q - source.quant.zero_point, multiplier, shift)
        return _clamp(requantized, lowest, INT8_MAX)
    return relu


def _relu6(source: Tensor, result: Tensor, options: Mapping[str, object]) -> Int8Function:
    zero = source.quant.zero_point
    six = _clamp(quantize_value(6.0, source.quant.scale, zero), INT8_MIN, INT8_MAX)
    return lambda q: six if q > six else (zero if q < zero else q)


def _leaky_relu(source: Tensor, result: Tensor, options: Mapping[str, object]) -> Int8Function:
    alpha_scale = np.float32(source.quant.scale) * np.float32(options["alpha"])
    alpha_multiplier, alpha_shift = quantize_multiplier(_float32_ratio(alpha_scale, result.quant.scale))
    identity_multiplier, identity_shift = quantize_multiplier(_float32_ratio(source.quant.scale, result.quant.scale))

    def leaky_relu(q: int) -> int:
        value = q - source.quant.zero_point
        if value >= 0:
            scaled = multiply_by_quantized_multiplier(value, identity_multiplier, identity_shift)
        else:
            scaled = multiply_by_quantized_multiplier(value, abs(alpha_multiplier), alpha_shift)
            scaled = -scaled if alpha_multiplier < 0 else scaled
        return _clamp(result.quant.zero_point + scaled, INT8_MIN, INT8_MAX)
    return leaky_relu


def _fixed_point_input_rescale(scale: float) -> tuple[int, int, int]:
    """LOGISTIC/TANH Prepare: (multiplier, left shift, input radius) of an input scale.

    The multiplier is frexp's fraction of scale * 2^27 rounded to Q31 (no fix-up for a
    fraction rounding to 1: a float32 scale has too few bits for that to happen); inputs
    at or beyond the radius (CalculateInputRadius, in double) saturate.
    """
    fraction, left_shift = math.frexp(float(scale) * (1 << (31 - FIXED_POINT_INPUT_INTEGER_BITS)))
    multiplier = tflite_round(fraction * (1 << 31))
    radius = math.ldexp(((1 << FIXED_POINT_INPUT_INTEGER_BITS) - 1) << (31 - FIXED_POINT_INPUT_INTEGER_BITS),
                        -left_shift)
    return multiplier, left_shift, math.floor(radius)


def _gemmlowp_activation(function: Callable[[int, int], int], output_shift: int,
                         output_zero_point: int) -> TableBuilder:
    """LOGISTIC or TANH: a gemmlowp fixed-point function of the rescaled input."""
    def build(source: Tensor, result: Tensor, options: Mapping[str, object]) -> Int8Function:
        multiplier, left_shift, radius = _fixed_point_input_rescale(source.quant.scale)

        def activation(q: int) -> int:
            value = q - source.quant.zero_point
            if value <= -radius:
                return INT8_MIN
            if value >= radius:
                return INT8_MAX
            fixed_point_input = multiply_by_quantized_multiplier(value, multiplier, left_shift)
            fixed_point_output = function(fixed_point_input, FIXED_POINT_INPUT_INTEGER_BITS)
            return _clamp(rounding_divide_by_pot(fixed_point_output, output_shift) + output_zero_point,
                          INT8_MIN, INT8_MAX)
        return activation
    return build


def _int16_multiplier(scale: float) -> tuple[int, int]:
    """QuantizeMultiplier then DownScaleInt32ToInt16Multiplier: (Q15 significand, exponent)."""
    multiplier, exponent = quantize_multiplier(scale)
    rounded = (multiplier + (1 << 15)) >> 16
    return min(rounded, INT16_MAX), exponent


def _wrap_int16(x: int) -> int:
    return ((x + (1 << 15)) & 0xFFFF) - (1 << 15)


def _saturate_int16(x: int) -> int:
    return _clamp(x, INT16_MIN, INT16_MAX)


def _int16_doubling_high_mul(a: int, b: int, rounding: bool) -> int:
    """(a * b * 2) / 2^16 on int16 values, saturating -1 * -1: rounded to nearest (gemmlowp
    SaturatingRoundingDoublingHighMul) or toward zero (hard_swish.h SaturatingDoublingHighMul)."""
    if a == b == INT16_MIN:
        return INT16_MAX
    product = a * b
    if rounding:
        product += (1 << 14) if product >= 0 else 1 - (1 << 14)
    quotient = abs(product) >> 15  # C division truncates toward zero
    return _wrap_int16(quotient if product >= 0 else -quotient)


def _hard_swish_multipliers(source: Tensor, result: Tensor) -> tuple[int, int, int, int]:
    """HardSwishPrepare: the int16 (multiplier, exponent) of the output and of the
    "relu-ish" factor, from the input on a 128 times finer scale (all in float32)."""
    hires_input_scale = np.float32(1.0 / 128.0) * np.float32(source.quant.scale)
    reluish_scale = np.float32(3.0 / 32768.0)  # 3.0 is 32768 on the relu-ish scale
    output_multiplier, output_exponent = _int16_multiplier(_float32_ratio(hires_input_scale, result.quant.scale))
    reluish_multiplier, reluish_exponent = _int16_multiplier(_float32_ratio(hires_input_scale, reluish_scale))
    return output_multiplier, output_exponent, reluish_multiplier, reluish_exponent


def _hard_swish(source: Tensor, result: Tensor, options: Mapping[str, object]) -> Int8Function:
    output_multiplier, output_exponent, reluish_multiplier, reluish_exponent = _hard_swish_multipliers(source, result)

    def hard_swish(q: int) -> int:
        hires_input = _wrap_int16((q - source.quant.zero_point) * (1 << 7))
        preshift_output_scale_input = _int16_doubling_high_mul(hires_input, output_multiplier, rounding=True)
        # The input on a scale where 3.0 is 32768, saturated: the "relu-ish" factor in [-1, 1].
        reluish = hires_input
        if reluish_exponent > 0:
            reluish = _saturate_int16(reluish * (1 << (reluish_exponent - 1)))
        reluish = _int16_doubling_high_mul(reluish, reluish_multiplier, rounding=True)
        if reluish_exponent > 0:
            reluish = _saturate_int16(reluish * 2)
        if reluish_exponent < 0:
            reluish = rounding_divide_by_pot(reluish, -reluish_exponent)
        reluish = _wrap_int16((reluish + (1 << 15)) >> 1)  # [-1, 1] -> [0, 1]
        preshift_output = _int16_doubling_high_mul(reluish, preshift_output_scale_input, rounding=False)
        output = _wrap_int16(rounding_divide_by_pot(preshift_output, -output_exponent) + result.quant.zero_point)
        return _clamp(output, INT8_MIN, INT8_MAX)
    return hard_swish


_TABLE_BUILDERS: dict[str, TableBuilder] = {
    "RELU": _relu,
    "RELU6": _relu6,
    "LEAKY_RELU": _leaky_relu,
    "LOGISTIC": _gemmlowp_activation(fixedpoint.logistic, LOGISTIC_OUTPUT_SHIFT, LOGISTIC_OUTPUT_ZERO_POINT),
    "TANH": _gemmlowp_activation(fixedpoint.tanh, TANH_OUTPUT_SHIFT, 0),
    "HARD_SWISH": _hard_swish,
}


def _check(graph: Graph, op: Op) -> str | None:
    reason = check_dtypes(graph, op, ("int8",), ("int8",))
    if reason:
        return reason
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    if source.num_elements != result.num_elements:
        return f"input {shape_str(source.shape)} and output {shape_str(result.shape)} differ in size"
    if op.kind == "LOGISTIC" and result.quant.zero_point != LOGISTIC_OUTPUT_ZERO_POINT:
        return f"output zero point is {result.quant.zero_point}, TFLM requires {LOGISTIC_OUTPUT_ZERO_POINT}"
    if op.kind in ("LOGISTIC", "TANH") and not 0 <= _fixed_point_input_rescale(source.quant.scale)[1] <= 31:
        # Outside, TFLM shifts by a negative amount or by 32 or more bits.
        return f"input scale {source.quant.scale:g} is outside TFLM's fixed-point range [2^-28, 2^4)"
    if op.kind == "LEAKY_RELU" and "alpha" not in op.options:
        return "options have no alpha"
    if op.kind == "HARD_SWISH":
        _, output_exponent, _, reluish_exponent = _hard_swish_multipliers(source, result)
        if output_exponent > 0:
            return "input_scale / (128 * output_scale) is 1 or more, which TFLM refuses"
        if min(output_exponent, reluish_exponent) < -15:
            # TFLM would divide an int16 by 2^16 or more, with a mask that no longer fits.
            return "a scale ratio is below 2^-16, beyond TFLM's int16 rescaling"
    return None


def activation_table(graph: Graph, op: Op) -> np.ndarray:
    """The op's int8 output for every int8 input, indexed by input + 128."""
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    return lookup_table(_TABLE_BUILDERS[op.kind](source, result, op.options))


def _lower(graph: Graph, op: Op, backend: str) -> Layer:
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    table = ConstArray("table", "int8_t", activation_table(graph, op),
                       f"{op.kind} output for each int8 input, indexed by input + 128")
    return Layer(op=op, template="ops/lookup.c.j2", kernels=("lookup",), params={"count": source.num_elements},
                 constants=(table,),
                 summary=(f"{op.kind} {shape_str(source.shape)} as a 256-entry table "
                          f"(scale {source.quant.scale:g} zp {source.quant.zero_point} -> "
                          f"scale {result.quant.scale:g} zp {result.quant.zero_point})"),
                 access=elementwise(source.num_elements))  # tg_lookup_s8 reads input i, then writes output i


for _kind in _TABLE_BUILDERS:
    register(OpSpec(_kind, _check, _lower))
