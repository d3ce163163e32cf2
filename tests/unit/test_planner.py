"""Planner unit tests on hand-built graphs with hand-computed plans: lifetimes, aliases,
scratch, the lower bound, every placement strategy, permitted overlaps, in-place
concatenation, op order, and the self-check that rejects unsafe plans."""

import random
import time

import pytest

from tinygen.errors import PlanError, UnsupportedModelError
from tinygen.ir import Graph, Op, Tensor
from tinygen.planner import ALIGNMENT, Alias, Buffer, Permit, Step, check_plan, plan_memory
from tinygen.planner import bounds, placement, schedule
from tinygen.planner.liveness import alias_groups


def vector_graph(sizes, ops, inputs=(0,), outputs=None):
    """int8 vectors t0, t1, ... of the given sizes, and ops given as (inputs, outputs)."""
    tensors = [Tensor(i, f"t{i}", (size,), "int8") for i, size in enumerate(sizes)]
    graph_ops = [Op(i, "RELU", tuple(ins), tuple(outs)) for i, (ins, outs) in enumerate(ops)]
    return Graph("g", tensors, graph_ops, inputs=inputs, outputs=outputs or (len(sizes) - 1,))


def chain(sizes, shift=None, scratch=0):
    """input -> t1 -> t2 -> ... -> output; every layer streams with `shift` (None: no overlap)."""
    graph = vector_graph(sizes, [((i,), (i + 1,)) for i in range(len(sizes) - 1)])
    shifts = () if shift is None else ((0, shift),)
    steps = [Step(op.inputs, op.outputs, scratch, shifts) for op in graph.ops]
    return graph, steps


def offsets_by_name(plan):
    return {b.name: o for b, o in zip(plan.buffers, plan.offsets)}


def test_chain_plan_matches_hand_computed_offsets():
    """in -> A(100) -> B(50) -> C(200) -> out: C (largest) at 0, A (dead before C is born)
    also at 0, B (live with both) above C at the next aligned offset."""
    graph, steps = chain([8, 100, 50, 200, 8])
    plan = plan_memory(graph, steps, aliases=[])
    assert offsets_by_name(plan) == {"t1": 0, "t2": 208, "t3": 0}
    assert plan.arena_bytes == 272 == plan.lower_bound_bytes  # 64 (B, aligned) + 208 (C, aligned)
    assert plan.storage[0].place == "input" and plan.storage[4].place == "output"


def test_lifetimes_span_first_write_to_last_read():
    """A tensor read by a later layer (a skip connection) stays live until that layer."""
    graph = vector_graph([32] * 5, [((0,), (1,)), ((1,), (2,)), ((2,), (3,)), ((1, 3), (4,))])
    plan = plan_memory(graph, [Step(op.inputs, op.outputs) for op in graph.ops], aliases=[])
    lives = {b.name: (b.first_step, b.last_step) for b in plan.buffers}
    assert lives == {"t1": (0, 3), "t2": (1, 2), "t3": (2, 3)}
    # t1 is live with both others; t2 and t3 are live together at step 2: three slots.
    assert plan.arena_bytes == 3 * 32 == plan.lower_bound_bytes


def test_alias_shares_one_buffer_and_extends_its_life():
    """A RESHAPE output is its input's bytes: one buffer, live until the alias's last read."""
    tensors = [Tensor(0, "in", (4, 4), "int8"), Tensor(1, "a", (4, 4), "int8"), Tensor(2, "a_flat", (16,), "int8"),
               Tensor(3, "out", (16,), "int8")]
    ops = [Op(0, "RELU", (0,), (1,)), Op(1, "RESHAPE", (1,), (2,)), Op(2, "RELU", (2,), (3,))]
    graph = Graph("alias", tensors, ops, inputs=(0,), outputs=(3,))
    steps = [Step(ops[0].inputs, ops[0].outputs), Step(ops[2].inputs, ops[2].outputs)]
    plan = plan_memory(graph, steps, aliases=[Alias(1, 2)])
    assert len(plan.buffers) == 1
    assert plan.buffers[0].tensors == (1, 2) and (plan.buffers[0].first_step, plan.buffers[0].last_step) == (0, 1)
    assert plan.storage[1] == plan.storage[2]


