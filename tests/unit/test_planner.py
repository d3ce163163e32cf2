"""Planner unit tests on hand-built graphs with hand-computed plans."""

import pytest

from tinygen.errors import PlanError, UnsupportedModelError
from tinygen.ir import Graph, Op, Tensor
from tinygen.planner import ALIGNMENT, Buffer, Step, check_plan, plan_memory


def chain_graph(sizes):
    """input -> t1 -> t2 -> ... -> output, each tensor an int8 vector of the given size."""
    tensors = [Tensor(i, f"t{i}", (size,), "int8") for i, size in enumerate(sizes)]
    ops = [Op(i, "RELU", (i,), (i + 1,)) for i in range(len(sizes) - 1)]
    graph = Graph("chain", tensors, ops, inputs=(0,), outputs=(len(sizes) - 1,))
    steps = [Step(inputs=op.inputs, outputs=op.outputs) for op in ops]
    return graph, steps


def test_chain_plan_matches_hand_computed_offsets():
    """in -> A(100) -> B(50) -> C(200) -> out: C (largest) at 0, A (dead before C is born)
    also at 0, B (live with both) above C at the next aligned offset."""
    graph, steps = chain_graph([8, 100, 50, 200, 8])
    plan = plan_memory(graph, steps, aliases=[])
    offsets = {b.name: o for b, o in zip(plan.buffers, plan.offsets)}
    assert offsets == {"t1": 0, "t2": 208, "t3": 0}
    assert plan.arena_bytes == 272
    assert plan.storage[0].place == "input" and plan.storage[4].place == "output"


def test_lifetimes_span_first_write_to_last_read():
    """A tensor read by a later layer (a skip connection) stays live until that layer."""
    tensors = [Tensor(i, f"t{i}", (32,), "int8") for i in range(5)]
    ops = [Op(0, "RELU", (0,), (1,)), Op(1, "RELU", (1,), (2,)), Op(2, "RELU", (2,), (3,)),
           Op(3, "ADD", (1, 3), (4,))]
    graph = Graph("skip", tensors, ops, inputs=(0,), outputs=(4,))
    plan = plan_memory(graph, [Step(op.inputs, op.outputs) for op in ops], aliases=[])
    lives = {b.name: (b.first_step, b.last_step) for b in plan.buffers}
    assert lives == {"t1": (0, 3), "t2": (1, 2), "t3": (2, 3)}
    # t1 is live with both others; t2 and t3 are live together at step 2: three slots.
    assert plan.arena_bytes == 3 * 32


def test_alias_shares_one_buffer_and_extends_its_life():
    """A RESHAPE output is its input's bytes: one buffer, live until the alias's last read."""
    tensors = [Tensor(0, "in", (4, 4), "int8"), Tensor(1, "a", (4, 4), "int8"), Tensor(2, "a_flat", (16,), "int8"),
               Tensor(3, "out", (16,), "int8")]
    ops = [Op(0, "RELU", (0,), (1,)), Op(1, "RESHAPE", (1,), (2,)), Op(2, "RELU", (2,), (3,))]
    graph = Graph("alias", tensors, ops, inputs=(0,), outputs=(3,))
    steps = [Step(ops[0].inputs, ops[0].outputs), Step(ops[2].inputs, ops[2].outputs)]
    plan = plan_memory(graph, steps, aliases=[(1, 2)])
    assert len(plan.buffers) == 1
    assert plan.buffers[0].tensors == (1, 2) and (plan.buffers[0].first_step, plan.buffers[0].last_step) == (0, 1)
    assert plan.storage[1] == plan.storage[2]


def test_scratch_lives_only_during_its_layer():
    """Scratch of layer 1 may reuse the bytes of a tensor dead by then, never a live one."""
    graph, steps = chain_graph([8, 64, 64, 8])
    steps[1] = Step(steps[1].inputs, steps[1].outputs, scratch_bytes=48)
    plan = plan_memory(graph, steps, aliases=[])
    scratch = [b for b in plan.buffers if b.scratch_of_step == 1]
    assert len(scratch) == 1 and (scratch[0].first_step, scratch[0].last_step) == (1, 1)
    assert plan.scratch_offsets[1] == 128  # t1 at 0 and t2 at 64 are both live at step 1
    assert plan.arena_bytes == 176


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
        plan_memory(graph, [], aliases=[(0, 1)])
