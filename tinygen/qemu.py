"""Running firmware in QEMU: inputs in, outputs and exact instruction counts out.

`run_firmware` starts qemu-system-arm on the board's QEMU machine in a fresh working
directory. The harness (templates/firmware/main.c.j2) reads input<i>.bin from that
directory through semihosting, runs one inference per sample, writes output<i>.bin, prints
"TINYGEN ..." lines on the semihosting console (QEMU's stderr) and exits with an
`ExitStatus` that QEMU returns (SYS_EXIT_EXTENDED). Firmware with embedded test vectors
needs no files: it checks itself and the exit status says whether it matched.

Failures are reported, not hidden: a fault prints its registers and exits with FAULT; a
fault inside the fault handler locks the core up, which QEMU 7.2 turns into an abort; a
hang or endless loop is killed after `timeout_s`.

Instruction counts come from a TCG plugin (tinygen/qemu_plugin/tg_icount.c, built on demand
with the host gcc into the user's cache directory): it counts every executed instruction and
records the count whenever execution reaches the harness's marker functions, around each
inference and, in firmware built with `profile=True`, between layers. Counts are exact and
identical from run to run; they include the call of the model's invoke function and, when
profiling, the few instructions of each layer marker call.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .compiler import compile_model
from .errors import BuildError, FirmwareFaultError, FirmwareTimeoutError, VerificationError
from .firmware import CROSS_HINT, ExitStatus, Firmware, Target, build_firmware
from .toolchain import GCC_HINT, cache_dir, find_tool, run_tool
from .verify import Samples, VerifyResult, check, samples_for

PLUGIN_DIR = Path(__file__).resolve().parent / "qemu_plugin"
QEMU_HINT = "install QEMU (apt-get install qemu-system-arm)"
DEFAULT_TIMEOUT_S = 120.0

# The harness's marker functions: around each inference, and (profiled firmware) between layers.
_INFERENCE_MARKERS = ("tg_mark_inference_begin", "tg_mark_inference_end")
_LAYER_MARKER = "tinygen_profile_mark"
# Configurable Fault Status Register bits (Armv7-M / Armv8-M), named in fault reports.
_CFSR_BITS = {
    0: "IACCVIOL", 1: "DACCVIOL", 3: "MUNSTKERR", 4: "MSTKERR", 5: "MLSPERR", 7: "MMARVALID",
    8: "IBUSERR", 9: "PRECISERR", 10: "IMPRECISERR", 11: "UNSTKERR", 12: "STKERR", 13: "LSPERR", 15: "BFARVALID",
    16: "UNDEFINSTR", 17: "INVSTATE", 18: "INVPC", 19: "NOCP", 20: "STKOF", 24: "UNALIGNED", 25: "DIVBYZERO",
}


@dataclass(frozen=True)
class InstructionCounts:
    """Instructions executed, counted by the QEMU plugin."""

    per_inference: tuple[int, ...]  # from entering the inference marker to leaving the invoke call
    per_layer: tuple[tuple[int, ...], ...]  # [inference][layer]; empty unless the firmware is profiled
    total: int  # the whole run: start-up, host I/O and every inference

    @property
    def max_per_inference(self) -> int:
        return max(self.per_inference)


@dataclass(frozen=True)
class QemuRun:
    """One run of a firmware in QEMU."""

    outputs: Samples  # per sample, per graph output (empty for firmware with embedded vectors)
    instructions: InstructionCounts | None
    stack_peak_bytes: int
    console: str  # the "TINYGEN ..." lines the harness printed on the semihosting console
    uart: str  # what it printed on the board's console UART (the same lines)
    wall_s: float


def plugin_path() -> Path:
    """The instruction-counting plugin, compiled on first use into the cache directory
    (keyed by a hash of its sources, so an edit rebuilds it)."""
    sources = sorted(PLUGIN_DIR.glob("*.[ch]"))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:16]
    cache = cache_dir()
    library = cache / f"tg_icount-{digest}.so"
    if library.exists():
        return library
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BuildError(f"cannot create the cache directory {cache} for the QEMU plugin ({error.strerror}); "
                         "set XDG_CACHE_HOME to a writable directory") from None
    compiler = find_tool("gcc", GCC_HINT)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        built = Path(scratch) / library.name
        run_tool([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{PLUGIN_DIR}",
                  str(PLUGIN_DIR / "tg_icount.c"), "-o", str(built)], "build of the QEMU instruction-counting plugin")
        built.replace(library)  # atomic: concurrent builds cannot leave a half-written file
    return library


def marker_addresses(firmware: Firmware) -> dict[str, int]:
    """Addresses of the harness's marker functions in the firmware (Thumb bit cleared)."""
    listing = run_tool([find_tool("arm-none-eabi-nm", CROSS_HINT), str(firmware.elf)], f"nm of {firmware.elf.name}")
    wanted = _INFERENCE_MARKERS + ((_LAYER_MARKER,) if firmware.profile else ())
    addresses = {}
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in wanted:
            addresses[parts[2]] = int(parts[0], 16) & ~1
    missing = [name for name in wanted if name not in addresses]
    if missing:
        raise BuildError(f"{firmware.elf.name} lacks the marker function(s) {', '.join(missing)}")
    return {name: addresses[name] for name in wanted}


