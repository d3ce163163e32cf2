"""Compressed weights on the MLPerf Tiny models: weight flash and instructions, dense vs encoded.

What: for each model in ../shared/models/mlperf_tiny, variants are made by rewriting the
int8 filters of every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED in the .tflite
(tensorflow.lite.tools.flatbuffer_utils; biases and scales stay):
- `original`: the model as it is;
- `16 clusters`: each output channel's int8 weights replaced by the nearest of 16
  centroids found by a seeded 1-D k-means (Lloyd) on them;
- `16 clusters/tensor`: the same over each whole filter (16 int8 values per tensor, as
  clustering-preserving QAT leaves FULLY_CONNECTED layers);
- `50% pruned`: the half of each filter's weights with the smallest magnitude set to 0;
- `50% pruned + 16 clusters`: pruned so, then the nonzero weights of each channel clustered
  to 15 centroids (16 values with zero).
Each variant is compiled with `--weights dense` and with `auto`, `lut` or `sparse` where a
target concerns them, built for the Cortex-M4 board (QEMU mps2-an386), checked byte for
byte against TFLite Micro on seeded inputs, and its instructions per inference counted. The
table gives the filters' bytes (what the encodings change), all weight flash (filters,
biases, multipliers: `weights_bytes`), the firmware's whole flash (weights plus code, the
compressed kernels included), and instructions, each as a ratio to the same variant stored
dense, next to the targets of issue 5.

`--measure-costs` instead fits tinygen.weights.ROW_COSTS: per-layer instruction counts of
the FULLY_CONNECTED layers of the anomaly-detection model (rows of 8, 128 and 640 values)
clustered to 2..64 values per channel and pruned to 0..90 %, each encoding forced, fitted by
least squares as per_row * rows + per_entry * entries.

Needs arm-none-eabi-gcc and qemu-system-arm. A benchmark, not a test: it takes minutes.
Run: .venv/bin/python benchmarks/weights.py [--models kws_ref_model ...] [--measure-costs]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
MODELS_DIR = Path(os.environ.get("TINYGEN_SHARED", REPO.parent / "shared")) / "models" / "mlperf_tiny"
MODELS = ("kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8")
BOARD = "stm32f4-discovery"  # Cortex-M4F, QEMU mps2-an386
SEED = 0
KMEANS_ITERATIONS = 25
# TFLite builtin codes of the ops whose filters are rewritten.
CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED = 3, 4, 9

TARGETS = {
    "16 clusters": "filters <= 0.53x",
    "16 clusters/tensor": "filters <= 0.53x",
    "50% pruned + 16 clusters": "filters <= 0.35x",
}


# --- making the variants -------------------------------------------------------------


def kmeans(values: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """`values` (int8) replaced by the nearest of at most `clusters` int8 centroids, found by
    Lloyd's algorithm from `clusters` distinct values drawn with `rng`."""
    distinct = np.unique(values)
    if len(distinct) <= clusters:
        return values
    points = values.astype(np.float64)
    centroids = np.sort(rng.choice(distinct, clusters, replace=False).astype(np.float64))
    for _ in range(KMEANS_ITERATIONS):
        nearest = np.abs(points[:, None] - centroids[None, :]).argmin(axis=1)
        for cluster in range(clusters):
            members = points[nearest == cluster]
            if members.size:
                centroids[cluster] = members.mean()
    centroids = np.clip(np.round(centroids), -127, 127)  # symmetric int8 weights
    return centroids[np.abs(points[:, None] - centroids[None, :]).argmin(axis=1)].astype(np.int8)


def cluster_channels(filter_: np.ndarray, axis: int, clusters: int, rng: np.random.Generator,
                     keep_zeros: bool = False, per_tensor: bool = False) -> np.ndarray:
    """Each output channel (slice along `axis`) clustered, or with `per_tensor` the whole
    filter at once; with `keep_zeros`, zeros stay and only nonzero weights are clustered."""
    channels = np.moveaxis(filter_, axis, 0).copy()
    for channel in channels[np.newaxis] if per_tensor else channels:
        flat = channel.reshape(-1)
        chosen = flat != 0 if keep_zeros else np.ones(flat.shape, bool)
        if chosen.any():
            flat[chosen] = kmeans(flat[chosen], clusters, rng)
        channel[...] = flat.reshape(channel.shape)
    return np.moveaxis(channels, 0, axis)


def prune(filter_: np.ndarray, sparsity: float) -> np.ndarray:
    """The `sparsity` share of the weights with the smallest magnitude set to 0."""
    flat = filter_.reshape(-1).copy()
    flat[np.argsort(np.abs(flat.astype(np.int16)), kind="stable")[:int(round(sparsity * flat.size))]] = 0
    return flat.reshape(filter_.shape)


