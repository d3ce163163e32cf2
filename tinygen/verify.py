"""Verification: run the generated C and compare every output byte with TFLite Micro.

The check is the same wherever the code runs; only the runner differs (`HostRunner` here:
the host gcc; firmware runners for boards live with the emulators). Inputs are seeded
random samples plus any the user gives. Equality is exact: int8 outputs byte for byte,
float outputs bit pattern for bit pattern.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import codegen
from .compiler import CompiledModel, compile_model
from .errors import TinygenError
from .ir import Graph
from .reference import graph_arena_size, reference_outputs
from .toolchain import cmsis_nn_host_library, compile_host, run_tool

Samples = list[list[np.ndarray]]


@dataclass(frozen=True)
class VerifyResult:
    model: str
    target: str
    bit_exact: bool
    inputs_checked: int
    mismatches: int  # output elements that differ, over all samples and outputs
    arena_bytes: int
    weights_bytes: int
    first_mismatch: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


def _float_input_range(graph: Graph, tensor_index: int) -> tuple[float, float]:
    """The real range a float input can take without saturating the QUANTIZE reading it."""
    for op in graph.consumers(tensor_index):
        quant = graph.tensors[op.outputs[0]].quant
        if op.kind == "QUANTIZE" and quant is not None and not quant.per_channel:
            return (-128 - quant.zero_point) * quant.scale, (127 - quant.zero_point) * quant.scale
    return -1.0, 1.0


def random_inputs(graph: Graph, count: int, seed: int) -> Samples:
    """`count` seeded samples covering each input's whole range."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        sample = []
        for tensor_index in graph.inputs:
            tensor = graph.tensors[tensor_index]
            if tensor.dtype == "float32":
                low, high = _float_input_range(graph, tensor_index)
                sample.append(rng.uniform(low, high, size=tensor.shape).astype(np.float32))
            else:
                info = np.iinfo(tensor.dtype)
                sample.append(rng.integers(info.min, info.max, size=tensor.shape, endpoint=True, dtype=tensor.dtype))
        samples.append(sample)
    return samples


def load_inputs(path: str | Path, graph: Graph) -> Samples:
    """Samples from a .npy file: one array of the input's shape, or a batch of them
    stacked on a new first axis. Models with one input only."""
    if len(graph.inputs) != 1:
        raise TinygenError(f"--inputs takes one .npy array; this model has {len(graph.inputs)} inputs")
    tensor = graph.tensors[graph.inputs[0]]
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise TinygenError(f"cannot read inputs from {path}: {error}") from None
    if tuple(array.shape) == tensor.shape:
        array = array[np.newaxis]
    if tuple(array.shape[1:]) != tensor.shape:
        raise TinygenError(f"{path} holds an array of shape {array.shape}; the input '{tensor.name}' "
                           f"needs {tensor.shape} or (N, {', '.join(map(str, tensor.shape))})")
    if array.dtype != np.dtype(tensor.dtype):
        raise TinygenError(f"{path} holds {array.dtype} values; the input '{tensor.name}' is {tensor.dtype}")
    return [[sample] for sample in array]


def _as_bits(array: np.ndarray) -> np.ndarray:
    """Compare floats by bit pattern, integers by value."""
    flat = np.ascontiguousarray(array).reshape(-1)
    return flat.view(np.uint32) if flat.dtype == np.float32 else flat


def compare(expected: Samples, actual: Samples, output_names: list[str]) -> tuple[int, str | None]:
    """Count differing output elements; describe the first one."""
    mismatches, first = 0, None
    for sample_index, (want_sample, got_sample) in enumerate(zip(expected, actual, strict=True)):
        for output_index, (want, got) in enumerate(zip(want_sample, got_sample, strict=True)):
            want_flat, got_flat = _as_bits(want), _as_bits(got.astype(want.dtype, copy=False))
            differing = np.flatnonzero(want_flat != got_flat)
            mismatches += int(differing.size)
            if differing.size and first is None:
                element = int(differing[0])
                first = (f"sample {sample_index}, output {output_index} ('{output_names[output_index]}'), "
                         f"element {element}: expected {want.reshape(-1)[element]}, got {got.reshape(-1)[element]}")
    return mismatches, first


