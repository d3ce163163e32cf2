"""CI for users' repositories: a GitHub Actions workflow that checks their models on
emulated boards on every push.

`tinygen ci --github --model M --board B -o .github/workflows/tinygen.yml` renders
templates/ci/github.yml.j2: one job per board (a matrix) that installs tinygen, the Arm
cross compiler and QEMU, runs `tinygen verify M --board B` (bit-exact with TensorFlow Lite
Micro in QEMU, with instruction, flash and RAM figures) and `tinygen build M --board B`,
and keeps the firmware as an artifact; with `--renode`, a second matrix runs
`tinygen verify --emulator renode` on the boards Renode models. The workflow only calls
tinygen's own commands, so it stays valid as long as they do (the tests parse every
command it contains with tinygen's argument parser).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .boards import load_board
from .errors import TinygenError
from .files import write_output

RENODE_VERSION = "1.16.1"
DEFAULT_PYTHON = "3.11"
DEFAULT_INSTALL = f"tinygen=={__version__}"
# The board of the running job, as GitHub Actions substitutes it into a step.
MATRIX_BOARD = "${{ matrix.board }}"
FIRMWARE_DIR = "build/tinygen"


@dataclass(frozen=True)
class CiModel:
    """One model's steps: shell commands, quoted."""

    path: str
    verify: str
    build: str
    verify_renode: str


def github_workflow(models: list[str], boards: list[str], renode: bool = False, install: str = DEFAULT_INSTALL,
                    python: str = DEFAULT_PYTHON, output: str | Path | None = None) -> str:
    """The workflow's YAML. `models` are paths relative to the repository root (where the
    workflow runs); `boards` are tinygen board names; `install` is what pip installs
    (a requirement such as tinygen==0.1.0, a git URL or a path); `output`, where the file
    goes, is only named in the command its header gives for regenerating it."""
    from . import codegen  # the Jinja2 environment (loaded only when a workflow is written)

    if not models or not boards:
        raise TinygenError("a workflow needs at least one --model and one --board")
    absolute = [model for model in models if Path(model).is_absolute()]
    if absolute:
        raise TinygenError(f"give model paths relative to the repository root, where the workflow runs "
                           f"(not {', '.join(absolute)})")
    missing = [model for model in models if not Path(model).exists()]
    if missing:
        raise TinygenError(f"model(s) not found: {', '.join(missing)} (give paths relative to the repository root, "
                           "where the workflow runs)")
    loaded = [load_board(board) for board in dict.fromkeys(boards)]
    renode_boards = [board.name for board in loaded if board.renode is not None] if renode else []
    if renode and not renode_boards:
        raise TinygenError(f"--renode: none of {', '.join(board.name for board in loaded)} has a Renode platform "
                           "(see `tinygen boards`)")
    directories = [codegen.c_identifier(Path(model).stem) for model in models]
    if len(set(directories)) != len(directories):
        raise TinygenError(f"models with the same file name would share a firmware folder: {', '.join(models)}")
    context = dict(
        version=__version__, python=python, install=shlex.quote(install),
        command=codegen.c_comment(_command(models, boards, renode, install, python, output)),
        boards=[board.name for board in loaded], renode_boards=renode_boards, renode_version=RENODE_VERSION,
        firmware_dir=f"{FIRMWARE_DIR}/{MATRIX_BOARD}",
        models=[_steps(model, directory) for model, directory in zip(models, directories)],
    )
    env = codegen.environment()
    env.filters["yaml_string"] = json.dumps  # a JSON string is a YAML double-quoted scalar
    return env.get_template("ci/github.yml.j2").render(context)


def _command(models: list[str], boards: list[str], renode: bool, install: str, python: str,
             output: str | Path | None) -> str:
    """The `tinygen ci` command that writes this workflow (options at their defaults left out)."""
    words = ["tinygen", "ci", "--github"]
    words += [word for model in models for word in ("--model", model)]
    words += [word for board in boards for word in ("--board", board)]
    words += ["--renode"] if renode else []
    words += ["--install", install] if install != DEFAULT_INSTALL else []
    words += ["--python", python] if python != DEFAULT_PYTHON else []
    words += ["-o", str(output)] if output is not None else []
    return shlex.join(words)


def _steps(model: str, directory: str) -> CiModel:
    verify = ["tinygen", "verify", model, "--board", MATRIX_BOARD]
    return CiModel(path=model, verify=shlex.join(verify),
                   build=shlex.join(["tinygen", "build", model, "--board", MATRIX_BOARD,
                                     "-o", f"{FIRMWARE_DIR}/{MATRIX_BOARD}/{directory}"]),
                   verify_renode=shlex.join([*verify, "--emulator", "renode"]))


def write_workflow(text: str, output: str | Path) -> Path:
    return write_output(output, text)
