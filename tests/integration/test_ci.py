"""`tinygen ci --github`: the workflow is valid YAML of the GitHub Actions shape, every
tinygen command in it parses with tinygen's own argument parser, and it names real boards
(Renode only for the boards Renode models) and the user's models."""

import dataclasses
import shlex

import pytest
import yaml

from conftest import REPO
from tinygen import cli
from tinygen.boards import load_board
from tinygen.ci import MATRIX_BOARD, github_workflow
from tinygen.errors import TinygenError

MODELS = ["firmware_examples/keyword_spotting/kws_ref_model.tflite",
          "firmware_examples/anomaly_detection/ad01_int8.tflite"]
BOARDS = ["nucleo-l4r5zi", "nrf52840dk", "corstone-300", "nucleo-f103rb"]


def tinygen_commands(job: dict) -> list[list[str]]:
    """The tinygen command lines of a job's `run` steps, split as a shell would."""
    lines = [line for step in job["steps"] for line in step.get("run", "").splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("tinygen ")]


@pytest.fixture
def workflow(tmp_path, monkeypatch):
    """The workflow `tinygen ci` writes for two models and four boards, with Renode."""
    monkeypatch.chdir(REPO)
    output = tmp_path / ".github" / "workflows" / "tinygen.yml"
    arguments = ["ci", "--github", "--renode", "-o", str(output)]
    arguments += [word for model in MODELS for word in ("--model", model)]
    arguments += [word for board in BOARDS for word in ("--board", board)]
    assert cli.main(arguments) == 0
    return output.read_text()


def test_workflow_is_github_actions_yaml(workflow):
    """It parses; it runs on push and pull requests; each job has a board matrix and steps
    that check out the code, install the cross compiler and QEMU, and install tinygen."""
    document = yaml.safe_load(workflow)
    assert set(document[True]) == {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    assert set(document["jobs"]) == {"qemu", "renode"}
    for job in document["jobs"].values():
        assert job["runs-on"].startswith("ubuntu-")
        runs = " ".join(step.get("run", "") for step in job["steps"])
        assert "gcc-arm-none-eabi" in runs and "qemu-system-arm" in runs and "pip install tinygen==" in runs
        assert job["steps"][0]["uses"].startswith("actions/checkout@")


def test_workflow_commands_parse_with_tinygens_parser(workflow):
    """Every tinygen command parses with tinygen's argparse parser; each runs on the job's
    matrix board; QEMU verifies and builds each model, Renode verifies each on the boards
    it models; every board is real."""
    document = yaml.safe_load(workflow)
    parser = cli.build_parser()
    for job_name, job in document["jobs"].items():
        boards = job["strategy"]["matrix"]["board"]
        assert all(load_board(board) for board in boards)
        commands = [parser.parse_args(words[1:]) for words in tinygen_commands(job)]
        assert all(command.board == MATRIX_BOARD for command in commands)
        if job_name == "qemu":
            assert boards == BOARDS
            assert [(command.command, command.model) for command in commands] == [
                (kind, model) for model in MODELS for kind in ("verify", "build")]
            assert all(command.emulator == "qemu" for command in commands if command.command == "verify")
        else:
            assert boards == [board for board in BOARDS if load_board(board).renode is not None]
            assert [(command.command, command.model, command.emulator) for command in commands] == [
                ("verify", model, "renode") for model in MODELS]


def test_workflow_header_regenerates_it(workflow, tmp_path):
    """The header's command, run again, writes the same file: the output is deterministic."""
    command = next(line for line in workflow.splitlines() if line.startswith("#   tinygen ci"))
    assert cli.main(shlex.split(command.removeprefix("#   tinygen "))) == 0
    assert (tmp_path / ".github" / "workflows" / "tinygen.yml").read_text() == workflow


def test_workflow_refusals(monkeypatch):
    """Unknown boards, missing or absolute model paths and --renode without a Renode board
    are refused with a message."""
    monkeypatch.chdir(REPO)
    with pytest.raises(TinygenError, match="unknown board"):
        github_workflow(MODELS, ["no-such-board"])
    with pytest.raises(TinygenError, match="not found"):
        github_workflow(["models/absent.tflite"], BOARDS)
    with pytest.raises(TinygenError, match="relative to the repository root"):
        github_workflow([str(REPO / MODELS[0])], BOARDS)
    without_renode = dataclasses.replace(load_board("nucleo-f103rb"), renode=None)
    monkeypatch.setattr("tinygen.ci.load_board", lambda name: without_renode)
    with pytest.raises(TinygenError, match="Renode platform"):
        github_workflow(MODELS, ["nucleo-f103rb"], renode=True)