@dataclass(frozen=True)
class Variant:
    name: str
    clusters: int = 0  # centroids per channel or tensor (0: not clustered)
    sparsity: float = 0.0  # share of each filter's weights pruned to 0
    per_tensor: bool = False  # clusters over the whole filter, not per output channel

    def transform(self, filter_: np.ndarray, axis: int, rng: np.random.Generator) -> np.ndarray:
        pruned = self.sparsity > 0
        if pruned:
            filter_ = prune(filter_, self.sparsity)
        if self.clusters:
            filter_ = cluster_channels(filter_, axis, self.clusters - 1 if pruned else self.clusters, rng,
                                       keep_zeros=pruned, per_tensor=self.per_tensor)
        return filter_


VARIANTS = (
    Variant("original"),
    Variant("16 clusters", clusters=16),
    Variant("16 clusters/tensor", clusters=16, per_tensor=True),
    Variant("50% pruned", sparsity=0.5),
    Variant("50% pruned + 16 clusters", clusters=16, sparsity=0.5),
)
# The --weights modes each variant is compiled with besides dense.
MODES = {
    "original": ("auto",),
    "16 clusters": ("auto", "lut"),
    "16 clusters/tensor": ("auto", "lut"),
    "50% pruned": ("auto", "sparse"),
    "50% pruned + 16 clusters": ("auto", "lut", "sparse-lut"),
}


def write_variant(source: Path, variant: Variant, out_path: Path, seed: int = SEED) -> Path:
    """A copy of the model at `source` with every conv-family filter transformed."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    rng = np.random.default_rng(seed)
    subgraph = model.subgraphs[0]
    for op in subgraph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        op_code = max(code.builtinCode, code.deprecatedBuiltinCode)
        if op_code not in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED):
            continue
        tensor = subgraph.tensors[op.inputs[1]]
        buffer = model.buffers[tensor.buffer]
        filter_ = np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), np.int8).reshape(tensor.shape)
        axis = int(tensor.quantization.quantizedDimension)
        transformed = variant.transform(filter_, axis, rng)
        buffer.data = np.frombuffer(np.ascontiguousarray(transformed).tobytes(), np.uint8).copy()
    flatbuffer_utils.write_model(model, str(out_path))
    return out_path


# --- measuring -----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    filter_bytes: int  # the conv-family filters as stored
    dense_filter_bytes: int  # the same filters stored dense
    weights_bytes: int  # every constant in flash
    flash_bytes: int  # the whole firmware: weights, the model's code and kernels, the harness
    instructions: int  # per inference, Cortex-M4 in QEMU
    per_layer: tuple[int, ...]
    bit_exact: bool
    encodings: tuple  # per layer, its filter's Encoding or None


def measure(model: Path, weights: str, work: Path, profile: bool = False, count: int = 2) -> Measurement:
    """Compile with `--weights weights`, run in QEMU on the M4 board, compare with TFLM."""
    from tinygen.compiler import compile_model
    from tinygen.firmware import build_firmware
    from tinygen.qemu import QemuRunner
    from tinygen.verify import check, samples_for

    compiled = compile_model(model, work / "model", weights=weights)
    firmware = build_firmware(compiled, BOARD, work / "firmware", profile=profile)
    runner = QemuRunner(firmware, timeout_s=600, count_instructions=True)
    result = check(compiled, runner, samples_for(compiled.graph, count, SEED, None), target=BOARD)
    counts = runner.last_run.instructions
    encodings = tuple(layer.filter_encoding for layer in compiled.layers)
    used = [e for e in encodings if e is not None]
    return Measurement(filter_bytes=sum(e.nbytes for e in used), dense_filter_bytes=sum(e.dense_bytes for e in used),
                       weights_bytes=result.weights_bytes, flash_bytes=firmware.memory.flash_bytes,
                       instructions=counts.max_per_inference,
                       per_layer=tuple(max(c) for c in zip(*counts.per_layer)) if profile else (),
                       bit_exact=result.bit_exact, encodings=encodings)


def encodings_summary(measurement: Measurement) -> str:
    """E.g. 'lut4c x9, dense x4': how many filters took each encoding."""
    names = {}
    for encoding in measurement.encodings:
        if encoding is not None:
            key = encoding.kind + (f"{encoding.bits}{'c' if encoding.per_channel_tables else 't'}"
                                   if encoding.bits else "")
            names[key] = names.get(key, 0) + 1
    return ", ".join(f"{name} x{count}" for name, count in sorted(names.items()))


def target_status(variant: str, mode: str, encoded: Measurement, dense: Measurement) -> str:
    """The issue's targets that this row measures, with 'met' or 'MISSED'."""
    checks = []
    filter_ratio = encoded.filter_bytes / dense.filter_bytes
    instruction_ratio = encoded.instructions / dense.instructions
    if mode == "auto" and variant in TARGETS:
        limit = float(TARGETS[variant].split("<= ")[1].rstrip("x"))
        checks.append(f"bytes {'met' if filter_ratio <= limit else 'MISSED'} ({TARGETS[variant]})")
    if mode == "lut":
        checks.append(f"instr {'met' if instruction_ratio <= 1.25 else 'MISSED'} (<= 1.25x)")
    if mode == "sparse":
        checks.append(f"instr {'met' if instruction_ratio < 1 else 'MISSED'} (< 1x)")
    return "; ".join(checks)


