"""Compressed weights are bit-exact with TFLite Micro on the host.

Each model (tests/weights/compressed_models.py) runs CONV_2D 3x3, DEPTHWISE_CONV_2D 3x3
with depth multiplier 2, CONV_2D 1x1 and FULLY_CONNECTED, every filter clustered and pruned
by construction. Compiled with each --weights mode, every filter takes the mode's encoding
(checked on the plan) and every output byte of seeded inputs equals TFLM's. The sweep: LUT
indices of 1 to 4 bits, one table per tensor and per channel, 0 %, 50 % and 90 % zeros, and
every other output channel entirely zero.
"""

import pytest
from compressed_models import Pattern, long_gap_model, pattern_path  # noqa: F401 (a fixture)

from tinygen.compiler import plan_model
from tinygen.verify import verify_host
from tinygen.weights import LUT, SPARSE, SPARSE_LUT

LUT_PATTERNS = [Pattern(bits, per_channel) for bits in range(1, 5) for per_channel in (False, True)]
SPARSE_PATTERNS = [Pattern(2, per_channel, sparsity, zero_rows) for per_channel in (False, True)
                   for sparsity, zero_rows in ((0.0, False), (0.5, False), (0.9, False), (0.0, True))]


def filter_encodings(path, mode):
    """The encoding of each conv-family filter when compiled with --weights `mode`."""
    return [layer.filter_encoding for layer in plan_model(path, weights=mode).layers
            if layer.filter_encoding is not None]


def assert_bit_exact(path, mode, seed):
    result = verify_host(path, count=3, seed=seed, weights=mode)
    assert result.bit_exact, result.first_mismatch
    assert result.mismatches == 0


@pytest.mark.parametrize("pattern", LUT_PATTERNS, ids=[p.id for p in LUT_PATTERNS])
def test_lut_sweep(pattern_path, pattern):
    """Clustered filters as LUTs (and as sparse LUT rows with every value stored): every
    filter takes the encoding (the FULLY_CONNECTED's, whose rows hold every value, with
    `bits`-bit indices into the pattern's tables; smaller filters may take the other
    table scope where it is smaller), and outputs equal TFLM's."""
    seed = LUT_PATTERNS.index(pattern)
    path = pattern_path(pattern, seed)
    for mode, kind in (("lut", LUT), ("sparse-lut", SPARSE_LUT)):
        encodings = filter_encodings(path, mode)
        assert [e.kind for e in encodings] == [kind] * 4
        assert (encodings[-1].bits, encodings[-1].per_channel_tables) == (pattern.bits, pattern.per_channel)
        assert_bit_exact(path, mode, seed)


@pytest.mark.parametrize("pattern", SPARSE_PATTERNS, ids=[p.id for p in SPARSE_PATTERNS])
def test_sparse_sweep(pattern_path, pattern):
    """Pruned (and 3-value clustered) filters as sparse rows of int8 values, as sparse LUT
    rows and as LUTs whose tables hold the zero: outputs equal TFLM's."""
    seed = 50 + SPARSE_PATTERNS.index(pattern)
    path = pattern_path(pattern, seed)
    for mode, kind in (("sparse", SPARSE), ("sparse-lut", SPARSE_LUT), ("lut", LUT)):
        assert [e.kind for e in filter_encodings(path, mode)] == [kind] * 4
        assert_bit_exact(path, mode, seed)


def test_long_gaps(tmp_path):
    """Rows whose nonzero values lie more than 255 columns apart (bridging entries), and a
    row of zeros, are bit-exact as sparse rows and as sparse LUT rows."""
    path = long_gap_model(tmp_path / "gaps.tflite", seed=90)
    for mode in ("sparse", "sparse-lut"):
        (encoding,) = filter_encodings(path, mode)
        assert encoding.kind == mode and encoding.entries > 5  # 5 nonzero values, plus bridges
        assert_bit_exact(path, mode, seed=90)
