"""RELU, RELU6, LEAKY_RELU, LOGISTIC, TANH and HARD_SWISH: tables and models against TFLite Micro.

tinygen computes each activation's 256-entry table at compile time by emulating TFLM's
integer algorithm. The table tests feed every int8 value through TFLM's interpreter, on a
one-op model whose quantization parameters are rewritten to many seeded random (and a
few extreme) values, and compare all 256 outputs with the table. The model tests compile
small Keras models in which the activation is its own op (after a Dense, a Conv2D or a
Concatenation, or on the model input) and compare the generated C with TFLM.
"""

from __future__ import annotations

import numpy as np
import pytest
from modelgen import keras, single_op_model, with_quantization

from checks import assert_bit_exact
from tinygen.frontend.tflite import load
from tinygen.ir import Quantization
from tinygen.ops import lookup
from tinygen.ops.unary import activation_table
from tinygen.reference import graph_arena_size, reference_outputs

EVERY_INT8 = np.arange(-128, 128, dtype=np.int8)


def hard_swish(x):
    """x * relu6(x + 3) / 6, which the converter turns into one HARD_SWISH."""
    return x * keras().layers.ReLU(6.0)(x + 3.0) / 6.0


# kind -> (Keras layer function, output quantization TFLM assumes or None for any)
ACTIVATIONS = {
    "LOGISTIC": (lambda x: keras().layers.Activation("sigmoid")(x), (1.0 / 256.0, -128)),
    "TANH": (lambda x: keras().layers.Activation("tanh")(x), (1.0 / 128.0, 0)),
    "RELU": (lambda x: keras().layers.ReLU()(x), None),
    "RELU6": (lambda x: keras().layers.ReLU(max_value=6.0)(x), None),
    "LEAKY_RELU": (lambda x: keras().layers.LeakyReLU(alpha=0.3)(x), None),
    "LEAKY_RELU-negative-alpha": (lambda x: keras().layers.LeakyReLU(alpha=-0.2)(x), None),
    "LEAKY_RELU-alpha-above-one": (lambda x: keras().layers.LeakyReLU(alpha=1.7)(x), None),
    "HARD_SWISH": (hard_swish, None),
}
# (input scale, input zero point, output scale, output zero point) at the edges: extreme
# zero points, tiny and large scales (saturation everywhere / nowhere), equal quantization.
EXTREME_QUANTIZATIONS = [(0.5, -128, 0.05, 127), (0.001, 127, 0.2, -128), (0.02, 0, 0.02, 0),
                         (3.0, 64, 0.9, -64), (0.0002, -100, 0.003, 100)]
RANDOM_QUANTIZATIONS = 40


def quantizations(kind: str, fixed_output: tuple[float, int] | None, seed: int):
    """The extreme parameter sets and seeded random ones. HARD_SWISH keeps its output
    scale above input_scale / 128, the range TFLM accepts."""
    rng = np.random.default_rng(seed)
    sets = list(EXTREME_QUANTIZATIONS)
    for _ in range(RANDOM_QUANTIZATIONS):
        input_scale = float(10.0 ** rng.uniform(-3.5, 0.5))
        output_scale = input_scale * float(10.0 ** rng.uniform(-1.5, 1.5))
        sets.append((input_scale, int(rng.integers(-128, 128)), output_scale, int(rng.integers(-128, 128))))
    for input_scale, input_zero_point, output_scale, output_zero_point in sets:
        if fixed_output:
            output_scale, output_zero_point = fixed_output
        if kind == "HARD_SWISH":
            output_scale = max(output_scale, input_scale / 64.0)
        yield input_scale, input_zero_point, output_scale, output_zero_point


@pytest.mark.parametrize("case", list(ACTIVATIONS))
def test_table_equals_tflm_for_every_input(tmp_path, case):
    """For each activation and 45 quantizations (random, extreme zero points, scales that
    saturate everything or nothing), all 256 table entries equal TFLM's output for that
    input value: the emulated multipliers, radii, gemmlowp fixed-point functions, int16
    arithmetic (HARD_SWISH) and clamps are TFLM's, not approximations of them."""
    layer_fn, fixed_output = ACTIVATIONS[case]
    path = single_op_model(layer_fn, (256,), tmp_path / "activation.tflite", seed=1)
    kind = case.split("-")[0]
    graph = load(path)
    assert [op.kind for op in graph.ops] == [kind]
    source, result = graph.inputs[0], graph.outputs[0]
    for index, (input_scale, input_zero_point, output_scale, output_zero_point) in enumerate(
            quantizations(kind, fixed_output, seed=len(case))):
        quantization = {source: (input_scale, input_zero_point), result: (output_scale, output_zero_point)}
        patched = with_quantization(path, tmp_path / f"patched{index}.tflite", quantization)
        patched_graph = load(patched)
        (op,) = patched_graph.ops
        assert lookup(kind).check(patched_graph, op) is None
        expected = reference_outputs(patched, [[EVERY_INT8.reshape(1, 256)]], 1,
                                     graph_arena_size(patched_graph))[0][0].reshape(-1)
        table = activation_table(patched_graph, op)
        differing = np.flatnonzero(table != expected)
        assert differing.size == 0, (f"quantization {input_scale:g}/{input_zero_point} -> "
                                     f"{output_scale:g}/{output_zero_point}: input {differing[0] - 128} gives "
                                     f"{table[differing[0]]}, TFLM {expected[differing[0]]}")


