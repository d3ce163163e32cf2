"""The plan's self-check, run on every plan tinygen makes (not only in tests).

What: a plan is rejected with PlanError, naming the two buffers and their byte ranges
and steps, if a buffer is misaligned or outside the arena, or if two buffers live at
the same step share a byte in a way no Permit allows: only a layer's output may overlap
an input dying at that layer, and only up to the shift its kernel's access order
allows (overlap.py).

Why: the placement strategies are heuristics over a subtle rule; an independent check of
the finished plan turns a planner bug into a compile-time error instead of wrong
outputs on a device.

Limits: it checks the plan against the permits, and the permits against nothing: a wrong
Access (one that does not mirror its kernel) passes. The bit-exact tests cover that.
"""

from __future__ import annotations

from ..errors import PlanError
from .liveness import ALIGNMENT, Buffer, Permit


def _describe(buffer: Buffer, offset: int) -> str:
    return (f"'{buffer.name}' [{offset}, {offset + buffer.size}) steps {buffer.first_step}-{buffer.last_step}")


def check_plan(buffers: tuple[Buffer, ...], offsets: tuple[int, ...], arena_bytes: int,
               permits: tuple[Permit, ...] = ()) -> None:
    """Raise PlanError unless every buffer is aligned, inside the arena, and shares bytes
    with a buffer live at the same step only as a permit allows."""
    for buffer, offset in zip(buffers, offsets):
        if offset < 0 or offset + buffer.size > arena_bytes:
            raise PlanError(f"buffer '{buffer.name}' [{offset}, {offset + buffer.size}) lies outside "
                            f"the {arena_bytes}-byte arena")
    _check_overlaps(buffers, offsets, permits)
    for buffer, offset in zip(buffers, offsets):
        if offset % ALIGNMENT:
            raise PlanError(f"buffer '{buffer.name}' at offset {offset} is not {ALIGNMENT}-byte aligned")


def _check_overlaps(buffers: tuple[Buffer, ...], offsets: tuple[int, ...], permits: tuple[Permit, ...]) -> None:
    """Raise PlanError for the first two buffers live at the same step that share a byte
    beyond what a permit allows."""
    shifts = {(p.source, p.target): p.max_shift for p in permits}
    for i, (a, offset_a) in enumerate(zip(buffers, offsets)):
        for j in range(i + 1, len(buffers)):
            b, offset_b = buffers[j], offsets[j]
            if not (a.live_at_same_time(b) and offset_a < offset_b + b.size and offset_b < offset_a + a.size):
                continue
            source, target = (i, j) if (i, j) in shifts else (j, i)
            if (source, target) not in shifts:
                raise PlanError(f"buffers {_describe(a, offset_a)} and {_describe(b, offset_b)} overlap while "
                                "both are live")
            shift = offsets[target] - offsets[source]
            if shift > shifts[source, target]:
                raise PlanError(
                    f"buffer {_describe(buffers[target], offsets[target])} starts {shift:+d} bytes from "
                    f"{_describe(buffers[source], offsets[source])}, the input its layer writes over; the "
                    f"layer's access order allows {shifts[source, target]:+d} at most")
