"""Firmware: a generated model library + a harness or an application, cross-compiled for one board.

`build_firmware` renders the harness from templates/firmware/ (startup code and vector table,
linker script, console and exit, the harness main), compiles it with the library using
arm-none-eabi-gcc and the board's flags, links, and reads back how flash and RAM are spent.
`build_application` does the same with a user's application (its own main.c, which prints
through tg_firmware.h's console) in place of the harness; `write_support` only renders the
board support files (start-up, linker script, console), for another build system to compile.

Two targets:
- `Target.QEMU`: linked at the QEMU machine's addresses; the harness reads inputs from host
  files and writes outputs back through semihosting and exits with a status the emulator
  returns (see tinygen.qemu). With `vectors`, it checks embedded test vectors instead.
- `Target.BOARD`: linked at the real chip's addresses, for Renode or the board itself; no
  semihosting (it would stop a core with no debugger attached), so it needs `vectors`: the
  inputs and TensorFlow Lite Micro's outputs are compiled in, checked on the target, and the
  verdict is printed on the board's console UART.

Either way the link uses the real chip's flash and RAM sizes, so a model that would not fit
the board fails here with MemoryOverflowError, which says by how many bytes.
"""

from __future__ import annotations

import enum
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from . import __version__, codegen
from .boards import Board, MemoryRegion, Uart, load_board
from .compiler import CompiledModel
from .errors import BuildError, MemoryOverflowError
from .toolchain import WARNING_FLAGS, cmsis_nn_library, find_tool, run_tool

CROSS_HINT = "install the Arm cross compiler (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
COMMON_CFLAGS = ("-O2", "-g", "-ffunction-sections", "-fdata-sections")
# CMSIS-NN's own sources: the same code generation, without -Werror on code that is not tinygen's.
CMSIS_NN_CFLAGS = ("-std=c99", "-O2", "-ffunction-sections", "-fdata-sections")
LINK_FLAGS = ("-nostartfiles", "--specs=nano.specs", "-Wl,--gc-sections", "-Wl,--no-warn-rwx-segments")
# The fault handler's own stack, above the main stack (which may be what overflowed).
FAULT_STACK_BYTES = 256

# What every firmware needs around its main(): start-up, linker script, console and exit.
_SUPPORT_TEMPLATES = {
    "tg_firmware.h": "firmware/tg_firmware.h.j2",
    "startup.c": "firmware/startup.c.j2",
    "console.c": "firmware/console.c.j2",
    "linker.ld": "firmware/linker.ld.j2",
}
_HARNESS_TEMPLATES = {**_SUPPORT_TEMPLATES, "main.c": "firmware/main.c.j2"}
_OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")


class Target(enum.Enum):
    QEMU = "qemu"
    BOARD = "board"


class ExitStatus(enum.IntEnum):
    """How the harness ends; the emulator returns it as its exit status (SYS_EXIT_EXTENDED)."""

    PASS = 0
    MODEL_ERROR = 1  # the model's invoke function returned non-zero
    HOST_IO = 2  # a semihosting file could not be opened, read or written
    MISMATCH = 3  # an output differs from the embedded TFLite Micro output
    FAULT = 4  # a fault or unexpected exception


@dataclass(frozen=True)
class EmbeddedVectors:
    """Samples to embed in the firmware and TFLite Micro's outputs for them: per graph input
    (output), the arrays of every sample stacked on a new first axis."""

    inputs: tuple[np.ndarray, ...]
    expected: tuple[np.ndarray, ...]

    @property
    def count(self) -> int:
        return int(self.inputs[0].shape[0])

    @classmethod
    def from_samples(cls, samples: list[list[np.ndarray]], expected: list[list[np.ndarray]]) -> EmbeddedVectors:
        if not samples or len(samples) != len(expected):
            raise BuildError(f"test vectors need at least one sample and its outputs "
                             f"(got {len(samples)} samples, {len(expected)} outputs)")
        return cls(inputs=tuple(np.stack(arrays) for arrays in zip(*samples, strict=True)),
                   expected=tuple(np.stack(arrays) for arrays in zip(*expected, strict=True)))


