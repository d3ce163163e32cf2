"""CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED on int8 activations and int8 weights.

The semantics are TensorFlow Lite Micro's reference kernels (reference_integer_ops
ConvPerChannel, DepthwiseConvPerChannel, FullyConnected and FullyConnectedPerChannel);
the C kernels are in templates/kernels/tg_conv.c. Everything that does not depend on
the input is computed here, at compile time:

- output multipliers and shifts: input_scale * filter_scale / output_scale in double
  from the float32 scales, per output channel (a per-tensor filter scale broadcast), as
  PopulateConvolutionQuantizationParams does. For a per-tensor FULLY_CONNECTED, TFLM's
  source (GetQuantizedConvolutionMultipler) multiplies the two scales as floats, but the
  TFLM build tinygen is checked against (the tflite-micro package) converts both to
  double before multiplying (see its machine code), so the double product is used there
  too; tests/ops/test_conv.py has models on which the two roundings give different
  outputs. When every channel ends up with the same pair, one pair is stored;
- the fused activation's clamp bounds (CalculateActivationRangeQuantized);
- the input zero point folded into the bias: TFLM sums filter * (input - zero_point)
  over the taps inside the image; the kernels sum filter * input over every tap, with
  taps outside the image reading the zero point, starting from
  bias - zero_point * sum(filter). Both sums are equal modulo 2^32, so the outputs are
  identical, and the kernels save one addition per multiply;
- the window geometry (padding, output size) with TFLite's padding rules.

Dense weights keep TFLite's layouts, which already suit the kernels: OHWI for CONV_2D
(one contiguous row per output channel), 1HWO for DEPTHWISE_CONV_2D (one contiguous row of
channels per tap), [out, in] for FULLY_CONNECTED. The `--weights` mode may store a filter
compressed instead: tinygen/weights.py chooses per filter from its rows (one per output
channel, in the order the kernel multiplies them with its input), and the layer then runs
the kernels of tg_conv_compressed.c, with either kernel backend, as CMSIS-NN has none
for compressed weights.

With `--kernels cmsis-nn` the same multipliers, shifts and clamp bounds go to CMSIS-NN's
arm_convolve_wrapper_s8, arm_depthwise_conv_wrapper_s8 and arm_fully_connected_s8 (or
arm_fully_connected_per_channel_s8), which take the plain bias and add the input offset
themselves; their scratch sizes come from tinygen/ops/cmsis_nn.py.

Refused, with the reason: anything but int8 activations (int16 16x8 models, float
models), non-int8 or non-constant weights (hybrid models), asymmetric weights, an int64
or non-constant bias, fused activations other than none, ReLU, ReLU-1..1 and ReLU6, and
shapes that disagree with the op's options.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..ir import Graph, Op, Tensor, shape_str
from ..quant import (ACTIVATION_NAMES, ACTIVATION_NONE, ACTIVATION_RELU, ACTIVATION_RELU6,
                     ACTIVATION_RELU_N1_TO_1, activation_range, per_channel_multipliers, wrap_int32)
from ..weights import (BITMAP, BLOCKS, DENSE, PAIR_BLOCKS, POSITIONS, STEPS, Encoding, Requantization, encode,
                       word_bytes)
from .geometry import PADDING_NAMES, Window, window
from . import cmsis_nn
from .access import RowAccess, WindowAccess
from .registry import CMSIS_NN, ConstArray, Layer, OpSpec, check_dtypes, register

FUSED_ACTIVATIONS = (ACTIVATION_NONE, ACTIVATION_RELU, ACTIVATION_RELU_N1_TO_1, ACTIVATION_RELU6)
# FullyConnectedOptions.weights_format: only the plain [out, in] matrix is supported.
WEIGHTS_FORMAT_DEFAULT = 0
# The axis of the output channels in each op's filter (TFLite's quantized dimension).
CONV_CHANNEL_AXIS, DEPTHWISE_CHANNEL_AXIS, FULLY_CONNECTED_CHANNEL_AXIS = 0, 3, 0
# FULLY_CONNECTED: TFLM refuses a per-tensor model whose bias scale is this far (relative
# to the output scale) from input_scale * filter_scale (GetQuantizedConvolutionMultipler).
BIAS_SCALE_TOLERANCE = 0.02
KERNELS = ("conv",)
# The most bytes of scratch a compressed CONV_2D decodes its filter into (a depthwise
# filter, taps * channels bytes, always decodes whole). A filter that fits is decoded once
# per call and runs the dense loop nest as it is; a larger one is decoded in chunks of
# rows, each chunk then running over every pixel, which gathers each pixel's patch once per
# chunk, and loses the output-overlaps-input placement. On the MLPerf keyword-spotting model
# (16 clusters per tensor, 4-bit LUTs, Cortex-M4 in QEMU), 4 KB decodes every filter whole:
# 12.11 M instructions (1.01x dense), arena 13520 B (dense: 9808); 1 KB: 12.69 M, 17024 B;
# 256 B: 15.01 M, 16848 B. Smaller budgets cost both instructions and arena.
DECODE_BUDGET = 4096
COMPRESSED_KERNELS = ("conv", "conv_compressed")


@dataclass(frozen=True)
class Operands:
    input: Tensor
    filter: Tensor
    bias: Tensor | None
    output: Tensor


def operands(graph: Graph, op: Op) -> Operands:
    inputs = graph.op_inputs(op)
    return Operands(inputs[0], inputs[1], inputs[2] if len(inputs) > 2 else None, graph.op_outputs(op)[0])


def fused_activation(op: Op) -> int:
    return int(op.options.get("fused_activation_function", ACTIVATION_NONE))


# --- checks --------------------------------------------------------------------------


def check_operands(graph: Graph, op: Op, channel_axis: int) -> str | None:
    """What the three ops require alike: int8 activations, a constant symmetric int8
    filter quantized per tensor or along `channel_axis`, an optional constant int32 bias
    with one value per output channel, and a supported fused activation."""
    if len(op.inputs) not in (2, 3) or len(op.outputs) != 1:
        return f"expects 2 or 3 inputs and 1 output, has {len(op.inputs)} and {len(op.outputs)}"
    x = operands(graph, op)
    if "int16" in (x.input.dtype, x.output.dtype):
        return "int16 activations (16x8 quantization) are not supported, only int8"
    if "float32" in (x.input.dtype, x.output.dtype):
        return "float activations are not supported, only int8 (convert the model with full-integer quantization)"
    reason = check_dtypes(graph, op, ("int8", None, None), ("int8",))
    if reason:
        return reason
    if x.filter.dtype == "float32":
        return (f"filter '{x.filter.name}' is float32: float and hybrid (dynamic-range) models are not "
                "supported, weights must be int8")
    if x.filter.dtype != "int8":
        return f"filter '{x.filter.name}' is {x.filter.dtype}, expected int8"
    if not x.filter.is_constant:
        return f"filter '{x.filter.name}' is not a constant"
    if x.filter.quant is None:
        return f"filter '{x.filter.name}' has no quantization parameters"
    if x.filter.quant.per_channel and x.filter.quant.axis != channel_axis:
        return (f"filter '{x.filter.name}' is quantized along axis {x.filter.quant.axis}, "
                f"expected the output channel axis {channel_axis}")
    if any(zero_point != 0 for zero_point in x.filter.quant.zero_points):
        return f"filter '{x.filter.name}' has a non-zero zero point (TFLite Micro needs symmetric int8 weights)"
    if len(x.filter.shape) <= channel_axis:
        return f"filter '{x.filter.name}' has shape {x.filter.shape}"
    channels = x.filter.shape[channel_axis]
    if x.bias is not None:
        if x.bias.dtype != "int32":
            return f"bias '{x.bias.name}' is {x.bias.dtype}, expected int32"
        if not x.bias.is_constant:
            return f"bias '{x.bias.name}' is not a constant"
        if x.bias.num_elements != channels:
            return f"bias '{x.bias.name}' has {x.bias.num_elements} values for {channels} output channels"
    activation = fused_activation(op)
    if activation not in FUSED_ACTIVATIONS:
        return f"fused activation {ACTIVATION_NAMES.get(activation, activation)} is not supported"
    return None


def conv_window(graph: Graph, op: Op) -> Window:
    """The sliding window of a CONV_2D or DEPTHWISE_CONV_2D (both filters are [*, H, W, *])."""
    x = operands(graph, op)
    options = op.options
    return window(int(options["padding"]), x.input.shape[1], x.input.shape[2], x.filter.shape[1],
                  x.filter.shape[2], int(options.get("stride_h", 1)), int(options.get("stride_w", 1)),
                  int(options.get("dilation_h_factor", 1)), int(options.get("dilation_w_factor", 1)))


def check_window(graph: Graph, op: Op, output_channels: int) -> str | None:
    """4-D NHWC tensors, known padding, positive strides and dilations, and an output shape
    equal to the one TFLite computes from them."""
    x = operands(graph, op)
    for role, tensor in (("input", x.input), ("filter", x.filter), ("output", x.output)):
        if len(tensor.shape) != 4:
            return f"{role} '{tensor.name}' has shape {shape_str(tensor.shape)}, expected 4-D"
    options = op.options
    if options.get("padding") not in PADDING_NAMES:
        return f"padding {options.get('padding')} is not SAME or VALID"
    for key in ("stride_h", "stride_w", "dilation_h_factor", "dilation_w_factor"):
        if int(options.get(key, 1)) < 1:
            return f"{key} is {options.get(key)}"
    geometry = conv_window(graph, op)
    expected = (x.input.shape[0], geometry.out_h, geometry.out_w, output_channels)
    if x.output.shape != expected:
        return (f"output shape {shape_str(x.output.shape)} differs from {shape_str(expected)}, "
                "the shape the window gives")
    return None


def check_conv_2d(graph: Graph, op: Op) -> str | None:
    reason = check_operands(graph, op, CONV_CHANNEL_AXIS)
    if reason:
        return reason
    x = operands(graph, op)
    reason = check_window(graph, op, x.filter.shape[0])
    if reason:
        return reason
    input_channels, filter_channels, output_channels = x.input.shape[3], x.filter.shape[3], x.filter.shape[0]
    if filter_channels == 0 or input_channels % filter_channels:
        return f"{input_channels} input channels do not split into groups of the filter's {filter_channels}"
    groups = input_channels // filter_channels
    if output_channels % groups:
        return f"{output_channels} output channels do not split into {groups} groups"
    return None


def check_depthwise_conv_2d(graph: Graph, op: Op) -> str | None:
    reason = check_operands(graph, op, DEPTHWISE_CHANNEL_AXIS)
    if reason:
        return reason
    x = operands(graph, op)
    reason = check_window(graph, op, x.filter.shape[3])
    if reason:
        return reason
    if x.filter.shape[0] != 1:
        return f"filter '{x.filter.name}' has shape {shape_str(x.filter.shape)}, expected 1xHxWxC"
    multiplier = int(op.options.get("depth_multiplier", 1))
    if x.input.shape[3] * multiplier != x.filter.shape[3]:
        # TFLM loops over the option's multiplier: shapes that disagree with it are not a
        # depthwise convolution TFLM computes correctly.
        return (f"depth_multiplier {multiplier} times {x.input.shape[3]} input channels is not the "
                f"filter's {x.filter.shape[3]} output channels")
    return None


def fully_connected_rows(graph: Graph, op: Op) -> tuple[int, int, int]:
    """(batches, input depth, output depth): the input read as rows of the filter's depth."""
    x = operands(graph, op)
    output_depth, input_depth = x.filter.shape
    return x.output.num_elements // max(output_depth, 1), input_depth, output_depth


