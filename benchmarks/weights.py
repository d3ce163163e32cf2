"""Compressed weights on the MLPerf Tiny models: weight flash and instructions, dense vs encoded.

What: for each model in ../shared/models/mlperf_tiny, variants are made by rewriting the
int8 filters of every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED in the .tflite
(tensorflow.lite.tools.flatbuffer_utils; biases and scales stay):
- `original`: the model as it is;
- `16 clusters`: as tfmot clustering and full-int8 conversion leave a filter: its weights
  dequantized with their per-channel scales, replaced by the nearest of 16 float centroids
  found over the whole filter by a seeded 1-D k-means (Lloyd), and requantized per channel
  with the same scales (so each channel holds its own int8 values of one float codebook);
- `16 clusters/channel (independent)`: each output channel's int8 weights replaced by the
  nearest of 16 int8 centroids of its own (channels share no codebook);
- `16 clusters/tensor`: the int8 weights of each whole filter clustered to 16 int8 values
  (as clustering-preserving QAT leaves FULLY_CONNECTED layers quantized per tensor);
- `50% pruned`: the half of each filter's weights with the smallest magnitude set to 0;
- `50% pruned + 16 clusters`: pruned so, then the nonzero weights clustered in float over
  the whole filter to 15 centroids (16 values with zero), as `16 clusters`;
- `50% pruned in 1x4 blocks` and `... in 2x4 blocks`: half of the blocks of 4 consecutive
  values of a row (of 2 rows: `tinygen optimize --prune-blocks` prunes Dense layers so)
  with the smallest sum of magnitudes set to 0, in CONV_2D and FULLY_CONNECTED filters
  (DEPTHWISE_CONV_2D filters, whose rows are taps, value by value); `+ 16 clusters`: then
  clustered as `50% pruned + 16 clusters`.
Each variant is compiled with `--weights dense` and with `auto`, `lut` or `sparse` where a
target concerns them, built for the Cortex-M4 board (QEMU mps2-an386), checked byte for
byte against TFLite Micro on seeded inputs, and its instructions per inference counted. The
table gives the filters' bytes (what the encodings change), all weight flash (filters,
biases, multipliers: `weights_bytes`), the firmware's whole flash (weights plus code, the
compressed kernels included), and instructions, each as a ratio to the same variant stored
dense, next to the targets of issue 5.

`--measure-costs` instead fits tinygen.weights.ROW_COSTS: per-layer instruction counts of
the FULLY_CONNECTED layers of the anomaly-detection model (rows of 8, 128 and 640 values)
clustered to 2..64 values per channel (and to 2..16 per tensor, for the paired LUT rows,
their setup subtracted) and pruned to 0..90 %, each encoding forced (sparse
rows with steps and with a bitmap each, see sparse_positions), fitted by
least squares as per_row * rows + per_entry * entries; and tinygen.weights.DECODE_COSTS: the
CONV_2D layers of the keyword-spotting model (64 rows of 40 and of 64 values), each
variant's compressed run minus its dense run (the same dense loops follow the decoding),
fitted as per_row * rows + per_entry * entries (+ per_value * values for sparse rows, which
are zeroed first).

`--entropy` instead prints, per model and variant, the empirical entropy of the filters'
int8 values (each row coded with its own distribution, and each filter with one), the
lower bound of any lossless code that codes values independently (tables not counted),
next to the fewest bytes of tinygen's encodings, all as ratios to the dense bytes. It
only reads the variants: no compiler, no QEMU.

Needs arm-none-eabi-gcc and qemu-system-arm. A benchmark, not a test: it takes minutes.
Run: .venv/bin/python benchmarks/weights.py [--models kws_ref_model ...] [--variants '16 clusters' ...]
     [--measure-costs | --entropy]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinygen.weights import Encoding

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
    "50% in 1x4 blocks + 16 clusters": "filters <= 0.35x",
    "50% in 2x4 blocks + 16 clusters": "filters <= 0.35x",
}


# --- making the variants -------------------------------------------------------------


def lloyd(points: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """`clusters` centroids of `points` (float, more than `clusters` distinct) by Lloyd's
    algorithm from `clusters` distinct points drawn with `rng`."""
    centroids = np.sort(rng.choice(np.unique(points), clusters, replace=False))
    for _ in range(KMEANS_ITERATIONS):
        nearest = np.abs(points[:, None] - centroids[None, :]).argmin(axis=1)
        for cluster in range(clusters):
            members = points[nearest == cluster]
            if members.size:
                centroids[cluster] = members.mean()
    return centroids


def nearest(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return centroids[np.abs(points[:, None] - centroids[None, :]).argmin(axis=1)]


def kmeans(values: np.ndarray, clusters: int, rng: np.random.Generator) -> np.ndarray:
    """`values` (int8) replaced by the nearest of at most `clusters` int8 centroids."""
    if len(np.unique(values)) <= clusters:
        return values
    points = values.astype(np.float64)
    centroids = np.clip(np.round(lloyd(points, clusters, rng)), -127, 127)  # symmetric int8 weights
    return nearest(points, centroids).astype(np.int8)


def cluster_float(filter_: np.ndarray, axis: int, scales: np.ndarray, clusters: int, rng: np.random.Generator,
                  keep_zeros: bool = False) -> np.ndarray:
    """The filter dequantized with its scales (one per slice along `axis`, or one), its
    weights (with `keep_zeros`, the nonzero ones) clustered over the whole filter to
    `clusters` float centroids, and requantized with the same scales: the channels share
    one float codebook, as tfmot clustering and the converter leave them."""
    shape = [1] * filter_.ndim
    shape[axis] = -1
    channel_scales = scales.reshape(shape) if scales.size > 1 else scales.reshape(())
    floats = filter_.astype(np.float64) * channel_scales
    chosen = filter_ != 0 if keep_zeros else np.ones(filter_.shape, bool)
    if len(np.unique(floats[chosen])) > clusters:
        floats[chosen] = nearest(floats[chosen], lloyd(floats[chosen], clusters, rng))
    return np.clip(np.round(floats / channel_scales), -127, 127).astype(np.int8)


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


def prune_blocks(filter_: np.ndarray, axis: int, sparsity: float, block: int, block_rows: int) -> np.ndarray:
    """The `sparsity` share of the filter's blocks of `block_rows` rows (output channels,
    `axis` 0: CONV_2D, FULLY_CONNECTED) by `block` consecutive values with the smallest sum
    of magnitudes set to 0, as pruning with a block size leaves a layer; filters that are no
    whole number of blocks (DEPTHWISE_CONV_2D's channels are not rows in flash) are pruned
    value by value."""
    if axis != 0 or filter_[0].size % block or filter_.shape[0] % block_rows:
        return prune(filter_, sparsity)
    rows = filter_.reshape(filter_.shape[0] // block_rows, block_rows, -1, block).copy()
    norms = np.abs(rows.astype(np.int32)).sum(axis=(1, 3))  # [row groups, blocks]
    order = np.argsort(norms.reshape(-1), kind="stable")[:int(round(sparsity * norms.size))]
    groups, blocks = np.unravel_index(order, norms.shape)
    rows[groups, :, blocks, :] = 0
    return rows.reshape(filter_.shape)


@dataclass(frozen=True)
class Variant:
    name: str
    clusters: int = 0  # centroids per channel or tensor (0: not clustered)
    sparsity: float = 0.0  # share of each filter's weights pruned to 0
    per_tensor: bool = False  # int8 clusters over the whole filter
    per_channel: bool = False  # int8 clusters of each output channel, independently
    # (neither: float clusters over the whole filter, requantized per channel)
    block: int = 1  # pruned in blocks of this many consecutive values of a row...
    block_rows: int = 1  # ...and of this many rows

    def transform(self, filter_: np.ndarray, axis: int, scales: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pruned = self.sparsity > 0
        if pruned:
            filter_ = (prune_blocks(filter_, axis, self.sparsity, self.block, self.block_rows) if self.block > 1
                       else prune(filter_, self.sparsity))
        if not self.clusters:
            return filter_
        clusters = self.clusters - 1 if pruned else self.clusters
        if self.per_tensor or self.per_channel:
            return cluster_channels(filter_, axis, clusters, rng, keep_zeros=pruned, per_tensor=self.per_tensor)
        return cluster_float(filter_, axis, scales, clusters, rng, keep_zeros=pruned)


VARIANTS = (
    Variant("original"),
    Variant("16 clusters", clusters=16),
    Variant("16 clusters/channel (independent)", clusters=16, per_channel=True),
    Variant("16 clusters/tensor", clusters=16, per_tensor=True),
    Variant("50% pruned", sparsity=0.5),
    Variant("50% pruned + 16 clusters", clusters=16, sparsity=0.5),
    Variant("50% pruned in 1x4 blocks", sparsity=0.5, block=4),
    Variant("50% in 1x4 blocks + 16 clusters", clusters=16, sparsity=0.5, block=4),
    Variant("50% pruned in 2x4 blocks", sparsity=0.5, block=4, block_rows=2),
    Variant("50% in 2x4 blocks + 16 clusters", clusters=16, sparsity=0.5, block=4, block_rows=2),
)
# The --weights modes each variant is compiled with besides dense.
MODES = {
    "original": ("auto",),
    "16 clusters": ("auto", "lut"),
    "16 clusters/channel (independent)": ("auto", "lut"),
    "16 clusters/tensor": ("auto", "lut"),
    "50% pruned": ("auto", "sparse"),
    "50% pruned + 16 clusters": ("auto", "lut", "sparse-lut"),
    "50% pruned in 1x4 blocks": ("auto", "sparse"),
    "50% in 1x4 blocks + 16 clusters": ("auto", "lut", "sparse-lut"),
    "50% pruned in 2x4 blocks": ("auto", "sparse"),
    "50% in 2x4 blocks + 16 clusters": ("auto", "lut", "sparse-lut"),
}


def conv_filters(model):
    """(tensor, buffer, int8 filter) of every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
    of a model read by flatbuffer_utils, in the order of its operators."""
    subgraph = model.subgraphs[0]
    for op in subgraph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) in (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED):
            tensor = subgraph.tensors[op.inputs[1]]
            buffer = model.buffers[tensor.buffer]
            yield tensor, buffer, np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), np.int8).reshape(
                tensor.shape)


def write_variant(source: Path, variant: Variant, out_path: Path, seed: int = SEED) -> Path:
    """A copy of the model at `source` with every conv-family filter transformed."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    rng = np.random.default_rng(seed)
    for tensor, buffer, filter_ in conv_filters(model):
        axis = int(tensor.quantization.quantizedDimension)
        scales = np.asarray(tensor.quantization.scale, np.float64)
        transformed = variant.transform(filter_, axis, scales, rng)
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
    ops: tuple[str, ...]  # per layer, its op (e.g. CONV_2D)
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
                       bit_exact=result.bit_exact, ops=tuple(layer.op.kind for layer in compiled.layers),
                       encodings=encodings)


