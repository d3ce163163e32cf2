"""Buffers and lifetimes: which bytes the arena must hold, from when to when, and which
buffers may overlap.

What it does:
1. Alias groups. A RESHAPE/SQUEEZE output is its input's bytes; the inputs of a
   CONCATENATION that the planner writes in place are slices of its output. Tensors
   that share bytes form one group (a union-find that also keeps each tensor's byte
   offset in its group) and get one buffer.
2. Concatenation in place. A CONCATENATION whose inputs are contiguous blocks of its
   output (the layer's `slice_offsets`: every axis before the concatenation axis has
   size 1, so no kernel needs an output stride) is dropped: each producer writes its
   result straight into its slice. Refused (the layer then copies) when an input is a
   constant, a graph input or output, appears twice, or is already a slice of another
   concatenation, or when the output is a graph output.
3. Storage. A group that holds a graph input lives in the caller's input buffer, one
   that holds a graph output in the caller's output buffer; the others in the arena.
4. Lifetimes, for a given order of the layers: a buffer is live from the first step
   that writes any of its tensors to the last step that reads or writes any of them. A
   layer's scratch is live at its step.
5. Permits. Where a layer's input buffer dies at the step that gives birth to its
   output buffer, and the layer's kernel streams (tinygen/planner/overlap.py), the output
   may overlap the input up to the kernel's max shift: a Permit says so. Two buffers
   live at the same step may share bytes only under a permit.

Limits: a group is live as a whole (a concatenation's slices are reserved from the
first producer on); only in-place concatenations without output strides.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedModelError
from ..ir import Graph, NO_TENSOR

ALIGNMENT = 16  # bytes: every buffer starts at a multiple; enough for any int32/SIMD access a kernel makes


def align(value: int, alignment: int = ALIGNMENT) -> int:
    return (value + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class Step:
    """One lowered layer as the planner sees it.

    `shifts`: (input position, max shift) pairs from the overlap rule: output 0 may start
    up to that many bytes above the input's start when the input dies here.
    `slice_offsets`: for a CONCATENATION that can run in place, each input's byte offset
    in the output (None: it cannot).
    """

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    scratch_bytes: int = 0
    shifts: tuple[tuple[int, int], ...] = ()
    slice_offsets: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Alias:
    """`tensor` is the bytes of `base` from byte `offset` on."""

    base: int
    tensor: int
    offset: int = 0


@dataclass(frozen=True)
class Storage:
    """Where a tensor's bytes are: the arena at `offset`, or a caller's I/O buffer."""

    place: str  # "arena", "input" or "output"
    offset: int = 0  # arena offset, or the index of the graph input / output


@dataclass(frozen=True)
class Groups:
    """Alias groups: each non-constant tensor's group (a representative tensor) and byte
    offset in it; each group's size and members; where I/O groups live."""

    group_of: dict[int, int]
    offset_of: dict[int, int]
    nbytes: dict[int, int]  # of each tensor
    size: dict[int, int]
    members: dict[int, tuple[int, ...]]
    io: dict[int, Storage]
    elided: frozenset[int]  # lowered steps (concatenations) that no longer run


@dataclass(frozen=True)
class Buffer:
    """A region of the arena: an alias group, or one layer's scratch."""

    name: str
    size: int
    first_step: int
    last_step: int
    tensors: tuple[int, ...] = ()  # empty for scratch
    scratch_of_step: int = -1

    def live_at_same_time(self, other: "Buffer") -> bool:
        return self.first_step <= other.last_step and other.first_step <= self.last_step


@dataclass(frozen=True)
class Permit:
    """Buffer `target` (born at `step`) may overlap buffer `source` (dead after `step`)
    if offset[target] - offset[source] <= max_shift."""

    source: int
    target: int
    step: int
    max_shift: int


class _UnionFind:
    """Union-find over tensors that also keeps each tensor's byte offset from its parent."""

    def __init__(self, tensors):
        self.parent = {t: t for t in tensors}
        self.delta = {t: 0 for t in tensors}

    def find(self, tensor: int) -> tuple[int, int]:
        """(root, byte offset of `tensor` from the root)."""
        path = []
        while self.parent[tensor] != tensor:
            path.append(tensor)
            tensor = self.parent[tensor]
        root, offset = tensor, 0
        for node in reversed(path):  # compress, nearest the root first
            offset += self.delta[node]
            self.parent[node], self.delta[node] = root, offset
        return root, self.delta[path[0]] if path else 0

    def union(self, alias: Alias) -> None:
        base_root, base_offset = self.find(alias.base)
        root, offset = self.find(alias.tensor)
        if base_root == root:
            return
        # The tensor's root starts at base_root + base_offset + alias.offset - offset.
        shift = base_offset + alias.offset - offset
        if root < base_root:
            base_root, root, shift = root, base_root, -shift
        self.parent[root], self.delta[root] = base_root, shift


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
                    f"{other.place} {other.offset} (a reshape of one into the other); "
                    "tinygen needs a real op between them")
            storage[group] = Storage(place, position)
    return storage


