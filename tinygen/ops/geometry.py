"""Spatial geometry shared by convolutions and pooling: output sizes and padding.

Mirrors TFLite's padding.h (ComputeOutSize, ComputePaddingWithOffset): for SAME padding
the total padding is split with the extra pixel (if any) at the bottom/right, and the
kernels only need the top/left amount.
"""

from __future__ import annotations

from dataclasses import dataclass

# TfLitePadding values in the flatbuffer schema.
PADDING_SAME, PADDING_VALID = 0, 1
PADDING_NAMES = {PADDING_SAME: "SAME", PADDING_VALID: "VALID"}


def out_size(padding: int, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    """ComputeOutSize: the output length of one spatial dimension."""
    effective_filter = (filter_size - 1) * dilation + 1
    if padding == PADDING_SAME:
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective_filter) // stride


def pad_before(stride: int, dilation: int, in_size: int, filter_size: int, out_len: int) -> int:
    """ComputePaddingWithOffset: padding before the first element (top or left)."""
    effective_filter = (filter_size - 1) * dilation + 1
    total = max(0, (out_len - 1) * stride + effective_filter - in_size)
    return total // 2


@dataclass(frozen=True)
class Window:
    """A 2-D sliding window over an NHWC tensor, with its output size and top/left pad."""

    stride_h: int
    stride_w: int
    dilation_h: int
    dilation_w: int
    filter_h: int
    filter_w: int
    out_h: int
    out_w: int
    pad_top: int
    pad_left: int


def window(padding: int, in_h: int, in_w: int, filter_h: int, filter_w: int,
           stride_h: int, stride_w: int, dilation_h: int = 1, dilation_w: int = 1) -> Window:
    out_h = out_size(padding, in_h, filter_h, stride_h, dilation_h)
    out_w = out_size(padding, in_w, filter_w, stride_w, dilation_w)
    return Window(stride_h, stride_w, dilation_h, dilation_w, filter_h, filter_w, out_h, out_w,
                  pad_before(stride_h, dilation_h, in_h, filter_h, out_h),
                  pad_before(stride_w, dilation_w, in_w, filter_w, out_w))
