"""FULLY_CONNECTED on LUT filters with one table per tensor, two values per SMLAD ("pair tables").

tg_fully_connected_lut_pairs<bits>_s8 (templates/kernels/tg_conv_compressed.c) looks up both
weights of a pair of columns in a table of weight pairs built once per call, and multiplies
them with the input split into int16 pairs. The encoder marks the filters it can run
(Encoding.paired: one stored table for the tensor, 1- to 4-bit indices, rows of even length);
the others keep the reader of one value at a time. On the host, Keras Dense layers quantized
per tensor and clustered to 2^bits values equal TFLite Micro byte for byte for every width,
with rows of whole words of indices (read two rows at a time) and rows that start inside a
word (one at a time), over one and two batches; an odd input depth and tables per channel
fall back to the plain reader, still bit-exact. On an emulated Cortex-M4 (SMLAD) a paired
4-bit layer is bit-exact and costs at most 1.25x the dense layer's instructions.
"""

import numpy as np
import pytest
from compressed_models import Pattern, run_in_qemu, set_pattern
from modelgen import convert_int8, keras
from test_encoders import clustered

from tinygen import weights
from tinygen.compiler import compile_model, plan_model
from tinygen.verify import verify_host
from tinygen.weights import CHANNEL, CODEBOOK, DENSE, LUT, LUT_PAIRS, LUT_PAIRS_UNALIGNED, TENSOR, encode

LUT_COST_LIMIT = 1.25  # the target: a LUT FULLY_CONNECTED within 1.25x the dense instructions
OUTPUTS = 7  # odd: the two-rows loop leaves a last row to the one-row reader


def dense_model(path, depths, pattern, seed, batches=1):
    """Dense layers input depths[0] -> depths[1] -> ..., every kernel following `pattern`
    (per tensor: one int8 scale per tensor), converted to int8 with `batches` rows."""
    k = keras()
    k.utils.set_random_seed(seed)
    x = k.Input(shape=(depths[0],), batch_size=batches)
    layers = [k.layers.Dense(units) for units in depths[1:]]
    y = x
    for layer in layers:
        y = layer(y)
    model = k.Model(x, y)
    rng = np.random.default_rng(seed)
    for layer in layers:
        set_pattern(layer, pattern, rng)
    return convert_int8(model, path, seed=seed, per_tensor_dense=not pattern.per_channel)


def fully_connected_layers(path, mode):
    return [layer for layer in plan_model(path, weights=mode).layers if layer.op.kind == "FULLY_CONNECTED"]


def assert_bit_exact(path, mode, seed):
    result = verify_host(path, count=3, seed=seed, weights=mode)
    assert result.bit_exact, result.first_mismatch


# Per width: rows of whole words (64, 32, 20 and 16 values: two words each), rows of 6 values
# (a row within a word or across two, never a whole word) and rows of 34 (a part of a first
# word, whole words, a part of a last word).
SHAPES = [("whole", 2), (6, 1), (34, 2)]
CASES = [(bits, depth, batches) for bits in (1, 2, 3, 4) for depth, batches in SHAPES]


@pytest.mark.parametrize("bits, depth, batches", CASES,
                         ids=[f"{bits}bit-{depth}-x{batches}" for bits, depth, batches in CASES])