def test_scratch_lives_only_during_its_layer():
    """Scratch of layer 1 may reuse the bytes of a tensor dead by then, never a live one."""
    graph, steps = chain([8, 64, 64, 8])
    steps[1] = Step(steps[1].inputs, steps[1].outputs, scratch_bytes=48)
    plan = plan_memory(graph, steps, aliases=[])
    scratch = [b for b in plan.buffers if b.scratch_of_step == 1]
    assert len(scratch) == 1 and (scratch[0].first_step, scratch[0].last_step) == (1, 1)
    assert plan.scratch_offsets[1] == 128  # t1 at 0 and t2 at 64 are both live at step 1
    assert plan.arena_bytes == 176 == plan.lower_bound_bytes


def test_scratch_shares_bytes_with_dead_tensors():
    """in -> t1(96) -> t2(16) -> t3(96) -> out with 64 bytes of scratch at the last step:
    the scratch goes where t1 was (dead since step 1), not on top."""
    graph, steps = chain([8, 96, 16, 96, 8])
    steps[3] = Step(steps[3].inputs, steps[3].outputs, scratch_bytes=64)
    plan = plan_memory(graph, steps, aliases=[])
    assert plan.lower_bound_bytes == 96 + 64 and plan.arena_bytes == 160


def test_whole_tensor_lower_bound_is_the_busiest_step():
    """Live bytes per step, scratch included; the bound is their maximum, each buffer
    rounded up to the alignment its offset has (100 -> 112, 40 -> 48, 70 -> 80, 30 -> 32)."""
    buffers = [Buffer("a", 100, 0, 2, (1,)), Buffer("b", 40, 1, 1, (2,)), Buffer("c", 70, 2, 3, (3,)),
               Buffer("scratch of layer 1", 30, 1, 1, scratch_of_step=1)]
    assert bounds.live_bytes(buffers) == [100, 170, 170, 70]
    assert bounds.whole_tensor_bound(buffers) == 192


def test_search_finds_the_optimum_greedy_by_size_misses():
    """A (16 B, steps 1-3), B (48 B, step 0), C (32 B, steps 0-1), D (48 B, steps 2-3).
    Greedy by size stacks B and D at 0, C above B, A above C and D: 96 bytes. Branch and
    bound finds an optimum (80 bytes, the lower bound): A and B at 0, D on A, C on B."""
    buffers = [Buffer("A", 16, 1, 3, (0,)), Buffer("B", 48, 0, 0, (1,)), Buffer("C", 32, 0, 1, (2,)),
               Buffer("D", 48, 2, 3, (3,))]
    problem = placement.make_problem(buffers, [])
    greedy = placement.place_in_order(problem, placement.greedy_by_size(problem, None))
    assert placement.arena_of(problem, greedy) == 96
    best = placement.best_placement(problem)
    assert (best.arena_bytes, best.strategy) == (80, "branch and bound")
    assert best.offsets == (0, 0, 48, 16)
    check_plan(tuple(buffers), best.offsets, best.arena_bytes)


def test_streaming_chain_drifts_by_the_kernel_shift():
    """Four 256-byte tensors in a chain of layers that let their output start up to 32
    bytes below their input (a depthwise-like access order). Whole tensors need 512
    bytes; overlapped, each output sits 32 bytes below its input: 256 + 3 * 32 = 352."""
    graph, steps = chain([8, 256, 256, 256, 256, 8], shift=-32)
    plan = plan_memory(graph, steps, aliases=[])
    assert plan.lower_bound_bytes == 512 and plan.arena_bytes == 352
    offsets = offsets_by_name(plan)
    assert [offsets[f"t{i}"] - offsets[f"t{i + 1}"] for i in (1, 2, 3)] == [32, 32, 32]
    assert [(p.step, p.max_shift) for p in plan.permits] == [(1, -32), (2, -32), (3, -32)]


def test_in_place_layers_reuse_their_input():
    """Element-wise layers (max shift 0) whose input dies write over it: one buffer's worth."""
    graph, steps = chain([8, 64, 64, 64, 8], shift=0)
    plan = plan_memory(graph, steps, aliases=[])
    assert plan.arena_bytes == 64 and set(plan.offsets) == {0}


def test_overlap_needs_the_input_to_die():
    """t1 feeds step 1 and step 2: step 1 may not write over it even if its kernel streams."""
    graph = vector_graph([8, 64, 64, 64], [((0,), (1,)), ((1,), (2,)), ((1, 2), (3,))])
    steps = [Step(op.inputs, op.outputs, shifts=((0, 0),)) for op in graph.ops]
    plan = plan_memory(graph, steps, aliases=[])
    assert [(p.source, p.target) for p in plan.permits] == []
    assert plan.arena_bytes == 128


