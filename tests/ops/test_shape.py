"""Bit-exact sweeps of PAD, PADV2, CONCATENATION, RESHAPE and SQUEEZE against TFLite Micro.

Each case converts a small Keras model to int8, compiles it with tinygen, runs it on the
host and compares every output byte with TFLM's reference kernels. RESHAPE (which the
converter also emits for Flatten and tf.squeeze) compiles to no code: those cases prove
that the planner's shared buffer gives the next op the right bytes. Refusals are checked
on the IR of converted models, altered where the converter never produces the case.
"""

import numpy as np
import pytest
from modelgen import keras, single_op_model, with_quantization

from checks import assert_bit_exact, op_kinds
from tinygen.frontend.tflite import load
from tinygen.ir import Quantization
from tinygen.ops import lookup

# ZeroPadding2D ((top, bottom), (left, right)) and the input [H, W, C].
ZERO_PADDINGS = [(((1, 2), (0, 3)), (4, 5, 3)), (((0, 0), (2, 1)), (3, 6, 1)), (((3, 0), (0, 0)), (5, 4, 5)),
                 (((1, 1), (1, 1)), (7, 7, 3)), (((0, 2), (5, 0)), (2, 3, 2))]

# tf.pad paddings over every axis (batch included) and the input shape without batch.
GENERIC_PADDINGS = [([[0, 0], [0, 0], [0, 0], [1, 2]], (4, 5, 3)), ([[1, 0], [0, 1], [2, 0], [0, 3]], (3, 4, 2)),
                    ([[0, 0], [2, 1], [0, 3]], (4, 5)), ([[0, 0], [0, 4]], (6,))]

# (axis, input shapes without batch)
CONCATENATIONS = [(-1, [(4, 5, 3), (4, 5, 2)]), (3, [(2, 3, 1), (2, 3, 4), (2, 3, 3)]),
                  (1, [(4, 5, 3), (2, 5, 3)]), (2, [(4, 5, 3), (4, 2, 3), (4, 7, 3)]),
                  (-2, [(3, 1, 2), (3, 4, 2)]), (-3, [(1, 6, 2), (3, 6, 2), (2, 6, 2)]), (1, [(5,), (3,)])]


@pytest.mark.parametrize("case", range(len(ZERO_PADDINGS)), ids=[str(p) for p, _ in ZERO_PADDINGS])
def test_zero_padding_2d(tmp_path, case):
    """ZeroPadding2D with asymmetric pads equals TFLM. The model's zero point is set to a
    seeded non-zero value, so the padding must hold the output zero point, not zeros."""
    padding, shape = ZERO_PADDINGS[case]
    k = keras()
    path = single_op_model(lambda x: k.layers.ZeroPadding2D(padding)(x), shape, tmp_path / "pad.tflite", seed=case)
    graph = load(path)
    assert [op.kind for op in graph.ops] == ["PAD"]
    scale = graph.tensors[graph.inputs[0]].quant.scale
    zero_point = int(np.random.default_rng(case).integers(1, 120)) * (-1) ** case
    patched = with_quantization(path, tmp_path / "patched.tflite",
                                {graph.inputs[0]: (scale, zero_point), graph.outputs[0]: (scale, zero_point)})
    assert_bit_exact(patched, seed=case)


@pytest.mark.parametrize("paddings, shape", GENERIC_PADDINGS, ids=[str(p) for p, _ in GENERIC_PADDINGS])
def test_pad_any_axes(tmp_path, paddings, shape):
    """tf.pad on the channel and batch axes and on 2-D and 3-D tensors equals TFLM."""
    import tensorflow as tf

    path = single_op_model(lambda x: tf.pad(x, paddings), shape, tmp_path / "pad.tflite", seed=len(shape))
    assert op_kinds(path) == ["PAD"]
    assert_bit_exact(path, seed=len(shape))


@pytest.mark.parametrize("value", [0.5, -0.75])
def test_padv2_constant_value(tmp_path, value):
    """tf.pad with a non-zero constant becomes PADV2: the padding holds the quantized
    constant, as in TFLM."""
    import tensorflow as tf

    path = single_op_model(lambda x: tf.pad(x, [[0, 0], [1, 0], [2, 1], [0, 0]], constant_values=value), (4, 5, 3),
                           tmp_path / "padv2.tflite", seed=3)
    assert op_kinds(path) == ["PADV2"]
    assert_bit_exact(path, seed=3)


@pytest.mark.parametrize("axis, shapes", CONCATENATIONS, ids=[f"axis{a}-{len(s)}in" for a, s in CONCATENATIONS])
def test_concatenate(tmp_path, axis, shapes):
    """Concatenate of 2 and 3 inputs on the channel, spatial and (for 2-D) feature axes,
    positive and negative, equals TFLM (the converter gives every input the output's
    quantization, as TFLM's int8 kernel requires)."""
    k = keras()
    path = single_op_model(lambda *xs: k.layers.Concatenate(axis=axis)(list(xs)), shapes, tmp_path / "cat.tflite",
                           seed=len(shapes) + axis)
    assert op_kinds(path) == ["CONCATENATION"]
    assert_bit_exact(path, seed=len(shapes) + axis)


