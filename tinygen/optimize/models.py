"""Keras models for the optimization steps: loading, copying, finding weight layers, and
fine-tuning with progress on stderr.

tfmot wraps the layer objects it is given and `strip_*` hands them back, so a technique
applied to a model changes that model in place: every technique starts from
`fresh_copy`, and the user's model is never modified.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ModelFormatError, UnsupportedModelError
from .data import Dataset
from .recipe import Recipe
from .task import BINARY, CLASSIFICATION, Task
from .tfstack import keras

Progress = Callable[[str], None]


def load_model(path: Path):
    """The model saved at `path` (an existing .keras, .h5 or SavedModel directory), uncompiled: read
    with Keras 2 (tf_keras) when it can be, else with Keras 3, which only the int8
    conversion accepts (see `require_keras2`)."""
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as keras2_error:  # Keras raises many types for unreadable or foreign files
        keras3_model = _load_with_keras3(path)
        if keras3_model is None:
            raise ModelFormatError(f"cannot load {path} as a Keras model: {first_line(keras2_error)}") from None
        return keras3_model


def first_line(error: Exception) -> str:
    """The first line of an error's message: TensorFlow's run to pages."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _load_with_keras3(path: Path):
    """The model read by Keras 3, or None when Keras 3 is absent or cannot read it either."""
    try:
        import keras as keras3

        if not keras3.__version__.startswith("3."):
            return None
        return keras3.saving.load_model(path, compile=False)
    except Exception:  # any failure means "not a Keras 3 model"; the Keras 2 error is reported
        return None


def require_keras2(model, origin: str) -> None:
    """tfmot optimizes only Keras 2, Sequential or functional models; the report scores one output."""
    if not isinstance(model, keras.Model) and not type(model).__module__.startswith("keras"):
        raise ModelFormatError(f"{origin} is a {type(model).__name__}, not a Keras model")
    if not isinstance(model, keras.Model):
        raise UnsupportedModelError(
            f"{origin} is a Keras 3 model; TF Model Optimization works only with Keras 2 models: build and save "
            "it with `import tf_keras as keras` (and TF_USE_LEGACY_KERAS=1), or convert it without optimizing: "
            f"tinygen compile {origin} --data calib.npz")
    if not getattr(model, "_is_graph_network", False) and not isinstance(model, keras.Sequential):
        raise UnsupportedModelError(f"{origin} is a subclassed Keras model; tfmot optimizes Sequential and "
                                    "functional models only")
    if len(model.outputs) != 1:
        raise UnsupportedModelError(f"{origin} has {len(model.outputs)} outputs; tinygen optimize handles "
                                    "models with one output")


def single_input_shape(model, origin: str) -> tuple:
    """The Keras input shape (batch first) of a one-input model: `x` of the data feeds it."""
    shape = model.input_shape
    if isinstance(shape, list):
        raise UnsupportedModelError(f"{origin} has {len(shape)} inputs; the data's one array 'x' feeds "
                                    "models with one input")
    return tuple(shape)


def fresh_copy(model):
    """An independent copy of `model`: new layer objects, the same weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def unwrap(layer):
    """The layer inside a tfmot wrapper (pruning, clustering, quantization), or the layer."""
    return getattr(layer, "layer", layer)


KERNEL_NAMES = ("kernel", "depthwise_kernel")


def kernel_of(layer):
    """The kernel variable of a layer or of the layer inside a tfmot wrapper (the weight
    tfmot prunes and clusters), or None. Found by variable name, because wrappers replace
    the layer's `kernel` attribute with a computed tensor."""
    for weight in layer.weights:
        if weight.name.split("/")[-1].split(":")[0] in KERNEL_NAMES:
            return weight
    return None


def weight_layers(model) -> list:
    """The layers (tfmot wrappers included) that hold a kernel, in model order."""
    return [layer for layer in model.layers if kernel_of(layer) is not None]


def describe_layer(layer) -> str:
    inner = unwrap(layer)
    return f"{inner.name} ({type(inner).__name__})"


def skipped_layers(model, reason_skipped: Callable[[object], str | None]) -> list[str]:
    """'name (Class): reason' for each weight layer a technique left alone;
    `reason_skipped(layer)` says why, or None when the technique handled the layer."""
    reasons = ((layer, reason_skipped(layer)) for layer in weight_layers(model))
    return [f"{describe_layer(layer)}: {reason}" for layer, reason in reasons if reason]


def output_activation(model) -> str:
    """The name of the final activation ('softmax', 'sigmoid', 'linear', ...)."""
    last = unwrap(model.layers[-1])
    if type(last).__name__ == "Softmax":
        return "softmax"
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "linear")


def output_units(model) -> int:
    return int(np.prod([d for d in model.output_shape[1:] if d is not None]))


def loss_for(task: Task):
    if task.kind == CLASSIFICATION:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=task.from_logits)
    if task.kind == BINARY:
        return keras.losses.BinaryCrossentropy(from_logits=task.from_logits)
    return keras.losses.MeanSquaredError()


class EpochProgress(keras.callbacks.Callback):
    """One progress line per epoch, so that long fine-tuning steps show they are alive."""

    def __init__(self, step: str, epochs: int, progress: Progress):
        super().__init__()
        self.step, self.epochs, self.progress = step, epochs, progress
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss", float("nan"))
        self.progress(f"{self.step}: epoch {epoch + 1}/{self.epochs}, loss {loss:.4f} "
                      f"({time.perf_counter() - self.started:.1f} s)")


def fine_tune(model, dataset: Dataset, task: Task, recipe: Recipe, step: str, progress: Progress,
              callbacks: tuple = ()) -> None:
    """Train `model` in place on the training split for `recipe.epochs` epochs."""
    model.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate), loss=loss_for(task))
    model.fit(dataset.x_train, task.training_labels(dataset.y_train), batch_size=recipe.batch_size,
              epochs=recipe.epochs, shuffle=True, verbose=0,
              callbacks=[*callbacks, EpochProgress(step, recipe.epochs, progress)])


def predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=256, verbose=0))
