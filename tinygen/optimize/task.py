"""What the model predicts, read from its output and the labels: the fine-tuning loss and
the held-out score (accuracy, or mean squared error for regression).

One scoring function serves the float Keras models and the int8 .tflite (whose outputs
are dequantized first), so every row of the report is measured the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DataError

CLASSIFICATION, BINARY, REGRESSION = "classification", "binary", "regression"


@dataclass(frozen=True)
class Task:
    """`kind` is CLASSIFICATION (one output per class, integer or one-hot labels), BINARY
    (one output, labels 0/1) or REGRESSION; `from_logits` when the model ends without
    softmax/sigmoid."""

    kind: str
    from_logits: bool

    @property
    def metric(self) -> str:
        return "mse" if self.kind == REGRESSION else "accuracy"

    def training_labels(self, labels: np.ndarray) -> np.ndarray:
        """Labels in the form the loss takes: class indices, 0/1 floats, or float targets."""
        if self.kind == CLASSIFICATION:
            return class_indices(labels)
        return labels.reshape(len(labels), -1).astype(np.float32)

    def score(self, outputs: np.ndarray, labels: np.ndarray) -> float:
        """Accuracy (fraction correct) or mean squared error of `outputs` against `labels`."""
        flat = outputs.reshape(len(outputs), -1).astype(np.float64)
        if self.kind == CLASSIFICATION:
            return float(np.mean(np.argmax(flat, axis=1) == class_indices(labels)))
        if self.kind == BINARY:
            threshold = 0.0 if self.from_logits else 0.5
            return float(np.mean((flat[:, 0] > threshold) == (labels.reshape(-1) > 0.5)))
        return float(np.mean((flat - labels.reshape(flat.shape)) ** 2))


def is_one_hot(labels: np.ndarray) -> bool:
    return labels.ndim == 2 and labels.shape[1] > 1 and bool(
        np.all((labels == 0) | (labels == 1)) and np.all(labels.sum(axis=1) == 1))


def class_indices(labels: np.ndarray) -> np.ndarray:
    """Integer class labels from integer or one-hot labels."""
    return np.argmax(labels, axis=1) if is_one_hot(labels) else labels.reshape(-1).astype(np.int64)


def infer_task(output_units: int, output_activation: str, labels: np.ndarray) -> Task:
    """The task implied by the model's output width and final activation and by the labels."""
    integral = np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool
    per_sample = labels.size // max(len(labels), 1)
    if output_units > 1 and (is_one_hot(labels) or (integral and per_sample == 1)):
        classes = class_indices(labels)
        outside = classes[(classes < 0) | (classes >= output_units)]
        if outside.size:
            raise DataError(f"'y' holds class {outside[0]}, but the model has {output_units} outputs "
                            f"(classes 0..{output_units - 1})")
        return Task(CLASSIFICATION, from_logits=output_activation != "softmax")
    if output_units == 1 and integral and per_sample == 1 and set(np.unique(labels)) <= {0, 1}:
        return Task(BINARY, from_logits=output_activation != "sigmoid")
    if per_sample != output_units:
        raise DataError(f"'y' has {per_sample} value(s) per sample, but the model has {output_units} outputs: "
                        "give class indices, one-hot rows, or one target per output")
    return Task(REGRESSION, from_logits=False)
