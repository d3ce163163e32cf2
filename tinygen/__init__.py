"""tinygen: an ahead-of-time compiler from int8 TFLite models to plain C for Cortex-M.

Pipeline: frontend (model file -> IR) -> passes -> planner (one static arena)
-> codegen (Jinja2 -> C library) -> toolchain (host / cross build) -> run and compare
with the TFLite Micro reference.
"""

__version__ = "0.1.0"
