"""The cmsis-nn kernel backend (`--kernels cmsis-nn`): generated code that calls CMSIS-NN.

The tests that build and run code need a CMSIS-NN checkout named by CMSIS_NN_PATH and are
skipped, saying so, without one. They prove that
- the four MLPerf Tiny models and a seeded sweep of one-op models equal TFLite Micro byte
  for byte when every layer CMSIS-NN has a kernel for calls it;
- each layer's scratch, as tinygen plans it, is at least what CMSIS-NN's own
  `*_get_buffer_size` functions ask for on a plain-C, a DSP and an MVE core (asked from a
  host program built against the checkout, tests/cmsis_nn/buffer_sizes.c), and exactly
  the largest of the three except where only Arm Compiler 6 asks for more.
The compile-side tests (what the generated C calls, the error without a checkout) always run.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import MLPERF_MODELS, mlperf_model
from modelgen import keras, single_op_model

from tinygen.compiler import compile_model, plan_model
from tinygen.errors import BuildError
from tinygen.ops import cmsis_nn
from tinygen.ops.geometry import PADDING_SAME, PADDING_VALID, window
from tinygen.ops.registry import CMSIS_NN, Layer
from tinygen.toolchain import cmsis_nn_host_library, compile_host
from tinygen.verify import verify_host

needs_checkout = pytest.mark.skipif(
    not os.environ.get("CMSIS_NN_PATH"),
    reason="CMSIS_NN_PATH is not set: point it at a CMSIS-NN checkout "
           "(git clone https://github.com/ARM-software/CMSIS-NN) to build and run the cmsis-nn backend")

BACKEND = CMSIS_NN


# --- CMSIS-NN's buffer sizes, asked from CMSIS-NN itself ---------------------------------


@pytest.fixture(scope="module")
def buffer_sizes(tmp_path_factory):
    """A function from queries (lines of tests/cmsis_nn/buffer_sizes.c's language) to
    CMSIS-NN's (plain C, DSP, MVE) buffer sizes, one triple per query."""
    library = cmsis_nn_host_library()
    executable = compile_host([Path(__file__).with_name("buffer_sizes.c")], list(library.include_dirs),
                              tmp_path_factory.mktemp("buffer_sizes") / "buffer_sizes", (library.archive,))

    def ask(queries: list[str]) -> list[tuple[int, int, int]]:
        answer = subprocess.run([str(executable)], input="\n".join(queries) + "\n", capture_output=True, text=True,
                                check=True)
        return [tuple(int(field) for field in line.split()) for line in answer.stdout.splitlines()]
    return ask


def conv_query(p) -> str:
    return " ".join(map(str, ("conv", p["batches"], p["input_h"], p["input_w"], p["input_c"], p["output_c"],
                              p["filter_h"], p["filter_w"], p["filter_c"], p["output_h"], p["output_w"],
                              p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"],
                              p["dilation_h"], p["dilation_w"])))


def depthwise_query(p) -> str:
    return " ".join(map(str, ("depthwise", p["batches"], p["input_h"], p["input_w"], p["input_c"], p["output_c"],
                              p["filter_h"], p["filter_w"], p["output_h"], p["output_w"],
                              p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"],
                              p["dilation_h"], p["dilation_w"], p["depth_multiplier"])))


def armclang_only_bytes(kind: str, p) -> int:
    """Bytes tinygen plans beyond GCC-built CMSIS-NN's sizes on purpose: a CONV_2D that
    arm_convolve_1x1_s8_fast runs takes 2 int16 rows of input channels in the DSP build of
    Arm Compiler 6, which GCC-built CMSIS-NN reports as 0."""
    if kind != "CONV_2D":
        return 0
    fast_1x1 = (p["filter_h"], p["filter_w"], p["stride_h"], p["stride_w"], p["pad_top"], p["pad_left"],
                p["dilation_h"], p["dilation_w"]) == (1, 1, 1, 1, 0, 0, 1, 1)
    return 4 * p["input_c"] if fast_1x1 and p["input_c"] == p["filter_c"] else 0


def check_scratch(layers: tuple[Layer, ...], buffer_sizes) -> int:
    """Every CMSIS-NN layer's planned scratch covers CMSIS-NN's own sizes for all three
    cores (and is their maximum); a FULLY_CONNECTED's flash kernel sums cover its
    buffer. Returns how many layers were checked."""
    checks = []  # (layer, query, planned bytes)
    for layer in layers:
        if layer.kernels != (CMSIS_NN,):
            continue
        p, kind = layer.params, layer.op.kind
        if kind == "CONV_2D":
            checks.append((layer, conv_query(p), layer.scratch_bytes))
        elif kind == "DEPTHWISE_CONV_2D":
            checks.append((layer, depthwise_query(p), layer.scratch_bytes))
        elif kind == "AVERAGE_POOL_2D":
            checks.append((layer, f"avgpool {p['output_width']} {p['channels']}", layer.scratch_bytes))
        elif kind == "FULLY_CONNECTED":
            assert layer.scratch_bytes == 0
            kernel_sums = next(c for c in layer.constants if c.suffix == "kernel_sums")
            checks.append((layer, f"fc {p['input_depth']} {p['output_depth']}", kernel_sums.values.nbytes))
        else:
            assert layer.scratch_bytes == 0, kind
    for (layer, query, planned), sizes in zip(checks, buffer_sizes([query for _, query, _ in checks]), strict=True):
        assert planned >= max(sizes), f"{layer.summary}: plans {planned} bytes, CMSIS-NN asks for {sizes}"
        assert planned == max(max(sizes), armclang_only_bytes(layer.op.kind, layer.params)), \
            f"{layer.summary}: plans {planned} bytes, CMSIS-NN asks for {sizes}"
    return len(checks)


# --- compile side (no checkout needed) ----------------------------------------------------


def test_generated_code_calls_cmsis_nn(tmp_path):
    """With --kernels cmsis-nn the KWS model's C includes arm_nnfunctions.h, calls CMSIS-NN
    for its convolutions, pooling, fully connected layer and softmax, and copies no tinygen
    kernel; the default backend calls none of CMSIS-NN."""
    compiled = compile_model(mlperf_model("kws_ref_model"), tmp_path / "cmsis", backend=BACKEND)
    source = (tmp_path / "cmsis" / "kws_ref_model.c").read_text()
    assert '#include "arm_nnfunctions.h"' in source
    for function in ("arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_avgpool_s8",
                     "arm_fully_connected_s8", "arm_softmax_s8"):
        assert f"{function}(" in source, function
    assert compiled.library.uses_cmsis_nn
    assert sorted(compiled.library.files) == ["kws_ref_model.c", "kws_ref_model.h", "kws_ref_model_weights.c",
                                              "kws_ref_model_weights.h", "tg_common.h"]
    default = compile_model(mlperf_model("kws_ref_model"), tmp_path / "tinygen")
    assert "arm_" not in (tmp_path / "tinygen" / "kws_ref_model.c").read_text()
    assert not default.library.uses_cmsis_nn


def test_missing_checkout_is_a_clear_error(tmp_path, monkeypatch):
    """Building cmsis-nn code without CMSIS_NN_PATH, or with one that is not a CMSIS-NN
    checkout, fails with a BuildError that says what to set."""
    monkeypatch.delenv("CMSIS_NN_PATH", raising=False)
    with pytest.raises(BuildError, match="set CMSIS_NN_PATH to a CMSIS-NN checkout"):
        verify_host(mlperf_model("ad01_int8"), count=1, backend=BACKEND)
    monkeypatch.setenv("CMSIS_NN_PATH", str(tmp_path))
    with pytest.raises(BuildError, match="is not a CMSIS-NN checkout"):
        cmsis_nn_host_library()


# --- the MLPerf Tiny models -----------------------------------------------------------


@needs_checkout
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_model_bit_exact_with_cmsis_nn(name, buffer_sizes):
    """Every output byte of 5 seeded inputs equals TFLM's when the layers call CMSIS-NN,
    and every layer's scratch covers CMSIS-NN's buffer on any core."""
    result = verify_host(mlperf_model(name), count=5, seed=7, backend=BACKEND)
    assert result.first_mismatch is None
    assert result.bit_exact and result.mismatches == 0
    layers = plan_model(mlperf_model(name), backend=BACKEND).layers
    assert check_scratch(layers, buffer_sizes) > 0


# --- one-op sweeps ------------------------------------------------------------------------


def assert_cmsis_nn_bit_exact(path: Path, seed: int, buffer_sizes, expected_kernels: list[str]) -> None:
    """The model's layers lower to `expected_kernels` (CMSIS_NN or a tinygen kernel family),
    its scratch covers CMSIS-NN's, and 3 seeded inputs give TFLM's output bytes."""
    layers = plan_model(path, backend=BACKEND).layers
    assert [layer.kernels[0] for layer in layers] == expected_kernels
    check_scratch(layers, buffer_sizes)
    result = verify_host(path, count=3, seed=seed, backend=BACKEND)
    assert result.bit_exact, result.first_mismatch
    assert result.mismatches == 0


def zero_point_128(x, dense=False):
    """A 1x1 convolution (or Dense) with ReLU: the next layer's input zero point is -128,
    which makes padding taps and the input offset matter."""
    k = keras()
    channels = x.shape[-1]
    return (k.layers.Dense(channels, activation="relu") if dense else
            k.layers.Conv2D(channels, 1, activation="relu"))(x)


# (id, input HxWxC, filters, kernel, strides, dilation, padding, activation, bias, groups, batches)
CONV_CASES = [
    ("1x1-fast", (5, 7, 8), 6, 1, 1, 1, "valid", None, True, 1, 1),
    ("1x1-s2-same-relu", (7, 9, 5), 7, 1, 2, 1, "same", "relu", True, 1, 1),
    ("3x3-same", (9, 7, 3), 5, 3, 1, 1, "same", None, True, 1, 1),
    ("3x3-s2-same-even-relu6", (8, 8, 7), 6, 3, 2, 1, "same", "relu6", True, 1, 1),
    ("5x3-s2x1-valid", (11, 9, 3), 4, (5, 3), (2, 1), 1, "valid", None, False, 1, 1),
    ("3x3-d2-same", (11, 10, 3), 5, 3, 1, 2, "same", "relu", True, 1, 1),
    ("1xn-same", (1, 16, 4), 8, (1, 5), 1, 1, "same", None, True, 1, 1),
    ("1xn-s2-valid", (1, 15, 6), 5, (1, 3), 2, 1, "valid", "relu", True, 1, 1),
    ("3x3-groups2-nobias", (6, 6, 4), 6, 3, 1, 1, "same", None, False, 2, 1),
    ("3x3-batch2", (6, 5, 3), 4, 3, 1, 1, "same", None, True, 1, 2),
]


@needs_checkout
@pytest.mark.parametrize("case", CONV_CASES, ids=[case[0] for case in CONV_CASES])
def test_conv_2d_sweep(tmp_path, buffer_sizes, case):
    """arm_convolve_wrapper_s8 equals TFLM through each of its kernels (1x1 fast and
    strided, 1xN, general), over strides, SAME (odd and even) and VALID padding, dilation,
    groups, batches, no bias and fused activations, with input zero point -128."""
    name, shape, filters, kernel, strides, dilation, padding, activation, bias, groups, batches = case
    k = keras()
    seed = 500 + CONV_CASES.index(case)

    def layers(x):
        return k.layers.Conv2D(filters, kernel, strides=strides, dilation_rate=dilation, padding=padding,
                               activation=activation, use_bias=bias, groups=groups)(zero_point_128(x))

    path = single_op_model(layers, shape, tmp_path / "conv.tflite", seed=seed, batch_size=batches)
    assert_cmsis_nn_bit_exact(path, seed, buffer_sizes, [CMSIS_NN, CMSIS_NN])


# (id, input HxWxC, kernel, depth multiplier, strides, dilation, padding, activation, bias)
DEPTHWISE_CASES = [
    ("3x3-pad1", (9, 9, 5), 3, 1, 1, 1, "same", "relu", True),
    ("3x3-valid-opt", (8, 7, 8), 3, 1, 1, 1, "valid", None, True),
    ("5x5-same-pad2", (9, 9, 4), 5, 1, 1, 1, "same", None, True),
    ("3x3-m2-s2", (9, 8, 3), 3, 2, 2, 1, "same", "relu6", True),
    ("3x3-m3-nobias", (7, 7, 3), 3, 3, 1, 1, "valid", None, False),
    ("3x3-d2", (10, 10, 6), 3, 1, 1, 2, "same", None, True),
    ("one-channel-m8", (7, 7, 1), 3, 8, 1, 1, "same", "relu", True),
]


@needs_checkout
@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=[case[0] for case in DEPTHWISE_CASES])
def test_depthwise_conv_2d_sweep(tmp_path, buffer_sizes, case):
    """arm_depthwise_conv_wrapper_s8 equals TFLM through its 3x3, "opt" and general
    kernels: depth multipliers 1, 2, 3 and 8 (one input channel), 3x3 and 5x5 filters,
    strides, dilation, SAME and VALID padding, no bias, fused activations."""
    name, shape, kernel, multiplier, strides, dilation, padding, activation, bias = case
    k = keras()
    seed = 600 + DEPTHWISE_CASES.index(case)

    def layers(x):
        return k.layers.DepthwiseConv2D(kernel, strides=strides, depth_multiplier=multiplier,
                                        dilation_rate=dilation, padding=padding, activation=activation,
                                        use_bias=bias)(zero_point_128(x))

    path = single_op_model(layers, shape, tmp_path / "depthwise.tflite", seed=seed)
    assert_cmsis_nn_bit_exact(path, seed, buffer_sizes, [CMSIS_NN, CMSIS_NN])


