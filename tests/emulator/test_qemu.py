"""Models in QEMU: the MLPerf Tiny models are bit-exact with TFLite Micro on Cortex-M4, M7
and M55; instruction counts are exact (the same on every run) and split into layers; a
firmware that faults, overflows its stack or hangs is reported as such, within a timeout."""

import os
import time

import pytest

from conftest import MLPERF_MODELS, mlperf_model
from emulator_support import M4_BOARD, M7_BOARD, M55_BOARD, sabotaged_model
from tinygen.compiler import compile_model
from tinygen.errors import FirmwareFaultError, FirmwareTimeoutError, VerificationError
from tinygen.firmware import EmbeddedVectors, build_firmware, reference_vectors
from tinygen.qemu import QemuRunner, run_firmware, verify_in_qemu
from tinygen.verify import check, random_inputs, samples_for

CORE_BOARDS = [M4_BOARD, M7_BOARD, M55_BOARD]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """compiled(name): an MLPerf Tiny model compiled once for the whole module."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = compile_model(mlperf_model(name), tmp_path_factory.mktemp(name))
        return cache[name]

    return get


@pytest.mark.parametrize("board", CORE_BOARDS)
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_model_bit_exact_in_qemu(name, board, compiled, tmp_path):
    """Every output byte of 3 seeded inputs, computed on the emulated core, equals TFLM's."""
    model = compiled(name)
    runner = QemuRunner(build_firmware(model, board, tmp_path))
    result = check(model, runner, samples_for(model.graph, 3, 11, None), target=board)
    assert result.first_mismatch is None
    assert result.bit_exact and result.mismatches == 0 and result.inputs_checked == 3
    counts = runner.last_run.instructions
    assert len(counts.per_inference) == 3 and min(counts.per_inference) > 100_000


@pytest.mark.parametrize("board", [M4_BOARD, M55_BOARD])
def test_instruction_counts_repeat_and_split_into_layers(board, compiled, tmp_path):
    """Two runs of the same profiled firmware on the same inputs count the same
    instructions, per inference, per layer and in total; the layers account for the whole
    inference but for the few instructions of the call around them."""
    model = compiled("kws_ref_model")
    firmware = build_firmware(model, board, tmp_path, profile=True)
    samples = random_inputs(model.graph, 2, 4)
    first = run_firmware(firmware, samples, count_instructions=True).instructions
    second = run_firmware(firmware, samples, count_instructions=True).instructions
    assert first == second
    assert len(first.per_layer) == 2 and all(len(row) == len(model.layers) for row in first.per_layer)
    for total, layers in zip(first.per_inference, first.per_layer):
        assert all(count > 0 for count in layers)
        assert 0 < total - sum(layers) < 100
    assert first.total > sum(first.per_inference)


def test_verify_in_qemu_reports_sizes_counts_and_layers(tmp_path):
    """What `tinygen verify --board B --json --profile` prints comes from one call."""
    verification = verify_in_qemu(mlperf_model("kws_ref_model"), M7_BOARD, count=2, seed=1, profile=True,
                                  work_dir=tmp_path)
    report = verification.to_json()
    assert report["bit_exact"] and report["board"] == M7_BOARD and report["inputs_checked"] == 2
    for key in ("instructions_per_inference", "flash_bytes", "ram_bytes", "arena_bytes", "weights_bytes",
                "code_bytes", "stack_bytes"):
        assert isinstance(report[key], int) and report[key] > 0, key
    assert report["instructions_per_inference"] == max(report["instructions_by_inference"])
    assert report["stack_bytes"] < report["stack_reserved_bytes"]
    table = verification.profile_table().splitlines()
    assert len(table) == len(verification.firmware.layer_summaries) + 2
    assert table[1].split()[1] == "CONV_2D" and table[-1].split()[-1] == f"{report['instructions_per_inference']:,}"


def test_embedded_test_vectors_are_checked_on_the_target(compiled, tmp_path):
    """Firmware with TFLM's outputs compiled in (as for Renode and real boards) passes, and
    fails with the first differing byte when one expected byte is off by one."""
    model = compiled("kws_ref_model")
    vectors = reference_vectors(model, random_inputs(model.graph, 3, 2))
    passing = run_firmware(build_firmware(model, M55_BOARD, tmp_path / "good", vectors=vectors))
    assert "TINYGEN PASS 3 inferences bit-exact with TensorFlow Lite Micro" in passing.console
    wrong = vectors.expected[0].copy()
    wrong.reshape(-1)[12 + 5] += 1
    firmware = build_firmware(model, M55_BOARD, tmp_path / "bad", vectors=EmbeddedVectors(vectors.inputs, (wrong,)))
    with pytest.raises(VerificationError, match="MISMATCH sample 1 output 0 byte 5.*TINYGEN FAIL 1 output bytes"):
        run_firmware(firmware)


