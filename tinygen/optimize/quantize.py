"""Int8 quantization: quantization-aware training, and the full-int8 TFLite conversion
that ends every pipeline.

QAT (tfmot.quantization) inserts fake-quant ops so that fine-tuning sees int8 rounding.
Plain QAT would move pruned zeros and clustered values apart again, so after those steps
tfmot's collaborative schemes are chosen: PQAT keeps sparsity, CQAT keeps the clusters,
PCQAT keeps both.

The conversion is always full int8 (TFLITE_BUILTINS_INT8, int8 input and output unless
float I/O is asked for) with a representative dataset: for post-training quantization
(PTQ) it sets every activation range; after QAT most ranges come from training.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import OptimizationError
from .data import Dataset
from .models import Progress, fine_tune, first_line, fresh_copy, skipped_layers, unwrap
from .recipe import Recipe
from .task import Task
from .tfstack import keras, native_stderr_silenced, tf, tfmot


def qat_scheme(recipe: Recipe):
    """(name, tfmot quantize scheme) of the QAT that keeps what the recipe's earlier
    pruning and clustering steps made."""
    pruned, clustered = recipe.prune is not None, recipe.clusters is not None
    combine = tfmot.experimental.combine
    if pruned and clustered:
        return "pcqat", combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=True)
    if clustered:
        return "cqat", combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False)
    if pruned:
        return "pqat", combine.Default8BitPrunePreserveQuantizeScheme()
    return "qat", tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()


def _annotate_if_supported(layer, registry):
    if registry.supports(layer):
        return tfmot.quantization.keras.quantize_annotate_layer(layer)
    return layer


def _why_not_quantized(layer) -> str | None:
    if layer is not unwrap(layer):
        return None
    return f"tfmot cannot quantize {type(layer).__name__} in training (post-training ranges are used)"


def qat(model, dataset: Dataset, task: Task, recipe: Recipe, progress: Progress, label: str):
    """A quantization-aware copy of `model`, fine-tuned with the scheme that keeps the
    earlier steps' sparsity and clusters; returns (model, skipped layer descriptions)."""
    _, scheme = qat_scheme(recipe)
    registry = scheme.get_quantize_registry()
    annotated = keras.models.clone_model(fresh_copy(model),
                                         clone_function=lambda layer: _annotate_if_supported(layer, registry))
    skipped = skipped_layers(annotated, _why_not_quantized)
    quantized = tfmot.quantization.keras.quantize_apply(annotated, scheme)
    fine_tune(quantized, dataset, task, recipe, label, progress)
    return quantized, skipped


def _static_batch(model):
    """A Keras 3 model as a copy with batch size 1: traced with a free batch, its Flatten
    becomes SHAPE / STRIDED_SLICE / PACK ops instead of one static RESHAPE. Keras 2
    models convert to a static RESHAPE as they are."""
    if isinstance(model, keras.Model):
        return model
    import keras as keras3

    fixed = keras3.models.clone_model(model, input_tensors=keras3.Input(batch_shape=(1, *model.input_shape[1:])))
    fixed.set_weights(model.get_weights())
    return fixed


def convert_int8(model, calibration_inputs: np.ndarray, float_io: bool) -> bytes:
    """The full-int8 .tflite of a Keras model (Keras 2 or 3, float or QAT), its activation
    ranges calibrated on `calibration_inputs` (a batch of float32 model inputs)."""
    def representative_dataset():
        for sample in calibration_inputs:
            yield [sample[np.newaxis]]

    converter = tf.lite.TFLiteConverter.from_keras_model(_static_batch(model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with native_stderr_silenced(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")  # int8 I/O: expected
            return converter.convert()
    except Exception as error:  # the converter raises many types; the first line names the cause
        raise OptimizationError(f"the full-int8 TFLite conversion failed: {first_line(error)}") from None
