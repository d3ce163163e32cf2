"""Magnitude pruning to a target sparsity, with fine-tuning (tfmot.sparsity).

The smallest-magnitude weights of each prunable kernel are zeroed step by step: the
sparsity rises on a polynomial schedule from 0 to the target over the first two thirds of
the fine-tuning steps, and the last third trains at the target to recover accuracy.
tfmot updates the masks only on steps `begin + k * frequency`, so the end step is made
one of them; otherwise the target would never be applied exactly.

With `prune_blocks`, Dense kernels lose whole blocks of PRUNE_BLOCK (4 inputs by 2 output
channels, tfmot's block_size, which pools the magnitudes of a block): after int8
conversion those are 2 rows by 4 values of the FULLY_CONNECTED filter, the pattern that
tinygen's pair-block kernels skip (tinygen/weights.py), so the layer runs in fewer
instructions than dense, not just in less flash.

Limits: tfmot does not prune DepthwiseConv2D (nor layers it does not know); those stay
dense and are reported as skipped. tfmot prunes in blocks only 2-D kernels: Conv2D kernels
are pruned value by value even with `prune_blocks`. Sparsity survives int8 conversion
(zeros stay zeros), and tinygen stores the zeros of pruned filters in no flash.
"""

from __future__ import annotations

import math

from ..errors import OptimizationError
from .data import Dataset
from .models import Progress, fine_tune, fresh_copy, kernel_of, skipped_layers, unwrap
from .recipe import Recipe
from .task import Task
from .tfstack import keras, tfmot


def schedule_steps(total_steps: int) -> tuple[int, int]:
    """(end_step, frequency) of the pruning schedule over `total_steps` training steps:
    the end is a multiple of the frequency, at about two thirds of the training."""
    if total_steps < 2:
        raise OptimizationError(f"pruning needs at least 2 training steps, got {total_steps}: "
                                "give more data, more --epochs or a smaller --batch-size")
    frequency = max(1, total_steps // 10)
    end_step = max(frequency, (2 * total_steps // 3) // frequency * frequency)
    return end_step, frequency


# Blocks of a Dense kernel [inputs, outputs] pruned together with `prune_blocks`.
PRUNE_BLOCK = (4, 2)


def _wrap_if_prunable(layer, schedule, blocks: bool):
    kernel = kernel_of(layer)
    if kernel is None:
        return layer
    block_size = PRUNE_BLOCK if blocks and isinstance(layer, keras.layers.Dense) and len(kernel.shape) == 2 \
        else (1, 1)
    try:
        return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule, block_size=block_size)
    except ValueError:  # tfmot refuses layers it does not know; they stay dense and are reported
        return layer


def _why_not_pruned(layer) -> str | None:
    if getattr(layer, "pruning_vars", None):
        return None
    return f"tfmot does not prune {type(unwrap(layer)).__name__}"


def prune(model, dataset: Dataset, task: Task, recipe: Recipe, progress: Progress, label: str):
    """A copy of `model` with each prunable kernel at `recipe.prune` zeros, fine-tuned;
    returns (model, skipped layer descriptions)."""
    steps_per_epoch = math.ceil(len(dataset.x_train) / recipe.batch_size)
    end_step, frequency = schedule_steps(steps_per_epoch * recipe.epochs)
    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=recipe.prune, begin_step=0,
                                                    end_step=end_step, frequency=frequency)
    wrapped = keras.models.clone_model(fresh_copy(model),
                                       clone_function=lambda layer: _wrap_if_prunable(layer, schedule,
                                                                                      recipe.prune_blocks))
    skipped = skipped_layers(wrapped, _why_not_pruned)
    fine_tune(wrapped, dataset, task, recipe, label, progress, callbacks=(tfmot.sparsity.keras.UpdatePruningStep(),))
    return tfmot.sparsity.keras.strip_pruning(wrapped), skipped
