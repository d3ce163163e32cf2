"""Renode files: for every board with a Renode platform, `build_for_board` writes a .resc and a
.robot that Robot Framework parses, that reference files which exist and agree with the board,
and that renode-test runs when it is installed; without it, the run says clearly that it is
missing."""

import re
import shutil
from pathlib import Path

import pytest
from robot.api import get_model
from robot.api.parsing import ModelVisitor
from robot.api import TestSuiteBuilder as RobotSuiteBuilder

from emulator_support import two_input_model
from tinygen.boards import list_boards
from tinygen.compiler import compile_model
from tinygen.errors import ToolNotFoundError
from tinygen.renode import build_for_board, run_renode_test, verify_in_renode
from tinygen.verify import random_inputs

RENODE_BOARDS = [board.name for board in list_boards() if board.renode is not None]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """builds(board): the two-input model's board firmware and Renode files, built once."""
    directory = tmp_path_factory.mktemp("renode")
    model = compile_model(two_input_model(directory), directory / "model")
    samples = random_inputs(model.graph, 2, 9)
    cache = {}

    def get(board):
        if board not in cache:
            cache[board] = build_for_board(model, board, directory / board, samples)
        return cache[board]

    return get


class _ErrorCollector(ModelVisitor):
    def __init__(self):
        self.errors = []

    def generic_visit(self, node):
        self.errors.extend(getattr(node, "errors", ()))
        super().generic_visit(node)


def robot_variables(path: Path) -> dict[str, str]:
    """The .robot file's variables, ${CURDIR} resolved."""
    text = path.read_text()
    section = text.split("*** Variables ***")[1].split("***")[0]
    return {name: value.replace("${CURDIR}", str(path.parent))
            for name, value in re.findall(r"^(\$\{\w+\})\s{2,}(.+)$", section, re.MULTILINE)}


def resc_commands(lines: list[str]) -> dict[str, str]:
    """A Renode script's commands: the words before the last argument -> that argument."""
    commands = {}
    for line in filter(str.strip, lines):
        *words, argument = line.split()
        commands[" ".join(words)] = argument
    return commands


def test_every_board_has_a_renode_platform():
    """Renode models every board: with its own platform description or with tinygen's."""
    assert len(RENODE_BOARDS) == len(list_boards())


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_robot_file_parses_and_references_the_script(board, builds):
    """Robot Framework's parser finds no error and one test that runs the script, waits for
    the verdict on the board's console UART and requires it to be PASS."""
    files = builds(board).renode
    collector = _ErrorCollector()
    collector.visit(get_model(files.test))
    assert collector.errors == []
    suite = RobotSuiteBuilder().build(str(files.test))
    assert len(suite.tests) == 1
    steps = [step.name for step in suite.tests[0].body]
    assert steps == ["Execute Script", "Create Terminal Tester", "Start Emulation", "Wait For Line On Uart",
                     "Should Contain"]
    variables = robot_variables(files.test)
    assert Path(variables["${SCRIPT}"]) == files.script and files.script.is_file()
    assert variables["${UART}"] == builds(board).firmware.board.renode.uart


@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_resc_script_references_existing_files(board, builds):
    """The script loads the board's platform (Renode's own, or tinygen's copied beside it) and
    the firmware ELF, both by paths that resolve, and opens the console UART."""
    build = builds(board)
    spec, files = build.firmware.board, build.renode
    lines = files.script.read_text().splitlines()
    assert lines[0].startswith(":name: ") and lines[1].startswith(":description: ")
    commands = resc_commands(lines[2:])
    assert commands["sysbus LoadELF"] == "$ORIGIN/" + build.firmware.elf.name and build.firmware.elf.is_file()
    platform = commands["machine LoadPlatformDescription"]
    if spec.renode.platform_file is not None:
        assert platform == "$ORIGIN/" + files.platform.name
        assert files.platform.read_text() == spec.renode.platform_file.read_text()
    else:
        assert platform == "@" + spec.renode.platform and files.platform is None
        assert re.fullmatch(r"platforms/(cpus|boards)/[\w-]+\.repl", spec.renode.platform)
    assert commands["showAnalyzer"] == spec.renode.uart


@pytest.mark.parametrize("board", [b.name for b in list_boards() if b.renode and b.renode.platform_file])
def test_shipped_platform_matches_the_board(board):
    """tinygen's own platform descriptions have the board's core, flash, RAM and console UART."""
    spec = next(b for b in list_boards() if b.name == board)
    text = spec.renode.platform_file.read_text()
    assert re.search(rf'cpuType: "{spec.core}f?"', text)
    mapped = {int(address, 16): int(size, 16)
              for address, size in re.findall(r"Memory\.MappedMemory @ sysbus (0x[0-9A-Fa-f]+)\s+size: (0x[0-9A-Fa-f]+)", text)}
    assert mapped[spec.flash.origin] >= spec.flash.size and mapped[spec.ram.origin] >= spec.ram.size
    uart = spec.renode.uart.removeprefix("sysbus.")
    assert re.search(rf"^{uart}: UART\.\w+ @ sysbus 0x{spec.console.base:08X}$", text, re.MULTILINE)


def test_missing_renode_test_is_reported(builds, monkeypatch):
    """Without renode-test on PATH, running the test (or `verify_in_renode`, before any work)
    fails with one clear message."""
    monkeypatch.setenv("PATH", "")
    with pytest.raises(ToolNotFoundError, match="renode-test .* is not on PATH; install Renode"):
        run_renode_test(builds(RENODE_BOARDS[0]).renode)
    with pytest.raises(ToolNotFoundError, match="renode-test"):
        verify_in_renode("absent.tflite", "nucleo-f746zg")


@pytest.mark.skipif(shutil.which("renode-test") is None,
                    reason="renode-test is not on PATH: install Renode 1.16.1+ to run the generated .robot tests")
@pytest.mark.parametrize("board", RENODE_BOARDS)
def test_renode_runs_the_firmware(board, builds):
    """In Renode, the board firmware prints TINYGEN PASS on its console UART."""
    run_renode_test(builds(board).renode)
