"""Memory planner: every intermediate tensor and kernel scratch buffer gets an offset in one
static arena.

What it does:
1. Alias groups. RESHAPE/SQUEEZE outputs are their input's bytes: such tensors form one
   group (union-find) and share one buffer.
2. Storage. A group that holds a graph input lives in the caller's input buffer, one that
   holds a graph output is written straight into the caller's output buffer; everything
   else lives in the arena. (A group holding both an input and an output, or two
   outputs, would need a copy and is refused.)
3. Lifetimes. A buffer is live from the step of the layer that first writes it to the
   last step that reads any tensor of its group. A layer's scratch is live at its step.
4. Placement, greedy by size (the TFLite Micro greedy planner's rule): buffers sorted by
   size, largest first, each put at the lowest aligned offset that overlaps no placed
   buffer whose lifetime intersects its own. Optimal placement is NP-complete (it is
   dynamic storage allocation); greedy by size is simple and usually within a few
   percent of the largest set of simultaneously live buffers.
5. Self-check. `check_plan` re-verifies the finished plan (alignment, bounds, no two
   buffers live at the same step sharing a byte) and raises PlanError naming the two
   buffers. It runs on every plan, not only in tests.

Limits: whole buffers only (no in-place or overlapped buffers yet); the order of layers is
the model's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import PlanError, UnsupportedModelError
from .ir import Graph, NO_TENSOR

ALIGNMENT = 16  # bytes; enough for any int32/SIMD access a kernel makes


@dataclass(frozen=True)
class Step:
    """One executed layer as the planner sees it: which tensors it reads and writes."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    scratch_bytes: int = 0


@dataclass(frozen=True)
class Buffer:
    """A region of the arena: a group of aliased tensors, or one layer's scratch."""

    name: str
    size: int
    first_step: int
    last_step: int
    tensors: tuple[int, ...] = ()  # empty for scratch
    scratch_of_step: int = -1

    def live_at_same_time(self, other: "Buffer") -> bool:
        return self.first_step <= other.last_step and other.first_step <= self.last_step


@dataclass(frozen=True)
class Storage:
    """Where a tensor's bytes are: the arena at `offset`, or a caller's I/O buffer."""

    place: str  # "arena", "input" or "output"
    offset: int = 0  # arena offset, or the index of the graph input / output


@dataclass(frozen=True)
class Plan:
    arena_bytes: int
    buffers: tuple[Buffer, ...]
    offsets: tuple[int, ...]  # offsets[i] is buffers[i]'s arena offset
    storage: dict[int, Storage]  # tensor index -> storage, for every non-constant tensor
    scratch_offsets: dict[int, int]  # step -> arena offset of its scratch buffer


def align(value: int, alignment: int = ALIGNMENT) -> int:
    return (value + alignment - 1) // alignment * alignment


def alias_groups(graph: Graph, aliases: list[tuple[int, int]]) -> dict[int, int]:
    """Map each non-constant tensor to the representative of its alias group."""
    parent = {t.index: t.index for t in graph.tensors if not t.is_constant}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for source, alias in aliases:
        root_a, root_b = find(source), find(alias)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    return {i: find(i) for i in parent}


def _io_storage(graph: Graph, group_of: dict[int, int]) -> dict[int, Storage]:
    """Storage of each alias group that holds a graph input or output."""
    storage: dict[int, Storage] = {}
    for place, indices in (("input", graph.inputs), ("output", graph.outputs)):
        for position, tensor_index in enumerate(indices):
            group = group_of[tensor_index]
            if group in storage:
                other = storage[group]
                raise UnsupportedModelError(
                    f"graph {place} '{graph.tensors[tensor_index].name}' shares its bytes with graph "
                    f"{other.place} {other.offset} (a reshape of one into the other); tinygen needs a real op between them")
            storage[group] = Storage(place, position)
    return storage


