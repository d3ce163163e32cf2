"""The golden reference: TensorFlow Lite Micro's own interpreter (the `tflite-micro`
package), whose reference kernels CMSIS-NN and tinygen's kernels must match bit for bit.

LiteRT's default (XNNPACK) path differs from TFLM by a few LSB, so it is never the
reference here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import TinygenError


def reference_outputs(model_path: str | Path, samples: list[list[np.ndarray]],
                      num_outputs: int) -> list[list[np.ndarray]]:
    """Run TFLM on each sample (a list with one array per graph input); return, per sample,
    the list of its `num_outputs` output arrays."""
    try:
        from tflite_micro import runtime
    except ImportError as error:  # pragma: no cover - a broken install
        raise TinygenError(f"the TFLite Micro reference is not installed (pip package tflite-micro): {error}") from None
    try:
        interpreter = runtime.Interpreter.from_file(str(model_path))
    except Exception as error:
        raise TinygenError(f"TFLite Micro cannot load {model_path}: {error}") from None
    results = []
    for sample in samples:
        for index, array in enumerate(sample):
            interpreter.set_input(array, index)
        interpreter.invoke()
        results.append([np.array(interpreter.get_output(index), copy=True) for index in range(num_outputs)])
    return results
