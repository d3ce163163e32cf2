"""Lower bounds on the arena of one order of the layers.

What: `whole_tensor_bound` is the least arena any plan of whole, disjoint tensors can
have: at the busiest step, the sum of the buffers live there (scratch included), each
rounded up to the alignment (buffers start at aligned offsets, so each takes at least
that much room, and the arena's size is aligned too). No placement of whole tensors
does better, whatever the strategy; tinygen reports its plan against it.
`overlap_bound` counts, at steps with permitted overlaps (liveness.Permit), the bytes
live less what those overlaps can save at best: a valid bound for tinygen's own plans,
used to stop the search once a plan reaches it.

Why: the optimum of the placement problem is NP-hard to find, but bounds are cheap and
tell how far from it a plan can be.

Limits: both are bounds for a fixed order; a bound is not always reachable (buffers
cannot be cut, and offsets are aligned).
"""

from __future__ import annotations

from typing import Callable

from .liveness import Buffer, Permit, align


def live_bytes(buffers: list[Buffer], size: Callable[[Buffer], int] = lambda b: b.size) -> list[int]:
    """Bytes of all buffers live at each step, each buffer counted as `size(buffer)`."""
    steps = max((b.last_step for b in buffers), default=-1) + 1
    live = [0] * steps
    for buffer in buffers:
        for step in range(buffer.first_step, buffer.last_step + 1):
            live[step] += size(buffer)
    return live


def whole_tensor_bound(buffers: list[Buffer]) -> int:
    return max(live_bytes(buffers, lambda b: align(b.size)), default=0)


def pair_footprint(source_size: int, target_size: int, max_shift: int) -> int:
    """The fewest bytes a source and a target can span together when the target starts at
    most `max_shift` bytes above the source (0 or more: the larger of the two; below: the
    source plus the gap, or the target if larger), never more than the two apart."""
    return min(source_size + target_size, max(source_size + max(0, -max_shift), target_size))


def overlap_savings(buffers: list[Buffer], permits: list[Permit]) -> dict[int, int]:
    """Per step, the most bytes its permits can save: each target saves at most its own size."""
    per_target: dict[tuple[int, int], int] = {}
    for permit in permits:
        source, target = buffers[permit.source].size, buffers[permit.target].size
        saving = source + target - pair_footprint(source, target, permit.max_shift)
        key = (permit.step, permit.target)
        per_target[key] = min(target, per_target.get(key, 0) + saving)
    savings: dict[int, int] = {}
    for (step, _), saving in per_target.items():
        savings[step] = savings.get(step, 0) + saving
    return savings


def overlap_bound(buffers: list[Buffer], permits: list[Permit]) -> int:
    """The whole-tensor bound, except that a step with permitted overlaps counts its
    buffers' bytes (not rounded up) less the most its permits can save."""
    savings = overlap_savings(buffers, permits)
    whole = live_bytes(buffers, lambda b: align(b.size))
    return max((live - savings[step] if step in savings else whole[step]
                for step, live in enumerate(live_bytes(buffers))), default=0)