# (id, input shape without batch, units, activation, bias, per-tensor weights)
DENSE_CASES = [
    ("per-channel", (20,), 10, None, True, False),
    ("per-channel-nobias-relu", (33,), 7, "relu", False, False),
    ("per-tensor", (20,), 10, "relu6", True, True),
    ("rows-per-tensor", (4, 6), 5, None, True, True),
    ("rows-per-channel", (3, 9), 6, "relu", True, False),
]


@needs_checkout
@pytest.mark.parametrize("case", DENSE_CASES, ids=[case[0] for case in DENSE_CASES])
def test_fully_connected_sweep(tmp_path, buffer_sizes, case):
    """arm_fully_connected_s8 (per-tensor weights) and arm_fully_connected_per_channel_s8
    equal TFLM, on one row and on several rows, with and without bias, with fused
    activations; the kernel sums in flash cover the buffer CMSIS-NN asks for."""
    name, shape, units, activation, bias, per_tensor = case
    k = keras()
    seed = 700 + DENSE_CASES.index(case)

    def layers(x):
        return k.layers.Dense(units, activation=activation, use_bias=bias)(zero_point_128(x, dense=True))

    path = single_op_model(layers, shape, tmp_path / "dense.tflite", seed=seed, per_tensor_dense=per_tensor)
    assert_cmsis_nn_bit_exact(path, seed, buffer_sizes, [CMSIS_NN, CMSIS_NN])
    source = (compile_model(path, tmp_path / "c", backend=BACKEND).directory / "dense.c").read_text()
    assert ("arm_fully_connected_per_channel_s8(" in source) == (not per_tensor)


