"""ADD and MUL: bit-exact sweeps against TFLite Micro, the compile-time broadcast loop
nest, and the refusals."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

import modelgen
from tflite_builder import OperatorSpec, TensorSpec, write_model
from checks import assert_bit_exact
from tinygen.compiler import load_graph
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import lookup
from tinygen.ops.elementwise import BroadcastLoops, broadcast_loops, broadcast_shape
from tinygen.quant import ACTIVATION_RELU, ACTIVATION_RELU6, ACTIVATION_RELU_N1_TO_1

KERAS_MERGE_LAYERS = {"ADD": "Add", "MUL": "Multiply"}


def only_op(path: Path, kind: str) -> tuple[Graph, Op]:
    """The graph and its single op of `kind` (the test's subject)."""
    graph = load_graph(path)
    matching = [op for op in graph.ops if op.kind == kind]
    assert len(matching) == 1, [op.kind for op in graph.ops]
    return graph, matching[0]


def merge_model(kind: str, shapes: list[tuple[int, ...]], path: Path, seed: int, activation=None, **convert_args):
    """A Keras Add or Multiply of inputs of `shapes`, optionally followed by `activation`."""
    k = modelgen.keras()

    def build(*inputs):
        merged = getattr(k.layers, KERAS_MERGE_LAYERS[kind])()(list(inputs))
        return activation(merged) if activation is not None else merged

    return modelgen.single_op_model(build, shapes, path, seed=seed, **convert_args)


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
@pytest.mark.parametrize("shape, seed, input_range", [
    ((4, 4, 3), 1, 1.0), ((5, 7, 13), 2, 4.0), ((9,), 3, 0.25), ((2, 3, 4, 5), 4, 1.0)])
def test_same_shape(tmp_path, kind, shape, seed, input_range):
    """Two inputs of equal shape (1-D to 5-D, odd channel counts, several input ranges)
    give TFLM's bytes exactly; the walk is a single fused loop."""
    path = merge_model(kind, [shape, shape], tmp_path / "model.tflite", seed, input_range=input_range)
    graph, op = only_op(path, kind)
    output = graph.tensors[op.outputs[0]]
    assert lookup(kind).lower(graph, op, "tinygen").params["loop_extents"] == (output.num_elements,)
    assert_bit_exact(path, seed)


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
def test_same_tensor_twice(tmp_path, kind):
    """x + x and x * x: one tensor read as both operands."""
    merge = getattr(modelgen.keras().layers, KERAS_MERGE_LAYERS[kind])()
    path = modelgen.single_op_model(lambda x: merge([x, x]), (4, 6, 5), tmp_path / "model.tflite", seed=5)
    _, op = only_op(path, kind)
    assert op.inputs[0] == op.inputs[1]
    assert_bit_exact(path, seed=5)


BROADCAST_SHAPES = [
    ((4, 4, 5), (1, 1, 5)),       # a per-channel vector, as in squeeze-and-excite
    ((1, 1, 5), (4, 4, 5)),       # the same with the operands swapped
    ((6, 5, 7), (6, 5, 1)),       # a per-pixel scalar
    ((3, 1, 5), (1, 4, 1)),       # both operands broadcast, along different axes
    ((7,), (1,)),                 # one value against a vector
    ((2, 3, 4, 5), (1, 3, 1, 5)),  # 5-D
]


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=lambda s: f"{s[0]}-{s[1]}")
def test_broadcast(tmp_path, kind, shapes):
    """Operands of different shapes broadcast as NumPy does, matching TFLM's
    BroadcastBinaryFunction6DSlow byte for byte."""
    seed = 10 + BROADCAST_SHAPES.index(shapes)
    path = merge_model(kind, list(shapes), tmp_path / "model.tflite", seed)
    graph, op = only_op(path, kind)
    assert graph.tensors[op.inputs[0]].shape != graph.tensors[op.inputs[1]].shape
    assert_bit_exact(path, seed)


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
@pytest.mark.parametrize("activation, max_value", [(ACTIVATION_RELU, None), (ACTIVATION_RELU6, 6.0)])
def test_fused_activation(tmp_path, kind, activation, max_value):
    """A ReLU or ReLU6 after the op is fused into it. (Calibration gives the fused op the
    activation's own output range, so here the clamp never cuts; see
    test_fused_activation_clamps for clamps that do.)"""
    k = modelgen.keras()
    path = merge_model(kind, [(5, 3, 7), (5, 3, 7)], tmp_path / "model.tflite", seed=20 + activation,
                       activation=k.layers.ReLU(max_value=max_value), input_range=4.0)
    _, op = only_op(path, kind)
    assert op.options["fused_activation_function"] == activation
    assert_bit_exact(path, seed=20 + activation)


