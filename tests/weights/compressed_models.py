"""Models whose weights are clustered and pruned by construction, for the weight-encoding tests.

A `Pattern` says how every conv-family filter of a model looks after full-int8 conversion: at
most 2^bits distinct int8 values per output channel or per tensor (zero counted when there
are zeros), a share of zeros, and optionally every other output channel entirely zero.
`pattern_model` sets such float weights with numpy (seeded) in a small Keras network and
converts it with tests/modelgen.py. Per-tensor patterns put the same largest magnitude in
every channel, so that the per-channel scales of the converter come out equal and the int8
values of all channels come from one set. Per-channel patterns draw each channel's centroids
independently, except `shared_codebook` ones, which draw every channel's from one float set
(as clustering per tensor in float does) with a different largest magnitude per channel, so
that the converter's per-channel scales differ and so do the int8 values of the channels.
The `pattern_path` fixture (imported by the test
modules) converts each model once per session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from modelgen import convert_int8, keras

from tinygen.firmware import build_firmware
from tinygen.qemu import QemuRunner
from tinygen.verify import check, samples_for

M4_BOARD = "nucleo-l4r5zi"  # Cortex-M4 in QEMU (mps2-an386): the DSP extension, SMLAD

# Candidate centroids: far enough apart (1/16) that no two share an int8 value.
_GRID = np.array([v for v in np.linspace(-1.0, 1.0, 33) if v != 0.0])


@dataclass(frozen=True)
class Pattern:
    bits: int  # at most 2**bits distinct int8 values per table
    per_channel: bool  # one table per output channel (else one per tensor)
    sparsity: float = 0.0  # share of zeros in each channel that is not all zero
    zero_rows: bool = False  # every other output channel entirely zero
    shared_codebook: bool = False  # per channel: every channel's centroids from one float set
    block: int = 1  # zeros come in blocks of this many consecutive values of a row
    paired_blocks: bool = False  # channels 2c and 2c + 1 have their zero blocks in the same places

    @property
    def id(self) -> str:
        scope = ("codebook" if self.shared_codebook else "channel") if self.per_channel else "tensor"
        zeros = "-zero-rows" if self.zero_rows else ""
        blocks = (f"-{'2x' if self.paired_blocks else ''}blocks{self.block}") if self.block > 1 else ""
        return f"{self.bits}bit-{scope}-{round(self.sparsity * 100)}pct{zeros}{blocks}"

    @property
    def has_zeros(self) -> bool:
        return self.sparsity > 0 or self.zero_rows

    @property
    def nonzero_values(self) -> int:
        """Distinct nonzero values per table: zero takes one of the 2^bits when present."""
        return 2 ** self.bits - (1 if self.has_zeros else 0)


def _centroids(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` distinct nonzero values, the largest magnitude 1."""
    chosen = rng.choice(_GRID, size=count, replace=False)
    return chosen / np.abs(chosen).max()


def _channel_centroids(shared: np.ndarray, pattern: Pattern, rng: np.random.Generator) -> np.ndarray:
    """One channel's centroids: its own, or with `shared_codebook` the shared ones up to a
    largest magnitude drawn from the 4 largest, so that channels differ in scale."""
    if not pattern.shared_codebook:
        return _centroids(pattern.nonzero_values, rng)
    magnitudes = np.sort(np.abs(shared))[::-1]
    return shared[np.abs(shared) <= rng.choice(magnitudes[:4])]


def clustered_matrix(elements: int, channels: int, pattern: Pattern, rng: np.random.Generator) -> np.ndarray:
    """Float weights [elements, channels] (column c: output channel c) following `pattern`."""
    shared = _centroids(pattern.nonzero_values, rng)
    matrix = np.zeros((elements, channels), dtype=np.float32)
    first_of_pair = None  # (largest, zeros) of the pair's first channel, with paired_blocks
    for channel in range(channels):
        if pattern.zero_rows and channel % 2 == 0:
            continue
        centroids = shared if not pattern.per_channel else _channel_centroids(shared, pattern, rng)
        column = rng.choice(centroids, size=elements)
        column[:min(elements, len(centroids))] = rng.permutation(centroids)[:elements]  # every value, if room
        if pattern.paired_blocks and channel % 2 == 1 and first_of_pair is not None:
            largest, zeros = first_of_pair
        else:
            largest = int(rng.integers(elements))
            zeros = _zero_positions(elements, largest, pattern, rng)
        first_of_pair = (largest, zeros) if channel % 2 == 0 else None
        column[largest] = centroids[np.abs(centroids).argmax()]  # the same scale in every channel
        column[zeros] = 0.0
        matrix[:, channel] = column
    return matrix


