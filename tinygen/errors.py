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