def hand_written_model(path: Path, kind: str, quantizations: list[tuple[float, int]], activation: int,
                       shapes=((1, 6, 5, 7), (1, 6, 5, 7), (1, 6, 5, 7))) -> Path:
    """One ADD or MUL with chosen scales and fused activation (tensors: input1, input2, output)."""
    tensors = [TensorSpec(shape, "int8", quantization) for shape, quantization in zip(shapes, quantizations)]
    return write_model(path, tensors, [OperatorSpec(kind, (0, 1), (2,), fused_activation=activation)],
                       inputs=(0, 1), outputs=(2,))


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
@pytest.mark.parametrize("activation", [ACTIVATION_RELU, ACTIVATION_RELU6, ACTIVATION_RELU_N1_TO_1])
def test_fused_activation_clamps(tmp_path, kind, activation):
    """A fused activation whose bounds fall inside the int8 range (a converter never makes
    one: it gives the op the activation's own output range) clamps exactly as TFLM."""
    quantizations = [(0.04, -5), (0.03, 7), (0.05, 3)]
    path = hand_written_model(tmp_path / "model.tflite", kind, quantizations, activation)
    assert_bit_exact(path, seed=25 + activation)


@pytest.mark.parametrize("kind, quantizations", [
    ("ADD", [(0.001, 4), (0.1, -9), (0.1, 0)]),       # input scales a hundredfold apart
    ("ADD", [(0.2, 0), (0.0021, 0), (0.0019, -3)]),   # a coarse and a fine input, a fine output
    ("MUL", [(0.5, 0), (0.5, 1), (0.2, 0)]),          # rescale 1.25: a left shift
    ("MUL", [(0.001, -128), (0.002, 127), (1.0e-4, 0)]),
])
def test_extreme_scales(tmp_path, kind, quantizations):
    """Scales far from what a converter calibrates: very unequal ADD inputs and a MUL
    rescale above one still give TFLM's bytes."""
    path = hand_written_model(tmp_path / "model.tflite", kind, quantizations, activation=0)
    assert_bit_exact(path, seed=27)


def test_hand_written_broadcast_of_a_constant(tmp_path):
    """A constant [1, 1, 1, C] operand in front (input1) of a 4-D input broadcasts from flash."""
    constant = np.arange(-3, 4, dtype=np.int8).reshape(1, 1, 1, 7) * 17
    tensors = [TensorSpec((1, 1, 1, 7), "int8", (0.02, 1), data=constant),
               TensorSpec((1, 6, 5, 7), "int8", (0.03, -2)), TensorSpec((1, 6, 5, 7), "int8", (0.04, 5))]
    path = write_model(tmp_path / "model.tflite", tensors, [OperatorSpec("MUL", (0, 1), (2,), fused_activation=0)],
                       inputs=(1,), outputs=(2,))
    assert_bit_exact(path, seed=28)


def constant_lambda(name: str):
    """Keras Lambda bodies that combine the input with a constant, by name."""
    vector = np.linspace(-1.5, 2.0, 7, dtype=np.float32)
    return {
        "mul_vector": lambda t: t * vector,
        "add_channel_vector": lambda t: t + vector.reshape(1, 1, 1, 7),
        "mul_scalar": lambda t: t * 0.7,
        "add_scalar": lambda t: t + 0.3,
        "add_full_tensor": lambda t: t + np.arange(3 * 2 * 7, dtype=np.float32).reshape(1, 3, 2, 7) / 20.0,
    }[name]


@pytest.mark.parametrize("name, kind", [("mul_vector", "MUL"), ("add_channel_vector", "ADD"), ("mul_scalar", "MUL"),
                                        ("add_scalar", "ADD"), ("add_full_tensor", "ADD")])
