"""platformio.ini and PlatformIO builds, checked offline.

PlatformIO cannot download platforms or toolchains here. What it can do offline is checked:
its own config parser reads platformio.ini (every environment names a real PlatformIO
platform and board that a tinygen board maps to, and an example of firmware_examples/);
`pio project config` runs; and `pio run` builds an example with a local stand-in platform
(tests/platformio/offline_platform: the system's arm-none-eabi-gcc, no download) and the
SCons that pip installed, in the test's temporary directory. That build runs the examples'
pre-build step (tinygen writes the library with its library.json and the board support
code) and PlatformIO's dependency finder, so it proves the real flow short of the vendor
platform's flags. The CMSIS-NN variant needs a checkout (CMSIS_NN_PATH) and is skipped
without one."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from tinygen import export
from tinygen.boards import list_boards
from tinygen.compiler import compile_model
from tinygen.toolchain import CMSIS_NN_PATH_VARIABLE

sys.path.insert(0, str(REPO / "firmware_examples"))
from make_test_inputs import EXAMPLES  # noqa: E402

PIO = Path(sys.executable).parent / "pio"
PLATFORMIO_INI = REPO / "platformio.ini"
OFFLINE_PLATFORM = REPO / "tests" / "platformio" / "offline_platform"
PLATFORMIO_BOARDS = {(board.platformio.platform, board.platformio.board): board
                     for board in list_boards() if board.platformio}


@pytest.fixture(scope="module")
def config():
    from platformio.project.config import ProjectConfig

    project_config = ProjectConfig(str(PLATFORMIO_INI))
    project_config.validate()
    return project_config


def offline_core(directory: Path) -> Path:
    """A PlatformIO core folder that needs no download: its tool-scons package runs the SCons
    that pip installed (the `scons` test dependency)."""
    from platformio.dependencies import get_core_dependencies

    version = get_core_dependencies()["tool-scons"].lstrip("~^=")
    package = directory / "packages" / "tool-scons"
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "tool-scons", "version": version}))
    spec = {"owner": "platformio", "id": None, "name": "tool-scons", "requirements": None, "uri": None}
    (package / ".piopm").write_text(json.dumps({"type": "tool", "name": "tool-scons", "version": version,
                                                "spec": spec}))
    (package / "scons.py").write_text("import sys\n\nfrom SCons.Script.Main import main\n\nsys.exit(main())\n")
    return directory


def pio(arguments: list[str], core: Path, cwd: Path) -> str:
    environment = {**os.environ, "PLATFORMIO_CORE_DIR": str(core),
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    completed = subprocess.run([str(PIO), *arguments], cwd=cwd, capture_output=True, text=True, timeout=300,
                               env=environment)
    assert completed.returncode == 0, f"pio {' '.join(arguments)}:\n{completed.stdout[-3000:]}\n{completed.stderr}"
    return completed.stdout


def test_every_environment_is_a_real_board_and_an_example(config):
    """Each [env:...] names a PlatformIO platform/board that a tinygen board maps to, and an
    example: its sources, model and C name (the header its main.c includes)."""
    environments = config.envs()
    covered = set()
    for name in environments:
        section = f"env:{name}"
        board = PLATFORMIO_BOARDS.get((config.get(section, "platform"), config.get(section, "board")))
        assert board is not None, f"{name}: no tinygen board has this PlatformIO platform and board"
        model, c_name = (config.get(section, option) for option in ("custom_tinygen_model", "custom_tinygen_name"))
        (source_filter,) = config.get(section, "build_src_filter")
        directory = re.fullmatch(r"\+<(\w+)/\*\.c>", source_filter).group(1)
        example = next(example for example in EXAMPLES if example.directory == directory)
        assert (model, c_name) == (example.model, example.name)
        assert f'#include "{c_name}.h"' in example.main.read_text()
        covered.add((example.directory, board.name))
    assert covered == {(example.directory, board) for example in EXAMPLES for board in ("nucleo-l4r5zi", "nrf52840dk")}
    assert config.get("env", "extra_scripts") == ["pre:firmware_examples/platformio_tinygen.py"]
    assert (REPO / "firmware_examples" / "platformio_tinygen.py").is_file()


def test_pio_project_config_runs_offline(tmp_path):
    """`pio project config --json-output` computes every environment without a download."""
    sections = dict(json.loads(pio(["project", "config", "-d", str(REPO), "--json-output"], tmp_path, tmp_path)))
    assert {f"env:{example.name}_nucleo_l4r5zi" for example in EXAMPLES} <= set(sections)


def test_pio_builds_an_example_offline(tmp_path):
    """`pio run -e kws_nucleo_l4r5zi` with the offline stand-in platform: the pre-build step
    runs tinygen, the library is built from its library.json, and the program is a Cortex-M
    ELF with tinygen's vector table at the STM32's flash origin and the model in it."""
    text = PLATFORMIO_INI.read_text()
    text = re.sub(r"^platform = .*$", f"platform = file://{OFFLINE_PLATFORM}", text, flags=re.MULTILINE)
    text = text.replace("[platformio]\n", f"[platformio]\nworkspace_dir = {tmp_path / 'workspace'}\n", 1)
    (tmp_path / "platformio.ini").write_text(text)
    core = offline_core(tmp_path / "core")
    pio(["run", "-d", str(REPO), "-c", str(tmp_path / "platformio.ini"), "-e", "kws_nucleo_l4r5zi"], core, tmp_path)
    build = tmp_path / "workspace" / "build" / "kws_nucleo_l4r5zi"
    assert (build / "tinygen" / "lib" / "kws" / "library.json").is_file()
    assert list(build.glob("lib*/libkws.a")), "the library was not built as a PlatformIO library"
    elf = build / "program.elf"
    symbols = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    assert {"kws_invoke", "Reset_Handler", "main"} <= {line.split()[-1] for line in symbols.splitlines()}
    sections = subprocess.run(["arm-none-eabi-objdump", "-h", str(elf)], capture_output=True, text=True,
                              check=True).stdout
    assert re.search(r"\.vectors\s+\w+\s+08000000", sections)


@pytest.mark.skipif(not os.environ.get(CMSIS_NN_PATH_VARIABLE), reason=f"{CMSIS_NN_PATH_VARIABLE} is not set "
                    "(a CMSIS-NN checkout; see tinygen/toolchain.py)")
def test_pio_builds_a_cmsis_nn_library_offline(tmp_path):
    """A project with a --kernels cmsis-nn library: CMSIS-NN stands where PlatformIO's
    dependency install would put it (no manifest but the one PlatformIO generates); the
    library's extra script limits CMSIS-NN's build to its kernels, and the program links."""
    project = tmp_path / "project"
    compiled = compile_model(REPO / EXAMPLES[0].model, project / "lib" / "kws", name="kws", backend="cmsis-nn")
    export.write_build_file(compiled, "platformio")
    cmsis_nn = project / "lib" / "CMSIS-NN"
    shutil.copytree(os.environ[CMSIS_NN_PATH_VARIABLE], cmsis_nn, ignore=shutil.ignore_patterns(".git"))
    (cmsis_nn / "library.json").write_text(json.dumps({"name": "CMSIS-NN", "version": "0.0.0"}))
    spec = {"owner": None, "id": None, "name": "CMSIS-NN", "requirements": None,
            "uri": f"git+{export.CMSIS_NN.platformio_version}"}
    (cmsis_nn / ".piopm").write_text(json.dumps({"type": "library", "name": "CMSIS-NN", "version": "0.0.0",
                                                 "spec": spec}))
    (project / "src").mkdir()
    (project / "src" / "main.c").write_text('#include "kws.h"\n\nstatic int8_t input[KWS_INPUT0_ELEMENTS];\n'
                                            'static int8_t output[KWS_OUTPUT0_ELEMENTS];\n\n'
                                            'int main(void)\n{\n    return kws_invoke(input, output);\n}\n')
    (project / "platformio.ini").write_text(f"[env:m4]\nplatform = file://{OFFLINE_PLATFORM}\n"
                                            "board = nucleo_l4r5zi\n")
    pio(["run", "-d", str(project)], offline_core(tmp_path / "core"), project)
    symbols = subprocess.run(["arm-none-eabi-nm", str(project / ".pio" / "build" / "m4" / "program.elf")],
                             capture_output=True, text=True, check=True).stdout
    assert "arm_convolve_wrapper_s8" in symbols
