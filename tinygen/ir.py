"""The intermediate representation: tensors, ops and the graph that holds them.

The IR is deliberately small. A Tensor carries its shape, dtype, quantization and (for
weights) its constant data; an Op carries its builtin kind, the indices of its input and
output tensors and its options as read from the model. `validate()` checks the
invariants every pass relies on and raises IRValidationError; the driver calls it after
each pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from .errors import IRValidationError

# Element sizes of the dtypes tinygen knows. Names are the C-like ones used throughout.
DTYPE_SIZES = {"int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4, "bool": 1}
C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t",
           "int64": "int64_t", "float32": "float", "bool": "bool"}

# Tensor index used by an op for an absent optional input (e.g. a conv without bias).
NO_TENSOR = -1


@dataclass(frozen=True)
class Quantization:
    """Affine quantization: real = scale * (q - zero_point), per tensor or per channel.

    `scales` and `zero_points` are tuples of equal length: one entry per tensor, or one
    per slice along `axis` (per-channel).
    """

    scales: tuple[float, ...]
    zero_points: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scales) > 1

    @property
    def scale(self) -> float:
        """The single scale of a per-tensor quantized tensor."""
        if self.per_channel:
            raise IRValidationError("per-channel tensor has no single scale")
        return self.scales[0]

    @property
    def zero_point(self) -> int:
        if self.per_channel:
            raise IRValidationError("per-channel tensor has no single zero point")
        return self.zero_points[0]


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quantization | None = None
    data: np.ndarray | None = None  # constant data (weights, biases), else None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.num_elements * DTYPE_SIZES[self.dtype]

    @property
    def c_type(self) -> str:
        return C_TYPES[self.dtype]

    def describe(self) -> str:
        """Short human form, e.g. 'int8 1x49x10x1'."""
        return f"{self.dtype} {shape_str(self.shape)}"


@dataclass
class Op:
    index: int
    kind: str  # TFLite builtin name, e.g. "CONV_2D"
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass
class Graph:
    name: str
    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def op_inputs(self, op: Op) -> list[Tensor | None]:
        return [None if i == NO_TENSOR else self.tensors[i] for i in op.inputs]

    def op_outputs(self, op: Op) -> list[Tensor]:
        return [self.tensors[i] for i in op.outputs]

    def producer(self, tensor_index: int) -> Op | None:
        for op in self.ops:
            if tensor_index in op.outputs:
                return op
        return None

    def consumers(self, tensor_index: int) -> list[Op]:
        return [op for op in self.ops if tensor_index in op.inputs]


def shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"


def validate(graph: Graph) -> None:
    """Check the invariants passes and the planner rely on; raise IRValidationError.

    - tensor indices are dense and in range, shapes are non-negative;
    - graph inputs are not constant and not produced by an op; outputs are produced;
    - ops are in topological order: every non-constant input is a graph input or was
      produced by an earlier op; no tensor is produced twice;
    - constant data matches its tensor's shape and dtype;
    - quantization parameter lists are consistent.
    """
    count = len(graph.tensors)
    for position, tensor in enumerate(graph.tensors):
        if tensor.index != position:
            raise IRValidationError(f"tensor '{tensor.name}' has index {tensor.index}, expected {position}")
        if tensor.dtype not in DTYPE_SIZES:
            raise IRValidationError(f"tensor '{tensor.name}' has unknown dtype {tensor.dtype}")
        if any(d < 0 for d in tensor.shape):
            raise IRValidationError(f"tensor '{tensor.name}' has a dynamic or negative shape {tensor.shape}")
        if tensor.data is not None:
            if tuple(tensor.data.shape) != tuple(tensor.shape):
                raise IRValidationError(
                    f"constant '{tensor.name}' holds data of shape {tensor.data.shape}, tensor shape {tensor.shape}")
            if tensor.data.dtype != np.dtype(tensor.dtype):
                raise IRValidationError(f"constant '{tensor.name}' holds {tensor.data.dtype}, tensor is {tensor.dtype}")
        q = tensor.quant
        if q is not None:
            if len(q.scales) != len(q.zero_points) or not q.scales:
                raise IRValidationError(f"tensor '{tensor.name}' has {len(q.scales)} scales and "
                                        f"{len(q.zero_points)} zero points")
            if q.per_channel and (q.axis >= len(tensor.shape) or tensor.shape[q.axis] != len(q.scales)):
                raise IRValidationError(f"tensor '{tensor.name}' has {len(q.scales)} channel scales "
                                        f"along axis {q.axis} of shape {tensor.shape}")

    def check_index(i: int, what: str) -> None:
        if not 0 <= i < count:
            raise IRValidationError(f"{what} refers to tensor {i}, the graph has {count}")

    available = set()
    for i in graph.inputs:
        check_index(i, "graph input")
        if graph.tensors[i].is_constant:
            raise IRValidationError(f"graph input '{graph.tensors[i].name}' is a constant")
        available.add(i)
    produced = set()
    for op in graph.ops:
        for i in op.inputs:
            if i == NO_TENSOR:
                continue
            check_index(i, f"node {op.index} {op.kind} input")
            if not graph.tensors[i].is_constant and i not in available:
                raise IRValidationError(f"node {op.index} {op.kind} reads tensor '{graph.tensors[i].name}' "
                                        "before it is produced")
        for i in op.outputs:
            check_index(i, f"node {op.index} {op.kind} output")
            if i in produced or i in graph.inputs or graph.tensors[i].is_constant:
                raise IRValidationError(f"tensor '{graph.tensors[i].name}' is written twice "
                                        f"(again by node {op.index} {op.kind})")
            produced.add(i)
            available.add(i)
    for i in graph.outputs:
        check_index(i, "graph output")
        if i not in available:
            raise IRValidationError(f"graph output '{graph.tensors[i].name}' is never produced")
