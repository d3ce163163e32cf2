"""Bit-exact sweeps of AVERAGE_POOL_2D, MAX_POOL_2D and MEAN against TFLite Micro.

Each case converts a one-op Keras model to int8, compiles it with tinygen, runs it on the
host and compares every output byte with TFLM's reference kernels. Cases with
quantization the converter never produces (equal mean scales, large zero points,
multipliers above one) rewrite the converted model's quantization parameters: TFLM
executes whatever the file says, so the comparison stays exact.
"""

import numpy as np
import pytest
from modelgen import keras, single_op_model, with_quantization

from checks import assert_bit_exact, op_kinds
from tinygen.errors import UnsupportedOpsError
from tinygen.frontend.tflite import load
from tinygen.ir import Quantization
from tinygen.ops import check_supported, lookup
from tinygen.ops.pooling import mean_multiplier

POOL_SIZES = [2, 3, (3, 2)]
STRIDES = [1, 2]
PADDINGS = ["same", "valid"]
POOL_CASES = [(layer, pool, stride, padding) for layer in ("AveragePooling2D", "MaxPooling2D")
              for pool in POOL_SIZES for stride in STRIDES for padding in PADDINGS]
# Input sizes (odd and even, height != width) and channel counts, cycled over the cases.
POOL_INPUTS = [(7, 5, 1), (6, 9, 3), (5, 5, 5), (9, 6, 3), (8, 7, 1), (5, 8, 5)]

# (resulting TFLite kind, fused activation code, Keras activation layer after the pool)
FUSED_CASES = [("MaxPooling2D", 1, "relu"), ("AveragePooling2D", 1, "relu"),
               ("MaxPooling2D", 3, "relu6"), ("AveragePooling2D", 3, "relu6")]


def keras_pool(layer, pool, stride, padding):
    return getattr(keras().layers, layer)(pool_size=pool, strides=stride, padding=padding)


@pytest.mark.parametrize("case", range(len(POOL_CASES)),
                         ids=[f"{l[:3]}-{p}-s{s}-{pad}" for l, p, s, pad in POOL_CASES])
def test_pool_2d_sweep(tmp_path, case):
    """Average and max pooling equal TFLM for pool sizes 2, 3 and 3x2, strides 1 and 2,
    SAME and VALID padding, odd and even input sizes and 1, 3 or 5 channels: the
    clipped windows at SAME borders and the rounding of averages of negative sums."""
    layer, pool, stride, padding = POOL_CASES[case]
    path = single_op_model(lambda x: keras_pool(layer, pool, stride, padding)(x), POOL_INPUTS[case % len(POOL_INPUTS)],
                           tmp_path / "pool.tflite", seed=case)
    assert op_kinds(path) == ["AVERAGE_POOL_2D" if layer == "AveragePooling2D" else "MAX_POOL_2D"]
    assert_bit_exact(path, seed=case)


@pytest.mark.parametrize("layer, activation_code, activation", FUSED_CASES)
def test_pool_fused_activation(tmp_path, layer, activation_code, activation):
    """A ReLU or ReLU6 after a pool is fused into it by the converter; the clamp to the
    activation range equals TFLM's."""
    k = keras()
    path = single_op_model(lambda x: k.layers.Activation(activation)(keras_pool(layer, 3, 2, "same")(x)),
                           (7, 6, 3), tmp_path / "pool.tflite", seed=activation_code, input_range=8.0)
    (op,) = load(path).ops
    assert op.options["fused_activation_function"] == activation_code
    assert_bit_exact(path, seed=activation_code)


