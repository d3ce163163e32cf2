"""Handwritten digits on a microcontroller, end to end, with no download.

Trains a small CNN on scikit-learn's bundled 8x8 digits, then runs tinygen's edge
pipeline on it: prune to 50 % sparsity, cluster to 16 values per kernel, fine-tune with
PCQAT (quantization-aware training that keeps both the zeros and the clusters), convert
to full int8, compile to C and check the C bit for bit against TensorFlow Lite Micro.
A post-training-quantized (PTQ) copy of the float model is made too, as the baseline.

    .venv/bin/python firmware_examples/digits/train_and_compile.py [--out build/digits]

Writes into --out: digits_float.keras, digits_train.npz / digits_test.npz (the data as
`tinygen optimize` takes it), digits_int8.tflite (PCQAT), digits_ptq.tflite and the C
library in c/. The tests import this file and run `run_example` with fewer epochs.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot needs Keras 2 (tf_keras); set before TF loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tinygen  # noqa: E402
from tinygen.compiler import CompiledModel, compile_model  # noqa: E402
from tinygen.verify import VerifyResult, verify_host  # noqa: E402

TEST_FRACTION = 0.2


def digits_data(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(train, test) as {"x": float32 (N, 8, 8, 1) in [0, 1], "y": int64 class indices},
    split by a seeded shuffle; the test part is never trained on."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., np.newaxis]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = np.split(order, [int(TEST_FRACTION * len(x))])
    return {"x": x[train], "y": y[train]}, {"x": x[test], "y": y[test]}


def build_cnn():
    """A small CNN with a depthwise-separable block (as on MobileNets): tfmot does not
    prune or cluster DepthwiseConv2D, so the report shows that layer skipped."""
    import tf_keras as keras

    layers = keras.layers
    return keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.DepthwiseConv2D(3, padding="same", activation="relu"),
        layers.Conv2D(32, 1, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dense(32, activation="relu"),
        layers.Dense(10),
    ], name="digits")


def train_float(train: dict[str, np.ndarray], epochs: int, seed: int):
    """The float model, trained from a seeded initialization."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    model = build_cnn()
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train["x"], train["y"], batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    return model


@dataclass(frozen=True)
class ExampleOutcome:
    pipeline: object  # tinygen.optimize's OptimizeResult for prune + cluster + PCQAT
    ptq: object  # the same for post-training quantization only
    compiled: CompiledModel
    verified: VerifyResult


def run_example(out: Path, float_epochs: int = 40, epochs: int = 6, seed: int = 0) -> ExampleOutcome:
    """Train, optimize (prune 50 % + 16 clusters + PCQAT), convert, compile and verify."""
    out.mkdir(parents=True, exist_ok=True)
    train, test = digits_data(seed)
    np.savez(out / "digits_train.npz", **train)
    np.savez(out / "digits_test.npz", **test)
    model = train_float(train, float_epochs, seed)
    model.save(out / "digits_float.keras")
    pipeline = tinygen.optimize(out / "digits_float.keras", out / "digits_train.npz", out / "digits_int8.tflite",
                                val=out / "digits_test.npz", prune=0.5, clusters=16, qat=True, epochs=epochs,
                                seed=seed)
    ptq = tinygen.optimize(out / "digits_float.keras", out / "digits_train.npz", out / "digits_ptq.tflite",
                           val=out / "digits_test.npz", ptq=True, seed=seed)
    compiled = compile_model(pipeline.output, out / "c", name="digits")
    verified = verify_host(pipeline.output, count=20, seed=seed)
    return ExampleOutcome(pipeline, ptq, compiled, verified)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/digits"), help="output folder (default build/digits)")
    parser.add_argument("--float-epochs", type=int, default=40, help="epochs of float training (default 40)")
    parser.add_argument("--epochs", type=int, default=6, help="fine-tuning epochs per step (default 6)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    outcome = run_example(args.out, args.float_epochs, args.epochs, args.seed)
    print("prune 50 % + 16 clusters + PCQAT:\n" + outcome.pipeline.table())
    print("\npost-training quantization only:\n" + outcome.ptq.table())
    compiled = outcome.compiled
    print(f"\ncompiled {outcome.pipeline.output} -> {compiled.directory}/ as '{compiled.name}': "
          f"arena {compiled.arena_bytes} B, weights {compiled.weights_bytes} B")
    verified = outcome.verified
    print(f"{'PASS' if verified.bit_exact else 'FAIL'}: the C on the host against TFLite Micro, "
          f"{verified.inputs_checked} inputs, {verified.mismatches} differing output values")
    return 0 if verified.bit_exact else 1


if __name__ == "__main__":
    sys.exit(main())
