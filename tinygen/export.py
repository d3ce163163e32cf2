"""Export: the build file that drops a generated library into someone else's firmware build.

`tinygen compile --format F` writes, beside the C files, one file rendered from
templates/export/:
- platformio: library.json, a PlatformIO library (copy the folder into the project's lib/);
  calling CMSIS-NN, also tinygen_cmsis_nn.py, its extra script (see the template);
- cmake: CMakeLists.txt, a static library target named after the model (add_subdirectory);
- make: model.mk, a fragment that defines <NAME>_SOURCES and <NAME>_CFLAGS (include);
- plain: nothing more.

Each carries the flags the generated code needs (C99), and, when the model calls CMSIS-NN
(`--kernels cmsis-nn`), how to get CMSIS-NN: a PlatformIO dependency on its repository, or
for CMake and Make a checkout named by CMSIS_NN_PATH (as tinygen's own builds use). Output
is deterministic: sorted sources, no dates, no absolute paths.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .errors import TinygenError
from .files import write_output

if TYPE_CHECKING:
    from .compiler import CompiledModel

FORMATS = ("plain", "platformio", "cmake", "make")
# Format -> the file written beside the library and its template.
BUILD_FILES = {
    "platformio": {"library.json": "export/library.json.j2"},
    "cmake": {"CMakeLists.txt": "export/CMakeLists.txt.j2"},
    "make": {"model.mk": "export/model.mk.j2"},
}
# PlatformIO's extra script of a library that calls CMSIS-NN (library.json names it).
PLATFORMIO_CMSIS_NN_SCRIPT = "tinygen_cmsis_nn.py"
C_STANDARD = "99"
# What the generated C needs from a compiler beyond its defaults: C99 (it is warning-free
# under -std=c99 -Wall -Wextra, as tinygen builds it).
C_FLAGS = (f"-std=c{C_STANDARD}",)


@dataclass(frozen=True)
class CmsisNN:
    """Where a build gets CMSIS-NN from: the release tinygen's CMSIS-NN calls are written for."""

    git: str = "https://github.com/ARM-software/CMSIS-NN.git"
    tag: str = "v7.0.0"

    @property
    def platformio_version(self) -> str:
        """A PlatformIO dependency version: the repository at the tag."""
        return f"{self.git}#{self.tag}"


CMSIS_NN = CmsisNN()


def write_build_file(compiled: CompiledModel, format_: str) -> Path | None:
    """Write the build file of `format_` (and any script it needs) beside `compiled`'s C
    files; returns the build file's path (None for "plain")."""
    if format_ not in FORMATS:
        raise TinygenError(f"unknown export format '{format_}'; choose one of {', '.join(FORMATS)}")
    if format_ == "plain":
        return None
    if compiled.directory is None:
        raise TinygenError("the library has not been written to disk: compile with an output directory")
    files = dict(BUILD_FILES[format_])
    if format_ == "platformio" and compiled.library.uses_cmsis_nn:
        files[PLATFORMIO_CMSIS_NN_SCRIPT] = "export/cmsis_nn_platformio.py.j2"
    for file_name, template in files.items():
        write_output(compiled.directory / file_name, render_build_file(compiled, template))
    return compiled.directory / next(iter(BUILD_FILES[format_]))


def render_build_file(compiled: CompiledModel, template: str) -> str:
    from . import codegen  # here, so that the CLI can read FORMATS without loading the compiler

    library = compiled.library
    source_sha256 = hashlib.sha256(compiled.source.read_bytes()).hexdigest()
    # Safe in a #-comment of CMake or Make: one printable line, no line continuation.
    source = codegen.c_comment(compiled.source.name).replace("\\", "/")
    context = dict(
        name=library.name, NAME=library.name.upper(), version=__version__,
        # PlatformIO wants a semantic version: tinygen's, with the model's hash as build metadata.
        library_version=f"{__version__}+model.{source_sha256[:12]}",
        description=f"{source} compiled by tinygen {__version__}: int8 inference in plain C99, "
                    "bit-exact with TensorFlow Lite Micro",
        source=source, source_sha256=source_sha256,
        sources=sorted(file_name for file_name in library.files if file_name.endswith(".c")),
        c_flags=list(C_FLAGS), c_standard=C_STANDARD,
        cmsis_nn=CMSIS_NN if library.uses_cmsis_nn else None, cmsis_nn_script=PLATFORMIO_CMSIS_NN_SCRIPT,
    )
    env = codegen.environment()
    env.filters["json"] = json.dumps
    return env.get_template(template).render(context)
