"""The weight encoders (tinygen/weights.py) on numpy arrays, without compiling anything.

A reference decoder written from the format's description (tg_filter_t in
templates/kernels/tg_conv.h) reads every encoding back: decoding gives the original int8
rows exactly, over index widths 1 to 6, one table per tensor or per channel, 0 to 90 %
zeros, all-zero rows and gaps longer than a step byte holds. The byte counts are the
format's arithmetic, and `auto` keeps a filter dense when no encoding pays.
"""

from dataclasses import replace

import numpy as np
import pytest

from tinygen import weights
from tinygen.weights import DENSE, LUT, SPARSE, SPARSE_LUT, encode


def array(encoding, name):
    found = [a.values for a in encoding.arrays if a.name == name]
    return found[0] if found else np.zeros(0)


def unpack(words, start, count, bits):
    """Indices start .. start + count of uint32 words, 32 // bits per word from the lowest bits."""
    per_word = 32 // bits
    return [(int(words[i // per_word]) >> (bits * (i % per_word))) & ((1 << bits) - 1)
            for i in range(start, start + count)]


def decode(encoding):
    """The rows an encoding stores, read as the kernels read them."""
    rows = np.zeros((encoding.rows, encoding.length), dtype=np.int8)
    if encoding.kind == DENSE:
        return array(encoding, "values").reshape(rows.shape)
    words, table, steps = array(encoding, "indices"), array(encoding, "table"), array(encoding, "steps")
    values, entries = array(encoding, "values"), array(encoding, "entries")
    index, step, value = 0, 0, 0
    for r in range(encoding.rows):
        row_table = table[r * encoding.table_stride:]
        count = encoding.length if encoding.kind == LUT else int(entries[r])
        if encoding.bits:
            row_values = [row_table[i] for i in unpack(words, index, count, encoding.bits)]
            index += count
        else:
            row_values = values[value:value + count]
            value += count
        if encoding.kind == LUT:
            rows[r] = row_values
            continue
        column = 0
        for v in row_values:
            column += int(steps[step])
            step += 1
            rows[r, column] = v
    return rows


def clustered(rng, shape, values, per_channel, sparsity=0.0, zero_rows=False):
    """int8 rows with at most `values` distinct nonzero values per row (or per tensor)."""
    candidates = np.array([v for v in range(-127, 128) if v != 0])
    shared = rng.choice(candidates, values, replace=False)
    rows = np.stack([rng.choice(rng.choice(candidates, values, replace=False) if per_channel else shared, shape[1])
                     for _ in range(shape[0])]).astype(np.int8)
    rows[rng.random(shape) < sparsity] = 0
    if zero_rows:
        rows[::2] = 0
    return rows


ROUND_TRIP_CASES = [(bits, per_channel, sparsity, zero_rows)
                    for bits in range(1, 7) for per_channel in (False, True)
                    for sparsity, zero_rows in ((0.0, False), (0.5, False), (0.9, False), (0.0, True))]


@pytest.mark.parametrize("bits, per_channel, sparsity, zero_rows", ROUND_TRIP_CASES,
                         ids=[f"{b}bit-{'channel' if c else 'tensor'}-{round(s * 100)}pct{'-zero-rows' if z else ''}"
                              for b, c, s, z in ROUND_TRIP_CASES])
def test_every_encoding_decodes_to_the_original(bits, per_channel, sparsity, zero_rows):
    """LUT, sparse and sparse LUT rows decode to the original weights; the index width is
    the smallest that addresses every table (zero, when present, takes an entry of LUT
    tables but not of sparse LUT tables)."""
    rng = np.random.default_rng(bits * 100 + int(per_channel) * 10 + int(sparsity * 10))
    nonzero = 2 ** bits - (1 if sparsity or zero_rows else 0)
    rows = clustered(rng, (12, 77), max(nonzero, 1), per_channel, sparsity, zero_rows)
    lut = weights.lut(rows, per_channel)
    sparse_lut = weights.sparse_lut(rows, per_channel)
    assert lut.bits <= bits and sparse_lut.bits <= bits
    if not (sparsity or zero_rows):  # every row holds (nearly) all its values: the width is exactly `bits`
        assert lut.bits == bits
    for encoding in (weights.dense(rows), lut, weights.sparse(rows), sparse_lut):
        np.testing.assert_array_equal(decode(encoding), rows)


@pytest.mark.parametrize("kind", [SPARSE, SPARSE_LUT])
def test_gaps_longer_than_a_step_are_bridged(kind):
    """Nonzero values more than 255 columns apart (or from column 0) are reached through
    zero-valued bridging entries; a sparse LUT table then holds a zero too."""
    rows = np.zeros((3, 1000), dtype=np.int8)
    rows[0, [0, 999]] = [5, -7]
    rows[1, 600] = 9
    encoding = weights.sparse(rows) if kind == SPARSE else weights.sparse_lut(rows, per_channel=False)
    np.testing.assert_array_equal(decode(encoding), rows)
    assert array(encoding, "steps").max() <= 255
    assert list(array(encoding, "entries")) == [2 + 3, 1 + 2, 0]  # 999 = 3 steps of 255 + 234; 600 = 255 + 255 + 90
    if kind == SPARSE_LUT:
        assert 0 in array(encoding, "table")


def test_byte_counts_follow_the_format():
    """Bytes are the arrays' sizes: words of 32 // bits indices (rows not aligned to words)
    plus 2^bits table entries per table; sparse rows a 2-byte count, then a step byte and a
    value byte (or a packed index) per entry."""
    rng = np.random.default_rng(7)
    rows = clustered(rng, (64, 100), 15, per_channel=True, sparsity=0.5)  # 15 nonzero values + zero: 4 bits
    entries = int(np.count_nonzero(rows))
    lut = weights.lut(rows, per_channel=True)
    assert lut.nbytes == 64 * 16 + -(-64 * 100 // 8) * 4
    assert weights.sparse(rows).nbytes == 64 * 2 + entries * 2
    sparse_lut = weights.sparse_lut(rows, per_channel=True)
    assert sparse_lut.nbytes == 64 * 2 + entries + -(-entries // 8) * 4 + 64 * 16
    assert weights.dense(rows).nbytes == rows.size == lut.dense_bytes


def test_a_tensor_no_encoding_helps_stays_dense():
    """Unclustered, unpruned int8 weights stay dense under auto, and under a forced lut
    (more than 64 values per table), each with its reason."""
    rows = np.random.default_rng(3).integers(-127, 128, size=(32, 256)).astype(np.int8)
    rows[rows == 0] = 1
    automatic = encode(rows, "auto")
    assert automatic.kind == DENSE and "no encoding saves" in automatic.reason
    forced = encode(rows, "lut")
    assert forced.kind == DENSE and "cannot hold it" in forced.reason
    assert encode(rows, "sparse").kind == SPARSE  # a forced mode that can hold it is used, even when larger
    assert encode(rows, "sparse").nbytes > rows.size


@pytest.mark.parametrize("values, sparsity, kind, bits", [
    (16, 0.0, LUT, 4),  # clustered: 4-bit LUT
    (4, 0.0, LUT, 2),
    (200, 0.9, SPARSE, 0),  # pruned, not clustered: sparse int8 values
    (16, 0.9, SPARSE_LUT, 4),  # pruned and clustered: sparse rows of 4-bit indices
    (16, 0.5, SPARSE_LUT, 4),  # half zeros, 15 other values: sparse LUT rows with a bitmap, decoded once
], ids=["16-clusters", "4-clusters", "90pct-pruned", "90pct-pruned-16-clusters", "50pct-pruned-16-clusters"])
def test_auto_takes_the_smallest_encoding_that_pays(values, sparsity, kind, bits):
    """auto picks the encoding with the fewest bytes (within the cost budget), for a filter
    decoded once and met by 100 input vectors (a CONV_2D)."""
    rng = np.random.default_rng(values)
    rows = clustered(rng, (64, 640), values - (1 if sparsity == 0.5 else 0), per_channel=True, sparsity=sparsity)
    chosen = encode(rows, "auto", vectors=100, decoded=True)
    assert (chosen.kind, chosen.bits) == (kind, bits)
    options = [replace(e, vectors=100, decoded=True) for e in weights.candidates(rows)]
    budget = weights.COST_BUDGET * replace(weights.dense(rows), vectors=100).instructions
    assert chosen.nbytes == min(e.nbytes for e in options if e.instructions <= budget)
    assert chosen.reason.startswith("auto:")


def test_auto_keeps_dense_when_an_encoding_costs_too_many_instructions(monkeypatch):
    """An encoding that saves bytes but costs more than COST_BUDGET times the dense kernel's
    instructions per inference is not taken: a row reader against the SMLAD loop (about 2.2x
    for a LUT), decoding a filter that meets one input vector, or a decoder made slow."""
    rows = clustered(np.random.default_rng(5), (64, 640), 16, per_channel=True)
    assert encode(rows, "auto", vectors=100, decoded=True).kind == LUT
    assert encode(rows, "auto").kind == DENSE
    assert encode(rows, "auto", decoded=True).kind == DENSE
    slow = {key: weights.RowCost(cost.per_row, cost.per_entry * 50, cost.per_value)
            for key, cost in weights.DECODE_COSTS.items()}
    monkeypatch.setattr(weights, "DECODE_COSTS", slow)
    assert encode(rows, "auto", vectors=100, decoded=True).kind == DENSE


def test_modes_and_inputs_are_checked():
    rows = np.zeros((2, 3), dtype=np.int8)
    with pytest.raises(ValueError, match="unknown weights mode"):
        encode(rows, "zip")
    with pytest.raises(ValueError, match="2-D int8"):
        encode(rows.astype(np.int16))
