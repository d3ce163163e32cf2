"""The `tinygen` command line.

Every user-facing failure is a TinygenError, printed as one line `tinygen: error: ...`
with exit status 1 (2 for bad usage). Set TINYGEN_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from .errors import TinygenError

DESCRIPTION = """\
tinygen compiles int8 TFLite models into plain C99 libraries for Cortex-M microcontrollers:
no interpreter, no heap, one static arena, outputs bit-exact with TensorFlow Lite Micro.

commands:
  compile   model -> C library (<name>.h, <name>.c, weights, kernels), with --format a
            PlatformIO library.json, a CMake target or a Make fragment beside it
  verify    build the generated C and compare every output byte with TFLite Micro, on the
            host or in an emulated board (QEMU; Renode with --emulator renode)
  build     firmware for a board: ELF, .bin, map and Renode .resc/.robot files; with --app,
            your application (run it in QEMU with --qemu)
  boards    list the boards tinygen builds for (core, flash, RAM, emulator)
  plan      show the static memory plan (arena offsets, lifetimes, timeline; --plot FILE)
  optimize  prune, cluster, factorize and quantize a Keras model into an int8 .tflite
  ci        write a CI workflow (GitHub Actions) that checks your models on emulated boards

A Keras model (.keras, .h5, SavedModel directory) is accepted wherever a .tflite is, with
--data calib.npz: it is converted to full int8 by post-training quantization first.
"""

OPTIMIZE_DESCRIPTION = """\
Optimize a float Keras model (Keras 2 / tf_keras) for a microcontroller and write a
full-int8 .tflite that `tinygen compile` accepts. Each step is optional; they run in this
order, each fine-tuned on --data (which then needs labels y):
  --low-rank R   factorize Dense and 1x1 Conv2D kernels by truncated SVD, to rank R
                 (an integer) or to the rank keeping a fraction R of the energy (0 < R <= 1)
  --prune S      zero the smallest weights to sparsity S (0 <= S < 1), polynomial schedule;
                 with --prune-blocks, Dense kernels in blocks of 4 inputs x 2 outputs,
                 which tinygen's kernels skip (fewer instructions, not just less flash)
  --clusters N   k-means clustering: at most N distinct values per kernel (per output
                 channel of Conv2D with --cluster-per-channel)
  --qat          quantization-aware training; after --prune and/or --clusters it becomes
                 PQAT, CQAT or PCQAT, which keep the zeros and the clusters
then the full-int8 conversion (post-training quantization calibrated on --data unless
--qat; --ptq says so explicitly). Layers a technique cannot handle (tfmot does not prune or
cluster DepthwiseConv2D) are skipped and reported, not failed.

The report gives after each step the held-out accuracy (mean squared error for regression),
parameters, sparsity, distinct values per kernel and per channel, int8 weight bytes and,
for the final .tflite, the flash tinygen needs for its weights. Progress goes to stderr.

examples:
  tinygen optimize model.keras --data train.npz --prune 0.5 --clusters 16 --qat -o model_int8.tflite
  tinygen optimize model.keras --data train.npz --ptq -o model_int8.tflite
  tinygen optimize model.h5 --data train.npz --val val.npz --low-rank 0.9 -o model_int8.tflite --json
