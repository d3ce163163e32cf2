"""The whole pipeline on real data: the digits example (a small CNN trained on
scikit-learn's bundled 8x8 digits, pruned to 50 %, clustered to 16 values, fine-tuned
with PCQAT, converted to int8, compiled and verified) runs end to end, keeps accuracy
within 2 points of the float model, keeps its zeros and clusters in int8, and its C is
bit-exact with TFLite Micro on the host."""

import importlib.util
import sys
from pathlib import Path

from optimize_support import int8_kernels, is_depthwise

EXAMPLE = Path(__file__).resolve().parents[2] / "firmware_examples" / "digits" / "train_and_compile.py"


def load_example():
    """The example script as a module (registered first: its dataclass needs that)."""
    spec = importlib.util.spec_from_file_location("digits_example", EXAMPLE)
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(module)
    return module


def test_digits_pipeline_keeps_accuracy_and_compiles_bit_exact(tmp_path):
    outcome = load_example().run_example(tmp_path, seed=0)
    steps = {step.step: step for step in outcome.pipeline.steps}
    assert list(steps) == ["float", "prune 50%", "cluster 16", "pcqat", "int8 (pcqat)"]
    float_accuracy, int8 = steps["float"].metric, steps["int8 (pcqat)"]
    assert float_accuracy >= 0.95, "the float model did not learn the digits"
    assert int8.metric >= float_accuracy - 0.02, outcome.pipeline.table()
    assert outcome.ptq.steps[-1].metric >= float_accuracy - 0.02, outcome.ptq.table()

    for stats, per_channel in int8_kernels(outcome.pipeline.output):
        if not is_depthwise(stats.name):
            assert stats.zeros / stats.elements >= 0.5 - 1 / stats.elements, stats
            assert (stats.max_distinct_per_channel if per_channel else stats.distinct) <= 16, stats

    assert outcome.compiled.weights_bytes == int8.flash_bytes
    assert outcome.verified.bit_exact and outcome.verified.inputs_checked == 20
