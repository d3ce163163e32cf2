"""Writing what tinygen produces (libraries, build files, models, workflows): one place
that creates the parent folder and turns an OSError into a one-line TinygenError."""

from __future__ import annotations

from pathlib import Path

from .errors import TinygenError


def write_output(path: str | Path, content: str | bytes) -> Path:
    """Write `content` (text or bytes) to `path`, creating its folder; return the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    except OSError as error:
        raise TinygenError(f"cannot write {path}: {error.strerror}") from None
    return path