def run_firmware(firmware: Firmware, samples: Samples | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 count_instructions: bool = False) -> QemuRun:
    """Run `firmware` (built for Target.QEMU) in QEMU on `samples` (per sample, one array per
    graph input), or, when `samples` is None, as it is: on its embedded test vectors, or an
    application (what it printed is in `uart`).

    Raises FirmwareFaultError (fault, lockup), FirmwareTimeoutError (hang), VerificationError
    (embedded vectors differ) or BuildError (any other failure).
    """
    if firmware.target is not Target.QEMU:
        raise BuildError(f"{firmware.elf.name} is linked for the {firmware.board.chip}, not for QEMU")
    if (samples is not None) != firmware.reads_host_files:
        raise BuildError("pass samples to firmware that reads host files, and none to other firmware "
                         "(embedded test vectors, an application)")
    if samples is not None and not samples:
        raise BuildError("no samples to run")
    qemu = find_tool("qemu-system-arm", QEMU_HINT)
    machine = firmware.board.qemu.machine
    with tempfile.TemporaryDirectory(prefix="tinygen-qemu-") as scratch:
        work = Path(scratch)
        if samples is not None:
            _write_inputs(firmware, samples, work)
        uart_log = work / "uart.log"
        command = [qemu, "-M", machine, "-nographic", "-monitor", "none", "-serial", f"file:{uart_log}",
                   "-semihosting-config", "enable=on,target=native", "-kernel", str(firmware.elf.resolve())]
        markers = marker_addresses(firmware) if count_instructions else {}
        if count_instructions:
            marks = ":".join(f"{address:x}" for address in markers.values())
            command += ["-plugin", f"{plugin_path()},marks={marks},out={work / 'counts.txt'}"]
        where = f"{firmware.elf.name} on {firmware.board.name} (QEMU {machine})"
        started = time.monotonic()
        try:
            completed = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as expired:
            console = _console(_text(expired.stderr))
            raise FirmwareTimeoutError(f"{where} did not finish within {timeout_s:g} s: the firmware hangs "
                                       f"or loops{_last_lines(console)}") from None
        wall_s = time.monotonic() - started
        console = _console(completed.stderr)
        _check_exit(completed, console, where)
        count = len(samples) if samples is not None else firmware.vector_count
        outputs = _read_outputs(firmware, count, work) if samples is not None else []
        instructions = (_instruction_counts(work / "counts.txt", list(markers), count, firmware)
                        if count_instructions else None)
        uart = uart_log.read_text(errors="replace") if uart_log.exists() else ""
    stack = re.search(r"^TINYGEN STACK (\d+) bytes$", console, re.MULTILINE)
    return QemuRun(outputs=outputs, instructions=instructions, stack_peak_bytes=int(stack.group(1)) if stack else 0,
                   console=console, uart=uart, wall_s=wall_s)


class QemuRunner:
    """A runner for `tinygen.verify.check`: runs samples through a firmware in QEMU and keeps
    the last run (instruction counts, stack peak) in `last_run`."""

    def __init__(self, firmware: Firmware, timeout_s: float = DEFAULT_TIMEOUT_S, count_instructions: bool = True):
        self.firmware = firmware
        self.timeout_s = timeout_s
        self.count_instructions = count_instructions
        self.last_run: QemuRun | None = None

    def __call__(self, samples: Samples) -> Samples:
        self.last_run = run_firmware(self.firmware, samples, self.timeout_s, self.count_instructions)
        return self.last_run.outputs