def test_constant_operand(tmp_path, name, kind):
    """A constant operand (a vector, a [1, 1, 1, C] tensor, a scalar or a full tensor) is
    stored in flash and gives TFLM's bytes. (The converter always puts the constant
    second; test_hand_written_broadcast_of_a_constant puts it first.)"""
    k = modelgen.keras()
    path = modelgen.single_op_model(lambda x: k.layers.Lambda(constant_lambda(name))(x), (3, 2, 7),
                                    tmp_path / "model.tflite", seed=30)
    graph, op = only_op(path, kind)
    assert sum(graph.tensors[i].is_constant for i in op.inputs) == 1
    assert_bit_exact(path, seed=30)


@pytest.mark.parametrize("channels, seed", [(5, 40), (16, 41)])
def test_squeeze_excite(tmp_path, channels, seed):
    """x * Reshape(GlobalAveragePooling(x)): MEAN then a MUL of [1, H, W, C] by the
    converter's [1, C], broadcast over H and W."""
    k = modelgen.keras()

    def squeeze_excite(x):
        pooled = k.layers.GlobalAveragePooling2D()(x)
        return k.layers.Multiply()([x, k.layers.Reshape((1, 1, channels))(pooled)])

    path = modelgen.single_op_model(squeeze_excite, (6, 4, channels), tmp_path / "model.tflite", seed=seed)
    only_op(path, "MUL")
    assert_bit_exact(path, seed)


@pytest.mark.parametrize("channels, seed, relu", [(3, 50, False), (5, 51, True)])
def test_residual_add(tmp_path, channels, seed, relu):
    """x + conv(conv(x)), optionally followed by ReLU: ADD of operands with different
    scales, as in a ResNet block."""
    k = modelgen.keras()

    def residual(x):
        branch = k.layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
        branch = k.layers.Conv2D(channels, 3, padding="same")(branch)
        merged = k.layers.Add()([x, branch])
        return k.layers.ReLU()(merged) if relu else merged

    path = modelgen.single_op_model(residual, (6, 6, channels), tmp_path / "model.tflite", seed=seed)
    graph, op = only_op(path, "ADD")
    scales = {graph.tensors[i].quant.scale for i in op.inputs}
    assert len(scales) == 2
    assert op.options["fused_activation_function"] == (ACTIVATION_RELU if relu else 0)
    assert_bit_exact(path, seed)


@pytest.mark.parametrize("shape1, shape2, output_shape, expected", [
    ((1, 4, 4, 3), (1, 4, 4, 3), (1, 4, 4, 3), BroadcastLoops((48,), (1,), (1,))),
    ((1, 4, 4, 3), (1, 1, 1, 3), (1, 4, 4, 3), BroadcastLoops((16, 3), (3, 1), (0, 1))),
    ((1, 4, 4, 3), (3,), (1, 4, 4, 3), BroadcastLoops((16, 3), (3, 1), (0, 1))),
    ((1, 1, 1, 3), (1, 4, 4, 3), (1, 4, 4, 3), BroadcastLoops((16, 3), (0, 1), (3, 1))),
    ((1, 4, 4, 3), (), (1, 4, 4, 3), BroadcastLoops((48,), (1,), (0,))),
    ((1, 4, 4, 3), (1, 4, 4, 1), (1, 4, 4, 3), BroadcastLoops((16, 3), (3, 1), (1, 0))),
    ((1, 3, 1, 5), (1, 1, 4, 1), (1, 3, 4, 5), BroadcastLoops((3, 4, 5), (5, 0, 1), (0, 1, 0))),
    ((1, 1), (1,), (1, 1), BroadcastLoops((1,), (0,), (0,))),
])
def test_broadcast_loops_by_hand(shape1, shape2, output_shape, expected):
    """Hand-computed loop nests: equal shapes fuse into one loop, a channel vector needs
    two, dimensions of extent 1 disappear."""
    assert broadcast_loops(shape1, shape2, output_shape) == expected


def walk(loops: BroadcastLoops) -> tuple[list[int], list[int]]:
    """The element indices of both inputs in output order, as tg_elementwise.c walks them."""
    indices1, indices2 = [], []
    for position in itertools.product(*(range(extent) for extent in loops.extents)):
        indices1.append(sum(p * s for p, s in zip(position, loops.input1_strides)))
        indices2.append(sum(p * s for p, s in zip(position, loops.input2_strides)))
    return indices1, indices2