def benchmark(models: list[str]) -> None:
    header = (f"{'model':<22} {'variant':<24} {'weights':<10} {'filter B':>8} {'ratio':>5} {'weights B':>9} "
              f"{'ratio':>5} {'flash B':>8} {'ratio':>5} {'instructions':>12} {'ratio':>5}  {'exact':<5}  "
              "encodings / targets")
    print(header)
    print("-" * len(header))
    for name in models:
        for variant in VARIANTS:
            with tempfile.TemporaryDirectory(prefix="tinygen-weights-") as scratch:
                work = Path(scratch)
                path = write_variant(MODELS_DIR / f"{name}.tflite", variant, work / f"{name}.tflite")
                dense = measure(path, "dense", work / "dense")
                rows = [("dense", dense)] + [(mode, measure(path, mode, work / mode)) for mode in MODES[variant.name]]
            for mode, result in rows:
                print(f"{name:<22} {variant.name:<24} {mode:<10} {result.filter_bytes:>8} "
                      f"{result.filter_bytes / dense.filter_bytes:>5.2f} {result.weights_bytes:>9} "
                      f"{result.weights_bytes / dense.weights_bytes:>5.2f} {result.flash_bytes:>8} "
                      f"{result.flash_bytes / dense.flash_bytes:>5.2f} {result.instructions:>12,} "
                      f"{result.instructions / dense.instructions:>5.2f}  {str(result.bit_exact):<5}  "
                      f"{encodings_summary(result)}  {target_status(variant.name, mode, result, dense)}",
                      flush=True)


# --- fitting the cost model ----------------------------------------------------------

COST_VARIANTS = (
    [(Variant(f"{2 ** bits} clusters", clusters=2 ** bits), "lut") for bits in range(1, 7)]
    + [(Variant(f"{percent}% pruned", sparsity=percent / 100), "sparse") for percent in (0, 50, 75, 90)]
    + [(Variant(f"{percent}% pruned + 16 clusters", clusters=16, sparsity=percent / 100), "sparse-lut")
       for percent in (50, 75, 90)]
    + [(Variant("original"), "dense")]
)


def measure_costs() -> None:
    """Fit per_row and per_entry of each encoding on the anomaly-detection model's layers."""
    fits: dict[tuple[str, int], list[tuple[int, int, int]]] = {}
    for variant, mode in COST_VARIANTS:
        with tempfile.TemporaryDirectory(prefix="tinygen-costs-") as scratch:
            work = Path(scratch)
            path = write_variant(MODELS_DIR / "ad01_int8.tflite", variant, work / "ad01.tflite")
            result = measure(path, mode, work / "run", profile=True, count=1)
        for encoding, instructions in zip(result.encodings, result.per_layer):
            if encoding is not None:
                fits.setdefault((encoding.kind, encoding.bits), []).append(
                    (encoding.rows, encoding.entries, instructions))
        print(f"measured {variant.name} --weights {mode}: {result.instructions:,} instructions, "
              f"bit-exact {result.bit_exact}", flush=True)
    print("\nROW_COSTS fitted (instructions = per_row * rows + per_entry * entries):")
    for (kind, bits), samples in sorted(fits.items()):
        rows, entries, instructions = (np.array(column, dtype=np.float64) for column in zip(*samples))
        (per_row, per_entry), *_ = np.linalg.lstsq(np.stack([rows, entries], axis=1), instructions, rcond=None)
        print(f"    ({kind!r}, {bits}): RowCost(per_row={per_row:.1f}, per_entry={per_entry:.2f}),"
              f"  # {len(samples)} layers")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--measure-costs", action="store_true", help="fit tinygen.weights.ROW_COSTS instead")
    args = parser.parse_args(argv)
    if args.measure_costs:
        measure_costs()
    else:
        benchmark(args.models)
    return 0


if __name__ == "__main__":
    sys.exit(main())