def test_concatenate_constant_input(tmp_path):
    """A constant input of a concatenation is placed in flash and copied like the others."""
    import tensorflow as tf

    k = keras()
    path = single_op_model(lambda x: k.layers.Concatenate()([tf.zeros_like(x) + 0.25, x]), (4, 5, 3),
                           tmp_path / "cat.tflite", seed=5)
    graph = load(path)
    (op,) = graph.ops
    assert op.kind == "CONCATENATION" and graph.op_inputs(op)[0].is_constant
    assert_bit_exact(path, seed=5)


def test_flatten_between_ops(tmp_path):
    """pool -> Flatten -> concatenation: two RESHAPE aliases feed a concatenation."""
    k = keras()
    path = single_op_model(lambda x: k.layers.Concatenate()([k.layers.Flatten()(k.layers.MaxPooling2D(2)(x)),
                                                             k.layers.Flatten()(k.layers.AveragePooling2D(3)(x))]),
                           (6, 7, 3), tmp_path / "flatten.tflite", seed=6)
    assert sorted(op_kinds(path)) == ["AVERAGE_POOL_2D", "CONCATENATION", "MAX_POOL_2D", "RESHAPE", "RESHAPE"]
    assert_bit_exact(path, seed=6)


def test_flatten_as_model_output(tmp_path):
    """pool -> Flatten at the end of a model: the RESHAPE's output is the caller's buffer,
    so the pool writes straight into it."""
    k = keras()
    path = single_op_model(lambda x: k.layers.Flatten()(k.layers.MaxPooling2D(2)(x)), (4, 6, 3),
                           tmp_path / "flatten.tflite", seed=3)
    assert op_kinds(path) == ["MAX_POOL_2D", "RESHAPE"]
    assert_bit_exact(path, seed=3)


def test_reshape_between_ops(tmp_path):
    """average pool -> Reshape to [positions, channels] -> mean over positions."""
    import tensorflow as tf

    k = keras()
    path = single_op_model(lambda x: tf.reduce_mean(k.layers.Reshape((12, 3))(k.layers.AveragePooling2D(2)(x)), axis=1),
                           (6, 8, 3), tmp_path / "reshape.tflite", seed=7)
    assert op_kinds(path) == ["AVERAGE_POOL_2D", "RESHAPE", "MEAN"]
    assert_bit_exact(path, seed=7)


def test_squeeze_between_ops(tmp_path):
    """pools -> tf.squeeze -> concatenation (the converter emits each squeeze as RESHAPE)."""
    import tensorflow as tf

    k = keras()
    path = single_op_model(
        lambda x: k.layers.Concatenate()([tf.squeeze(k.layers.MaxPooling2D(2)(x), axis=1),
                                          tf.squeeze(k.layers.AveragePooling2D(2)(x), axis=1)]),
        (2, 6, 3), tmp_path / "squeeze.tflite", seed=8)
    assert op_kinds(path).count("RESHAPE") == 2
    assert_bit_exact(path, seed=8)


def converted(tmp_path, layer_fn, shapes):
    path = single_op_model(layer_fn, shapes, tmp_path / "model.tflite")
    graph = load(path)
    op = graph.ops[-1]
    assert lookup(op.kind).check(graph, op) is None
    return graph, op


def test_concatenate_refuses_unequal_quantization(tmp_path):
    """An int8 concatenation whose input quantization differs from the output's is refused
    (TFLM's Prepare refuses it: the int8 kernel never requantizes)."""
    k = keras()
    graph, op = converted(tmp_path, lambda a, b: k.layers.Concatenate()([a, b]), [(2, 2, 3), (2, 2, 3)])
    second = graph.op_inputs(op)[1]
    second.quant = Quantization((second.quant.scale * 1.5,), (second.quant.zero_point,))
    assert "TFLM requires every int8 input to equal the output's" in lookup(op.kind).check(graph, op)


def test_pad_refuses_negative_paddings(tmp_path):
    """Negative paddings (a crop) are refused: TFLM's PAD does not support them."""
    k = keras()
    graph, op = converted(tmp_path, lambda x: k.layers.ZeroPadding2D(1)(x), (3, 3, 2))
    paddings = graph.op_inputs(op)[1]
    paddings.data = np.array([[0, 0], [-1, 1], [1, 1], [0, 0]], dtype=np.int32)
    assert "negative paddings" in lookup(op.kind).check(graph, op)


def test_reshape_refuses_changed_quantization(tmp_path):
    """A RESHAPE whose output quantization differs from its input's cannot share bytes."""
    k = keras()
    graph, op = converted(tmp_path, lambda x: k.layers.Flatten()(k.layers.MaxPooling2D(2)(x)), (4, 4, 2))
    output = graph.op_outputs(op)[0]
    output.quant = Quantization((output.quant.scale,), (output.quant.zero_point + 1,))
    assert "quantization differ" in lookup(op.kind).check(graph, op)
