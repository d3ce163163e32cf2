"""Block rows: sparse rows that store whole blocks of 4 consecutive values, with a bitmap of
one bit per block, and pair blocks, whose bits stand for the same block of two rows
(tinygen/weights.py, tg_filter_t in templates/kernels/tg_conv.h).

The encoder's layout is checked on hand-made rows against a reference decoder written from
the format; rows that are no whole number of blocks have no block form; forced modes take
blocks where they are smallest (rows pruned in blocks), the bitmap where zeros are scattered.
On the host and on an emulated Cortex-M4, models pruned in 1x4 blocks (50 %, 90 %, all-zero
rows; int8 values and LUT indices of 1 to 4 bits) are bit-exact with TFLite Micro: CONV_2D
decoding block rows, FULLY_CONNECTED reading them (SMLAD for int8 blocks on the M4), and
both reading pair blocks two rows at a time. In QEMU, a CONV_2D pruned in 2x4 blocks to
50 % costs fewer instructions as pair blocks than dense.
"""

import numpy as np
import pytest
from compressed_models import Pattern, pattern_path, run_in_qemu  # noqa: F401 (a fixture)
from modelgen import convert_int8, keras
from test_bitmap import only_positions
from test_decode import grouped_model
from test_encoders import array, unpack

from tinygen import weights
from tinygen.compiler import compile_model, plan_model
from tinygen.verify import verify_host
from tinygen.weights import BITMAP, BLOCK_VALUES, BLOCKS, DENSE, PAIR_BLOCKS, SPARSE, SPARSE_LUT



