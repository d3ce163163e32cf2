"""The memory plan in human and machine form: `tinygen plan` (a table and a text
timeline), `--json`, and `--plot FILE` (matplotlib, imported only when asked)."""

from __future__ import annotations

from pathlib import Path

from .compiler import PlannedModel
from .errors import TinygenError

TIMELINE_MARKS = {"tensor": "#", "scratch": "s"}


def plan_json(compiled: PlannedModel) -> dict:
    """arena_bytes, lower_bound_bytes, and per arena buffer its offset, size, first and
    last step (positions in the order the layers run); the overlaps the plan uses."""
    plan, graph = compiled.plan, compiled.graph
    buffers = []
    for buffer, offset in zip(plan.buffers, plan.offsets):
        buffers.append({
            "name": buffer.name,
            "kind": "tensor" if buffer.tensors else "scratch",
            "tensors": [graph.tensors[i].name for i in buffer.tensors],
            "offset": offset,
            "size": buffer.size,
            "first_step": buffer.first_step,
            "last_step": buffer.last_step,
        })
    overlaps = [{"step": p.step, "input": plan.buffers[p.source].name, "output": plan.buffers[p.target].name,
                 "shift": plan.offsets[p.target] - plan.offsets[p.source], "max_shift": p.max_shift}
                for p in plan.permits
                if _overlap(plan.offsets[p.source], plan.buffers[p.source].size,
                            plan.offsets[p.target], plan.buffers[p.target].size)]
    io = [{"name": graph.tensors[i].name, "place": storage.place, "index": storage.offset,
           "size": graph.tensors[i].nbytes}
          for i, storage in sorted(plan.storage.items(), key=lambda item: (item[1].place, item[1].offset))
          if storage.place != "arena"]
    return {"model": compiled.source.name, "arena_bytes": plan.arena_bytes,
            "lower_bound_bytes": plan.lower_bound_bytes, "strategy": plan.strategy,
            "layers": len(compiled.layers), "order": [layer.op.index for layer in compiled.layers],
            "buffers": sorted(buffers, key=lambda b: (b["offset"], b["first_step"])), "overlaps": overlaps, "io": io}


def _overlap(start_a: int, size_a: int, start_b: int, size_b: int) -> bool:
    return start_a < start_b + size_b and start_b < start_a + size_a


def _short(name: str, width: int = 60) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    """Right-aligned columns but the last, which is left as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]


def high_water(data: dict) -> list[int]:
    """Per step, the highest arena byte in use (the arena is the largest of these)."""
    steps = [0] * data["layers"]
    for buffer in data["buffers"]:
        for step in range(buffer["first_step"], buffer["last_step"] + 1):
            steps[step] = max(steps[step], buffer["offset"] + buffer["size"])
    return steps


def timeline(data: dict) -> list[str]:
    """One line per buffer (by offset): a bar over the steps it is live."""
    rows = [("offset", "size", "".join(str(step % 10) for step in range(data["layers"])))]
    for buffer in data["buffers"]:
        bar = "".join(TIMELINE_MARKS[buffer["kind"]] if buffer["first_step"] <= step <= buffer["last_step"] else "."
                      for step in range(data["layers"]))
        rows.append((str(buffer["offset"]), str(buffer["size"]), bar))
    return _columns(rows)


def plan_table(compiled: PlannedModel) -> str:
    data = plan_json(compiled)
    ratio = data["arena_bytes"] / data["lower_bound_bytes"] if data["lower_bound_bytes"] else 1.0
    lines = [f"{compiled.source.name}: arena {data['arena_bytes']} bytes, whole-tensor lower bound "
             f"{data['lower_bound_bytes']} bytes ({ratio:.2f}x), {data['layers']} layers, "
             f"placed by {data['strategy']}"]
    rows = [("offset", "size", "live", "buffer")]
    for buffer in data["buffers"]:
        rows.append((str(buffer["offset"]), str(buffer["size"]), f"{buffer['first_step']}-{buffer['last_step']}",
                     _short(buffer["name"])))
    lines.extend(_columns(rows))
    for item in data["io"]:
        lines.append(f"(caller's {item['place']} buffer {item['index']}: {_short(item['name'])}, {item['size']} bytes)")
    for overlap in data["overlaps"]:
        lines.append(f"(step {overlap['step']}: output '{_short(overlap['output'], 30)}' starts {overlap['shift']:+d} "
                     f"bytes from input '{_short(overlap['input'], 30)}'; its kernel's access order allows up to "
                     f"{overlap['max_shift']:+d})")
    lines.append("layers (step, highest arena byte in use, op index, layer):")
    for step, (high, layer) in enumerate(zip(high_water(data), compiled.layers)):
        lines.append(f"  {step:3d}  {high:7d}  #{layer.op.index:<3d} {layer.summary or layer.op.kind}")
    lines.append("timeline (# tensor, s scratch; columns are steps):")
    lines.extend("  " + line for line in timeline(data))
    return "\n".join(lines)


def plot_plan(compiled: PlannedModel, path: str | Path) -> None:
    """Draw the plan (buffers as rectangles: steps across, arena offsets up) into `path`."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError:
        raise TinygenError("--plot needs matplotlib: pip install 'tinygen[plot]'") from None
    data = plan_json(compiled)
    figure, axes = plt.subplots(figsize=(max(6.0, 0.4 * data["layers"]), 6.0))
    colors = {"tensor": "tab:blue", "scratch": "tab:orange"}
    for buffer in data["buffers"]:
        axes.add_patch(Rectangle((buffer["first_step"], buffer["offset"]),
                                 buffer["last_step"] - buffer["first_step"] + 1, buffer["size"],
                                 facecolor=colors[buffer["kind"]], edgecolor="black", linewidth=0.5, alpha=0.6))
    axes.axhline(data["arena_bytes"], color="black", linewidth=1, label=f"arena {data['arena_bytes']} B")
    axes.axhline(data["lower_bound_bytes"], color="tab:red", linestyle="--", linewidth=1,
                 label=f"whole-tensor lower bound {data['lower_bound_bytes']} B")
    axes.set_xlim(0, data["layers"])
    axes.set_ylim(0, max(data["arena_bytes"], data["lower_bound_bytes"]) * 1.05 or 1)
    axes.set_xlabel("step (layer)")
    axes.set_ylabel("arena offset (bytes)")
    axes.set_title(f"{data['model']}: memory plan ({data['strategy']})")
    axes.legend(loc="upper right")
    figure.tight_layout()
    try:
        figure.savefig(path)
    except OSError as error:
        raise TinygenError(f"cannot write the plot to {path}: {error.strerror}") from None
    finally:
        plt.close(figure)
