"""Bit-exact sweeps of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED against TFLite Micro.

Each case converts a small Keras model to int8, compiles it with tinygen, runs it on the
host and compares every output byte with TFLM's reference kernels. Many cases put a 1x1
convolution (or a Dense) before the layer under test, so that the layer's input zero
point is far from 0 (-128 after a ReLU): that is what makes padding taps, which TFLM
skips and tinygen's kernels read as the zero point, matter.

The multiplier tests build models on which the two candidate roundings of
input_scale * filter_scale (float32 or double) give different outputs, so that only
TFLM's arithmetic passes. The refusal tests use hand-built graphs.
"""

import numpy as np
import pytest
from modelgen import keras, single_op_model

from checks import assert_bit_exact, op_kinds
from tinygen.frontend.tflite import load
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import lookup
from tinygen.quant import multiply_by_quantized_multiplier, quantize_multiplier


def prelude(kind, x, dense=False):
    """What feeds the layer under test: the model input itself (zero point about 0), a
    1x1 convolution / Dense with ReLU (zero point -128), or one without (some other)."""
    if kind is None:
        return x
    k = keras()
    channels = x.shape[-1]
    activation = "relu" if kind == "relu" else None
    layer = k.layers.Dense(channels, activation=activation) if dense else k.layers.Conv2D(
        channels, 1, activation=activation)
    return layer(x)


def activated(kind, y):
    """Keras activations the converter fuses into the layer before them."""
    k = keras()
    if kind == "relu":
        return k.layers.ReLU()(y)
    if kind == "relu6":
        return k.layers.ReLU(max_value=6.0)(y)
    return y


# --- CONV_2D ------------------------------------------------------------------------

