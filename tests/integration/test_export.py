"""Library export (`tinygen compile --format`): the PlatformIO library.json passes
PlatformIO's own manifest parser, schema and `pio pkg pack`; a CMake project and a Make
project consume the exported library with the host gcc (and print TFLite Micro's outputs)
and with arm-none-eabi-gcc; the build files are deterministic and use sanitized names."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO
from tinygen import cli, export
from tinygen.compiler import compile_model
from tinygen.toolchain import CMSIS_NN_PATH_VARIABLE
from tinygen.verify import expected_outputs

KWS = REPO / "firmware_examples" / "keyword_spotting" / "kws_ref_model.tflite"
PIO = Path(sys.executable).parent / "pio"
CORTEX_M4 = "-mthumb -mcpu=cortex-m4 -mfpu=fpv4-sp-d16 -mfloat-abi=hard"

# A consumer: runs the model on an all-zero input and prints the output bytes.
CONSUMER_MAIN = """\
#include <stdio.h>
#include "kws.h"

int main(void)
{
    static int8_t input[KWS_INPUT0_ELEMENTS];
    static int8_t output[KWS_OUTPUT0_ELEMENTS];
    if (kws_invoke(input, output) != 0) {
        return 1;
    }
    for (int i = 0; i < KWS_OUTPUT0_ELEMENTS; ++i) {
        printf("%d\\n", output[i]);
    }
    return 0;
}
"""
CMAKE_CONSUMER = """\
cmake_minimum_required(VERSION 3.13)
project(consumer C)
add_subdirectory(${MODEL_DIR} kws)
add_executable(app main.c)
target_link_libraries(app PRIVATE kws)
"""
ARM_TOOLCHAIN = f"""\
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_C_FLAGS_INIT "{CORTEX_M4}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "--specs=nosys.specs")
"""
MAKE_CONSUMER = """\
include $(MODEL_DIR)/model.mk

app: main.c $(KWS_SOURCES)
\t$(CC) $(CFLAGS) $(KWS_CFLAGS) -o $@ main.c $(KWS_SOURCES) $(LDFLAGS)
"""


@pytest.fixture(scope="module")
def kws(tmp_path_factory):
    """The keyword spotter compiled as `kws` with all three build files."""
    compiled = compile_model(KWS, tmp_path_factory.mktemp("kws"), name="kws")
    for format_ in ("platformio", "cmake", "make"):
        export.write_build_file(compiled, format_)
    return compiled


def zero_input_outputs(compiled) -> list[int]:
    shape = compiled.inputs[0].tensor.shape
    return expected_outputs(compiled, [[np.zeros(shape, np.int8)]])[0][0].reshape(-1).tolist()


def run(command: list[str], cwd: Path, **environment) -> str:
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300,
                               env={**os.environ, **environment})
    assert completed.returncode == 0, f"{' '.join(command)}:\n{completed.stdout}\n{completed.stderr}"
    return completed.stdout


def assert_arm_elf(path: Path) -> None:
    header = run(["arm-none-eabi-readelf", "-h", str(path)], path.parent)
    assert "ARM" in header and "EXEC" in header


def test_library_json_passes_platformio_parser_schema_and_pack(kws, tmp_path):
    """library.json: PlatformIO's manifest parser and schema accept it, and `pio pkg pack`
    (offline: the manifest has no license field, which would make it fetch the SPDX list)
    packs the library with every C file."""
    from platformio.package.manifest.parser import ManifestParserFactory
    from platformio.package.manifest.schema import ManifestSchema

    manifest = ManifestParserFactory.new_from_file(str(kws.directory / "library.json")).as_dict()
    ManifestSchema().load_manifest(manifest)
    assert manifest["name"] == "kws" and manifest["build"]["flags"] == list(export.C_FLAGS)
    assert "dependencies" not in manifest and "license" not in manifest
    run([str(PIO), "pkg", "pack", str(kws.directory), "-o", str(tmp_path)], tmp_path,
        PLATFORMIO_CORE_DIR=str(tmp_path / "core"))
    (archive,) = tmp_path.glob("kws-*.tar.gz")
    with tarfile.open(archive) as packed:
        names = set(packed.getnames())
    assert {"library.json", "kws.h"} | {path.name for path in kws.c_files} <= names


def test_cmsis_nn_library_declares_the_dependency(tmp_path):
    """With --kernels cmsis-nn: library.json depends on CMSIS-NN (its repository at the
    pinned release) and names the extra script that limits its build to the kernels; CMake
    and Make take a CMSIS_NN_PATH checkout."""
    from platformio.package.manifest.parser import ManifestParserFactory
    from platformio.package.manifest.schema import ManifestSchema

    compiled = compile_model(KWS, tmp_path, name="kws", backend="cmsis-nn")
    for format_ in ("platformio", "cmake", "make"):
        export.write_build_file(compiled, format_)
    manifest = ManifestParserFactory.new_from_file(str(tmp_path / "library.json")).as_dict()
    ManifestSchema().load_manifest(manifest)
    assert manifest["dependencies"] == [{"name": "CMSIS-NN", "version": export.CMSIS_NN.platformio_version}]
    script = tmp_path / manifest["build"]["extraScript"]
    compile(script.read_text(), str(script), "exec")  # valid Python
    assert "target_link_libraries(kws PUBLIC cmsis-nn)" in (tmp_path / "CMakeLists.txt").read_text()
    assert "$(CMSIS_NN_PATH)/Include" in (tmp_path / "model.mk").read_text()


def test_build_files_are_deterministic_and_names_sanitized(tmp_path):
    """Two compiles give byte-identical build files; a model name that is no C identifier
    becomes one in the CMake target, the Make variables and the PlatformIO name."""
    texts = []
    for run_index in range(2):
        compiled = compile_model(KWS, tmp_path / str(run_index), name="my model-1 $(x)")
        texts.append({format_: export.write_build_file(compiled, format_).read_text()
                      for format_ in ("platformio", "cmake", "make")})
    assert texts[0] == texts[1]
    assert compiled.name == "my_model_1_x"
    assert json.loads(texts[0]["platformio"])["name"] == "my_model_1_x"
    assert "add_library(my_model_1_x STATIC" in texts[0]["cmake"]
    assert "MY_MODEL_1_X_SOURCES :=" in texts[0]["make"] and "$(x)" not in texts[0]["make"]
    assert export.write_build_file(compiled, "plain") is None


def test_cli_compile_format(tmp_path, capsys):
    """`tinygen compile --format cmake` writes CMakeLists.txt beside the C files and says so."""
    assert cli.main(["compile", str(KWS), "-o", str(tmp_path), "--name", "kws", "--format", "cmake"]) == 0
    assert f"{tmp_path / 'CMakeLists.txt'} (cmake)" in capsys.readouterr().out
    assert not (tmp_path / "library.json").exists()


@pytest.mark.parametrize("toolchain", ["host", "arm"])
def test_cmake_consumer_builds(kws, toolchain, tmp_path):
    """A CMake project adds the exported directory and links the target `kws`: with the host
    gcc it runs and prints TFLite Micro's outputs; with arm-none-eabi-gcc it links an ARM ELF."""
    (tmp_path / "CMakeLists.txt").write_text(CMAKE_CONSUMER)
    (tmp_path / "main.c").write_text(CONSUMER_MAIN)
    configure = ["cmake", "-S", str(tmp_path), "-B", str(tmp_path / "build"), f"-DMODEL_DIR={kws.directory}"]
    if toolchain == "arm":
        (tmp_path / "arm.cmake").write_text(ARM_TOOLCHAIN)
        configure.append(f"-DCMAKE_TOOLCHAIN_FILE={tmp_path / 'arm.cmake'}")
    else:
        configure.append("-DCMAKE_C_COMPILER=gcc")
    run(configure, tmp_path)
    run(["cmake", "--build", str(tmp_path / "build")], tmp_path)
    app = tmp_path / "build" / "app"
    if toolchain == "arm":
        assert_arm_elf(app)
    else:
        assert [int(line) for line in run([str(app)], tmp_path).split()] == zero_input_outputs(kws)


