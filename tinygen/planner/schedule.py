"""Op order: the execution order of the layers that lowers the peak of live memory.

What it does. Any topological order of the layers computes the same outputs; in a
branched graph (a residual block, branches joined by a concatenation) the order decides
which tensors are live together. The cost of running layer o after the set S of layers
is the bytes live during o: every buffer born in S that a layer not in S still touches,
o's new outputs and scratch, less what o's permitted overlaps can save (bounds.
pair_footprint). An order's peak is its costliest step.
1. Exact, for graphs whose sets of "layers run so far" (downsets of the dependency
   graph) are few: dynamic programming over those sets, level by level, keeps for each
   set the least peak that reaches it (memory live between layers depends only on the
   set, not on the order within it). Ties keep the path found first, which is the
   model's own order wherever that is optimal.
2. Otherwise, greedy list scheduling: run next the ready layer of least cost.
`candidate_orders` returns the model's order and the order found; the planner places
both and keeps the smaller arena.

Why: the peak a placement can reach is bounded below by the live bytes of the busiest
step, which only the order changes.

Limits: the cost is an estimate (it assumes the best overlap each step permits and
perfect packing); the exact search gives up after MAX_MOVES steps of its search (wide
graphs with many parallel branches: their sets multiply) and falls back to the greedy
order. The budget counts moves, not seconds, so the order is the same on every run.
"""

from __future__ import annotations

from .bounds import pair_footprint
from .liveness import Groups, Step, arena_tensors, overlap_candidates

MAX_MOVES = 50000


class _Costs:
    """Per-group bitmasks of the layers that write or touch it, for fast live-byte updates."""

    def __init__(self, steps: list[Step], active: list[int], groups: Groups):
        self.steps, self.groups = steps, groups
        self.bit = {index: 1 << position for position, index in enumerate(active)}
        self.writers: dict[int, int] = {}
        self.touchers: dict[int, int] = {}
        self.written: dict[int, set[int]] = {}  # layer -> groups it writes
        self.touched: dict[int, set[int]] = {}  # layer -> groups it reads or writes
        for index in active:
            step = steps[index]
            self.written[index] = {groups.group_of[t] for t in arena_tensors(step.outputs, groups)}
            self.touched[index] = {groups.group_of[t] for t in arena_tensors(step.inputs + step.outputs, groups)}
            for group in self.written[index]:
                self.writers[group] = self.writers.get(group, 0) | self.bit[index]
            for group in self.touched[index]:
                self.touchers[group] = self.touchers.get(group, 0) | self.bit[index]
        self.overlaps = {index: overlap_candidates(steps[index], groups) for index in active}

    def run(self, done: int, live: int, index: int) -> tuple[int, int]:
        """(bytes live while layer `index` runs after the layers in `done`, bytes live after
        it), given `live`, the bytes live before it."""
        size, bit = self.groups.size, self.bit[index]
        born = {g for g in self.written[index] if not self.writers[g] & done}
        during = live + sum(size[g] for g in born) + self.steps[index].scratch_bytes
        dying = {g for g in self.touched[index] if not self.touchers[g] & ~(done | bit)}
        savings: dict[int, int] = {}
        for source, target, max_shift in self.overlaps[index]:
            if target in born and source in dying:
                saving = size[source] + size[target] - pair_footprint(size[source], size[target], max_shift)
                savings[target] = min(size[target], savings.get(target, 0) + saving)
        after = live + sum(size[g] for g in born) - sum(size[g] for g in dying)
        return during - sum(savings.values()), after


def dependencies(steps: list[Step], active: list[int], groups: Groups) -> dict[int, set[int]]:
    """For each layer, the layers that write bytes it reads."""
    writers: dict[int, list[tuple[int, int, int]]] = {}  # group -> (layer, first byte, end)
    for index in active:
        for tensor in steps[index].outputs:
            if tensor in groups.group_of:
                start = groups.offset_of[tensor]
                writers.setdefault(groups.group_of[tensor], []).append((index, start, start + groups.nbytes[tensor]))
    needs = {}
    for index in active:
        needs[index] = set()
        for tensor in steps[index].inputs:
            if tensor not in groups.group_of:
                continue
            start = groups.offset_of[tensor]
            end = start + groups.nbytes[tensor]
            needs[index].update(w for w, w_start, w_end in writers.get(groups.group_of[tensor], [])
                                if w_start < end and start < w_end and w != index)
    return needs


class _Orders:
    """What both order searches share: costs, and which layers are ready after a set."""

    def __init__(self, steps: list[Step], active: list[int], groups: Groups):
        self.active = active
        self.costs = _Costs(steps, active, groups)
        bit = self.costs.bit
        self.needs = {i: sum(bit[j] for j in needs) for i, needs in dependencies(steps, active, groups).items()}

    def ready(self, done: int) -> list[int]:
        bit = self.costs.bit
        return [i for i in self.active if not bit[i] & done and not self.needs[i] & ~done]


def exact_order(orders: _Orders) -> list[int] | None:
    """The order of least peak cost, or None once MAX_MOVES moves (a layer run after a set
    of layers) are spent."""
    # One dict per level: done mask -> (peak so far, bytes live now, previous mask, layer run last).
    levels: list[dict[int, tuple[int, int, int, int]]] = [{0: (0, 0, -1, -1)}]
    moves = 0
    for _ in orders.active:
        following: dict[int, tuple[int, int, int, int]] = {}
        for done, (peak, live, _, _) in levels[-1].items():
            for index in orders.ready(done):
                during, after = orders.costs.run(done, live, index)
                key = done | orders.costs.bit[index]
                if key not in following or max(peak, during) < following[key][0]:
                    following[key] = (max(peak, during), after, done, index)
                moves += 1
            if moves > MAX_MOVES:
                return None
        levels.append(following)
    order, done = [], next(iter(levels[-1]))
    for level in reversed(levels[1:]):
        _, _, done, index = level[done]
        order.append(index)
    return order[::-1]


def greedy_order(orders: _Orders) -> list[int]:
    """Each time, the ready layer that costs least (the earliest on a tie)."""
    order: list[int] = []
    done = live = 0
    while len(order) < len(orders.active):
        costs = {index: orders.costs.run(done, live, index) for index in orders.ready(done)}
        index = min(costs, key=lambda i: costs[i][0])
        order.append(index)
        done |= orders.costs.bit[index]
        live = costs[index][1]
    return order


def candidate_orders(steps: list[Step], groups: Groups) -> list[list[int]]:
    """The model's order (in-place concatenations dropped) and, if different, the order
    of least peak cost."""
    active = [i for i in range(len(steps)) if i not in groups.elided]
    orders = _Orders(steps, active, groups)
    best = exact_order(orders) or greedy_order(orders)
    return [active] if best == active else [active, best]
