"""The firmware examples (firmware_examples/): each application builds with tinygen's own
toolchain path (tinygen.firmware.build_application, as `tinygen build --app` does), runs in
QEMU, and prints exactly the result TensorFlow Lite Micro predicts for its embedded input.
The digits model is not committed (firmware_examples/digits/train_and_compile.py trains
it): its test trains the same CNN briefly and quantizes it post-training."""

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from tinygen import cli
from tinygen.compiler import compile_model
from tinygen.errors import BuildError
from tinygen.firmware import Target, build_application
from tinygen.qemu import run_firmware
from tinygen.verify import expected_outputs

sys.path.insert(0, str(REPO / "firmware_examples"))
import make_test_inputs  # noqa: E402
from make_test_inputs import EXAMPLES, quantize  # noqa: E402

BOARD = "nucleo-l4r5zi"
CLASS_LINE = re.compile(r"^[a-z ]+: (\S+) \(class (\d+), score (-?\d+)\)$", re.MULTILINE)
ANOMALY_LINE = re.compile(r"^anomaly score: (\d+\.\d{3})$", re.MULTILINE)


# Trains the digits CNN briefly and quantizes it post-training: in a child process, so that
# TensorFlow's threads never live in this one (TFLite Micro's reference runs in forked children).
TRAIN_DIGITS = """
import sys
from pathlib import Path
import numpy as np
import tinygen
from train_and_compile import digits_data, train_float
out = Path(sys.argv[1])
train, _ = digits_data(seed=0)
np.savez(out / "train.npz", **train)
train_float(train, epochs=3, seed=0).save(out / "digits_float.keras")
tinygen.optimize(out / "digits_float.keras", out / "train.npz", out / "digits_int8.tflite", ptq=True, seed=0)
"""


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """model_path(example): the committed model, or for digits one trained here (seconds)."""
    def get(example):
        if example.made_by is None:
            return REPO / example.model
        out = tmp_path_factory.mktemp("digits")
        subprocess.run([sys.executable, "-c", TRAIN_DIGITS, str(out)], cwd=REPO / "firmware_examples" / "digits",
                       check=True, capture_output=True, timeout=300)
        return out / "digits_int8.tflite"

    return get


def reference_output(example, compiled) -> np.ndarray:
    """TFLM's output for the example's input, quantized as main.c quantizes it."""
    port = compiled.inputs[0]
    quantized = quantize(example.make_input(), port.scale, port.zero_point).reshape(port.tensor.shape)
    return expected_outputs(compiled, [[quantized]])[0][0].reshape(-1)


def anomaly_score(example, compiled, reconstruction: np.ndarray) -> str:
    """The score main.c prints, computed as it computes it: doubles, in order, rounded to thousandths."""
    port = compiled.outputs[0]
    scale = float(np.float32(port.scale))
    total = 0.0
    for real, quantized in zip(example.make_input().reshape(-1).tolist(), reconstruction.tolist()):
        difference = real - scale * float(quantized - port.zero_point)
        total += difference * difference
    milli = int(total / reconstruction.size * 1000.0 + 0.5)
    return f"{milli // 1000}.{milli % 1000:03d}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.directory)
def test_example_prints_what_tflite_micro_predicts(example, model_path, tmp_path):
    """The application's printed class and score (anomaly score) equal those of TFLM's output."""
    compiled = compile_model(model_path(example), tmp_path / "model", name=example.name)
    firmware = build_application(compiled, BOARD, [example.main], tmp_path / "firmware")
    assert firmware.target is Target.QEMU and not firmware.reads_host_files
    printed = run_firmware(firmware, timeout_s=60).uart
    expected = reference_output(example, compiled)
    if example.directory == "anomaly_detection":
        assert ANOMALY_LINE.findall(printed) == [anomaly_score(example, compiled, expected)], printed
    else:
        ((label, index, score),) = CLASS_LINE.findall(printed) or [(None, None, None)]
        assert (int(index), int(score)) == (int(np.argmax(expected)), int(expected.max())), printed
        assert f'"{label}"' in example.main.read_text()


def test_test_inputs_are_up_to_date():
    """Every committed test_input.h is what make_test_inputs.py writes today."""
    assert make_test_inputs.main(["--check"]) == 0


def test_cli_builds_and_runs_an_application_in_qemu(tmp_path, capsys):
    """`tinygen build --app main.c --qemu` builds the keyword spotter and prints its result."""
    example = EXAMPLES[0]
    status = cli.main(["build", str(REPO / example.model), "--board", BOARD, "--name", example.name,
                       "--app", str(example.main), "--qemu", "-o", str(tmp_path)])
    assert status == 0
    assert CLASS_LINE.search(capsys.readouterr().out)
    assert (tmp_path / f"{example.name}.elf").is_file() and (tmp_path / "support" / "linker.ld").is_file()


def test_application_build_refusals(tmp_path, capsys):
    """Missing sources, --qemu without --app and host samples for an application are refused."""
    example = EXAMPLES[0]
    compiled = compile_model(REPO / example.model, tmp_path / "model", name=example.name)
    with pytest.raises(BuildError, match="not found"):
        build_application(compiled, BOARD, [tmp_path / "absent.c"], tmp_path / "fw")
    with pytest.raises(BuildError, match="at least one"):
        build_application(compiled, BOARD, [], tmp_path / "fw")
    assert cli.main(["build", str(REPO / example.model), "--board", BOARD, "--qemu", "-o", str(tmp_path)]) == 1
    assert "--qemu runs an application" in capsys.readouterr().err
    firmware = build_application(compiled, BOARD, [example.main], tmp_path / "fw")
    with pytest.raises(BuildError, match="pass samples"):
        run_firmware(firmware, samples=[[np.zeros(compiled.inputs[0].tensor.shape, np.int8)]])
