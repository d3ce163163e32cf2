"""Helpers of the optimization tests: a small seeded classification problem, a small CNN
with every kind of weight layer saved with its data (the `small_model` fixture, which test
modules import), and the int8 kernel statistics of a .tflite.

No conftest.py here: tests elsewhere import the top-level one as `conftest`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CLASSES = 4
INPUT_SHAPE = (6, 6, 1)


def blob_data(count: int, seed: int) -> dict[str, np.ndarray]:
    """A learnable 4-class problem: each class is a fixed random 6x6 pattern plus noise."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(1234).uniform(0.0, 1.0, size=(CLASSES, *INPUT_SHAPE))
    labels = rng.integers(0, CLASSES, size=count)
    x = patterns[labels] + rng.normal(0.0, 0.3, size=(count, *INPUT_SHAPE))
    return {"x": x.astype(np.float32), "y": labels.astype(np.int64)}


def small_cnn(seed: int):
    """Conv2D, DepthwiseConv2D (which tfmot neither prunes nor clusters), a 1x1 Conv2D and
    two Dense layers, trained a little on `blob_data`. Layers are named, so that names do
    not depend on what other tests built before in the same process."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(shape=INPUT_SHAPE),
        layers.Conv2D(8, 3, activation="relu", name="conv"),
        layers.DepthwiseConv2D(3, activation="relu", name="depthwise"),
        layers.Conv2D(16, 1, activation="relu", name="pointwise"),
        layers.Flatten(name="flatten"),
        layers.Dense(24, activation="relu", name="hidden"),
        layers.Dense(CLASSES, name="logits"),
    ], name="small")
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = blob_data(256, seed)
    model.fit(data["x"], data["y"], epochs=10, batch_size=32, verbose=0)
    return model


def save_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


@functools.cache
def _small_model_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / "small.keras"
    small_cnn(seed=0).save(model_path)
    return {"model": model_path, "train": save_npz(folder / "train.npz", **blob_data(320, seed=1)),
            "val": save_npz(folder / "val.npz", **blob_data(96, seed=2))}


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> dict[str, Path]:
    """Paths of the small CNN ("model"), 320 training ("train") and 96 held-out ("val")
    samples; made once per session, however many modules import this fixture."""
    return _small_model_files(tmp_path_factory.getbasetemp() / "small_model")


def int8_kernels(tflite_path: Path) -> list:
    """(TensorStats, quantized per channel?) of every weight kernel of a .tflite."""
    from tinygen.frontend import tflite as tflite_frontend
    from tinygen.optimize.measure import tflite_kernels
    from tinygen.optimize.report import tensor_stats

    graph = tflite_frontend.load(tflite_path)
    return [(tensor_stats(kernel.name, kernel.data, axis), kernel.quant.per_channel)
            for kernel, _, axis in tflite_kernels(graph)]


def is_depthwise(kernel_name: str) -> bool:
    return "depthwise" in kernel_name
