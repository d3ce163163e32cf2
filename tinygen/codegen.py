"""Code generation: lowered layers + memory plan -> the files of a C library.

One Jinja2 environment (StrictUndefined, trim_blocks, lstrip_blocks) renders the container
templates in templates/model/ and, through them, each layer's op template (its `declare`
and `invoke` macros). Kernel sources in templates/kernels/ are copied as they are; layers
lowered for CMSIS-NN only include its header, arm_nnfunctions.h. All
strings that come from the model pass through `c_identifier` or `c_comment` before they
reach C, so a tensor named `*/ x(); /*` cannot change the program. Output is
deterministic: no timestamps, no absolute paths, stable ordering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import jinja2
import numpy as np

from . import __version__
from .ir import Graph, Tensor, shape_str
from .ops.registry import CMSIS_NN, Layer
from .planner import Plan, Storage

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"

_C_KEYWORDS = frozenset("""auto break case char const continue default do double else enum extern float for goto
if inline int long register restrict return short signed sizeof static struct switch typedef union unsigned
void volatile while _Bool _Complex _Imaginary""".split())


def c_identifier(text: str, fallback: str = "model") -> str:
    """A safe C identifier from any string: [A-Za-z0-9_], not starting with a digit,
    not a keyword, not reserved (no leading underscore)."""
    identifier = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_")
    identifier = re.sub(r"_+", "_", identifier)
    if not identifier:
        identifier = fallback
    if identifier[0].isdigit():
        identifier = f"{fallback}_{identifier}"
    if identifier in _C_KEYWORDS:
        identifier = f"{identifier}_"
    return identifier


def c_comment(text: object) -> str:
    """Text safe inside a /* */ comment: printable ASCII, no comment delimiters, one line."""
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in str(text))
    return printable.replace("*/", "* /").replace("/*", "/ *").replace("??", "?_?")


def c_values(values: np.ndarray, per_line: int = 16) -> str:
    """The initializer list of a C array, `per_line` values a line, indented by 4."""
    flat = np.asarray(values).reshape(-1)
    if flat.dtype.kind == "f":
        items = [_c_float(float(v)) for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n".join("    " + line for line in lines)


def _c_float(value: float) -> str:
    """A float32 literal that reads back as the same float32."""
    text = repr(float(np.float32(value)))
    if "e" not in text and "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text + "f"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                             autoescape=False)
    env.filters["c_identifier"] = c_identifier
    env.filters["c_comment"] = c_comment
    env.filters["c_values"] = c_values
    env.filters["c_float"] = _c_float
    env.filters["shape"] = shape_str
    return env


@dataclass(frozen=True)
class IOPort:
    """A graph input or output as the generated API exposes it."""

    position: int
    argument: str  # C parameter name, e.g. "input0"
    tensor: Tensor

    @property
    def c_type(self) -> str:
        return self.tensor.c_type

    @property
    def nbytes(self) -> int:
        return self.tensor.nbytes

    @property
    def scale(self) -> float | None:
        return self.tensor.quant.scale if self.tensor.quant and not self.tensor.quant.per_channel else None

    @property
    def zero_point(self) -> int | None:
        return self.tensor.quant.zero_point if self.tensor.quant and not self.tensor.quant.per_channel else None


@dataclass(frozen=True)
class ConstDef:
    c_name: str
    c_type: str
    count: int
    values: np.ndarray
    comment: str

    @property
    def nbytes(self) -> int:
        return int(self.values.nbytes)


@dataclass(frozen=True)
class RenderStep:
    """What an op template's macros see (see docs/op-contract.md)."""

    index: int
    name: str
    layer: Layer
    params: Mapping[str, object]
    inputs: tuple[str | None, ...]
    outputs: tuple[str, ...]
    const: Mapping[str, str]
    scratch: str
    input_tensors: tuple[Tensor | None, ...]
    output_tensors: tuple[Tensor, ...]
    template: str
    summary: str


@dataclass(frozen=True)
class Library:
    """A rendered library: file name -> contents, plus the figures the header states."""

    name: str
    files: dict[str, str]
    inputs: tuple[IOPort, ...]
    outputs: tuple[IOPort, ...]
    arena_bytes: int
    weights_bytes: int
    steps: tuple[RenderStep, ...]
    uses_cmsis_nn: bool  # calls CMSIS-NN: a build needs its library (tinygen.toolchain)


_CTYPE_DTYPES = {"int8_t": np.int8, "uint8_t": np.uint8, "int16_t": np.int16, "uint16_t": np.uint16,
                 "int32_t": np.int32, "uint32_t": np.uint32, "float": np.float32}


