"""Element-wise binary ops: ADD and MUL (int8), with fused activation and broadcasting.

Semantics are TensorFlow Lite Micro's reference kernels (micro/kernels/add_common.cc,
mul_common.cc, reference/integer_ops/add.h, mul.h):

- ADD brings both inputs to a common scale before summing: each offset input is shifted
  left by 20 bits, then multiplied by input_scale / (2 * max input scale), the two are
  added, and the sum is multiplied by 2 * max input scale / (2^20 * output_scale). All
  three multipliers are computed in double from the float32 scales and are below one
  (QuantizeMultiplierSmallerThanOneExp), so every rescale is a right shift.
- MUL multiplies the offset inputs in int32 and rescales once by
  input1_scale * input2_scale / output_scale (QuantizeMultiplier, may exceed one).
- Both requantize with TFLite's double-rounding MultiplyByQuantizedMultiplier and clamp
  to the fused activation's range.

Broadcasting follows NumPy's rules (shapes aligned at their last dimension, a dimension
of 1 stretches), up to TFLite's 6-D. At compile time the three shapes become a loop nest:
dimensions of extent 1 are dropped and adjacent dimensions that both inputs walk the
same way are fused into one loop, so equal shapes need a single loop and a
[1, 1, 1, C] operand against [N, H, W, C] two. A constant operand (a Keras layer
multiplying by a constant) is stored in flash; an op with two constant operands is
refused (the converter folds those).

With `--kernels cmsis-nn`, an op that broadcasts nothing (both inputs have the output's
element count) calls CMSIS-NN's arm_elementwise_add_s8 / arm_elementwise_mul_s8 with the
same parameters, as TFLM's CMSIS-NN port does; broadcasts keep tinygen's kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Op, Tensor, shape_str
from ..quant import ACTIVATION_NAMES, activation_range, quantize_multiplier
from .access import ElementwiseAccess
from .registry import CMSIS_NN, ConstArray, Layer, OpSpec, check_dtypes, register

# TG_BROADCAST_MAX_RANK in tg_elementwise.h: the most loops a broadcast nest may have.
MAX_BROADCAST_RANK = 6

# add_common.cc: int8 inputs are shifted left by this many bits before rescaling.
ADD_LEFT_SHIFT = 20


@dataclass(frozen=True)
class BroadcastLoops:
    """The loop nest that walks two inputs in the order of a contiguous output.

    Loops are listed outermost first; a stride is the number of elements an input steps
    per trip of that loop (0 where the input is broadcast). The innermost loop is the
    kernel's row.
    """

    extents: tuple[int, ...]
    input1_strides: tuple[int, ...]
    input2_strides: tuple[int, ...]


def broadcast_shape(shape1: tuple[int, ...], shape2: tuple[int, ...]) -> tuple[int, ...] | None:
    """NumPy's broadcast of two shapes, or None when they are incompatible."""
    rank = max(len(shape1), len(shape2))
    padded1 = (1,) * (rank - len(shape1)) + tuple(shape1)
    padded2 = (1,) * (rank - len(shape2)) + tuple(shape2)
    result = []
    for size1, size2 in zip(padded1, padded2):
        if size1 != size2 and 1 not in (size1, size2):
            return None
        result.append(max(size1, size2))
    return tuple(result)


def broadcast_loops(shape1: tuple[int, ...], shape2: tuple[int, ...],
                    output_shape: tuple[int, ...]) -> BroadcastLoops:
    """The fused loop nest for inputs of `shape1` and `shape2` broadcast to `output_shape`."""
    rank = len(output_shape)
    padded1 = (1,) * (rank - len(shape1)) + tuple(shape1)
    padded2 = (1,) * (rank - len(shape2)) + tuple(shape2)
    loops: list[list[int]] = []  # [extent, input1 stride, input2 stride], innermost first
    span1 = span2 = 1  # elements of each input covered by the dimensions walked so far
    for dim in reversed(range(rank)):
        extent = output_shape[dim]
        if extent == 1:
            continue
        stride1 = span1 if padded1[dim] == extent else 0
        stride2 = span2 if padded2[dim] == extent else 0
        if loops and stride1 == loops[-1][0] * loops[-1][1] and stride2 == loops[-1][0] * loops[-1][2]:
            # This dimension continues the inner loop's walk of both inputs: fuse them.
            loops[-1][0] *= extent
        else:
            loops.append([extent, stride1, stride2])
        span1 *= padded1[dim]
        span2 *= padded2[dim]
    if not loops:
        loops = [[1, 0, 0]]
    loops.reverse()
    return BroadcastLoops(extents=tuple(loop[0] for loop in loops),
                          input1_strides=tuple(loop[1] for loop in loops),
                          input2_strides=tuple(loop[2] for loop in loops))