@dataclass(frozen=True)
class BoardVerification:
    """`tinygen verify --board`: the comparison with TFLite Micro and what the run measured."""

    result: VerifyResult
    firmware: Firmware
    run: QemuRun

    def to_json(self) -> dict:
        memory, counts = self.firmware.memory, self.run.instructions
        return {
            **self.result.to_json(),
            "board": self.firmware.board.name,
            "emulator": f"qemu {self.firmware.board.qemu.machine}",
            "instructions_per_inference": counts.max_per_inference if counts else None,
            "instructions_by_inference": list(counts.per_inference) if counts else None,
            "flash_bytes": memory.flash_bytes,
            "ram_bytes": memory.ram_bytes,
            "arena_bytes": memory.arena_bytes,
            "weights_bytes": memory.weights_bytes,
            "code_bytes": memory.code_bytes,
            "stack_bytes": self.run.stack_peak_bytes,
            "stack_reserved_bytes": memory.stack_bytes,
            "flash_limit_bytes": memory.flash_limit,
            "ram_limit_bytes": memory.ram_limit,
        }

    def summary(self) -> str:
        """One paragraph for the console: instructions, flash and RAM with their parts."""
        memory, counts = self.firmware.memory, self.run.instructions
        instructions = f"{counts.max_per_inference:,} instructions per inference" if counts else "not counted"
        return (f"{self.firmware.board.name}: {instructions}; flash {memory.flash_bytes:,} B of "
                f"{memory.flash_limit:,} (weights {memory.weights_bytes:,}, code {memory.code_bytes:,}); "
                f"RAM {memory.ram_bytes:,} B of {memory.ram_limit:,} (arena {memory.arena_bytes:,}, "
                f"stack peak {self.run.stack_peak_bytes:,} of {memory.stack_bytes:,} reserved)")

    def profile_table(self) -> str:
        """Instructions per layer (the largest over all inferences), one line per layer."""
        counts = self.run.instructions
        if counts is None or not counts.per_layer:
            raise BuildError("no per-layer counts: build the firmware with profile=True and count instructions")
        per_layer = [max(column) for column in zip(*counts.per_layer)]
        total = counts.max_per_inference
        width = max(len(summary) for summary in self.firmware.layer_summaries)
        lines = [f"{'#':>3}  {'layer':<{width}}  {'instructions':>12}  {'share':>6}"]
        for index, (summary, executed) in enumerate(zip(self.firmware.layer_summaries, per_layer, strict=True)):
            lines.append(f"{index:>3}  {summary:<{width}}  {executed:>12,}  {executed / total:>6.1%}")
        lines.append(f"{'':>3}  {'total per inference':<{width}}  {total:>12,}")
        return "\n".join(lines)


def verify_in_qemu(model_path: str | Path, board: str, count: int = 5, seed: int = 0,
                   inputs_file: str | Path | None = None, backend: str = "tinygen", profile: bool = False,
                   timeout_s: float = DEFAULT_TIMEOUT_S, work_dir: str | Path | None = None,
                   data=None, weights: str = "auto") -> BoardVerification:
    """Compile the model (its weights stored as the --weights mode `weights` says), build its
    firmware for `board`, run `count` seeded samples (plus any from `inputs_file`) in QEMU
    and compare every output byte with TFLite Micro.
    (A Keras model is first converted to int8 with `data` calibrating it.)"""
    with tempfile.TemporaryDirectory(prefix="tinygen-board-") as temporary:
        directory = Path(work_dir) if work_dir else Path(temporary)
        compiled = compile_model(model_path, directory / "model", backend=backend, data=data, weights=weights)
        firmware = build_firmware(compiled, board, directory / "firmware", profile=profile)
        runner = QemuRunner(firmware, timeout_s, count_instructions=True)
        samples = samples_for(compiled.graph, count, seed, inputs_file)
        result = check(compiled, runner, samples, target=f"{firmware.board.name} (QEMU {firmware.board.qemu.machine})")
        return BoardVerification(result=result, firmware=firmware, run=runner.last_run)


