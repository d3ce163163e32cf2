"""The overlap rule: how far a layer's output may overlap an input that dies at that layer.

What: a kernel that streams (tinygen/ops/access.py) handles its output unit by unit;
unit u writes output bytes below `write_end[u]`, one byte at a time, upwards. Place
the output `shift` bytes above the input (output start - input start; negative:
below). The rule: no write may land on an input byte that is read after it, i.e. for
every unit u

    shift + write_end[u] <= the lowest input byte any later unit reads, and, when the
    unit's reads may come between its writes (all before its last one),
    shift + write_end[u] - 1 <= the lowest input byte unit u reads.

The largest shift meeting both for all units is `max_output_shift`; any placement with
output start - input start <= that shift is safe (lower only moves writes further from
the reads still to come), whatever else the two buffers hold: the input dies at this
layer and the output is born there. Shift 0 is element-wise in-place operation.

Why: this is what lets a 1x1 convolution, a depthwise or pooling layer, a fully
connected layer, softmax or an activation keep input and output in little more than the
larger of the two, instead of their sum.

Limits: it is a sufficient condition: writes must stay below *every* read still to come,
so an output placed wholly above its input's read front, or in gaps of a strided read,
is never considered, and a unit's lowest read stands for all of them. It is only as
right as each Access is faithful to its kernel's loops: tests/models/test_plan_tricks.py
runs every kernel at the largest shift (bit-exact) and one byte beyond it (wrong outputs).
"""

from __future__ import annotations

import numpy as np

from ..ops.access import Access, Units


def max_output_shift(units: Units) -> int:
    """The largest (output start - input start), in bytes, at which the kernel's writes
    never land on input bytes it still has to read."""
    later = np.minimum.accumulate(units.read_start[::-1])[::-1]  # lowest read of units v >= u
    after = np.append(later[1:], units.input_bytes)  # ... of units v > u
    shift = (after - units.write_end).min()
    if not units.reads_first:
        shift = min(shift, (units.read_start - units.write_end + 1).min())
    return int(shift)


def output_shifts(access: Access | None, inputs: int) -> tuple[tuple[int, int], ...]:
    """(input position, max_output_shift) for every input of a layer the access order
    describes; empty without an Access."""
    if access is None:
        return ()
    shifts = []
    for position in range(inputs):
        units = access.units(position)
        if units is not None and units.write_end.size:
            shifts.append((position, max_output_shift(units)))
    return tuple(shifts)