def check_fully_connected(graph: Graph, op: Op) -> str | None:
    reason = check_operands(graph, op, FULLY_CONNECTED_CHANNEL_AXIS)
    if reason:
        return reason
    x = operands(graph, op)
    if int(op.options.get("weights_format", WEIGHTS_FORMAT_DEFAULT)) != WEIGHTS_FORMAT_DEFAULT:
        return "shuffled weights formats are not supported"
    if len(x.filter.shape) != 2:
        return f"filter '{x.filter.name}' has shape {shape_str(x.filter.shape)}, expected 2-D"
    batches, input_depth, output_depth = fully_connected_rows(graph, op)
    if not x.output.shape or x.output.shape[-1] != output_depth:
        return f"output shape {shape_str(x.output.shape)} does not end in the filter's {output_depth} channels"
    if x.input.num_elements != batches * input_depth:
        return (f"input shape {shape_str(x.input.shape)} is not {batches} rows of the filter's "
                f"depth {input_depth}")
    if x.bias is not None and not x.filter.quant.per_channel:
        bias_scale = x.bias.quant.scales[0] if x.bias.quant is not None else 0.0
        product_scale = x.input.quant.scale * x.filter.quant.scale
        if abs(product_scale - bias_scale) / x.output.quant.scale > BIAS_SCALE_TOLERANCE:
            return (f"bias scale {bias_scale} is not input scale * filter scale ({product_scale}); "
                    "TFLite Micro refuses this model")
    return None