def test_paired_rows_bit_exact_on_the_host(tmp_path, bits, depth, batches):
    """A Dense layer clustered to 2^bits values per tensor runs the paired kernel of its
    width, with the pair table and the input pairs in its scratch, and equals TFLM."""
    seed = 500 + CASES.index((bits, depth, batches))
    if depth == "whole":
        depth = 2 * (32 // bits)
    path = dense_model(tmp_path / "model.tflite", [depth, OUTPUTS], Pattern(bits, False), seed, batches)
    (layer,) = fully_connected_layers(path, "lut")
    encoding = layer.filter_encoding
    assert (encoding.kind, encoding.bits, encoding.table_scope, encoding.paired) == (LUT, bits, TENSOR, True)
    whole_words = depth % (32 // bits) == 0
    assert encoding.cost_key == (LUT_PAIRS if whole_words else LUT_PAIRS_UNALIGNED, bits)
    assert layer.params["pairs_kernel"] == f"tg_fully_connected_lut_pairs{bits}_s8"
    assert layer.scratch_bytes == 4 * 2 ** (2 * bits) + 2 * depth
    assert_bit_exact(path, "lut", seed)


def test_odd_input_depth_falls_back_to_the_value_reader(tmp_path):
    """Rows of 9 values cannot be read in pairs: the layer keeps tg_fully_connected_compressed_s8
    with the 4-bit reader, no scratch, and equals TFLM."""
    path = dense_model(tmp_path / "odd.tflite", [9, OUTPUTS], Pattern(4, False), seed=530)
    (layer,) = fully_connected_layers(path, "lut")
    assert (layer.filter_encoding.table_scope, layer.filter_encoding.paired) == (TENSOR, False)
    assert layer.params["pairs_kernel"] == ""
    assert layer.params["filter_reader"] == "tg_row_dot_lut4"
    assert layer.scratch_bytes == 0
    assert_bit_exact(path, "lut", seed=530)


TABLE_PATTERNS = [Pattern(4, True), Pattern(4, True, shared_codebook=True)]


@pytest.mark.parametrize("pattern, scope", zip(TABLE_PATTERNS, (CHANNEL, CODEBOOK)), ids=["channel", "codebook"])
def test_tables_per_channel_fall_back_to_the_value_reader(tmp_path, pattern, scope):
    """A Dense layer quantized per channel whose 24 channels hold different values (more
    than one table of 64 holds) takes 4-bit tables per channel (stored, or derived from a
    codebook), which one pair table cannot hold: the plain 4-bit reader, bit-exact."""
    seed = 540 + TABLE_PATTERNS.index(pattern)
    path = dense_model(tmp_path / "channels.tflite", [64, 24], pattern, seed)
    (layer,) = fully_connected_layers(path, "lut")
    encoding = layer.filter_encoding
    assert (encoding.bits, encoding.table_scope, encoding.paired) == (4, scope, False)
    assert layer.params["pairs_kernel"] == ""
    assert layer.params["filter_reader"] == "tg_row_dot_lut4"
    assert_bit_exact(path, "lut", seed)


def test_the_cost_model_counts_pairs_and_setup():
    """Paired rows cost about the dense loop (within COST_BUDGET), so auto takes a 4-bit LUT
    for a FULLY_CONNECTED with one table, which it refuses when the rows are read value by
    value (odd length); the setup counts the pair table once and the input split per vector."""
    rows = clustered(np.random.default_rng(6), (128, 128), 16, per_channel=False)
    paired = encode(rows, "auto")
    assert (paired.kind, paired.bits, paired.paired) == (LUT, 4, True)
    dense = encode(rows, "dense")
    assert paired.instructions <= weights.COST_BUDGET * dense.instructions
    assert paired.setup_instructions == 256 * weights.PAIR_TABLE_ENTRY_COST + 128 * weights.PAIR_SPLIT_VALUE_COST
    assert encode(rows, "auto", vectors=3).setup_instructions == (
        256 * weights.PAIR_TABLE_ENTRY_COST + 3 * 128 * weights.PAIR_SPLIT_VALUE_COST)
    assert paired.pair_scratch_bytes == 4 * 256 + 2 * 128
    assert "read in pairs" in paired.describe()
    odd = encode(rows[:, :127], "auto")
    assert odd.kind == DENSE
    assert not encode(rows[:, :127], "lut").paired
    assert not encode(rows, "lut", decoded=True).paired  # CONV_2D decodes its rows instead


def test_paired_lut_costs_at_most_its_limit_in_qemu(tmp_path):
    """On the Cortex-M4, Dense 256 -> 70 (rows of whole words, two at a time) -> 10 (rows of
    70 values, starting inside words) clustered to 16 values per tensor: both layers run the
    paired kernel, the firmware equals TFLM, and the first layer costs at most 1.25x its
    dense instructions (per-layer counts)."""
    path = dense_model(tmp_path / "m4.tflite", [256, 70, 10], Pattern(4, False), seed=550)
    counts = {}
    for mode in ("dense", "lut"):
        compiled = compile_model(path, tmp_path / mode / "model", weights=mode)
        layers = [index for index, layer in enumerate(compiled.layers) if layer.op.kind == "FULLY_CONNECTED"]
        assert [compiled.layers[i].filter_encoding.paired for i in layers] == [mode == "lut"] * 2
        counts[mode] = run_in_qemu(compiled, tmp_path / mode, seed=23, profile=True)[layers[0]]
    assert counts["lut"] <= LUT_COST_LIMIT * counts["dense"], counts
