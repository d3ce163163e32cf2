"""The command line: bad input gives one clear line and a non-zero exit, never a traceback;
good input gives the files and figures a user expects."""

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import mlperf_model
from tinygen.cli import main


def run_cli(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, *fragments):
    """Exit 1 and exactly one error line (progress lines may precede it), no traceback."""
    assert status == 1
    errors = [line for line in err.strip().splitlines() if line.startswith("tinygen: error: ")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in errors[0]


def test_missing_file(capsys, tmp_path):
    status, _, err = run_cli(capsys, "compile", str(tmp_path / "absent.tflite"), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err, "no such file")


def test_truncated_model(capsys, tmp_path):
    """Half of a real model: the reader must notice, not crash or emit C."""
    data = mlperf_model("kws_ref_model").read_bytes()
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(data[: len(data) // 2])
    status, _, err = run_cli(capsys, "compile", str(truncated), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err, "truncated.tflite")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes(capsys, tmp_path, seed):
    """Random bytes, with and without the TFLite file identifier in place."""
    rng = np.random.default_rng(seed)
    data = bytearray(rng.integers(0, 256, size=4096, dtype=np.uint8).tobytes())
    if seed:
        data[4:8] = b"TFL3"
    path = tmp_path / "random.tflite"
    path.write_bytes(bytes(data))
    status, _, err = run_cli(capsys, "compile", str(path), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err)


def test_not_a_tflite_extension(capsys, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    status, _, err = run_cli(capsys, "compile", str(path), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err, ".tflite")


def test_float_model_is_refused_with_advice(capsys, tmp_path):
    import modelgen
    import tensorflow as tf

    keras = modelgen.keras()
    inputs = keras.Input(shape=(8,), batch_size=1)
    model = keras.Model(inputs, keras.layers.Dense(4)(inputs))
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    status, _, err = run_cli(capsys, "compile", str(path), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err, "float model", "FULLY_CONNECTED", "int8")


def test_unsupported_ops_are_all_listed(capsys, tmp_path):
    """Two different unsupported ops: one error naming both, with their node indices."""
    import modelgen

    keras = modelgen.keras()

    def two_unsupported(a, b):
        difference = keras.layers.Subtract()([a, b])
        return keras.layers.Maximum()([difference, b])

    path = modelgen.single_op_model(two_unsupported, [(6,), (6,)], tmp_path / "unsupported.tflite", seed=3)
    status, _, err = run_cli(capsys, "compile", str(path), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err, "SUB", "MAXIMUM", "node 0", "node 1")


def test_verify_json_reports_the_agreed_fields(capsys):
    status, out, _ = run_cli(capsys, "verify", str(mlperf_model("ad01_int8")), "--host", "--count", "2", "--json")
    result = json.loads(out)
    assert status == 0
    assert result["bit_exact"] is True and result["mismatches"] == 0 and result["inputs_checked"] == 2
    assert result["target"] == "host" and result["model"] == "ad01_int8.tflite"
    assert result["arena_bytes"] > 0 and result["weights_bytes"] > 0


def test_verify_with_inputs_file(capsys, tmp_path):
    """--inputs adds the user's samples to the random ones."""
    batch = np.random.default_rng(5).integers(-128, 128, size=(3, 1, 640), dtype=np.int8)
    np.save(tmp_path / "inputs.npy", batch)
    status, out, _ = run_cli(capsys, "verify", str(mlperf_model("ad01_int8")), "--count", "1", "--inputs",
                             str(tmp_path / "inputs.npy"), "--json")
    assert status == 0 and json.loads(out)["inputs_checked"] == 4


def test_verify_rejects_misshaped_inputs_file(capsys, tmp_path):
    np.save(tmp_path / "inputs.npy", np.zeros((3, 7), dtype=np.int8))
    status, _, err = run_cli(capsys, "verify", str(mlperf_model("ad01_int8")), "--inputs",
                             str(tmp_path / "inputs.npy"))
    assert_one_line_error(status, err, "shape")


def test_plan_json_lists_every_buffer(capsys):
    status, out, _ = run_cli(capsys, "plan", str(mlperf_model("kws_ref_model")), "--json")
    plan = json.loads(out)
    assert status == 0 and 0 < plan["arena_bytes"] < plan["lower_bound_bytes"]
    for buffer in plan["buffers"]:
        assert {"offset", "size", "first_step", "last_step"} <= set(buffer)
        assert buffer["offset"] + buffer["size"] <= plan["arena_bytes"]
        assert 0 <= buffer["first_step"] <= buffer["last_step"] < plan["layers"]
    assert plan["overlaps"] and all(o["shift"] <= o["max_shift"] for o in plan["overlaps"])


def test_plan_table_and_timeline(capsys):
    """The table states the arena against the lower bound; the timeline has one bar per
    buffer, marked exactly over the steps it is live."""
    model = str(mlperf_model("pretrainedResnet_quant"))
    status, out, _ = run_cli(capsys, "plan", model)
    _, json_out, _ = run_cli(capsys, "plan", model, "--json")
    plan = json.loads(json_out)
    assert status == 0 and "whole-tensor lower bound" in out.splitlines()[0]
    bars = [line.split()[2] for line in out.split("\ntimeline")[1].splitlines()[2:]]
    assert len(bars) == len(plan["buffers"])
    for bar, buffer in zip(bars, plan["buffers"]):
        live = [step for step, mark in enumerate(bar) if mark != "."]
        assert live == list(range(buffer["first_step"], buffer["last_step"] + 1))


def test_plan_plot(capsys, tmp_path):
    """--plot draws the plan into a PNG (matplotlib is an optional extra)."""
    pytest.importorskip("matplotlib", reason="matplotlib (the optional 'plot' extra) is not installed")
    status, _, err = run_cli(capsys, "plan", str(mlperf_model("ad01_int8")), "--plot", str(tmp_path / "plan.png"))
    assert status == 0 and "plan.png" in err
    assert (tmp_path / "plan.png").read_bytes().startswith(b"\x89PNG")


def test_entry_point_help_and_error_exit_codes(tmp_path):
    """The installed console script: --help explains the commands; errors exit 1 without a traceback."""
    help_text = subprocess.run([sys.executable, "-m", "tinygen.cli", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "compile" in help_text.stdout and "verify" in help_text.stdout
    failed = subprocess.run([sys.executable, "-m", "tinygen.cli", "compile", str(tmp_path / "x.tflite"), "-o",
                             str(tmp_path)], capture_output=True, text=True)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr and "no such file" in failed.stderr
