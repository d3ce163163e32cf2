"""Renode: firmware for the real board, run on Renode's model of its chip.

`build_for_board` builds the firmware `tinygen build` hands to users: linked at the chip's
own addresses, printing on the board's console UART, with seeded inputs and TensorFlow Lite
Micro's outputs for them compiled in, so that it checks itself wherever it runs. For a board
with a Renode platform it also writes, beside the ELF:
- <model>.resc: creates the machine, loads the platform and the ELF, opens the console
  (`renode <model>.resc` for an interactive session);
- <model>.robot: a test for renode-test that runs the script and waits for the verdict line
  ("TINYGEN PASS", or FAIL / FAULT / ERROR) on the console UART;
- the platform description, when tinygen ships it (boards/renode/) rather than Renode.

Renode is in no package registry tinygen can rely on: `run_renode_test` raises
ToolNotFoundError, saying so, when renode-test is not on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import __version__, codegen
from .boards import Board, load_board
from .compiler import CompiledModel, compile_model
from .errors import BuildError, ToolNotFoundError, VerificationError
from .firmware import Firmware, Target, build_firmware, reference_vectors
from .verify import Samples, VerifyResult, samples_for

# Emulated seconds renode-test waits for the verdict line.
DEFAULT_TIMEOUT_S = 120
RENODE_HINT = ("renode-test (Renode's test runner) is not on PATH; install Renode 1.16.1 or later "
               "from renode.io (it is in no Python or Debian package registry)")


@dataclass(frozen=True)
class RenodeFiles:
    script: Path  # .resc
    test: Path  # .robot
    platform: Path | None  # tinygen's platform description, copied beside them


@dataclass(frozen=True)
class BoardBuild:
    """What `tinygen build` writes: the firmware and, where Renode models the board, its scripts."""

    firmware: Firmware
    renode: RenodeFiles | None

    def summary(self) -> str:
        """What was written, and the flash and RAM the firmware needs on the real chip."""
        memory = self.firmware.memory
        files = [self.firmware.elf, self.firmware.binary, self.firmware.map_file]
        if self.renode is not None:
            files += [self.renode.script, self.renode.test]
        lines = [f"firmware for {self.firmware.board.name}: flash {memory.flash_bytes:,} B of {memory.flash_limit:,}, "
                 f"RAM {memory.ram_bytes:,} B of {memory.ram_limit:,} (arena {memory.arena_bytes:,})"]
        lines += [f"  {path}" for path in files]
        if self.renode is None:
            lines.append("  (no Renode platform for this board: no .resc/.robot)")
        return "\n".join(lines)


def build_for_board(compiled: CompiledModel, board: Board | str, out_dir: str | Path, samples: Samples,
                    timeout_s: int = DEFAULT_TIMEOUT_S) -> BoardBuild:
    """Build the self-checking firmware for the real board (with `samples` and TFLite Micro's
    outputs for them embedded) into `out_dir`, and its Renode files if Renode models the board."""
    board = load_board(board) if isinstance(board, str) else board
    firmware = build_firmware(compiled, board, out_dir, target=Target.BOARD,
                              vectors=reference_vectors(compiled, samples))
    renode = write_renode_files(firmware, timeout_s) if board.renode is not None else None
    return BoardBuild(firmware=firmware, renode=renode)


def write_renode_files(firmware: Firmware, timeout_s: int = DEFAULT_TIMEOUT_S) -> RenodeFiles:
    """Write the .resc and .robot (and tinygen's platform description, if any) beside the ELF."""
    board = firmware.board
    if board.renode is None:
        raise BuildError(f"Renode has no platform for {board.name}")
    if firmware.target is not Target.BOARD:
        raise BuildError(f"{firmware.elf.name} is linked for QEMU; Renode runs firmware built for the board")
    directory = firmware.elf.parent
    platform = None
    if board.renode.platform_file is not None:
        platform = directory / board.renode.platform_file.name
        shutil.copyfile(board.renode.platform_file, platform)
    script, test = directory / f"{firmware.model_name}.resc", directory / f"{firmware.model_name}.robot"
    context = dict(version=__version__, board=board, model_name=firmware.model_name, elf=firmware.elf.name,
                   platform_file=platform.name if platform else None, script=script.name, robot=test.name,
                   vector_count=firmware.vector_count, timeout_s=timeout_s,
                   test_name=f"{firmware.model_name} Should Match TensorFlow Lite Micro On {board.name}")
    env = codegen.environment()
    script.write_text(env.get_template("renode/firmware.resc.j2").render(context))
    test.write_text(env.get_template("renode/firmware.robot.j2").render(context))
    return RenodeFiles(script=script, test=test, platform=platform)


def renode_test_command() -> str:
    """The path of renode-test; ToolNotFoundError, saying how to get it, if it is absent."""
    path = shutil.which("renode-test")
    if path is None:
        raise ToolNotFoundError(RENODE_HINT)
    return path


def run_renode_test(files: RenodeFiles, timeout_s: float = 600) -> str:
    """Run the .robot test with renode-test; its output, or VerificationError if it fails."""
    command = [renode_test_command(), str(files.test)]
    try:
        completed = subprocess.run(command, cwd=files.test.parent, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise BuildError(f"renode-test {files.test.name} did not finish within {timeout_s:g} s") from None
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise VerificationError(f"Renode test {files.test.name} failed (exit {completed.returncode}):\n{tail}")
    return output


def verify_in_renode(model_path: str | Path, board: str, count: int = 5, seed: int = 0,
                     inputs_file: str | Path | None = None, backend: str = "tinygen",
                     work_dir: str | Path | None = None, data=None, weights: str = "auto") -> VerifyResult:
    """Compile the model (its weights stored as the --weights mode `weights` says), build the
    self-checking board firmware with `count` seeded samples (plus any from `inputs_file`) and
    run it in Renode: every output byte must equal TFLite Micro's. Checks for renode-test
    before doing any work."""
    renode_test_command()
    board_spec = load_board(board)
    if board_spec.renode is None:
        raise BuildError(f"Renode has no platform for {board_spec.name}")
    with tempfile.TemporaryDirectory(prefix="tinygen-renode-") as temporary:
        directory = Path(work_dir) if work_dir else Path(temporary)
        compiled = compile_model(model_path, directory / "model", backend=backend, data=data, weights=weights)
        samples = samples_for(compiled.graph, count, seed, inputs_file)
        build = build_for_board(compiled, board_spec, directory / "firmware", samples)
        run_renode_test(build.renode)
        return VerifyResult(model=compiled.source.name, target=f"{board_spec.name} (Renode)", bit_exact=True,
                            inputs_checked=len(samples), mismatches=0, arena_bytes=compiled.arena_bytes,
                            weights_bytes=compiled.weights_bytes)
