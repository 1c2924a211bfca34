"""Score maps on disk in the wsolevaluation layout (``<root>/<image_id>.npy``):
atomic writing, checked reading, and MaxBoxAcc of a folder of them against a
split of wsolevaluation metadata (``tools/eval_wsol.py``)."""
import io
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmengine.utils import ProgressBar

from provmm.data_prep.output_files import atomic_path
from provmm.datasets.csv_records import check_relative_path
from provmm.datasets.wsol_metadata import load_wsol_metadata
from .functional import (cam_thresholds, check_scoremap,
                         correct_per_level_batch, count_correct_per_threshold,
                         iou_fractions, largest_contour_correct_per_level,
                         max_box_accuracy, resize_boxes)


def output_path(root: str, image_id: str, suffix: str) -> str:
    """``<root>/<image_id><suffix>``; an id that would leave ``root``
    (absolute, or with a ``..`` component) is refused."""
    check_relative_path(image_id, root, 'image id')
    return osp.join(root, image_id + suffix)


def atomic_write(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through
    :func:`~provmm.data_prep.output_files.atomic_path`: a reader (or a crash)
    never leaves a partial file at ``path``."""
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)


def save_scoremap(root: str, image_id: str, scoremap: np.ndarray) -> str:
    """Save one ``(H, W)`` float64 map atomically as
    ``<root>/<image_id>.npy``; returns the path."""
    path = output_path(root, image_id, '.npy')
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(scoremap, np.float64), allow_pickle=False)
    atomic_write(path, buffer.getvalue())
    return path


def load_scoremap(root: str, image_id: str,
                  shape: Optional[Tuple[int, int]] = None,
                  source: str = 'given by the caller') -> np.ndarray:
    """Read and validate ``<root>/<image_id>.npy``; errors name the file.

    Args:
        root: score-map folder.
        image_id: metadata image id.
        shape: expected ``(H, W)``, or None for any 2-D map.
        source: where ``shape`` comes from, for the error message.

    Returns:
        The ``(H, W)`` float64 map.
    """
    path = output_path(root, image_id, '.npy')
    if not osp.isfile(path):
        raise FileNotFoundError(f'score map {path} not found (expected one '
                                f'<scoremap-root>/<image_id>.npy per image '
                                f'id of the split)')
    try:
        scoremap = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise ValueError(f'{path}: not a numpy array file ({error})') from None
    scoremap = check_scoremap(scoremap, name=path)
    if shape is not None and scoremap.shape != tuple(shape):
        raise ValueError(f'{path}: expected shape (H, W) = {tuple(shape)} '
                         f'({source}), got {scoremap.shape}')
    return scoremap


def evaluate_scoremap_folder(scoremap_root: str,
                             metadata_root: str,
                             cam_curve_interval: float = 0.001,
                             iou_thresholds: Sequence[int] = (30, 50, 70),
                             largest_contour: bool = False,
                             eval_size: Optional[Tuple[int, int]] = None,
                             workers: int = 2,
                             chunk: int = 256,
                             progress: bool = True) -> Dict:
    """MaxBoxAcc of the score maps of one metadata split.

    Args:
        scoremap_root: folder with ``<image_id>.npy`` float maps ``(H, W)``
            of one shape, values in [0, 1].
        metadata_root: split folder readable by ``load_wsol_metadata``.
        cam_curve_interval: CAM threshold step.
        iou_thresholds: IoU thresholds δ (percent).
        largest_contour: report ``MaxBoxAcc`` per δ with the largest contour
            only (V1 rule) instead of all contours.
        eval_size: ``(W, H)`` frame of the maps and boxes; None takes it
            from the first map of the split (every map must match it).
        workers: threads.
        chunk: maps held in memory at once.
        progress: show mmengine's progress bar.

    Returns:
        ``{"MaxBoxAcc": {"30": .., ...}, "MaxBoxAccV2": ..,
        "best_threshold": {"30": .., ...}, "contours": "all" | "largest",
        "MaxBoxAccV2@": {"30": .., ...}, "num_images": N,
        "cam_curve_interval": .., "eval_size": [W, H]}``: ``MaxBoxAcc``
        holds the per-δ values of the chosen contour rule (and
        ``best_threshold`` their thresholds);
        ``MaxBoxAccV2`` is always the mean of the all-contour per-δ values
        (``MaxBoxAccV2@``).
    """
    metadata = load_wsol_metadata(metadata_root)
    thresholds = cam_thresholds(cam_curve_interval)
    fractions = iou_fractions(iou_thresholds)
    image_ids = metadata.image_ids
    if not image_ids:
        raise ValueError(f'{metadata_root}: the split lists no image')
    if eval_size is None:
        height, width = load_scoremap(scoremap_root, image_ids[0]).shape
        source = ('the shape of the first map of the split, '
                  f"{output_path(scoremap_root, image_ids[0], '.npy')}; all "
                  'maps of a split must share one size')
    else:
        width, height = (int(s) for s in eval_size)
        source = (f'set by eval_size / --eval-size W H = {width} {height}; '
                  "leave it out to use the maps' own size")

    max_levels, all_tables, largest_tables = [], [], []
    bar = ProgressBar(len(image_ids)) if progress else None
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for begin in range(0, len(image_ids), chunk):
            ids = image_ids[begin:begin + chunk]
            maps = np.stack([
                load_scoremap(scoremap_root, i, (height, width), source)
                for i in ids
            ])
            boxes = [resize_boxes(metadata.boxes[i], metadata.image_sizes[i],
                                  (width, height)) for i in ids]
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
        'eval_size': [int(width), int(height)],
    }