# (id, layer, input HxWxC, pool size, strides, padding)
POOL_CASES = [
    ("avg-2x2-valid", "avg", (8, 8, 5), 2, 2, "valid"),
    ("avg-3x3-s2-same", "avg", (9, 8, 6), 3, 2, "same"),
    ("avg-global", "avg", (5, 5, 12), 5, 1, "valid"),
    ("max-2x2-valid", "max", (8, 8, 5), 2, 2, "valid"),
    ("max-3x3-s1-same", "max", (7, 6, 3), 3, 1, "same"),
    ("max-3x2-s2x1-same", "max", (9, 7, 4), (3, 2), (2, 1), "same"),
]


@needs_checkout
@pytest.mark.parametrize("case", POOL_CASES, ids=[case[0] for case in POOL_CASES])
def test_pooling_sweep(tmp_path, buffer_sizes, case):
    """arm_avgpool_s8 and arm_max_pool_s8 equal TFLM over pool sizes, strides, SAME padding
    (windows clipped at the edges) and VALID padding."""
    name, kind, shape, size, strides, padding = case
    k = keras()
    seed = 800 + POOL_CASES.index(case)
    pool = k.layers.AveragePooling2D if kind == "avg" else k.layers.MaxPooling2D

    path = single_op_model(lambda x: pool(size, strides=strides, padding=padding)(x), shape,
                           tmp_path / "pool.tflite", seed=seed)
    assert_cmsis_nn_bit_exact(path, seed, buffer_sizes, [CMSIS_NN])


