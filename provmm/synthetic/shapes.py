"""Binary object shapes of the synthetic WSOL tasks (plain numpy).

Every shape is an implicit function of object-frame coordinates
``(u, v)`` in ``[-1, 1]^2`` returning a boolean mask, so a rendered object is
an exact set of pixels and its box is known exactly. Rotations stay within
``MAX_ROTATION_DEG`` so that no two classes become the same shape.
"""
from typing import Callable, Dict, Tuple

import numpy as np

ShapeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

MAX_ROTATION_DEG = 25.0


def _regular_polygon(u, v, sides, radius=0.95, phase=0.0):
    """Inside of a regular polygon: every edge's half-plane test."""
    inside = np.ones(u.shape, dtype=bool)
    apothem = radius * np.cos(np.pi / sides)
    for k in range(sides):
        angle = phase + 2 * np.pi * (k + 0.5) / sides
        inside &= u * np.cos(angle) + v * np.sin(angle) <= apothem
    return inside


def _box(u, v, x0, y0, x1, y1):
    return (u >= x0) & (u <= x1) & (v >= y0) & (v <= y1)


def _radius(u, v):
    return np.hypot(u, v)


# The target classes (the WSOL task): distinct at any rotation <= 25 deg.
TARGET_SHAPES: Dict[str, ShapeFn] = {
    'disk': lambda u, v: _radius(u, v) <= 0.95,
    'square': lambda u, v: _box(u, v, -0.8, -0.8, 0.8, 0.8),
    'triangle': lambda u, v: _regular_polygon(
        u, v, 3, phase=np.pi / 2 + np.pi / 3),
    'plus': lambda u, v: (_box(u, v, -0.3, -0.95, 0.3, 0.95)
                          | _box(u, v, -0.95, -0.3, 0.95, 0.3)),
    'ring': lambda u, v: (_radius(u, v) <= 0.95) & (_radius(u, v) >= 0.55),
    'star': lambda u, v: _radius(u, v) <= 0.55 + 0.4 * np.cos(
        5 * np.arctan2(v, u)),
    'crescent': lambda u, v: ((_radius(u, v) <= 0.95)
                              & (np.hypot(u - 0.45, v) >= 0.75)),
    'hourglass': lambda u, v: ((np.abs(u) <= 0.9 * np.abs(v) + 0.1)
                               & (np.abs(v) <= 0.9)),
}

# The broad source task used to pre-train the backbone (disjoint classes, as
# ImageNet classes differ from the fine-tuning classes).
SOURCE_SHAPES: Dict[str, ShapeFn] = {
    'hexagon': lambda u, v: _regular_polygon(u, v, 6),
    'pentagon': lambda u, v: _regular_polygon(u, v, 5, phase=np.pi / 2),
    'ellipse': lambda u, v: (u / 0.95)**2 + (v / 0.5)**2 <= 1,
    'saltire': lambda u, v: (((np.abs(u - v) <= 0.4) | (np.abs(u + v) <= 0.4))
                             & (np.maximum(np.abs(u), np.abs(v)) <= 0.85)),
    'tee': lambda u, v: (_box(u, v, -0.9, -0.9, 0.9, -0.45)
                         | _box(u, v, -0.25, -0.9, 0.25, 0.9)),
    'ell': lambda u, v: (_box(u, v, -0.9, -0.9, -0.4, 0.9)
                         | _box(u, v, -0.9, 0.4, 0.9, 0.9)),
    'frame': lambda u, v: ((np.maximum(np.abs(u), np.abs(v)) <= 0.9)
                           & (np.maximum(np.abs(u), np.abs(v)) >= 0.55)),
    'half_disk': lambda u, v: (_radius(u, v + 0.45) <= 0.95) & (v >= -0.45),
    'bars': lambda u, v: ((np.abs(np.abs(u) - 0.55) <= 0.22)
                          & (np.abs(v) <= 0.9)),
    'chevron': lambda u, v: ((v >= 0.9 * np.abs(u) - 0.7)
                             & (v <= 0.9 * np.abs(u) - 0.1)
                             & (np.abs(u) <= 0.9)),
    'arrow': lambda u, v: (_box(u, v, -0.9, -0.2, 0.2, 0.2)
                           | ((u >= 0.2) & (u <= 0.9)
                              & (np.abs(v) <= 0.8 * (0.9 - u) / 0.7))),
    'heart': lambda u, v: ((u / 0.9)**2 + ((v + 0.1) / 0.9 + 0.1
                           - np.sqrt(np.abs(u / 0.9)))**2 <= 0.9),
}


def rasterize_shape(shape: ShapeFn, image_size: int, center: Tuple[float,
                                                                   float],
                    size: float, angle_deg: float,
                    aspect: float = 1.0) -> np.ndarray:
    """Rasterise ``shape`` onto an ``(image_size, image_size)`` bool mask.

    Pixel centres ``(x, y)`` are mapped into the object frame: translated by
    ``center``, rotated by ``-angle_deg`` and scaled so that ``[-1, 1]`` spans
    ``size`` pixels (``size * aspect`` horizontally).
    """
    ys, xs = np.mgrid[0:image_size, 0:image_size].astype(np.float64)
    dx, dy = xs - center[0], ys - center[1]
    theta = np.deg2rad(angle_deg)
    cos, sin = np.cos(theta), np.sin(theta)
    half = size / 2.0
    u = (dx * cos + dy * sin) / (half * aspect)
    v = (-dx * sin + dy * cos) / half
    return shape(u, v)
