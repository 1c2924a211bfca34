"""MaxBoxAcc and MaxBoxAccV2 (Choe et al., "Evaluating Weakly Supervised
Object Localization Methods Right", CVPR 2020; docs/metrics/wsol.md), with
per-threshold counts identical to the reference definition.

At CAM threshold ``t`` the reference binarises the uint8 map ``q`` with
``q > int(t * max(q))``. ``q`` has at most 256 levels, so each image is
evaluated once per level ``k`` (``contour_sweep`` for all contours,
``largest_contour_correct_per_level`` for V1), and a threshold then looks up
the level it maps to.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

from .boxes import _as_boxes, box_iou
from .contour_sweep import NUM_LEVELS
from .scoremap import check_scoremap, quantize_scoremap


def cam_thresholds(interval: float) -> np.ndarray:
    """The reference's CAM thresholds ``np.arange(0, 1, interval)``."""
    if not 0 < interval < 1:
        raise ValueError(f'cam_curve_interval must lie in (0, 1), got '
                         f'{interval}')
    return np.arange(0, 1, interval)


def iou_fractions(iou_thresholds: Sequence[int]) -> np.ndarray:
    """IoU thresholds in percent -> the fractions the reference compares
    with (``threshold / 100``, float64)."""
    if len(iou_thresholds) == 0:
        raise ValueError('iou_thresholds must not be empty')
    fractions = np.array([t / 100 for t in iou_thresholds], dtype=np.float64)
    if fractions.ndim != 1 or not ((fractions > 0) & (fractions <= 1)).all():
        raise ValueError('iou_thresholds must be percentages in (0, 100], '
                         f'got {list(iou_thresholds)}')
    return fractions


def threshold_levels(thresholds: np.ndarray, max_level: int) -> np.ndarray:
    """Level ``k`` of each threshold for a map whose uint8 maximum is
    ``max_level``: ``int(t * max_level)`` in float64, as the reference."""
    return np.floor(np.asarray(thresholds, np.float64) *
                    float(max_level)).astype(np.int64)


def contour_boxes(quantized: np.ndarray, level: int,
                  largest_only: bool = False) -> np.ndarray:
    """The reference's boxes of ``quantized > level``.

    Args:
        quantized: ``(H, W)`` uint8 map (``quantize_scoremap``).
        level: binarisation level ``k``.
        largest_only: keep only the contour of largest ``cv2.contourArea``
            (the first of equals in OpenCV's order; MaxBoxAcc V1).

    Returns:
        ``(n, 4)`` int64 inclusive boxes ``(x, y, min(x + w, W - 1),
        min(y + h, H - 1))`` of the ``cv2.boundingRect`` of every contour
        (``RETR_TREE``, holes included), or ``[[0, 0, 0, 0]]`` when there is
        no contour, as the reference.
    """
    height, width = quantized.shape
    _, binary = cv2.threshold(quantized, int(level), 255, cv2.THRESH_BINARY)
    contours = cv2.findContours(binary, cv2.RETR_TREE,
                                cv2.CHAIN_APPROX_SIMPLE)[0]
    if len(contours) == 0:
        return np.zeros((1, 4), np.int64)
    if largest_only:
        contours = [max(contours, key=cv2.contourArea)]
    rects = np.array([cv2.boundingRect(c) for c in contours], np.int64)
    x, y, w, h = rects.T
    return np.stack([x, y, np.minimum(x + w, width - 1),
                     np.minimum(y + h, height - 1)], axis=1)


def best_contour_box(scoremap: np.ndarray, gt_boxes,
                     threshold: float) -> Tuple[np.ndarray, float]:
    """The contour box that MaxBoxAccV2 credits at one CAM threshold: of
    all contour boxes of ``q > int(threshold * max(q))``, the one with the
    highest IoU with a GT box (the first of equals).

    Args:
        scoremap: ``(H, W)`` float map in [0, 1].
        gt_boxes: ``(n, 4)`` inclusive GT boxes in the map's frame.
        threshold: CAM threshold in [0, 1).

    Returns:
        The ``(4,)`` int64 box and its IoU (the reference's best IoU).
    """
    quantized = quantize_scoremap(check_scoremap(scoremap))
    level = threshold_levels([threshold], int(quantized.max()))[0]
    boxes = contour_boxes(quantized, level)
    ious = box_iou(boxes, gt_boxes).max(axis=1)
    best = int(ious.argmax())
    return boxes[best], float(ious[best])


