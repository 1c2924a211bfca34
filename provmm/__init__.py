"""provmm: provenance-based input gradient guidance for OpenMMLab.

Like ``import mmpretrain``, ``import provmm`` registers nothing and imports
no framework: the registries in :mod:`provmm.registry` import provmm's
modules on first use (``default_scope='provmm'`` or a ``provmm.`` type
prefix), and :mod:`provmm.provenance` needs only torch, numpy and OpenCV.
"""
from .version import __version__

__all__ = ['__version__']