"""


def _add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="int8 model file (.tflite), or a Keras model (.keras, .h5, SavedModel "
                                      "directory) with --data")


def _add_data_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", metavar="NPZ", help="for a Keras model: .npz with an array 'x' of a few hundred "
                                                      "typical inputs, to calibrate its int8 conversion")


def _add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernels", choices=("tinygen", "cmsis-nn"), default="tinygen",
                        help="kernel backend: tinygen's portable C kernels (default) or calls to CMSIS-NN")


def _add_weights_argument(parser: argparse.ArgumentParser) -> None:
    from .weights import MODES

    parser.add_argument("--weights", choices=MODES, default="auto",
                        help="how conv/dense weights are stored in flash: auto (default: per tensor the smallest "
                             "encoding that saves an eighth of its bytes within 1.25x the instructions, else "
                             "dense), dense, lut (clustered values as packed indices into tables), sparse (only "
                             "nonzero values), sparse-lut (both); a compressed layer runs tinygen's kernel")


def _add_format_argument(parser: argparse.ArgumentParser) -> None:
    from .export import FORMATS

    parser.add_argument("--format", choices=FORMATS, default="plain",
                        help="also write a build file beside the C files: platformio (library.json), cmake "
                             "(CMakeLists.txt, a static library target named after the model) or make (model.mk); "
                             "default plain: none")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinygen", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"tinygen {__import__('tinygen').__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    compile_parser = commands.add_parser(
        "compile", help="compile a model into a C library",
        description="Compile an int8 model into a C99 library: <name>.h (the API and the documented "
                    "input/output shapes and quantization), <name>.c (the layer calls), "
                    "<name>_weights.c/.h (weights in flash) and the kernels it calls.")
    _add_model_argument(compile_parser)
    _add_data_argument(compile_parser)
    compile_parser.add_argument("-o", "--output", required=True, help="directory to write the library into")
    compile_parser.add_argument("--name", help="C name of the model (default: the file name); "
                                               "prefixes every symbol of the API")
    _add_backend_argument(compile_parser)
    _add_weights_argument(compile_parser)
    compile_parser.add_argument("--report", action="store_true",
                                help="list each weight tensor with its encoding and its bytes as int8 and as stored")
    _add_format_argument(compile_parser)
    compile_parser.set_defaults(handler=run_compile)

    verify_parser = commands.add_parser(
        "verify", help="check the generated C against TFLite Micro, byte for byte",
        description="Compile the model, build it with a test harness, run seeded random inputs (and any "
                    "given with --inputs) and compare every output byte with the TFLite Micro reference "
                    "interpreter. Exit status 0 only if all outputs are identical.")
    _add_model_argument(verify_parser)
    _add_data_argument(verify_parser)
    verify_parser.add_argument("--host", action="store_true", help="build and run with the host C compiler "
                                                                   "(the default target)")
    verify_parser.add_argument("--board", help="cross-compile firmware for this board (see `tinygen boards`) and "
                                                "run it in an emulator; reports instructions, flash and RAM")
    verify_parser.add_argument("--emulator", choices=("qemu", "renode"), default="qemu",
                               help="with --board: QEMU (default, runs here) or Renode (needs renode-test)")
    verify_parser.add_argument("--profile", action="store_true",
                               help="with --board: print instructions per layer")
    verify_parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                               help="with --board: seconds before a run counts as hung (default 120)")
    verify_parser.add_argument("--count", type=int, default=10, help="random inputs to check (default 10)")
    verify_parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    verify_parser.add_argument("--inputs", help=".npy file with extra inputs: one array of the input's shape "
                                                "or a batch of them")
    verify_parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _add_backend_argument(verify_parser)
    _add_weights_argument(verify_parser)
    verify_parser.set_defaults(handler=run_verify)

    plan_parser = commands.add_parser(
        "plan", help="print the memory plan",
        description="Show where every intermediate tensor and scratch buffer lives in the arena, and when.")
    _add_model_argument(plan_parser)
    _add_data_argument(plan_parser)
    plan_parser.add_argument("--json", action="store_true",
                             help="print arena_bytes, lower_bound_bytes and per buffer its offset, size, "
                                  "first and last step")
    plan_parser.add_argument("--plot", metavar="FILE", help="also draw the plan into FILE (e.g. plan.png; "
                                                            "needs matplotlib: pip install 'tinygen[plot]')")
    _add_backend_argument(plan_parser)
    _add_weights_argument(plan_parser)
    plan_parser.set_defaults(handler=run_plan)

    build_parser_ = commands.add_parser(
        "build", help="build firmware for a board",
        description="Compile the model and build firmware for a board: <model>.elf, .bin and .map, with test "
                    "vectors (seeded random inputs and TFLite Micro's outputs) embedded, plus Renode .resc/.robot "
                    "files. The link fails, saying by how many bytes, if the model does not fit the real chip.")
    _add_model_argument(build_parser_)
    _add_data_argument(build_parser_)
    build_parser_.add_argument("--board", required=True, help="board name (see `tinygen boards`)")
    build_parser_.add_argument("-o", "--output", required=True, help="directory for the firmware files")
    build_parser_.add_argument("--count", type=int, default=3, help="embedded test inputs (default 3)")
    build_parser_.add_argument("--seed", type=int, default=0, help="seed of the test inputs (default 0)")
    build_parser_.add_argument("--inputs", help=".npy file with extra test inputs")
    build_parser_.add_argument("--name", help="C name of the model (default: the file name)")
    build_parser_.add_argument("--app", action="append", metavar="C_FILE",
                               help="build this application (a C source with its own main(); repeat for more "
                                    "sources) instead of the self-checking harness: it includes \"<name>.h\" and "
                                    "\"tg_firmware.h\" (console output) and returns its exit status")
    build_parser_.add_argument("--qemu", action="store_true",
                               help="with --app: link for the board's QEMU machine and run the application there, "
                                    "printing what it prints")
    build_parser_.add_argument("--sources-only", action="store_true",
                               help="compile nothing: write the library (OUTPUT/lib/<name>/) and the board's start-up "
                                    "code, linker script and console (OUTPUT/support/), for an application built by "
                                    "another build system (see platformio.ini)")
    _add_format_argument(build_parser_)
    _add_backend_argument(build_parser_)
    _add_weights_argument(build_parser_)
    build_parser_.set_defaults(handler=run_build)

    boards_parser = commands.add_parser("boards", help="list the boards",
                                        description="List the boards in boards/: core, flash, RAM and emulators.")
    boards_parser.add_argument("--json", action="store_true", help="print the boards as JSON")
    boards_parser.set_defaults(handler=run_boards)

    _add_optimize_parser(commands)
    _add_ci_parser(commands)
    return parser


def _add_ci_parser(commands) -> None:
    from .ci import DEFAULT_INSTALL, DEFAULT_PYTHON

    parser = commands.add_parser(
        "ci", help="write a CI workflow that checks models on emulated boards",
        description="Write a GitHub Actions workflow for your repository: on every push, for each board, install "
                    "tinygen, the Arm cross compiler and QEMU, verify each model bit for bit against TFLite Micro "
                    "in QEMU, build its firmware and keep it as an artifact; with --renode, also run the firmware "
                    "on Renode (renode-test). Model paths are relative to the repository root.")
    parser.add_argument("--github", action="store_true", required=True, help="GitHub Actions (the one CI supported)")
    parser.add_argument("--model", action="append", required=True, help="a model to check (repeat for more)")
    parser.add_argument("--board", action="append", required=True, help="a board to check on (repeat for more)")
    parser.add_argument("--renode", action="store_true", help="also run on Renode, for the boards it models")
    parser.add_argument("--install", default=DEFAULT_INSTALL,
                        help=f"what pip installs as tinygen (default {DEFAULT_INSTALL}; a git URL or a path works)")
    parser.add_argument("--python", default=DEFAULT_PYTHON, help=f"Python version (default {DEFAULT_PYTHON})")
    parser.add_argument("-o", "--output", help="workflow file to write, e.g. .github/workflows/tinygen.yml "
                                               "(default: print it)")
    parser.set_defaults(handler=run_ci)


def _add_optimize_parser(commands) -> None:
    from .optimize.recipe import Recipe  # light: the defaults shown in --help

    parser = commands.add_parser("optimize", help="prune, cluster, factorize and quantize a Keras model",
                                 description=OPTIMIZE_DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="float Keras model: .keras, .h5 or SavedModel directory")
    parser.add_argument("--data", required=True, metavar="NPZ",
                        help=".npz with 'x' (inputs, batch first) and 'y' (class indices, one-hot rows or "
                             "regression targets; needed by every step that fine-tunes)")
    parser.add_argument("-o", "--output", required=True, help="the int8 .tflite to write")
    parser.add_argument("--val", metavar="NPZ", help="held-out .npz for the report (default: a seeded "
                                                     "--val-split of --data, never trained on)")
    parser.add_argument("--json", action="store_true", help="print the whole report as one JSON object")
    steps = parser.add_argument_group("steps (in this order)")
    steps.add_argument("--low-rank", metavar="R", help="rank (integer) or energy fraction (0 < R <= 1) of the "
                                                        "Dense / 1x1 Conv2D factorization")
    steps.add_argument("--prune", type=float, metavar="S", help="target sparsity, 0 <= S < 1 (e.g. 0.5)")
    steps.add_argument("--prune-blocks", action="store_true",
                       help="prune Dense kernels in blocks of 4 inputs x 2 outputs (Conv2D: value by value)")
    steps.add_argument("--clusters", type=int, metavar="N", help="distinct values per kernel, N >= 2 (e.g. 16)")
    steps.add_argument("--cluster-per-channel", action="store_true",
                       help="N clusters per output channel of Conv2D kernels (fits per-channel int8)")
    steps.add_argument("--qat", action="store_true", help="quantization-aware training (PQAT/CQAT/PCQAT after "
                                                          "--prune/--clusters)")
    steps.add_argument("--ptq", action="store_true", help="post-training int8 quantization (the default "
                                                          "without --qat)")
    steps.add_argument("--float-io", action="store_true", help="keep float input and output (QUANTIZE / "
                                                               "DEQUANTIZE at the edges) instead of int8")
    tuning = parser.add_argument_group("fine-tuning and calibration")
    tuning.add_argument("--epochs", type=int, default=Recipe.epochs, metavar="N",
                        help=f"epochs of fine-tuning after each step (default {Recipe.epochs})")
    tuning.add_argument("--batch-size", type=int, default=Recipe.batch_size, metavar="N",
                        help=f"fine-tuning batch size (default {Recipe.batch_size})")
    tuning.add_argument("--learning-rate", type=float, default=Recipe.learning_rate, metavar="LR",
                        help=f"Adam learning rate (default {Recipe.learning_rate})")
    tuning.add_argument("--val-split", type=float, default=Recipe.val_split, metavar="F",
                        help=f"fraction of --data held out without --val (default {Recipe.val_split})")
    tuning.add_argument("--calibration-samples", type=int, default=Recipe.calibration_samples, metavar="N",
                        help=f"training inputs that calibrate the int8 conversion (default "
                             f"{Recipe.calibration_samples})")
    tuning.add_argument("--seed", type=int, default=Recipe.seed, metavar="N",
                        help=f"seed of the split, the initializations and the shuffles (default {Recipe.seed})")
    parser.set_defaults(handler=run_optimize)


def progress(message: str) -> None:
    """Progress goes to stderr, so that --json output on stdout stays clean."""
    print(message, file=sys.stderr, flush=True)


def run_compile(args: argparse.Namespace) -> int:
    from .compiler import compile_model
    from .export import write_build_file

    started = time.perf_counter()
    compiled = compile_model(args.model, args.output, name=args.name, backend=args.kernels, data=args.data,
                             weights=args.weights)
    elapsed = time.perf_counter() - started
    print(f"compiled {Path(args.model).name} -> {compiled.directory}/ as '{compiled.name}': "
          f"{len(compiled.layers)} layers, arena {compiled.arena_bytes} B, weights {compiled.weights_bytes} B "
          f"({elapsed:.2f} s)")
    for file_name in sorted(compiled.library.files):
        print(f"  {compiled.directory / file_name}")
    build_file = write_build_file(compiled, args.format)
    if build_file is not None:
        print(f"  {build_file} ({args.format})")
    if compiled.source != Path(args.model):
        print(f"  {compiled.source} (the int8 model converted from {args.model})")
    if args.report:
        from .weightsreport import weights_table

        print(weights_table(compiled))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise TinygenError("--count must be zero or more")
    if args.count == 0 and not args.inputs:
        raise TinygenError("no inputs to check: give --count above 0 or --inputs")
    if args.board is None and (args.profile or args.emulator != "qemu"):
        raise TinygenError("--profile and --emulator need --board")
    target = f"{args.board} ({args.emulator})" if args.board else "the host"
    if not args.json:
        progress(f"verifying {args.model} on {target} ({args.count} random inputs, seed {args.seed})...")
    common = dict(count=args.count, seed=args.seed, inputs_file=args.inputs, backend=args.kernels, data=args.data,
                  weights=args.weights)
    report = None
    if args.board is None:
        from .verify import verify_host

        result = verify_host(args.model, **common)
    elif args.emulator == "renode":
        from .renode import verify_in_renode

        result = verify_in_renode(args.model, args.board, **common)
    else:
        from .qemu import verify_in_qemu

        report = verify_in_qemu(args.model, args.board, profile=args.profile, timeout_s=args.timeout, **common)
        result = report.result
    if args.json:
        print(json.dumps(report.to_json() if report else result.to_json(), indent=2))
        return 0 if result.bit_exact else 1
    if report is not None:
        if args.profile:
            print(report.profile_table())
        print(report.summary())
    if result.bit_exact:
        print(f"PASS: {result.model} on {result.target}: all outputs of {result.inputs_checked} inputs equal "
              f"TFLite Micro's (arena {result.arena_bytes} B, weights {result.weights_bytes} B)")
    else:
        print(f"FAIL: {result.model} on {result.target}: {result.mismatches} output values differ from "
              f"TFLite Micro's; first: {result.first_mismatch}")
    return 0 if result.bit_exact else 1


def run_build(args: argparse.Namespace) -> int:
    from .boards import load_board
    from .compiler import compile_model
    from .export import write_build_file
    from .renode import build_for_board
    from .verify import samples_for

    board = load_board(args.board)
    output = Path(args.output)
    if args.qemu and not args.app:
        raise TinygenError("--qemu runs an application: give it with --app")
    if args.sources_only:
        if args.app or args.qemu:
            raise TinygenError("--sources-only compiles nothing: drop --app and --qemu")
        return _write_sources(args, board, output)
    progress(f"compiling {args.model} and building firmware for {board.name}...")
    compiled = compile_model(args.model, output / "model", name=args.name, backend=args.kernels, data=args.data,
                             weights=args.weights)
    write_build_file(compiled, args.format)
    if args.app:
        return _build_application(args, compiled, board, output)
    build = build_for_board(compiled, board, output, samples_for(compiled.graph, args.count, args.seed, args.inputs))
    print(build.summary())
    return 0


def _write_sources(args: argparse.Namespace, board, output: Path) -> int:
    """`tinygen build --sources-only`: the library and the board support files, for another build system."""
    from .codegen import c_identifier
    from .compiler import compile_model
    from .export import write_build_file
    from .firmware import write_support

    name = c_identifier(args.name or Path(args.model).stem)
    compiled = compile_model(args.model, output / "lib" / name, name=name, backend=args.kernels, data=args.data,
                             weights=args.weights)
    build_file = write_build_file(compiled, args.format)
    support = write_support(compiled, board, output / "support")
    print(f"wrote the library {compiled.name} to {compiled.directory}/"
          + (f" (with {build_file.name})" if build_file else "")
          + f" and {board.name}'s start-up code, linker script and console to {support}/")
    return 0


def _build_application(args: argparse.Namespace, compiled, board, output: Path) -> int:
    """`tinygen build --app`: the application's firmware, run in QEMU with --qemu."""
    from .firmware import Target, build_application
    from .qemu import run_firmware

    target = Target.QEMU if args.qemu else Target.BOARD
    firmware = build_application(compiled, board, args.app, output, target=target)
    memory = firmware.memory
    where = f"QEMU {board.qemu.machine}" if args.qemu else board.name
    progress(f"built {firmware.elf} for {where}: flash {memory.flash_bytes:,} B of {memory.flash_limit:,}, "
             f"RAM {memory.ram_bytes:,} B of {memory.ram_limit:,}")
    if args.qemu:
        print(run_firmware(firmware).uart, end="")
    return 0


