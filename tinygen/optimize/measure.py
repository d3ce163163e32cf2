"""Measuring a model after a step: held-out score and weight statistics, for a float or
QAT Keras model and for the final int8 .tflite.

The .tflite is read with tinygen's own front end and run on TensorFlow Lite Micro (the
reference tinygen's C is bit-exact with), so its row shows what the device will compute.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ..compiler import compile_model
from ..errors import TinygenError
from ..frontend import tflite as tflite_frontend
from ..ir import Graph, Tensor
from ..reference import graph_arena_size, reference_outputs
from .data import Dataset
from .models import kernel_of, predict, unwrap, weight_layers
from .report import StepReport, TensorStats, int8_weight_bytes, tensor_stats
from .task import Task

# TFLite ops with a weight kernel (input 1, bias input 2), and the output-channel axis of
# that kernel when it is quantized per tensor (per channel, its quantization says).
KERNEL_OPS = {"CONV_2D": 0, "FULLY_CONNECTED": 0, "DEPTHWISE_CONV_2D": 3}


def keras_kernel_stats(layer) -> TensorStats:
    """A Keras kernel's statistics; a DepthwiseConv2D's (h, w, in, multiplier) kernel has
    in * multiplier output channels."""
    values = np.asarray(kernel_of(layer).numpy())
    if type(unwrap(layer)).__name__ == "DepthwiseConv2D":
        values = values.reshape(*values.shape[:2], -1)
    return tensor_stats(unwrap(layer).name, values, channel_axis=values.ndim - 1)


def _bias_elements(layer) -> int:
    bias = getattr(unwrap(layer), "bias", None)
    return 0 if bias is None else int(np.prod(bias.shape))


def measure_keras(step: str, model, dataset: Dataset, task: Task | None, skipped: Sequence[str] = ()) -> StepReport:
    """A Keras model's row: score on the held-out data, and its kernels' statistics."""
    layers = weight_layers(model)
    kernels = tuple(keras_kernel_stats(layer) for layer in layers)
    kernel_elements = sum(k.elements for k in kernels)
    bias_elements = sum(_bias_elements(layer) for layer in layers)
    metric = task.score(predict(model, dataset.x_val), dataset.y_val) if task and dataset.has_labels else None
    return StepReport(step=step, metric_name=task.metric if task else None, metric=metric,
                      params=kernel_elements + bias_elements,
                      int8_weight_bytes=int8_weight_bytes(kernel_elements, bias_elements), kernels=kernels,
                      skipped=tuple(skipped))


def tflite_kernels(graph: Graph) -> list[tuple[Tensor, Tensor | None, int]]:
    """(kernel, bias or None, output-channel axis) of every op with a weight kernel."""
    found = []
    for op in graph.ops:
        if op.kind not in KERNEL_OPS:
            continue
        kernel, *rest = graph.op_inputs(op)[1:]
        quant = kernel.quant
        axis = quant.axis if quant is not None and quant.per_channel else KERNEL_OPS[op.kind]
        found.append((kernel, rest[0] if rest else None, axis))
    return found


def display_name(tensor_name: str) -> str:
    """The converter joins the names of the ops it fused with ';': the first one is enough."""
    return tensor_name.split(";")[0]


def quantize_input(x: np.ndarray, tensor: Tensor) -> np.ndarray:
    """Float inputs as the model's input tensor takes them (int8: round half away from zero,
    as TFLite's QUANTIZE does)."""
    if tensor.dtype == "float32":
        return x.astype(np.float32)
    scaled = x / tensor.quant.scale
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) + tensor.quant.zero_point
    info = np.iinfo(tensor.dtype)
    return np.clip(rounded, info.min, info.max).astype(tensor.dtype)


def dequantize_output(q: np.ndarray, tensor: Tensor) -> np.ndarray:
    if tensor.dtype == "float32":
        return q
    return (q.astype(np.float64) - tensor.quant.zero_point) * tensor.quant.scale


def tflite_predict(path: Path, graph: Graph, x: np.ndarray) -> np.ndarray:
    """The model's float outputs for the batch `x`, computed by TFLite Micro."""
    input_tensor, output_tensor = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    quantized = quantize_input(x, input_tensor)
    samples = [[sample.reshape(input_tensor.shape)] for sample in quantized]
    outputs = reference_outputs(path, samples, 1, graph_arena_size(graph))
    return np.stack([dequantize_output(sample[0], output_tensor) for sample in outputs])


def flash_bytes(path: Path) -> tuple[int | None, tuple[str, ...]]:
    """The bytes of the weights file tinygen generates for the model, or None and why not."""
    try:
        return compile_model(path).weights_bytes, ()
    except TinygenError as error:
        return None, (f"tinygen cannot compile it yet: {error}",)


def measure_tflite(step: str, path: Path, dataset: Dataset, task: Task | None,
                   skipped: Sequence[str] = ()) -> StepReport:
    """The int8 .tflite's row: score under TFLite Micro, int8 kernel statistics, and the
    flash tinygen needs for its weights."""
    graph = tflite_frontend.load(path)
    found = tflite_kernels(graph)
    kernels = tuple(tensor_stats(display_name(kernel.name), kernel.data, axis) for kernel, _, axis in found)
    params = sum(kernel.num_elements + (bias.num_elements if bias else 0) for kernel, bias, _ in found)
    stored = sum(kernel.nbytes + (bias.nbytes if bias else 0) for kernel, bias, _ in found)
    metric = (task.score(tflite_predict(path, graph, dataset.x_val), dataset.y_val)
              if task and dataset.has_labels else None)
    flash, notes = flash_bytes(path)
    return StepReport(step=step, metric_name=task.metric if task else None, metric=metric, params=params,
                      int8_weight_bytes=stored, kernels=kernels, flash_bytes=flash, skipped=tuple(skipped),
                      notes=notes)
