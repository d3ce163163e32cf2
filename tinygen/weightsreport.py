"""The weights in flash, per weight tensor: its encoding and its bytes as int8 and as stored.

`tinygen compile --report` prints `weights_table`; `tinygen plan --json` carries
`weights_json` as its "weights" entry. The byte counts are the encodings' own
(tinygen/weights.py), which are the sizes of the filter arrays the library puts in flash;
biases, multipliers and shifts are not part of them (`weights_bytes` of a compiled model
counts every constant).
"""

from __future__ import annotations

from .compiler import PlannedModel
from .ops.registry import CMSIS_NN


def weights_json(planned: PlannedModel) -> list[dict]:
    """Per conv-family filter, in the order the layers run: its step and op, the tensor's
    name and shape, the encoding (kind, index bits and table scope for LUTs: tensor, channel
    or codebook; positions for sparse rows: steps or bitmap; a description and the reason it
    was chosen), its bytes as int8 and as
    stored, and the kernels that read it (CMSIS-NN or tinygen)."""
    entries = []
    for step, layer in enumerate(planned.layers):
        encoding = layer.filter_encoding
        if encoding is None:
            continue
        tensor = planned.graph.tensors[layer.op.inputs[1]]
        entries.append({
            "step": step,
            "op": layer.op.kind,
            "tensor": tensor.name,
            "shape": list(tensor.shape),
            "encoding": encoding.kind,
            "bits": encoding.bits,
            "tables": encoding.table_scope or None,
            "positions": encoding.positions or None,
            "description": encoding.describe(),
            "dense_bytes": encoding.dense_bytes,
            "bytes": encoding.nbytes,
            "kernels": CMSIS_NN if CMSIS_NN in layer.kernels else "tinygen",
            "reason": encoding.reason,
        })
    return entries


def weights_table(planned: PlannedModel) -> str:
    """A line of totals, then one line per filter with its bytes and encoding."""
    entries = weights_json(planned)
    dense = sum(entry["dense_bytes"] for entry in entries)
    stored = sum(entry["bytes"] for entry in entries)
    lines = [f"weights: {len(entries)} filters, {dense} bytes as int8, {stored} bytes as stored "
             f"({stored / dense if dense else 1.0:.2f}x)"]
    rows = [("step", "int8 B", "stored B", "ratio", "kernels", "filter: encoding (reason)")]
    for entry in entries:
        rows.append((str(entry["step"]), str(entry["dense_bytes"]), str(entry["bytes"]),
                     f"{entry['bytes'] / entry['dense_bytes']:.2f}", entry["kernels"],
                     f"{entry['op']} '{_short(entry['tensor'])}' {'x'.join(map(str, entry['shape']))}: "
                     f"{entry['description']} ({entry['reason']})"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines.extend("  " + "  ".join(cell.rjust(width) for cell, width in zip(row, widths)) + "  " + row[-1]
                 for row in rows)
    return "\n".join(lines)


def _short(name: str, width: int = 40) -> str:
    """Fused TFLite tensor names run to hundreds of characters: keep their start."""
    return name if len(name) <= width else name[: width - 3] + "..."
