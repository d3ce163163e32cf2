"""Seeded generation of small int8 TFLite models for the tests.

Each test builds a tiny Keras model (weights drawn from a seeded generator), converts it
to a full-int8 .tflite with a seeded representative data set, and hands back the path.
TensorFlow is imported lazily: only tests that make models pay for it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def keras():
    """The tf_keras module (Keras 2), as TF Model Optimization needs it."""
    import tf_keras
    return tf_keras


def randomize_weights(model, seed: int, scale: float = 0.5) -> None:
    """Replace every weight with seeded normal values, so that biases are non-trivial too."""
    rng = np.random.default_rng(seed)
    new = []
    for w in model.get_weights():
        new.append(rng.normal(0.0, scale, size=w.shape).astype(np.float32))
    model.set_weights(new)


def convert_int8(model, path: Path, seed: int = 0, float_io: bool = False, samples: int = 32,
                 input_range: float = 1.0, per_tensor_dense: bool = False) -> Path:
    """Full-int8 conversion with a seeded representative data set; returns `path`.

    The converter quantizes Dense weights per channel; `per_tensor_dense` asks for one
    scale per tensor instead, as older converters (and many deployed models) have it."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    input_shapes = [tuple(1 if d is None else d for d in t.shape) for t in model.inputs]

    def representative():
        # Samples keyed by input name: the converter's input order need not be the model's.
        for _ in range(samples):
            yield {name: rng.uniform(-input_range, input_range, size=shape).astype(np.float32)
                   for name, shape in zip(model.input_names, input_shapes)}

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter._experimental_disable_per_channel_quantization_for_dense_layers = per_tensor_dense
    if not float_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path = Path(path)
    path.write_bytes(converter.convert())
    return path


def single_op_model(layer_fn, input_shapes, path: Path, seed: int = 0, batch_size: int = 1,
                    **convert_args) -> Path:
    """A model of one layer (or a small function of layers) on the given input shape(s),
    each with `batch_size` samples.

    `layer_fn` takes the Keras input tensor(s) and returns the output tensor. Weights are
    randomized with `seed`.
    """
    k = keras()
    k.utils.set_random_seed(seed)
    shapes = input_shapes if isinstance(input_shapes, list) else [input_shapes]
    inputs = [k.Input(shape=s, batch_size=batch_size) for s in shapes]
    outputs = layer_fn(*inputs)
    model = k.Model(inputs, outputs)
    if model.get_weights():
        randomize_weights(model, seed)
    return convert_int8(model, path, seed=seed, **convert_args)


def with_quantization(path: Path, out_path: Path, quantization: dict[int, tuple[float, int]]) -> Path:
    """A copy of the model at `path` whose tensors (by index) get new per-tensor
    (scale, zero_point): quantizations the converter never produces (equal input and
    output scales, extreme zero points) for reference kernels that run whatever the file says."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    tensors = model.subgraphs[0].tensors
    for index, (scale, zero_point) in quantization.items():
        tensors[index].quantization.scale = np.array([scale], dtype=np.float32)
        tensors[index].quantization.zeroPoint = np.array([zero_point], dtype=np.int64)
    flatbuffer_utils.write_model(model, str(out_path))
    return Path(out_path)
