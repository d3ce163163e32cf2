"""The command line around Keras models: `tinygen optimize` and Keras input to compile,
verify and plan. Bad input gives one clear error line (exit 1, no traceback); refusals
that need no model fail before TensorFlow is imported; a .tflite never imports it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from optimize_support import blob_data, save_npz, small_model  # noqa: F401  (a fixture)
from test_cli import assert_one_line_error, run_cli

REPO = Path(__file__).resolve().parents[2]
KWS = REPO / "firmware_examples" / "keyword_spotting" / "kws_ref_model.tflite"


def bad_data(tmp_path: Path, case: str) -> Path:
    """An .npz that is wrong in one way for the small CNN (input 6x6x1, 4 classes)."""
    good = blob_data(10, seed=3)
    arrays = {
        "no x": {"inputs": good["x"], "y": good["y"]},
        "flat x": {"x": good["x"].reshape(10, 36), "y": good["y"]},
        "no y": {"x": good["x"]},
        "short y": {"x": good["x"], "y": good["y"][:5]},
        "class out of range": {"x": good["x"], "y": np.full(10, 7)},
    }[case]
    return save_npz(tmp_path / "bad.npz", **arrays)


@pytest.mark.parametrize("case, fragments", [
    ("no x", ["has no array 'x'", "inputs, y"]),
    ("flat x", ["'x' has shape (10, 36)", "(N, 6, 6, 1)"]),
    ("no y", ["no labels 'y'", "--prune"]),
    ("short y", ["'y' has 5 labels for 10 inputs"]),
    ("class out of range", ["class 7", "4 outputs"]),
])
def test_optimize_refuses_bad_data(capsys, tmp_path, small_model, case, fragments):
    status, _, err = run_cli(capsys, "optimize", str(small_model["model"]), "--data", str(bad_data(tmp_path, case)),
                             "--prune", "0.5", "-o", str(tmp_path / "out.tflite"))
    assert_one_line_error(status, err, *fragments)
    assert not (tmp_path / "out.tflite").exists()


@pytest.mark.parametrize("options, fragments", [
    (["--prune", "1.0"], ["--prune 1.0", "below 1"]),
    (["--prune", "-0.5"], ["--prune -0.5", "at least 0"]),
    (["--clusters", "1"], ["at least 2 clusters"]),
    (["--low-rank", "half"], ["--low-rank half"]),
    (["--qat", "--ptq"], ["exclude each other"]),
])
def test_optimize_refuses_impossible_options(capsys, tmp_path, small_model, options, fragments):
    status, _, err = run_cli(capsys, "optimize", str(small_model["model"]), "--data", str(small_model["train"]),
                             *options, "-o", str(tmp_path / "out.tflite"))
    assert_one_line_error(status, err, *fragments)


def test_optimize_refuses_a_missing_data_file(capsys, tmp_path, small_model):
    status, _, err = run_cli(capsys, "optimize", str(small_model["model"]), "--data", str(tmp_path / "absent.npz"),
                             "--ptq", "-o", str(tmp_path / "out.tflite"))
    assert_one_line_error(status, err, "absent.npz: no such file")


def test_optimize_refuses_models_that_are_not_keras(capsys, tmp_path, small_model):
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a zip archive")
    for model, fragment in [(KWS, "is not a Keras model"), (garbage, "cannot load")]:
        status, _, err = run_cli(capsys, "optimize", str(model), "--data", str(small_model["train"]), "--ptq",
                                 "-o", str(tmp_path / "out.tflite"))
        assert_one_line_error(status, err, fragment)


def test_refusals_that_need_no_model_come_before_tensorflow(tmp_path):
    """An impossible option, a .tflite given to optimize or a missing data file fail at once."""
    (tmp_path / "m.keras").write_bytes(b"")
    script = (
        "import sys\nfrom tinygen.cli import main\n"
        "codes = [main(['optimize', 'm.keras', '--data', 'd.npz', '--prune', '1.5', '-o', 'o.tflite']),\n"
        f"         main(['optimize', {str(KWS)!r}, '--data', 'd.npz', '-o', 'o.tflite']),\n"
        "         main(['optimize', 'm.keras', '--data', 'absent.npz', '-o', 'o.tflite'])]\n"
        "print(codes, 'tensorflow' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.stdout.strip() == "[1, 1, 1] False", run.stderr


def test_tflite_compile_never_imports_tensorflow_and_optimize_stays_callable(tmp_path):
    """`import tinygen` is light; `tinygen.optimize` is the function even after the
    package of the same name was imported."""
    script = (
        "import sys, tinygen\nfrom tinygen.cli import main\n"
        f"status = main(['compile', {str(KWS)!r}, '-o', {str(tmp_path / 'kws')!r}])\n"
        "import tinygen.optimize.recipe\n"
        "print(status, 'tensorflow' in sys.modules, callable(tinygen.optimize))\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip().splitlines()[-1] == "0 False True", run.stderr


def test_keras_compile_without_data_says_what_to_pass(capsys, tmp_path, small_model):
    status, _, err = run_cli(capsys, "compile", str(small_model["model"]), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err, "small.keras is a Keras model", "pass --data calib.npz")


def test_keras_compile_with_misshaped_data_is_refused(capsys, tmp_path, small_model):
    status, _, err = run_cli(capsys, "compile", str(small_model["model"]), "--data",
                             str(bad_data(tmp_path, "flat x")), "-o", str(tmp_path / "out"))
    assert_one_line_error(status, err, "'x' has shape (10, 36)")


def test_keras_model_compiles_verifies_and_plans(capsys, tmp_path, small_model):
    """compile writes the converted .tflite beside the C; verify runs TFLM on that same
    conversion and the C matches it bit for bit; plan reads the Keras model too."""
    model, data = str(small_model["model"]), str(small_model["train"])
    status, out, _ = run_cli(capsys, "compile", model, "--data", data, "-o", str(tmp_path / "c"), "--name", "small")
    assert status == 0 and (tmp_path / "c" / "small.tflite").is_file() and (tmp_path / "c" / "small.h").is_file()
    assert "the int8 model converted from" in out
    status, out, _ = run_cli(capsys, "verify", model, "--data", data, "--count", "5", "--json")
    assert status == 0 and json.loads(out)["bit_exact"] is True
    status, out, _ = run_cli(capsys, "plan", model, "--data", data, "--json")
    assert status == 0 and json.loads(out)["arena_bytes"] > 0


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize("save_as", ["small.h5", "small_savedmodel"])
def test_keras_h5_and_savedmodel_compile(capsys, tmp_path, small_model, save_as):
    from tinygen.optimize.models import load_model

    path = tmp_path / save_as
    load_model(small_model["model"]).save(path)
    status, _, err = run_cli(capsys, "compile", str(path), "--data", str(small_model["train"]),
                             "-o", str(tmp_path / "c"))
    assert status == 0, err


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras 3 on numpy 2
def test_keras3_models_compile_but_are_not_optimized(capsys, tmp_path, small_model):
    """The converter reads Keras 3 models; TF Model Optimization does not, and says so."""
    import keras

    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(4)])
    path = tmp_path / "keras3.keras"
    model.save(path)
    status, _, err = run_cli(capsys, "compile", str(path), "--data", str(small_model["train"]),
                             "-o", str(tmp_path / "c"))
    assert status == 0, err
    status, _, err = run_cli(capsys, "optimize", str(path), "--data", str(small_model["train"]), "--ptq",
                             "-o", str(tmp_path / "out.tflite"))
    assert_one_line_error(status, err, "Keras 3 model", "tf_keras")


def test_optimize_json_report_has_every_step(capsys, tmp_path, small_model):
    status, out, err = run_cli(capsys, "optimize", str(small_model["model"]), "--data", str(small_model["train"]),
                               "--val", str(small_model["val"]), "--prune", "0.5", "--epochs", "1", "--json",
                               "-o", str(tmp_path / "out.tflite"))
    assert status == 0, err
    report = json.loads(out)
    assert [step["step"] for step in report["steps"]] == ["float", "prune 50%", "int8 (ptq)"]
    final = report["steps"][-1]
    assert final["flash_bytes"] > 0 and final["metric_name"] == "accuracy" and final["kernels"]
    assert "prune 50%: epoch 1/1" in err and (tmp_path / "out.tflite").is_file()
