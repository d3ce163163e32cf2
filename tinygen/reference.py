"""The golden reference: TensorFlow Lite Micro's own interpreter (the `tflite-micro`
package), whose reference kernels CMSIS-NN and tinygen's kernels must match bit for bit.

LiteRT's default (XNNPACK) path differs from TFLM by a few LSB, so it is never the
reference here.

TFLM aborts the whole process on some inputs (e.g. a softmax row whose exponentials
overflow its accumulator), so it runs in a child process: an abort there becomes a
TinygenError here instead of killing the caller. Children come from a fork server (a clean
process started once), not from forking the caller, which may hold TensorFlow's threads:
forking those crashed the child now and then.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np

from .errors import TinygenError

# TFLM's arena holds the activations plus per-tensor bookkeeping; the defaults of the
# Python package (10x the file size) are too small for models with few weights.
ARENA_MARGIN_BYTES = 64 * 1024
BOOKKEEPING_BYTES_PER_TENSOR = 512


def arena_size(activation_bytes: int, tensor_count: int) -> int:
    """A TFLM arena large enough for any plan of these activations."""
    return 2 * activation_bytes + BOOKKEEPING_BYTES_PER_TENSOR * tensor_count + ARENA_MARGIN_BYTES


def graph_arena_size(graph) -> int:
    """`arena_size` for a model read into the IR: its activations and its tensor count."""
    activation_bytes = sum(t.nbytes for t in graph.tensors if not t.is_constant)
    return arena_size(activation_bytes, len(graph.tensors))


def _run(model_path: str, samples: list[list[np.ndarray]], num_outputs: int, arena_bytes: int):
    from tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(model_path, arena_size=arena_bytes)
    results = []
    for sample in samples:
        for index, array in enumerate(sample):
            interpreter.set_input(array, index)
        interpreter.invoke()
        results.append([np.array(interpreter.get_output(index), copy=True) for index in range(num_outputs)])
    return results


def _child(connection, *arguments) -> None:
    try:
        connection.send(("ok", _run(*arguments)))
    except Exception as error:  # reported to the parent as a TinygenError
        connection.send(("error", f"{type(error).__name__}: {error}"))
    finally:
        connection.close()


def reference_outputs(model_path: str | Path, samples: list[list[np.ndarray]], num_outputs: int,
                      arena_bytes: int) -> list[list[np.ndarray]]:
    """Run TFLM on each sample (a list with one array per graph input); return, per sample,
    the list of its `num_outputs` output arrays."""
    context = multiprocessing.get_context("forkserver")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, str(model_path), samples, num_outputs, arena_bytes))
    process.start()
    sender.close()
    try:
        status, payload = receiver.recv()
    except EOFError:
        process.join()
        raise TinygenError(f"the TFLite Micro reference aborted on {Path(model_path).name} "
                           f"(exit code {process.exitcode}); the model or these inputs are outside what TFLM "
                           "computes") from None
    process.join()
    if status != "ok":
        raise TinygenError(f"TFLite Micro cannot run {Path(model_path).name}: {payload}")
    return payload
