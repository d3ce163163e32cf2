"""The `tinygen` command line.

Every user-facing failure is a TinygenError, printed as one line `tinygen: error: ...`
with exit status 1 (2 for bad usage). Set TINYGEN_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import argparse
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
  compile   model -> C library (<name>.h, <name>.c, weights, kernels)
  verify    build the generated C and compare every output byte with TFLite Micro
  plan      show the static memory plan (arena offsets and lifetimes)
"""


def _add_model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="int8 model file (.tflite)")


def _add_backend_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernels", choices=("tinygen", "cmsis-nn"), default="tinygen",
                        help="kernel backend: tinygen's portable C kernels (default) or calls to CMSIS-NN")


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
    compile_parser.add_argument("-o", "--output", required=True, help="directory to write the library into")
    compile_parser.add_argument("--name", help="C name of the model (default: the file name); "
                                               "prefixes every symbol of the API")
    _add_backend_argument(compile_parser)
    compile_parser.set_defaults(handler=run_compile)

    verify_parser = commands.add_parser(
        "verify", help="check the generated C against TFLite Micro, byte for byte",
        description="Compile the model, build it with a test harness, run seeded random inputs (and any "
                    "given with --inputs) and compare every output byte with the TFLite Micro reference "
                    "interpreter. Exit status 0 only if all outputs are identical.")
    _add_model_argument(verify_parser)
    verify_parser.add_argument("--host", action="store_true", help="build and run with the host C compiler "
                                                                   "(the default target)")
    verify_parser.add_argument("--count", type=int, default=10, help="random inputs to check (default 10)")
    verify_parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    verify_parser.add_argument("--inputs", help=".npy file with extra inputs: one array of the input's shape "
                                                "or a batch of them")
    verify_parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    _add_backend_argument(verify_parser)
    verify_parser.set_defaults(handler=run_verify)

    plan_parser = commands.add_parser(
        "plan", help="print the memory plan",
        description="Show where every intermediate tensor and scratch buffer lives in the arena, and when.")
    _add_model_argument(plan_parser)
    plan_parser.add_argument("--json", action="store_true",
                             help="print arena_bytes and per buffer its offset, size, first and last use")
    _add_backend_argument(plan_parser)
    plan_parser.set_defaults(handler=run_plan)
    return parser


def progress(message: str) -> None:
    """Progress goes to stderr, so that --json output on stdout stays clean."""
    print(message, file=sys.stderr, flush=True)


def run_compile(args: argparse.Namespace) -> int:
    from .compiler import compile_model

    started = time.perf_counter()
    compiled = compile_model(args.model, args.output, name=args.name, backend=args.kernels)
    elapsed = time.perf_counter() - started
    print(f"compiled {Path(args.model).name} -> {compiled.directory}/ as '{compiled.name}': "
          f"{len(compiled.layers)} layers, arena {compiled.arena_bytes} B, weights {compiled.weights_bytes} B "
          f"({elapsed:.2f} s)")
    for file_name in sorted(compiled.library.files):
        print(f"  {compiled.directory / file_name}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from .verify import verify_host

    if args.count < 0:
        raise TinygenError("--count must be zero or more")
    if not args.json:
        progress(f"verifying {args.model} on the host ({args.count} random inputs, seed {args.seed})...")
    result = verify_host(args.model, count=args.count, seed=args.seed, inputs_file=args.inputs,
                         backend=args.kernels)
    if result.inputs_checked == 0:
        raise TinygenError("no inputs to check: give --count above 0 or --inputs")
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    elif result.bit_exact:
        print(f"PASS: {result.model} on {result.target}: all outputs of {result.inputs_checked} inputs equal "
              f"TFLite Micro's (arena {result.arena_bytes} B, weights {result.weights_bytes} B)")
    else:
        print(f"FAIL: {result.model} on {result.target}: {result.mismatches} output values differ from "
              f"TFLite Micro's; first: {result.first_mismatch}")
    return 0 if result.bit_exact else 1


def run_plan(args: argparse.Namespace) -> int:
    from .compiler import plan_model
    from .planreport import plan_json, plan_table

    compiled = plan_model(args.model, backend=args.kernels)
    if args.json:
        print(json.dumps(plan_json(compiled), indent=2))
    else:
        print(plan_table(compiled))
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
