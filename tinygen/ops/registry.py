"""The op registry: one OpSpec per TFLite builtin op tinygen compiles.

An OpSpec keeps together everything about one op kind:
- `check(graph, op)`: is this instance supported? Returns None, or the reason it is not
  (kept separate from lowering so that every refusal in a model is reported at once);
- `lower(graph, op, backend)`: the compile-time work (quantization parameters, lookup
  tables, weight layout, scratch size) producing a `Layer` for code generation;
- `alias`: the op's output is its first input's bytes reinterpreted (RESHAPE, SQUEEZE):
  no code, no copy, and the planner gives both tensors one buffer;
- `weights`: the op multiplies a constant weight tensor whose encoding in flash the
  `--weights` mode chooses (tinygen/weights.py); its lower takes the mode as a fourth
  argument, `lower(graph, op, backend, weights)`.

Op families live in sibling modules (conv.py, pooling.py, ...) and register themselves
with `register()` when imported; `tinygen.ops` imports them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ..errors import UnsupportedOpsError
from ..ir import Graph, Op
from ..weights import Encoding
from .access import Access

# The kernel backends (`--kernels`). CMSIS_NN is also the Layer.kernels marker of a layer
# that calls the CMSIS-NN library (arm_nnfunctions.h) instead of a tinygen kernel file: it
# contains a "-", so no kernel file stem can be mistaken for it.
CMSIS_NN = "cmsis-nn"
BACKENDS = ("tinygen", CMSIS_NN)


@dataclass(frozen=True)
class ConstArray:
    """A constant array the layer needs in flash (weights, bias, multipliers, a table).

    `suffix` names it within the layer; code generation prefixes the model and layer
    (e.g. suffix "filter" of layer 3 of model kws -> `kws_l3_filter`).
    """

    suffix: str
    c_type: str
    values: np.ndarray
    comment: str = ""


@dataclass(frozen=True)
class Layer:
    """One op, lowered: what the op's template needs to declare and call its kernel.

    `template` is the op's Jinja2 template under templates/ (it defines the macros
    `declare(step)` and `invoke(step)`); `kernels` names the kernel files it calls
    (e.g. "conv" -> templates/kernels/tg_conv.h and tg_conv.c), or is (CMSIS_NN,) for a
    layer that calls the CMSIS-NN library; `params` are the scalar
    compile-time values the template reads; `summary` is the one-line comment above
    the call in the generated C.

    Two attributes tell the memory planner what the kernel allows; their defaults are
    the safe "nothing": `access` is the order in which the kernel reads its inputs and
    writes its output (tinygen/ops/access.py), set only where an op module mirrors its
    kernel's loops; the planner then lets the output overlap an input that dies here as
    far as that order allows. `slice_offsets`, for a CONCATENATION whose inputs are
    contiguous blocks of its output, is each input's byte offset in the output: the
    planner may have the producers write there and drop the layer.

    `filter_encoding` is how the layer's weight tensor (input 1) is stored, for layers of
    ops registered with `weights`; the reports list it.
    """

    op: Op
    template: str
    kernels: tuple[str, ...]
    params: Mapping[str, object]
    constants: tuple[ConstArray, ...] = ()
    scratch_bytes: int = 0
    summary: str = ""
    access: Access | None = None
    slice_offsets: tuple[int, ...] | None = None
    filter_encoding: Encoding | None = None


@dataclass(frozen=True)
class OpSpec:
    kind: str
    check: Callable[[Graph, Op], str | None]
    lower: Callable[..., Layer] | None = None
    alias: bool = False
    weights: bool = False


_REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.kind in _REGISTRY:
        raise ValueError(f"op {spec.kind} is registered twice")
    if spec.lower is None and not spec.alias:
        raise ValueError(f"op {spec.kind} needs a lower function unless it is an alias")
    _REGISTRY[spec.kind] = spec
    return spec


def lookup(kind: str) -> OpSpec:
    return _REGISTRY[kind]


def supported_kinds() -> list[str]:
    return sorted(_REGISTRY)


def check_supported(graph: Graph) -> None:
    """Raise UnsupportedOpsError listing every op of the graph that cannot be compiled."""
    refusals = []
    for op in graph.ops:
        spec = _REGISTRY.get(op.kind)
        if spec is None:
            refusals.append((op.index, op.kind, "op not supported by tinygen"))
            continue
        reason = spec.check(graph, op)
        if reason:
            refusals.append((op.index, op.kind, reason))
    if refusals:
        raise UnsupportedOpsError(refusals)


def check_dtypes(graph: Graph, op: Op, inputs: tuple[str | None, ...], outputs: tuple[str, ...]) -> str | None:
    """Common check: tensor dtypes (None = any / absent allowed), and int8/int16 activations
    quantized per tensor.

    Returns a reason string naming the first offending tensor, or None.
    """
    if len(op.inputs) < len(inputs) and any(d is not None for d in inputs[len(op.inputs):]):
        return f"expects {len(inputs)} inputs, has {len(op.inputs)}"
    for position, (tensor, expected) in enumerate(zip(graph.op_inputs(op), inputs)):
        if expected is None or tensor is None:
            continue
        if tensor.dtype != expected:
            return f"input {position} '{tensor.name}' is {tensor.dtype}, expected {expected}"
        if expected in ("int8", "int16") and tensor.quant is None:
            return f"input {position} '{tensor.name}' is {expected} without quantization parameters"
        if expected in ("int8", "int16") and tensor.quant.per_channel:
            return (f"input {position} '{tensor.name}' is quantized per channel: per-channel activations "
                    "are not supported, only per-tensor")
    for position, (tensor, expected) in enumerate(zip(graph.op_outputs(op), outputs)):
        if tensor.dtype != expected:
            return f"output {position} '{tensor.name}' is {tensor.dtype}, expected {expected}"
        if expected in ("int8", "int16") and tensor.quant is None:
            return f"output {position} '{tensor.name}' is {expected} without quantization parameters"
        if expected in ("int8", "int16") and tensor.quant.per_channel:
            return (f"output {position} '{tensor.name}' is quantized per channel: per-channel activations "
                    "are not supported, only per-tensor")
    return None
