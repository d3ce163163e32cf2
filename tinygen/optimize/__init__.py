"""Optimize Keras models for the edge: low-rank factorization, magnitude pruning, k-means
weight clustering, quantization-aware training (PQAT, CQAT or PCQAT when combined with the
steps before it) and full-int8 conversion, with a report of what each step costs and saves.

    import tinygen
    result = tinygen.optimize("model.keras", "train.npz", "model_int8.tflite",
                              prune=0.5, clusters=16, qat=True)
    print(result.table())

This package is the only part of tinygen that uses TensorFlow (through `tfstack`, with
TF Model Optimization and Keras 2). Importing it is cheap: options and files are checked
first, and TensorFlow is imported only when a pipeline runs, so bad input fails at once.

`tinygen.optimize` names both this package and the function: the package is callable.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Callable

from ..frontend.keras import check_keras_path
from .data import DataSource, require_file
from .recipe import Recipe, parse_low_rank

__all__ = ["Recipe", "optimize", "parse_low_rank"]


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def optimize(model, data: DataSource, output: str | Path, *, val: DataSource | None = None,
             progress: Callable[[str], None] = _to_stderr, **options):
    """Optimize a float Keras model and write its full-int8 .tflite to `output`.

    `model` is a path (.keras, .h5, SavedModel directory) or a tf_keras model (never
    modified); `data` an .npz path or a mapping with `x` (inputs) and `y` (labels, needed
    by every step that fine-tunes); `val` held-out data (default: a seeded `val_split` of
    `data`); `options` are the fields of `Recipe` (prune=0.5, clusters=16, qat=True, ...).
    Progress lines go to `progress` (stderr by default). Returns an `OptimizeResult`:
    `.table()`, `.to_json()`, `.steps`, `.output`, `.keras_model`.
    """
    recipe = Recipe(**options)
    if isinstance(model, (str, Path)):
        check_keras_path(model)
    for source in (data, val):
        require_file(source)
    from .pipeline import run  # TensorFlow is imported here, once everything cheap is checked

    return run(model, data, output, recipe, val, progress)


class _CallableModule(types.ModuleType):
    """Lets `tinygen.optimize(...)` call `optimize` although the name is this package."""

    def __call__(self, *args, **kwargs):
        return optimize(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
