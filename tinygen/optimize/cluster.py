"""k-means weight clustering with fine-tuning (tfmot.clustering).

Each clusterable kernel keeps only N distinct values (the centroids, initialized with
k-means++ and then trained); with `per_channel`, Conv2D kernels get N per output channel
instead, which fits per-channel int8 quantization better. After a pruning step the zeros
are kept (`preserve_sparsity`), so the two compose.

After int8 conversion a kernel quantized per channel has at most N values in each
channel, but up to N x channels across the tensor (each channel has its own scale);
one quantized per tensor has at most N. Limits: tfmot does not cluster DepthwiseConv2D,
nor a Conv2D with fewer weights than clusters; those are reported as skipped.
"""

from __future__ import annotations

from .data import Dataset
from .models import Progress, fine_tune, fresh_copy, kernel_of, skipped_layers, unwrap
from .recipe import Recipe
from .task import Task
from .tfstack import keras, tfmot


def _wrap_if_clusterable(layer, settings: dict):
    if kernel_of(layer) is None:
        return layer
    try:
        return tfmot.clustering.keras.cluster_weights(layer, **settings)
    except ValueError:  # tfmot refuses layers it does not know; they keep their values and are reported
        return layer


def _why_not_clustered(clusters: int, per_channel: bool):
    def reason(layer) -> str | None:
        if getattr(layer, "original_clusterable_weights", None):
            return None
        if layer is unwrap(layer) and type(layer).__name__ == "Conv2D":
            return f"fewer weights{' per channel' if per_channel else ''} than {clusters} clusters"
        return f"tfmot does not cluster {type(unwrap(layer)).__name__}"
    return reason


def cluster(model, dataset: Dataset, task: Task, recipe: Recipe, progress: Progress, label: str):
    """A copy of `model` whose clusterable kernels hold at most `recipe.clusters` distinct
    values (per tensor, or per Conv2D output channel), keeping the zeros of an earlier
    pruning step, fine-tuned; returns (model, skipped layer descriptions)."""
    settings = {"number_of_clusters": recipe.clusters,
                "cluster_centroids_init": tfmot.clustering.keras.CentroidInitialization.KMEANS_PLUS_PLUS,
                "cluster_per_channel": recipe.cluster_per_channel, "preserve_sparsity": recipe.prune is not None}
    wrapped = keras.models.clone_model(fresh_copy(model),
                                       clone_function=lambda layer: _wrap_if_clusterable(layer, settings))
    skipped = skipped_layers(wrapped, _why_not_clustered(recipe.clusters, recipe.cluster_per_channel))
    fine_tune(wrapped, dataset, task, recipe, label, progress)
    return tfmot.clustering.keras.strip_clustering(wrapped), skipped
