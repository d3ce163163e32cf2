"""Sparse rows whose entries' columns are a bitmap (tinygen/weights.py, tg_filter_t in
templates/kernels/tg_conv.h), against the same rows with steps.

The encoder's bit layout is checked on hand-made rows (rows that start and end inside a
word, all-zero rows, an all-zero filter) with a reference decoder written from the format;
forced modes and `auto` take the bitmap or the steps, whichever is smaller. On the host and
on an emulated Cortex-M4, filters with each kind of positions forced are bit-exact with
TFLite Micro over 0 %, 50 % and 90 % zeros, all-zero rows and LUT indices of 1 to 4 bits.
"""

import numpy as np
import pytest
from compressed_models import Pattern, pattern_path, run_in_qemu  # noqa: F401 (a fixture)
from test_encoders import array, clustered, unpack

from tinygen import weights
from tinygen.compiler import compile_model, plan_model
from tinygen.verify import verify_host
from tinygen.weights import BITMAP, SPARSE, SPARSE_LUT, STEPS, encode



def bitmap_bits(encoding):
    """The bitmap's bits as one stream, row after row."""
    words = array(encoding, "bitmap").astype(np.uint64)
    stream = (words[:, None] >> np.arange(32, dtype=np.uint64)) & 1
    return stream.reshape(-1)[:encoding.rows * encoding.length].astype(bool)


def decode_bitmap(encoding):
    """The rows a bitmap encoding stores, read as the kernels read them."""
    stored = bitmap_bits(encoding).reshape(encoding.rows, encoding.length)
    rows = np.zeros(stored.shape, dtype=np.int8)
    table = array(encoding, "table")
    entry = 0
    for r, columns in enumerate(stored):
        count = int(columns.sum())
        if encoding.bits:
            values = [table[r * encoding.table_stride + i] for i in unpack(array(encoding, "indices"), entry, count,
                                                                           encoding.bits)]
        else:
            values = array(encoding, "values")[entry:entry + count]
        rows[r, columns] = values
        entry += count
    return rows


def only_positions(monkeypatch, positions):
    """Make the encoder consider sparse rows with `positions` only (a forced mode then takes
    them wherever it can hold the filter)."""
    every = weights.candidates
    monkeypatch.setattr(weights, "candidates", lambda *args, **kwargs: [e for e in every(*args, **kwargs)
                                                                        if e.positions in ("", positions)])


def test_bits_follow_each_other_across_rows_and_words():
    """Rows of 5 values take bits 0-4, 5-9, ...: bit c of row r is bit 5r + c of the stream,
    lowest bit of a word first; the values are the nonzero ones in order."""
    rows = np.array([[0, 5, 0, 0, -3], [7, 0, 0, 0, 0], [0, 0, 0, 0, 0]] + [[1, 0, 0, 0, 0]] * 4
                    + [[0, 0, 2, 0, 9]], dtype=np.int8)  # row 6 holds bits 30-34: it crosses a word
    encoding = weights.sparse(rows, BITMAP)
    expected = (1 << 1) | (1 << 4) | (1 << 5) | sum(1 << 5 * r for r in range(3, 7))
    assert list(array(encoding, "bitmap")) == [expected & 0xFFFFFFFF, (1 << 37 - 32) | (1 << 39 - 32)]
    assert list(array(encoding, "values")) == [5, -3, 7, 1, 1, 1, 1, 2, 9]
    assert (encoding.entries, encoding.positions, encoding.nbytes) == (9, BITMAP, 8 + 9)
    assert "bitmap" in encoding.describe()


