"""CMSIS-NN's scratch buffer sizes, computed at compile time for the memory planner.

With `--kernels cmsis-nn`, a layer's scratch is the `ctx` buffer its CMSIS-NN kernel asks
for through the kernel's `*_get_buffer_size` function. CMSIS-NN computes that size in C,
for the core it is compiled for: every such function has a plain-C, a DSP (Cortex-M4/M7/
M33) and an MVE (Cortex-M55/M85) variant (ConvolutionFunctions/arm_*_get_buffer_sizes_s8.c,
PoolingFunctions/arm_avgpool_get_buffer_sizes_s8.c). tinygen plans the arena before anyone
picks the core, so the functions here mirror those formulas in Python and take the MAXIMUM
over the three variants: the same library then runs on any Cortex-M. Where a formula also
depends on the C compiler (Arm Compiler 6 gives the DSP 1x1 convolution a buffer and moves
an MVE threshold), the larger choice is taken as well. The cost is scratch that a given
core does not use (e.g. MVE's 4 x 124 x filter taps for a depthwise convolution on an M4).

tests/cmsis_nn/ checks these sizes against CMSIS-NN's own C functions (all three variants,
compiled on the host) for every layer of its test models. FULLY_CONNECTED has no entry
here: its buffer (MVE: one int32 kernel sum per output channel) is constant, so tinygen
computes it at compile time and keeps it in flash (see tinygen/ops/conv.py).
"""

from __future__ import annotations

from .geometry import Window

# CH_IN_BLOCK_MVE (arm_nnsupportfunctions.h): channels per block of the MVE depthwise kernel.
CH_IN_BLOCK_MVE = 124
# CONVERT_DW_CONV_WITH_ONE_INPUT_CH_AND_OUTPUT_CH_ABOVE_THRESHOLD: on MVE, a depthwise
# convolution of one input channel to more output channels than this runs as a
# convolution. 1 with GCC, 8 with Arm Compiler 6: the lower threshold covers both.
MVE_DEPTHWISE_AS_CONV_THRESHOLD = 1

INT8_BYTES, INT16_BYTES, INT32_BYTES = 1, 2, 4


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b > 0) else -quotient


def _c_mod(a: int, b: int) -> int:
    """C's % (the sign of the dividend)."""
    return a - b * _c_div(a, b)


