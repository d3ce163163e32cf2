"""The driver: model file -> IR -> checks -> lowering -> memory plan -> C library.

Reads like the pipeline it runs; each stage is its own module:
frontend (tinygen.frontend) -> validate (tinygen.ir) -> supported? (tinygen.ops) ->
lower each op (tinygen.ops) -> plan the arena (tinygen.planner) -> render C (tinygen.codegen).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from . import codegen, ops
from .errors import ModelFormatError, TinygenError
from .frontend import tflite as tflite_frontend
from .ir import Graph, validate
from .ops.registry import BACKENDS, Layer
from .planner import Plan, Step, plan_memory


@dataclass(frozen=True)
class CompiledModel:
    """A compiled model: the IR, its lowered layers, the plan and the rendered library."""

    name: str
    source: Path
    graph: Graph
    layers: tuple[Layer, ...]
    plan: Plan
    library: codegen.Library
    directory: Path | None = None

    @property
    def inputs(self):
        return self.library.inputs

    @property
    def outputs(self):
        return self.library.outputs

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes

    @property
    def weights_bytes(self) -> int:
        return self.library.weights_bytes

    @property
    def layer_summaries(self) -> list[str]:
        return [step.summary for step in self.library.steps]

    @property
    def c_files(self) -> list[Path]:
        if self.directory is None:
            return []
        return [self.directory / f for f in sorted(self.library.files) if f.endswith(".c")]


def load_graph(model_path: str | Path) -> Graph:
    """Read a model file into the IR and validate it."""
    path = Path(model_path)
    if path.suffix.lower() != ".tflite":
        raise ModelFormatError(f"{path}: expected a .tflite model (got '{path.suffix or 'no extension'}')")
    graph = tflite_frontend.load(path)
    validate(graph)
    return graph


def lower(graph: Graph, backend: str) -> tuple[list[Layer], list[tuple[int, int]]]:
    """Lower every op: executed layers in order, and (source, alias) tensor pairs."""
    ops.check_supported(graph)
    layers, aliases = [], []
    for op in graph.ops:
        spec = ops.lookup(op.kind)
        if spec.alias:
            aliases.append((op.inputs[0], op.outputs[0]))
        else:
            layers.append(spec.lower(graph, op, backend))
    return layers, aliases


def plan(graph: Graph, layers: list[Layer], aliases: list[tuple[int, int]]) -> Plan:
    steps = [Step(inputs=layer.op.inputs, outputs=layer.op.outputs, scratch_bytes=layer.scratch_bytes)
             for layer in layers]
    return plan_memory(graph, steps, aliases)


def compile_model(model_path: str | Path, out_dir: str | Path | None = None, name: str | None = None,
                  backend: str = "tinygen") -> CompiledModel:
    """Compile a model; write the library into `out_dir` when given."""
    if backend not in BACKENDS:
        raise TinygenError(f"unknown kernel backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    path = Path(model_path)
    graph = load_graph(path)
    layers, aliases = lower(graph, backend)
    memory_plan = plan(graph, layers, aliases)
    library_name = codegen.c_identifier(name or path.stem)
    library = codegen.render_library(library_name, graph, layers, memory_plan, source=path.name,
                                     source_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    directory = None
    if out_dir is not None:
        directory = Path(out_dir)
        write_library(library, directory)
    return CompiledModel(name=library_name, source=path, graph=graph, layers=tuple(layers), plan=memory_plan,
                         library=library, directory=directory)


def write_library(library: codegen.Library, directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for file_name, text in sorted(library.files.items()):
            (directory / file_name).write_text(text)
    except OSError as error:
        raise TinygenError(f"cannot write the library to {directory}: {error.strerror}") from None