SCOPE_LETTERS = {"tensor": "t", "channel": "c", "codebook": "b"}


def encodings_summary(measurement: Measurement) -> str:
    """E.g. 'lut4c x9, dense x4': how many filters took each encoding (tables per tensor t,
    per channel c, from a codebook b)."""
    names = {}
    for encoding in measurement.encodings:
        if encoding is not None:
            key = encoding.kind + (f"{encoding.bits}{SCOPE_LETTERS[encoding.table_scope]}" if encoding.bits else "")
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


def benchmark(models: list[str], variants: list[str]) -> None:
    header = (f"{'model':<22} {'variant':<34} {'weights':<10} {'filter B':>8} {'ratio':>5} {'weights B':>9} "
              f"{'ratio':>5} {'flash B':>8} {'ratio':>5} {'instructions':>12} {'ratio':>5}  {'exact':<5}  "
              "encodings / targets")
    print(header)
    print("-" * len(header))
    for name in models:
        for variant in (v for v in VARIANTS if v.name in variants):
            with tempfile.TemporaryDirectory(prefix="tinygen-weights-") as scratch:
                work = Path(scratch)
                path = write_variant(MODELS_DIR / f"{name}.tflite", variant, work / f"{name}.tflite")
                dense = measure(path, "dense", work / "dense")
                rows = [("dense", dense)] + [(mode, measure(path, mode, work / mode)) for mode in MODES[variant.name]]
            for mode, result in rows:
                print(f"{name:<22} {variant.name:<34} {mode:<10} {result.filter_bytes:>8} "
                      f"{result.filter_bytes / dense.filter_bytes:>5.2f} {result.weights_bytes:>9} "
                      f"{result.weights_bytes / dense.weights_bytes:>5.2f} {result.flash_bytes:>8} "
                      f"{result.flash_bytes / dense.flash_bytes:>5.2f} {result.instructions:>12,} "
                      f"{result.instructions / dense.instructions:>5.2f}  {str(result.bit_exact):<5}  "
                      f"{encodings_summary(result)}  {target_status(variant.name, mode, result, dense)}",
                      flush=True)