# --- lowering ------------------------------------------------------------------------
#
# Each op has two lowerings from the same compile-time arithmetic: tinygen's kernels
# (tg_conv.c, the input zero point folded into the bias) and CMSIS-NN's
# (templates/ops/cmsis_nn/, which take the plain bias and the input offset).


def bias_values(x: Operands, channels: int) -> np.ndarray:
    """The op's bias as int64, zeros when it has none."""
    return x.bias.data.reshape(-1).astype(np.int64) if x.bias is not None else np.zeros(channels, np.int64)


def folded_bias(x: Operands, filter_sums: np.ndarray) -> np.ndarray:
    """bias - input_zero_point * sum(filter) per output channel, wrapped to int32: tinygen's
    starting accumulator, and CMSIS-NN's kernel sums (arm_vector_sum_s8 with the input
    offset) of a FULLY_CONNECTED."""
    input_zero_point = x.input.quant.zero_point
    return np.array([wrap_int32(int(b) - input_zero_point * int(s))
                     for b, s in zip(bias_values(x, len(filter_sums)), filter_sums)], dtype=np.int32)


def bias_origin(x: Operands) -> str:
    return "bias" if x.bias is not None else "0 (no bias)"


def channels_differ(multipliers: np.ndarray, shifts: np.ndarray) -> bool:
    """Whether the output channels need their own (multiplier, shift) pairs."""
    return bool(np.any(multipliers != multipliers[0]) or np.any(shifts != shifts[0]))