@needs_checkout
@pytest.mark.parametrize("shape", [(10,), (4, 7), (3, 2, 33)], ids=["1d", "2d", "3d"])
def test_softmax_sweep(tmp_path, buffer_sizes, shape):
    """arm_softmax_s8 equals TFLM over one and several rows, after a Dense that spreads the
    logits."""
    k = keras()
    seed = 900 + len(shape)

    def layers(x):
        return k.layers.Softmax()(k.layers.Dense(shape[-1])(x))

    path = single_op_model(layers, shape, tmp_path / "softmax.tflite", seed=seed)
    assert_cmsis_nn_bit_exact(path, seed, buffer_sizes, [CMSIS_NN, CMSIS_NN])


# (id, op, first input shape, second input shape or None for a constant, CMSIS-NN expected)
ELEMENTWISE_CASES = [
    ("add-equal", "add", (6, 5, 7), (6, 5, 7), True),
    ("add-equal-relu", "add-relu", (4, 9), (4, 9), True),
    ("add-broadcast", "add", (6, 5, 7), (1, 1, 7), False),
    ("mul-equal", "mul", (6, 5, 7), (6, 5, 7), True),
    ("mul-constant", "mul", (5, 8), None, True),
    ("mul-broadcast", "mul", (3, 4, 5), (3, 1, 5), False),
]


