"""Placement: an arena offset for every buffer, by several strategies; the best is kept.

What it does. Every strategy builds on one move, `first_fit`: put a buffer at the lowest
aligned offset where it shares no byte with any placed buffer live at the same step,
except as a Permit allows (the target may start at most max_shift bytes above its
source). Strategies differ in the order they place buffers:
1. greedy by size (TFLite Micro's greedy planner): largest first;
2. greedy by conflicts: buffers live at the busiest steps first (the sum of the bytes
   live alongside them), then by size;
3. latest birth first: buffers in reverse order of their first step. A kernel that
   streams wants its output a little below its input (a negative max shift); placing
   outputs first lets each input settle just above its output, so a chain of such
   layers drifts up by the few bytes each needs instead of alternating whole buffers;
4. branch and bound (small problems): a depth-first search over placement orders, each
   buffer first-fit, pruned by the best arena found so far and by the rule that two
   buffers that never meet are placed in one canonical order (either order gives the
   same offsets). It stops when a plan reaches the lower bound (bounds.overlap_bound)
   or when its budget of first-fit moves is spent. The budget counts moves, not
   seconds, so plans are the same on every machine and every run.
The plan with the smallest arena wins; ties go to the strategy listed first.

Why: optimal placement is NP-complete (it is dynamic storage allocation, with
overlaps on top); each greedy order is good on some graphs and poor on others, and the
search closes most of what remains on small graphs.

Limits: the search explores placement orders, not arbitrary offsets. For whole tensors
that loses nothing (any aligned plan is matched or beaten by first-fit in the order of
its offsets), so there the search is exact within its budget; with overlaps it is exact
among first-fit plans only. The budget is fixed: on larger problems the search may stop
before it proves a plan optimal, and above SEARCH_MAX_BUFFERS buffers only the greedy
strategies run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .bounds import live_bytes, overlap_bound
from .liveness import Buffer, Permit, align

# Branch and bound runs on problems of at most this many buffers, for at most this many
# first-fit moves (about half a second of Python on the largest problem it accepts).
SEARCH_MAX_BUFFERS = 64
SEARCH_BUDGET = 20000


@dataclass(frozen=True)
class Problem:
    """Buffers to place, and what may not overlap.

    `conflicts[i]` lists (j, low, high): with buffer j at offset o, buffer i may not start
    in [o + low, o + high] (the offsets at which they would share a byte, less those a
    Permit allows).
    """

    buffers: tuple[Buffer, ...]
    conflicts: tuple[tuple[tuple[int, int, int], ...], ...]
    lower_bound: int  # no plan of these buffers has a smaller arena (bounds.overlap_bound, aligned)


def _forbidden(size_i: int, size_j: int, shift_as_target: int | None,
               shift_as_source: int | None) -> tuple[int, int]:
    """Offsets of i relative to j at which i would overlap j in a way no permit allows."""
    low, high = 1 - size_i, size_j - 1
    if shift_as_target is not None:  # i may start up to the shift above j
        low = max(low, shift_as_target + 1)
    if shift_as_source is not None:  # j may start up to the shift above i
        high = min(high, -shift_as_source - 1)
    return low, high


def make_problem(buffers: list[Buffer], permits: list[Permit]) -> Problem:
    shifts = {(p.source, p.target): p.max_shift for p in permits}
    conflicts = []
    for i, buffer in enumerate(buffers):
        row = []
        for j, other in enumerate(buffers):
            if i == j or not buffer.live_at_same_time(other):
                continue
            low, high = _forbidden(buffer.size, other.size, shifts.get((j, i)), shifts.get((i, j)))
            if low <= high:
                row.append((j, low, high))
        conflicts.append(tuple(row))
    return Problem(tuple(buffers), tuple(conflicts), align(overlap_bound(buffers, permits)))


def first_fit(problem: Problem, i: int, offsets: list[int | None]) -> int:
    """The lowest aligned offset for buffer i given the placed buffers (offsets not None)."""
    intervals = sorted((offsets[j] + low, offsets[j] + high) for j, low, high in problem.conflicts[i]
                       if offsets[j] is not None)
    candidate = 0
    for low, high in intervals:
        if candidate < low:
            break
        if candidate <= high:
            candidate = align(high + 1)
    return candidate


def arena_of(problem: Problem, offsets: list[int]) -> int:
    return align(max((o + b.size for o, b in zip(offsets, problem.buffers)), default=0))


def place_in_order(problem: Problem, order: list[int]) -> list[int]:
    offsets: list[int | None] = [None] * len(problem.buffers)
    for i in order:
        offsets[i] = first_fit(problem, i, offsets)
    return offsets


@dataclass(frozen=True)
class Placement:
    order: tuple[int, ...]  # the order the buffers were placed in, each first-fit
    offsets: tuple[int, ...]
    arena_bytes: int
    strategy: str


def greedy_by_size(problem: Problem, best: Placement | None) -> list[int]:
    buffers = problem.buffers
    return sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, buffers[i].first_step, i))


def greedy_by_conflicts(problem: Problem, best: Placement | None) -> list[int]:
    buffers = problem.buffers
    live = live_bytes(list(buffers))

    def busiest(i: int) -> int:
        return max(live[buffers[i].first_step:buffers[i].last_step + 1])

    return sorted(range(len(buffers)), key=lambda i: (-busiest(i), -buffers[i].size, i))


def latest_birth_first(problem: Problem, best: Placement | None) -> list[int]:
    """Tensors by first step, latest first; scratch buffers last, into whatever gaps remain."""
    buffers = problem.buffers
    return sorted(range(len(buffers)), key=lambda i: (
        buffers[i].scratch_of_step >= 0, -buffers[i].first_step, -buffers[i].size, i))


class _Search:
    """Depth-first branch and bound over placement orders (see the module comment). It
    tries buffers in the order of the best plan so far, so its first complete order is
    that plan's, and it looks for better ones by changing the last choices first."""

    def __init__(self, problem: Problem, best: Placement):
        self.problem = problem
        self.priority = best.order
        self.rank = {i: r for r, i in enumerate(self.priority)}
        self.meets = [{j for j, _, _ in row} for row in problem.conflicts]
        self.offsets: list[int | None] = [None] * len(problem.buffers)
        self.order: list[int] = []
        self.best_arena, self.best_order = best.arena_bytes, None
        self.moves = 0

    def done(self) -> bool:
        return self.moves >= SEARCH_BUDGET or self.best_arena <= self.problem.lower_bound

    def run(self, height: int) -> None:
        if len(self.order) == len(self.offsets):
            self.best_arena, self.best_order = align(height), list(self.order)
            return
        last = self.order[-1] if self.order else None
        for i in self.priority:
            if self.done():
                return
            if self.offsets[i] is not None:
                continue
            if last is not None and self.rank[i] < self.rank[last] and i not in self.meets[last]:
                continue  # the same plan is reached with i placed before `last`
            offset = first_fit(self.problem, i, self.offsets)
            self.moves += 1
            new_height = max(height, offset + self.problem.buffers[i].size)
            if align(new_height) >= self.best_arena:
                continue
            self.offsets[i] = offset
            self.order.append(i)
            self.run(new_height)
            self.order.pop()
            self.offsets[i] = None