@pytest.mark.parametrize("toolchain", ["host", "arm"])
def test_make_consumer_builds(kws, toolchain, tmp_path):
    """A Makefile includes model.mk and compiles $(KWS_SOURCES) with $(KWS_CFLAGS): host and
    arm-none-eabi-gcc, as for CMake."""
    (tmp_path / "Makefile").write_text(MAKE_CONSUMER)
    (tmp_path / "main.c").write_text(CONSUMER_MAIN)
    variables = [f"MODEL_DIR={kws.directory}"]
    if toolchain == "arm":
        variables += ["CC=arm-none-eabi-gcc", f"CFLAGS={CORTEX_M4}", "LDFLAGS=--specs=nosys.specs"]
    else:
        variables += ["CC=gcc"]
    run(["make", "--no-print-directory", *variables], tmp_path)
    if toolchain == "arm":
        assert_arm_elf(tmp_path / "app")
    else:
        assert [int(line) for line in run([str(tmp_path / "app")], tmp_path).split()] == zero_input_outputs(kws)


@pytest.mark.skipif(not os.environ.get(CMSIS_NN_PATH_VARIABLE), reason=f"{CMSIS_NN_PATH_VARIABLE} is not set "
                    "(a CMSIS-NN checkout; see tinygen/toolchain.py)")
@pytest.mark.parametrize("build", ["cmake", "make"])
def test_consumer_builds_with_cmsis_nn(build, tmp_path):
    """A --kernels cmsis-nn library builds CMSIS-NN from CMSIS_NN_PATH (CMake: its own
    CMakeLists.txt; Make: its kernels join $(KWS_SOURCES)) and still prints TFLite Micro's
    outputs on the host."""
    compiled = compile_model(KWS, tmp_path / "kws", name="kws", backend="cmsis-nn")
    export.write_build_file(compiled, build)
    (tmp_path / "main.c").write_text(CONSUMER_MAIN)
    jobs = f"-j{os.cpu_count() or 1}"
    if build == "cmake":
        (tmp_path / "CMakeLists.txt").write_text(CMAKE_CONSUMER)
        run(["cmake", "-S", str(tmp_path), "-B", str(tmp_path / "build"), f"-DMODEL_DIR={compiled.directory}",
             "-DCMAKE_C_COMPILER=gcc"], tmp_path)
        run(["cmake", "--build", str(tmp_path / "build"), jobs], tmp_path)
        app = tmp_path / "build" / "app"
    else:
        (tmp_path / "Makefile").write_text(MAKE_CONSUMER)
        run(["make", "--no-print-directory", jobs, f"MODEL_DIR={compiled.directory}", "CC=gcc"], tmp_path)
        app = tmp_path / "app"
    assert [int(line) for line in run([str(app)], tmp_path).split()] == zero_input_outputs(compiled)
