"""QUANTIZE and DEQUANTIZE: bit-exact sweeps against TFLite Micro, and the refusals.

Keras models converted with float inputs and outputs get a QUANTIZE per input and a
DEQUANTIZE per output. The converter never emits an int8 -> int8 QUANTIZE for a small
Keras model, and random float inputs almost never land on a rounding tie, so the edge
cases run on hand-written models (tests/tflite_builder.py) with crafted inputs: every
int8 value, float inputs whose quotient by the scale is exactly k + 0.5, and their
float neighbours.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import modelgen
from tflite_builder import OperatorSpec, TensorSpec, write_model
from checks import assert_bit_exact
from tinygen.compiler import load_graph
from tinygen.ir import Graph, Op, Quantization, Tensor
from tinygen.ops import lookup


def conversion_model(path: Path, dtypes: list[str], quantizations: list[tuple[float, int] | None],
                     codes: list[str], shape: tuple[int, ...]) -> Path:
    """A chain of one-input conversions: tensor i -> op codes[i] -> tensor i + 1."""
    tensors = [TensorSpec(shape, dtype, quantization) for dtype, quantization in zip(dtypes, quantizations)]
    operators = [OperatorSpec(code, (index,), (index + 1,)) for index, code in enumerate(codes)]
    return write_model(path, tensors, operators, inputs=(0,), outputs=(len(tensors) - 1,))


def rounding_edge_inputs(scale: float, zero_point: int) -> np.ndarray:
    """Floats whose float32 quotient by `scale` is exactly k + 0.5 for every k that can
    matter, each with its two float neighbours, plus values far beyond the int8 range
    (still far inside int32, where TFLM's conversion is defined) and both zeros."""
    scale32 = np.float32(scale)
    values = []
    for k in range(-140 - zero_point, 140 - zero_point):
        target = np.float32(k + 0.5)
        guess = np.float32(target * scale32)
        # The float nearest to target * scale may divide back one ulp off: search nearby.
        for candidate in (guess, np.nextafter(guess, np.float32(np.inf)), np.nextafter(guess, np.float32(-np.inf))):
            if np.float32(candidate / scale32) == target:
                guess = candidate
                break
        values += [guess, np.nextafter(guess, np.float32(np.inf)), np.nextafter(guess, np.float32(-np.inf))]
    far = np.float32(1000.0) * scale32
    values += [np.float32(0.0), np.float32(-0.0), far, -far, far * np.float32(1000.0), -far * np.float32(1000.0)]
    return np.array(values, dtype=np.float32)


def save_batch(path: Path, values: np.ndarray, shape: tuple[int, ...]) -> Path:
    """Pad `values` (repeating them) to whole samples of `shape`; save as a batch."""
    per_sample = int(np.prod(shape))
    count = -(-values.size // per_sample)
    batch = np.resize(values, count * per_sample).reshape((count,) + shape)
    np.save(path, batch)
    return path


@pytest.mark.parametrize("shape, seed", [((4, 4, 3), 1), ((7, 5, 9), 2), ((13,), 3)])
def test_float_io_keras_model(tmp_path, shape, seed):
    """A Keras model converted with float inputs and outputs (QUANTIZE on both inputs,
    ADD, DEQUANTIZE) gives TFLM's float outputs bit for bit on random inputs spanning
    the whole quantized range."""
    k = modelgen.keras()
    path = modelgen.single_op_model(lambda a, b: k.layers.Add()([a, b]), [shape, shape], tmp_path / "model.tflite",
                                    seed=seed, float_io=True)
    kinds = [op.kind for op in load_graph(path).ops]
    assert kinds.count("QUANTIZE") == 2 and kinds.count("DEQUANTIZE") == 1
    assert_bit_exact(path, seed)


# (scale, zero point): an exact power of two, typical activation scales, the zero point
# at both ends, a scale above one and a very small one.
AFFINE_SWEEP = [(2.0 ** -7, 0), (0.0123456, -128), (0.00392157, 127), (3.7, -5), (1.0e-5, 17), (0.3333333, -1)]


@pytest.mark.parametrize("scale, zero_point", AFFINE_SWEEP)
def test_quantize_dequantize_rounding_edges(tmp_path, scale, zero_point):
    """float32 -> QUANTIZE -> DEQUANTIZE -> float32 matches TFLM bit for bit on inputs whose
    quotient by the scale is exactly a tie (std::round takes it away from zero), on their
    float neighbours, on values that saturate, and on +0 and -0; the int8 values reached
    cover the whole range, so DEQUANTIZE is checked on every one of them."""
    shape = (1, 256)
    path = conversion_model(tmp_path / "model.tflite", ["float32", "int8", "float32"],
                            [None, (scale, zero_point), None], ["QUANTIZE", "DEQUANTIZE"], shape)
    inputs = save_batch(tmp_path / "inputs.npy", rounding_edge_inputs(scale, zero_point), shape)
    assert_bit_exact(path, seed=5, inputs_file=inputs)


# (input scale, input zero point, output scale, output zero point): ratios below one,
# above one (a left shift), one (only the zero point moves), and far from one.
REQUANTIZE_SWEEP = [(0.02, 3, 0.05, -7), (0.05, -7, 0.02, 3), (0.0078125, -128, 0.0078125, 0),
                    (0.011, 0, 0.0107, 1), (0.5, 10, 0.001, -20), (0.001, -20, 0.5, 10)]


@pytest.mark.parametrize("input_scale, input_zero_point, output_scale, output_zero_point", REQUANTIZE_SWEEP)
def test_requantize_every_value(tmp_path, input_scale, input_zero_point, output_scale, output_zero_point):
    """int8 -> int8 QUANTIZE (a change of scale and zero point) matches TFLM on all 256
    input values, for multipliers below, equal to and above one."""
    shape = (2, 128)
    path = conversion_model(tmp_path / "model.tflite", ["int8", "int8"],
                            [(input_scale, input_zero_point), (output_scale, output_zero_point)], ["QUANTIZE"], shape)
    inputs = save_batch(tmp_path / "inputs.npy", np.arange(-128, 128, dtype=np.int8), shape)
    assert_bit_exact(path, seed=6, inputs_file=inputs)


def one_op_graph(kind: str, source: Tensor, result: Tensor) -> tuple[Graph, Op]:
    op = Op(index=0, kind=kind, inputs=(0,), outputs=(1,))
    return Graph(name="g", tensors=[source, result], ops=[op], inputs=(0,), outputs=(1,)), op


PER_TENSOR = Quantization((0.05,), (0,))
PER_CHANNEL = Quantization((0.05, 0.1), (0, 0), axis=1)


@pytest.mark.parametrize("kind, source, result, reason", [
    ("QUANTIZE", Tensor(0, "x", (1, 2), "int16", PER_TENSOR), Tensor(1, "y", (1, 2), "int8", PER_TENSOR),
     "only float32 and int8"),
    ("QUANTIZE", Tensor(0, "x", (1, 2), "float32"), Tensor(1, "y", (1, 2), "int8", PER_CHANNEL), "per channel"),
    ("QUANTIZE", Tensor(0, "x", (1, 2), "int8", PER_CHANNEL), Tensor(1, "y", (1, 2), "int8", PER_TENSOR),
     "per channel"),
    ("QUANTIZE", Tensor(0, "x", (1, 2), "float32"), Tensor(1, "y", (1, 2), "int16", PER_TENSOR), "expected int8"),
    ("QUANTIZE", Tensor(0, "x", (1, 3), "float32"), Tensor(1, "y", (1, 2), "int8", PER_TENSOR), "differ in size"),
    ("DEQUANTIZE", Tensor(0, "x", (1, 2), "int16", PER_TENSOR), Tensor(1, "y", (1, 2), "float32"),
     "expected int8"),
    ("DEQUANTIZE", Tensor(0, "x", (1, 2), "int8", PER_CHANNEL), Tensor(1, "y", (1, 2), "float32"), "per channel"),
    ("DEQUANTIZE", Tensor(0, "x", (1, 2), "int8", PER_TENSOR), Tensor(1, "y", (1, 2), "int8", PER_TENSOR),
     "expected float32"),
])
def test_refusals(kind, source, result, reason):
    """Conversions tinygen does not implement are refused with a reason naming the cause."""
    graph, op = one_op_graph(kind, source, result)
    refusal = lookup(kind).check(graph, op)
    assert refusal is not None and reason in refusal
