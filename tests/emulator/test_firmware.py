"""Firmware builds: every board's firmware builds, for QEMU and for the chip itself, and runs
bit-exact in QEMU; the size report adds up; a model too big for a board fails at link time
with the overflow in bytes."""

import dataclasses
import re
import subprocess

import pytest

from conftest import mlperf_model
from emulator_support import two_input_model
from tinygen.boards import MemoryRegion, board_names, load_board
from tinygen.compiler import compile_model
from tinygen.errors import BuildError, MemoryOverflowError
from tinygen.firmware import FAULT_STACK_BYTES, Target, build_firmware
from tinygen.qemu import QemuRunner
from tinygen.renode import build_for_board
from tinygen.verify import check, random_inputs, samples_for


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny")
    return compile_model(two_input_model(directory), directory / "model")


@pytest.fixture(scope="module")
def vww(tmp_path_factory):
    """The visual wake words model with its weights stored dense (242 KB)."""
    return compile_model(mlperf_model("vww_96_int8"), tmp_path_factory.mktemp("vww"), weights="dense")


def section_addresses(elf):
    """Section name -> address, from readelf."""
    listing = subprocess.run(["arm-none-eabi-readelf", "-S", "-W", str(elf)], capture_output=True, text=True,
                             check=True).stdout
    return {name: int(address, 16) for name, address in
            re.findall(r"^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]{8})\s", listing, re.MULTILINE)}


@pytest.mark.parametrize("board", board_names())
def test_every_board_runs_bit_exact_in_qemu(board, tiny, tmp_path):
    """A two-input model's firmware builds for the board and, in its QEMU machine, gives
    TFLite Micro's bytes; the harness's lines reach the console UART too."""
    firmware = build_firmware(tiny, board, tmp_path)
    runner = QemuRunner(firmware)
    result = check(tiny, runner, samples_for(tiny.graph, 3, 5, None), target=board)
    assert result.bit_exact and result.mismatches == 0 and result.inputs_checked == 3
    assert "TINYGEN PASS 3 inferences" in runner.last_run.console
    assert "TINYGEN PASS 3 inferences" in runner.last_run.uart


@pytest.mark.parametrize("board", board_names())
def test_every_board_builds_for_the_chip(board, tiny, tmp_path):
    """Firmware for the board itself starts at the chip's flash origin with the vector
    table, keeps its data in the chip's RAM and carries its test vectors."""
    spec = load_board(board)
    firmware = build_for_board(tiny, spec, tmp_path, random_inputs(tiny.graph, 2, 3)).firmware
    addresses = section_addresses(firmware.elf)
    assert addresses[".vectors"] == spec.flash.origin
    assert spec.ram.origin <= addresses[".stack"] < addresses[".arena"] < spec.ram.end
    assert firmware.target is Target.BOARD and firmware.vector_count == 2
    assert firmware.memory.testdata_bytes >= 2 * (2 * 128 + 128)
    assert firmware.memory.flash_bytes <= firmware.binary.stat().st_size <= firmware.memory.flash_bytes + 64


def test_build_is_deterministic(tiny, tmp_path):
    """The same model, board and options give the same harness sources and the same image,
    wherever they are built."""
    first = build_firmware(tiny, "corstone-300", tmp_path / "first", profile=True)
    second = build_firmware(tiny, "corstone-300", tmp_path / "elsewhere" / "second", profile=True)
    assert first.binary.read_bytes() == second.binary.read_bytes()
    for source in sorted((first.directory / "harness").iterdir()):
        assert source.read_text() == (second.directory / "harness" / source.name).read_text()
    assert first.memory == second.memory


@pytest.mark.parametrize("name", ["main", "startup", "harness"])
def test_model_named_like_a_harness_file(name, tmp_path):
    """A model whose C name is also a harness file's name builds and runs: the harness's
    objects and header cannot clash with the library's."""
    model = compile_model(two_input_model(tmp_path), tmp_path / "model", name=name)
    runner = QemuRunner(build_firmware(model, "nucleo-l4r5zi", tmp_path / "firmware"), count_instructions=False)
    assert check(model, runner, samples_for(model.graph, 1, 0, None), target="nucleo-l4r5zi").bit_exact


def test_board_firmware_needs_test_vectors(tiny, tmp_path):
    with pytest.raises(BuildError, match="embedded test vectors"):
        build_firmware(tiny, "nucleo-f746zg", tmp_path, target=Target.BOARD)


def test_size_report_adds_up(vww, tmp_path):
    """Flash and RAM split exactly into their parts; the arena and weights are the model's."""
    board = load_board("nucleo-f746zg")
    memory = build_firmware(vww, board, tmp_path).memory
    assert memory.flash_bytes == memory.code_bytes + memory.weights_bytes + memory.testdata_bytes + memory.data_bytes
    assert memory.ram_bytes == memory.stack_bytes + memory.data_bytes + memory.bss_bytes + memory.arena_bytes
    assert memory.arena_bytes == vww.arena_bytes
    assert memory.weights_bytes - vww.weights_bytes in range(0, 16 * len(vww.layers))  # alignment only
    assert memory.stack_bytes == board.stack_bytes + FAULT_STACK_BYTES
    assert 0 < memory.code_bytes < 64 * 1024
    assert (memory.flash_limit, memory.ram_limit) == (board.flash.size, board.ram.size)


def test_model_too_big_fails_with_overflow_bytes(vww, tmp_path):
    """The visual wake words model (242 KB of weights, a 55 KB arena) on the NUCLEO-F103RB
    (128 KB flash, 20 KB RAM): the link fails and says by how many bytes each region
    overflows; the figures agree with the sizes of the same firmware linked without limits."""
    board = load_board("nucleo-f103rb")
    with pytest.raises(MemoryOverflowError) as caught:
        build_firmware(vww, board, tmp_path / "real")
    error = caught.value
    assert set(error.overflows) == {"FLASH", "RAM"}
    message = str(error)
    assert "nucleo-f103rb" in message and "\n" not in message
    assert f"FLASH overflows by {error.overflows['FLASH']} bytes (limit 131072 bytes)" in message
    assert f"RAM overflows by {error.overflows['RAM']} bytes (limit 20480 bytes)" in message
    unlimited = dataclasses.replace(board, flash=MemoryRegion(board.flash.origin, board.qemu.flash.size),
                                    ram=MemoryRegion(board.ram.origin, board.qemu.ram.size))
    memory = build_firmware(vww, unlimited, tmp_path / "unlimited").memory
    assert abs(error.overflows["FLASH"] - (memory.flash_bytes - board.flash.size)) < 64
    assert abs(error.overflows["RAM"] - (memory.ram_bytes - board.ram.size)) < 64
