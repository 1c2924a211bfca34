"""Generators of the built-in synthetic benchmarks (plain numpy/OpenCV;
mmengine, when installed, only draws their progress bars)."""
from .backgrounds import DOMAIN_NAMES, render_background
from .shapes import SOURCE_SHAPES, TARGET_SHAPES, rasterize_shape
from .wsol_task import (SyntheticSample, SyntheticWSOLSpec, assign_domains,
                        ensure_synthetic_wsol, mask_box, read_spec,
                        render_split)

__all__ = [
    'DOMAIN_NAMES', 'render_background', 'SOURCE_SHAPES', 'TARGET_SHAPES',
    'rasterize_shape', 'SyntheticSample', 'SyntheticWSOLSpec',
    'assign_domains', 'ensure_synthetic_wsol', 'mask_box', 'read_spec',
    'render_split'
]
from .spurious_task import SyntheticSpuriousSpec, ensure_synthetic_spurious  # noqa: F401,E501
from .background_edit import BackgroundEditSpec, ensure_background_edits  # noqa: F401,E501
from .skeleton_task import SyntheticSkeletonSpec, ensure_synthetic_skeleton_stal  # noqa: F401,E501
from .fingerprint_task import FingerprintEditSpec, FingerprintTaskSpec, ensure_fingerprint_edits, ensure_synthetic_fingerprint, insert_fingerprint  # noqa: F401,E501
