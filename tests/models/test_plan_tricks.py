"""The memory planner's tricks on the host, against TFLite Micro: overlapped and in-place
buffers, in-place concatenation and the op order leave every output byte unchanged; and
each overlap is as tight as it can be: the layer's kernel, run with its output placed at
the largest shift the planner allows, is bit-exact, and one byte further it is not.

The tight-rule check relocates one input/output pair into fresh bytes above the arena
(nothing else lives there) at a chosen shift, renders the library with that plan, builds
it with the host gcc and compares with TFLM."""

import dataclasses

import pytest
from plan_models import STREAMING_LAYERS, branched_model, concatenation_model, kernels_model

from tinygen import codegen
from tinygen.compiler import CompiledModel, PlannedModel, lower, plan, plan_model, write_library
from tinygen.errors import PlanError
from tinygen.frontend.tflite import load
from tinygen.planner import ALIGNMENT, Storage, align, check_plan
from tinygen.verify import HostRunner, VerifyResult, check, random_inputs, verify_host


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("plan_models")
    return {"kernels": kernels_model(directory / "kernels.tflite", seed=3),
            "concatenation": concatenation_model(directory / "concatenation.tflite", seed=4),
            "branched": branched_model(directory / "branched.tflite", seed=5)}


def run_with_plan(planned: PlannedModel, memory_plan, directory, seed: int = 1) -> VerifyResult:
    """Render, build and run the model with `memory_plan` (checked or not); compare with TFLM."""
    library = codegen.render_library("tricks", planned.graph, list(planned.layers), memory_plan,
                                     source=planned.source.name, source_sha256="")
    write_library(library, directory)
    compiled = CompiledModel(source=planned.source, graph=planned.graph, layers=planned.layers, plan=memory_plan,
                             name="tricks", library=library, directory=directory)
    return check(compiled, HostRunner(compiled, directory), random_inputs(planned.graph, 4, seed), "host")


def relocated(memory_plan, permit, shift: int):
    """The plan with the permit's input and output moved above the arena, the output
    starting `shift` bytes above the input; and the two new offsets."""
    base = memory_plan.arena_bytes + max(0, -shift)
    moved = {permit.source: base, permit.target: base + shift}
    storage = dict(memory_plan.storage)
    for index, offset in moved.items():
        for tensor in memory_plan.buffers[index].tensors:
            storage[tensor] = Storage("arena", offset + storage[tensor].offset - memory_plan.offsets[index])
    offsets = tuple(moved.get(i, o) for i, o in enumerate(memory_plan.offsets))
    top = max(offset + memory_plan.buffers[index].size for index, offset in moved.items())
    return dataclasses.replace(memory_plan, storage=storage, arena_bytes=align(top), offsets=offsets)


def permits_of(planned: PlannedModel, layer_name: str):
    """The permits of the streaming layer named `layer_name` in the Keras model."""
    return [p for p in planned.plan.permits if f"/{layer_name}/" in planned.plan.buffers[p.target].name]


def test_every_streaming_kernel_may_overlap_and_stays_bit_exact(models):
    """Each streaming layer's input dies where its output is born: the plan may overlap
    them (ADD: either input), does where it pays, and outputs equal TFLM's."""
    planned = plan_model(models["kernels"])
    assert {name: len(permits_of(planned, name)) for name in STREAMING_LAYERS} == {
        name: 2 if name == "add_test" else 1 for name in STREAMING_LAYERS}
    assert planned.plan.arena_bytes < planned.plan.lower_bound_bytes
    result = verify_host(models["kernels"], count=5, seed=2)
    assert result.bit_exact and result.mismatches == 0, result.first_mismatch


OVERLAPS = [(name, position) for name in STREAMING_LAYERS for position in range(2 if name == "add_test" else 1)]


@pytest.mark.parametrize("name, which", OVERLAPS, ids=[f"{name}-{which}" for name, which in OVERLAPS])
def test_overlap_limit_is_exact_and_one_byte_more_breaks_it(models, name, which, tmp_path):
    """At the largest shift the access order allows, the kernel's outputs are bit-exact;
    one byte higher, a write lands on input still to be read, outputs differ, and the
    self-check refuses the plan."""
    planned = plan_model(models["kernels"])
    permit = permits_of(planned, name)[which]
    at_limit = run_with_plan(planned, relocated(planned.plan, permit, permit.max_shift), tmp_path / "limit")
    assert at_limit.bit_exact, at_limit.first_mismatch
    beyond = relocated(planned.plan, permit, permit.max_shift + 1)
    assert run_with_plan(planned, beyond, tmp_path / "beyond").mismatches > 0
    with pytest.raises(PlanError, match="access order allows"):
        check_plan(beyond.buffers, beyond.offsets, beyond.arena_bytes, beyond.permits)


def test_concatenation_written_in_place(models, tmp_path):
    """The two dense layers write straight into their slices of the concatenation, which
    does not run; outputs equal TFLM's. Misplacing the second slice by one byte does not."""
    planned = plan_model(models["concatenation"])
    graph, memory_plan = planned.graph, planned.plan
    assert [layer.op.kind for layer in planned.layers] == ["FULLY_CONNECTED"] * 3
    concat = next(op for op in graph.ops if op.kind == "CONCATENATION")
    first, second = (memory_plan.storage[t].offset for t in concat.inputs)
    assert memory_plan.storage[concat.outputs[0]].offset == first
    assert second == first + graph.tensors[concat.inputs[0]].nbytes
    result = verify_host(models["concatenation"], count=5, seed=3)
    assert result.bit_exact and result.mismatches == 0, result.first_mismatch
    storage = dict(memory_plan.storage)
    storage[concat.inputs[1]] = Storage("arena", second + 1)
    misplaced = dataclasses.replace(memory_plan, storage=storage, arena_bytes=memory_plan.arena_bytes + ALIGNMENT)
    assert run_with_plan(planned, misplaced, tmp_path).mismatches > 0


def test_op_order_reordered_branches_bit_exact(models, tmp_path):
    """The model given with both wide layers first (they are live together) is planned
    in the order that runs each branch to its end: a smaller arena, the same outputs."""
    path = models["branched"]
    graph = load(path)
    wide = [op for op in graph.ops if graph.tensors[op.outputs[0]].nbytes == 96]
    narrow = [op for op in graph.ops if graph.tensors[op.outputs[0]].nbytes == 4 and op.kind == "FULLY_CONNECTED"]
    rest = [op for op in graph.ops if op not in wide and op not in narrow]
    graph.ops = wide + narrow + rest  # a valid order, and the worst one
    layers, aliases = lower(graph, "tinygen")
    executed, memory_plan = plan(graph, layers, aliases)
    kinds = [graph.tensors[layer.op.outputs[0]].nbytes for layer in executed]
    assert kinds == [96, 4, 96, 4, 4, 3]
    assert memory_plan.order == (0, 2, 1, 3, 4, 5)
    assert memory_plan.lower_bound_bytes == 96 + 16 + 16 < 2 * 96  # the 4-byte tensors take 16 aligned bytes
    result = run_with_plan(PlannedModel(source=path, graph=graph, layers=tuple(executed), plan=memory_plan),
                           memory_plan, tmp_path)
    assert result.bit_exact, result.first_mismatch