@pytest.mark.parametrize("layer", ["AveragePooling2D", "MaxPooling2D"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pool_random_quantization(tmp_path, layer, seed):
    """With a ReLU6 fused and input/output quantization set to random (equal) scales and
    zero points, the activation bounds tinygen computes equal TFLM's."""
    k = keras()
    path = single_op_model(lambda x: k.layers.Activation("relu6")(keras_pool(layer, 2, 1, "same")(x)),
                           (5, 6, 3), tmp_path / "pool.tflite", seed=seed)
    rng = np.random.default_rng(seed)
    scale, zero_point = float(rng.uniform(0.005, 0.1)), int(rng.integers(-128, 100))
    graph = load(path)
    patched = with_quantization(path, tmp_path / "patched.tflite",
                                {graph.inputs[0]: (scale, zero_point), graph.outputs[0]: (scale, zero_point)})
    assert_bit_exact(patched, seed=seed)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape", [(5, 5, 3), (7, 4, 8), (1, 9, 1)])
def test_global_average_pooling(tmp_path, keepdims, shape):
    """GlobalAveragePooling2D (a MEAN over axes 1 and 2, keep_dims either way) equals TFLM,
    including the requantization to the converter's narrower output scale."""
    k = keras()
    path = single_op_model(lambda x: k.layers.GlobalAveragePooling2D(keepdims=keepdims)(x), shape,
                           tmp_path / "gap.tflite", seed=sum(shape))
    (op,) = load(path).ops
    assert op.kind == "MEAN" and bool(op.options["keep_dims"]) == keepdims
    assert_bit_exact(path, seed=sum(shape))


MEAN_AXES = [([1], (6, 5, 3)), ([2], (6, 5, 3)), ([-1], (6, 5, 3)), ([3], (4, 3, 9)), ([1, 2, 3], (4, 5, 3)),
             ([2, 1], (6, 5, 3)), ([2, 3], (3, 5, 4)), ([1], (7, 4)), ([-1], (7, 4))]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axes, shape", MEAN_AXES, ids=[f"{a}-{'x'.join(map(str, s))}" for a, s in MEAN_AXES])
def test_reduce_mean_axes(tmp_path, axes, shape, keepdims):
    """tf.reduce_mean over leading, middle, trailing and negative axes of 3-D and 4-D
    tensors equals TFLM (the reduced axes forming one contiguous block)."""
    import tensorflow as tf

    seed = len(shape) * 10 + len(axes)
    path = single_op_model(lambda x: tf.reduce_mean(x, axis=axes, keepdims=keepdims), shape,
                           tmp_path / "mean.tflite", seed=seed)
    assert op_kinds(path) == ["MEAN"]
    assert_bit_exact(path, seed=seed)


# (input scale, input zero point, output scale, output zero point, spatial size)
MEAN_QUANTIZATION = [
    (0.02, 0, 0.02, 0, (5, 5)),            # equal quantization: multiplier 2^30, shift 1
    (0.02, -7, 0.02, -7, (1, 1)),          # a mean of one value: shift stays positive
    (0.05, 100, 0.01, -90, (13, 11)),      # input_scale / output_scale = 5: left shift
    (0.003, -128, 0.5, 127, (8, 8)),       # tiny multiplier, extreme zero points
    (0.01, 37, 0.004, -3, (16, 16)),       # a count that is a power of two
    (0.01, -55, 0.0007, 12, (9, 7)),       # outputs saturate at both ends
    (1e-9, 5, 0.5, 3, (8, 8)),             # shift -28: the count shift is capped at 31 + shift = 3
]


@pytest.mark.parametrize("case", MEAN_QUANTIZATION, ids=[f"q{i}" for i in range(len(MEAN_QUANTIZATION))])
def test_mean_requantization(tmp_path, case):
    """MEAN takes TFLM's requantizing path for every quantization, also equal input and
    output quantization; its count-folded multiplier and shift equal TFLM's for left
    shifts, extreme zero points, saturating outputs and a single-value mean."""
    input_scale, input_zero_point, output_scale, output_zero_point, spatial = case
    k = keras()
    path = single_op_model(lambda x: k.layers.GlobalAveragePooling2D()(x), spatial + (4,),
                           tmp_path / "gap.tflite", seed=len(spatial))
    graph = load(path)
    patched = with_quantization(path, tmp_path / "patched.tflite",
                                {graph.inputs[0]: (input_scale, input_zero_point),
                                 graph.outputs[0]: (output_scale, output_zero_point)})
    assert_bit_exact(patched, seed=input_zero_point & 0xFF)


def test_mean_multiplier_folds_the_count():
    """The mean multiplier is TFLM's: 2^k / n folded into the Q31 multiplier (k the largest
    power of two <= n, at most 32 and 31 + shift), the shift lowered by k."""
    assert mean_multiplier(1.0, 1.0, 1) == (1 << 30, 1)
    assert mean_multiplier(1.0, 1.0, 25) == (((1 << 30) << 4) // 25, 1 - 4)
    assert mean_multiplier(1.0, 1.0, 64) == (1 << 30, 1 - 6)
    # shift -30: k is capped at 31 + shift = 1.
    multiplier, shift = mean_multiplier(2.0 ** -31, 1.0, 1000)
    assert (multiplier, shift) == (((1 << 30) << 1) // 1000, -30 - 1)


def test_mean_refuses_non_contiguous_axes(tmp_path):
    """A MEAN over axes 1 and 3 of a 4-D tensor (two separate blocks) is refused with a
    reason, not compiled wrongly."""
    import tensorflow as tf

    path = single_op_model(lambda x: tf.reduce_mean(x, axis=[1, 3]), (4, 5, 3), tmp_path / "mean.tflite")
    with pytest.raises(UnsupportedOpsError, match="contiguous block"):
        check_supported(load(path))


def test_pool_refuses_unequal_quantization(tmp_path):
    """A pool whose output quantization differs from its input's is refused, as TFLM's
    Prepare refuses it."""
    path = single_op_model(lambda x: keras_pool("MaxPooling2D", 2, 2, "valid")(x), (4, 4, 2), tmp_path / "p.tflite")
    graph = load(path)
    (op,) = graph.ops
    output = graph.op_outputs(op)[0]
    assert lookup(op.kind).check(graph, op) is None
    output.quant = Quantization((output.quant.scale * 2,), (output.quant.zero_point,))
    assert "TFLM requires them equal" in lookup(op.kind).check(graph, op)