def multiplier_constants(multipliers: np.ndarray, shifts: np.ndarray) -> tuple[ConstArray, ConstArray]:
    return (ConstArray("multiplier", "int32_t", multipliers.astype(np.int32), "Q31 output multipliers"),
            ConstArray("shift", "int32_t", shifts.astype(np.int32), "output shifts (> 0: left)"))


def clamp_params(x: Operands, activation: int) -> dict[str, int]:
    """The fused activation's clamp bounds on the output."""
    activation_min, activation_max = activation_range(activation, x.output.quant.scale, x.output.quant.zero_point)
    return dict(activation_min=activation_min, activation_max=activation_max)


def requantization(x: Operands, activation: int, multipliers: np.ndarray, shifts: np.ndarray,
                   filter_sums: np.ndarray) -> tuple[dict[str, int], tuple[ConstArray, ...]]:
    """The template parameters and constants of tg_conv_requant_t: the bias with the input
    zero point folded in, the multipliers and shifts (one pair if all channels share it),
    the output zero point and the activation's clamp bounds."""
    per_channel = channels_differ(multipliers, shifts)
    if not per_channel:
        multipliers, shifts = multipliers[:1], shifts[:1]
    params = dict(per_channel=int(per_channel), output_zero_point=x.output.quant.zero_point,
                  **clamp_params(x, activation))
    bias = ConstArray("bias", "int32_t", folded_bias(x, filter_sums), f"{bias_origin(x)} - input zero point "
                      f"({x.input.quant.zero_point}) * sum of each channel's filter")
    return params, (bias,) + multiplier_constants(multipliers, shifts)


