"""SOFTMAX of int8 tensors over the last axis, exactly as TensorFlow Lite Micro computes it.

TFLM's int8 path (micro/kernels/softmax_common.cc, reference/softmax.h) works in gemmlowp
fixed point:
1. Prepare: beta * input_scale * 2^26 (in double, capped at 2^31 - 1) becomes a Q31
   multiplier and a left shift (PreprocessSoftmaxScaling with 5 integer bits), and
   diff_min = -floor(31 * 2^26 / 2^left_shift) (CalculateInputRadius);
2. per row: the maximum; for each element the difference d = x - max (in [-255, 0]);
   if d >= diff_min, d is rescaled to a Q5.26 number and exp(d) is evaluated as a Q0.31
   number (exp_on_negative_values); the sum of exp(d) >> 12 (rounded) is a Q12.19 number;
3. its reciprocal (GetReciprocal: normalised into [1, 2), then 1 / (1 + x) by
   Newton-Raphson) scales each exp(d); the product is shifted right by
   bits_over_unit + 23 (rounded), offset by -128 and clamped.

Only step 2's exp(d) depends on the input values, and only through d, which takes 256
values: tinygen tabulates exp(d) for d = 0, -1, ..., -255 at compile time (0 where
d < diff_min: a zero term adds nothing to the sum and yields the output -128, exactly
TFLM's result for a skipped element). The C kernel does the maximum, the sum, the
reciprocal and the final scaling in integer arithmetic.

TFLM aborts (TFLITE_CHECK) when a row's sum of exponentials reaches 256 (a shift of more
than 31 bits), e.g. a row of over 256 equal values; tinygen's kernel saturates the shift
there instead. Output quantization must be TFLM's: scale 1/256, zero point -128.

With `--kernels cmsis-nn`, CMSIS-NN's arm_softmax_s8 computes exp(d) itself from step 1's
multiplier, left shift and diff_min.
"""

from __future__ import annotations

import math

import numpy as np

from .. import fixedpoint
from ..ir import Graph, Op, shape_str
from ..quant import INT32_MAX, multiply_by_quantized_multiplier, quantize_multiplier_greater_than_one
from .access import elementwise
from .registry import CMSIS_NN, ConstArray, Layer, OpSpec, check_dtypes, register

# Integer bits of the rescaled input difference (kScaledDiffIntegerBits): Q5.26.
SCALED_DIFF_INTEGER_BITS = 5
# Softmax's int8 output quantization, which TFLM requires.
OUTPUT_SCALE = 1.0 / 256.0
OUTPUT_ZERO_POINT = -128
# Every possible difference x - max of two int8 values: 0, -1, ..., -255.
DIFF_COUNT = 256


def input_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling and CalculateInputRadius: (multiplier, left shift, diff_min)."""
    real_multiplier = min(float(beta) * float(input_scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)),
                          float(INT32_MAX))
    multiplier, left_shift = quantize_multiplier_greater_than_one(real_multiplier)
    radius = math.ldexp(((1 << SCALED_DIFF_INTEGER_BITS) - 1) << (31 - SCALED_DIFF_INTEGER_BITS), -left_shift)
    return multiplier, left_shift, -math.floor(radius)


def exp_table(beta: float, input_scale: float) -> np.ndarray:
    """exp(beta * input_scale * d) as gemmlowp's Q0.31 for d = 0, -1, ..., -255 (index -d),
    0 where d is below diff_min."""
    multiplier, left_shift, diff_min = input_scaling(beta, input_scale)
    table = np.zeros(DIFF_COUNT, dtype=np.int32)
    for distance in range(DIFF_COUNT):
        diff = -distance
        if diff >= diff_min:
            scaled_diff = multiply_by_quantized_multiplier(diff, multiplier, left_shift)
            table[distance] = fixedpoint.exp_on_negative_values(scaled_diff, SCALED_DIFF_INTEGER_BITS)
    return table


def _check(graph: Graph, op: Op) -> str | None:
    reason = check_dtypes(graph, op, ("int8",), ("int8",))
    if reason:
        return reason
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    if not source.shape or source.shape != result.shape or source.num_elements == 0:
        return (f"expects equal non-empty shapes of rank 1 or more, has {shape_str(source.shape)} -> "
                f"{shape_str(result.shape)}")
    if result.quant.zero_point != OUTPUT_ZERO_POINT or np.float32(result.quant.scale) != np.float32(OUTPUT_SCALE):
        return (f"output quantization is scale {result.quant.scale:g} zero point {result.quant.zero_point}; "
                f"TFLM requires 1/256 and {OUTPUT_ZERO_POINT}")
    if "beta" not in op.options:
        return "options have no beta"
    real_multiplier = float(op.options["beta"]) * float(source.quant.scale) * (1 << (31 - SCALED_DIFF_INTEGER_BITS))
    if not real_multiplier > 1.0:
        return (f"beta * input scale = {float(op.options['beta']) * source.quant.scale:g} is at most 2^-26, "
                "which TFLM refuses")
    return None


def _lower(graph: Graph, op: Op, backend: str) -> Layer:
    (source,) = graph.op_inputs(op)
    beta = float(op.options["beta"])
    depth = source.shape[-1]
    params = {"rows": source.num_elements // depth, "depth": depth}
    summary = f"SOFTMAX {shape_str(source.shape)} over the last axis, beta {beta:g}"
    if backend == CMSIS_NN:
        multiplier, left_shift, diff_min = input_scaling(beta, source.quant.scale)
        params.update(multiplier=multiplier, left_shift=left_shift, diff_min=diff_min)
        return Layer(op=op, template="ops/cmsis_nn/softmax.c.j2", kernels=(CMSIS_NN,), params=params,
                     summary=summary)
    table = ConstArray("exp_table", "int32_t", exp_table(beta, source.quant.scale),
                       f"exp(beta * input_scale * -d) in Q0.31 for d = 0..255 (beta {beta:g})")
    return Layer(op=op, template="ops/softmax.c.j2", kernels=("softmax",), params=params, constants=(table,),
                 summary=summary,
                 # tg_softmax_s8 reads a row twice before its first write, then reads element c
                 # and writes it: element by element as far as overlapping is concerned.
                 access=elementwise(source.num_elements))


register(OpSpec("SOFTMAX", _check, _lower))
