"""The memory plan in human and machine form (`tinygen plan`, `tinygen plan --json`)."""

from __future__ import annotations

from .compiler import PlannedModel


def plan_json(compiled: PlannedModel) -> dict:
    """arena_bytes, and per arena buffer its offset, size, first and last use (layer steps)."""
    plan, graph = compiled.plan, compiled.graph
    buffers = []
    for buffer, offset in zip(plan.buffers, plan.offsets):
        buffers.append({
            "name": buffer.name,
            "kind": "tensor" if buffer.tensors else "scratch",
            "tensors": [graph.tensors[i].name for i in buffer.tensors],
            "offset": offset,
            "size": buffer.size,
            "first_use": buffer.first_step,
            "last_use": buffer.last_step,
        })
    io = [{"name": graph.tensors[i].name, "place": storage.place, "index": storage.offset,
           "size": graph.tensors[i].nbytes}
          for i, storage in sorted(plan.storage.items()) if storage.place != "arena"]
    return {"model": compiled.source.name, "arena_bytes": plan.arena_bytes, "layers": len(compiled.layers),
            "buffers": sorted(buffers, key=lambda b: (b["offset"], b["first_use"])), "io": io}


def _short(name: str, width: int = 60) -> str:
    return name if len(name) <= width else name[: width - 3] + "..."


def plan_table(compiled: PlannedModel) -> str:
    data = plan_json(compiled)
    rows = [("offset", "size", "live", "buffer")]
    for buffer in data["buffers"]:
        rows.append((str(buffer["offset"]), str(buffer["size"]),
                     f"{buffer['first_use']}-{buffer['last_use']}", _short(buffer["name"])))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{compiled.source.name}: arena {data['arena_bytes']} bytes, {data['layers']} layers"]
    for row in rows:
        lines.append("  ".join(cell.rjust(width) for cell, width in zip(row[:3], widths)) + "  " + row[3])
    for item in data["io"]:
        lines.append(f"(caller's {item['place']} buffer {item['index']}: {_short(item['name'])}, {item['size']} bytes)")
    lines.append("layers:")
    lines.extend(f"  {i:3d}  {summary}" for i, summary in enumerate(compiled.layer_summaries))
    return "\n".join(lines)