# --- fitting the cost model ----------------------------------------------------------

# (variant, --weights mode, the positions of sparse rows: "steps", "bitmap", or "" for the
# smaller, see sparse_positions)
COST_VARIANTS = (
    [(Variant(f"{2 ** bits} clusters", clusters=2 ** bits, per_channel=True), "lut", "") for bits in range(1, 7)]
    # One table per tensor: the paired LUT rows (Encoding.paired).
    + [(Variant(f"{2 ** bits} clusters/tensor", clusters=2 ** bits, per_tensor=True), "lut", "")
       for bits in range(1, 5)]
    + [(Variant(f"{percent}% pruned", sparsity=percent / 100), "sparse", positions)
       for percent in (0, 50, 75, 90) for positions in ("steps", "bitmap")]
    + [(Variant(f"{percent}% pruned + 16 clusters", clusters=16, sparsity=percent / 100, per_channel=True),
        "sparse-lut", positions)
       for percent in (50, 75, 90) for positions in ("steps", "bitmap")]
    + [(Variant("original"), "dense", "")]
)


@contextmanager
def sparse_positions(positions: str):
    """Within it, the encoder considers sparse rows with `positions` only ("": both), so
    that a forced sparse mode runs that variant wherever it can hold the filter."""
    from tinygen import weights

    every = weights.candidates
    if positions:
        weights.candidates = lambda *args, **kwargs: [e for e in every(*args, **kwargs)
                                                      if e.positions in ("", positions)]
    try:
        yield
    finally:
        weights.candidates = every


