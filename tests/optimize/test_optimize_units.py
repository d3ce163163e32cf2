"""The pure parts of tinygen.optimize, on hand-made inputs: option checks, data checks,
task inference, weight statistics, the pruning schedule and the low-rank arithmetic."""

import numpy as np
import pytest

from tinygen.errors import DataError, OptimizationError
from tinygen.optimize.data import check_inputs, read_arrays, split_held_out
from tinygen.optimize.recipe import Recipe, parse_low_rank
from tinygen.optimize.report import tensor_stats
from tinygen.optimize.task import BINARY, CLASSIFICATION, REGRESSION, infer_task


@pytest.mark.parametrize("options, fragment", [
    ({"prune": 1.0}, "below 1"),
    ({"prune": -0.1}, "at least 0"),
    ({"clusters": 1}, "at least 2 clusters"),
    ({"cluster_per_channel": True}, "needs --clusters"),
    ({"qat": True, "ptq": True}, "exclude each other"),
    ({"low_rank": 0}, "rank must be at least 1"),
    ({"low_rank": 1.5}, "energy fraction"),
    ({"epochs": 0}, "at least 1 epoch"),
    ({"val_split": 1.0}, "held-out fraction"),
])
def test_impossible_recipes_are_refused(options, fragment):
    with pytest.raises(OptimizationError, match=fragment):
        Recipe(**options)


def test_fine_tuning_options_name_what_needs_labels():
    assert Recipe().fine_tuning_options == []
    assert Recipe(prune=0.5, qat=True).fine_tuning_options == ["--prune", "--qat"]


def test_low_rank_text_is_a_rank_or_an_energy():
    assert parse_low_rank("8") == 8 and isinstance(parse_low_rank("8"), int)
    assert parse_low_rank("0.9") == 0.9
    with pytest.raises(OptimizationError, match="rank"):
        parse_low_rank("eight")


def test_inputs_must_match_the_model_input():
    x = np.zeros((5, 8, 8, 1), dtype=np.float64)
    assert check_inputs(x, (None, 8, 8, 1), "d.npz").dtype == np.float32
    assert check_inputs(x, (None, None, None, 1), "d.npz").shape == x.shape
    with pytest.raises(DataError, match=r"shape \(5, 8, 8, 1\); the model's input needs \(N, 64\)"):
        check_inputs(x, (None, 64), "d.npz")


def test_held_out_split_is_seeded_and_disjoint():
    x, y = np.arange(10.0).reshape(10, 1), np.arange(10)
    first, again = split_held_out(x, y, 0.3, seed=4), split_held_out(x, y, 0.3, seed=4)
    assert len(first.x_val) == 3 and len(first.x_train) == 7
    np.testing.assert_array_equal(first.y_val, again.y_val)
    assert not set(first.y_val) & set(first.y_train)


@pytest.mark.parametrize("units, activation, labels, kind, from_logits", [
    (10, "linear", np.array([0, 3, 9]), CLASSIFICATION, True),
    (3, "softmax", np.eye(3)[[0, 2, 1]], CLASSIFICATION, False),
    (1, "sigmoid", np.array([0, 1, 1]), BINARY, False),
    (2, "linear", np.array([[0.5, 1.5], [2.0, 0.1]]), REGRESSION, False),
])
def test_task_follows_output_and_labels(units, activation, labels, kind, from_logits):
    task = infer_task(units, activation, labels)
    assert (task.kind, task.from_logits) == (kind, from_logits)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(DataError, match="class 12"):
        infer_task(10, "softmax", np.array([1, 12]))


def test_scores():
    classify = infer_task(3, "softmax", np.array([0, 1, 2]))
    assert classify.score(np.array([[0.9, 0.1, 0], [0.2, 0.7, 0.1]]), np.array([0, 2])) == 0.5
    regress = infer_task(1, "linear", np.array([1.0, 2.0]))
    assert regress.metric == "mse" and regress.score(np.array([[1.0], [4.0]]), np.array([1.0, 2.0])) == 2.0


def test_tensor_stats_counts_zeros_and_distinct_values_per_channel():
    """A (2 channels, 3) kernel: channel 0 holds {0, 1}, channel 1 holds {0, 2, 5}."""
    kernel = np.array([[0, 1, 1], [0, 2, 5]], dtype=np.int8)
    stats = tensor_stats("k", kernel, channel_axis=0)
    assert (stats.elements, stats.zeros, stats.distinct, stats.max_distinct_per_channel) == (6, 2, 4, 3)
    assert tensor_stats("k", kernel, channel_axis=1).max_distinct_per_channel == 2


def test_data_files_that_are_not_npz_archives_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    (tmp_path / "text.npz").write_text("x,y\n1,2\n")
    with pytest.raises(DataError, match="a single .npy array"):
        read_arrays(tmp_path / "x.npy")
    with pytest.raises(DataError, match="cannot read it as an .npz archive"):
        read_arrays(tmp_path / "text.npz")
    with pytest.raises(DataError, match="no such file"):
        read_arrays(tmp_path / "absent.npz")
