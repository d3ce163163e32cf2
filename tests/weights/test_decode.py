"""Compressed CONV_2D and DEPTHWISE_CONV_2D filters decoded into scratch are bit-exact and cheap.

The compressed CONV_2D and DEPTHWISE_CONV_2D kernels decode their filter with a row decoder
(tg_row_decode_t) and run the dense loops on it: the whole filter when it fits
tinygen.ops.conv.DECODE_BUDGET, else chunks of rows. On the host, every encoding is
bit-exact with TFLM on both paths (the budget lowered to force chunks), over CONV_2D 3x3 and
1x1, a grouped CONV_2D whose chunks straddle its groups, and DEPTHWISE_CONV_2D with depth
multiplier 2 (tests/weights/compressed_models.py). In QEMU on a Cortex-M4 the decoded path
is bit-exact and a LUT-4 CONV_2D costs at most 1.25x the dense layer's instructions. The
cost model weighs decoding once against the dense loop's cost per pixel.
"""

import numpy as np
import pytest
from compressed_models import Pattern, pattern_path, run_in_qemu, set_pattern  # noqa: F401 (a fixture)
from modelgen import convert_int8, keras

from tinygen.compiler import compile_model, plan_model
from tinygen.ops import conv
from tinygen.verify import verify_host
from tinygen.weights import DENSE, LUT, encode

MODES = ("lut", "sparse", "sparse-lut")
PATTERNS = [Pattern(4, False), Pattern(2, True, 0.5)]
# Small enough that every CONV_2D of the test models decodes in chunks of 2 rows.
CHUNK_BUDGET = 40
LUT_COST_LIMIT = 1.25  # the target: a LUT CONV_2D within 1.25x the dense instructions


def grouped_model(path, seed):
    """CONV_2D 3x3 of 2 groups (6x6x4 -> 6x6x6, rows of 18 values), weights clustered to 4
    values per tensor with half of them zero."""
    k = keras()
    k.utils.set_random_seed(seed)
    x = k.Input(shape=(6, 6, 4), batch_size=1)
    layer = k.layers.Conv2D(6, 3, padding="same", groups=2)
    model = k.Model(x, layer(x))
    set_pattern(layer, Pattern(2, False, 0.5), np.random.default_rng(seed))
    return convert_int8(model, path, seed=seed)


def decoded_layers(path, mode):
    """The CONV_2D and DEPTHWISE_CONV_2D layers of the plan, each with its encoding."""
    return [layer for layer in plan_model(path, weights=mode).layers
            if layer.op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]


def assert_bit_exact(path, mode, seed):
    result = verify_host(path, count=3, seed=seed, weights=mode)
    assert result.bit_exact, result.first_mismatch


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
@pytest.mark.parametrize("pattern", PATTERNS, ids=[p.id for p in PATTERNS])
def test_decoded_filters_bit_exact(pattern_path, monkeypatch, pattern, chunked):
    """CONV_2D 3x3 and 1x1 and DEPTHWISE_CONV_2D (depth multiplier 2) on decoded LUT, sparse
    and sparse LUT filters equal TFLM. Whole filters keep the dense loop's order and its
    overlap Access; chunks of 2 rows drop it, and a depthwise filter always decodes whole."""
    if chunked:
        monkeypatch.setattr(conv, "DECODE_BUDGET", CHUNK_BUDGET)
    seed = 300 + PATTERNS.index(pattern)
    path = pattern_path(pattern, seed)
    for mode in MODES:
        layers = decoded_layers(path, mode)
        assert [layer.filter_encoding.kind for layer in layers] == [mode] * 3
        for layer in layers:
            if layer.op.kind == "CONV_2D":
                assert layer.params["chunk_rows"] == (2 if chunked else layer.params["output_c"])
                assert (layer.access is None) == chunked
            assert layer.params["filter_decoder"].startswith("tg_row_decode_")
        assert_bit_exact(path, mode, seed)


@pytest.mark.parametrize("chunked", [False, True], ids=["whole", "chunked"])
def test_grouped_conv_decoded_bit_exact(tmp_path, monkeypatch, chunked):
    """A grouped CONV_2D (3 channels a group) decoded whole, and in chunks of 2 rows that
    straddle the two groups, equals TFLM in every encoding."""
    if chunked:
        monkeypatch.setattr(conv, "DECODE_BUDGET", CHUNK_BUDGET)
    path = grouped_model(tmp_path / "grouped.tflite", seed=310)
    for mode in MODES:
        (layer,) = decoded_layers(path, mode)
        assert layer.params["chunk_rows"] == (2 if chunked else 6)
        assert_bit_exact(path, mode, seed=310)


def test_decode_chunk_rows_fit_the_budget():
    """Whole filters up to the budget; beyond it, the most rows that fit, even, at least 2."""
    budget = conv.DECODE_BUDGET
    assert conv.decode_chunk_rows(64, budget // 64) == 64
    assert conv.decode_chunk_rows(64, budget // 64 + 1) % 2 == 0
    assert conv.decode_chunk_rows(64, budget // 64 + 1) * (budget // 64 + 1) <= budget
    assert conv.decode_chunk_rows(64, 5 * budget) == 2


def test_auto_weighs_decoding_against_the_pixels():
    """A decoded LUT pays for its decoding over the pixels: taken for a layer of many pixels,
    not for one of a single pixel, where decoding costs more than the dense dot products."""
    rng = np.random.default_rng(8)
    rows = rng.choice(np.arange(-120, 121, 16, dtype=np.int8), size=(64, 64))
    assert encode(rows, "auto", vectors=125, decoded=True).kind == LUT
    assert encode(rows, "auto", vectors=1, decoded=True).kind == DENSE
    decoded = encode(rows, "lut", vectors=125, decoded=True)
    dense = encode(rows, "dense", vectors=125)
    assert decoded.instructions < LUT_COST_LIMIT * dense.instructions


def test_lut_conv_costs_at_most_its_limit_in_qemu(pattern_path, tmp_path):
    """On the Cortex-M4 (SMLAD dense loops), the LUT-4 CONV_2D 3x3 layer costs at most 1.25x
    its dense instructions (per-layer counts), and the firmware equals TFLM."""
    path = pattern_path(Pattern(4, False), seed=320)
    counts = {}
    for mode in ("dense", "lut"):
        compiled = compile_model(path, tmp_path / mode / "model", weights=mode)
        first = [index for index, layer in enumerate(compiled.layers) if layer.op.kind == "CONV_2D"][0]
        assert compiled.layers[first].filter_encoding.kind == (DENSE if mode == "dense" else LUT)
        counts[mode] = run_in_qemu(compiled, tmp_path / mode, seed=21, profile=True)[first]
    assert counts["lut"] <= LUT_COST_LIMIT * counts["dense"], counts
