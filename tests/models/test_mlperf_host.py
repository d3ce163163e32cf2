"""Whole models: the four MLPerf Tiny reference models, bit-exact with TFLite Micro on the host."""

import pytest

from conftest import MLPERF_MODELS, mlperf_model
from tinygen.verify import verify_host


@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_model_bit_exact_on_host(name):
    """Every output byte of 5 seeded random inputs equals TFLM's."""
    result = verify_host(mlperf_model(name), count=5, seed=7)
    assert result.first_mismatch is None
    assert result.mismatches == 0 and result.bit_exact
    assert result.inputs_checked == 5