def _zero_positions(elements: int, largest: int, pattern: Pattern, rng: np.random.Generator) -> np.ndarray:
    """Where a column's zeros go: the pattern's share of its elements (or of its whole blocks
    of `pattern.block`), never at `largest`."""
    if pattern.block == 1:
        others = np.delete(np.arange(elements), largest)
        return rng.choice(others, size=int(round(pattern.sparsity * elements)), replace=False)
    blocks = np.arange(elements // pattern.block)
    blocks = blocks[blocks != largest // pattern.block]
    chosen = rng.choice(blocks, size=min(len(blocks), int(round(pattern.sparsity * (elements // pattern.block)))),
                        replace=False)
    return (chosen[:, None] * pattern.block + np.arange(pattern.block)).reshape(-1)


def set_pattern(layer, pattern: Pattern, rng: np.random.Generator) -> None:
    """Give a Conv2D, DepthwiseConv2D or Dense the pattern's kernel and a seeded bias. Each
    kernel is viewed as [taps, output channels] in the order TFLite numbers the channels."""
    kernel, *bias = layer.get_weights()
    channels = kernel.shape[-1] * (kernel.shape[-2] if isinstance(layer, keras().layers.DepthwiseConv2D) else 1)
    matrix = clustered_matrix(kernel.size // channels, channels, pattern, rng)
    layer.set_weights([matrix.reshape(kernel.shape)] + [rng.normal(0.0, 0.5, b.shape).astype(np.float32)
                                                        for b in bias])


def pattern_model(pattern: Pattern, path: Path, seed: int) -> Path:
    """CONV_2D 3x3 (ReLU) -> DEPTHWISE_CONV_2D 3x3, depth multiplier 2 -> CONV_2D 1x1 ->
    FULLY_CONNECTED on 384 values, every filter following `pattern`. Per-tensor patterns
    also quantize the FULLY_CONNECTED filter per tensor."""
    k = keras()
    k.utils.set_random_seed(seed)
    x = k.Input(shape=(8, 8, 3), batch_size=1)
    layers = [k.layers.Conv2D(8, 3, padding="same", activation="relu"),
              k.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
              k.layers.Conv2D(6, 1)]
    y = x
    for layer in layers:
        y = layer(y)
    dense = k.layers.Dense(10)
    model = k.Model(x, dense(k.layers.Flatten()(y)))
    rng = np.random.default_rng(seed)
    for layer in layers + [dense]:
        set_pattern(layer, pattern, rng)
    return convert_int8(model, path, seed=seed, per_tensor_dense=not pattern.per_channel)


def long_gap_model(path: Path, seed: int) -> Path:
    """FULLY_CONNECTED of 4 outputs on 600 inputs whose rows hold a few nonzero values more
    than 255 columns apart (and one row of zeros): sparse rows need bridging entries."""
    k = keras()
    k.utils.set_random_seed(seed)
    x = k.Input(shape=(600,), batch_size=1)
    dense = k.layers.Dense(4)
    model = k.Model(x, dense(x))
    kernel = np.zeros((600, 4), dtype=np.float32)
    kernel[[0, 599], 0] = [0.5, -1.0]
    kernel[[300, 556], 1] = [1.0, 0.25]
    kernel[599, 3] = 1.0
    rng = np.random.default_rng(seed)
    dense.set_weights([kernel, rng.normal(0.0, 0.5, 4).astype(np.float32)])
    return convert_int8(model, path, seed=seed)


def run_in_qemu(compiled, work: Path, seed: int, board: str = M4_BOARD, profile: bool = False) -> list[int]:
    """Build the compiled model for `board`, run it in QEMU on 3 seeded inputs and assert that
    every output byte equals TFLM's. Returns, with `profile`, each layer's most instructions
    over the runs (else nothing)."""
    runner = QemuRunner(build_firmware(compiled, board, work / "firmware", profile=profile),
                        count_instructions=profile)
    result = check(compiled, runner, samples_for(compiled.graph, 3, seed, None), target=board)
    assert result.bit_exact, f"{work.name}: {result.first_mismatch}"
    return [max(counts) for counts in zip(*runner.last_run.instructions.per_layer)] if profile else []


@pytest.fixture(scope="session")
def pattern_path(tmp_path_factory):
    """pattern_path(pattern, seed): the .tflite of `pattern_model`, converted once."""
    cache = {}

    def get(pattern: Pattern, seed: int) -> Path:
        if (pattern, seed) not in cache:
            cache[pattern, seed] = pattern_model(pattern, tmp_path_factory.mktemp(pattern.id) / "model.tflite", seed)
        return cache[pattern, seed]

    return get