def dense(activation):
    return lambda x: keras().layers.Dense(16, activation=activation)(x)


def conv(activation):
    return lambda x: keras().layers.Conv2D(4, 3, padding="same", activation=activation)(x)


def after_concatenation(layer):
    return lambda x: layer()(keras().layers.Concatenate()([x, x]))


# (id, layer function, input shape, TFLite kinds expected)
MODEL_CASES = [
    ("dense-sigmoid", dense("sigmoid"), (24,), ["FULLY_CONNECTED", "LOGISTIC"]),
    ("dense-tanh", dense("tanh"), (24,), ["FULLY_CONNECTED", "TANH"]),
    ("conv-sigmoid", conv("sigmoid"), (6, 5, 2), ["CONV_2D", "LOGISTIC"]),
    ("conv-tanh", conv("tanh"), (6, 5, 2), ["CONV_2D", "TANH"]),
    ("input-sigmoid", lambda x: keras().layers.Activation("sigmoid")(x), (3, 7, 4), ["LOGISTIC"]),
    ("input-relu", lambda x: keras().layers.ReLU()(x), (3, 7, 4), ["RELU"]),
    ("input-relu6", lambda x: keras().layers.ReLU(max_value=6.0)(x), (50,), ["RELU6"]),
    ("concat-relu", after_concatenation(lambda: keras().layers.ReLU()), (4, 6), ["CONCATENATION", "RELU"]),
    ("concat-relu6", after_concatenation(lambda: keras().layers.ReLU(max_value=6.0)), (4, 6),
     ["CONCATENATION", "RELU6"]),
    ("dense-leaky-relu", lambda x: keras().layers.LeakyReLU(alpha=0.1)(keras().layers.Dense(16)(x)), (24,),
     ["FULLY_CONNECTED", "LEAKY_RELU"]),
    ("dense-hard-swish", lambda x: hard_swish(keras().layers.Dense(16)(x)), (24,), ["FULLY_CONNECTED", "HARD_SWISH"]),
]
INPUT_RANGES = [1.0, 10.0]


@pytest.mark.parametrize("input_range", INPUT_RANGES)
@pytest.mark.parametrize("case", range(len(MODEL_CASES)), ids=[case[0] for case in MODEL_CASES])
def test_activation_model(tmp_path, case, input_range):
    """Each activation as a separate op, after a Dense, a Conv2D or a Concatenation or on
    the model input, with inputs spanning +-1 and +-10 (so the sigmoid and tanh saturate
    and ReLU6 clamps at 6), compiles to C that equals TFLM byte for byte."""
    name, layer_fn, shape, kinds = MODEL_CASES[case]
    seed = case * 10 + int(input_range)
    path = single_op_model(layer_fn, shape, tmp_path / f"{name}.tflite", seed=seed, input_range=input_range)
    assert [op.kind for op in load(path).ops] == kinds
    assert_bit_exact(path, seed=seed)


def logistic_graph(tmp_path):
    path = single_op_model(ACTIVATIONS["LOGISTIC"][0], (8,), tmp_path / "logistic.tflite")
    graph = load(path)
    (op,) = graph.ops
    assert lookup(op.kind).check(graph, op) is None
    return graph, op


def test_logistic_refuses_other_output_zero_point(tmp_path):
    """A LOGISTIC whose output zero point is not -128 is refused, as TFLM's Prepare refuses it."""
    graph, op = logistic_graph(tmp_path)
    graph.op_outputs(op)[0].quant = Quantization((1.0 / 256.0,), (0,))
    assert "TFLM requires -128" in lookup(op.kind).check(graph, op)


@pytest.mark.parametrize("input_scale", [2.0 ** -29, 16.0])
def test_logistic_refuses_scales_beyond_fixed_point(tmp_path, input_scale):
    """Input scales for which TFLM's rescale into Q4.27 would shift by a negative amount or
    by 32 bits or more are refused rather than emulated."""
    graph, op = logistic_graph(tmp_path)
    graph.op_inputs(op)[0].quant = Quantization((input_scale,), (0,))
    assert "fixed-point range" in lookup(op.kind).check(graph, op)


def test_hard_swish_refuses_fine_output_scale(tmp_path):
    """A HARD_SWISH whose output scale is below input_scale / 128 is refused, as TFLM's
    Prepare refuses it (its output multiplier would exceed one)."""
    path = single_op_model(hard_swish, (8,), tmp_path / "hard_swish.tflite")
    graph = load(path)
    (op,) = graph.ops
    source, result = graph.op_inputs(op)[0], graph.op_outputs(op)[0]
    result.quant = Quantization((source.quant.scale / 200.0,), (0,))
    assert "which TFLM refuses" in lookup(op.kind).check(graph, op)