@pytest.mark.parametrize("length", [9, 31, 32, 33, 77])
@pytest.mark.parametrize("bits", [0, 1, 3, 4, 6])
def test_bitmap_rows_decode_to_the_original(length, bits):
    """Rows starting anywhere in a word, all-zero rows, int8 values and 1- to 6-bit indices
    (rows of indices too start inside their words) decode to the original rows."""
    rng = np.random.default_rng(length * 10 + bits)
    rows = clustered(rng, (13, length), 2 ** bits - 1 if bits else 100, per_channel=bits % 2 == 1, sparsity=0.5)
    rows[[2, 3, 7]] = 0
    encoding = weights.sparse(rows, BITMAP) if not bits else weights.sparse_lut(rows, bits % 2 == 1, BITMAP)
    np.testing.assert_array_equal(decode_bitmap(encoding), rows)
    assert encoding.entries == np.count_nonzero(rows) and encoding.bits <= bits
    assert array(encoding, "bitmap").size == -(-rows.size // 32)


@pytest.mark.parametrize("kind", [SPARSE, SPARSE_LUT])
def test_an_all_zero_filter_stores_only_its_bitmap(kind):
    """No entries: the bitmap is all zeros and there are no values (one table of zeros for
    sparse LUT rows)."""
    rows = np.zeros((4, 40), dtype=np.int8)
    encoding = weights.sparse(rows, BITMAP) if kind == SPARSE else weights.sparse_lut(rows, False, BITMAP)
    assert encoding.entries == 0 and not array(encoding, "bitmap").any()
    assert array(encoding, "bitmap").size == 5 and array(encoding, "values").size == 0
    np.testing.assert_array_equal(decode_bitmap(encoding), rows)


@pytest.mark.parametrize("sparsity, length, positions", [
    (0.5, 640, BITMAP),  # 1 bit a value against 2 bytes a row and 8 bits an entry
    (0.85, 640, BITMAP),
    (0.95, 640, STEPS),  # fewer than 1 in 8 values stored: steps are smaller
    (0.9, 9, BITMAP),  # 9 taps: the count of a row costs more than its bitmap
])
def test_forced_sparse_modes_take_the_smaller_positions(sparsity, length, positions):
    """A forced sparse mode takes the bitmap or the steps, whichever has fewer bytes: a
    bitmap costs rows * length bits (in whole words), steps 2 bytes a row and 1 an entry."""
    rows = clustered(np.random.default_rng(11), (64, length), 15, per_channel=True, sparsity=sparsity)
    entries = int(np.count_nonzero(rows))
    assert weights.sparse(rows, BITMAP).nbytes == -(-rows.size // 32) * 4 + entries
    for mode in (SPARSE, SPARSE_LUT):
        chosen = encode(rows, mode)
        assert chosen.positions == positions
        assert chosen.nbytes == min(e.nbytes for e in weights.candidates(rows) if e.kind == mode)


def test_pruned_and_clustered_filter_as_a_bitmap_is_three_eighths_of_dense():
    """Half zeros and 15 other values: 1 bit of bitmap and half a 4-bit index a value, plus
    a table of 16 bytes: 0.375x dense, against 0.75x with steps."""
    rows = clustered(np.random.default_rng(15), (64, 640), 15, per_channel=False, sparsity=0.5)
    bitmap, steps = weights.sparse_lut(rows, False, BITMAP), weights.sparse_lut(rows, False, STEPS)
    assert bitmap.nbytes / rows.size < 0.38 < 0.74 < steps.nbytes / rows.size


# --- bit-exact with TFLM -------------------------------------------------------------

SPARSITIES = [(0.0, False), (0.5, False), (0.9, False), (0.0, True)]
HOST_CASES = ([(Pattern(2, True, sparsity, zero_rows), SPARSE, positions) for sparsity, zero_rows in SPARSITIES
               for positions in (STEPS, BITMAP)]
              + [(Pattern(bits, bits % 2 == 0, sparsity, zero_rows), SPARSE_LUT, BITMAP) for bits in range(1, 5)
                 for sparsity, zero_rows in SPARSITIES]
              + [(Pattern(3, False, sparsity, zero_rows), SPARSE_LUT, STEPS) for sparsity, zero_rows in SPARSITIES])


@pytest.mark.parametrize("pattern, mode, positions", HOST_CASES,
                         ids=[f"{p.id}-{m}-{positions}" for p, m, positions in HOST_CASES])
def test_host_bit_exact(pattern_path, monkeypatch, pattern, mode, positions):
    """Every filter of the model (CONV_2D 3x3, DEPTHWISE_CONV_2D 3x3, CONV_2D 1x1 and
    FULLY_CONNECTED) takes the forced mode with the forced positions, and every output byte
    equals TFLM's."""
    seed = 400 + HOST_CASES.index((pattern, mode, positions))
    path = pattern_path(pattern, seed)
    only_positions(monkeypatch, positions)
    encodings = [layer.filter_encoding for layer in plan_model(path, weights=mode).layers
                 if layer.filter_encoding is not None]
    assert [(e.kind, e.positions) for e in encodings] == [(mode, positions)] * 4
    result = verify_host(path, count=3, seed=seed, weights=mode)
    assert result.bit_exact, result.first_mismatch


@pytest.mark.parametrize("pattern", [Pattern(4, True, 0.5), Pattern(1, False, 0.0, zero_rows=True)],
                         ids=lambda p: p.id)
def test_bitmap_bit_exact_on_cortex_m4(pattern_path, monkeypatch, tmp_path, pattern):
    """The bitmap readers cross-compiled for a Cortex-M4 (RBIT and CLZ) and run in QEMU
    equal TFLM, byte for byte, for int8 values and LUT indices."""
    path = pattern_path(pattern, seed=210)
    only_positions(monkeypatch, BITMAP)
    for mode in (SPARSE, SPARSE_LUT):
        compiled = compile_model(path, tmp_path / mode / "model", weights=mode)
        assert {layer.filter_encoding.positions for layer in compiled.layers if layer.filter_encoding} == {BITMAP}
        run_in_qemu(compiled, tmp_path / mode, seed=17)
