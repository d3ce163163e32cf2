"""Typed errors. Every refusal a user can meet is one of these; the CLI prints them as
one line and exits non-zero, never with a traceback."""


class TinygenError(Exception):
    """Base class of every error tinygen reports to a user."""


class ModelFormatError(TinygenError):
    """The model file cannot be read: missing, truncated, corrupt or not a model."""


class UnsupportedModelError(TinygenError):
    """The model is readable but uses something tinygen does not compile."""


class UnsupportedOpsError(UnsupportedModelError):
    """One or more ops are not supported; the message lists every one of them."""

    def __init__(self, refusals):
        self.refusals = list(refusals)
        lines = [f"node {index} {kind}: {reason}" for index, kind, reason in self.refusals]
        super().__init__(f"{len(lines)} unsupported op(s): " + "; ".join(lines))


class IRValidationError(TinygenError):
    """The IR broke an invariant after a pass (a bug in tinygen or a malformed model)."""


class PlanError(TinygenError):
    """The memory plan is unsafe: two live buffers overlap, or an offset is misaligned."""


class BuildError(TinygenError):
    """The C compiler, linker or a run of the generated code failed."""


class VerificationError(TinygenError):
    """The generated code's outputs differ from the reference."""


class BoardError(TinygenError):
    """A board name is unknown, or a board description in boards/ is invalid."""


class ToolNotFoundError(TinygenError):
    """An outside program tinygen needs (cross compiler, emulator, renode-test) is not on PATH."""


class MemoryOverflowError(BuildError):
    """The firmware does not fit the real chip's flash or RAM.

    `overflows` maps a region name ("FLASH", "RAM") to the number of bytes by which it
    overflows; the message names the board and every overflowing region.
    """

    def __init__(self, board_name: str, overflows: dict[str, int], limits: dict[str, int]):
        self.board_name = board_name
        self.overflows = dict(overflows)
        parts = [f"{region} overflows by {extra} bytes (limit {limits[region]} bytes)"
                 for region, extra in self.overflows.items()]
        super().__init__(f"the firmware does not fit {board_name}: " + "; ".join(parts))


class FirmwareFaultError(BuildError):
    """The firmware took a fault (HardFault, lockup) in the emulator."""


class FirmwareTimeoutError(BuildError):
    """The firmware did not finish within the time limit (a hang or an endless loop)."""


class DataError(TinygenError):
    """Training, validation or calibration data (`--data`, `--val`) is missing, unreadable,
    or does not fit the model (shape, labels)."""


class OptimizationError(TinygenError):
    """An optimization is impossible as asked (a sparsity of 1, fewer than 2 clusters) or
    cannot apply to the model."""
