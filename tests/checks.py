"""Assertions shared by the per-op tests."""

from pathlib import Path

from tinygen.frontend.tflite import load
from tinygen.verify import verify_host


def assert_bit_exact(path: Path, seed: int, inputs_file: Path | None = None) -> None:
    """Every output byte of the generated C, on 3 seeded inputs (and any in `inputs_file`),
    equals TFLite Micro's."""
    result = verify_host(path, count=3, seed=seed, inputs_file=inputs_file)
    assert result.bit_exact, result.first_mismatch
    assert result.mismatches == 0


def op_kinds(path: Path) -> list[str]:
    return [op.kind for op in load(path).ops]
