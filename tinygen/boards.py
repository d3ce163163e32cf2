"""Boards: the Cortex-M development boards tinygen builds firmware for.

Each board is one TOML file in `boards/` (see any of them for the format). It names the real
chip (core, FPU / DSP / MVE, flash and RAM origins and sizes, the UART that is the board's
console), the compiler flags for that core, the QEMU machine with the same core that emulates
it (with that machine's memory map and console UART) and, optionally, its Renode platform
and the PlatformIO platform and board that build for it.

Emulated runs link at the QEMU machine's addresses but with the real chip's flash and RAM
sizes as limits, so a model that would not fit the real board fails to link. That only holds
if the QEMU machine has at least as much memory as the chip: `load_board` checks it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from tinygen.errors import BoardError

BOARDS_DIR = Path(__file__).resolve().parent.parent / "boards"

CORES = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55")
# Console UART register interfaces the firmware harness has a driver for
# (templates/firmware/uart/<kind>.c.j2).
UART_KINDS = ("cmsdk", "stm32-usart-v1", "stm32-usart-v2", "nrf-uarte")
QEMU_MACHINES = {
    "mps2-an385": "cortex-m3",
    "mps2-an386": "cortex-m4",
    "mps2-an500": "cortex-m7",
    "mps2-an505": "cortex-m33",
    "mps3-an547": "cortex-m55",
}


@dataclass(frozen=True)
class MemoryRegion:
    """A contiguous memory range: `origin` and `size` in bytes."""

    origin: int
    size: int

    @property
    def end(self) -> int:
        return self.origin + self.size


@dataclass(frozen=True)
class Uart:
    """A console UART: its register interface (one of UART_KINDS) and base address."""

    kind: str
    base: int


@dataclass(frozen=True)
class QemuMachine:
    """The QEMU machine that emulates a board: its name and the memory the firmware uses."""

    machine: str
    flash: MemoryRegion
    ram: MemoryRegion
    console: Uart


@dataclass(frozen=True)
class RenodePlatform:
    """How Renode emulates a board.

    Exactly one of `platform` (a platform description shipped with Renode, as a path inside
    the Renode installation, e.g. "platforms/cpus/stm32f746.repl") and `platform_file` (one
    shipped with tinygen, an absolute path under boards/) is set. `uart` is the Renode
    peripheral the console prints to, e.g. "sysbus.usart3".
    """

    platform: str | None
    platform_file: Path | None
    uart: str


@dataclass(frozen=True)
class PlatformioBoard:
    """The same board in PlatformIO: its development platform (e.g. "ststm32") and board ID
    (e.g. "nucleo_l4r5zi"), as a platformio.ini environment names them."""

    platform: str
    board: str


@dataclass(frozen=True)
class Board:
    """A development board: the real chip, how to compile for it and how to emulate it."""

    name: str
    description: str
    chip: str
    core: str
    fpu: str | None
    dsp: bool
    mve: bool
    cflags: tuple[str, ...]
    stack_bytes: int
    flash: MemoryRegion
    ram: MemoryRegion
    console: Uart
    qemu: QemuMachine
    renode: RenodePlatform | None
    platformio: PlatformioBoard | None
    source: Path

    @property
    def is_armv8m(self) -> bool:
        """Armv8-M mainline (M33, M55): has the MSPLIM stack limit register."""
        return self.core in ("cortex-m33", "cortex-m55")

    @property
    def has_fault_status_registers(self) -> bool:
        """Mainline cores (everything but the M0+) have CFSR/HFSR/MMFAR/BFAR."""
        return self.core != "cortex-m0plus"

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(name for name, present in (("FPU", self.fpu), ("DSP", self.dsp), ("MVE", self.mve)) if present)

    def to_json(self) -> dict:
        """What `tinygen boards --json` shows of a board."""
        return {
            "name": self.name, "description": self.description, "chip": self.chip, "core": self.core,
            "fpu": self.fpu, "dsp": self.dsp, "mve": self.mve, "cflags": list(self.cflags),
            "flash": {"origin": self.flash.origin, "size": self.flash.size},
            "ram": {"origin": self.ram.origin, "size": self.ram.size},
            "qemu_machine": self.qemu.machine,
            "renode_platform": (self.renode.platform or self.renode.platform_file.name) if self.renode else None,
            "renode_uart": self.renode.uart if self.renode else None,
            "platformio": ({"platform": self.platformio.platform, "board": self.platformio.board}
                           if self.platformio else None),
        }


def list_boards() -> list[Board]:
    """Every board in boards/, sorted by name."""
    return [_load(path) for path in sorted(BOARDS_DIR.glob("*.toml"))]


def boards_table(boards: list[Board]) -> str:
    """One line per board: name, chip, core and extensions, flash, RAM, emulators."""
    rows = [("board", "chip", "core", "flash", "RAM", "QEMU", "Renode")]
    for board in boards:
        core = "+".join((board.core, *board.extensions))
        rows.append((board.name, board.chip, core, f"{board.flash.size // 1024} KB", f"{board.ram.size // 1024} KB",
                     board.qemu.machine, "yes" if board.renode else "no"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def board_names() -> list[str]:
    return sorted(path.stem for path in BOARDS_DIR.glob("*.toml"))


def load_board(name: str) -> Board:
    """The board called `name`; BoardError listing the known boards if there is none."""
    path = BOARDS_DIR / f"{name}.toml"
    if not path.is_file():
        raise BoardError(f"unknown board '{name}'; known boards: {', '.join(board_names())}")
    return _load(path)


def _load(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise BoardError(f"{path}: not valid TOML: {error}") from None
    reader = _Reader(path, data)
    name = reader.string("name")
    if name != path.stem:
        raise BoardError(f"{path}: name '{name}' differs from the file name '{path.stem}'")
    core = reader.choice("core", CORES)
    fpu = reader.optional_string("fpu")
    cflags = tuple(reader.string_list("cflags"))
    _check_cflags(path, core, fpu, cflags)
    qemu_table = _Reader(path, reader.table("qemu"), "qemu")
    machine = qemu_table.choice("machine", tuple(QEMU_MACHINES))
    if QEMU_MACHINES[machine] != core:
        raise BoardError(f"{path}: QEMU machine {machine} has a {QEMU_MACHINES[machine]}, "
                         f"the board a {core}")
    board = Board(
        name=name,
        description=reader.string("description"),
        chip=reader.string("chip"),
        core=core,
        fpu=fpu,
        dsp=reader.boolean("dsp"),
        mve=reader.boolean("mve"),
        cflags=cflags,
        stack_bytes=reader.positive_int("stack_bytes"),
        flash=reader.region("flash"),
        ram=reader.region("ram"),
        console=reader.uart("console"),
        qemu=QemuMachine(machine, qemu_table.region("flash"), qemu_table.region("ram"),
                         qemu_table.uart("console")),
        renode=_renode(path, reader) if "renode" in data else None,
        platformio=_platformio(path, reader) if "platformio" in data else None,
        source=path,
    )
    for region in ("flash", "ram"):
        real, emulated = getattr(board, region), getattr(board.qemu, region)
        if emulated.size < real.size:
            raise BoardError(f"{path}: QEMU {machine} has {emulated.size} bytes of {region}, "
                             f"fewer than the chip's {real.size}")
    return board


def _check_cflags(path: Path, core: str, fpu: str | None, cflags: tuple[str, ...]) -> None:
    """The flags must target the board's core and agree with its FPU."""
    if f"-mcpu={core}" not in cflags:
        raise BoardError(f"{path}: cflags lack -mcpu={core}")
    hard_float = "-mfloat-abi=hard" in cflags
    if (fpu is not None) != hard_float:
        raise BoardError(f"{path}: a board with an FPU uses -mfloat-abi=hard, one without does not")
    for flag in cflags:
        if flag.startswith("-mfpu=") and flag != f"-mfpu={fpu}":
            raise BoardError(f"{path}: {flag} contradicts fpu = {fpu!r}")


