"""Keras models as compiler input (.keras, .h5, or a SavedModel directory).

tinygen compiles full-int8 TFLite models, so a Keras model is first converted to one by
post-training quantization; the inputs `x` of `--data` calibrate the activation ranges.
The converted .tflite is what tinygen compiles and what verification runs TFLite Micro on.

This module is light: TensorFlow is imported (through tinygen.optimize) only when a
Keras model is actually converted, never for a .tflite.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError, ModelFormatError
from ..files import write_output

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
KERAS_FORMATS = ".keras, .h5 or a SavedModel directory"


def is_keras_model(path: str | Path) -> bool:
    """Whether `path` names a Keras model by its form: a Keras suffix or a SavedModel folder."""
    path = Path(path)
    return path.suffix.lower() in KERAS_SUFFIXES or (path / "saved_model.pb").is_file()


def check_keras_path(path: str | Path) -> None:
    """Fail at once, before TensorFlow is imported, when `path` is missing or not Keras."""
    path = Path(path)
    if not path.exists():
        raise ModelFormatError(f"{path}: no such file or directory")
    if not is_keras_model(path):
        raise ModelFormatError(f"{path} is not a Keras model ({KERAS_FORMATS})")


def to_int8_tflite(path: str | Path, data) -> bytes:
    """The full-int8 .tflite (int8 input and output) of the Keras model at `path`,
    calibrated on the inputs `x` of `data` (an .npz path or a mapping)."""
    check_keras_path(path)
    if data is None:
        raise DataError(f"{path} is a Keras model: tinygen converts it to full int8 by post-training quantization "
                        "and needs calibration inputs; pass --data calib.npz (an .npz with an array 'x' of a few "
                        "hundred typical model inputs, batch first)")
    from ..optimize.data import require_file

    require_file(data)
    from ..optimize.pipeline import convert_keras_file  # imports TensorFlow

    return convert_keras_file(Path(path), data)


def write_int8_tflite(path: str | Path, data, destination: Path) -> Path:
    """Convert the Keras model at `path` (see `to_int8_tflite`) into `destination`."""
    return write_output(destination, to_int8_tflite(path, data))
