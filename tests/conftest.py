"""Shared fixtures: paths to the bundled real models and a cache of generated test models."""

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TINYGEN_SHARED", REPO.parent / "shared"))
MLPERF_DIR = SHARED / "models" / "mlperf_tiny"
MLPERF_MODELS = ["kws_ref_model", "vww_96_int8", "pretrainedResnet_quant", "ad01_int8"]

sys.path.insert(0, str(Path(__file__).resolve().parent))  # for `import modelgen`


def mlperf_model(name: str) -> Path:
    path = MLPERF_DIR / f"{name}.tflite"
    if not path.exists():
        pytest.fail(f"the MLPerf Tiny models are expected in {MLPERF_DIR} (set TINYGEN_SHARED to the "
                    "folder holding models/mlperf_tiny)")
    return path
