"""The optimization report: what each step cost (accuracy) and saved (parameters, zeros,
distinct values, bytes), as a table for people and JSON for tools.

Weight statistics are over the kernels (Conv2D, DepthwiseConv2D, Dense / FULLY_CONNECTED
filters), the tensors that pruning and clustering act on. "int8 weight bytes" is what
the kernels (1 byte a value) and biases (int32) take once quantized; "flash" is what
tinygen's generated weights file takes, measured by compiling the final .tflite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

INT8_BYTES, BIAS_BYTES = 1, 4


@dataclass(frozen=True)
class TensorStats:
    """One kernel: its size, how many values are exactly zero, how many distinct values
    it holds, and the most distinct values any one output channel holds."""

    name: str
    shape: tuple[int, ...]
    elements: int
    zeros: int
    distinct: int
    max_distinct_per_channel: int


def tensor_stats(name: str, values: np.ndarray, channel_axis: int) -> TensorStats:
    channels = np.moveaxis(values, channel_axis, 0).reshape(values.shape[channel_axis], -1)
    per_channel = max(len(np.unique(channel)) for channel in channels)
    return TensorStats(name=name, shape=tuple(int(d) for d in values.shape), elements=int(values.size),
                       zeros=int(np.count_nonzero(values == 0)), distinct=int(len(np.unique(values))),
                       max_distinct_per_channel=int(per_channel))


@dataclass(frozen=True)
class StepReport:
    """The model after one step, measured on the held-out data.

    `metric` is accuracy or mean squared error (None without labels); `flash_bytes` is
    known for the final .tflite only; `skipped` lists the layers the step left alone;
    `notes` anything else a user should know about the step."""

    step: str
    metric_name: str | None
    metric: float | None
    params: int
    int8_weight_bytes: int
    kernels: tuple[TensorStats, ...]
    flash_bytes: int | None = None
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def sparsity(self) -> float:
        total = sum(t.elements for t in self.kernels)
        return sum(t.zeros for t in self.kernels) / total if total else 0.0

    @property
    def max_distinct(self) -> int:
        return max((t.distinct for t in self.kernels), default=0)

    @property
    def max_distinct_per_channel(self) -> int:
        return max((t.max_distinct_per_channel for t in self.kernels), default=0)

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(sparsity=self.sparsity, max_distinct=self.max_distinct,
                    max_distinct_per_channel=self.max_distinct_per_channel)
        return data


def int8_weight_bytes(kernel_elements: int, bias_elements: int) -> int:
    return kernel_elements * INT8_BYTES + bias_elements * BIAS_BYTES


def _metric_cell(report: StepReport) -> str:
    if report.metric is None:
        return "-"
    return f"{report.metric:.4f}" if report.metric_name == "accuracy" else f"{report.metric:.4g}"


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as text lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [row[0].ljust(widths[0]) + "  " + "  ".join(cell.rjust(w) for cell, w in zip(row[1:], widths[1:]))
            for row in rows]


def format_table(reports: list[StepReport]) -> str:
    """The steps as an aligned table, then the layers each step skipped."""
    metric_name = next((r.metric_name for r in reports if r.metric_name), "accuracy")
    header = ("step", metric_name, "params", "sparsity", "distinct/tensor", "distinct/channel",
              "int8 weights B", "flash B")
    rows = [header] + [(r.step, _metric_cell(r), f"{r.params:,}", f"{r.sparsity:.1%}", str(r.max_distinct),
                        str(r.max_distinct_per_channel), f"{r.int8_weight_bytes:,}",
                        "-" if r.flash_bytes is None else f"{r.flash_bytes:,}") for r in reports]
    lines = aligned(rows)
    for report in reports:
        lines.extend(f"{report.step}: skipped {item}" for item in report.skipped)
        lines.extend(f"{report.step}: {note}" for note in report.notes)
    lines.append("distinct = most distinct values in one kernel / one output channel; int8 weights B = every "
                 "value stored; flash B = tinygen's weights with --weights auto (clustered values as table "
                 "indices, zeros not stored)")
    return "\n".join(lines)


def format_kernels(report: StepReport) -> str:
    """One line per kernel of a step: shape, sparsity and distinct values."""
    rows = [("kernel", "shape", "sparsity", "distinct", "distinct/channel")]
    rows += [(k.name, "x".join(map(str, k.shape)), f"{k.zeros / k.elements:.1%}", str(k.distinct),
              str(k.max_distinct_per_channel)) for k in report.kernels]
    return "\n".join([f"{report.step} kernels:"] + ["  " + line for line in aligned(rows)])