Runner = Callable[[Samples], Samples]


class HostRunner:
    """Builds the library with a generated harness using the host gcc (linked with CMSIS-NN
    from CMSIS_NN_PATH when the library calls it); runs samples."""

    def __init__(self, compiled: CompiledModel, work_dir: Path):
        self.compiled = compiled
        self.work_dir = work_dir
        library = compiled.library
        harness = codegen.environment().get_template("host/harness.c.j2").render(
            name=library.name, version=codegen.__version__, inputs=library.inputs, outputs=library.outputs)
        (work_dir / "tinygen_host_main.c").write_text(harness)
        sources = [work_dir / "tinygen_host_main.c"] + compiled.c_files
        include_dirs, archives = [work_dir], ()
        if library.uses_cmsis_nn:
            cmsis_nn = cmsis_nn_host_library()
            include_dirs += cmsis_nn.include_dirs
            archives = (cmsis_nn.archive,)
        self.executable = compile_host(sources, include_dirs, work_dir / "tinygen_host_main", archives)

    def __call__(self, samples: Samples) -> Samples:
        library = self.compiled.library
        inputs_path, outputs_path = self.work_dir / "inputs.bin", self.work_dir / "outputs.bin"
        with open(inputs_path, "wb") as stream:
            for sample in samples:
                for port, array in zip(library.inputs, sample, strict=True):
                    stream.write(np.ascontiguousarray(array, dtype=port.tensor.dtype).tobytes())
        run_tool([str(self.executable), str(inputs_path), str(outputs_path), str(len(samples))],
                 "the generated model on the host", timeout_s=600)
        data = outputs_path.read_bytes()
        results, position = [], 0
        for _ in samples:
            outputs = []
            for port in library.outputs:
                tensor = port.tensor
                outputs.append(np.frombuffer(data[position:position + tensor.nbytes], dtype=tensor.dtype)
                               .reshape(tensor.shape))
                position += tensor.nbytes
            results.append(outputs)
        if position != len(data):
            raise TinygenError(f"the harness wrote {len(data)} bytes, expected {position}")
        return results


def expected_outputs(compiled: CompiledModel, samples: Samples) -> Samples:
    """TFLite Micro's outputs for `samples` on the compiled model's source."""
    graph = compiled.graph
    return reference_outputs(compiled.source, samples, len(graph.outputs), graph_arena_size(graph))


def check(compiled: CompiledModel, runner: Runner, samples: Samples, target: str) -> VerifyResult:
    """Run `samples` through `runner` and through TFLM; compare."""
    graph = compiled.graph
    expected = expected_outputs(compiled, samples)
    actual = runner(samples)
    names = [graph.tensors[i].name for i in graph.outputs]
    mismatches, first = compare(expected, actual, names)
    return VerifyResult(model=compiled.source.name, target=target, bit_exact=mismatches == 0,
                        inputs_checked=len(samples), mismatches=mismatches, arena_bytes=compiled.arena_bytes,
                        weights_bytes=compiled.weights_bytes, first_mismatch=first)


def samples_for(graph: Graph, count: int, seed: int, inputs_file: str | Path | None) -> Samples:
    samples = load_inputs(inputs_file, graph) if inputs_file else []
    return samples + random_inputs(graph, count, seed)


def verify_host(model_path: str | Path, count: int = 10, seed: int = 0, inputs_file: str | Path | None = None,
                backend: str = "tinygen", work_dir: str | Path | None = None, data=None,
                weights: str = "auto") -> VerifyResult:
    """Compile the model (weights stored as the --weights mode `weights` says), build it for
    the host, and compare with TFLM on seeded inputs (a Keras model: its int8 conversion,
    `data` calibrating it, is what both run)."""
    with tempfile.TemporaryDirectory(prefix="tinygen-verify-") as temporary:
        directory = Path(work_dir) if work_dir else Path(temporary)
        compiled = compile_model(model_path, directory, backend=backend, data=data, weights=weights)
        samples = samples_for(compiled.graph, count, seed, inputs_file)
        return check(compiled, HostRunner(compiled, directory), samples, target="host")
