"""The optimization driver: a float Keras model and data in, a full-int8 .tflite and a
report out. It reads like the pipeline it runs; each technique is its own module:

    load + check -> float row -> low-rank (lowrank) -> prune (prune) -> cluster (cluster)
    -> QAT / PQAT / CQAT / PCQAT (quantize) -> full-int8 conversion -> int8 row

Each step starts from a copy of the previous model, is seeded, fine-tunes on the training
split and is measured on the held-out split.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..files import write_output
from . import cluster as clustering
from . import lowrank, measure
from . import prune as pruning
from . import quantize
from .data import DataSource, Dataset, calibration_inputs, load_dataset
from .models import Progress, load_model, output_activation, output_units, require_keras2, single_input_shape
from .recipe import Recipe
from .report import StepReport, format_kernels, format_table
from .task import Task, infer_task
from .tfstack import keras


@dataclass(frozen=True)
class OptimizeResult:
    """The written .tflite, the report rows in step order, and the last Keras model
    (float or quantization-aware) that was converted."""

    output: Path
    recipe: Recipe
    steps: tuple[StepReport, ...]
    keras_model: object

    def table(self) -> str:
        """The report table, then the final model's kernels one by one."""
        return format_table(list(self.steps)) + "\n\n" + format_kernels(self.steps[-1])

    def to_json(self) -> dict:
        return {"output": str(self.output), "recipe": self.recipe.to_json(),
                "steps": [step.to_json() for step in self.steps]}


def _load(source) -> tuple[object, str]:
    """(model, how messages name it) from a checked path or an in-memory Keras model."""
    if isinstance(source, (str, Path)):
        return load_model(Path(source)), str(source)
    return source, "the model"


def _task(model, dataset: Dataset) -> Task | None:
    if dataset.y_train is None:
        return None
    return infer_task(output_units(model), output_activation(model), dataset.y_train)


def _low_rank_label(target: int | float) -> str:
    return f"low-rank {target}" if isinstance(target, int) else f"low-rank {target:.0%} energy"



# A technique: (model, dataset, task, recipe, progress, label) -> (new model, skipped layers).
Technique = Callable[[object, Dataset, Task, Recipe, Progress, str], tuple[object, list[str]]]


def planned_steps(recipe: Recipe) -> list[tuple[str, Technique]]:
    """(label, technique) of each step the recipe asks for, in pipeline order."""
    planned = []
    if recipe.low_rank is not None:
        planned.append((_low_rank_label(recipe.low_rank), lowrank.low_rank))
    if recipe.prune is not None:
        planned.append((f"prune {recipe.prune:.0%}", pruning.prune))
    if recipe.clusters is not None:
        per_channel = "/channel" if recipe.cluster_per_channel else ""
        planned.append((f"cluster {recipe.clusters}{per_channel}", clustering.cluster))
    if recipe.qat:
        planned.append((quantize.qat_scheme(recipe)[0], quantize.qat))
    return planned


def run(source, data: DataSource, output: str | Path, recipe: Recipe, val: DataSource | None,
        progress: Progress) -> OptimizeResult:
    """Apply `recipe` to the Keras model `source`; write the int8 .tflite to `output`.
    tfmot's warnings about layers it leaves alone are dropped: the report lists them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="tensorflow_model_optimization")
        return _run(source, data, output, recipe, val, progress)


def _run(source, data: DataSource, output: str | Path, recipe: Recipe, val: DataSource | None,
         progress: Progress) -> OptimizeResult:
    model, origin = _load(source)
    require_keras2(model, origin)
    dataset = load_dataset(data, val, single_input_shape(model, origin), recipe.fine_tuning_options,
                           recipe.val_split, recipe.seed)
    task = _task(model, dataset)
    progress(f"float: {len(dataset.x_train)} training and {len(dataset.x_val)} held-out samples")
    steps = [measure.measure_keras("float", model, dataset, task)]
    for label, technique in planned_steps(recipe):
        keras.utils.set_random_seed(recipe.seed)
        model, skipped = technique(model, dataset, task, recipe, progress, label)
        steps.append(measure.measure_keras(label, model, dataset, task, skipped))
    conversion = steps[-1].step if recipe.qat else "ptq"
    calibration = dataset.x_train[:recipe.calibration_samples]
    progress(f"int8: converting with {len(calibration)} calibration samples")
    output = Path(output)
    write_output(output, quantize.convert_int8(model, calibration, recipe.float_io))
    progress(f"int8: evaluating {output.name} with TFLite Micro on {len(dataset.x_val)} held-out samples")
    steps.append(measure.measure_tflite(f"int8 ({conversion})", output, dataset, task))
    return OptimizeResult(output=output, recipe=recipe, steps=tuple(steps), keras_model=model)


def convert_keras_file(path: Path, data: DataSource, calibration_samples: int = 256) -> bytes:
    """The full-int8 .tflite (int8 I/O) of the Keras model at `path` by post-training
    quantization, calibrated on up to `calibration_samples` inputs `x` of `data`. Keras 3
    models are accepted here: the converter reads them, only tfmot cannot."""
    model = load_model(Path(path))
    inputs = calibration_inputs(data, single_input_shape(model, str(path)), calibration_samples)
    return quantize.convert_int8(model, inputs, float_io=False)
