"""CAM -> score map, the one place where score maps are normalised."""
from typing import Optional, Tuple

import cv2
import numpy as np


def normalize_scoremap(cam: np.ndarray) -> np.ndarray:
    """Min-max normalise a map to [0, 1] in float64, as the reference does.

    A map with a NaN, or a constant map, becomes all zeros.

    Args:
        cam: ``(H, W)`` map.

    Returns:
        ``(H, W)`` float64 map (a new array).
    """
    cam = np.array(cam, dtype=np.float64)  # copy: the reference is in place
    if np.isnan(cam).any() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam -= cam.min()
    cam /= cam.max()
    return cam


def cam_to_scoremap(cam, size: Tuple[int, int]) -> np.ndarray:
    """Resize a CAM bicubically to ``size`` and min-max normalise it.

    The reference casts the CAM to float64, resizes it with
    ``cv2.INTER_CUBIC`` and then normalises (docs/metrics/wsol.md).

    Args:
        cam: ``(h, w)`` array or tensor at feature resolution.
        size: ``(W, H)`` of the score map.

    Returns:
        ``(H, W)`` float64 map in [0, 1].
    """
    if hasattr(cam, 'detach'):
        cam = cam.detach().cpu().numpy()
    cam = np.asarray(cam, dtype=np.float64)
    if cam.ndim != 2:
        raise ValueError(f'cam_to_scoremap: expected a 2-D (h, w) CAM, got '
                         f'shape {cam.shape}')
    resized = cv2.resize(cam, tuple(int(s) for s in size),
                         interpolation=cv2.INTER_CUBIC)
    return normalize_scoremap(resized)


def check_scoremap(scoremap, shape: Optional[Tuple[int, int]] = None,
                   name: str = 'score map') -> np.ndarray:
    """Validate a score map like the reference's ``check_scoremap_validity``.

    Args:
        scoremap: the map to check.
        shape: expected ``(H, W)``, or None for any 2-D map.
        name: what to call the map in errors (e.g. its file).

    Returns:
        The map as float64 (float32 maps are accepted and cast; the
        reference refuses them).
    """
    if not isinstance(scoremap, np.ndarray):
        raise TypeError(f'{name}: a score map must be a numpy array, got '
                        f'{type(scoremap).__name__}')
    if not np.issubdtype(scoremap.dtype, np.floating):
        raise TypeError(f'{name}: a score map must be a float array, got '
                        f'dtype {scoremap.dtype}')
    if scoremap.ndim != 2:
        raise ValueError(f'{name}: a score map must be 2-D (H, W), got shape '
                         f'{scoremap.shape}')
    if shape is not None and tuple(scoremap.shape) != tuple(shape):
        raise ValueError(f'{name}: expected shape (H, W) = {tuple(shape)}, '
                         f'got {scoremap.shape}')
    if np.isnan(scoremap).any():
        raise ValueError(f'{name}: score map contains NaN')
    if (scoremap > 1).any() or (scoremap < 0).any():
        raise ValueError(f'{name}: score map values must lie in [0, 1], got '
                         f'min {scoremap.min()}, max {scoremap.max()}')
    return scoremap.astype(np.float64, copy=False)


def quantize_scoremap(scoremap: np.ndarray) -> np.ndarray:
    """``(H, W)`` float map in [0, 1] -> uint8 levels, floor as the
    reference's ``(map * 255).astype(uint8)``."""
    return (np.asarray(scoremap, dtype=np.float64) * 255).astype(np.uint8)


def scoremap_mass_in_mask(scoremap: np.ndarray, mask: np.ndarray) -> float:
    """Share (in [0, 1]) of the map's total mass inside ``mask``; a map
    without mass (all zeros) has none inside, so 0."""
    total = float(scoremap.sum())
    if total <= 0:
        return 0.0
    return float(scoremap[mask].sum()) / total
