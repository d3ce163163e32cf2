"""Low-rank factorization (and the pruning schedule): the rank and factor arithmetic on
hand-made matrices, exactness on a functional model with a shared layer, and the factor
shapes that reach the int8 .tflite."""

import numpy as np
import pytest

import tinygen
from optimize_support import small_model  # noqa: F401  (a fixture)
from tinygen.errors import OptimizationError
from tinygen.frontend import tflite as tflite_frontend
from tinygen.optimize import lowrank
from tinygen.optimize.models import kernel_of
from tinygen.optimize.prune import schedule_steps


@pytest.mark.parametrize("target, rank", [(0.9, 2), (0.5, 1), (1.0, 3), (2, 2), (5, 3)])
def test_rank_from_a_count_or_an_energy_fraction(target, rank):
    """Singular values 3, 2, 1 hold energies 9, 4, 1 of 14: 64 % in rank 1, 93 % in rank 2."""
    assert lowrank.choose_rank(np.array([3.0, 2.0, 1.0]), target) == rank


def test_factors_of_a_rank_two_matrix_multiply_back_to_it():
    rng = np.random.default_rng(0)
    matrix = (rng.normal(size=(6, 2)) @ rng.normal(size=(2, 4))).astype(np.float32)
    first, second = lowrank.factor_matrix(matrix, 2)
    assert first.shape == (6, 2) and second.shape == (2, 4)
    np.testing.assert_allclose(first @ second, matrix, atol=1e-5)


@pytest.mark.parametrize("total", [2, 3, 10, 45, 180, 1000])
def test_pruning_schedule_ends_on_an_update_step_within_training(total):
    end_step, frequency = schedule_steps(total)
    assert end_step % frequency == 0 and 0 < end_step <= total - 1


def test_pruning_needs_two_steps():
    with pytest.raises(OptimizationError, match="at least 2 training steps"):
        schedule_steps(1)


def test_shared_layer_of_a_functional_model_is_factorized_exactly():
    """A Dense applied twice (two inbound nodes) with a rank-2 kernel: both uses go through
    the factor, and the outputs do not change."""
    from tinygen.optimize.tfstack import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(12,), name="features")
    shared = keras.layers.Dense(12, name="shared")
    outputs = keras.layers.Dense(2, name="head")(shared(shared(inputs)))
    model = keras.Model(inputs, outputs)
    rng = np.random.default_rng(1)
    rank_two = (rng.normal(size=(12, 2)) @ rng.normal(size=(2, 12))).astype(np.float32) / 4
    model.get_layer("shared").set_weights([rank_two, rng.normal(size=12).astype(np.float32)])

    factored, skipped = lowrank.factorize(model, 2)

    assert [layer.name for layer in factored.layers] == ["features", "shared_lowrank", "shared", "head"]
    assert kernel_of(factored.get_layer("shared_lowrank")).shape == (12, 2)
    assert kernel_of(factored.get_layer("shared")).shape == (2, 12)
    assert len(factored.get_layer("shared")._inbound_nodes) == 2
    assert skipped == ["head (Dense): rank 2 of a 12x2 kernel saves no parameters"]
    x = rng.normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_allclose(factored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-4, atol=1e-4)


def test_low_rank_step_puts_the_factor_shapes_into_the_tflite(small_model, tmp_path):
    """Rank 4 on the small CNN: Dense 64->24 becomes 64->4->24 and the 1x1 Conv2D 8->16
    becomes 8->4->16; Dense 24->4 (no saving) and the 3x3 Conv2D are skipped."""
    result = tinygen.optimize(small_model["model"], small_model["train"], tmp_path / "low_rank.tflite",
                              val=small_model["val"], low_rank=4, epochs=2, progress=lambda message: None)
    model = result.keras_model
    shapes = {layer.name: tuple(kernel_of(layer).shape) for layer in model.layers if kernel_of(layer) is not None}
    assert shapes["hidden_lowrank"] == (64, 4) and shapes["hidden"] == (4, 24)
    assert shapes["pointwise_lowrank"] == (1, 1, 8, 4) and shapes["pointwise"] == (1, 1, 4, 16)
    float_row, factored_row, _ = result.steps
    assert factored_row.step == "low-rank 4" and factored_row.params < float_row.params
    assert {item.split(" ")[0] for item in factored_row.skipped} == {"conv", "logits"}

    graph = tflite_frontend.load(result.output)
    filters = [graph.tensors[op.inputs[1]].shape for op in graph.ops if op.kind in ("CONV_2D", "FULLY_CONNECTED")]
    assert filters == [(8, 3, 3, 1), (4, 1, 1, 8), (16, 1, 1, 4), (4, 64), (24, 4), (4, 24)]
