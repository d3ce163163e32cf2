"""SOFTMAX (int8) against TFLite Micro: vectors, 3-D tensors, beta, and the refusals.

Each case converts a small Keras model to int8, compiles it with tinygen, runs it on the
host and compares every output byte with TFLM's reference softmax. The input range sets
the input scale and so how far apart the inputs of a row are in real terms: from +-1
(every exponential counts) to +-64, where differences below TFLM's diff_min are skipped
and the table's zero entries must reproduce that. TFLM aborts the whole process when a
row's exponentials sum to 256 or more, so rows of 1000 use ranges that keep the sum of
random inputs far below that.
"""

from __future__ import annotations

import numpy as np
import pytest
from modelgen import keras, single_op_model, with_quantization

from checks import assert_bit_exact
from tinygen.frontend.tflite import load
from tinygen.ir import Quantization
from tinygen.ops import lookup
from tinygen.ops.softmax import exp_table, input_scaling


def softmax(x):
    return keras().layers.Softmax()(x)


def softmax_model(tmp_path, shape, input_range, seed):
    path = single_op_model(softmax, shape, tmp_path / "softmax.tflite", seed=seed, input_range=input_range)
    assert [op.kind for op in load(path).ops] == ["SOFTMAX"]
    return path


VECTOR_CASES = [(length, input_range) for length in (2, 10, 12, 100) for input_range in (1.0, 4.0, 16.0, 64.0)]
VECTOR_CASES += [(1000, 4.0), (1000, 16.0)]


@pytest.mark.parametrize("length, input_range", VECTOR_CASES, ids=[f"{n}-r{r:g}" for n, r in VECTOR_CASES])
def test_softmax_vector(tmp_path, length, input_range):
    """Softmax over vectors of 2 to 1000 values, with input ranges that make every
    difference count (+-1) or push most of them below diff_min (+-64), equals TFLM."""
    seed = length + int(input_range)
    assert_bit_exact(softmax_model(tmp_path, (length,), input_range, seed), seed=seed)


@pytest.mark.parametrize("shape, input_range", [((4, 5, 12), 4.0), ((3, 2, 7), 32.0), ((6, 1), 1.0)])
def test_softmax_last_axis_of_tensor(tmp_path, shape, input_range):
    """Softmax over the last axis of a 3-D or 4-D tensor (rows = product of the other
    dimensions, each with its own maximum and sum) equals TFLM; a last axis of 1 gives
    the constant output 127."""
    seed = sum(shape)
    assert_bit_exact(softmax_model(tmp_path, shape, input_range, seed), seed=seed)


@pytest.mark.parametrize("shape, input_range", [((330, 12), 1.0), ((1300, 3), 1.0), ((250, 16), 0.3)])
def test_softmax_many_rows(tmp_path, shape, input_range):
    """Thousands of rows, hence thousands of different sums of exponentials, equal TFLM:
    the reciprocal of the sum (normalisation, three Newton-Raphson steps) is exact to the
    last bit, not only close enough to round the same way on a few rows (a kernel with two
    Newton-Raphson steps fails these cases, but none of the others)."""
    seed = shape[0]
    assert_bit_exact(softmax_model(tmp_path, shape, input_range, seed), seed=seed)


@pytest.mark.parametrize("input_range", [1.0, 8.0])
def test_dense_softmax_classifier_head(tmp_path, input_range):
    """A Dense(10) followed by a softmax, the usual classifier head, equals TFLM: the
    softmax input scale is then the Dense output's, not a round number."""
    k = keras()
    path = single_op_model(lambda x: k.layers.Softmax()(k.layers.Dense(10)(x)), (32,),
                           tmp_path / "head.tflite", seed=int(input_range), input_range=input_range)
    assert [op.kind for op in load(path).ops] == ["FULLY_CONNECTED", "SOFTMAX"]
    assert_bit_exact(path, seed=int(input_range))


def with_beta(path, out_path, beta):
    """Copy of a one-SOFTMAX model with another beta."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    (operator,) = model.subgraphs[0].operators
    operator.builtinOptions.beta = beta
    flatbuffer_utils.write_model(model, str(out_path))
    return out_path


# (beta, input scale, input zero point): beta below and above one, input multipliers from
# just above 2^-26 (diff_min far below -255) to beyond the 2^31 - 1 cap (diff_min 0: only
# the maximum of a row counts).
PARAMETER_CASES = [(0.5, 0.02, 0), (2.0, 0.05, -30), (10.0, 0.01, 77), (1.0, 0.3, -128), (0.25, 0.004, 127),
                   (3.0, 1.5, 5), (1.0, 40.0, 0), (1.0e-6, 20.0, 3)]


@pytest.mark.parametrize("case", range(len(PARAMETER_CASES)), ids=[f"beta{b:g}-s{s:g}" for b, s, _ in PARAMETER_CASES])
def test_softmax_beta_and_input_quantization(tmp_path, case):
    """With beta and the input quantization rewritten (beta from 1e-6 to 10, scales from
    0.004 to 40, extreme zero points), the input multiplier, its cap, diff_min and the
    exponential table equal TFLM's, row by row over a [5, 24] tensor."""
    beta, scale, zero_point = PARAMETER_CASES[case]
    path = with_beta(softmax_model(tmp_path, (5, 24), 1.0, seed=case), tmp_path / "beta.tflite", beta)
    patched = with_quantization(path, tmp_path / "patched.tflite", {load(path).inputs[0]: (scale, zero_point)})
    assert load(patched).ops[0].options["beta"] == np.float32(beta)
    assert_bit_exact(patched, seed=case)


def test_exp_table_skips_differences_below_diff_min():
    """Table entries for differences below diff_min are 0 (TFLM skips those elements) and
    the entry at diff_min is not; exp(0) is gemmlowp's one, INT32_MAX."""
    beta, scale = 1.0, 0.25
    _, _, diff_min = input_scaling(beta, scale)
    table = exp_table(beta, scale)
    assert -255 < diff_min < 0
    assert table[0] == np.iinfo(np.int32).max
    assert table[-diff_min] > 0
    assert not table[-diff_min + 1:].any()


def softmax_graph(tmp_path):
    graph = load(softmax_model(tmp_path, (10,), 1.0, seed=0))
    (op,) = graph.ops
    assert lookup(op.kind).check(graph, op) is None
    return graph, op


@pytest.mark.parametrize("scale, zero_point", [(1.0 / 128.0, -128), (1.0 / 256.0, 0)])
def test_softmax_refuses_other_output_quantization(tmp_path, scale, zero_point):
    """An output quantization other than scale 1/256, zero point -128 is refused, as
    TFLM's Prepare refuses it."""
    graph, op = softmax_graph(tmp_path)
    graph.op_outputs(op)[0].quant = Quantization((scale,), (zero_point,))
    assert "TFLM requires 1/256" in lookup(op.kind).check(graph, op)


def test_softmax_refuses_tiny_input_multiplier(tmp_path):
    """beta * input_scale at or below 2^-26 (an input multiplier not above one) is refused,
    as TFLM's QuantizeMultiplierGreaterThanOne check refuses it."""
    graph, op = softmax_graph(tmp_path)
    graph.op_inputs(op)[0].quant = Quantization((2.0 ** -27,), (0,))
    assert "which TFLM refuses" in lookup(op.kind).check(graph, op)
