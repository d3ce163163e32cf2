"""Training, held-out and calibration data: `.npz` files (or in-memory arrays) checked
against the model before any training starts, so that a wrong file fails in one line.

An `.npz` holds `x` (model inputs, batch first) and, for anything that fine-tunes or
reports accuracy, `y` (labels or targets). Without a separate validation file a seeded
fraction of `x` is held out for evaluation and never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Union

import numpy as np

from ..errors import DataError

# Where data can come from: an .npz path, or a mapping with "x" (and "y") arrays.
DataSource = Union[str, Path, Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Dataset:
    """Float32 model inputs and their labels (None when the data has no `y`)."""

    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None

    @property
    def has_labels(self) -> bool:
        return self.y_train is not None and self.y_val is not None


def describe(source: DataSource) -> str:
    """How messages name a data source."""
    return str(source) if isinstance(source, (str, Path)) else "the data"


def read_arrays(source: DataSource) -> tuple[np.ndarray, np.ndarray | None]:
    """`x` and `y` (None when absent) from an .npz file or a mapping."""
    if isinstance(source, (str, Path)):
        arrays = _read_npz(Path(source))
    else:
        arrays = dict(source)
    if "x" not in arrays:
        found = ", ".join(sorted(arrays)) or "nothing"
        raise DataError(f"{describe(source)} has no array 'x' of model inputs (it holds: {found})")
    return np.asarray(arrays["x"]), None if arrays.get("y") is None else np.asarray(arrays["y"])


def require_file(source: DataSource | None) -> None:
    """Fail at once, before any slow import, when a data path names no file."""
    if isinstance(source, (str, Path)) and not Path(source).is_file():
        raise DataError(f"{source}: no such file (expected an .npz with an array 'x' of model inputs)")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    require_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: cannot read it as an .npz archive ({error})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single .npy array, not an .npz archive with 'x' (and 'y'); "
                        "save with numpy.savez(path, x=..., y=...)")
    with loaded:
        return {name: loaded[name] for name in loaded.files}


def check_inputs(x: np.ndarray, input_shape: tuple, origin: str) -> np.ndarray:
    """`x` as float32 after checking it is a batch of inputs of the model's input shape
    (`input_shape` is the Keras one, batch first, None for free dimensions)."""
    expected = tuple(input_shape[1:])
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{origin}: 'x' holds {x.dtype} values; model inputs must be numbers")
    fits = x.ndim == len(expected) + 1 and all(d is None or d == n for d, n in zip(expected, x.shape[1:]))
    if not fits:
        wanted = ", ".join("any" if d is None else str(d) for d in expected)
        raise DataError(f"{origin}: 'x' has shape {x.shape}; the model's input needs (N, {wanted})")
    if len(x) == 0:
        raise DataError(f"{origin}: 'x' holds no samples")
    return x.astype(np.float32, copy=False)


def check_labels(y: np.ndarray, sample_count: int, origin: str) -> np.ndarray:
    if len(y) != sample_count:
        raise DataError(f"{origin}: 'y' has {len(y)} labels for {sample_count} inputs in 'x'")
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise DataError(f"{origin}: 'y' holds {y.dtype} values; labels and targets must be numbers")
    return y


def split_held_out(x: np.ndarray, y: np.ndarray | None, fraction: float, seed: int) -> Dataset:
    """Hold out a seeded random `fraction` of the samples (at least one, not all)."""
    order = np.random.default_rng(seed).permutation(len(x))
    held_out = min(len(x) - 1, max(1, round(fraction * len(x))))
    if held_out < 1:
        raise DataError(f"{len(x)} sample(s) cannot be split into training and held-out data: "
                        "give more, or a separate --val file")
    val, train = order[:held_out], order[held_out:]
    return Dataset(x[train], None if y is None else y[train], x[val], None if y is None else y[val])


def load_dataset(data: DataSource, val: DataSource | None, input_shape: tuple, labels_needed_by: list[str],
                 val_split: float, seed: int) -> Dataset:
    """Read and check the training data and the held-out data (a file, or a split of `data`).

    `labels_needed_by` names the options that fine-tune; if any, `y` is required."""
    x, y = read_arrays(data)
    x = check_inputs(x, input_shape, describe(data))
    if y is None and labels_needed_by:
        raise DataError(f"{describe(data)} has no labels 'y': {', '.join(labels_needed_by)} fine-tune the model "
                        "and need them (save with numpy.savez(path, x=inputs, y=labels))")
    if y is not None:
        y = check_labels(y, len(x), describe(data))
    if val is None:
        return split_held_out(x, y, val_split, seed)
    x_val, y_val = read_arrays(val)
    x_val = check_inputs(x_val, input_shape, describe(val))
    if y_val is not None:
        y_val = check_labels(y_val, len(x_val), describe(val))
    return Dataset(x, y, x_val, y_val)


def calibration_inputs(data: DataSource, input_shape: tuple, count: int) -> np.ndarray:
    """Up to `count` checked inputs from `data` for post-training quantization: they set
    the int8 ranges of every activation, so they should be typical inputs."""
    x, _ = read_arrays(data)
    return check_inputs(x, input_shape, describe(data))[:count]
