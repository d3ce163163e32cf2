"""Benchmark: the MLPerf Tiny models on emulated Cortex-M4, M7 and M55 boards, next to
TensorFlow Lite Micro + CMSIS-NN (../shared/baselines/).

For each model and board it builds the firmware, runs one seeded input in QEMU with the
instruction-counting plugin (exact, repeatable counts), checks the outputs against the
TFLite Micro reference, and prints instructions per inference, arena, flash and RAM with
the ratio to the baseline where one exists (M4 and M7). A benchmark, not a test: run it
by hand after changing kernels, the planner or code generation.

    .venv/bin/python benchmarks/mlperf_boards.py [--boards nucleo-l4r5zi ...] [--models kws_ref_model ...]
        [--kernels cmsis-nn]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tinygen.boards import load_board  # noqa: E402
from tinygen.qemu import verify_in_qemu  # noqa: E402

SHARED = REPO.parent / "shared"
MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]
BOARDS = ["nucleo-l4r5zi", "nucleo-f746zg", "corstone-300"]  # Cortex-M4F, M7, M55
FIELDS = [("instructions_per_inference", "instructions"), ("arena_bytes", "arena"), ("flash_bytes", "flash")]


def ratio(value: int, baseline: int | None) -> str:
    return f"{value / baseline:.2f}x" if baseline else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", nargs="+", default=BOARDS)
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--kernels", choices=("tinygen", "cmsis-nn"), default="tinygen",
                        help="kernel backend (cmsis-nn needs CMSIS_NN_PATH set to a CMSIS-NN checkout)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    baselines = json.loads((SHARED / "baselines" / "tflm_cmsis_nn_mlperf_tiny.json").read_text())

    rows = []
    for board_name in args.boards:
        board = load_board(board_name)
        core_baselines = baselines.get(board.core, {})
        for model in args.models:
            print(f"running {model} on {board_name}...", file=sys.stderr, flush=True)
            report = verify_in_qemu(SHARED / "models" / "mlperf_tiny" / f"{model}.tflite", board_name, count=1,
                                    backend=args.kernels)
            measured = report.to_json()
            baseline = core_baselines.get(model, {})
            rows.append({"board": board_name, "core": board.core, "model": model,
                         "bit_exact": measured["bit_exact"], "ram_bytes": measured["ram_bytes"],
                         **{key: measured[key] for key, _ in FIELDS},
                         **{f"tflm_{key}": baseline.get(key) for key, _ in FIELDS}})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'board':<15} {'model':<23} {'exact':<5}"
    for _, label in FIELDS:
        header += f" {label + ' tinygen':>20} {'TFLM':>12} {'ratio':>6}"
    header += f" {'RAM tinygen':>12}"
    print(header)
    for row in rows:
        line = f"{row['board']:<15} {row['model']:<23} {str(row['bit_exact']):<5}"
        for key, _ in FIELDS:
            baseline = row[f"tflm_{key}"]
            line += f" {row[key]:>20,} {baseline if baseline is not None else '-':>12} {ratio(row[key], baseline):>6}"
        line += f" {row['ram_bytes']:>12,}"
        print(line)
    print("TFLM = TensorFlow Lite Micro + CMSIS-NN (../shared/baselines); its arena includes the input and output "
          "tensors and runtime bookkeeping; tinygen's inputs and outputs live in the caller's buffers.")
    return 0 if all(row["bit_exact"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
