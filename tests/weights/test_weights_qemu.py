"""Compressed weights are bit-exact with TFLite Micro on emulated Cortex-M cores (QEMU).

The firmware is cross-compiled with -Werror for each board's core and run in QEMU
(tinygen.firmware, tinygen.qemu); every output byte of seeded inputs must equal TFLM's.
Each encoding runs on a Cortex-M4 over LUT widths 1, 2 and 4, both table scopes, 0 %,
50 % and 90 % zeros and all-zero rows; the Cortex-M7 and Cortex-M55 (MVE) run one model
in every encoding. Needs arm-none-eabi-gcc and qemu-system-arm (scripts/setup.sh).
"""

import pytest
from compressed_models import M4_BOARD, Pattern, pattern_path, run_in_qemu  # noqa: F401 (a fixture)

from tinygen.compiler import compile_model

M7_BOARD, M55_BOARD = "nucleo-f746zg", "corstone-300"
MODES = ("lut", "sparse", "sparse-lut", "auto")
M4_PATTERNS = [Pattern(1, False), Pattern(4, True), Pattern(2, True, 0.5), Pattern(2, False, 0.9),
               Pattern(2, True, 0.0, zero_rows=True)]
CASES = ([(pattern, M4_BOARD) for pattern in M4_PATTERNS]
         + [(Pattern(4, True, 0.5), board) for board in (M7_BOARD, M55_BOARD)])


@pytest.mark.parametrize("pattern, board", CASES, ids=[f"{board}-{pattern.id}" for pattern, board in CASES])
def test_encodings_bit_exact_in_qemu(pattern_path, tmp_path, pattern, board):
    """Every --weights mode on the emulated core equals TFLM, byte for byte."""
    path = pattern_path(pattern, seed=200)
    for mode in MODES:
        run_in_qemu(compile_model(path, tmp_path / mode / "model", weights=mode), tmp_path / mode, seed=17,
                    board=board)
