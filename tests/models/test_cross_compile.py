"""Generated libraries compile without a warning for the host and for Cortex-M.

`-std=c99 -Wall -Wextra -Werror` with the host gcc and with arm-none-eabi-gcc (Cortex-M4F
and Cortex-M0+, which has no DSP extension and no FPU), on the MLPerf Tiny models (also
with every compressed weight encoding) and on a float-I/O model (QUANTIZE/DEQUANTIZE).
"""

import subprocess

import pytest

from conftest import MLPERF_MODELS, mlperf_model
from tinygen.compiler import compile_model
from tinygen.toolchain import WARNING_FLAGS, find_tool

COMPILERS = {
    "host": ("gcc", ()),
    "cortex-m4f": ("arm-none-eabi-gcc", ("-mthumb", "-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")),
    "cortex-m0plus": ("arm-none-eabi-gcc", ("-mthumb", "-mcpu=cortex-m0plus", "-mfloat-abi=soft")),
}


def compile_objects(compiled, compiler, flags, out_dir):
    tool = find_tool(compiler, "run scripts/setup.sh to install the cross compiler")
    for source in compiled.c_files:
        command = [tool, *WARNING_FLAGS, "-O2", *flags, "-c", str(source), "-o", str(out_dir / (source.stem + ".o"))]
        completed = subprocess.run(command, capture_output=True, text=True)
        assert completed.returncode == 0, completed.stderr
        assert completed.stderr == "", completed.stderr  # no warning at all


@pytest.mark.parametrize("target", sorted(COMPILERS))
@pytest.mark.parametrize("name", MLPERF_MODELS)
def test_mlperf_library_compiles_cleanly(tmp_path, name, target):
    compiler, flags = COMPILERS[target]
    compiled = compile_model(mlperf_model(name), tmp_path / "lib")
    compile_objects(compiled, compiler, flags, tmp_path)


@pytest.mark.parametrize("target", sorted(COMPILERS))
@pytest.mark.parametrize("weights", ["lut", "sparse", "sparse-lut"])
def test_compressed_library_compiles_cleanly(tmp_path, weights, target):
    """The keyword-spotting model with every filter compressed: the CONV_2D, DEPTHWISE_CONV_2D
    and FULLY_CONNECTED kernels of tg_conv_compressed.c and their row readers."""
    compiler, flags = COMPILERS[target]
    compiled = compile_model(mlperf_model("kws_ref_model"), tmp_path / "lib", weights=weights)
    assert "tg_conv_compressed.c" in compiled.library.files
    compile_objects(compiled, compiler, flags, tmp_path)


@pytest.mark.parametrize("target", sorted(COMPILERS))
def test_float_io_library_compiles_cleanly(tmp_path, target):
    import modelgen

    keras = modelgen.keras()
    path = modelgen.single_op_model(lambda x: keras.layers.Dense(5, activation="sigmoid")(x), (7,),
                                    tmp_path / "float_io.tflite", seed=4, float_io=True)
    compiler, flags = COMPILERS[target]
    compiled = compile_model(path, tmp_path / "lib")
    assert {"QUANTIZE", "DEQUANTIZE"} <= {layer.op.kind for layer in compiled.layers}
    compile_objects(compiled, compiler, flags, tmp_path)
