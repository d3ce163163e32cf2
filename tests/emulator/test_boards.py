"""Boards: every description in boards/ loads into a consistent Board, the issue's boards and
cores are all there, and a bad description or an unknown name is refused with a message that
says what is wrong."""

import re
import shutil

import pytest

from tinygen import boards
from tinygen.boards import QEMU_MACHINES, board_names, boards_table, list_boards, load_board
from tinygen.errors import BoardError


def test_required_boards_and_cores():
    """The boards the issue names, and at least one board per core it names (the M0+ aside:
    QEMU emulates no M0+)."""
    assert {"nucleo-l4r5zi", "nucleo-f746zg", "nrf52840dk", "stm32f4-discovery", "nucleo-h7a3zi",
            "corstone-300"} <= set(board_names())
    assert {"cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"} <= {b.core for b in list_boards()}
    corstone = load_board("corstone-300")
    assert corstone.qemu.machine == "mps3-an547" and corstone.mve and corstone.fpu


@pytest.mark.parametrize("name", board_names())
def test_board_is_consistent(name):
    """The QEMU machine has the board's core and at least the chip's memory; the flags
    target the core; hard float exactly when there is an FPU."""
    board = load_board(name)
    assert board.name == name
    assert QEMU_MACHINES[board.qemu.machine] == board.core
    assert board.qemu.flash.size >= board.flash.size and board.qemu.ram.size >= board.ram.size
    assert f"-mcpu={board.core}" in board.cflags
    assert ("-mfloat-abi=hard" in board.cflags) == (board.fpu is not None)
    assert board.stack_bytes < board.ram.size


def test_unknown_board_lists_the_known_ones():
    with pytest.raises(BoardError) as error:
        load_board("arduino-uno")
    assert "unknown board 'arduino-uno'" in str(error.value)
    for name in board_names():
        assert name in str(error.value)


@pytest.mark.parametrize("old, new, fragment", [
    ('core = "cortex-m7"', 'core = "cortex-m5"', "'core' is 'cortex-m5'; expected one of"),
    ('machine = "mps2-an500"', 'machine = "mps2-an386"', "has a cortex-m4, the board a cortex-m7"),
    ("ram = { origin = 0x20000000, size = 0x50000 }", "ram = { origin = 0x20000000, size = 0x500000 }",
     "fewer than the chip's"),
    ("stack_bytes = 8192\n", "", "missing 'stack_bytes'"),
    ('"-mfpu=fpv5-sp-d16"', '"-mfpu=fpv5-d16"', "contradicts fpu"),
    ('"-mcpu=cortex-m7", ', "", "lack -mcpu=cortex-m7"),
    ('dsp = true', 'dsp = "yes"', "'dsp' must be true or false"),
    ('uart = "sysbus.usart3"', 'uart = "sysbus.usart3"\nplatform_file = "renode/absent.repl"',
     "exactly one of 'platform' and 'platform_file'"),
    ('name = "nucleo-f746zg"', 'name = "nucleo-f767zi"', "differs from the file name"),
    ("console = { kind = \"stm32-usart-v2\"", "console = { kind = \"pl011\"", "'kind' is 'pl011'"),
])
def test_invalid_board_is_refused(tmp_path, monkeypatch, old, new, fragment):
    """One wrong field at a time in a copy of a good description."""
    text = (boards.BOARDS_DIR / "nucleo-f746zg.toml").read_text()
    assert old in text
    (tmp_path / "nucleo-f746zg.toml").write_text(text.replace(old, new, 1))
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    with pytest.raises(BoardError, match=re.escape(fragment)):
        load_board("nucleo-f746zg")


def test_missing_renode_platform_file_is_refused(tmp_path, monkeypatch):
    shutil.copy(boards.BOARDS_DIR / "nucleo-l4r5zi.toml", tmp_path)
    monkeypatch.setattr(boards, "BOARDS_DIR", tmp_path)
    with pytest.raises(BoardError, match="Renode platform file .* does not exist"):
        load_board("nucleo-l4r5zi")


def test_boards_table_and_json():
    """`tinygen boards` material: one table line per board under a header, and JSON facts."""
    table = boards_table(list_boards()).splitlines()
    assert table[0].split() == ["board", "chip", "core", "flash", "RAM", "QEMU", "Renode"]
    assert [line.split()[0] for line in table[1:]] == board_names()
    assert "cortex-m55+FPU+DSP+MVE  512 KB   512 KB   mps3-an547" in table[1]
    facts = load_board("nucleo-l4r5zi").to_json()
    assert facts["flash"] == {"origin": 0x08000000, "size": 2 * 1024 * 1024}
    assert facts["qemu_machine"] == "mps2-an386" and facts["renode_platform"] == "stm32l4r5.repl"