def cmsis_nn_requantization(x: Operands, activation: int, multipliers: np.ndarray, shifts: np.ndarray,
                            per_channel: bool = True) -> tuple[dict[str, int], tuple[ConstArray, ...]]:
    """The same for CMSIS-NN: input and output offsets, clamp bounds, the bias (zeros when
    the op has none: arm_convolve_s8 steps the bias pointer per group, so NULL is unsafe)
    and one multiplier and shift per output channel, or, when not `per_channel`, the one
    pair as the parameters `multiplier` and `shift`."""
    params = dict(input_offset=-x.input.quant.zero_point, output_offset=x.output.quant.zero_point,
                  **clamp_params(x, activation))
    constants = (ConstArray("bias", "int32_t", bias_values(x, len(multipliers)).astype(np.int32), bias_origin(x)),)
    if per_channel:
        return params, constants + multiplier_constants(multipliers, shifts)
    params.update(multiplier=int(multipliers[0]), shift=int(shifts[0]))
    return params, constants


def output_multipliers(x: Operands, channels: int) -> tuple[np.ndarray, np.ndarray]:
    return per_channel_multipliers(x.input.quant.scale, x.filter.quant.scales, x.output.quant.scale, channels)


def window_params(x: Operands, geometry: Window) -> dict[str, int]:
    """The template parameters CONV_2D and DEPTHWISE_CONV_2D share: batches, input
    channels and the fields of tg_conv_window_t."""
    return dict(batches=x.input.shape[0], input_h=x.input.shape[1], input_w=x.input.shape[2],
                input_c=x.input.shape[3], filter_h=geometry.filter_h, filter_w=geometry.filter_w,
                output_h=geometry.out_h, output_w=geometry.out_w, stride_h=geometry.stride_h,
                stride_w=geometry.stride_w, dilation_h=geometry.dilation_h, dilation_w=geometry.dilation_w,
                pad_top=geometry.pad_top, pad_left=geometry.pad_left,
                input_zero_point=x.input.quant.zero_point)


def window_summary(kind: str, x: Operands, geometry: Window, op: Op, details: str = "") -> str:
    """E.g. 'CONV_2D 1x49x10x1 -> 1x25x5x64, filter 10x4, stride 2x2, SAME, ReLU'."""
    parts = [f"{kind} {shape_str(x.input.shape)} -> {shape_str(x.output.shape)}",
             f"filter {geometry.filter_h}x{geometry.filter_w}", f"stride {geometry.stride_h}x{geometry.stride_w}"]
    if (geometry.dilation_h, geometry.dilation_w) != (1, 1):
        parts.append(f"dilation {geometry.dilation_h}x{geometry.dilation_w}")
    parts.append(PADDING_NAMES[int(op.options["padding"])])
    if details:
        parts.append(details)
    return ", ".join(parts) + activation_suffix(op)


def activation_suffix(op: Op) -> str:
    activation = fused_activation(op)
    return "" if activation == ACTIVATION_NONE else f", {ACTIVATION_NAMES[activation]}"


def window_access(x: Operands, geometry: Window, reads_first: bool) -> WindowAccess:
    """tg_conv2d_s8 and tg_depthwise_conv2d_s8 walk the output pixels in row-major order,
    writing each pixel's channels together (see WindowAccess)."""
    batches, input_h, input_w, input_c = x.input.shape
    return WindowAccess(batches, input_h, input_w, input_c, x.output.shape[3], geometry, reads_first)


def encode_filter(rows: np.ndarray, weights: str, backend: str, multipliers: np.ndarray, shifts: np.ndarray,
                  vectors: int, decoded: bool = False, positions: tuple[str, ...] = POSITIONS) -> Encoding:
    """The encoding of a filter given as `rows` (with each row's output multiplier and
    shift) under the --weights mode `weights`, for a kernel that reads `vectors` input
    vectors per inference and, if `decoded`, decodes a compressed filter into scratch, its
    sparse rows in one of `positions` (see tinygen.weights.encode). A compressed filter runs
    tinygen's kernel with either backend; where CMSIS-NN was asked for, its reason says so."""
    requant = Requantization(multipliers, shifts) if channels_differ(multipliers, shifts) else None
    encoding = encode(rows, weights, requant, vectors, decoded, positions)
    if backend == CMSIS_NN and encoding.kind != DENSE:
        return replace(encoding, reason=f"{encoding.reason}; runs tinygen's kernel, CMSIS-NN has none for it")
    return encoding


