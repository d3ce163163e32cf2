"""What the reports say about the weights is what the library stores.

`tinygen compile --report` and `tinygen plan --json` list each weight tensor with its
encoding and its bytes as int8 and as stored; `verify --json` gives `weights_bytes`. The
tests compile the generated weights file with the host gcc and read the sizes of its arrays
from the object's symbol table: each filter's reported bytes are the bytes of its arrays,
and `weights_bytes` those of every array. With `--kernels cmsis-nn`, a compressed filter's
layer runs tinygen's kernel and the report says so.
"""

import json
import os
import re
import subprocess

import pytest
from compressed_models import Pattern, pattern_path  # noqa: F401 (a fixture)

from tinygen.cli import main
from tinygen.compiler import compile_model, plan_model
from tinygen.ops.registry import CMSIS_NN
from tinygen.toolchain import WARNING_FLAGS, find_tool
from tinygen.verify import verify_host
from tinygen.weights import DENSE, MODES
from tinygen.weightsreport import weights_json

PATTERN = Pattern(4, per_channel=True, sparsity=0.5)


def array_sizes(compiled, tmp_path):
    """Symbol name -> size in bytes of every array of the library's weights file."""
    source = compiled.directory / f"{compiled.name}_weights.c"
    obj = tmp_path / "weights.o"
    subprocess.run([find_tool("gcc", "install gcc"), *WARNING_FLAGS, "-c", str(source), "-o", str(obj)], check=True)
    listing = subprocess.run(["nm", "-S", "--defined-only", str(obj)], check=True, capture_output=True, text=True)
    return {name: int(size, 16) for _, size, _, name in (line.split() for line in listing.stdout.splitlines())}


@pytest.mark.parametrize("mode", MODES)
def test_reported_bytes_are_the_bytes_in_flash(pattern_path, tmp_path, mode):
    """Per filter, the reported stored bytes are the sizes of the layer's filter arrays in
    the compiled weights object; the int8 bytes are the tensor's; weights_bytes is the size
    of all arrays."""
    compiled = compile_model(pattern_path(PATTERN, seed=300), tmp_path / "lib", weights=mode)
    sizes = array_sizes(compiled, tmp_path)
    entries = weights_json(compiled)
    assert len(entries) == 4
    for entry in entries:
        prefix = re.compile(rf"{compiled.name}_l{entry['step']}_filter(_|$)")
        assert entry["bytes"] == sum(size for name, size in sizes.items() if prefix.match(name))
        assert entry["dense_bytes"] == compiled.graph.tensors[compiled.layers[entry["step"]].op.inputs[1]].nbytes
        assert mode == "auto" or entry["encoding"] == mode
    assert compiled.weights_bytes == sum(sizes.values())


def run_cli(capsys, *arguments):
    status = main(list(arguments))
    return status, capsys.readouterr().out


def test_cli_reports_the_encodings(pattern_path, tmp_path, capsys):
    """compile --report prints one line per filter with its encoding and bytes; plan --json
    carries the same as "weights"; verify --json reports the weights_bytes of the encoding
    used, which is smaller than dense for this clustered, half-pruned model."""
    model = str(pattern_path(PATTERN, seed=300))
    status, out = run_cli(capsys, "compile", model, "-o", str(tmp_path / "lib"), "--weights", "lut", "--report")
    assert status == 0
    planned = plan_model(model, weights="lut")
    totals = sum(e["dense_bytes"] for e in weights_json(planned)), sum(e["bytes"] for e in weights_json(planned))
    assert f"weights: 4 filters, {totals[0]} bytes as int8, {totals[1]} bytes as stored" in out
    assert len(re.findall(r"\blut, \d-bit, ", out)) == 4
    status, out = run_cli(capsys, "plan", model, "--json", "--weights", "sparse")
    assert status == 0 and [e["encoding"] for e in json.loads(out)["weights"]] == ["sparse"] * 4
    verified = {}
    for mode in ("dense", "sparse-lut"):
        status, out = run_cli(capsys, "verify", model, "--json", "--count", "2", "--weights", mode)
        verified[mode] = json.loads(out)
        assert status == 0 and verified[mode]["bit_exact"]
        assert verified[mode]["weights_bytes"] == compile_model(model, weights=mode).weights_bytes
    assert verified["sparse-lut"]["weights_bytes"] < verified["dense"]["weights_bytes"]


def test_cmsis_nn_layers_with_compressed_filters_run_tinygen_kernels(pattern_path):
    """With --kernels cmsis-nn, dense filters go to CMSIS-NN and compressed ones to
    tinygen's kernels, which the report names with the reason."""
    model = pattern_path(PATTERN, seed=300)
    for mode in ("dense", "lut"):
        entries = weights_json(plan_model(model, backend=CMSIS_NN, weights=mode))
        for entry in entries:
            if entry["encoding"] == DENSE:
                assert entry["kernels"] == CMSIS_NN
            else:
                assert entry["kernels"] == "tinygen" and "CMSIS-NN has none" in entry["reason"]
        assert {entry["encoding"] for entry in entries} == {mode}


@pytest.mark.skipif(not os.environ.get("CMSIS_NN_PATH"), reason="CMSIS_NN_PATH is not set: point it at a CMSIS-NN "
                    "checkout to build the cmsis-nn backend")
def test_cmsis_nn_with_compressed_filters_is_bit_exact(pattern_path):
    """A cmsis-nn build mixing CMSIS-NN calls (dense filters, pooling) with tinygen's
    compressed kernels equals TFLM."""
    model = pattern_path(PATTERN, seed=300)
    for mode in ("auto", "sparse-lut"):
        result = verify_host(model, count=2, backend=CMSIS_NN, weights=mode)
        assert result.bit_exact, result.first_mismatch