def _write_inputs(firmware: Firmware, samples: Samples, work: Path) -> None:
    for port in firmware.inputs:
        with open(work / f"input{port.position}.bin", "wb") as stream:
            for sample in samples:
                stream.write(np.ascontiguousarray(sample[port.position], dtype=port.tensor.dtype).tobytes())


def _read_outputs(firmware: Firmware, count: int, work: Path) -> Samples:
    per_port = []
    for port in firmware.outputs:
        tensor = port.tensor
        data = (work / f"output{port.position}.bin").read_bytes()
        if len(data) != count * tensor.nbytes:
            raise BuildError(f"the firmware wrote {len(data)} bytes to output{port.position}.bin, "
                             f"expected {count * tensor.nbytes}")
        per_port.append(np.frombuffer(data, dtype=tensor.dtype).reshape((count, *tensor.shape)))
    return [[outputs[sample] for outputs in per_port] for sample in range(count)]


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _console(stderr: str) -> str:
    """The harness's lines from QEMU's stderr (which also carries QEMU's own messages)."""
    return "\n".join(line for line in stderr.splitlines() if line.startswith("TINYGEN "))


def _last_lines(console: str, count: int = 3) -> str:
    lines = console.splitlines()[-count:]
    return "; last console output: " + " | ".join(lines) if lines else "; it printed nothing"


def _check_exit(completed: subprocess.CompletedProcess, console: str, where: str) -> None:
    code = completed.returncode
    if code == ExitStatus.PASS:
        return
    if code == ExitStatus.FAULT:
        fault = next((line for line in console.splitlines() if line.startswith("TINYGEN FAULT ")), None)
        raise FirmwareFaultError(f"{where} faulted: {_describe_fault(fault) if fault else 'no report'}")
    if "Lockup" in completed.stderr:
        message = next(line for line in completed.stderr.splitlines() if "Lockup" in line)
        raise FirmwareFaultError(f"{where} locked up (a fault while handling a fault, such as a stack "
                                 f"overflow): {message.strip()}{_last_lines(console)}")
    if code == ExitStatus.MISMATCH:
        raise VerificationError(f"{where}: outputs differ from TFLite Micro{_last_lines(console)}")
    if code in (ExitStatus.MODEL_ERROR, ExitStatus.HOST_IO):
        raise BuildError(f"{where} failed ({ExitStatus(code).name}){_last_lines(console)}")
    tail = " | ".join(completed.stderr.strip().splitlines()[-5:])
    raise BuildError(f"QEMU failed running {where} (exit {code}): {tail or 'no message'}")


def _describe_fault(line: str) -> str:
    """The harness's fault line, with the CFSR bits that are set named (STKOF: stack overflow)."""
    report = line.removeprefix("TINYGEN FAULT ")
    cfsr = re.search(r"cfsr=0x([0-9a-f]{8})", report)
    if cfsr is None:
        return report
    value = int(cfsr.group(1), 16)
    names = [name for bit, name in _CFSR_BITS.items() if value >> bit & 1]
    return f"{report} [{' '.join(names)}]" if names else report


def _instruction_counts(path: Path, markers: list[str], inferences: int, firmware: Firmware) -> InstructionCounts:
    """Turn the plugin's records into per-inference (and per-layer) counts."""
    if not path.exists():
        raise BuildError("the instruction-counting plugin wrote no counts (QEMU 7.2's plugin API is required)")
    per_inference, per_layer, marks, total = [], [], [], None
    begin = None
    for line in path.read_text().splitlines():
        key, value = line.split()
        if key == "total":
            total = int(value)
            continue
        marker, executed = markers[int(key)], int(value)
        if marker == _INFERENCE_MARKERS[0]:
            begin, marks = executed, []
        elif marker == _LAYER_MARKER:
            marks.append(executed)
        elif begin is not None:
            per_inference.append(executed - begin)
            if firmware.profile:
                per_layer.append(tuple(after - before for before, after in zip(marks, marks[1:])))
    layers = len(firmware.layer_summaries)
    if total is None or len(per_inference) != inferences or any(len(row) != layers for row in per_layer):
        raise BuildError(f"the instruction counter saw {len(per_inference)} inferences (expected {inferences}) "
                         f"or layer marks that do not match the model's {layers} layers")
    return InstructionCounts(per_inference=tuple(per_inference), per_layer=tuple(per_layer), total=total)
