"""Boxes in the wsolevaluation convention: integer ``(x0, y0, x1, y1)`` with
*inclusive* corners, so a box covers ``(x1 - x0 + 1) * (y1 - y0 + 1)`` pixels.

This module holds the one box IoU and the one box rasterisation of provmm.
"""
from typing import Sequence, Tuple

import numpy as np


def _as_boxes(boxes, name: str) -> np.ndarray:
    """``boxes`` as an ``(n, 4)`` array; refuse anything else by name."""
    arr = np.asarray(boxes)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'{name}: expected boxes of shape (n, 4) as '
                         f'x0, y0, x1, y1, got shape {arr.shape}')
    if (arr < 0).any():
        raise ValueError(f'{name}: box coordinates must be non-negative, '
                         f'got {arr.tolist()}')
    if (arr[:, 2] < arr[:, 0]).any() or (arr[:, 3] < arr[:, 1]).any():
        raise ValueError(f'{name}: boxes must satisfy x0 <= x1 and y0 <= y1, '
                         f'got {arr.tolist()}')
    return arr


def resize_boxes(boxes, image_size: Tuple[int, int],
                 new_size: Tuple[int, int]) -> np.ndarray:
    """Map boxes from an image of ``image_size`` to one of ``new_size``.

    Same arithmetic as the reference (float64 ``coord * new / old``, then
    truncation): ``x -> int(x * new_w / w)``, ``y -> int(y * new_h / h)``.

    Args:
        boxes: ``(n, 4)`` x0, y0, x1, y1 in the original pixels.
        image_size: original ``(W, H)``.
        new_size: target ``(W, H)``.

    Returns:
        ``(n, 4)`` int64 boxes in the resized frame.
    """
    arr = _as_boxes(boxes, 'resize_boxes').astype(np.float64)
    w, h = map(float, image_size)
    new_w, new_h = map(float, new_size)
    if w <= 0 or h <= 0:
        raise ValueError(f'resize_boxes: image size must be positive, got '
                         f'{image_size}')
    scale = np.array([new_w, new_h, new_w, new_h])
    size = np.array([w, h, w, h])
    # (coord * new) / old, in this order, to round exactly like the reference
    return np.trunc(arr * scale / size).astype(np.int64)


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Pairwise IoU with the inclusive "+1" convention.

    ``inter = max(0, min(x1) - max(x0) + 1) * max(0, min(y1) - max(y0) + 1)``,
    ``area = (x1 - x0 + 1) * (y1 - y0 + 1)``; a non-positive union gives 0.

    Args:
        boxes_a: ``(n, 4)`` integer boxes.
        boxes_b: ``(m, 4)`` integer boxes.

    Returns:
        ``(n, m)`` float64 IoUs.
    """
    a = _as_boxes(boxes_a, 'box_iou boxes_a').astype(np.int64)[:, None]
    b = _as_boxes(boxes_b, 'box_iou boxes_b').astype(np.int64)[None]
    inter_w = np.maximum(0, np.minimum(a[..., 2], b[..., 2])
                         - np.maximum(a[..., 0], b[..., 0]) + 1)
    inter_h = np.maximum(0, np.minimum(a[..., 3], b[..., 3])
                         - np.maximum(a[..., 1], b[..., 1]) + 1)
    inter = inter_w * inter_h
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    union = area_a + area_b - inter
    degenerate = union <= 0
    iou = inter / np.where(degenerate, 1, union)
    iou[degenerate] = 0.0
    return iou


def boxes_to_mask(boxes: Sequence, size: Tuple[int, int]) -> np.ndarray:
    """Union of inclusive boxes as a boolean ``(H, W)`` mask (``size`` is
    ``(W, H)``); parts outside the frame are clipped."""
    w, h = size
    mask = np.zeros((h, w), dtype=bool)
    if len(boxes) == 0:
        return mask
    for x0, y0, x1, y1 in _as_boxes(boxes, 'boxes_to_mask').astype(np.int64):
        mask[y0:y1 + 1, x0:x1 + 1] = True
    return mask