def _pointer(storage: Storage, tensor: Tensor, ports: dict[str, list[IOPort]], writable: bool) -> str:
    qualifier = "" if writable else "const "
    if storage.place == "arena":
        return f"({qualifier}{tensor.c_type} *)(arena + {storage.offset})"
    port = ports[storage.place][storage.offset]
    if storage.place == "input" or writable:
        return port.argument
    return f"({qualifier}{tensor.c_type} *){port.argument}"


def _steps(name: str, graph: Graph, layers: list[Layer], plan: Plan,
           ports: dict[str, list[IOPort]]) -> tuple[list[RenderStep], list[ConstDef]]:
    steps, consts = [], []
    for index, layer in enumerate(layers):
        step_name = f"{name}_l{index}"
        op = layer.op
        inputs = tuple(None if i < 0 or graph.tensors[i].is_constant
                       else _pointer(plan.storage[i], graph.tensors[i], ports, writable=False)
                       for i in op.inputs)
        outputs = tuple(_pointer(plan.storage[i], graph.tensors[i], ports, writable=True) for i in op.outputs)
        const_names = {}
        for const in layer.constants:
            c_name = f"{step_name}_{c_identifier(const.suffix, 'const')}"
            values = np.asarray(const.values).astype(_CTYPE_DTYPES[const.c_type], copy=False)
            consts.append(ConstDef(c_name, const.c_type, int(values.size), values, const.comment))
            const_names[const.suffix] = c_name
        scratch = f"(void *)(arena + {plan.scratch_offsets[index]})" if index in plan.scratch_offsets else "NULL"
        steps.append(RenderStep(index=index, name=step_name, layer=layer, params=layer.params, inputs=inputs,
                                outputs=outputs, const=const_names, scratch=scratch,
                                input_tensors=tuple(graph.op_inputs(op)), output_tensors=tuple(graph.op_outputs(op)),
                                template=layer.template, summary=layer.summary or op.kind))
    return steps, consts


def kernel_families(layers: list[Layer]) -> list[str]:
    """The tinygen kernel families the layers call, sorted (CMSIS-NN calls need no file)."""
    return sorted({family for layer in layers for family in layer.kernels if family != CMSIS_NN})


def uses_cmsis_nn(layers: list[Layer]) -> bool:
    """Whether the library calls CMSIS-NN, so that its build needs a CMSIS-NN checkout."""
    return any(CMSIS_NN in layer.kernels for layer in layers)


def kernel_files(layers: list[Layer]) -> list[str]:
    """The kernel sources the layers call, in a stable order, tg_common.h first."""
    return ["tg_common.h"] + [f"tg_{family}{suffix}" for family in kernel_families(layers) for suffix in (".h", ".c")]


def render_library(name: str, graph: Graph, layers: list[Layer], plan: Plan, source: str,
                   source_sha256: str) -> Library:
    """Render every file of the library named `name` (already a C identifier)."""
    env = environment()
    ports = {
        "input": [IOPort(p, f"input{p}", graph.tensors[i]) for p, i in enumerate(graph.inputs)],
        "output": [IOPort(p, f"output{p}", graph.tensors[i]) for p, i in enumerate(graph.outputs)],
    }
    steps, consts = _steps(name, graph, layers, plan, ports)
    weights_bytes = sum(c.nbytes for c in consts)
    kernel_headers = [f"tg_{family}.h" for family in kernel_families(layers)]
    if uses_cmsis_nn(layers):
        kernel_headers.append("arm_nnfunctions.h")
    context = dict(
        name=name, NAME=name.upper(), version=__version__, source=c_comment(source), source_sha256=source_sha256,
        inputs=ports["input"], outputs=ports["output"], steps=steps, consts=consts,
        arena_bytes=plan.arena_bytes, weights_bytes=weights_bytes, kernel_headers=kernel_headers,
    )
    files = {
        f"{name}.h": env.get_template("model/model.h.j2").render(context),
        f"{name}.c": env.get_template("model/model.c.j2").render(context),
        f"{name}_weights.h": env.get_template("model/weights.h.j2").render(context),
        f"{name}_weights.c": env.get_template("model/weights.c.j2").render(context),
    }
    for file_name in kernel_files(layers):
        files[file_name] = (TEMPLATE_DIR / "kernels" / file_name).read_text()
    return Library(name=name, files=files, inputs=tuple(ports["input"]), outputs=tuple(ports["output"]),
                   arena_bytes=plan.arena_bytes, weights_bytes=weights_bytes, steps=tuple(steps),
                   uses_cmsis_nn=uses_cmsis_nn(layers))
