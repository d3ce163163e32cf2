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
from .errors import ModelFormatError, TinygenError, UnsupportedModelError
from .files import write_output
from .frontend import keras as keras_frontend
from .frontend import tflite as tflite_frontend
from .ir import Graph, validate
from .ops.registry import BACKENDS, Layer
from .weights import MODES as WEIGHT_MODES
from .planner import Alias, Plan, plan_memory, step_of


@dataclass(frozen=True)
class PlannedModel:
    """A model read, lowered and planned: everything but the rendered C."""

    source: Path
    graph: Graph
    layers: tuple[Layer, ...]  # the layers that run, in the planned order
    plan: Plan

    @property
    def layer_summaries(self) -> list[str]:
        return [layer.summary or layer.op.kind for layer in self.layers]


@dataclass(frozen=True)
class CompiledModel(PlannedModel):
    """A compiled model: the planned model and its rendered library."""

    name: str = ""
    library: codegen.Library | None = None
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
    def c_files(self) -> list[Path]:
        if self.directory is None:
            return []
        return [self.directory / f for f in sorted(self.library.files) if f.endswith(".c")]


def load_graph(model_path: str | Path, data=None) -> Graph:
    """Read a model file into the IR and validate it. A Keras model is converted to full
    int8 in memory first, `data` (an .npz with `x`) calibrating it."""
    path = Path(model_path)
    if keras_frontend.is_keras_model(path):
        graph = tflite_frontend.parse(keras_frontend.to_int8_tflite(path, data), name=path.stem, origin=str(path))
    elif path.suffix.lower() != ".tflite":
        raise ModelFormatError(f"{path}: expected a .tflite model or a Keras model ({keras_frontend.KERAS_FORMATS}) "
                               f"(got '{path.suffix or 'no extension'}')")
    else:
        graph = tflite_frontend.load(path)
    validate(graph)
    return graph


# Ops that convert between float and int8 at a model's edges; every other op must be int8.
_FLOAT_EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")


def check_quantized(graph: Graph) -> None:
    """Refuse float models up front, with advice, rather than listing every op as unsupported."""
    for op in graph.ops:
        if op.kind in _FLOAT_EDGE_OPS:
            continue
        floats = [graph.tensors[i] for i in op.outputs if graph.tensors[i].dtype == "float32"]
        if floats:
            raise UnsupportedModelError(
                f"float model: node {op.index} {op.kind} computes in float32 (tensor '{floats[0].name}'); "
                "tinygen compiles full-int8 models: convert with a representative dataset and "
                "TFLITE_BUILTINS_INT8 (or use `tinygen optimize --ptq`)")


def lower(graph: Graph, backend: str, weights: str = "auto") -> tuple[list[Layer], list[Alias]]:
    """Lower every op: layers in the model's order, and the tensors that are reshapes.
    `weights` is the --weights mode for the ops that store weights (tinygen.weights)."""
    check_quantized(graph)
    ops.check_supported(graph)
    layers, aliases = [], []
    for op in graph.ops:
        spec = ops.lookup(op.kind)
        if spec.alias:
            aliases.append(Alias(base=op.inputs[0], tensor=op.outputs[0]))
        else:
            layers.append(spec.lower(graph, op, backend, weights) if spec.weights else spec.lower(graph, op, backend))
    return layers, aliases


def plan(graph: Graph, layers: list[Layer], aliases: list[Alias]) -> tuple[list[Layer], Plan]:
    """Plan the arena; returns the layers that run, in the planned order, and the plan."""
    memory_plan = plan_memory(graph, [step_of(layer) for layer in layers], aliases)
    return [layers[i] for i in memory_plan.order], memory_plan


def plan_model(model_path: str | Path, backend: str = "tinygen", data=None, weights: str = "auto") -> PlannedModel:
    """Read, check, lower and plan a model (no C rendered); `data` calibrates a Keras model,
    `weights` is the --weights mode (tinygen.weights)."""
    if backend not in BACKENDS:
        raise TinygenError(f"unknown kernel backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    if weights not in WEIGHT_MODES:
        raise TinygenError(f"unknown weights mode '{weights}'; choose one of {', '.join(WEIGHT_MODES)}")
    path = Path(model_path)
    graph = load_graph(path, data)
    layers, aliases = lower(graph, backend, weights)
    executed, memory_plan = plan(graph, layers, aliases)
    return PlannedModel(source=path, graph=graph, layers=tuple(executed), plan=memory_plan)


def compile_model(model_path: str | Path, out_dir: str | Path | None = None, name: str | None = None,
                  backend: str = "tinygen", data=None, weights: str = "auto") -> CompiledModel:
    """Compile a model, its weights stored as the --weights mode `weights` says; write the
    library into `out_dir` when given.

    A Keras model is converted to full int8 first (`data`, an .npz with `x`, calibrates
    it) into `out_dir`/<name>.tflite, which is then compiled and becomes the `source`
    that verification runs TFLite Micro on."""
    if keras_frontend.is_keras_model(model_path):
        if out_dir is None:
            raise TinygenError(f"compiling the Keras model {model_path} needs an output directory for its "
                               "converted .tflite")
        library_name = codegen.c_identifier(name or Path(model_path).stem)
        model_path = keras_frontend.write_int8_tflite(model_path, data, Path(out_dir) / f"{library_name}.tflite")
    planned = plan_model(model_path, backend, weights=weights)
    path, graph, layers, memory_plan = planned.source, planned.graph, list(planned.layers), planned.plan
    library_name = codegen.c_identifier(name or path.stem)
    library = codegen.render_library(library_name, graph, layers, memory_plan, source=path.name,
                                     source_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    directory = None
    if out_dir is not None:
        directory = Path(out_dir)
        write_library(library, directory)
    return CompiledModel(source=path, graph=graph, layers=tuple(layers), plan=memory_plan, name=library_name,
                         library=library, directory=directory)


def write_library(library: codegen.Library, directory: Path) -> None:
    for file_name, text in sorted(library.files.items()):
        write_output(directory / file_name, text)
