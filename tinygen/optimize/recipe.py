"""What to do to a model: the techniques asked for and how to fine-tune after each.

Checked here, without TensorFlow, so that an impossible request (a sparsity of 1, one
cluster) is refused at once instead of after seconds of importing TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from ..errors import OptimizationError


@dataclass(frozen=True)
class Recipe:
    """The optimization steps, applied in this order when asked for:
    low-rank factorization -> pruning -> clustering -> quantization-aware training,
    then always a full-int8 conversion (post-training quantization unless `qat`).

    `low_rank` is a rank (int >= 1) or a fraction of each kernel's energy to keep
    (float in (0, 1]); `prune` the target fraction of zero weights in [0, 1), in blocks
    of 2 output channels by 4 inputs in Dense kernels with `prune_blocks` (PRUNE_BLOCK);
    `clusters` the number of distinct values per weight tensor (per output channel of
    Conv2D with `cluster_per_channel`). `ptq` only says explicitly that the int8
    conversion is post-training; it cannot be combined with `qat`.
    """

    prune: float | None = None
    prune_blocks: bool = False
    clusters: int | None = None
    cluster_per_channel: bool = False
    low_rank: int | float | None = None
    qat: bool = False
    ptq: bool = False
    float_io: bool = False
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 1e-3
    val_split: float = 0.2
    calibration_samples: int = 256
    seed: int = 0

    def __post_init__(self):
        problems = recipe_problems(self)
        if problems:
            raise OptimizationError("; ".join(problems))

    @property
    def fine_tuning_options(self) -> list[str]:
        """The options asked for that train the model (and so need labels `y`)."""
        asked = {"--low-rank": self.low_rank is not None, "--prune": self.prune is not None,
                 "--clusters": self.clusters is not None, "--qat": self.qat}
        return [option for option, on in asked.items() if on]

    def to_json(self) -> dict:
        return asdict(self)


def recipe_problems(recipe: Recipe) -> list[str]:
    """Every reason the recipe is impossible, as one-line messages (empty when it is fine)."""
    problems = []
    if recipe.prune is not None and not 0.0 <= recipe.prune < 1.0:
        problems.append(f"--prune {recipe.prune}: the target sparsity is the fraction of weights set to zero; "
                        "it must be at least 0 and below 1 (e.g. 0.5)")
    if recipe.clusters is not None and recipe.clusters < 2:
        problems.append(f"--clusters {recipe.clusters}: weight clustering needs at least 2 clusters (e.g. 16)")
    if recipe.prune_blocks and recipe.prune is None:
        problems.append("--prune-blocks needs --prune S")
    if recipe.cluster_per_channel and recipe.clusters is None:
        problems.append("--cluster-per-channel needs --clusters N")
    if recipe.low_rank is not None:
        problems.extend(low_rank_problems(recipe.low_rank))
    if recipe.qat and recipe.ptq:
        problems.append("--qat and --ptq exclude each other: the int8 conversion is either trained (QAT) "
                        "or post-training (PTQ)")
    if recipe.epochs < 1:
        problems.append(f"--epochs {recipe.epochs}: fine-tuning needs at least 1 epoch")
    if recipe.batch_size < 1:
        problems.append(f"--batch-size {recipe.batch_size}: must be at least 1")
    if not (recipe.learning_rate > 0 and math.isfinite(recipe.learning_rate)):
        problems.append(f"--learning-rate {recipe.learning_rate}: must be a positive number")
    if not 0.0 < recipe.val_split < 1.0:
        problems.append(f"--val-split {recipe.val_split}: the held-out fraction must be above 0 and below 1")
    if recipe.calibration_samples < 1:
        problems.append(f"--calibration-samples {recipe.calibration_samples}: must be at least 1")
    return problems


def low_rank_problems(low_rank: int | float) -> list[str]:
    if isinstance(low_rank, bool) or not isinstance(low_rank, (int, float)):
        return [f"--low-rank {low_rank!r}: give a rank (an integer, e.g. 8) or an energy fraction (e.g. 0.9)"]
    if isinstance(low_rank, int) and low_rank < 1:
        return [f"--low-rank {low_rank}: the rank must be at least 1"]
    if isinstance(low_rank, float) and not 0.0 < low_rank <= 1.0:
        return [f"--low-rank {low_rank}: an energy fraction must be above 0 and at most 1"]
    return []


def parse_low_rank(text: str) -> int | float:
    """`--low-rank` on the command line: "8" is a rank, "0.9" an energy fraction."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise OptimizationError(f"--low-rank {text}: give a rank (an integer, e.g. 8) "
                                "or an energy fraction (e.g. 0.9)") from None