def reference_vectors(compiled: CompiledModel, samples: list[list[np.ndarray]]) -> EmbeddedVectors:
    """Test vectors for `samples`, with the expected outputs from TFLite Micro."""
    from .verify import expected_outputs  # the TFLM runtime, only when vectors are made

    return EmbeddedVectors.from_samples(samples, expected_outputs(compiled, samples))


@dataclass(frozen=True)
class MemoryUsage:
    """Where the firmware's bytes go. Flash = code + weights + test data + .data's initial
    values; RAM = stack (main and fault handler) + data + bss + arena."""

    flash_bytes: int
    ram_bytes: int
    code_bytes: int  # machine code and its constants: harness, kernels, model, libc
    weights_bytes: int  # the model's weights and other constants (<model>_weights.c)
    testdata_bytes: int  # embedded test vectors (0 when inputs come from the host)
    arena_bytes: int
    stack_bytes: int  # reserved for the stack; the peak actually used is measured at run time
    data_bytes: int
    bss_bytes: int
    flash_limit: int
    ram_limit: int


@dataclass(frozen=True)
class Firmware:
    """A linked firmware image and what running it needs to know."""

    board: Board
    target: Target
    model_name: str
    inputs: tuple[codegen.IOPort, ...]
    outputs: tuple[codegen.IOPort, ...]
    layer_summaries: tuple[str, ...]
    profile: bool
    vector_count: int  # embedded test vectors (tinygen's harness)
    app_sources: tuple[Path, ...]  # the application's sources; empty for tinygen's harness
    directory: Path
    elf: Path
    binary: Path
    map_file: Path
    memory: MemoryUsage

    @property
    def reads_host_files(self) -> bool:
        """tinygen's harness without embedded vectors: inputs and outputs are host files."""
        return not self.app_sources and self.vector_count == 0


@dataclass(frozen=True)
class _FirmwareContext:
    """What the firmware templates see."""

    version: str
    board: Board
    target: str
    flash: MemoryRegion
    ram: MemoryRegion
    console: Uart
    semihosting: bool
    model: codegen.Library
    profile: bool
    vectors: EmbeddedVectors | None
    exit_statuses: tuple[ExitStatus, ...]
    fault_stack_bytes: int


def build_firmware(compiled: CompiledModel, board: Board | str, out_dir: str | Path, *,
                   target: Target = Target.QEMU, profile: bool = False,
                   vectors: EmbeddedVectors | None = None) -> Firmware:
    """Cross-compile `compiled` (a library already written to disk) with a harness for
    `board` into `out_dir`: <model>.elf, .bin and .map, the rendered harness in harness/.

    `profile` builds the model with TINYGEN_PROFILE, so that the instruction counter can
    split an inference into layers. BuildError if a compile fails; MemoryOverflowError if
    the firmware does not fit the real chip.
    """
    if target is Target.BOARD and vectors is None:
        raise BuildError("firmware for the board itself checks embedded test vectors: pass `vectors`")
    board = _board(board)
    out = Path(out_dir)
    context = _context(compiled, board, target, profile, vectors)
    harness_dir = _render(context, _HARNESS_TEMPLATES, out / "harness")
    return _build(compiled, context, out, harness_dir, {"harness": sorted(harness_dir.glob("*.c"))}, app_sources=())