def block_rows(rng, rows, length, empty_share, block_rows=1):
    """int8 rows of `length` values whose blocks (of `block_rows` rows) are empty with
    probability `empty_share`, the others without zeros."""
    values = rng.choice(np.array([v for v in range(-127, 128) if v], dtype=np.int8), size=(rows, length))
    empty = rng.random((rows // block_rows, length // BLOCK_VALUES)) < empty_share
    values[np.repeat(np.repeat(empty, block_rows, axis=0), BLOCK_VALUES, axis=1)] = 0
    return values


def decode_blocks(encoding):
    """The rows a block encoding stores, read as the kernels read them."""
    blocks = encoding.length // BLOCK_VALUES
    words = array(encoding, "bitmap").astype(np.uint64)
    stored = ((words[:, None] >> np.arange(32, dtype=np.uint64)) & 1).reshape(-1)[:encoding.rows * blocks]
    stored = stored.reshape(encoding.rows, blocks).astype(bool)
    rows = np.zeros((encoding.rows, encoding.length), dtype=np.int8)
    entry = 0
    for r, row_blocks in enumerate(stored):
        columns = (np.flatnonzero(row_blocks)[:, None] * BLOCK_VALUES + np.arange(BLOCK_VALUES)).reshape(-1)
        if encoding.bits:
            table = array(encoding, "table")
            values = [table[r * encoding.table_stride + i]
                      for i in unpack(array(encoding, "indices"), entry, len(columns), encoding.bits)]
        else:
            values = array(encoding, "values")[entry:entry + len(columns)]
        rows[r, columns] = values
        entry += len(columns)
    return rows


@pytest.mark.parametrize("rows, length", [(3, 12), (5, 36), (9, 132)])  # rows start inside bitmap words
def test_block_layout_round_trips(rows, length):
    """A bit per block, row after row across words; the stored blocks' values in order, their
    zeros included; entries count the stored values."""
    filter_ = block_rows(np.random.default_rng(length), rows, length, 0.5)
    filter_[1] = 0  # an all-zero row stores nothing
    encoding = weights.sparse(filter_, BLOCKS)
    assert np.array_equal(decode_blocks(encoding), filter_)
    stored_blocks = int(filter_.reshape(rows, -1, BLOCK_VALUES).any(axis=2).sum())
    assert encoding.entries == BLOCK_VALUES * stored_blocks
    assert encoding.nbytes == -(-(rows * length // BLOCK_VALUES) // 32) * 4 + encoding.entries


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_block_lut_layout_round_trips(bits):
    """Block rows of LUT indices: every value of a stored block, zero included, is an index."""
    rng = np.random.default_rng(bits)
    palette = np.arange(-120, 121, 16, dtype=np.int8)[:(1 << bits) - 1]  # nonzero values
    filter_ = rng.choice(palette, size=(6, 40)).astype(np.int8)
    filter_[np.repeat(rng.random((6, 10)) < 0.5, BLOCK_VALUES, axis=1)] = 0
    encoding = weights.sparse_lut(filter_, per_channel=False, positions=BLOCKS)
    assert encoding.bits == bits
    assert np.array_equal(decode_blocks(encoding), filter_)


def decode_pair_blocks(encoding):
    """The rows a pair-block encoding stores, read as its kernels read them."""
    blocks = encoding.length // BLOCK_VALUES
    words = array(encoding, "bitmap").astype(np.uint64)
    pairs = encoding.rows // 2
    stored = ((words[:, None] >> np.arange(32, dtype=np.uint64)) & 1).reshape(-1)[:pairs * blocks]
    rows = np.zeros((encoding.rows, encoding.length), dtype=np.int8)
    values = iter(array(encoding, "values"))
    for pair, block in zip(*np.nonzero(stored.reshape(pairs, blocks))):
        for row in (2 * pair, 2 * pair + 1):
            rows[row, block * BLOCK_VALUES:(block + 1) * BLOCK_VALUES] = [next(values) for _ in range(BLOCK_VALUES)]
    return rows


@pytest.mark.parametrize("rows, length", [(4, 12), (6, 36), (10, 132)])
def test_pair_block_layout_round_trips(rows, length):
    """A bit per block of a row pair, pair after pair across words; each stored block gives
    the first row's four values, then the second's; a block empty in one row only is stored
    with its zeros."""
    filter_ = block_rows(np.random.default_rng(length), rows, length, 0.5, block_rows=2)
    filter_[1, :BLOCK_VALUES] = 0  # empty in the second row of its pair only
    encoding = weights.sparse(filter_, PAIR_BLOCKS)
    assert np.array_equal(decode_pair_blocks(encoding), filter_)
    stored = filter_.reshape(rows // 2, 2, -1, BLOCK_VALUES).any(axis=(1, 3))
    assert encoding.entries == 2 * BLOCK_VALUES * int(stored.sum())


def test_pair_blocks_need_even_rows_and_int8_values():
    """An odd number of rows has no pair form, and pair blocks hold no LUT indices."""
    filter_ = block_rows(np.random.default_rng(2), 6, 16, 0.5, block_rows=2)
    assert weights.sparse(filter_[:5], PAIR_BLOCKS) is None
    assert weights.sparse_lut(filter_, False, PAIR_BLOCKS) is None


def test_rows_of_partial_blocks_have_no_block_form():
    """Rows whose length is not a multiple of 4 (a 3x3 depthwise filter's 9 taps)."""
    filter_ = block_rows(np.random.default_rng(1), 4, 12, 0.5)[:, :9]
    assert weights.sparse(filter_, BLOCKS) is None
    assert weights.sparse_lut(filter_, False, BLOCKS) is None


def test_forced_sparse_takes_blocks_only_where_they_are_smallest():
    """Pruned in blocks, block rows are the smallest sparse form (pair blocks, pruned in
    blocks of two rows); scattered zeros fill most blocks, and the bitmap of values wins."""
    rng = np.random.default_rng(3)
    pruned_in_blocks = block_rows(rng, 16, 128, 0.5)
    assert weights.encode(pruned_in_blocks, SPARSE).positions == BLOCKS
    assert weights.encode(block_rows(rng, 16, 128, 0.5, block_rows=2), SPARSE).positions == PAIR_BLOCKS
    scattered = block_rows(rng, 16, 128, 0.0)
    scattered[rng.random(scattered.shape) < 0.5] = 0
    assert weights.encode(scattered, SPARSE).positions == BITMAP


def test_depthwise_never_takes_blocks(pattern_path, monkeypatch):
    """DEPTHWISE_CONV_2D decodes every filter and has no block form (its rows are taps)."""
    path = pattern_path(Pattern(2, False, 0.5, block=4), seed=520)
    for positions in (BLOCKS, PAIR_BLOCKS):
        only_positions(monkeypatch, positions)
        (layer,) = [layer for layer in plan_model(path, weights=SPARSE).layers
                    if layer.op.kind == "DEPTHWISE_CONV_2D"]
        assert layer.filter_encoding.positions not in (BLOCKS, PAIR_BLOCKS)


def test_grouped_conv_of_odd_groups_takes_no_pair_blocks(tmp_path, monkeypatch):
    """Pair blocks take the rows of a group two at a time: a CONV_2D of 3 channels a group
    cannot have them."""
    path = grouped_model(tmp_path / "grouped.tflite", seed=525)
    only_positions(monkeypatch, PAIR_BLOCKS)
    (layer,) = [layer for layer in plan_model(path, weights=SPARSE).layers if layer.op.kind == "CONV_2D"]
    assert layer.filter_encoding.positions != PAIR_BLOCKS


# --- bit-exact with TFLM -------------------------------------------------------------

SPARSITIES = [(0.5, False), (0.9, False), (0.5, True)]
HOST_CASES = ([(Pattern(5, True, sparsity, zero_rows, block=4), SPARSE) for sparsity, zero_rows in SPARSITIES]
              + [(Pattern(bits, bits % 2 == 0, sparsity, zero_rows, block=4), SPARSE_LUT) for bits in range(1, 5)
                 for sparsity, zero_rows in SPARSITIES])


def block_layers(layers):
    """The layers whose rows are whole blocks: CONV_2D 1x1 (16 values) and FULLY_CONNECTED
    (384); the 3x3 CONV_2D (27) and the depthwise filter (9 taps) are not."""
    return [layer for layer in layers if layer.filter_encoding is not None
            and layer.filter_encoding.length % BLOCK_VALUES == 0 and layer.op.kind != "DEPTHWISE_CONV_2D"]


@pytest.mark.parametrize("pattern, mode", HOST_CASES, ids=[f"{p.id}-{m}" for p, m in HOST_CASES])
def test_host_bit_exact(pattern_path, monkeypatch, pattern, mode):
    """Forced to block rows, the 1x1 CONV_2D (decoding them) and the FULLY_CONNECTED (reading
    them) take them, and every output byte equals TFLM's."""
    seed = 500 + HOST_CASES.index((pattern, mode))
    path = pattern_path(pattern, seed)
    only_positions(monkeypatch, BLOCKS)
    layers = block_layers(plan_model(path, weights=mode).layers)
    assert [(layer.op.kind, layer.filter_encoding.kind, layer.filter_encoding.positions) for layer in layers] == [
        ("CONV_2D", mode, BLOCKS), ("FULLY_CONNECTED", mode, BLOCKS)]
    assert layers[0].params["filter_decoder"].endswith("_blocks" + str(layers[0].filter_encoding.bits or ""))
    result = verify_host(path, count=3, seed=seed, weights=mode)
    assert result.bit_exact, result.first_mismatch


@pytest.mark.parametrize("pattern", [Pattern(5, True, 0.5, block=4), Pattern(4, False, 0.5, True, block=4)],
                         ids=lambda p: p.id)
def test_block_rows_bit_exact_on_cortex_m4(pattern_path, monkeypatch, tmp_path, pattern):
    """The block readers and decoders cross-compiled for a Cortex-M4 (SMLAD for int8 blocks,
    table lookups for indices) and run in QEMU equal TFLM, byte for byte."""
    path = pattern_path(pattern, seed=540)
    only_positions(monkeypatch, BLOCKS)
    for mode in (SPARSE, SPARSE_LUT):
        compiled = compile_model(path, tmp_path / mode / "model", weights=mode)
        assert {layer.filter_encoding.positions for layer in block_layers(compiled.layers)} == {BLOCKS}
        run_in_qemu(compiled, tmp_path / mode, seed=19)


PAIR_PATTERNS = [Pattern(5, True, 0.5, block=4, paired_blocks=True),
                 Pattern(3, False, 0.9, block=4, paired_blocks=True)]


@pytest.mark.parametrize("pattern", PAIR_PATTERNS, ids=lambda p: p.id)
def test_pair_blocks_host_bit_exact(pattern_path, monkeypatch, pattern):
    """Forced to pair blocks, the 1x1 CONV_2D (6 channels) and the FULLY_CONNECTED (10) read
    them two rows at a time with their own kernels, and every output byte equals TFLM's."""
    seed = 550 + PAIR_PATTERNS.index(pattern)
    path = pattern_path(pattern, seed)
    only_positions(monkeypatch, PAIR_BLOCKS)
    layers = block_layers(plan_model(path, weights=SPARSE).layers)
    assert [(layer.op.kind, layer.filter_encoding.positions, layer.params["pair_blocks"]) for layer in layers] == [
        ("CONV_2D", PAIR_BLOCKS, 1), ("FULLY_CONNECTED", PAIR_BLOCKS, 1)]
    result = verify_host(path, count=3, seed=seed, weights=SPARSE)
    assert result.bit_exact, result.first_mismatch


def pair_block_conv_model(path, seed):
    """CONV_2D 3x3 of 32 input channels (rows of 288 values) to 32, on 8x8, pruned in blocks
    of 2 output channels by 4 values: half of the blocks are zero."""
    k = keras()
    k.utils.set_random_seed(seed)
    x = k.Input(shape=(8, 8, 32), batch_size=1)
    layer = k.layers.Conv2D(32, 3, padding="same")
    model = k.Model(x, layer(x))
    rng = np.random.default_rng(seed)
    kernel, bias = layer.get_weights()
    rows = kernel.reshape(-1, 32).T.copy()  # [C_out, taps * C_in], TFLite's rows
    empty = np.repeat(np.repeat(rng.random((16, 72)) < 0.5, 2, axis=0), BLOCK_VALUES, axis=1)
    rows[empty] = 0.0
    layer.set_weights([rows.T.reshape(kernel.shape), rng.normal(0.0, 0.5, bias.shape).astype(np.float32)])
    return convert_int8(model, path, seed=seed)


def test_pair_block_conv_beats_dense_in_qemu(tmp_path):
    """On the Cortex-M4, the CONV_2D pruned in 2x4 blocks to 50 %, as pair blocks, equals
    TFLM and costs fewer instructions than the same layer dense (per-layer counts)."""
    path = pair_block_conv_model(tmp_path / "pairs.tflite", seed=560)
    counts = {}
    for mode in (DENSE, SPARSE):
        compiled = compile_model(path, tmp_path / mode / "model", weights=mode)
        (index,) = [i for i, layer in enumerate(compiled.layers) if layer.op.kind == "CONV_2D"]
        assert compiled.layers[index].filter_encoding.positions == ("" if mode == DENSE else PAIR_BLOCKS)
        counts[mode] = run_in_qemu(compiled, tmp_path / mode, seed=33, profile=True)[index]
    assert counts[SPARSE] < counts[DENSE], counts


LUT_PAIR_PATTERNS = [Pattern(bits, False, 0.5, block=4, paired_blocks=True) for bits in (1, 2, 4)]


@pytest.mark.parametrize("pattern", LUT_PAIR_PATTERNS, ids=lambda p: p.id)
def test_lut_pair_blocks_host_bit_exact(pattern_path, monkeypatch, pattern):
    """Pair blocks of 1-, 2- and 4-bit indices with one table: the FULLY_CONNECTED reads them
    through a pair table (its own kernel, the pair table's scratch), the CONV_2D, which has no
    kernel for them, takes none, and every output byte equals TFLM's."""
    seed = 570 + LUT_PAIR_PATTERNS.index(pattern)
    path = pattern_path(pattern, seed)
    only_positions(monkeypatch, PAIR_BLOCKS)
    conv, dense = block_layers(plan_model(path, weights=SPARSE_LUT).layers)
    assert conv.filter_encoding.positions != PAIR_BLOCKS
    assert (dense.filter_encoding.kind, dense.filter_encoding.positions, dense.filter_encoding.bits) == (
        SPARSE_LUT, PAIR_BLOCKS, pattern.bits)
    assert dense.params["pairs_kernel"] == f"tg_fully_connected_sparse_lut_pair_blocks{pattern.bits}_s8"
    assert dense.scratch_bytes == dense.filter_encoding.pair_scratch_bytes > 0
    result = verify_host(path, count=3, seed=seed, weights=SPARSE_LUT)
    assert result.bit_exact, result.first_mismatch


def test_lut_pair_blocks_bit_exact_on_cortex_m4(pattern_path, monkeypatch, tmp_path):
    """The LUT pair-block kernel cross-compiled for a Cortex-M4 (SMLAD on pair-table entries)
    and run in QEMU equals TFLM, byte for byte."""
    path = pattern_path(LUT_PAIR_PATTERNS[-1], seed=580)
    only_positions(monkeypatch, PAIR_BLOCKS)
    compiled = compile_model(path, tmp_path / "model", weights=SPARSE_LUT)
    assert [layer.filter_encoding.lut_pair_blocks for layer in block_layers(compiled.layers)] == [False, True]
    run_in_qemu(compiled, tmp_path, seed=27)