def largest_contour_correct_per_level(
        scoremap: np.ndarray, gt_boxes, fractions: Sequence[float],
        thresholds: np.ndarray) -> Tuple[int, np.ndarray]:
    """Per-level correctness with the largest contour only (MaxBoxAcc V1).

    The box of a level is that of the contour with the largest
    ``cv2.contourArea`` (the first of equals in OpenCV's order), which only
    OpenCV's polygons give, so OpenCV runs once per distinct level that
    ``thresholds`` reach for this map; the other rows stay False.

    Args:
        scoremap: ``(H, W)`` float map in [0, 1]; NaN or values outside
            [0, 1] are refused (``check_scoremap``).
        gt_boxes: ``(n, 4)`` inclusive GT boxes in the map's frame.
        fractions: IoU thresholds as fractions (``iou_fractions``).
        thresholds: CAM thresholds (``cam_thresholds``).

    Returns:
        The map's maximum level and a ``(256, len(fractions))`` bool table.
    """
    quantized = quantize_scoremap(check_scoremap(scoremap))
    gt = _as_boxes(gt_boxes, 'GT boxes').astype(np.int64)
    fractions = np.asarray(fractions, np.float64)
    max_level = int(quantized.max())
    out = np.zeros((NUM_LEVELS, len(fractions)), np.bool_)
    no_contour = box_iou([[0, 0, 0, 0]], gt).max()
    for level in np.unique(threshold_levels(thresholds, max_level)):
        best_iou = no_contour
        if level < max_level:  # no pixel exceeds the maximum: no contour
            best_iou = box_iou(contour_boxes(quantized, level, True),
                               gt).max()
        out[min(int(level), NUM_LEVELS - 1)] = best_iou >= fractions
    return max_level, out


def count_correct_per_threshold(max_levels: np.ndarray, correct: np.ndarray,
                                thresholds: np.ndarray) -> np.ndarray:
    """Number of correct images at every CAM threshold.

    Args:
        max_levels: ``(N,)`` uint8 maximum of each quantised map.
        correct: ``(N, 256, n)`` bool per-level tables.
        thresholds: ``(T,)`` CAM thresholds (``cam_thresholds``).

    Returns:
        ``(T, n)`` int64 counts, the reference's ``num_correct``.
    """
    max_levels = np.asarray(max_levels, np.int64)
    correct = np.asarray(correct, np.bool_)
    if correct.ndim != 3 or correct.shape[:2] != (len(max_levels),
                                                  NUM_LEVELS):
        raise ValueError(f'expected correct of shape ({len(max_levels)}, '
                         f'{NUM_LEVELS}, n), got {correct.shape}')
    counts = np.zeros((len(thresholds), correct.shape[2]), np.int64)
    # images that share a maximum share the threshold -> level map
    per_max = np.zeros((NUM_LEVELS, NUM_LEVELS, correct.shape[2]), np.int64)
    np.add.at(per_max, max_levels, correct)
    for max_level in np.unique(max_levels):
        levels = np.minimum(threshold_levels(thresholds, max_level),
                            NUM_LEVELS - 1)
        counts += per_max[max_level, levels]
    return counts


def max_box_accuracy(counts: np.ndarray, num_images: int,
                     thresholds: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``MaxBoxAcc(δ) = max_t 100 * correct(t, δ) / N`` for each column of
    ``counts`` (``(T, n)``), and the first threshold that reaches it.

    Returns:
        ``(n,)`` accuracies in percent and ``(n,)`` best thresholds.
    """
    if num_images <= 0:
        raise ValueError('MaxBoxAcc needs at least one image')
    accuracy = counts * 100. / float(num_images)
    return accuracy.max(axis=0), np.asarray(thresholds)[accuracy.argmax(0)]