def _round_up(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple


# --- CONV_2D: arm_convolve_wrapper_s8_get_buffer_size --------------------------------


def _is_1x1(window: Window, input_c: int, filter_c: int) -> bool:
    """arm_nn_is_convolve_1x1: the wrapper's 1x1 kernels."""
    return ((window.pad_top, window.pad_left) == (0, 0) and (window.filter_h, window.filter_w) == (1, 1)
            and (window.dilation_h, window.dilation_w) == (1, 1) and input_c == filter_c)


def _is_1_x_n(window: Window, input_h: int, input_c: int, filter_c: int) -> bool:
    """arm_nn_is_convolve_1_x_n: the wrapper's 1xN kernel."""
    return (input_h == 1 and window.dilation_w == 1 and window.filter_h == 1
            and (window.stride_w * input_c) % 4 == 0 and input_c == filter_c)


def _convolve_s8_c_dsp(input_c: int, window: Window) -> int:
    """arm_convolve_s8_get_buffer_size without MVE: two im2col columns of int16."""
    return 2 * _round_up(window.filter_w * window.filter_h * input_c, 4) * INT16_BYTES


def _convolve_s8_mve(input_c: int, window: Window) -> int:
    """arm_convolve_s8_get_buffer_size_mve: four im2col columns in whole 16-byte lanes."""
    return 4 * _round_up(input_c * window.filter_w * window.filter_h, 16) * INT8_BYTES


def _convolve_1_x_n_mve(input_w: int, input_c: int, output_w: int, window: Window) -> int:
    """arm_convolve_1_x_n_s8_get_buffer_size_mve: the padded left and right windows."""
    stride, pad = window.stride_w, window.pad_left
    total_pad = (output_w - 1) * stride + window.filter_w - input_w
    asym_pad = _c_mod(total_pad, 2)
    right_pad_num = max(1, _c_div(pad + asym_pad + stride - 1, stride)) if pad + asym_pad != 0 else 0
    left_pad_num = max(1, _c_div(pad + stride - 1, stride)) if pad != 0 else 0
    no_pad_num = max(output_w - (right_pad_num + left_pad_num), 0)
    if right_pad_num + no_pad_num + left_pad_num != output_w:
        return _convolve_s8_mve(input_c, window)
    pad_size_left = pad * input_c
    pad_size_right = right_pad_num * input_c if asym_pad else pad_size_left
    elements_left = window.filter_w * input_c
    return max(elements_left + pad_size_left, elements_left - input_c + pad_size_right)


def _convolve_wrapper_s8_mve(input_shape: tuple[int, ...], filter_c: int, output_w: int, window: Window) -> int:
    """arm_convolve_wrapper_s8_get_buffer_size_mve."""
    _, input_h, input_w, input_c = input_shape
    if _is_1x1(window, input_c, filter_c):
        return 0
    if _is_1_x_n(window, input_h, input_c, filter_c):
        return _convolve_1_x_n_mve(input_w, input_c, output_w, window)
    return _convolve_s8_mve(input_c, window)


def convolve_wrapper_s8(input_shape: tuple[int, ...], filter_c: int, output_w: int, window: Window) -> int:
    """Scratch bytes of arm_convolve_wrapper_s8 on any core: the largest of its plain-C, DSP
    and MVE buffer sizes. `input_shape` is NHWC, `filter_c` the filter's input channels."""
    input_c = input_shape[3]
    if _is_1x1(window, input_c, filter_c):
        # Stride 1 (arm_convolve_1x1_s8_fast): only the DSP kernel built by Arm Compiler 6
        # takes a buffer, two int16 rows of the input channels. Other strides: none.
        fast = (window.stride_h, window.stride_w) == (1, 1)
        return 2 * input_c * INT16_BYTES if fast else 0
    # Plain C and DSP share arm_convolve_s8's buffer (the 1xN kernel reuses it).
    return max(_convolve_s8_c_dsp(input_c, window), _convolve_wrapper_s8_mve(input_shape, filter_c, output_w, window))


# --- DEPTHWISE_CONV_2D: arm_depthwise_conv_wrapper_s8_get_buffer_size ----------------


def depthwise_conv_wrapper_s8(input_shape: tuple[int, ...], output_shape: tuple[int, ...], window: Window) -> int:
    """Scratch bytes of arm_depthwise_conv_wrapper_s8 on any core: the largest of its
    plain-C (always 0), DSP and MVE buffer sizes. Shapes are NHWC."""
    batches, _, _, input_c = input_shape
    output_c = output_shape[3]
    taps = window.filter_h * window.filter_w
    size = 0
    # The "opt" kernel (depth multiplier 1, one batch, no dilation), except DSP's 3x3 kernel.
    if input_c == output_c and batches == 1 and (window.dilation_h, window.dilation_w) == (1, 1):
        dsp_3x3 = (window.filter_h, window.filter_w) == (3, 3) and window.pad_top <= 1 and window.pad_left <= 1
        dsp = 0 if dsp_3x3 else input_c * taps * INT16_BYTES
        mve = 4 * CH_IN_BLOCK_MVE * taps * INT8_BYTES
        size = max(dsp, mve)
    if input_c == 1 and output_c > MVE_DEPTHWISE_AS_CONV_THRESHOLD:
        # MVE runs it as a CONV_2D with the filter transposed to [C_out, H, W, 1] after
        # the convolution's own buffer.
        as_conv = _convolve_wrapper_s8_mve(input_shape, 1, output_shape[2], window)
        size = max(size, as_conv + output_c * taps * INT8_BYTES)
    return size


# --- AVERAGE_POOL_2D: arm_avgpool_s8_get_buffer_size ---------------------------------


def avgpool_s8(channels: int) -> int:
    """Scratch bytes of arm_avgpool_s8 on any core: DSP's int32 sum per channel (plain C
    and MVE need none)."""
    return channels * INT32_BYTES