@needs_checkout
@pytest.mark.parametrize("case", ELEMENTWISE_CASES, ids=[case[0] for case in ELEMENTWISE_CASES])
def test_elementwise_sweep(tmp_path, buffer_sizes, case):
    """arm_elementwise_add_s8 and arm_elementwise_mul_s8 equal TFLM on operands of equal
    size (also a constant one, and with a fused ReLU); a broadcast keeps tinygen's kernel
    and equals TFLM too."""
    name, op, shape1, shape2, flat = case
    k = keras()
    seed = 1000 + ELEMENTWISE_CASES.index(case)
    rng = np.random.default_rng(seed)

    def layers(*inputs):
        if shape2 is None:
            constant = rng.uniform(-2, 2, size=(1,) + shape1).astype(np.float32)
            return k.layers.Lambda(lambda x: x * constant)(inputs[0])
        if op.startswith("add"):
            total = k.layers.Add()(list(inputs))
            return k.layers.ReLU()(total) if op == "add-relu" else total
        return k.layers.Multiply()(list(inputs))

    shapes = [shape1] if shape2 is None else [shape1, shape2]
    path = single_op_model(layers, shapes, tmp_path / "elementwise.tflite", seed=seed)
    assert_cmsis_nn_bit_exact(path, seed, buffer_sizes, [CMSIS_NN if flat else "elementwise"])


# --- the buffer size formulas over many geometries --------------------------------------


@needs_checkout
def test_buffer_size_formulas_match_cmsis_nn(buffer_sizes):
    """tinygen.ops.cmsis_nn gives the largest of CMSIS-NN's plain-C, DSP and MVE buffer
    sizes over a grid of geometries that reaches every branch of the wrappers (1x1, 1xN
    with and without asymmetric padding, 3x3 with padding 0 to 2, one input channel,
    batches, dilation), plus Arm Compiler 6's 1x1 DSP buffer."""
    layers, queries = [], []  # (kind, params, tinygen's bytes); the matching CMSIS-NN query
    grid = itertools.product((1, 2), (1, 7), (1, 9, 16), (1, 3, 4), (1, 3), (1, 5), (1, 2), (1, 2),
                             (PADDING_SAME, PADDING_VALID))
    for batches, height, width, channels, filter_h, filter_w, stride, dilation, padding in grid:
        geometry = window(padding, height, width, filter_h, filter_w, stride, stride, dilation, dilation)
        if min(geometry.out_h, geometry.out_w) < 1:
            continue
        input_shape = (batches, height, width, channels)
        common = dict(batches=batches, input_h=height, input_w=width, input_c=channels, filter_h=filter_h,
                      filter_w=filter_w, output_h=geometry.out_h, output_w=geometry.out_w, stride_h=stride,
                      stride_w=stride, pad_top=geometry.pad_top, pad_left=geometry.pad_left,
                      dilation_h=dilation, dilation_w=dilation)
        for filter_c in sorted({channels, 1}):  # plain and grouped (depthwise-like) convolutions
            conv = dict(common, filter_c=filter_c, output_c=12)
            layers.append(("CONV_2D", conv, cmsis_nn.convolve_wrapper_s8(input_shape, filter_c, geometry.out_w,
                                                                         geometry)))
            queries.append(conv_query(conv))
        for multiplier in (1, 2):
            depthwise = dict(common, depth_multiplier=multiplier, output_c=channels * multiplier)
            output_shape = (batches, geometry.out_h, geometry.out_w, channels * multiplier)
            layers.append(("DEPTHWISE_CONV_2D", depthwise,
                           cmsis_nn.depthwise_conv_wrapper_s8(input_shape, output_shape, geometry)))
            queries.append(depthwise_query(depthwise))
    assert len(layers) > 1000
    for (kind, params, planned), sizes in zip(layers, buffer_sizes(queries), strict=True):
        assert planned == max(max(sizes), armclang_only_bytes(kind, params)), \
            f"{kind} {params}: tinygen plans {planned} bytes, CMSIS-NN asks for {sizes}"
    for output_width, channels in itertools.product((1, 7), (1, 3, 64)):
        assert buffer_sizes([f"avgpool {output_width} {channels}"]) == [(0, 4 * channels, 0)]
        assert cmsis_nn.avgpool_s8(channels) == 4 * channels
