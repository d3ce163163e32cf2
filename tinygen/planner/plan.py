"""The planner's driver: layers and aliases in, a checked arena plan out.

Stages (one module each): liveness (alias groups, in-place concatenations, lifetimes,
permitted overlaps), schedule (candidate execution orders), placement (several
strategies, the best kept), bounds (what any plan of whole tensors needs), check (the
self-check every plan passes). For each candidate order the planner places the buffers
and checks the result; the smallest arena wins, the model's order on a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph
from ..ops.registry import Layer
from . import bounds, placement, schedule
from .check import check_plan
from .liveness import Alias, Buffer, Groups, Permit, Step, Storage, alias_groups, make_buffers
from .overlap import output_shifts


@dataclass(frozen=True)
class Plan:
    """Where every tensor and scratch buffer lives, and the order the layers run in.

    `order` lists the lowered layers that run, in the order they run (in-place
    concatenations are gone); steps (Buffer.first_step, scratch_offsets, Permit.step)
    count positions in it.
    """

    arena_bytes: int
    lower_bound_bytes: int  # bounds.whole_tensor_bound of this order
    order: tuple[int, ...]
    buffers: tuple[Buffer, ...]
    offsets: tuple[int, ...]  # offsets[i] is buffers[i]'s arena offset
    permits: tuple[Permit, ...]
    storage: dict[int, Storage]  # tensor index -> storage, for every non-constant tensor
    scratch_offsets: dict[int, int]  # step -> arena offset of its scratch buffer
    strategy: str  # the placement strategy that found it


def step_of(layer: Layer) -> Step:
    """What the planner needs to know of a lowered layer."""
    return Step(inputs=layer.op.inputs, outputs=layer.op.outputs, scratch_bytes=layer.scratch_bytes,
                shifts=output_shifts(layer.access, len(layer.op.inputs)), slice_offsets=layer.slice_offsets)


def _storage(groups: Groups, buffers: list[Buffer], offsets: tuple[int, ...]) -> dict[int, Storage]:
    offset_of_group = {groups.group_of[b.tensors[0]]: o for b, o in zip(buffers, offsets) if b.tensors}
    storage = {}
    for tensor, group in groups.group_of.items():
        if group in groups.io:
            storage[tensor] = groups.io[group]
        elif group in offset_of_group:
            storage[tensor] = Storage("arena", offset_of_group[group] + groups.offset_of[tensor])
    return storage


def plan_order(graph: Graph, steps: list[Step], groups: Groups, order: list[int]) -> Plan:
    """The best checked placement of the buffers of `order`."""
    buffers, permits = make_buffers(graph, steps, order, groups)
    problem = placement.make_problem(buffers, permits)
    placed = placement.best_placement(problem)
    check_plan(tuple(buffers), placed.offsets, placed.arena_bytes, tuple(permits))
    return Plan(arena_bytes=placed.arena_bytes, lower_bound_bytes=bounds.whole_tensor_bound(buffers),
                order=tuple(order), buffers=tuple(buffers), offsets=placed.offsets, permits=tuple(permits),
                storage=_storage(groups, buffers, placed.offsets),
                scratch_offsets={b.scratch_of_step: o for b, o in zip(buffers, placed.offsets)
                                 if b.scratch_of_step >= 0},
                strategy=placed.strategy)


def plan_memory(graph: Graph, steps: list[Step], aliases: list[Alias]) -> Plan:
    """Plan the arena for `steps` (the lowered layers, in the model's order) of `graph`."""
    groups = alias_groups(graph, steps, aliases)
    plans = [plan_order(graph, steps, groups, order) for order in schedule.candidate_orders(steps, groups)]
    return min(plans, key=lambda plan: plan.arena_bytes)
