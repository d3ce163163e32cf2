"""LUT tables per channel derived from a shared codebook (tinygen/weights.py, "codebook tables").

A filter clustered per tensor in float and quantized per output channel holds different int8
values in every channel, all of them round(K / m_ch) for one set of K and each channel's
output multiplier m_ch. The encoder finds integer codebook entries from which the kernel's
formula (codebook_values, the port of tg_codebook_tables) derives every channel's table; it
must give each stored value back exactly, or the filter keeps stored tables. Unit tests run
the encoder on hand-made rows and multipliers (the formula against exact rational rounding,
decoding through the derived tables, the fewest entries, the refusals); model tests compile a
Keras model clustered per tensor and converted per channel, check that every filter takes
the codebook scope, and compare every output byte with TFLite Micro on the host and on an
emulated Cortex-M4.
"""

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from compressed_models import Pattern, pattern_path, run_in_qemu  # noqa: F401 (a fixture)
from test_encoders import decode

from tinygen import weights
from tinygen.compiler import compile_model, plan_model
from tinygen.quant import per_channel_multipliers
from tinygen.verify import verify_host
from tinygen.weights import CHANNEL, CODEBOOK, LUT, SPARSE_LUT, Requantization, codebook_values, encode

CODEBOOK_PATTERNS = [Pattern(4, True, shared_codebook=True), Pattern(4, True, 0.5, shared_codebook=True)]


