"""A slow, literal port of wsolevaluation's MaxBoxAcc (one cv2.findContours
per CAM threshold; docs/metrics/wsol.md): the oracle that the fast evaluator
is checked against by the tests and ``tools/benchmark_wsol_eval.py``."""
import cv2
import numpy as np


def reference_best_ious(scoremap, gt_boxes, thresholds, multi_contour=True):
    """Best IoU over (contour box, GT box) at each threshold, for one map.

    ``scoremap``: (H, W) float64 in [0, 1]; ``gt_boxes``: (n, 4) inclusive.
    """
    height, width = scoremap.shape
    quantized = (scoremap * 255).astype(np.uint8)
    gt = np.asarray(gt_boxes, dtype=np.int64).reshape(-1, 4)
    best = []
    for t in thresholds:
        _, binary = cv2.threshold(quantized, int(t * np.max(quantized)), 255,
                                  cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE,
                                    cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours) == 0:
            boxes = [(0, 0, 0, 0)]
        else:
            if not multi_contour:
                contours = [max(contours, key=cv2.contourArea)]
            boxes = []
            for contour in contours:
                x, y, w, h = cv2.boundingRect(contour)
                boxes.append((x, y, min(x + w, width - 1),
                              min(y + h, height - 1)))
        boxes = np.array(boxes, dtype=np.int64)[:, None]
        inter = (np.maximum(0, np.minimum(boxes[..., 2], gt[:, 2]) -
                            np.maximum(boxes[..., 0], gt[:, 0]) + 1) *
                 np.maximum(0, np.minimum(boxes[..., 3], gt[:, 3]) -
                            np.maximum(boxes[..., 1], gt[:, 1]) + 1))
        union = ((boxes[..., 2] - boxes[..., 0] + 1) *
                 (boxes[..., 3] - boxes[..., 1] + 1) +
                 (gt[:, 2] - gt[:, 0] + 1) * (gt[:, 3] - gt[:, 1] + 1) - inter)
        ious = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        best.append(ious.max())
    return np.array(best)


def reference_counts(scoremaps, gt_boxes, thresholds, iou_thresholds,
                     multi_contour=True):
    """The reference's ``num_correct``: (T, len(iou_thresholds)) counts."""
    counts = np.zeros((len(thresholds), len(iou_thresholds)), np.int64)
    for scoremap, boxes in zip(scoremaps, gt_boxes):
        best = reference_best_ious(scoremap, boxes, thresholds, multi_contour)
        for j, iou_threshold in enumerate(iou_thresholds):
            counts[:, j] += best >= iou_threshold / 100
    return counts