def make_buffers(graph: Graph, steps: list[Step], aliases: list[tuple[int, int]]) -> tuple[
        list[Buffer], dict[int, int], dict[int, Storage]]:
    """The arena buffers with their lifetimes; also the alias groups and I/O storage."""
    group_of = alias_groups(graph, aliases)
    io_storage = _io_storage(graph, group_of)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for step_index, step in enumerate(steps):
        for tensor_index in step.outputs:
            group = group_of[tensor_index]
            first.setdefault(group, step_index)
            last[group] = max(last.get(group, step_index), step_index)
        for tensor_index in step.inputs:
            if tensor_index == NO_TENSOR or tensor_index not in group_of:
                continue  # absent or constant
            group = group_of[tensor_index]
            last[group] = max(last.get(group, step_index), step_index)
    buffers = []
    for group in sorted(first):
        if group in io_storage:
            continue
        members = tuple(sorted(i for i, g in group_of.items() if g == group))
        size = max(graph.tensors[i].nbytes for i in members)
        buffers.append(Buffer(name=graph.tensors[group].name, size=size, first_step=first[group],
                              last_step=last[group], tensors=members))
    for step_index, step in enumerate(steps):
        if step.scratch_bytes > 0:
            buffers.append(Buffer(name=f"scratch of layer {step_index}", size=step.scratch_bytes,
                                  first_step=step_index, last_step=step_index, scratch_of_step=step_index))
    return buffers, group_of, io_storage


def greedy_by_size(buffers: list[Buffer]) -> list[int]:
    """Offsets for `buffers` (in their order), placing the largest first at the lowest fit."""
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, buffers[i].first_step, i))
    offsets = [0] * len(buffers)
    placed: list[int] = []
    for i in order:
        buffer = buffers[i]
        conflicts = sorted((offsets[j], offsets[j] + buffers[j].size) for j in placed
                           if buffers[j].live_at_same_time(buffer))
        candidate = 0
        for start, end in conflicts:
            if candidate + buffer.size <= start:
                break
            candidate = max(candidate, align(end))
        offsets[i] = candidate
        placed.append(i)
    return offsets


def check_plan(buffers: tuple[Buffer, ...], offsets: tuple[int, ...], arena_bytes: int) -> None:
    """Raise PlanError unless every buffer is aligned, inside the arena, and disjoint from
    every other buffer live at the same step."""
    for buffer, offset in zip(buffers, offsets):
        if offset % ALIGNMENT:
            raise PlanError(f"buffer '{buffer.name}' at offset {offset} is not {ALIGNMENT}-byte aligned")
        if offset < 0 or offset + buffer.size > arena_bytes:
            raise PlanError(f"buffer '{buffer.name}' [{offset}, {offset + buffer.size}) lies outside "
                            f"the {arena_bytes}-byte arena")
    for i, (a, offset_a) in enumerate(zip(buffers, offsets)):
        for b, offset_b in zip(buffers[i + 1:], offsets[i + 1:]):
            if a.live_at_same_time(b) and offset_a < offset_b + b.size and offset_b < offset_a + a.size:
                raise PlanError(
                    f"buffers '{a.name}' [{offset_a}, {offset_a + a.size}) steps {a.first_step}-{a.last_step} and "
                    f"'{b.name}' [{offset_b}, {offset_b + b.size}) steps {b.first_step}-{b.last_step} overlap "
                    "while both are live")


def plan_memory(graph: Graph, steps: list[Step], aliases: list[tuple[int, int]]) -> Plan:
    """Plan the arena for `steps` (the executed layers in order) of `graph`."""
    buffers, group_of, io_storage = make_buffers(graph, steps, aliases)
    offsets = greedy_by_size(buffers)
    arena_bytes = align(max((o + b.size for o, b in zip(offsets, buffers)), default=0))
    check_plan(tuple(buffers), tuple(offsets), arena_bytes)
    storage: dict[int, Storage] = {}
    offset_of_group = {group_of[b.tensors[0]]: o for b, o in zip(buffers, offsets) if b.tensors}
    for tensor_index, group in group_of.items():
        if group in io_storage:
            storage[tensor_index] = io_storage[group]
        elif group in offset_of_group:
            storage[tensor_index] = Storage("arena", offset_of_group[group])
    scratch_offsets = {b.scratch_of_step: o for b, o in zip(buffers, offsets) if b.scratch_of_step >= 0}
    return Plan(arena_bytes=arena_bytes, buffers=tuple(buffers), offsets=tuple(offsets), storage=storage,
                scratch_offsets=scratch_offsets)
