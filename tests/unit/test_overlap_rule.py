"""The overlap rule (tinygen/planner/overlap.py) on the access orders of tinygen's kernels
(tinygen/ops/access.py): hand-computed largest shifts of the output's start above the
input's. tests/models/test_plan_tricks.py runs the kernels themselves at these shifts."""

import pytest

from tinygen.ops.access import ElementwiseAccess, ReduceAccess, RowAccess, WindowAccess, elementwise
from tinygen.ops.geometry import PADDING_SAME, PADDING_VALID, window
from tinygen.planner.overlap import max_output_shift, output_shifts


def shift(access, position=0):
    return max_output_shift(access.units(position))


def test_element_wise_layers_run_in_place():
    """Output i is written after input i is read, and before input i + 1 is: shift 0."""
    assert shift(elementwise(100)) == 0


def test_widening_and_narrowing_element_wise_layers():
    """int8 -> float32 (4N bytes from N): the output must start 3N bytes below, so the
    input ends where the output does; float32 -> int8 may start 3 bytes above."""
    assert shift(elementwise(100, 1, 4)) == -300
    assert shift(elementwise(100, 4, 1)) == 3


def test_broadcast_operand_is_written_over_by_the_last_row_only():
    """ADD of [1, 4, 8] and a [8] operand read again for every row: the full-size input
    may be written in place; the broadcast one only by the last row of the output (its
    element c is written after the last read of the operand's element c)."""
    access = ElementwiseAccess(extents=(4, 8), input_strides=((8, 1), (0, 1)), input_element_bytes=(1, 1))
    assert shift(access, 0) == 0
    assert shift(access, 1) == -24
    assert output_shifts(access, 2) == ((0, 0), (1, -24))


@pytest.mark.parametrize("height, width, channels", [(25, 5, 64), (8, 6, 3), (4, 4, 16)])
def test_3x3_same_window_lags_one_row_and_one_pixel(height, width, channels):
    """A 3x3 SAME stride-1 window (depthwise, or a convolution that gathers its patch
    first): pixel u + 1 reads from one row and one pixel back, so the output must start
    (width + 1) pixels of channels below the input."""
    geometry = window(PADDING_SAME, height, width, 3, 3, 1, 1)
    access = WindowAccess(1, height, width, channels, channels, geometry, reads_first=True)
    assert shift(access) == -(width + 1) * channels


def test_pointwise_convolution_may_overlap_its_own_pixel_by_one_byte():
    """A 1x1 convolution reads its pixel for every output channel, between the writes:
    all but the last output byte must stay below the pixel (C -> C channels: -(C - 1));
    more output channels than input ones push the output further down each pixel."""
    same = window(PADDING_VALID, 25, 5, 1, 1, 1, 1)
    assert shift(WindowAccess(1, 25, 5, 64, 64, same, reads_first=False)) == -63
    widening = window(PADDING_VALID, 48, 48, 1, 1, 1, 1)
    assert shift(WindowAccess(1, 48, 48, 8, 16, widening, reads_first=False)) == -(8 * (48 * 48 - 1) + 15)


def test_strided_window_may_start_above_its_input():
    """A 3x3 stride-2 depthwise over 48x48x16: the read front runs ahead of the writes,
    which may start 16 bytes above the input."""
    geometry = window(PADDING_SAME, 48, 48, 3, 3, 2, 2)
    assert shift(WindowAccess(1, 48, 48, 16, 16, geometry, reads_first=True)) == 16


def test_pooling_computes_channel_by_channel():
    """2x2 stride-2 pooling reads channel c of its window just before writing channel c: in
    place. A global pool (one output pixel) too."""
    pool = window(PADDING_VALID, 8, 8, 2, 2, 2, 2)
    assert shift(WindowAccess(1, 8, 8, 4, 4, pool, channel_wise=True)) == 0
    global_pool = window(PADDING_VALID, 25, 5, 25, 5, 25, 5)
    assert shift(WindowAccess(1, 25, 5, 64, 64, global_pool, channel_wise=True)) == 0


def test_fully_connected_rows():
    """Each output channel reads the whole input row: one row of 128 -> 10 may overlap its
    input by the last output byte only; with several rows, the lag is a row."""
    assert shift(RowAccess(1, 128, 10, reads_first=False)) == -9
    assert shift(RowAccess(4, 16, 16, reads_first=False)) == -15


def test_mean_reads_a_column_then_writes_it():
    """Mean over the middle axis of [2, 3, 4]: output (o, i) after reading (o, r, i) for
    every r; output 0 sits under input 0 and the next read is input 1: in place."""
    assert shift(ReduceAccess(2, 3, 4)) == 0


def test_layers_without_an_access_order_never_overlap():
    assert output_shifts(None, 3) == ()
    assert output_shifts(RowAccess(1, 8, 8, reads_first=False), 3) == ((0, -7),)  # filter and bias are constants