def quantized_per_channel(centroids, rows, length, rng, input_scale=0.02, output_scale=0.05):
    """int8 rows whose float weights are drawn from `centroids` (each row from those up to a
    magnitude of its own), quantized per row as the converter does, and their Requantization."""
    magnitudes = np.sort(np.abs(centroids))
    floats = np.zeros((rows, length))
    for row in range(rows):
        allowed = centroids[np.abs(centroids) <= rng.choice(magnitudes[len(magnitudes) // 2:])]
        floats[row] = rng.choice(allowed, length)
    scales = np.abs(floats).max(axis=1) / 127
    values = np.clip(np.round(floats / scales[:, None]), -127, 127).astype(np.int8)
    multipliers, shifts = per_channel_multipliers(input_scale, tuple(np.float32(scales)), output_scale, rows)
    return values, Requantization(multipliers, shifts)


def with_derived_tables(encoding, requant):
    """The encoding with its codebook replaced by the tables the kernel derives from it."""
    entries = [a.values for a in encoding.arrays if a.name == "codebook"][0].astype(np.int64)
    divisors = np.asarray(requant.multipliers, np.int64)[:, None] >> weights.CODEBOOK_DIVISOR_SHIFT
    shifts = encoding.codebook_shift - np.asarray(requant.shifts, np.int64)[:, None]
    tables = np.zeros((encoding.rows, encoding.table_stride), dtype=np.int8)
    tables[:, :len(entries)] = codebook_values(entries[None, :], divisors, shifts)
    table = weights.PackedArray("table", "int8_t", tables.reshape(-1), "derived")
    return replace(encoding, arrays=tuple(a for a in encoding.arrays if a.name != "codebook") + (table,))


def test_the_formula_rounds_half_away_from_zero_without_overflow():
    """codebook_values is N / d rounded half away from zero, N the clamped entry times 2^n,
    clamped to int8, and every intermediate of the C formula fits in int32."""
    rng = np.random.default_rng(1)
    entries = np.concatenate([rng.integers(-2 ** 31, 2 ** 31, 2000), [-2 ** 31, 2 ** 31 - 1, 0, 1, -1]])
    divisors = rng.integers(2 ** 22, 2 ** 23, entries.size)
    shifts = rng.integers(0, weights.CODEBOOK_MAX_SHIFT + 1, entries.size)
    got = codebook_values(entries, divisors, shifts)
    for entry, divisor, shift, value in zip(entries, divisors, shifts, got):
        limit = weights.CODEBOOK_LIMIT >> int(shift)
        scaled = min(max(int(entry), -limit), limit) * 2 ** int(shift)
        assert abs(scaled) + int(divisor) // 2 < 2 ** 31
        quotient = Fraction(scaled, int(divisor))
        rounded = int(abs(quotient) + Fraction(1, 2)) * (1 if quotient >= 0 else -1)
        assert value == min(max(rounded, -127), 127)


@pytest.mark.parametrize("clusters, sparsity", [(16, 0.0), (8, 0.0), (2, 0.0), (15, 0.5)])
def test_shared_float_clusters_take_one_codebook(clusters, sparsity):
    """Rows quantized per channel from one set of float centroids give a codebook of at most
    that many entries (the greedy stabbing finds the fewest; +1 for zero), no bytes per
    channel, and LUT and sparse LUT rows that decode through the derived tables to the
    original values."""
    rng = np.random.default_rng(clusters)
    centroids = rng.normal(0.0, 1.0, clusters)
    rows, requant = quantized_per_channel(centroids, 24, 64, rng)
    rows[rng.random(rows.shape) < sparsity] = 0
    lut = weights.lut(rows, True, requant)
    assert lut.table_scope == CODEBOOK
    assert lut.codebook_size <= clusters + (1 if sparsity else 0)
    assert lut.nbytes == 4 * lut.codebook_size + -(-rows.size // (32 // lut.bits)) * 4
    assert lut.nbytes < weights.lut(rows, True).nbytes
    np.testing.assert_array_equal(decode(with_derived_tables(lut, requant)), rows)
    sparse_lut = weights.sparse_lut(rows, True, requant=requant)
    assert sparse_lut.table_scope == CODEBOOK and sparse_lut.codebook_size <= clusters
    np.testing.assert_array_equal(decode(with_derived_tables(sparse_lut, requant)), rows)


def test_hand_made_rows_need_as_many_entries_as_clusters():
    """Two channels whose multipliers differ by 2x (same shift): values 10, 20, -30 in one
    are 20, 40, -60 in the other, the same three K: three entries, each giving both."""
    requant = Requantization(np.array([1 << 30, (1 << 31) - 1]), np.array([-5, -5]))
    rows = np.array([[20, 40, -60, 20], [10, 20, -30, -30]], dtype=np.int8)
    found = weights.codebook([np.unique(row) for row in rows], requant)
    assert found is not None
    entries, slots, shift = found
    assert len(entries) == 3 and shift == -5
    np.testing.assert_array_equal(decode(with_derived_tables(weights.lut(rows, True, requant), requant)), rows)


def test_independent_channel_clusters_fall_back_to_stored_tables():
    """Channels clustered independently in int8 (as the old benchmark variant did) are not
    one codebook: the codebook candidates are refused, and forced lut takes stored tables
    per channel."""
    rng = np.random.default_rng(5)
    rows = np.stack([rng.choice(rng.choice(np.arange(1, 128), 16, replace=False), 64) for _ in range(32)])
    rows = rows.astype(np.int8)
    multipliers, shifts = per_channel_multipliers(0.02, tuple(rng.uniform(0.001, 0.01, 32)), 0.05, 32)
    requant = Requantization(multipliers, shifts)
    assert weights.lut(rows, True, requant) is None
    assert weights.sparse_lut(rows, True, requant=requant) is None
    forced = encode(rows, "lut", requant=requant)
    assert (forced.kind, forced.table_scope) == (LUT, CHANNEL)


def test_multipliers_out_of_range_are_refused():
    """Shifts more than 30 apart (the clamp leaves nothing) or a multiplier that is not a Q31
    significand refuse a codebook rather than derive wrong tables."""
    rows = np.array([[1, 2], [2, 4]], dtype=np.int8)
    tables = [np.unique(row) for row in rows]
    assert weights.codebook(tables, Requantization(np.array([1 << 30, 1 << 30]), np.array([0, -31]))) is None
    assert weights.codebook(tables, Requantization(np.array([1 << 30, 1 << 20]), np.array([0, 0]))) is None


def test_rows_with_a_zero_multiplier_constrain_nothing():
    """A row whose multiplier is 0 (its real multiplier underflowed, as in some layers of the
    MLPerf VWW model, with a shift of -31) outputs its zero point whatever its weights: its
    values, however unlike the others, do not stop a codebook, and its derived table is zeros."""
    rng = np.random.default_rng(7)
    rows, requant = quantized_per_channel(rng.normal(0.0, 1.0, 16), 8, 64, rng)
    rows[3] = rng.integers(-127, 128, 64)  # 64 values no codebook of 16 entries holds
    multipliers, shifts = requant.multipliers.copy(), requant.shifts.copy()
    multipliers[3], shifts[3] = 0, -31
    requant = Requantization(multipliers, shifts)
    lut = weights.lut(rows, True, requant)
    assert lut.table_scope == CODEBOOK and lut.codebook_size <= 16
    decoded = decode(with_derived_tables(lut, requant))
    np.testing.assert_array_equal(np.delete(decoded, 3, axis=0), np.delete(rows, 3, axis=0))
    assert not decoded[3].any()


def test_auto_counts_deriving_the_tables():
    """The instructions of a codebook encoding include deriving its tables once per
    inference; spread over many input vectors they weigh little."""
    rng = np.random.default_rng(9)
    rows, requant = quantized_per_channel(rng.normal(0.0, 1.0, 16), 64, 64, rng)
    once = encode(rows, "lut", requant=requant, vectors=1)
    many = encode(rows, "lut", requant=requant, vectors=100)
    assert once.setup_instructions == 64 * once.codebook_size * weights.CODEBOOK_ENTRY_COST
    assert once.instructions - once.setup_instructions < many.instructions / 100 * 1.01 + 1


# --- whole models --------------------------------------------------------------------


def filter_encodings(path, mode):
    return [layer.filter_encoding for layer in plan_model(path, weights=mode).layers
            if layer.filter_encoding is not None]


@pytest.mark.parametrize("pattern", CODEBOOK_PATTERNS, ids=[p.id for p in CODEBOOK_PATTERNS])
def test_clustered_per_tensor_models_take_codebooks_bit_exact(pattern_path, pattern):
    """CONV_2D 3x3, DEPTHWISE_CONV_2D, CONV_2D 1x1 and FULLY_CONNECTED (all quantized per
    channel) clustered per tensor in float: with --weights lut and sparse-lut no filter
    keeps stored tables per channel (the codebook is smaller; the small filters may take
    one table for the tensor where that is smaller still), the FULLY_CONNECTED takes the
    codebook, its 384-value rows at about bits / 8 of dense, and every output byte equals
    TFLM's, as with auto."""
    seed = 400 + CODEBOOK_PATTERNS.index(pattern)
    path = pattern_path(pattern, seed)
    for mode, kind in (("lut", LUT), ("sparse-lut", SPARSE_LUT), ("auto", None)):
        encodings = filter_encodings(path, mode)
        if kind is not None:
            assert [e.kind for e in encodings] == [kind] * 4
            assert encodings[-1].table_scope == CODEBOOK
            assert CHANNEL not in [e.table_scope for e in encodings]
        if mode == "lut":
            assert encodings[-1].nbytes <= (pattern.bits / 8 + 0.02) * encodings[-1].dense_bytes
        result = verify_host(path, count=3, seed=seed, weights=mode)
        assert result.bit_exact, result.first_mismatch


def test_codebook_bit_exact_in_qemu(pattern_path, tmp_path):
    """The codebook kernels on an emulated Cortex-M4 equal TFLM, byte for byte."""
    path = pattern_path(CODEBOOK_PATTERNS[0], seed=410)
    for mode in ("lut", "sparse-lut"):
        compiled = compile_model(path, tmp_path / mode / "model", weights=mode)
        assert all(layer.filter_encoding.table_scope == CODEBOOK
                   for layer in compiled.layers if layer.filter_encoding is not None)
        run_in_qemu(compiled, tmp_path / mode, seed=17)
