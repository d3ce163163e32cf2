"""Arena bytes per MLPerf Tiny model: TensorFlow Lite Micro's, the whole-tensor lower
bound, tinygen's plan, their ratios, and how long planning takes.

    .venv/bin/python benchmarks/arena.py [--shared ../shared]

TFLite Micro's figures come from ../shared/baselines/tflm_cmsis_nn_mlperf_tiny.json
(arena_used_bytes on a Cortex-M4 with CMSIS-NN). The lower bound is the least arena any
plan of whole, disjoint tensors needs for the order tinygen runs the layers in (the
busiest step's live bytes). Planning time is that of tinygen.compiler.plan (buffers,
op order, placement, self-check), also on a synthetic 100-layer branched model.
Targets (issue 6): arena <= 0.5x TFLM on KWS, VWW and AD, <= 0.65x on ResNet-8, geometric
mean <= 0.5x, planning < 2 s for a 100-op model.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from tinygen.compiler import load_graph, lower, plan
from tinygen.ir import Graph, Op, Quantization, Tensor, validate

REPO = Path(__file__).resolve().parents[1]
MODELS = {"kws_ref_model": 0.5, "vww_96_int8": 0.5, "pretrainedResnet_quant": 0.65, "ad01_int8": 0.5}
GEOMEAN_TARGET = 0.5
PLANNING_TARGET_S = 2.0
PADDING_SAME = 0


def timed_plan(graph: Graph):
    """(plan, seconds spent planning) of a graph."""
    layers, aliases = lower(graph, "tinygen")
    started = time.perf_counter()
    _, memory_plan = plan(graph, layers, aliases)
    return memory_plan, time.perf_counter() - started


def synthetic_graph(blocks: int = 25, size: int = 16, channels: int = 16, seed: int = 0) -> Graph:
    """A stem convolution and `blocks` residual blocks of two branches (a 3x3 depthwise
    then a 1x1 convolution; a 1x1 convolution) joined by an ADD: 4 * blocks ops, int8
    with per-channel weights, seeded."""
    rng = np.random.default_rng(seed)
    tensors: list[Tensor] = []
    ops: list[Op] = []

    def tensor(shape, dtype="int8", data=None, scales=(0.05,), axis=0) -> int:
        zero_points = (0,) * len(scales) if data is not None else (int(rng.integers(-10, 10)),) * len(scales)
        tensors.append(Tensor(len(tensors), f"t{len(tensors)}", tuple(shape), dtype,
                              Quantization(tuple(scales), zero_points, axis), data))
        return len(tensors) - 1

    def conv(kind: str, source: int, taps: int) -> int:
        shape = (1, taps, taps, channels) if kind == "DEPTHWISE_CONV_2D" else (channels, taps, taps, channels)
        axis = 3 if kind == "DEPTHWISE_CONV_2D" else 0
        weights = tensor(shape, data=rng.integers(-127, 128, size=shape, dtype=np.int8),
                         scales=tuple(rng.uniform(0.001, 0.01, channels)), axis=axis)
        bias = tensor((channels,), "int32", rng.integers(-500, 500, size=channels, dtype=np.int32),
                      scales=(1e-4,) * channels)
        output = tensor((1, size, size, channels))
        options = {"padding": PADDING_SAME, "stride_h": 1, "stride_w": 1, "dilation_h_factor": 1,
                   "dilation_w_factor": 1, "fused_activation_function": 1, "depth_multiplier": 1}
        ops.append(Op(len(ops), kind, (source, weights, bias), (output,), options))
        return output

    def add(a: int, b: int) -> int:
        output = tensor((1, size, size, channels), scales=(0.1,))
        ops.append(Op(len(ops), "ADD", (a, b), (output,), {"fused_activation_function": 0}))
        return output

    graph_input = tensor((1, size, size, channels))
    x = conv("CONV_2D", graph_input, 3)
    for _ in range(blocks):
        x = add(conv("CONV_2D", conv("DEPTHWISE_CONV_2D", x, 3), 1), conv("CONV_2D", x, 1))
    graph = Graph("synthetic", tensors, ops, inputs=(graph_input,), outputs=(x,))
    validate(graph)
    return graph


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="the folder holding models/mlperf_tiny/ and baselines/")
    args = parser.parse_args()
    baselines = json.loads((args.shared / "baselines" / "tflm_cmsis_nn_mlperf_tiny.json").read_text())["cortex-m4"]

    header = (f"{'model':<24}{'TFLM':>9}{'bound':>9}{'tinygen':>9}{'tg/TFLM':>9}{'tg/bound':>10}"
              f"{'bound/TFLM':>12}{'target':>8}{'plan ms':>9}  strategy")
    print(header)
    print("-" * len(header))
    ratios, missed = [], []
    for name, target in MODELS.items():
        memory_plan, seconds = timed_plan(load_graph(args.shared / "models" / "mlperf_tiny" / f"{name}.tflite"))
        tflm = baselines[name]["arena_bytes"]
        ratio = memory_plan.arena_bytes / tflm
        ratios.append(ratio)
        if ratio > target:
            missed.append(name)
        print(f"{name:<24}{tflm:>9}{memory_plan.lower_bound_bytes:>9}{memory_plan.arena_bytes:>9}{ratio:>9.3f}"
              f"{memory_plan.arena_bytes / memory_plan.lower_bound_bytes:>10.3f}"
              f"{memory_plan.lower_bound_bytes / tflm:>12.3f}{'<=' + str(target):>8}{seconds * 1000:>9.0f}"
              f"  {memory_plan.strategy}")
    geomean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    if geomean > GEOMEAN_TARGET:
        missed.append("geometric mean")
    print(f"{'geometric mean':<24}{'':>27}{geomean:>9.3f}{'':>22}{'<=' + str(GEOMEAN_TARGET):>8}")

    graph = synthetic_graph()
    memory_plan, seconds = timed_plan(graph)
    if seconds > PLANNING_TARGET_S:
        missed.append("planning time")
    print(f"\nsynthetic branched model, {len(graph.ops)} ops: planned in {seconds:.2f} s (target < "
          f"{PLANNING_TARGET_S:.0f} s); arena {memory_plan.arena_bytes} B, whole-tensor bound "
          f"{memory_plan.lower_bound_bytes} B, {memory_plan.strategy}")
    print("all targets met" if not missed else f"targets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