def measure_costs() -> None:
    """Fit per_row and per_entry of each encoding on the anomaly-detection model's layers."""
    fits: dict[tuple[str, int], list[tuple[int, int, int, int]]] = {}
    for variant, mode, positions in COST_VARIANTS:
        with tempfile.TemporaryDirectory(prefix="tinygen-costs-") as scratch, sparse_positions(positions):
            work = Path(scratch)
            path = write_variant(MODELS_DIR / "ad01_int8.tflite", variant, work / "ad01.tflite")
            result = measure(path, mode, work / "run", profile=True, count=1)
        for encoding, instructions in zip(result.encodings, result.per_layer):
            if encoding is not None:
                # The row loops only: the work before them (a paired kernel's) is modelled apart.
                fits.setdefault(encoding.cost_key, []).append(
                    (encoding.rows, encoding.entries, encoding.dense_bytes, instructions - encoding.setup_instructions))
        print(f"measured {variant.name} --weights {mode} {positions}: {result.instructions:,} instructions, "
              f"bit-exact {result.bit_exact}", flush=True)
    print("\nROW_COSTS fitted (instructions = per_row * rows + per_entry * entries [+ per_value * values for "
          "bitmap rows, whose words are walked]):")
    for (kind, bits), samples in sorted(fits.items()):
        bitmap = kind.endswith("+bitmap")
        columns = [[rows, entries] + ([values] if bitmap else []) for rows, entries, values, _ in samples]
        fitted, *_ = np.linalg.lstsq(np.array(columns, dtype=np.float64),
                                     np.array([s[-1] for s in samples], dtype=np.float64), rcond=None)
        per_value = f", per_value={fitted[2]:.2f}" if bitmap else ""
        print(f"    ({kind!r}, {bits}): RowCost(per_row={fitted[0]:.1f}, per_entry={fitted[1]:.2f}{per_value}),"
              f"  # {len(samples)} layers")


# As COST_VARIANTS.
DECODE_VARIANTS = (
    [(Variant(f"{2 ** bits} clusters/tensor", clusters=2 ** bits, per_tensor=True), "lut", "") for bits in range(1, 7)]
    + [(Variant(f"{percent}% pruned", sparsity=percent / 100), "sparse", positions)
       for percent in (50, 75) for positions in ("steps", "bitmap")]
    + [(Variant(f"{percent}% pruned + {2 ** bits} clusters", clusters=2 ** bits, sparsity=percent / 100), "sparse-lut",
        positions) for percent in (50, 75) for bits in (2, 4, 6) for positions in ("steps", "bitmap")]
)


def decode_samples(variant: Variant, mode: str, work: Path) -> list[tuple[Encoding, int]]:
    """Each CONV_2D layer of the keyword-spotting model as `variant`, with the instructions
    its decoding costs: the `mode` run's count minus the dense run's."""
    path = write_variant(MODELS_DIR / "kws_ref_model.tflite", variant, work / "kws.tflite")
    dense = measure(path, "dense", work / "dense", profile=True, count=1)
    result = measure(path, mode, work / mode, profile=True, count=1)
    print(f"measured {variant.name} --weights {mode}: {result.instructions:,} instructions "
          f"({dense.instructions:,} dense), bit-exact {result.bit_exact}", flush=True)
    return [(encoding, compressed - plain) for op, encoding, compressed, plain
            in zip(result.ops, result.encodings, result.per_layer, dense.per_layer)
            if op == "CONV_2D" and encoding.kind != "dense"]