def test_broadcast_loops_match_numpy():
    """On 300 seeded random pairs of compatible shapes (0-D to 6-D), the loop nest reads
    exactly the elements NumPy's broadcasting pairs up, and never has more loops than
    the output has dimensions."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        rank = int(rng.integers(0, 7))
        output_shape = tuple(int(d) for d in rng.integers(1, 4, size=rank))
        shape1 = tuple(d if rng.random() < 0.6 else 1 for d in output_shape)[int(rng.integers(0, rank + 1)):]
        shape2 = tuple(d if rng.random() < 0.6 else 1 for d in output_shape)[int(rng.integers(0, rank + 1)):]
        output_shape = broadcast_shape(shape1, shape2)
        loops = broadcast_loops(shape1, shape2, output_shape)
        indices1, indices2 = walk(loops)
        numpy1 = np.broadcast_to(np.arange(int(np.prod(shape1))).reshape(shape1), output_shape).reshape(-1)
        numpy2 = np.broadcast_to(np.arange(int(np.prod(shape2))).reshape(shape2), output_shape).reshape(-1)
        assert indices1 == numpy1.tolist() and indices2 == numpy2.tolist(), (shape1, shape2)
        assert len(loops.extents) <= max(1, len(output_shape))


INT8 = Quantization((0.05,), (0,))


def binary_graph(kind: str, shape1, shape2, output_shape, *, input_scales=(0.05, 0.05), output_scale=0.05,
                 constants=(False, False), per_channel=False, activation=0) -> tuple[Graph, Op]:
    """A one-op ADD or MUL graph over int8 tensors, for the refusal tests."""
    tensors = []
    for index, (shape, scale, constant) in enumerate(zip((shape1, shape2), input_scales, constants)):
        quant = Quantization((scale, scale), (0, 0), axis=len(shape) - 1) if per_channel and index == 0 \
            else Quantization((scale,), (0,))
        data = np.zeros(shape, dtype=np.int8) if constant else None
        tensors.append(Tensor(index, f"in{index}", tuple(shape), "int8", quant, data))
    tensors.append(Tensor(2, "out", tuple(output_shape), "int8", Quantization((output_scale,), (0,))))
    op = Op(index=0, kind=kind, inputs=(0, 1), outputs=(2,), options={"fused_activation_function": activation})
    graph_inputs = tuple(i for i in (0, 1) if not constants[i])
    return Graph(name="g", tensors=tensors, ops=[op], inputs=graph_inputs, outputs=(2,)), op


@pytest.mark.parametrize("kind", ["ADD", "MUL"])
@pytest.mark.parametrize("arguments, reason", [
    (dict(shape1=(1, 4, 3), shape2=(1, 4, 2), output_shape=(1, 4, 3)), "do not broadcast"),
    (dict(shape1=(1, 4, 3), shape2=(1, 1, 3), output_shape=(1, 4, 1)), "is not the broadcast shape"),
    (dict(shape1=(1, 4, 3), shape2=(1, 1, 3), output_shape=(1, 4, 3), constants=(True, True)), "both operands"),
    (dict(shape1=(1, 4, 2), shape2=(1, 4, 2), output_shape=(1, 4, 2), per_channel=True), "per-channel"),
    (dict(shape1=(1,) * 7, shape2=(1,) * 7, output_shape=(1,) * 7), "at most 6-D"),
    (dict(shape1=(1, 4, 0), shape2=(1, 4, 0), output_shape=(1, 4, 0)), "empty"),
    (dict(shape1=(1, 4), shape2=(1, 4), output_shape=(1, 4), activation=4), "not supported"),
])
def test_refusals(kind, arguments, reason):
    """Operands tinygen cannot compile are refused with a reason naming the cause."""
    graph, op = binary_graph(kind, **arguments)
    refusal = lookup(kind).check(graph, op)
    assert refusal is not None and reason in refusal


def test_add_refuses_a_rescale_above_one():
    """TFLM aborts when ADD's output rescale 2 * max input scale / (2^20 * output scale) is
    not below one; tinygen refuses the op instead."""
    graph, op = binary_graph("ADD", (1, 4), (1, 4), (1, 4), input_scales=(1.0, 1.0), output_scale=1.0e-7)
    assert "not below one" in lookup("ADD").check(graph, op)
    graph, op = binary_graph("ADD", (1, 4), (1, 4), (1, 4), input_scales=(1.0, 1.0), output_scale=1.0e-3)
    assert lookup("ADD").check(graph, op) is None
