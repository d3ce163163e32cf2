"""Compilers: building generated C with the host gcc (and, for boards, arm-none-eabi-gcc).

Every build of tinygen's C treats warnings as errors: generated code must compile cleanly
under `-std=c99 -Wall -Wextra -Werror`.

Code generated with `--kernels cmsis-nn` calls CMSIS-NN, which tinygen never ships: its
host builds take a CMSIS-NN checkout from the CMSIS_NN_PATH environment variable. The
checkout's kernels (about 150 files) are compiled once into a static library in tinygen's
cache directory, keyed by the checkout's files, the compiler and the flags, and every
later build links against it (the linker takes only the objects a model calls).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError

WARNING_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")
# ASan: an out-of-bounds access to the arena, an input, an output or a weight array fails the run.
HOST_CODE_FLAGS = ("-O2", "-fsanitize=address", "-fno-omit-frame-pointer")
HOST_FLAGS = WARNING_FLAGS + HOST_CODE_FLAGS
# CMSIS-NN's sources on the host: the same code generation, without -Werror on code that is not tinygen's.
CMSIS_NN_HOST_FLAGS = ("-std=c99",) + HOST_CODE_FLAGS
CMSIS_NN_PATH_VARIABLE = "CMSIS_NN_PATH"
GCC_HINT = "install the host C compiler (apt-get install gcc)"


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


def compile_host(sources: list[Path], include_dirs: list[Path], output: Path,
                 archives: tuple[Path, ...] = ()) -> Path:
    """Compile and link C sources (and static libraries) into a host executable with the
    system's gcc."""
    compiler = find_tool("gcc", GCC_HINT)
    command = [compiler, *HOST_FLAGS, *(f"-I{d}" for d in include_dirs), *map(str, sources), *map(str, archives),
               "-o", str(output)]
    run_tool(command, f"host build of {output.name}")
    return output


def cache_dir() -> Path:
    """tinygen's cache of built tools and libraries: $XDG_CACHE_HOME/tinygen or ~/.cache/tinygen."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tinygen"


def make_cache_dir(purpose: str) -> Path:
    """cache_dir(), created if need be; BuildError naming `purpose` if it cannot be."""
    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"cannot create the cache directory {cache} for {purpose} ({error.strerror}); "
                         "set XDG_CACHE_HOME to a writable directory") from None
    return cache


@dataclass(frozen=True)
class BuiltLibrary:
    """A C library built for one compiler and set of flags: what a build that calls it needs."""

    include_dirs: tuple[Path, ...]
    archive: Path


def cmsis_nn_checkout() -> Path:
    """The CMSIS-NN checkout named by CMSIS_NN_PATH; BuildError if unset or not one."""
    value = os.environ.get(CMSIS_NN_PATH_VARIABLE)
    if not value:
        raise BuildError(f"--kernels cmsis-nn code calls CMSIS-NN: set {CMSIS_NN_PATH_VARIABLE} to a CMSIS-NN "
                         "checkout (git clone https://github.com/ARM-software/CMSIS-NN)")
    checkout = Path(value).expanduser().resolve()
    if not (checkout / "Include" / "arm_nnfunctions.h").is_file():
        raise BuildError(f"{CMSIS_NN_PATH_VARIABLE}={value} is not a CMSIS-NN checkout "
                         "(it has no Include/arm_nnfunctions.h)")
    return checkout


def cmsis_nn_sources(checkout: Path) -> list[Path]:
    """CMSIS-NN's integer kernels: every Source/<group>/*.c except the experimental float
    ones (*_f16.c, *_f32.c), which its own CMake build leaves out by default."""
    return sorted(path for path in checkout.glob("Source/*/*.c") if not path.stem.endswith(("_f16", "_f32")))


def cmsis_nn_host_library() -> BuiltLibrary:
    """CMSIS-NN (from CMSIS_NN_PATH) built for the host, from the cache when it is there."""
    return cmsis_nn_library(find_tool("gcc", GCC_HINT), find_tool("ar", "install binutils (apt-get install binutils)"),
                            CMSIS_NN_HOST_FLAGS)


def cmsis_nn_library(compiler: str, archiver: str, flags: tuple[str, ...]) -> BuiltLibrary:
    """CMSIS-NN (from CMSIS_NN_PATH) built with `compiler` and `flags` (e.g. a board's
    -mcpu flags, which select CMSIS-NN's DSP or MVE code), from the cache when it is there."""
    checkout = cmsis_nn_checkout()
    include_dir = checkout / "Include"
    sources = cmsis_nn_sources(checkout)
    if not sources:
        raise BuildError(f"{CMSIS_NN_PATH_VARIABLE}={checkout} has no CMSIS-NN sources under Source/")
    headers = sorted(checkout.glob("Include/**/*.h")) + sorted(checkout.glob("Source/**/*.h"))
    archive = static_library("cmsis-nn", sources, headers, [include_dir], flags, compiler, archiver)
    return BuiltLibrary(include_dirs=(include_dir,), archive=archive)


def static_library(name: str, sources: list[Path], headers: list[Path], include_dirs: list[Path],
                   flags: tuple[str, ...], compiler: str, archiver: str) -> Path:
    """A static library of `sources`, built once into the cache directory. Its key hashes
    the compiler (path and version), the flags and the path, size and modification time of
    every source and header, so an edited checkout or another compiler rebuilds it."""
    key = hashlib.sha256()
    for part in (compiler, run_tool([compiler, "--version"], f"{compiler} --version"), *flags,
                 *map(str, include_dirs)):
        key.update(part.encode() + b"\0")
    for path in [*sources, *headers]:
        stat = path.stat()
        key.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    archive = cache_dir() / f"lib{name}-{key.hexdigest()[:16]}.a"
    if archive.exists():
        return archive
    make_cache_dir(f"lib{name}")
    with tempfile.TemporaryDirectory(dir=archive.parent) as scratch:
        def compile_one(numbered: tuple[int, Path]) -> str:
            index, source = numbered
            obj = Path(scratch) / f"{index:04d}_{source.stem}.o"
            run_tool([compiler, *flags, *(f"-I{d}" for d in include_dirs), "-c", str(source), "-o", str(obj)],
                     f"build of {source.name} for lib{name}")
            return str(obj)

        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            objects = list(pool.map(compile_one, enumerate(sources)))
        built = Path(scratch) / archive.name
        run_tool([archiver, "rcs", str(built), *objects], f"archive of lib{name}")
        built.replace(archive)  # atomic: concurrent builds cannot leave a half-written library
    return archive
