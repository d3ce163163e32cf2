"""Low-rank factorization of Dense and 1x1 Conv2D layers by truncated SVD.

A kernel W (fan_in x fan_out) = U S V^T is replaced by two layers: the first multiplies
by U_r sqrt(S_r) (fan_in x r, no bias, linear), the second by sqrt(S_r) V_r^T (r x
fan_out) and keeps the original name, bias and activation. Parameters drop from
fan_in * fan_out to r * (fan_in + fan_out), so a layer is factorized only where that is
smaller; the others are reported as skipped. The rank is either given, or chosen per
layer as the smallest that keeps a fraction of the kernel's energy (the sum of squared
singular values). Truncation costs accuracy; the pipeline fine-tunes afterwards.

A 1x1 Conv2D is the same matrix product at every pixel, so it becomes two 1x1
convolutions (the first keeps the strides; padding does not matter at 1x1).

The model is rebuilt from its config, with the factor layer inserted before each
factorized layer, so Sequential and functional models (shared layers included) keep
their structure. Limits: channels-last, ungrouped, undilated 1x1 convolutions only.
"""

from __future__ import annotations

import copy

import numpy as np

from .data import Dataset
from .models import Progress, fine_tune, fresh_copy
from .recipe import Recipe
from .task import Task

FACTOR_SUFFIX = "_lowrank"


def choose_rank(singular_values: np.ndarray, target: int | float) -> int:
    """The rank to keep: `target` itself when an int (capped at the full rank), else the
    smallest rank whose singular values hold at least the fraction `target` of the energy."""
    if isinstance(target, int):
        return min(target, len(singular_values))
    energy = np.cumsum(singular_values.astype(np.float64) ** 2)
    if energy[-1] == 0:
        return 1
    return int(np.searchsorted(energy / energy[-1], target - 1e-12) + 1)


def factor_matrix(matrix: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) with first @ second the best rank-`rank` approximation of `matrix`;
    the singular values are split evenly (sqrt) so both factors have similar scales."""
    left, singular, right = np.linalg.svd(matrix.astype(np.float64), full_matrices=False)
    root = np.sqrt(singular[:rank])
    return (left[:, :rank] * root).astype(np.float32), (root[:, np.newaxis] * right[:rank]).astype(np.float32)


def saves_parameters(rank: int, fan_in: int, fan_out: int) -> bool:
    return rank * (fan_in + fan_out) < fan_in * fan_out


def factorizable_reason(layer) -> str | None:
    """None when `layer` is a Dense or a plain 1x1 Conv2D; else why it is not."""
    kind = type(layer).__name__
    if kind == "Dense":
        return None if len(layer.kernel.shape) == 2 else "a Dense kernel of more than 2 dimensions"
    if kind != "Conv2D":
        return f"only Dense and 1x1 Conv2D layers are factorized, not {kind}"
    config = layer.get_config()
    plain = (tuple(config["kernel_size"]) == (1, 1) and tuple(config["dilation_rate"]) == (1, 1)
             and config.get("groups", 1) == 1 and config["data_format"] == "channels_last")
    return None if plain else "a Conv2D that is not a plain 1x1 convolution"


def plan_ranks(model, target: int | float) -> tuple[dict[str, int], list[str]]:
    """The rank of each layer to factorize (by name), and 'name (Class): reason' for each
    Dense or Conv2D layer left alone."""
    ranks, skipped = {}, []
    for layer in model.layers:
        if type(layer).__name__ not in ("Dense", "Conv2D"):
            continue
        reason = factorizable_reason(layer)
        if reason is None:
            matrix = kernel_matrix(layer.get_weights()[0])
            rank = choose_rank(np.linalg.svd(matrix, compute_uv=False), target)
            if saves_parameters(rank, *matrix.shape):
                ranks[layer.name] = rank
                continue
            reason = f"rank {rank} of a {matrix.shape[0]}x{matrix.shape[1]} kernel saves no parameters"
        skipped.append(f"{layer.name} ({type(layer).__name__}): {reason}")
    return ranks, skipped


def kernel_matrix(kernel: np.ndarray) -> np.ndarray:
    """A Dense (in, out) or 1x1 Conv2D (1, 1, in, out) kernel as an (in, out) matrix."""
    return kernel.reshape(-1, kernel.shape[-1])


def factor_layer_configs(layer_config: dict, rank: int) -> tuple[dict, dict]:
    """The Keras configs (`{"class_name", "config", ...}`) of the two layers replacing one:
    the factor (new name, `rank` units or filters, no bias, linear) and the original
    (same name, its own width, bias and activation, stride 1)."""
    width_key = "units" if layer_config["class_name"] == "Dense" else "filters"
    name = layer_config["config"]["name"]
    first, second = copy.deepcopy(layer_config), copy.deepcopy(layer_config)
    first["config"].update({"name": name + FACTOR_SUFFIX, width_key: rank, "use_bias": False,
                            "activation": "linear"})
    if "name" in first:  # functional configs repeat the name beside "config"
        first["name"] = name + FACTOR_SUFFIX
    second["config"].pop("batch_input_shape", None)
    if width_key == "filters":
        second["config"]["strides"] = (1, 1)
    for config in (first, second):
        config.pop("build_config", None)
    return first, second


def rewrite_config(model_config: dict, ranks: dict[str, int]) -> dict:
    """A model config with each layer named in `ranks` split into factor + original.

    In functional configs the factor takes over the original's inbound nodes and the
    original is fed, node for node, by the factor, so shared layers stay shared."""
    rewritten = copy.deepcopy(model_config)
    layers = []
    for layer_config in rewritten["layers"]:
        name = layer_config["config"]["name"]
        if name not in ranks:
            layers.append(layer_config)
            continue
        first, second = factor_layer_configs(layer_config, ranks[name])
        if "inbound_nodes" in layer_config:
            second["inbound_nodes"] = [[[first["name"], node, 0, {}]]
                                       for node in range(len(layer_config["inbound_nodes"]))]
        layers.extend([first, second])
    rewritten["layers"] = layers
    return rewritten


def factorize(model, target: int | float):
    """A copy of `model` with every Dense / 1x1 Conv2D kernel that gains from it replaced
    by a rank-r product; returns (model, skipped layer descriptions)."""
    ranks, skipped = plan_ranks(model, target)
    if not ranks:
        return fresh_copy(model), skipped
    factored = type(model).from_config(rewrite_config(model.get_config(), ranks))
    for layer in factored.layers:
        name = layer.name.removesuffix(FACTOR_SUFFIX)
        original = model.get_layer(name).get_weights()
        if name not in ranks:
            layer.set_weights(original)
            continue
        first, second = factor_matrix(kernel_matrix(original[0]), ranks[name])
        if layer.name != name:
            layer.set_weights([first.reshape(layer.get_weights()[0].shape)])
        else:
            layer.set_weights([second.reshape(layer.get_weights()[0].shape), *original[1:]])
    return factored, skipped


def low_rank(model, dataset: Dataset, task: Task, recipe: Recipe, progress: Progress, label: str):
    """`factorize` to `recipe.low_rank`, then fine-tune; returns (model, skipped)."""
    factored, skipped = factorize(model, recipe.low_rank)
    fine_tune(factored, dataset, task, recipe, label, progress)
    return factored, skipped
