"""Evaluate saved score maps (``<root>/<image_id>.npy``, the wsolevaluation
layout) against a split of wsolevaluation metadata; used by
``tools/eval_wsol.py``."""
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Sequence, Tuple

import numpy as np
from mmengine.utils import ProgressBar

from provmm.datasets.wsol_metadata import load_wsol_metadata
from .functional import (cam_thresholds, check_scoremap,
                         correct_per_level_batch, count_correct_per_threshold,
                         iou_fractions, largest_contour_correct_per_level,
                         max_box_accuracy, resize_boxes)


def load_scoremap(root: str, image_id: str,
                  shape: Tuple[int, int]) -> np.ndarray:
    """Read and validate ``<root>/<image_id>.npy`` (``shape`` is ``(H, W)``);
    errors name the file."""
    path = osp.join(root, image_id + '.npy')
    if not osp.isfile(path):
        raise FileNotFoundError(f'score map {path} not found (expected one '
                                f'<scoremap-root>/<image_id>.npy per image '
                                f'id of the split)')
    try:
        scoremap = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f'{path}: not a numpy array file ({error})') from None
    return check_scoremap(scoremap, shape, name=path)


def evaluate_scoremap_folder(scoremap_root: str,
                             metadata_root: str,
                             cam_curve_interval: float = 0.001,
                             iou_thresholds: Sequence[int] = (30, 50, 70),
                             largest_contour: bool = False,
                             eval_size: Tuple[int, int] = (224, 224),
                             workers: int = 2,
                             chunk: int = 256,
                             progress: bool = True) -> Dict:
    """MaxBoxAcc of the score maps of one metadata split.

    Args:
        scoremap_root: folder with ``<image_id>.npy`` float maps of shape
            ``eval_size[::-1]``, values in [0, 1].
        metadata_root: split folder readable by ``load_wsol_metadata``.
        cam_curve_interval: CAM threshold step.
        iou_thresholds: IoU thresholds δ (percent).
        largest_contour: report ``MaxBoxAcc`` per δ with the largest contour
            only (V1 rule) instead of all contours.
        eval_size: ``(W, H)`` frame of the maps and boxes.
        workers: threads.
        chunk: maps held in memory at once.
        progress: show mmengine's progress bar.

    Returns:
        ``{"MaxBoxAcc": {"30": .., ...}, "MaxBoxAccV2": ..,
        "best_threshold": {"30": .., ...}, "contours": "all" | "largest",
        "MaxBoxAccV2@": {"30": .., ...}, "num_images": N,
        "cam_curve_interval": ..}``: ``MaxBoxAcc`` holds the per-δ values of
        the chosen contour rule (and ``best_threshold`` their thresholds);
        ``MaxBoxAccV2`` is always the mean of the all-contour per-δ values
        (``MaxBoxAccV2@``).
    """
    metadata = load_wsol_metadata(metadata_root)
    thresholds = cam_thresholds(cam_curve_interval)
    fractions = iou_fractions(iou_thresholds)
    width, height = eval_size
    image_ids = metadata.image_ids
    if not image_ids:
        raise ValueError(f'{metadata_root}: the split lists no image')

    max_levels, all_tables, largest_tables = [], [], []
    bar = ProgressBar(len(image_ids)) if progress else None
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for begin in range(0, len(image_ids), chunk):
            ids = image_ids[begin:begin + chunk]
            maps = np.stack([
                load_scoremap(scoremap_root, i, (height, width)) for i in ids
            ])
            boxes = [resize_boxes(metadata.boxes[i], metadata.image_sizes[i],
                                  eval_size) for i in ids]
            levels, tables = correct_per_level_batch(maps, boxes, fractions,
                                                     workers)
            max_levels.append(levels)
            all_tables.append(tables)
            if largest_contour:
                largest_tables.extend(
                    table for _, table in pool.map(
                        lambda args: largest_contour_correct_per_level(
                            args[0], args[1], fractions, thresholds),
                        zip(maps, boxes)))
            if bar is not None:
                for _ in ids:
                    bar.update()
    if bar is not None:
        print()

    max_levels = np.concatenate(max_levels)
    num = len(max_levels)
    counts = count_correct_per_threshold(max_levels,
                                         np.concatenate(all_tables),
                                         thresholds)
    v2, v2_best = max_box_accuracy(counts, num, thresholds)
    if largest_contour:
        counts = count_correct_per_threshold(max_levels,
                                             np.stack(largest_tables),
                                             thresholds)
        per_iou, best = max_box_accuracy(counts, num, thresholds)
    else:
        per_iou, best = v2, v2_best
    keys = [str(int(t)) for t in iou_thresholds]
    return {
        'MaxBoxAcc': {k: float(a) for k, a in zip(keys, per_iou)},
        'MaxBoxAccV2': float(np.mean(v2)),
        'best_threshold': {k: float(t) for k, t in zip(keys, best)},
        'contours': 'largest' if largest_contour else 'all',
        'MaxBoxAccV2@': {k: float(a) for k, a in zip(keys, v2)},
        'num_images': int(num),
        'cam_curve_interval': float(cam_curve_interval),
    }
