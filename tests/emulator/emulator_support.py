"""Helpers of the emulator tests (tests/emulator/): models made for them and boards by core.
These tests need arm-none-eabi-gcc and qemu-system-arm, which scripts/setup.sh installs."""

import re
from pathlib import Path

from tflite_builder import OperatorSpec, TensorSpec, write_model
from tinygen.compiler import CompiledModel, compile_model

# One board per core the bit-exactness tests cover.
M4_BOARD, M7_BOARD, M55_BOARD = "nucleo-l4r5zi", "nucleo-f746zg", "corstone-300"


def two_input_model(directory: Path) -> Path:
    """A tiny hand-written model small enough for every board: ADD of two inputs, then MUL
    by the second input (two layers, two inputs, one output)."""
    shape = (1, 4, 4, 8)
    tensors = [TensorSpec(shape, "int8", (0.04, -5)), TensorSpec(shape, "int8", (0.03, 7)),
               TensorSpec(shape, "int8", (0.05, 3)), TensorSpec(shape, "int8", (0.02, -1))]
    operators = [OperatorSpec("ADD", (0, 1), (2,), fused_activation=0),
                 OperatorSpec("MUL", (2, 1), (3,), fused_activation=0)]
    return write_model(directory / "two_input.tflite", tensors, operators,
                       inputs=(0, 1), outputs=(3,))


def sabotaged_model(tmp_path: Path, statements: str) -> CompiledModel:
    """The two-input model with `statements` run at the start of every inference: a way to
    make firmware fault, hang or overflow its stack on purpose."""
    compiled = compile_model(two_input_model(tmp_path), tmp_path / "model")
    source = compiled.directory / f"{compiled.name}.c"
    text, replaced = re.subn(rf"(int {compiled.name}_invoke_with_arena\([^)]*\)\n\{{\n)",
                             lambda match: match.group(1) + statements, source.read_text(), count=1)
    assert replaced == 1, "the generated invoke function was not found"
    source.write_text(text)
    return compiled