def run_ci(args: argparse.Namespace) -> int:
    from .ci import github_workflow, write_workflow

    text = github_workflow(args.model, args.board, renode=args.renode, install=args.install, python=args.python,
                           output=args.output)
    if args.output is None:
        print(text, end="")
    else:
        progress(f"wrote {write_workflow(text, args.output)}")
    return 0


def run_boards(args: argparse.Namespace) -> int:
    from .boards import boards_table, list_boards

    boards = list_boards()
    print(json.dumps([board.to_json() for board in boards], indent=2) if args.json else boards_table(boards))
    return 0


def run_plan(args: argparse.Namespace) -> int:
    from .compiler import plan_model
    from .planreport import plan_json, plan_table, plot_plan

    compiled = plan_model(args.model, backend=args.kernels, data=args.data, weights=args.weights)
    if args.plot:
        plot_plan(compiled, args.plot)
        progress(f"wrote the plan's plot to {args.plot}")
    if args.json:
        from .weightsreport import weights_json

        print(json.dumps({**plan_json(compiled), "weights": weights_json(compiled)}, indent=2))
    else:
        print(plan_table(compiled))
    return 0


def run_optimize(args: argparse.Namespace) -> int:
    from .optimize import Recipe, optimize, parse_low_rank

    options = {field.name: getattr(args, field.name) for field in dataclasses.fields(Recipe)}
    options["low_rank"] = None if args.low_rank is None else parse_low_rank(args.low_rank)
    result = optimize(args.model, args.data, args.output, val=args.val, progress=progress, **options)
    print(json.dumps(result.to_json(), indent=2) if args.json else result.table())
    progress(f"wrote {result.output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except TinygenError as error:
        print(f"tinygen: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tinygen: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug in tinygen: still one line, unless debugging
        if os.environ.get("TINYGEN_DEBUG"):
            raise
        print(f"tinygen: internal error: {type(error).__name__}: {error} "
              "(set TINYGEN_DEBUG=1 for a traceback and please report it)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