@pytest.mark.parametrize("board", CORE_BOARDS + ["nucleo-l552ze-q", "nucleo-f103rb"])
def test_fault_is_reported_with_its_registers(board, tmp_path):
    """A store to an unmapped address ends in the fault handler, which names the fault and
    the faulting address; the run fails with FirmwareFaultError."""
    model = sabotaged_model(tmp_path, "    *(volatile uint32_t *)0xFFFFFFF0u = 0u;\n")
    samples = random_inputs(model.graph, 1, 0)
    with pytest.raises(FirmwareFaultError, match=r"faulted: HardFault pc=0x[0-9a-f]{8} .*bfar=0xfffffff0 "
                                                 r"\[PRECISERR BFARVALID\]"):
        run_firmware(build_firmware(model, board, tmp_path / "firmware"), samples)


@pytest.mark.parametrize("board, report", [(M55_BOARD, r"\[STKOF\]"), ("nucleo-l552ze-q", r"\[STKOF\]"),
                                           (M4_BOARD, "faulted|locked up")])
def test_stack_overflow_is_a_fault(board, report, tmp_path):
    """A stack overflow is a fault, not silent corruption of the data above the stack: on
    Armv8-M the harness's stack limit (MSPLIM) catches it (STKOF); on Armv7-M the stack,
    at the bottom of RAM, runs into unmapped memory."""
    model = sabotaged_model(tmp_path, "    volatile uint8_t hog[600000];\n    hog[0] = 1;\n    hog[599999] = hog[0];\n")
    samples = random_inputs(model.graph, 1, 0)
    with pytest.raises(FirmwareFaultError, match=report):
        run_firmware(build_firmware(model, board, tmp_path / "firmware"), samples)


def test_lockup_is_reported(tmp_path):
    """A fault the core cannot take (here: the vector table moved to unmapped memory) locks
    it up; QEMU stops and the run says so."""
    model = sabotaged_model(tmp_path, "    *(volatile uint32_t *)0xE000ED08u = 0x30000000u;\n    __builtin_trap();\n")
    firmware = build_firmware(model, M4_BOARD, tmp_path / "firmware")
    with pytest.raises(FirmwareFaultError, match="locked up .*Lockup"):
        run_firmware(firmware, random_inputs(model.graph, 1, 0))


def test_hang_is_reported_within_the_timeout(tmp_path):
    """An endless loop is killed after the timeout and reported as a hang, with the last
    line the firmware printed."""
    model = sabotaged_model(tmp_path, "    for (;;) {\n        __asm__ volatile(\"\");\n    }\n")
    firmware = build_firmware(model, M4_BOARD, tmp_path / "firmware")
    started = time.monotonic()
    with pytest.raises(FirmwareTimeoutError, match=r"did not finish within 3 s: the firmware hangs or loops; "
                                                   r"last console output: TINYGEN START two_input"):
        run_firmware(firmware, random_inputs(model.graph, 1, 0), timeout_s=3)
    assert time.monotonic() - started < 10


@pytest.mark.skipif(not os.environ.get("CMSIS_NN_PATH"),
                    reason="CMSIS_NN_PATH is not set: point it at a CMSIS-NN checkout to run the cmsis-nn "
                           "backend in QEMU")
@pytest.mark.parametrize("board", CORE_BOARDS)
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_model_bit_exact_in_qemu_with_cmsis_nn(name, board, tmp_path):
    """The cmsis-nn backend, with CMSIS-NN cross-compiled for the board's core (its DSP code
    on the M4 and M7, its MVE code on the M55), gives TFLM's bytes too."""
    model = compile_model(mlperf_model(name), tmp_path / "model", backend="cmsis-nn")
    runner = QemuRunner(build_firmware(model, board, tmp_path / "firmware"))
    result = check(model, runner, samples_for(model.graph, 2, 13, None), target=board)
    assert result.first_mismatch is None
    assert result.bit_exact and result.mismatches == 0 and result.inputs_checked == 2
