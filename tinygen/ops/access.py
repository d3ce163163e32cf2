"""The order in which tinygen's kernels read their input and write their output.

What: a kernel that streams walks its output in *units* (an output pixel, a row, an
element), unit 0 first: unit u writes the next run of output bytes, ending at
`write_end[u]`, and reads input bytes no lower than `read_start[u]`. An `Access` is
that description of one layer's kernel call, built from the layer's geometry; `units`
turns it into arrays for one input. The memory planner (tinygen/planner/overlap.py)
derives from them how far the output may overlap that input.

Why here: the access order is a property of the kernel's loops, so it sits with the op
modules that know each kernel; the planner only applies one rule to it. A layer
without an Access (the default of `Layer.access`) never overlaps its inputs.

Limits: each Access states the loop order of a kernel in templates/kernels/ as written
today; an op module sets one only for a kernel whose loops it mirrors (the comment at
each use says which loop). A kernel rewritten to walk its output differently (several
pixels at once, channels outermost) must update or drop its Access. Only output 0 is
described, and bytes are counted from the start of each tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import Window


@dataclass(frozen=True)
class Units:
    """A kernel's walk over its output, as seen from one of its inputs.

    `write_end[u]`: unit u writes the output bytes from write_end[u - 1] to below this;
    `read_start[u]`: the lowest input byte unit u reads (`input_bytes` when it reads
    none); `reads_first`: every read of a unit comes before its first write (False:
    before its last write, possibly between the others, which then go one byte at a
    time, upwards).
    """

    write_end: np.ndarray
    read_start: np.ndarray
    reads_first: bool
    input_bytes: int


@dataclass(frozen=True)
class ElementwiseAccess:
    """Output element i is computed from one element of each input, read just before it
    is written; the inputs are walked with a broadcast loop nest (outermost loop first,
    strides in elements, 0 where an input is broadcast)."""

    extents: tuple[int, ...]
    input_strides: tuple[tuple[int, ...], ...]  # per input position, one stride per loop
    input_element_bytes: tuple[int, ...]
    output_element_bytes: int = 1

    def units(self, position: int) -> Units | None:
        if position >= len(self.input_strides):
            return None
        index = np.zeros((), dtype=np.int64)
        for extent, stride in zip(self.extents, self.input_strides[position]):
            index = index[..., None] + np.arange(extent, dtype=np.int64) * stride
        element_bytes = self.input_element_bytes[position]
        read_start = index.reshape(-1) * element_bytes
        input_bytes = int(read_start.max(initial=0)) + element_bytes
        write_end = (np.arange(read_start.size, dtype=np.int64) + 1) * self.output_element_bytes
        return Units(write_end, read_start, reads_first=True, input_bytes=input_bytes)


def elementwise(count: int, input_element_bytes: int = 1, output_element_bytes: int = 1) -> ElementwiseAccess:
    """One input walked element by element, as the output is."""
    return ElementwiseAccess((count,), ((1,),), (input_element_bytes,), output_element_bytes)


def _first_tap_inside(out_len: int, stride: int, pad: int, filter_len: int, dilation: int,
                      in_len: int) -> np.ndarray:
    """Per output position along one axis, the first window tap inside the input (-1: none)."""
    taps = (np.arange(out_len, dtype=np.int64)[:, None] * stride - pad
            + np.arange(filter_len, dtype=np.int64)[None, :] * dilation)
    inside = (taps >= 0) & (taps < in_len)
    first = taps[np.arange(out_len), inside.argmax(axis=1)]
    return np.where(inside.any(axis=1), first, -1)


@dataclass(frozen=True)
class WindowAccess:
    """A sliding window over an [N, H, W, C] input, output pixels in row-major order,
    each `output_c` bytes; a pixel reads the in-bounds pixels of its window, the lowest
    being the first in-bounds row and column. The pixels are the units; with
    `channel_wise` (pooling: output channel c is computed from channel c of the window
    only, read just before it is written) each output channel of a pixel is one."""

    batches: int
    input_h: int
    input_w: int
    input_c: int
    output_c: int
    window: Window
    reads_first: bool = True
    channel_wise: bool = False

    def units(self, position: int) -> Units | None:
        if position != 0:
            return None
        w = self.window
        rows = _first_tap_inside(w.out_h, w.stride_h, w.pad_top, w.filter_h, w.dilation_h, self.input_h)
        columns = _first_tap_inside(w.out_w, w.stride_w, w.pad_left, w.filter_w, w.dilation_w, self.input_w)
        image_pixels = self.input_h * self.input_w
        reads = ((rows >= 0)[:, None] & (columns >= 0)[None, :]).reshape(1, -1, 1)
        pixel = (np.arange(self.batches, dtype=np.int64)[:, None] * image_pixels
                 + (rows[:, None] * self.input_w + columns[None, :]).reshape(1, -1))[..., None]
        channel = np.arange(self.output_c if self.channel_wise else 1, dtype=np.int64)
        input_bytes = self.batches * image_pixels * self.input_c
        read_start = np.where(reads, pixel * self.input_c + channel, input_bytes).reshape(-1)
        unit_bytes = 1 if self.channel_wise else self.output_c
        write_end = (np.arange(read_start.size, dtype=np.int64) + 1) * unit_bytes
        return Units(write_end, read_start, self.reads_first or self.channel_wise, input_bytes)


@dataclass(frozen=True)
class RowAccess:
    """Row r of the output (`output_row_bytes`) is computed from row r of input 0
    (`input_row_bytes`), rows in order."""

    rows: int
    input_row_bytes: int
    output_row_bytes: int
    reads_first: bool

    def units(self, position: int) -> Units | None:
        if position != 0:
            return None
        row = np.arange(self.rows, dtype=np.int64)
        return Units((row + 1) * self.output_row_bytes, row * self.input_row_bytes, self.reads_first,
                     self.rows * self.input_row_bytes)


@dataclass(frozen=True)
class ReduceAccess:
    """A reduction of the input viewed as [outer, reduced, inner] to [outer, inner]: output
    element (o, i), in order, is written after reading (o, r, i) for every r."""

    outer: int
    reduced: int
    inner: int

    def units(self, position: int) -> Units | None:
        if position != 0:
            return None
        outer = np.arange(self.outer, dtype=np.int64)[:, None] * (self.reduced * self.inner)
        read_start = (outer + np.arange(self.inner, dtype=np.int64)[None, :]).reshape(-1)
        write_end = np.arange(read_start.size, dtype=np.int64) + 1
        return Units(write_end, read_start, reads_first=True, input_bytes=self.outer * self.reduced * self.inner)


Access = ElementwiseAccess | WindowAccess | RowAccess | ReduceAccess
