"""Cheap double backprop through input gradients (conv2d, batch norm, ReLU).

See :mod:`provmm.ops.double_backward.mode`.
"""
from .mode import CheapDoubleBackwardMode, cheap_double_backward  # noqa: F401
