"""Pooling ops: AVERAGE_POOL_2D, MAX_POOL_2D and MEAN (int8).

Semantics are TensorFlow Lite Micro's reference kernels (micro/kernels/pooling_common.cc,
reference/integer_ops/pooling.h, micro/kernels/reduce_common.cc, reference/reduce.h):

- Pooling needs equal input and output quantization (TFLM refuses a scale difference over
  1e-6 or different zero points), so values are pooled without requantization. The
  window is clipped to the input: SAME padding never enters a maximum or an average, and
  an average divides by the count of values actually inside the input.
- MEAN always takes TFLM's requantizing path (QuantizedMeanOrSum), even when input and
  output share a quantization: the multiplier of input_scale / output_scale (in double)
  is rescaled at compile time to include the division by the element count n:
  multiplier * 2^k // n with 2^k the largest power of two <= n (k at most 32 and at most
  31 + shift), shift - k. The kernel adds -input_zero_point * n to the int32 sum of raw
  values and requantizes with TFLite's double-rounding MultiplyByQuantizedMultiplier.
  tinygen handles a reduction over one contiguous block of axes (after dropping
  size-1 axes), which covers global average pooling and reductions over trailing or
  leading axes; other axis sets are refused.

With `--kernels cmsis-nn`, AVERAGE_POOL_2D and MAX_POOL_2D call CMSIS-NN's arm_avgpool_s8
and arm_max_pool_s8 (bit-exact with TFLM's reference kernels); MEAN keeps tinygen's kernel.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Op, shape_str
from ..quant import ACTIVATION_NAMES, activation_range, quantize_multiplier
from . import cmsis_nn, geometry
from .access import ReduceAccess, WindowAccess
from .registry import CMSIS_NN, Layer, OpSpec, check_dtypes, register

# TFLM's pooling Prepare accepts |input scale - output scale| up to this (as floats).
POOL_SCALE_TOLERANCE = 1.0e-6

# A mean's int32 sum of n raw values, offset by -zero_point * n, stays within int32
# (|sum| <= 256 n) for n up to this.
MEAN_MAX_REDUCED_COUNT = 1 << 23


def _check_pool(graph: Graph, op: Op) -> str | None:
    reason = check_dtypes(graph, op, ("int8",), ("int8",))
    if reason:
        return reason
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    if len(source.shape) != 4 or len(result.shape) != 4:
        return f"expects 4-D NHWC tensors, has {shape_str(source.shape)} -> {shape_str(result.shape)}"
    scale_difference = abs(np.float32(source.quant.scale) - np.float32(result.quant.scale))
    if float(scale_difference) > POOL_SCALE_TOLERANCE or source.quant.zero_point != result.quant.zero_point:
        return (f"input and output quantization differ (scale {source.quant.scale:g} vs {result.quant.scale:g}, "
                f"zero point {source.quant.zero_point} vs {result.quant.zero_point}); TFLM requires them equal")
    options = op.options
    if options.get("padding") not in geometry.PADDING_NAMES:
        return f"unknown padding {options.get('padding')}"
    sizes = [options.get(key, 0) for key in ("filter_height", "filter_width", "stride_h", "stride_w")]
    if any(size < 1 for size in sizes):
        return f"filter and strides must be positive, got filter {sizes[0]}x{sizes[1]}, stride {sizes[2]}x{sizes[3]}"
    try:
        activation_range(options.get("fused_activation_function", 0), result.quant.scale, result.quant.zero_point)
    except ValueError as error:
        return str(error)
    window = _pool_window(graph, op)
    if (source.shape[0], window.out_h, window.out_w, source.shape[3]) != result.shape:
        return (f"output shape {shape_str(result.shape)} differs from the computed "
                f"{shape_str((source.shape[0], window.out_h, window.out_w, source.shape[3]))}")
    return None


def _pool_window(graph: Graph, op: Op) -> geometry.Window:
    source = graph.op_inputs(op)[0]
    options = op.options
    return geometry.window(options["padding"], source.shape[1], source.shape[2],
                           options["filter_height"], options["filter_width"],
                           options["stride_h"], options["stride_w"])


def _lower_pool(graph: Graph, op: Op, backend: str) -> Layer:
    """AVERAGE_POOL_2D or MAX_POOL_2D, with tinygen's kernel or CMSIS-NN's (arm_avgpool_s8,
    arm_max_pool_s8); both take the same parameters."""
    (source,), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    options = op.options
    window = _pool_window(graph, op)
    activation = options.get("fused_activation_function", 0)
    activation_min, activation_max = activation_range(activation, result.quant.scale, result.quant.zero_point)
    params = dict(
        batches=source.shape[0], input_height=source.shape[1], input_width=source.shape[2],
        channels=source.shape[3], output_height=window.out_h, output_width=window.out_w,
        filter_height=window.filter_h, filter_width=window.filter_w,
        stride_height=window.stride_h, stride_width=window.stride_w,
        pad_top=window.pad_top, pad_left=window.pad_left,
        activation_min=activation_min, activation_max=activation_max,
    )
    summary = (f"{op.kind} {shape_str(source.shape)} -> {shape_str(result.shape)}, "
               f"filter {window.filter_h}x{window.filter_w}, stride {window.stride_h}x{window.stride_w}, "
               f"{geometry.PADDING_NAMES[options['padding']]}")
    if activation:
        summary += f", {ACTIVATION_NAMES[activation]}"
    template = f"{op.kind.lower()}.c.j2"
    if backend == CMSIS_NN:
        scratch = cmsis_nn.avgpool_s8(source.shape[3]) if op.kind == "AVERAGE_POOL_2D" else 0
        return Layer(op=op, template=f"ops/cmsis_nn/{template}", kernels=(CMSIS_NN,), params=params,
                     scratch_bytes=scratch, summary=summary)
    # tg_pool_s8 walks the output pixels in order; per channel it reads the window, then writes.
    access = WindowAccess(source.shape[0], source.shape[1], source.shape[2], source.shape[3], source.shape[3],
                          window, channel_wise=True)
    return Layer(op=op, template=f"ops/{template}", kernels=("pool",), params=params, summary=summary,
                 access=access)


def _mean_axes(graph: Graph, op: Op) -> tuple[int, ...]:
    """The reduced axes, non-negative, without duplicates, in the order given."""
    source, axis_tensor = graph.op_inputs(op)
    rank = len(source.shape)
    axes = []
    for axis in axis_tensor.data.reshape(-1).tolist():
        axis = axis + rank if axis < 0 else axis
        if axis not in axes:
            axes.append(axis)
    return tuple(axes)


def _mean_blocks(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, int, int] | None:
    """(outer, reduced, inner) element counts when the reduced axes of size > 1 form one
    contiguous block, else None."""
    reduced_positions = [axis for axis in range(len(shape)) if axis in axes and shape[axis] > 1]
    if not reduced_positions:
        return int(np.prod(shape, dtype=np.int64)), 1, 1
    first, last = reduced_positions[0], reduced_positions[-1]
    if any(shape[axis] > 1 and axis not in axes for axis in range(first, last + 1)):
        return None
    return (int(np.prod(shape[:first], dtype=np.int64)), int(np.prod(shape[first:last + 1], dtype=np.int64)),
            int(np.prod(shape[last + 1:], dtype=np.int64)))


def _check_mean(graph: Graph, op: Op) -> str | None:
    reason = check_dtypes(graph, op, ("int8", "int32"), ("int8",))
    if reason:
        return reason
    (source, axis_tensor), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    if axis_tensor.data is None:
        return "the axis tensor must be a constant"
    if source.num_elements == 0:
        return "the input is empty"
    rank = len(source.shape)
    if any(not -rank <= axis < rank for axis in axis_tensor.data.reshape(-1).tolist()):
        return f"axis {axis_tensor.data.reshape(-1).tolist()} out of range for a {rank}-D input"
    axes = _mean_axes(graph, op)
    blocks = _mean_blocks(source.shape, axes)
    if blocks is None:
        return (f"reducing axes {sorted(axes)} of {shape_str(source.shape)}: only one contiguous block of "
                "axes is supported")
    outer, reduced, inner = blocks
    if outer * inner != result.num_elements:
        return f"output {shape_str(result.shape)} does not hold {outer * inner} elements"
    if reduced > MEAN_MAX_REDUCED_COUNT:
        return f"mean over {reduced} elements could overflow the int32 sum (at most {MEAN_MAX_REDUCED_COUNT})"
    return None


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    """QuantizedMeanOrSum's (multiplier, shift) for the mean of `count` values."""
    multiplier, shift = quantize_multiplier(float(input_scale) / float(output_scale))
    count_shift = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << count_shift) // count, shift - count_shift


def _lower_mean(graph: Graph, op: Op, backend: str) -> Layer:
    (source, _), (result,) = graph.op_inputs(op), graph.op_outputs(op)
    axes = _mean_axes(graph, op)
    outer, reduced, inner = _mean_blocks(source.shape, axes)
    multiplier, shift = mean_multiplier(source.quant.scale, result.quant.scale, reduced)
    params = dict(outer_count=outer, reduced_count=reduced, inner_count=inner,
                  input_offset=-source.quant.zero_point * reduced, multiplier=multiplier, shift=shift,
                  output_zero_point=result.quant.zero_point)
    keep = "keep_dims" if op.options.get("keep_dims") else "drop dims"
    summary = f"MEAN {shape_str(source.shape)} -> {shape_str(result.shape)}, axes {list(axes)}, {keep}"
    return Layer(op=op, template="ops/mean.c.j2", kernels=("pool",), params=params, summary=summary,
                 access=ReduceAccess(outer, reduced, inner))  # tg_mean_s8: sums a column, then writes it


register(OpSpec("AVERAGE_POOL_2D", _check_pool, _lower_pool))
register(OpSpec("MAX_POOL_2D", _check_pool, _lower_pool))
register(OpSpec("MEAN", _check_mean, _lower_mean))