def _concat_aliases(graph: Graph, step: Step, union: _UnionFind, io_groups: set[int],
                    embedded: set[int]) -> list[Alias] | None:
    """The aliases that put a concatenation's inputs in its output, or None if it must copy."""
    output = step.outputs[0]
    output_group = union.find(output)[0]
    if output_group in io_groups:
        return None
    groups = []
    for tensor in step.inputs:
        if tensor == NO_TENSOR or graph.tensors[tensor].is_constant:
            return None
        groups.append(union.find(tensor)[0])
    if len(set(groups)) != len(groups) or output_group in groups or set(groups) & (io_groups | embedded):
        return None
    embedded.update(groups)
    return [Alias(output, tensor, offset) for tensor, offset in zip(step.inputs, step.slice_offsets)]


def alias_groups(graph: Graph, steps: list[Step], aliases: list[Alias]) -> Groups:
    """Group the tensors that share bytes: `aliases` (reshapes) and in-place concatenations."""
    union = _UnionFind(t.index for t in graph.tensors if not t.is_constant)
    for alias in aliases:
        union.union(alias)
    io_groups = set(_io_storage(graph, {t: union.find(t)[0] for t in union.parent}))
    embedded: set[int] = set()
    elided = set()
    for index, step in enumerate(steps):
        if step.slice_offsets is None:
            continue
        concat_aliases = _concat_aliases(graph, step, union, io_groups, embedded)
        if concat_aliases is not None:
            for alias in concat_aliases:
                union.union(alias)
            elided.add(index)
    found = {t: union.find(t) for t in sorted(union.parent)}
    members: dict[int, list[int]] = {}
    for tensor, (root, _) in found.items():
        members.setdefault(root, []).append(tensor)
    group_of, offset_of, size = {}, {}, {}
    for root, tensors in members.items():
        lowest = min(found[t][1] for t in tensors)
        for t in tensors:
            group_of[t], offset_of[t] = root, found[t][1] - lowest
        size[root] = max(offset_of[t] + graph.tensors[t].nbytes for t in tensors)
    return Groups(group_of=group_of, offset_of=offset_of, nbytes={t: graph.tensors[t].nbytes for t in group_of},
                  size=size, members={root: tuple(tensors) for root, tensors in members.items()},
                  io=_io_storage(graph, group_of), elided=frozenset(elided))


def in_arena(tensor: int, groups: Groups) -> bool:
    """Whether `tensor` lives in the arena (it is not absent, constant or I/O)."""
    return tensor in groups.group_of and groups.group_of[tensor] not in groups.io


def arena_tensors(tensors: tuple[int, ...], groups: Groups) -> list[int]:
    return [t for t in tensors if in_arena(t, groups)]


def lifetimes(steps: list[Step], order: list[int], groups: Groups) -> dict[int, tuple[int, int]]:
    """(first step, last step) of every arena group; steps count positions in `order`."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for position, index in enumerate(order):
        step = steps[index]
        for tensor in arena_tensors(step.outputs, groups):
            first.setdefault(groups.group_of[tensor], position)
        for tensor in arena_tensors(step.inputs + step.outputs, groups):
            last[groups.group_of[tensor]] = position
    return {group: (first[group], last[group]) for group in sorted(first)}


def overlap_candidates(step: Step, groups: Groups) -> list[tuple[int, int, int]]:
    """(source group, target group, max shift of the target's start above the source's)
    for every arena input group of `step` that its output 0 may overlap, should the input
    die and the output be born at this step. A group the step reads in an order no Access
    describes gets none."""
    outputs = arena_tensors(step.outputs[:1], groups)
    if not step.shifts or not outputs:
        return []
    target_tensor = outputs[0]
    target = groups.group_of[target_tensor]
    shift_of = dict(step.shifts)
    limits: dict[int, list[int | None]] = {}  # source group -> the target's max shift per input read there
    for position, tensor in enumerate(step.inputs):
        if in_arena(tensor, groups):
            shift = shift_of.get(position)
            limits.setdefault(groups.group_of[tensor], []).append(
                None if shift is None else shift + groups.offset_of[tensor] - groups.offset_of[target_tensor])
    return [(source, target, min(values)) for source, values in sorted(limits.items())
            if source != target and None not in values]


def _permits(steps: list[Step], order: list[int], groups: Groups, buffer_of: dict[int, int],
             buffers: list[Buffer]) -> list[Permit]:
    """The overlaps the layers' access orders allow in this order (see Permit)."""
    permits = []
    for position, index in enumerate(order):
        for source_group, target_group, max_shift in overlap_candidates(steps[index], groups):
            source, target = buffer_of[source_group], buffer_of[target_group]
            if buffers[source].last_step == position and buffers[target].first_step == position:
                permits.append(Permit(source, target, position, max_shift))
    return permits


def make_buffers(graph: Graph, steps: list[Step], order: list[int],
                 groups: Groups) -> tuple[list[Buffer], list[Permit]]:
    """The arena buffers (alias groups, then scratch) with their lifetimes in `order`,
    and the overlaps the kernels permit."""
    buffers = []
    buffer_of = {}
    for group, (first, last) in lifetimes(steps, order, groups).items():
        buffer_of[group] = len(buffers)
        named = max(groups.members[group], key=lambda t: (groups.nbytes[t], -t))  # a concatenation's output
        buffers.append(Buffer(name=graph.tensors[named].name, size=groups.size[group], first_step=first,
                              last_step=last, tensors=groups.members[group]))
    for position, index in enumerate(order):
        if steps[index].scratch_bytes > 0:
            buffers.append(Buffer(name=f"scratch of layer {position}", size=steps[index].scratch_bytes,
                                  first_step=position, last_step=position, scratch_of_step=position))
    return buffers, _permits(steps, order, groups, buffer_of, buffers)
