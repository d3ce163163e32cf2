"""tinygen: an ahead-of-time compiler from int8 TFLite models to plain C for Cortex-M.

Pipeline: frontend (model file -> IR) -> passes -> planner (one static arena)
-> codegen (Jinja2 -> C library) -> toolchain (host / cross build) -> run and compare
with the TFLite Micro reference.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`tinygen.optimize` (the Keras optimizer, which uses TensorFlow) is imported on first
    use, so that `import tinygen` and `tinygen compile model.tflite` stay light."""
    if name == "optimize":
        import importlib

        return importlib.import_module(".optimize", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
