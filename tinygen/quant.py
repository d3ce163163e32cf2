"""Compile-time quantization arithmetic shared by every op.

Everything here reproduces TensorFlow Lite Micro's reference arithmetic exactly
(tensorflow/lite/kernels/internal/quantization_util.cc, kernel_util.cc, common.h and
gemmlowp's fixedpoint.h), because tinygen's output must equal TFLM's byte for byte:

- `quantize_multiplier` is TFLite's QuantizeMultiplier: a real multiplier as a Q31
  significand and a power-of-two exponent, rounding half away from zero.
- the integer helpers (`saturating_rounding_doubling_high_mul`, `rounding_divide_by_pot`,
  `multiply_by_quantized_multiplier`) emulate the int32 C functions on Python ints, so
  lookup tables for unary ops can be computed here and stored in flash.
- float32 arithmetic is done with numpy float32 where TFLM computes in float, and with
  Python floats (IEEE double) where TFLM computes in double.
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
INT8_MIN, INT8_MAX = -128, 127

# TfLiteFusedActivation values in the flatbuffer schema.
ACTIVATION_NONE, ACTIVATION_RELU, ACTIVATION_RELU_N1_TO_1, ACTIVATION_RELU6 = 0, 1, 2, 3
ACTIVATION_NAMES = {0: "none", 1: "ReLU", 2: "ReLU(-1..1)", 3: "ReLU6", 4: "tanh", 5: "sign bit", 6: "sigmoid"}


def tflite_round(x: float) -> int:
    """std::round: halves away from zero (Python's round() rounds halves to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite QuantizeMultiplier: (q31 significand, exponent) with real = q * 2^(exp-31)."""
    if real_multiplier == 0.0:
        return 0, 0
    fraction, exponent = math.frexp(real_multiplier)
    significand = tflite_round(fraction * (1 << 31))
    if significand == 1 << 31:
        significand //= 2
        exponent += 1
    if exponent < -31:
        return 0, 0
    return significand, exponent


def quantize_multiplier_greater_than_one(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplierGreaterThanOne: the exponent is a left shift and never negative."""
    significand, left_shift = quantize_multiplier(real_multiplier)
    if left_shift < 0:
        raise ValueError(f"multiplier {real_multiplier} is below one")
    return significand, left_shift


def float32(x: float) -> float:
    """Round a Python float to the nearest float32 (as C stores a `float`)."""
    return float(np.float32(x))


def quantize_value(real: float, scale: float, zero_point: int) -> int:
    """kernel_util.cc Quantize(): zero_point + round(f / scale), division in float32."""
    quotient = np.float32(real) / np.float32(scale)
    return zero_point + tflite_round(float(quotient))


def activation_range(activation: int, scale: float, zero_point: int,
                     qmin: int = INT8_MIN, qmax: int = INT8_MAX) -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the clamp bounds of a fused activation."""
    if activation == ACTIVATION_NONE:
        return qmin, qmax
    if activation == ACTIVATION_RELU:
        return max(qmin, quantize_value(0.0, scale, zero_point)), qmax
    if activation == ACTIVATION_RELU6:
        return (max(qmin, quantize_value(0.0, scale, zero_point)),
                min(qmax, quantize_value(6.0, scale, zero_point)))
    if activation == ACTIVATION_RELU_N1_TO_1:
        return (max(qmin, quantize_value(-1.0, scale, zero_point)),
                min(qmax, quantize_value(1.0, scale, zero_point)))
    raise ValueError(f"fused activation {ACTIVATION_NAMES.get(activation, activation)} is not supported")


def wrap_int32(x: int) -> int:
    """Two's-complement wrap of an integer to int32 (C's behaviour on the targets)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def saturating_rounding_doubling_high_mul(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values."""
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else (1 - (1 << 30))
    # C++ integer division truncates toward zero.
    total = ab + nudge
    quotient = abs(total) >> 31
    return quotient if total >= 0 else -quotient


def rounding_divide_by_pot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite MultiplyByQuantizedMultiplier (double rounding, as TFLM builds it)."""
    left_shift = shift if shift > 0 else 0
    right_shift = 0 if shift > 0 else -shift
    return rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(wrap_int32(x * (1 << left_shift)), multiplier), right_shift)


def per_channel_multipliers(input_scale: float, filter_scales: tuple[float, ...], output_scale: float,
                            channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel (multiplier, shift) for convolutions, as
    PopulateConvolutionQuantizationParams computes them (in double, from float32 scales).
    A per-tensor filter scale is broadcast to every channel."""
    multipliers = np.zeros(channels, dtype=np.int32)
    shifts = np.zeros(channels, dtype=np.int32)
    for channel in range(channels):
        filter_scale = filter_scales[channel] if len(filter_scales) > 1 else filter_scales[0]
        effective_scale = float(input_scale) * float(filter_scale) / float(output_scale)
        multipliers[channel], shifts[channel] = quantize_multiplier(effective_scale)
    return multipliers, shifts


def lookup_table(function, input_min: int = INT8_MIN, input_max: int = INT8_MAX) -> np.ndarray:
    """Tabulate an int8 -> int8 function over every input value, indexed by (q - input_min)."""
    return np.array([function(q) for q in range(input_min, input_max + 1)], dtype=np.int8)