def build_application(compiled: CompiledModel, board: Board | str, app_sources: list[str | Path],
                      out_dir: str | Path, *, target: Target = Target.QEMU) -> Firmware:
    """Cross-compile an application (C sources with its own main(), which returns the exit
    status) with the library `compiled` for `board` into `out_dir`: <model>.elf, .bin, .map,
    and the board support files in support/. The application includes "<model>.h" and
    "tg_firmware.h" (console output: tg_print...; on QEMU the exit status reaches the host).
    """
    sources = tuple(Path(source) for source in app_sources)
    if not sources:
        raise BuildError("an application needs at least one C source")
    missing = [str(source) for source in sources if not source.is_file()]
    if missing:
        raise BuildError(f"application source(s) not found: {', '.join(missing)}")
    board = _board(board)
    out = Path(out_dir)
    context = _context(compiled, board, target, profile=False, vectors=None)
    support_dir = _render(context, _SUPPORT_TEMPLATES, out / "support")
    groups = {"support": sorted(support_dir.glob("*.c")), "app": list(sources)}
    return _build(compiled, context, out, support_dir, groups, app_sources=sources)


def write_support(compiled: CompiledModel, board: Board | str, directory: str | Path,
                  target: Target = Target.BOARD) -> Path:
    """Render the board support files for an application (tg_firmware.h, startup.c,
    console.c, linker.ld) into `directory`, without compiling: for another build system."""
    return _render(_context(compiled, _board(board), target, profile=False, vectors=None), _SUPPORT_TEMPLATES,
                   Path(directory))


def _board(board: Board | str) -> Board:
    return load_board(board) if isinstance(board, str) else board


def _context(compiled: CompiledModel, board: Board, target: Target, profile: bool,
             vectors: EmbeddedVectors | None) -> _FirmwareContext:
    if compiled.directory is None:
        raise BuildError("the model library has not been written to disk (compile_model needs out_dir)")
    on_qemu = target is Target.QEMU
    # The target's addresses, the real chip's sizes.
    flash_origin = board.qemu.flash.origin if on_qemu else board.flash.origin
    ram_origin = board.qemu.ram.origin if on_qemu else board.ram.origin
    return _FirmwareContext(
        version=__version__, board=board, target=target.value,
        flash=MemoryRegion(flash_origin, board.flash.size), ram=MemoryRegion(ram_origin, board.ram.size),
        console=board.qemu.console if on_qemu else board.console, semihosting=on_qemu,
        model=compiled.library, profile=profile, vectors=vectors, exit_statuses=tuple(ExitStatus),
        fault_stack_bytes=FAULT_STACK_BYTES)