# (id, input HxWxC, filters, kernel, strides, dilation, padding, activation, bias, prelude, groups)
CONV_CASES = [
    ("1x1-valid", (5, 7, 3), 4, 1, 1, 1, "valid", None, True, None, 1),
    ("1x1-s2-same-relu", (7, 9, 5), 7, 1, 2, 1, "same", "relu", True, "relu", 1),
    ("1x1-nobias", (6, 5, 3), 5, 1, 1, 1, "valid", None, False, "affine", 1),
    ("3x3-same", (9, 7, 3), 5, 3, 1, 1, "same", None, True, "relu", 1),
    ("3x3-s2-same-relu6", (9, 9, 7), 6, 3, 2, 1, "same", "relu6", True, "affine", 1),
    ("3x3-s2-same-even", (8, 8, 3), 5, 3, 2, 1, "same", None, True, "relu", 1),
    ("3x3-s2-valid-relu", (8, 11, 4), 3, 3, 2, 1, "valid", "relu", True, None, 1),
    ("3x3-nobias-same", (7, 7, 5), 7, 3, 1, 1, "same", None, False, "relu", 1),
    ("5x3-same", (10, 7, 2), 5, (5, 3), 1, 1, "same", None, True, "relu", 1),
    ("5x3-s2x1-valid-relu6", (11, 9, 3), 4, (5, 3), (2, 1), 1, "valid", "relu6", True, "affine", 1),
    ("3x3-d2-same", (11, 10, 3), 5, 3, 1, 2, "same", None, True, "relu", 1),
    ("3x3-d2x1-valid-relu", (9, 9, 5), 3, 3, 1, (2, 1), "valid", "relu", True, "affine", 1),
    ("5x5-larger-than-input", (3, 2, 3), 4, 5, 1, 1, "same", None, True, "relu", 1),
    ("3x3-groups2-same", (6, 6, 4), 6, 3, 1, 1, "same", "relu", True, "relu", 2),
    ("3x3-16to32-same-relu", (12, 12, 16), 32, 3, 1, 1, "same", "relu", True, None, 1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_conv_2d_sweep(tmp_path, case):
    """CONV_2D equals TFLM over 1x1, 3x3, 5x3 and 5x5 filters, strides 1, 2 and 2x1,
    dilation 2, SAME (odd and even sizes, a filter larger than the input) and VALID
    padding, no activation, ReLU and ReLU6, no bias, grouped convolution, channel counts
    not multiple of 4, and input zero points of about 0 and -128."""
    name, shape, filters, kernel, strides, dilation, padding, activation, bias, before, groups = case
    k = keras()
    seed = CONV_CASES.index(case)

    def layers(x):
        conv = k.layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding=padding,
                               use_bias=bias, groups=groups)
        return activated(activation, conv(prelude(before, x)))

    path = single_op_model(layers, shape, tmp_path / "conv.tflite", seed=seed)
    assert op_kinds(path) == ["CONV_2D"] * (1 if before is None else 2)
    assert_bit_exact(path, seed=seed)


# --- DEPTHWISE_CONV_2D --------------------------------------------------------------

# (id, input HxWxC, kernel, depth multiplier, strides, dilation, padding, activation, bias, prelude)
DEPTHWISE_CASES = [
    ("3x3-same", (9, 9, 5), 3, 1, 1, 1, "same", None, True, "relu"),
    ("3x3-m2-s2-same-relu", (9, 8, 3), 3, 2, 2, 1, "same", "relu", True, "affine"),
    ("3x3-m3-valid-relu6", (7, 7, 3), 3, 3, 1, 1, "valid", "relu6", True, None),
    ("5x3-s2-valid", (11, 9, 4), (5, 3), 1, 2, 1, "valid", None, True, "relu"),
    ("3x3-d2-same", (10, 10, 7), 3, 1, 1, 2, "same", None, True, "relu"),
    ("3x3-m2-nobias-same", (8, 8, 5), 3, 2, 1, 1, "same", None, False, "relu"),
    ("3x3-s2-same-even", (8, 8, 3), 3, 1, 2, 1, "same", "relu6", True, "affine"),
    ("3x3-32ch-s2-same-relu", (12, 12, 32), 3, 1, 2, 1, "same", "relu", True, "relu"),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=[c[0] for c in DEPTHWISE_CASES])
def test_depthwise_conv_2d_sweep(tmp_path, case):
    """DEPTHWISE_CONV_2D equals TFLM over depth multipliers 1, 2 and 3, 3x3 and 5x3
    filters, strides 1 and 2, dilation 2, SAME (odd and even sizes) and VALID padding,
    no activation, ReLU and ReLU6, no bias, and input zero points of about 0 and -128."""
    name, shape, kernel, multiplier, strides, dilation, padding, activation, bias, before = case
    k = keras()
    seed = 100 + DEPTHWISE_CASES.index(case)

    def layers(x):
        depthwise = k.layers.DepthwiseConv2D(kernel, strides=strides, depth_multiplier=multiplier,
                                             dilation_rate=dilation, padding=padding, use_bias=bias)
        return activated(activation, depthwise(prelude(before, x)))

    path = single_op_model(layers, shape, tmp_path / "depthwise.tflite", seed=seed)
    assert op_kinds(path) == ([] if before is None else ["CONV_2D"]) + ["DEPTHWISE_CONV_2D"]
    assert_bit_exact(path, seed=seed)


# --- FULLY_CONNECTED ----------------------------------------------------------------

# (id, input shape without batch, units, activation, bias, prelude, per-tensor weights)
DENSE_CASES = [
    ("1d", (20,), 10, None, True, None, False),
    ("1d-nobias-relu", (33,), 7, "relu", False, "relu", False),
    ("3d-relu6", (4, 6), 5, "relu6", True, "affine", False),
    ("4d", (3, 5, 7), 4, None, True, "relu", False),
    ("1d-per-tensor", (20,), 10, None, True, "relu", True),
    ("3d-per-tensor-nobias-relu", (4, 6), 5, "relu", False, None, True),
]


@pytest.mark.parametrize("case", DENSE_CASES, ids=[c[0] for c in DENSE_CASES])
def test_fully_connected_sweep(tmp_path, case):
    """FULLY_CONNECTED equals TFLM on 2-D inputs and on 3-D and 4-D inputs read as rows
    (keep_num_dims), with per-channel and per-tensor weights, with and without bias, no
    activation, ReLU and ReLU6, and input zero points of about 0 and -128."""
    name, shape, units, activation, bias, before, per_tensor = case
    k = keras()
    seed = 200 + DENSE_CASES.index(case)

    def layers(x):
        return activated(activation, k.layers.Dense(units, use_bias=bias)(prelude(before, x, dense=True)))

    path = single_op_model(layers, shape, tmp_path / "dense.tflite", seed=seed, per_tensor_dense=per_tensor)
    graph = load(path)
    assert [op.kind for op in graph.ops] == ["FULLY_CONNECTED"] * (1 if before is None else 2)
    assert graph.tensors[graph.ops[-1].inputs[1]].quant.per_channel == (not per_tensor)
    assert_bit_exact(path, seed=seed)


def test_fully_connected_after_flatten(tmp_path):
    """Flatten + Dense (a RESHAPE aliasing the input, then FULLY_CONNECTED) equals TFLM."""
    k = keras()
    path = single_op_model(lambda x: k.layers.Dense(6)(k.layers.Flatten()(x)), (3, 4, 5),
                           tmp_path / "flatten.tflite", seed=300)
    assert op_kinds(path) == ["RESHAPE", "FULLY_CONNECTED"]
    assert_bit_exact(path, seed=300)


# --- multipliers: float32 or double product of the scales ---------------------------


def set_scales(path, out_path, scales):
    """Copy of the model at `path` with tensors (by index) given new per-tensor scales."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    for index, scale in scales.items():
        model.subgraphs[0].tensors[index].quantization.scale = np.array([scale], dtype=np.float32)
    flatbuffer_utils.write_model(model, str(out_path))
    return out_path


def requantized(accumulator, input_scale, filter_scale, output_scale, float32_product):
    """The requantized accumulator (before the output zero point) under either rounding."""
    if float32_product:
        product = float(np.float32(input_scale) * np.float32(filter_scale))
    else:
        product = float(input_scale) * float(filter_scale)
    return multiply_by_quantized_multiplier(accumulator, *quantize_multiplier(product / float(output_scale)))


def float32_neighbours(value, steps):
    """`value` and the float32 values up to `steps` representable steps either side of it."""
    up = down = np.float32(value)
    yield up
    for _ in range(steps):
        up, down = np.nextafter(up, np.float32(np.inf)), np.nextafter(down, np.float32(0))
        yield up
        yield down


def disagreeing_model(path, out_path, seed):
    """Rewrite the input and output scales of the last layer of the model at `path` (a
    1x1 CONV_2D or a FULLY_CONNECTED on one pixel / row) so that for a seeded input the
    multipliers made from the float32 and from the double product of input_scale and
    filter_scale requantize one output channel's accumulator differently. Returns the
    input (as a .npy path) on which only TFLM's rounding gives TFLM's output."""
    graph = load(path)
    op = graph.ops[-1]
    input_, filter_, bias = graph.op_inputs(op)
    output = graph.op_outputs(op)[0]
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=input_.shape, dtype=np.int8)
    weights = filter_.data.reshape(filter_.shape[0], -1).astype(np.int64)
    accumulators = weights @ (x.reshape(-1).astype(np.int64) - input_.quant.zero_point) + bias.data
    channel = int(np.argmax(np.abs(accumulators)))
    accumulator = int(accumulators[channel])
    filter_scale = filter_.quant.scales[channel if filter_.quant.per_channel else 0]
    # An input scale whose float32 product with the filter scale is rounded the most.
    input_scale = max(float32_neighbours(input_.quant.scale, 200), key=lambda s: abs(
        float(s) * filter_scale - float(np.float32(s) * np.float32(filter_scale))) / (float(s) * filter_scale))
    # An output scale that puts the accumulator near the rounding boundary of output 50.5.
    level = 50.5 if accumulator > 0 else -50.5
    for output_scale in float32_neighbours(accumulator * float(input_scale) * filter_scale / level, 2000):
        results = {requantized(accumulator, input_scale, filter_scale, output_scale, f32) for f32 in (True, False)}
        if len(results) == 2:
            break
    else:
        pytest.fail("no output scale found on which the two roundings disagree")
    assert all(-128 <= r + output.quant.zero_point <= 127 for r in results)
    set_scales(path, out_path, {input_.index: input_scale, output.index: output_scale})
    inputs_file = out_path.with_suffix(".npy")
    np.save(inputs_file, x)
    return inputs_file


@pytest.mark.parametrize("layer, per_tensor", [("dense", True), ("dense", False), ("conv", False)],
                         ids=["fully-connected-per-tensor", "fully-connected-per-channel", "conv-1x1"])
def test_multiplier_rounding_matches_tflm(tmp_path, layer, per_tensor):
    """The output multiplier is input_scale * filter_scale / output_scale; each of these
    models has an input on which rounding that product to float32 or keeping it in double
    changes one output, so only TFLM's arithmetic passes. (TFLM's source multiplies in
    float32 for a per-tensor FULLY_CONNECTED, but the tflite-micro build multiplies in
    double, as it does for per-channel ones and for convolutions.)"""
    k = keras()
    if layer == "dense":
        layers, shape = (lambda x: k.layers.Dense(8)(x)), (48,)
    else:
        layers, shape = (lambda x: k.layers.Conv2D(8, 1)(x)), (1, 1, 48)
    path = single_op_model(layers, shape, tmp_path / "model.tflite", seed=400, per_tensor_dense=per_tensor)
    inputs_file = disagreeing_model(path, tmp_path / "rescaled.tflite", seed=400)
    assert_bit_exact(tmp_path / "rescaled.tflite", seed=400, inputs_file=inputs_file)


# --- refusals -----------------------------------------------------------------------


def one_op_graph(kind, input_dtype="int8", filter_dtype="int8", bias_dtype="int32", filter_zero_point=0,
                 options=None, filter_shape=None):
    """A one-op graph of `kind` on a 1x5x5x2 input (FULLY_CONNECTED: 1x8) with 4 outputs."""
    scale = Quantization((0.05,), (0,))
    if kind == "FULLY_CONNECTED":
        input_shape, filter_shape, output_shape = (1, 8), filter_shape or (4, 8), (1, 4)
        options = {"fused_activation_function": 0, "weights_format": 0, **(options or {})}
    else:
        input_shape, output_shape = (1, 5, 5, 2), (1, 5, 5, 4)
        filter_shape = filter_shape or ((4, 3, 3, 2) if kind == "CONV_2D" else (1, 3, 3, 4))
        options = {"padding": 0, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1, "dilation_w_factor": 1,
                   "fused_activation_function": 0, "depth_multiplier": 2, **(options or {})}
    weights = np.ones(filter_shape, dtype=filter_dtype)
    tensors = [
        Tensor(0, "input", input_shape, input_dtype, None if input_dtype == "float32" else scale),
        Tensor(1, "filter", filter_shape, filter_dtype,
               None if filter_dtype == "float32" else Quantization((0.01,), (filter_zero_point,)), weights),
        Tensor(2, "bias", (4,), bias_dtype, Quantization((0.0005,), (0,)), np.zeros(4, dtype=bias_dtype)),
        Tensor(3, "output", output_shape, input_dtype, None if input_dtype == "float32" else scale),
    ]
    op = Op(0, kind, (0, 1, 2), (3,), options)
    return Graph("refused", tensors, [op], inputs=(0,), outputs=(3,)), op


REFUSALS = [
    ("CONV_2D", dict(), None),
    ("DEPTHWISE_CONV_2D", dict(), None),
    ("FULLY_CONNECTED", dict(), None),
    ("CONV_2D", dict(input_dtype="int16", bias_dtype="int64"), "int16 activations"),
    ("FULLY_CONNECTED", dict(input_dtype="int16"), "int16 activations"),
    ("CONV_2D", dict(input_dtype="float32", filter_dtype="float32", bias_dtype="float32"), "float activations"),
    ("FULLY_CONNECTED", dict(filter_dtype="float32"), "float and hybrid"),
    ("DEPTHWISE_CONV_2D", dict(filter_zero_point=3), "non-zero zero point"),
    ("CONV_2D", dict(bias_dtype="int64"), "bias 'bias' is int64"),
    ("CONV_2D", dict(options={"fused_activation_function": 4}), "fused activation tanh"),
    ("FULLY_CONNECTED", dict(options={"fused_activation_function": 6}), "fused activation sigmoid"),
    ("FULLY_CONNECTED", dict(options={"weights_format": 1}), "shuffled weights"),
    ("DEPTHWISE_CONV_2D", dict(options={"depth_multiplier": 1}), "depth_multiplier 1"),
    ("CONV_2D", dict(options={"stride_h": 2}), "output shape 1x5x5x4 differs from 1x3x5x4"),
    ("CONV_2D", dict(filter_shape=(4, 3, 3, 3)), "do not split into groups"),
    ("FULLY_CONNECTED", dict(filter_shape=(4, 6)), "is not 1 rows of the filter's depth 6"),
]


@pytest.mark.parametrize("kind, changes, reason", REFUSALS,
                         ids=[f"{kind}-{reason or 'accepted'}" for kind, _, reason in REFUSALS])
def test_check_explains_refusals(kind, changes, reason):
    """The check accepts the plain int8 graphs and refuses each unsupported variant with a
    reason that names what is wrong."""
    graph, op = one_op_graph(kind, **changes)
    refusal = lookup(kind).check(graph, op)
    if reason is None:
        assert refusal is None
    else:
        assert refusal is not None and reason in refusal