def _renode(path: Path, reader: _Reader) -> RenodePlatform:
    table = _Reader(path, reader.table("renode"), "renode")
    platform = table.optional_string("platform")
    platform_file = table.optional_string("platform_file")
    if (platform is None) == (platform_file is None):
        raise BoardError(f"{path}: [renode] needs exactly one of 'platform' and 'platform_file'")
    shipped = None
    if platform_file is not None:
        shipped = (path.parent / platform_file).resolve()
        if not shipped.is_file():
            raise BoardError(f"{path}: Renode platform file {shipped} does not exist")
    return RenodePlatform(platform, shipped, table.string("uart"))


def _platformio(path: Path, reader: _Reader) -> PlatformioBoard:
    table = _Reader(path, reader.table("platformio"), "platformio")
    return PlatformioBoard(table.string("platform"), table.string("board"))


class _Reader:
    """Typed access to one TOML table, with errors that name the file and the key."""

    def __init__(self, path: Path, data: dict, prefix: str = ""):
        self.path, self.data, self.prefix = path, data, prefix

    def _get(self, key: str, kind: type | tuple[type, ...], what: str):
        where = f"{self.prefix}.{key}" if self.prefix else key
        if key not in self.data:
            raise BoardError(f"{self.path}: missing '{where}' ({what})")
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BoardError(f"{self.path}: '{where}' must be {what}, not {value!r}")
        return value

    def string(self, key: str) -> str:
        return self._get(key, str, "a string")

    def optional_string(self, key: str) -> str | None:
        return self.string(key) if key in self.data else None

    def boolean(self, key: str) -> bool:
        return self._get(key, bool, "true or false")

    def positive_int(self, key: str) -> int:
        value = self._get(key, int, "a positive integer")
        if value <= 0:
            raise BoardError(f"{self.path}: '{key}' must be a positive integer, not {value}")
        return value

    def string_list(self, key: str) -> list[str]:
        values = self._get(key, list, "a list of strings")
        if not all(isinstance(value, str) for value in values):
            raise BoardError(f"{self.path}: '{key}' must be a list of strings")
        return values

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.string(key)
        if value not in choices:
            raise BoardError(f"{self.path}: '{key}' is {value!r}; expected one of {', '.join(choices)}")
        return value

    def table(self, key: str) -> dict:
        return self._get(key, dict, "a table")

    def region(self, key: str) -> MemoryRegion:
        table = _Reader(self.path, self.table(key), key)
        origin = table._get("origin", int, "an address")
        return MemoryRegion(origin, table.positive_int("size"))

    def uart(self, key: str) -> Uart:
        table = _Reader(self.path, self.table(key), key)
        return Uart(table.choice("kind", UART_KINDS), table._get("base", int, "an address"))
