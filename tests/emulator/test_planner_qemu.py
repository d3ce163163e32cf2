"""The memory planner's tricks on an emulated Cortex-M4: the model with every streaming
kernel overlapping its input (tests/plan_models.py) and the in-place concatenation give
TFLite Micro's outputs byte for byte in QEMU, as they do on the host."""

import pytest
from emulator_support import M4_BOARD
from plan_models import concatenation_model, kernels_model

from tinygen.qemu import verify_in_qemu


@pytest.mark.parametrize("build", [kernels_model, concatenation_model], ids=["overlaps", "concatenation"])
def test_planner_tricks_bit_exact_in_qemu(build, tmp_path):
    verification = verify_in_qemu(build(tmp_path / "model.tflite", seed=3), M4_BOARD, count=3, seed=5,
                                  work_dir=tmp_path / "work")
    result = verification.result
    assert result.bit_exact and result.mismatches == 0, result.first_mismatch
    assert result.arena_bytes == verification.firmware.memory.arena_bytes