def measure_decode_costs() -> None:
    """Fit DECODE_COSTS of each encoding on the keyword-spotting model's CONV_2D layers."""
    fits: dict[tuple[str, int], list[tuple[Encoding, int]]] = {}
    for variant, mode, positions in DECODE_VARIANTS:
        with tempfile.TemporaryDirectory(prefix="tinygen-costs-") as scratch, sparse_positions(positions):
            for encoding, instructions in decode_samples(variant, mode, Path(scratch)):
                fits.setdefault(encoding.cost_key, []).append((encoding, instructions))
    print("\nDECODE_COSTS fitted (instructions = per_row * rows + per_entry * entries [+ per_value * values]):")
    for (kind, bits), samples in sorted(fits.items()):
        sparse = kind != "lut"
        columns = [[e.rows, e.entries] + ([e.dense_bytes] if sparse else []) for e, _ in samples]
        fitted, *_ = np.linalg.lstsq(np.array(columns, dtype=np.float64),
                                     np.array([i for _, i in samples], dtype=np.float64), rcond=None)
        per_value = f", per_value={fitted[2]:.2f}" if sparse else ""
        print(f"    ({kind!r}, {bits}): RowCost(per_row={fitted[0]:.1f}, per_entry={fitted[1]:.2f}{per_value}),"
              f"  # {len(samples)} layers")


# --- the entropy bound ---------------------------------------------------------------


def entropy_bits(values: np.ndarray) -> float:
    """The empirical Shannon entropy of `values` (bits per value) times their count."""
    _, counts = np.unique(values, return_counts=True)
    return float(-(counts * np.log2(counts / values.size)).sum())


@dataclass(frozen=True)
class EntropyBound:
    dense_bytes: int  # the conv-family filters as int8
    row_bytes: float  # their entropy, each row (output channel) coded with its own distribution
    tensor_bytes: float  # the same, each filter coded with one distribution
    encoded_bytes: int  # the fewest bytes of any tinygen.weights encoding (or dense), filter by filter


def entropy_bound(model: Path) -> EntropyBound:
    """What a lossless code of independent values could reach on the model's filters (the
    tables of values not counted), next to what tinygen's encodings store."""
    from tensorflow.lite.tools import flatbuffer_utils

    from tinygen.weights import candidates, dense

    dense_bytes, row_bits, tensor_bits, encoded = 0, 0.0, 0.0, 0
    for tensor, _, filter_ in conv_filters(flatbuffer_utils.read_model(str(model))):
        axis = int(tensor.quantization.quantizedDimension)
        rows = np.moveaxis(filter_, axis, 0).reshape(filter_.shape[axis], -1)
        dense_bytes += filter_.size
        row_bits += sum(entropy_bits(row) for row in rows)
        tensor_bits += entropy_bits(filter_)
        encoded += min(e.nbytes for e in [dense(rows)] + candidates(rows))
    return EntropyBound(dense_bytes, row_bits / 8, tensor_bits / 8, encoded)


def entropy_table(models: list[str], variants: list[str]) -> None:
    """Per model and variant, the filters' entropy (per row and per tensor) and the smallest
    encoding, each as a ratio to the dense bytes."""
    header = (f"{'model':<22} {'variant':<36} {'dense B':>8} {'H rows':>6} {'H tensor':>8} {'encoded':>7}  "
              "target")
    print(header)
    print("-" * len(header))
    for name in models:
        for variant in (v for v in VARIANTS if v.name in variants):
            with tempfile.TemporaryDirectory(prefix="tinygen-entropy-") as scratch:
                path = write_variant(MODELS_DIR / f"{name}.tflite", variant, Path(scratch) / f"{name}.tflite")
                bound = entropy_bound(path)
            print(f"{name:<22} {variant.name:<36} {bound.dense_bytes:>8} {bound.row_bytes / bound.dense_bytes:>6.3f} "
                  f"{bound.tensor_bytes / bound.dense_bytes:>8.3f} {bound.encoded_bytes / bound.dense_bytes:>7.3f}  "
                  f"{TARGETS.get(variant.name, '')}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--variants", nargs="+", default=[v.name for v in VARIANTS],
                        choices=[v.name for v in VARIANTS], metavar="VARIANT",
                        help="the variants to measure (quoted names, e.g. '16 clusters'; default: all)")
    parser.add_argument("--measure-costs", action="store_true", help="fit tinygen.weights.ROW_COSTS instead")
    parser.add_argument("--entropy", action="store_true",
                        help="print the filters' entropy bound and smallest encoding instead (no QEMU)")
    args = parser.parse_args(argv)
    if args.entropy:
        entropy_table(args.models, args.variants)
    elif args.measure_costs:
        measure_costs()
        measure_decode_costs()
    else:
        benchmark(args.models, args.variants)
    return 0


if __name__ == "__main__":
    sys.exit(main())