def test_overlap_needs_every_input_read_from_the_buffer_described():
    """t3 = f(t1, t2), both dying there, with only input 0's access order described: t3
    may overlap t1, not t2."""
    graph = vector_graph([8, 64, 64, 64, 8], [((0,), (1,)), ((0,), (2,)), ((1, 2), (3,)), ((3,), (4,))])
    steps = [Step(op.inputs, op.outputs) for op in graph.ops]
    steps[2] = Step((1, 2), (3,), shifts=((0, 0),))
    plan = plan_memory(graph, steps, aliases=[])
    assert [(plan.buffers[p.source].name, plan.buffers[p.target].name) for p in plan.permits] == [("t1", "t3")]
    assert offsets_by_name(plan)["t3"] == offsets_by_name(plan)["t1"] and plan.arena_bytes == 128


def test_overlap_check_rejects_a_shift_beyond_the_permit():
    """Under a permit of -528 (a 3x3 convolution's), the output may start 528 bytes below
    its input, not 512: the check names both buffers. Without a permit, any shared byte
    between live buffers is refused."""
    source = Buffer("conv_in", 1024, 0, 1, (1,))
    target = Buffer("conv_out", 1024, 1, 2, (2,))
    permit = Permit(source=0, target=1, step=1, max_shift=-528)
    check_plan((source, target), (528, 0), 1552, (permit,))
    with pytest.raises(PlanError, match="'conv_out'.* -512 bytes from 'conv_in'.* -528"):
        check_plan((source, target), (512, 0), 1552, (permit,))
    with pytest.raises(PlanError, match="conv_in.*conv_out.*overlap while both are live"):
        check_plan((source, target), (528, 0), 1552)


def test_overlap_check_names_both_buffers():
    """A plan that puts two simultaneously live buffers one byte into each other is refused."""
    a = Buffer("conv_out", 64, 0, 2, tensors=(1,))
    b = Buffer("pool_out", 32, 1, 3, tensors=(2,))
    check_plan((a, b), (0, 64), 96)  # disjoint: accepted
    with pytest.raises(PlanError, match="conv_out.*pool_out"):
        check_plan((a, b), (0, 64 - ALIGNMENT), 96)


def test_overlap_check_allows_reuse_after_death():
    """Sharing bytes is fine when the lifetimes do not intersect."""
    a = Buffer("early", 64, 0, 1, tensors=(1,))
    b = Buffer("late", 64, 2, 3, tensors=(2,))
    check_plan((a, b), (0, 0), 64)


def test_misaligned_and_out_of_bounds_buffers_are_refused():
    a = Buffer("x", 16, 0, 0, tensors=(1,))
    with pytest.raises(PlanError, match="aligned"):
        check_plan((a,), (8,), 32)
    with pytest.raises(PlanError, match="outside"):
        check_plan((a,), (32,), 32)


def test_input_reshaped_into_output_is_refused():
    """A graph output that is only a reshape of an input would need a copy: clear error."""
    tensors = [Tensor(0, "in", (4, 4), "int8"), Tensor(1, "out", (16,), "int8")]
    graph = Graph("bad", tensors, [Op(0, "RESHAPE", (0,), (1,))], inputs=(0,), outputs=(1,))
    with pytest.raises(UnsupportedModelError, match="reshape"):
        plan_memory(graph, [], aliases=[Alias(0, 1)])


def concat_graph(sizes, concat_inputs, slice_offsets):
    """in -> t1, in -> t2; t3 = concat(`concat_inputs`); t3 -> out (int8 vectors of `sizes`)."""
    graph = vector_graph(sizes, [((0,), (1,)), ((0,), (2,)), (concat_inputs, (3,)), ((3,), (4,))])
    steps = [Step(op.inputs, op.outputs) for op in graph.ops]
    steps[2] = Step(steps[2].inputs, steps[2].outputs, slice_offsets=slice_offsets)
    return graph, steps


def test_concatenation_in_place_drops_the_copy():
    """The producers of t1 and t2 write straight into their slices of t3: the
    concatenation does not run, and t3's bytes are t1's then t2's."""
    graph, steps = concat_graph([8, 48, 16, 64, 8], (1, 2), (0, 48))
    plan = plan_memory(graph, steps, aliases=[])
    assert plan.order == (0, 1, 3)
    assert [b.tensors for b in plan.buffers] == [(1, 2, 3)]
    assert plan.storage[2].offset == plan.storage[1].offset + 48 and plan.storage[3] == plan.storage[1]
    assert plan.arena_bytes == 64