def add_multipliers(input1_scale: float, input2_scale: float,
                    output_scale: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """add_common.cc: (multiplier, shift) of input1, input2 and the output, computed in
    double from the float32 scales."""
    twice_max_input_scale = 2.0 * max(float(input1_scale), float(input2_scale))
    return (quantize_multiplier(float(input1_scale) / twice_max_input_scale),
            quantize_multiplier(float(input2_scale) / twice_max_input_scale),
            quantize_multiplier(twice_max_input_scale / ((1 << ADD_LEFT_SHIFT) * float(output_scale))))


def _check_binary(graph: Graph, op: Op) -> str | None:
    reason = check_dtypes(graph, op, ("int8", "int8"), ("int8",))
    if reason:
        return reason
    (input1, input2), (output,) = graph.op_inputs(op), graph.op_outputs(op)
    if input1 is None or input2 is None:
        return "expects two inputs"
    if input1.is_constant and input2.is_constant:
        return "both operands are constant (a converter folds such ops)"
    expected = broadcast_shape(input1.shape, input2.shape)
    if expected is None:
        return f"shapes {shape_str(input1.shape)} and {shape_str(input2.shape)} do not broadcast"
    if expected != tuple(output.shape):
        return f"output {shape_str(output.shape)} is not the broadcast shape {shape_str(expected)}"
    if len(expected) > MAX_BROADCAST_RANK:
        return f"{len(expected)}-D operands, at most {MAX_BROADCAST_RANK}-D are supported"
    if output.num_elements == 0:
        return "the output is empty"
    try:
        activation_range(op.options.get("fused_activation_function", 0), output.quant.scale,
                         output.quant.zero_point)
    except ValueError as error:
        return str(error)
    return None


def _check_add(graph: Graph, op: Op) -> str | None:
    reason = _check_binary(graph, op)
    if reason:
        return reason
    (input1, input2), (output,) = graph.op_inputs(op), graph.op_outputs(op)
    # QuantizeMultiplierSmallerThanOneExp refuses (TFLM aborts) a shift above zero.
    names = ("input1", "input2", "output")
    for name, (_, shift) in zip(names, add_multipliers(input1.quant.scale, input2.quant.scale,
                                                       output.quant.scale)):
        if shift > 0:
            return f"the {name} rescale of ADD is not below one (output scale too small for the inputs)"
    return None


def _operand(suffix: str, tensor: Tensor) -> tuple[ConstArray, ...]:
    """The flash array of a constant operand; nothing for a tensor computed at run time."""
    if not tensor.is_constant:
        return ()
    return (ConstArray(suffix, "int8_t", tensor.data.reshape(-1),
                       f"constant operand {shape_str(tensor.shape)}, scale {tensor.quant.scale:g}, "
                       f"zero point {tensor.quant.zero_point}"),)


def _lower_binary(graph: Graph, op: Op, backend: str, symbol: str, arithmetic: dict[str, int]) -> Layer:
    """The Layer of ADD or MUL: activation range, constant operands, plus the op's own
    requantization parameters (`arithmetic`), and either CMSIS-NN's flat kernel (when
    nothing is broadcast: its kernels walk both inputs and the output as one vector) or
    tinygen's broadcast loop nest."""
    (input1, input2), (output,) = graph.op_inputs(op), graph.op_outputs(op)
    activation = op.options.get("fused_activation_function", 0)
    activation_min, activation_max = activation_range(activation, output.quant.scale, output.quant.zero_point)
    params = dict(
        arithmetic,
        input1_offset=-input1.quant.zero_point, input2_offset=-input2.quant.zero_point,
        output_offset=output.quant.zero_point, activation_min=activation_min, activation_max=activation_max,
    )
    template = f"{op.kind.lower()}.c.j2"
    if backend == CMSIS_NN and input1.num_elements == input2.num_elements == output.num_elements:
        params.update(size=output.num_elements)
        template, kernels, access = f"ops/cmsis_nn/{template}", (CMSIS_NN,), None
    else:
        loops = broadcast_loops(input1.shape, input2.shape, output.shape)
        params.update(loop_extents=loops.extents, input1_strides=loops.input1_strides,
                      input2_strides=loops.input2_strides)
        template, kernels = f"ops/{template}", ("elementwise",)
        # walk_broadcast reads both inputs' elements, then writes the output element.
        access = ElementwiseAccess(loops.extents, (loops.input1_strides, loops.input2_strides), (1, 1))

    def operand_text(tensor: Tensor) -> str:
        return shape_str(tensor.shape) + (" (constant)" if tensor.is_constant else "")

    summary = f"{op.kind} {operand_text(input1)} {symbol} {operand_text(input2)} -> {shape_str(output.shape)}"
    if activation:
        summary += f", {ACTIVATION_NAMES[activation]}"
    return Layer(op=op, template=template, kernels=kernels, params=params,
                 constants=_operand("input1", input1) + _operand("input2", input2), summary=summary, access=access)


def _lower_add(graph: Graph, op: Op, backend: str) -> Layer:
    (input1, input2), (output,) = graph.op_inputs(op), graph.op_outputs(op)
    (multiplier1, shift1), (multiplier2, shift2), (output_multiplier, output_shift) = add_multipliers(
        input1.quant.scale, input2.quant.scale, output.quant.scale)
    arithmetic = dict(input1_multiplier=multiplier1, input1_shift=shift1,
                      input2_multiplier=multiplier2, input2_shift=shift2, left_shift=ADD_LEFT_SHIFT,
                      output_multiplier=output_multiplier, output_shift=output_shift)
    return _lower_binary(graph, op, backend, "+", arithmetic)


def _lower_mul(graph: Graph, op: Op, backend: str) -> Layer:
    (input1, input2), (output,) = graph.op_inputs(op), graph.op_outputs(op)
    output_multiplier, output_shift = quantize_multiplier(
        float(input1.quant.scale) * float(input2.quant.scale) / float(output.quant.scale))
    arithmetic = dict(output_multiplier=output_multiplier, output_shift=output_shift)
    return _lower_binary(graph, op, backend, "*", arithmetic)


register(OpSpec("ADD", _check_add, _lower_add))
register(OpSpec("MUL", _check_binary, _lower_mul))
