"""Compilers: building generated C with the host gcc (and, for boards, arm-none-eabi-gcc).

Every build treats warnings as errors: generated code must compile cleanly under
`-std=c99 -Wall -Wextra -Werror`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .errors import BuildError

WARNING_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
HOST_FLAGS = WARNING_FLAGS + ("-O2", "-fsanitize=address", "-fno-omit-frame-pointer")


def find_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"'{name}' not found on PATH; {hint}")
    return path


def run_tool(command: list[str], what: str, timeout_s: float = 300, cwd: Path | None = None) -> str:
    """Run a build tool; BuildError with the tail of its output if it fails or hangs."""
    try:
        completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{what} did not finish within {timeout_s:.0f} s") from None
    if completed.returncode != 0:
        output = (completed.stderr or completed.stdout).strip().splitlines()
        tail = "\n".join(output[-20:])
        raise BuildError(f"{what} failed (exit {completed.returncode}):\n{tail}")
    return completed.stdout


def compile_host(sources: list[Path], include_dirs: list[Path], output: Path) -> Path:
    """Compile and link C sources into a host executable with the system's gcc."""
    compiler = find_tool("gcc", "install the host C compiler (apt-get install gcc)")
    command = [compiler, *HOST_FLAGS, *(f"-I{d}" for d in include_dirs), *map(str, sources), "-o", str(output)]
    run_tool(command, f"host build of {output.name}")
    return output
