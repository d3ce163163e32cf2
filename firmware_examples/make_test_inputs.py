"""The example applications and their fixed test inputs.

Writes each example's test_input.h: the real-valued input its main.c quantizes (with the
model's scale and zero point) and feeds to the model. The inputs are made here, seeded, so
that they are reproducible; the tests import EXAMPLES to build each application, run it in
QEMU and compare what it prints with TensorFlow Lite Micro's answer for the same input.

    .venv/bin/python firmware_examples/make_test_inputs.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinygen import codegen

EXAMPLES_DIR = Path(__file__).resolve().parent
REPO = EXAMPLES_DIR.parent


@dataclass(frozen=True)
class Example:
    """One application of firmware_examples/."""

    directory: str  # its folder under firmware_examples/
    model: str  # the model file, relative to the repository root
    made_by: str | None  # the script that makes the model (None: the model is committed)
    name: str  # the C name main.c calls the model by (tinygen --name)
    input_description: str
    make_input: Callable[[], np.ndarray]  # the real-valued input, float32, in the model's input shape

    @property
    def path(self) -> Path:
        return EXAMPLES_DIR / self.directory

    @property
    def main(self) -> Path:
        return self.path / "main.c"

    @property
    def header(self) -> Path:
        return self.path / "test_input.h"


def _uniform(seed: int, low: float, high: float, shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    return lambda: np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def _pixels(seed: int, shape: tuple[int, ...]) -> Callable[[], np.ndarray]:
    return lambda: np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32)


def _held_out_digit() -> np.ndarray:
    """The first image of the digits example's held-out split (never trained on)."""
    sys.path.insert(0, str(EXAMPLES_DIR / "digits"))
    from train_and_compile import digits_data

    _, test = digits_data(seed=0)
    return test["x"][:1]


EXAMPLES = (
    Example("keyword_spotting", "firmware_examples/keyword_spotting/kws_ref_model.tflite", None, "kws",
            "seeded noise in the range of MFCC features (not a recording)", _uniform(1, -30.0, 20.0, (1, 49, 10, 1))),
    Example("image_classification", "firmware_examples/image_classification/pretrainedResnet_quant.tflite", None,
            "resnet8", "seeded random pixels, 0-255 (not a photograph)", _pixels(2, (1, 32, 32, 3))),
    Example("anomaly_detection", "firmware_examples/anomaly_detection/ad01_int8.tflite", None, "autoencoder",
            "seeded noise in the range of log-mel energies (not a recording)", _uniform(3, -60.0, 0.0, (1, 640))),
    Example("digits", "build/digits/digits_int8.tflite", "firmware_examples/digits/train_and_compile.py", "digits",
            "the first image of the held-out split of scikit-learn's digits, a real handwritten digit",
            _held_out_digit),
)


def render_header(example: Example) -> str:
    """The text of `example`'s test_input.h."""
    values = example.make_input()
    env = codegen.environment()
    template = env.from_string((EXAMPLES_DIR / "test_input.h.j2").read_text())
    return template.render(example=example, values=values, shape="x".join(map(str, values.shape)))


def quantize(real: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """What example_quantize (common/example.h) computes, step for step in float32."""
    scaled = real.astype(np.float32) / np.float32(scale)
    half = np.float32(0.5)
    rounded = np.where(scaled >= 0, np.trunc(scaled + half), -np.trunc(half - scaled)).astype(np.int32)
    return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) each example's test_input.h.")
    parser.add_argument("--check", action="store_true", help="only check that every test_input.h is up to date")
    args = parser.parse_args(argv)
    stale = []
    for example in EXAMPLES:
        text = render_header(example)
        if args.check:
            if not example.header.is_file() or example.header.read_text() != text:
                stale.append(str(example.header))
        else:
            example.header.write_text(text)
            print(f"wrote {example.header.relative_to(REPO)}")
    if stale:
        print("out of date (run firmware_examples/make_test_inputs.py): " + ", ".join(stale), file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