def branch_and_bound(problem: Problem, best: Placement | None) -> list[int] | None:
    """An order whose plan beats `best`, or None if the search finds none in its budget."""
    if best is None or len(problem.buffers) > SEARCH_MAX_BUFFERS or best.arena_bytes <= problem.lower_bound:
        return None
    search = _Search(problem, best)
    search.run(0)
    return search.best_order


# A strategy chooses the order in which buffers are placed first-fit, knowing the best
# placement found so far (None at first; the greedy strategies ignore it), or gives up (None).
Strategy = Callable[[Problem, "Placement | None"], "list[int] | None"]
STRATEGIES: tuple[tuple[str, Strategy], ...] = (
    ("greedy by size", greedy_by_size),
    ("greedy by conflicts", greedy_by_conflicts),
    ("latest birth first", latest_birth_first),
    ("branch and bound", branch_and_bound),
)


def best_placement(problem: Problem) -> Placement:
    """Every strategy in turn; the smallest arena wins, the earlier strategy on a tie."""
    best = None
    for name, strategy in STRATEGIES:
        order = strategy(problem, best)
        if order is None:
            continue
        offsets = place_in_order(problem, order)
        arena = arena_of(problem, offsets)
        if best is None or arena < best.arena_bytes:
            best = Placement(tuple(order), tuple(offsets), arena, name)
    return best