def filter_params(encoding: Encoding) -> dict[str, int | str]:
    """The template parameters of the filter's tg_filter_t, and the row reader and row
    decoder of a compressed filter (tg_conv_compressed.h; empty for a dense filter): the
    FULLY_CONNECTED kernel takes the reader, the others the decoder. Pair blocks have neither:
    their own kernels read them (`pair_blocks`)."""
    variant = encoding.kind.replace("-", "_") + (f"_{encoding.positions}"
                                                 if encoding.positions in (BITMAP, BLOCKS) else "")
    compressed = encoding.kind != DENSE and not encoding.read_directly
    return dict(filter_length=encoding.length, filter_bits=encoding.bits,
                filter_table_stride=encoding.table_stride,
                filter_reader=f"tg_row_dot_{variant}{encoding.bits or ''}" if compressed else "",
                filter_decoder=f"tg_row_decode_{variant}{encoding.bits or ''}" if compressed else "",
                filter_codebook_size=encoding.codebook_size, filter_codebook_shift=encoding.codebook_shift,
                pair_blocks=int(encoding.positions == PAIR_BLOCKS))


def filter_constants(x: Operands, encoding: Encoding, layout: str) -> tuple[ConstArray, ...]:
    """The filter's arrays in flash: TFLite's array (`layout`) when dense, else the
    encoding's arrays, its int8 values named `filter` as a dense filter is. Empty arrays are
    left out (C has none); the template gives their pointers NULL."""
    if encoding.kind == DENSE:
        return (ConstArray("filter", "int8_t", x.filter.data, f"filter {layout}"),)
    return tuple(ConstArray("filter" if array.name == "values" else f"filter_{array.name}", array.c_type,
                            array.values, f"filter ({encoding.describe()}): {array.comment}")
                 for array in encoding.arrays if array.values.size)