def _render(context: _FirmwareContext, templates: dict[str, str], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    env = codegen.environment()
    values = {field.name: getattr(context, field.name) for field in fields(context)}
    for file_name, template in templates.items():
        (directory / file_name).write_text(env.get_template(template).render(values))
    return directory


def _build(compiled: CompiledModel, context: _FirmwareContext, out: Path, support_dir: Path,
           sources: dict[str, list[Path]], app_sources: tuple[Path, ...]) -> Firmware:
    """Compile each group of `sources` (objects in obj/<group>) and the model library
    (obj/model), link with the linker script rendered into `support_dir`, make the .bin."""
    board, library = context.board, compiled.library
    compiler = find_tool("arm-none-eabi-gcc", CROSS_HINT)
    defines = ("-DTINYGEN_PROFILE",) if context.profile else ()
    # The application's headers are found beside its sources ("" includes), the rest here.
    flags = [*board.cflags, *WARNING_FLAGS, *COMMON_CFLAGS, *defines, f"-I{support_dir}", f"-I{compiled.directory}"]
    archives = []
    if library.uses_cmsis_nn:
        cmsis_nn = cmsis_nn_library(compiler, find_tool("arm-none-eabi-ar", CROSS_HINT),
                                    (*board.cflags, *CMSIS_NN_CFLAGS))
        flags += [f"-I{directory}" for directory in cmsis_nn.include_dirs]
        archives.append(cmsis_nn.archive)
    # Separate object folders: a model called "main" must not overwrite the harness's main.o.
    objects = [obj for group, files in {**sources, "model": list(compiled.c_files)}.items()
               for obj in _compile_all(compiler, flags, files, out / "obj" / group, board)]
    objects += archives

    elf, binary, map_file = (out / f"{library.name}{suffix}" for suffix in (".elf", ".bin", ".map"))
    _link(compiler, board, objects, support_dir / "linker.ld", elf, map_file)
    run_tool([find_tool("arm-none-eabi-objcopy", CROSS_HINT), "-O", "binary", str(elf), str(binary)],
             f"objcopy of {elf.name}")
    vectors = context.vectors
    return Firmware(board=board, target=Target(context.target), model_name=library.name, inputs=library.inputs,
                    outputs=library.outputs, layer_summaries=tuple(compiled.layer_summaries),
                    profile=context.profile, vector_count=vectors.count if vectors else 0, app_sources=app_sources,
                    directory=out, elf=elf, binary=binary, map_file=map_file,
                    memory=memory_usage(elf, board, context.flash, context.ram))


def _compile_all(compiler: str, flags: list[str], sources: list[Path], object_dir: Path, board: Board) -> list[Path]:
    object_dir.mkdir(parents=True, exist_ok=True)

    def compile_one(source: Path) -> Path:
        target = object_dir / f"{source.stem}.o"
        run_tool([compiler, *flags, "-c", str(source), "-o", str(target)],
                 f"cross-compilation of {source.name} for {board.name}")
        return target

    with ThreadPoolExecutor() as pool:
        return list(pool.map(compile_one, sources))


def _link(compiler: str, board: Board, objects: list[Path], script: Path, elf: Path, map_file: Path) -> None:
    command = [compiler, *board.cflags, *LINK_FLAGS, "-T", str(script), f"-Wl,-Map={map_file}",
               "-o", str(elf), *map(str, objects)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if completed.returncode == 0:
        return
    overflows = {region: int(extra) for region, extra in _OVERFLOW.findall(completed.stderr)}
    if overflows:
        raise MemoryOverflowError(f"{board.name} ({board.chip})", overflows,
                                  {"FLASH": board.flash.size, "RAM": board.ram.size})
    tail = "\n".join(completed.stderr.strip().splitlines()[-20:])
    raise BuildError(f"linking {elf.name} for {board.name} failed (exit {completed.returncode}):\n{tail}")


@dataclass(frozen=True)
class _Section:
    name: str
    size: int
    vma: int
    lma: int
    loaded: bool  # has contents in the image (not NOLOAD / .bss)


def _sections(elf: Path) -> list[_Section]:
    """The allocated sections of `elf`, from `objdump -h`."""
    listing = run_tool([find_tool("arm-none-eabi-objdump", CROSS_HINT), "-h", str(elf)], f"objdump of {elf.name}")
    header = re.compile(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+[0-9a-f]+\s+\S+$")
    lines = listing.splitlines()
    sections = []
    for line, flags in zip(lines, lines[1:]):
        match = header.match(line)
        if match and "ALLOC" in flags:
            name, size, vma, lma = match.groups()
            sections.append(_Section(name, int(size, 16), int(vma, 16), int(lma, 16), "LOAD" in flags))
    return sections


def memory_usage(elf: Path, board: Board, flash: MemoryRegion, ram: MemoryRegion) -> MemoryUsage:
    """Sizes of a linked firmware; `flash` and `ram` are the regions it was linked for."""
    sections = _sections(elf)
    sizes = {section.name: section.size for section in sections}
    flash_bytes = sum(s.size for s in sections if s.loaded and flash.origin <= s.lma < flash.end)
    ram_bytes = sum(s.size for s in sections if ram.origin <= s.vma < ram.end)
    weights, testdata, data = sizes.get(".weights", 0), sizes.get(".testdata", 0), sizes.get(".data", 0)
    return MemoryUsage(flash_bytes=flash_bytes, ram_bytes=ram_bytes,
                       code_bytes=flash_bytes - weights - testdata - data, weights_bytes=weights,
                       testdata_bytes=testdata, arena_bytes=sizes.get(".arena", 0),
                       stack_bytes=sizes.get(".stack", 0), data_bytes=data, bss_bytes=sizes.get(".bss", 0),
                       flash_limit=board.flash.size, ram_limit=board.ram.size)