CONCAT_REFUSALS = {
    "inputs not contiguous in the output": ([8, 48, 16, 64, 8], (1, 2), None),
    "a graph input": ([8, 48, 16, 24, 8], (0, 2), (0, 8)),
    "one tensor in two slices": ([8, 48, 16, 96, 8], (1, 1), (0, 48)),
}


@pytest.mark.parametrize("case", CONCAT_REFUSALS)
def test_concatenation_copies_when_slices_cannot_be_written_in_place(case):
    """Refused, so the concatenation runs and copies: inputs that are not contiguous
    blocks of the output (no slice offsets), a graph input (it lives in the caller's
    buffer), one tensor in two slices."""
    graph, steps = concat_graph(*CONCAT_REFUSALS[case])
    plan = plan_memory(graph, steps, aliases=[])
    assert 2 in plan.order
    assert all(len(b.tensors) <= 1 for b in plan.buffers)


def branched_graph():
    """Two branches from the input, p1 -> q1 and p2 -> q2, joined: p (96 B) is big, q
    (16 B) small. The model runs both p first (p1, p2 and q1 live together: 208 B);
    running each branch to its end first needs 128 B (q1 + p2 + q2)."""
    graph = vector_graph([8, 96, 96, 16, 16, 8],
                         [((0,), (1,)), ((0,), (2,)), ((1,), (3,)), ((2,), (4,)), ((3, 4), (5,))])
    return graph, [Step(op.inputs, op.outputs) for op in graph.ops]


def test_op_order_lowers_the_peak_of_a_branched_graph():
    graph, steps = branched_graph()
    groups = alias_groups(graph, steps, [])
    assert schedule.candidate_orders(steps, groups) == [[0, 1, 2, 3, 4], [0, 2, 1, 3, 4]]
    plan = plan_memory(graph, steps, aliases=[])
    assert plan.order == (0, 2, 1, 3, 4)
    assert plan.lower_bound_bytes == 128 and plan.arena_bytes == 128


def test_op_order_falls_back_to_greedy_for_wide_graphs():
    """Forty parallel two-layer branches have 3^40 sets of layers run: the exact search
    gives up after MAX_MOVES and the greedy order is used, fast."""
    branches = 40
    sizes = [8] + [64] * branches + [4] * branches + [8]
    ops = [((0,), (1 + b,)) for b in range(branches)]
    ops += [((1 + b,), (1 + branches + b,)) for b in range(branches)]
    ops.append((tuple(1 + branches + b for b in range(branches)), (len(sizes) - 1,)))
    graph = vector_graph(sizes, ops)
    steps = [Step(op.inputs, op.outputs) for op in graph.ops]
    started = time.perf_counter()
    plan = plan_memory(graph, steps, aliases=[])
    assert time.perf_counter() - started < 5
    positions = {layer: position for position, layer in enumerate(plan.order)}
    assert all(positions[b] < positions[branches + b] for b in range(branches))  # still a topological order
    assert plan.lower_bound_bytes < branches * 64


def test_planning_is_deterministic():
    graph, steps = branched_graph()
    first, second = plan_memory(graph, steps, aliases=[]), plan_memory(graph, steps, aliases=[])
    assert first == second


@pytest.mark.parametrize("seed", range(5))
def test_every_strategy_gives_plans_the_check_accepts(seed):
    """Random buffers and permits: each strategy's plan passes the self-check, and the
    best is never above any of them nor below the lower bound."""
    rng = random.Random(seed)
    buffers, permits = [], []
    for i in range(14):
        first = rng.randrange(8)
        buffers.append(Buffer(f"b{i}", rng.choice([16, 40, 64, 100, 256]), first, first + rng.randrange(3), (i,)))
    for i, source in enumerate(buffers):
        for j, target in enumerate(buffers):
            if i != j and source.last_step == target.first_step and rng.random() < 0.3:
                permits.append(Permit(i, j, source.last_step, rng.choice([-64, -17, 0, 5])))
    problem = placement.make_problem(buffers, permits)
    best = placement.best_placement(problem)
    for name, strategy in placement.STRATEGIES:
        order = strategy(problem, best)
        if order is not None:
            offsets = placement.place_in_order(problem, order)
            check_plan(tuple(buffers), tuple(offsets), placement.arena_of(problem, offsets), tuple(permits))
            assert best.arena_bytes <= placement.arena_of(problem, offsets), name
    assert best.arena_bytes >= problem.lower_bound