def decode_chunk_rows(rows: int, length: int) -> int:
    """How many rows of `length` values a compressed CONV_2D decodes at a time: all `rows` if
    they fit DECODE_BUDGET, else the most that fit, rounded down to an even number (the dense
    loop takes rows in pairs on DSP cores), at least 2."""
    if rows * length <= DECODE_BUDGET:
        return rows
    return max(2, DECODE_BUDGET // length // 2 * 2)


def pair_table_kernel(encoding: Encoding) -> str:
    """The FULLY_CONNECTED kernel of a filter read through a pair table (tg_conv_compressed.h),
    or empty."""
    if encoding.paired:
        return f"tg_fully_connected_lut_pairs{encoding.bits}_s8"
    if encoding.lut_pair_blocks:
        return f"tg_fully_connected_sparse_lut_pair_blocks{encoding.bits}_s8"
    return ""


def filter_kernels(encoding: Encoding) -> tuple[str, ...]:
    return KERNELS if encoding.kind == DENSE else COMPRESSED_KERNELS


def lower_conv_2d(graph: Graph, op: Op, backend: str, weights: str = "auto") -> Layer:
    x = operands(graph, op)
    geometry = conv_window(graph, op)
    output_channels, _, _, filter_channels = x.filter.shape
    multipliers, shifts = output_multipliers(x, output_channels)
    groups = x.input.shape[3] // filter_channels
    # Pair blocks take rows two at a time within each group.
    positions = POSITIONS if (output_channels // groups) % 2 == 0 else (STEPS, BITMAP, BLOCKS)
    encoding = encode_filter(x.filter.data.reshape(output_channels, -1), weights, backend, multipliers, shifts,
                             x.input.shape[0] * geometry.out_h * geometry.out_w, decoded=True, positions=positions)
    summary = window_summary("CONV_2D", x, geometry, op, f"{groups} groups" if groups > 1 else "")
    if backend == CMSIS_NN and encoding.kind == DENSE:
        params, constants = cmsis_nn_requantization(x, fused_activation(op), multipliers, shifts)
        params.update(window_params(x, geometry), filter_c=filter_channels, output_c=output_channels)
        return Layer(op=op, template="ops/cmsis_nn/conv_2d.c.j2", kernels=(CMSIS_NN,), params=params,
                     constants=filter_constants(x, encoding, "[C_out, H, W, C_in]") + constants,
                     scratch_bytes=cmsis_nn.convolve_wrapper_s8(x.input.shape, filter_channels, geometry.out_w,
                                                                geometry),
                     summary=summary, filter_encoding=encoding)
    filter_sums = x.filter.data.reshape(output_channels, -1).sum(axis=1, dtype=np.int64)
    params, constants = requantization(x, fused_activation(op), multipliers, shifts, filter_sums)
    pointwise = (geometry.filter_h, geometry.filter_w) == (1, 1)
    patch_bytes = 0 if pointwise else geometry.filter_h * geometry.filter_w * filter_channels
    # A compressed filter is decoded into scratch, chunk_rows rows at a time, before the patch
    # buffer (word_bytes, TG_WORD_BYTES in C: rounded up to a word). Pair blocks are read as
    # they are.
    if encoding.kind == DENSE or encoding.read_directly:
        chunk_rows, decoded_bytes = output_channels, 0
    else:
        chunk_rows = decode_chunk_rows(encoding.rows, encoding.length)
        decoded_bytes = word_bytes(chunk_rows * encoding.length)
    params.update(window_params(x, geometry), **filter_params(encoding), filter_c=filter_channels,
                  output_c=output_channels, chunk_rows=chunk_rows)
    return Layer(
        op=op, template="ops/conv_2d.c.j2", kernels=filter_kernels(encoding), params=params,
        constants=filter_constants(x, encoding, "[C_out, H, W, C_in]") + constants,
        scratch_bytes=encoding.table_scratch_bytes + decoded_bytes + patch_bytes,
        summary=summary,
        filter_encoding=encoding,
        # A larger window is gathered into the patch buffer before the pixel's writes; a
        # 1x1 pixel, or each group's patch, is read between them. A filter decoded in chunks
        # walks the pixels once per chunk, writing each pixel's channels in pieces, which
        # WindowAccess does not describe: no Access, so the output never overlaps the input.
        access=(window_access(x, geometry, reads_first=not pointwise and groups == 1)
                if chunk_rows >= output_channels else None))


def lower_depthwise_conv_2d(graph: Graph, op: Op, backend: str, weights: str = "auto") -> Layer:
    """DEPTHWISE_CONV_2D. The rows of a compressed filter are each output channel's taps;
    its kernel decodes them into the dense [taps, channels] layout and runs the dense loop."""
    x = operands(graph, op)
    geometry = conv_window(graph, op)
    output_channels = x.filter.shape[3]
    depth_multiplier = output_channels // x.input.shape[3]
    multipliers, shifts = output_multipliers(x, output_channels)
    # Its rows are taps: no block form (blocks are consecutive values of a row).
    encoding = encode_filter(x.filter.data.reshape(-1, output_channels).T, weights, backend, multipliers, shifts,
                             x.input.shape[0] * geometry.out_h * geometry.out_w, decoded=True,
                             positions=(STEPS, BITMAP))
    summary = window_summary("DEPTHWISE_CONV_2D", x, geometry, op,
                             f"depth multiplier {depth_multiplier}" if depth_multiplier > 1 else "")
    if backend == CMSIS_NN and encoding.kind == DENSE:
        params, constants = cmsis_nn_requantization(x, fused_activation(op), multipliers, shifts)
        params.update(window_params(x, geometry), depth_multiplier=depth_multiplier, output_c=output_channels)
        return Layer(op=op, template="ops/cmsis_nn/depthwise_conv_2d.c.j2", kernels=(CMSIS_NN,), params=params,
                     constants=filter_constants(x, encoding, "[1, H, W, C_out]") + constants,
                     scratch_bytes=cmsis_nn.depthwise_conv_wrapper_s8(x.input.shape, x.output.shape, geometry),
                     summary=summary, filter_encoding=encoding)
    filter_sums = x.filter.data.reshape(-1, output_channels).sum(axis=0, dtype=np.int64)
    params, constants = requantization(x, fused_activation(op), multipliers, shifts, filter_sums)
    params.update(window_params(x, geometry), **filter_params(encoding), depth_multiplier=depth_multiplier)
    # Scratch: the dense kernel's int32 accumulators; for a compressed filter, after the
    # codebook tables (if any), the same, then the decoded filter and one decoded row.
    taps = geometry.filter_h * geometry.filter_w
    decoded_bytes = 0 if encoding.kind == DENSE else taps * output_channels + taps
    return Layer(op=op, template="ops/depthwise_conv_2d.c.j2", kernels=filter_kernels(encoding), params=params,
                 constants=filter_constants(x, encoding, "[1, H, W, C_out]") + constants,
                 scratch_bytes=encoding.table_scratch_bytes + 4 * output_channels + decoded_bytes,
                 summary=summary, filter_encoding=encoding,
                 access=window_access(x, geometry, reads_first=True))  # every tap, then the pixel's writes


def lower_fully_connected(graph: Graph, op: Op, backend: str, weights: str = "auto") -> Layer:
    """FULLY_CONNECTED. With CMSIS-NN, the kernel's buffer (on MVE, the kernel sums TFLM
    computes with arm_vector_sum_s8 at Prepare) only depends on constants: it is computed
    here, equal to tinygen's folded bias, and passed from flash, so it needs no arena; the
    other cores ignore it."""
    x = operands(graph, op)
    batches, input_depth, output_depth = fully_connected_rows(graph, op)
    filter_sums = x.filter.data.sum(axis=1, dtype=np.int64)
    multipliers, shifts = output_multipliers(x, output_depth)
    encoding = encode_filter(x.filter.data, weights, backend, multipliers, shifts, batches)
    rows = f" ({batches} rows of {input_depth})" if batches > 1 else ""
    summary = f"FULLY_CONNECTED {shape_str(x.input.shape)} -> {shape_str(x.output.shape)}{rows}" + activation_suffix(op)
    if backend == CMSIS_NN and encoding.kind == DENSE:
        per_channel = channels_differ(multipliers, shifts)
        params, constants = cmsis_nn_requantization(x, fused_activation(op), multipliers, shifts, per_channel)
        params.update(batches=batches, input_depth=input_depth, output_depth=output_depth,
                      per_channel=int(per_channel))
        kernel_sums = ConstArray("kernel_sums", "int32_t", folded_bias(x, filter_sums),
                                 f"arm_vector_sum_s8: {bias_origin(x)} + input offset "
                                 f"({-x.input.quant.zero_point}) * sum of each channel's filter")
        return Layer(op=op, template="ops/cmsis_nn/fully_connected.c.j2", kernels=(CMSIS_NN,), params=params,
                     constants=filter_constants(x, encoding, "[C_out, C_in]") + constants + (kernel_sums,),
                     summary=summary, filter_encoding=encoding)
    params, constants = requantization(x, fused_activation(op), multipliers, shifts, filter_sums)
    # A paired LUT filter (Encoding.paired), or LUT pair blocks, runs its index width's
    # kernel with a pair table: no row reader, its pair table and input pairs in scratch.
    params.update(filter_params(encoding), batches=batches, input_depth=input_depth, output_depth=output_depth,
                  pairs_kernel=pair_table_kernel(encoding))
    return Layer(op=op, template="ops/fully_connected.c.j2", kernels=filter_kernels(encoding), params=params,
                 constants=filter_constants(x, encoding, "[C_out, C_in]") + constants,
                 scratch_bytes=encoding.table_scratch_bytes + encoding.pair_scratch_bytes, summary=summary,
                 filter_encoding=encoding,
                 # Each output channel's dot product reads the whole input row, between writes;
                 # the paired kernel reads the row once, into its input pairs, before them.
                 access=RowAccess(batches, input_depth, output_depth, reads_first=encoding.pair_scratch_bytes > 0))


register(OpSpec("CONV_2D", check_conv_2d, lower_conv_2d, weights=True))
register(OpSpec("DEPTHWISE_CONV_2D", check_depthwise_conv_2d, lower_depthwise_conv_2d, weights=True))
register(OpSpec("FULLY_CONNECTED", check_fully_connected, lower_fully_connected, weights=True))
