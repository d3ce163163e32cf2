"""PlatformIO pre-build step of the firmware examples (platformio.ini: extra_scripts = pre:...).

The generated code is not committed: before PlatformIO compiles an example, this step runs
tinygen (which must be on PATH: `pip install tinygen`, or this repository's .venv/bin) to
write, into $BUILD_DIR/tinygen/,
- lib/<name>/: the model's C library with its library.json (`--format platformio`); it is
  added to the library search path, so PlatformIO's dependency finder builds it as soon as
  main.c includes "<name>.h";
- support/: tinygen's start-up code and vector table, console UART driver and linker script
  for the board (`tinygen build --sources-only`), compiled with the application; the
  environment's board_build.ldscript points at the linker script.

The environment names the model (custom_tinygen_model) and the C name main.c calls it by
(custom_tinygen_name); the tinygen board is the one whose boards/*.toml gives this
environment's PlatformIO board in its [platformio] table, and its core flags (-mcpu, FPU,
float ABI) are added to the compile and link flags.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from SCons.Script import DefaultEnvironment

env = DefaultEnvironment()  # the environment PlatformIO exports to its pre-build scripts


def tinygen(*arguments: str) -> str:
    command = shutil.which("tinygen")
    if command is None:
        sys.stderr.write("Error: `tinygen` is not on PATH; install it (pip install tinygen) to build the examples\n")
        env.Exit(1)
    completed = subprocess.run([command, *arguments], capture_output=True, text=True)
    if completed.returncode != 0:
        sys.stderr.write(f"Error: tinygen {' '.join(arguments)} failed:\n{completed.stdout}{completed.stderr}")
        env.Exit(1)
    return completed.stdout


def tinygen_board(platformio_board: str) -> dict:
    boards = json.loads(tinygen("boards", "--json"))
    for board in boards:
        if (board["platformio"] or {}).get("board") == platformio_board:
            return board
    known = ", ".join(board["platformio"]["board"] for board in boards if board["platformio"])
    sys.stderr.write(f"Error: no tinygen board is PlatformIO's {platformio_board} (known: {known})\n")
    env.Exit(1)


board = tinygen_board(env.subst("$BOARD"))
model = Path(env.subst("$PROJECT_DIR")) / env.GetProjectOption("custom_tinygen_model")
out = Path(env.subst("$BUILD_DIR")) / "tinygen"
tinygen("build", str(model), "--board", board["name"], "--name", env.GetProjectOption("custom_tinygen_name"),
        "--format", "platformio", "--sources-only", "-o", str(out))

env.Append(
    LIBSOURCE_DIRS=[str(out / "lib")],
    CPPPATH=[str(out / "support")],
    CCFLAGS=board["cflags"],
    LINKFLAGS=[*board["cflags"], "-nostartfiles", "--specs=nano.specs"],
)
env.BuildSources("$BUILD_DIR/tinygen_support", str(out / "support"))
