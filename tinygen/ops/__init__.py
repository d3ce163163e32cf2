"""The op registry and every op family registered in it (see registry.py)."""

from . import registry
from .registry import BACKENDS, ConstArray, Layer, OpSpec, check_supported, lookup, supported_kinds

# Importing a family module registers its ops.
from . import conv, elementwise, pooling, quantize, shape, softmax, unary  # noqa: E402,F401

__all__ = ["BACKENDS", "ConstArray", "Layer", "OpSpec", "check_supported", "lookup", "registry",
           "supported_kinds"]
