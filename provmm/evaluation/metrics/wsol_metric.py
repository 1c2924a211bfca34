"""``WSOLMetric``: MaxBoxAccV2, MaxBoxAcc, GT-known and Top-1 Loc of CAMs."""
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from provmm.registry import METRICS
from ..functional import (boxes_to_mask, cam_thresholds, cam_to_scoremap,
                          correct_per_level_batch,
                          count_correct_per_threshold, iou_fractions,
                          largest_contour_correct_per_level,
                          max_box_accuracy, resize_boxes,
                          scoremap_mass_in_mask)
from ..scoremap_folder import save_scoremap

GT_KNOWN_IOU = 50  # GT-known / Top-1 Loc and MaxBoxAcc V1 use IoU 0.5


def _label(sample: dict, key: str, name: str) -> int:
    if key not in sample:
        raise KeyError(f'WSOLMetric: data sample of {name} has no {key!r}')
    return int(torch.as_tensor(sample[key]).reshape(-1)[0])


def sample_name(sample: dict, index: int) -> str:
    """The image id of a data sample dict, for outputs and messages."""
    if 'img_id' in sample:
        return str(sample['img_id'])
    if 'img_path' in sample:
        return osp.basename(sample['img_path'])
    return f'sample {sample.get("sample_idx", index)}'


def sample_scoremap(sample: dict, eval_size: Optional[Tuple[int, int]],
                    name: str) -> Tuple[np.ndarray, np.ndarray]:
    """Score map and GT boxes of one data sample dict in the evaluation frame.

    Args:
        sample: with ``cam`` ``(h, w)``, ``gt_bboxes`` ``(n, 4)`` in
            original pixels and ``ori_shape`` ``(H, W)``; ``img_shape``
            too when ``eval_size`` is None.
        eval_size: ``(W, H)`` of the score map, or None for ``img_shape``.
        name: what to call the sample in errors.

    Returns:
        The ``(H, W)`` float64 score map (``cam_to_scoremap``) and the
        ``(n, 4)`` int64 GT boxes resized to it (``resize_boxes``).
    """
    if 'cam' not in sample:
        raise KeyError(f'WSOLMetric: data sample of {name} has no "cam"; '
                       'use a model that attaches it (WSOLImageClassifier)')
    for key in ('gt_bboxes', 'ori_shape'):
        if key not in sample:
            raise KeyError(
                f'WSOLMetric: data sample of {name} has no {key!r}; add '
                "'gt_bboxes', 'ori_shape', 'img_id' to "
                'PackInputs.meta_keys of the test pipeline')
    if eval_size is None:
        if 'img_shape' not in sample:
            raise KeyError(f'WSOLMetric: eval_size=None needs img_shape in '
                           f'the data sample of {name}')
        h, w = sample['img_shape'][:2]
        eval_size = (int(w), int(h))
    cam = sample['cam']
    if cam.ndim != 2:
        raise ValueError(f'WSOLMetric: cam of {name} must be (h, w), got '
                         f'shape {tuple(cam.shape)}')
    scoremap = cam_to_scoremap(cam, eval_size)
    gt = np.asarray(sample['gt_bboxes'], np.float64).reshape(-1, 4)
    if len(gt) == 0:
        raise ValueError(f'WSOLMetric: {name} has no GT box')
    ori_h, ori_w = sample['ori_shape'][:2]
    return scoremap, resize_boxes(gt, (ori_w, ori_h), eval_size)


@METRICS.register_module()
class WSOLMetric(BaseMetric):
    """Weakly supervised object localisation from CAMs (Choe et al.,
    "Evaluating Weakly Supervised Object Localization Methods Right",
    CVPR 2020), as in the paper's Sec. 4.2.1; definition in
    docs/metrics/wsol.md.

    Every data sample needs ``cam`` (``(h, w)``, from
    ``WSOLImageClassifier``), ``gt_bboxes`` (``(n, 4)`` in original pixels)
    and ``ori_shape`` ``(H, W)`` (metainfo), ``gt_label`` and ``pred_label``.
    ``process`` turns the CAM into the score map at ``eval_size`` right away
    (bicubic, then min-max, ``cam_to_scoremap``) and keeps per image only
    which of the 256 binarisation levels localise the object, so memory does
    not grow with the maps. ``compute_metrics`` returns (percentages):

    - ``MaxBoxAccV2``: mean over ``iou_thresholds`` of ``MaxBoxAccV2@δ`` =
      ``max_t 100 * #{images with a contour box of IoU >= δ at t} / N``,
      every contour counting (holes included);
    - ``MaxBoxAcc``: the V1 metric, δ 0.5 with the largest contour only
      (when ``largest_contour_v1``);
    - ``GT-known Loc``: ``MaxBoxAccV2@50``;
    - ``Top-1 Loc``: like ``GT-known Loc`` counting only images whose
      predicted class is right (one threshold for the split);
    - ``top1``: classification accuracy;
    - ``CAMMassInBox``: mean share of the score-map mass inside the union of
      the GT boxes (a map without mass counts 0);
    - ``threshold@δ``: the first CAM threshold reaching ``MaxBoxAccV2@δ``.

    Args:
        cam_curve_interval: CAM threshold step; thresholds are
            ``np.arange(0, 1, cam_curve_interval)`` (0.001 in the paper).
        iou_thresholds: IoU thresholds δ in percent.
        eval_size: ``(W, H)`` of the score maps and boxes (the reference
            uses 224 x 224); ``None`` uses each sample's ``img_shape``.
        multi_contour: all contours (MaxBoxAccV2); False counts the largest
            contour only in ``MaxBoxAccV2@δ`` as well.
        largest_contour_v1: also compute ``MaxBoxAcc`` (V1; OpenCV once
            per level, ~30 ms per 224 x 224 image and worker).
        scoremap_dir: if set, save each score map as float64
            ``<scoremap_dir>/<img_id>.npy`` (the wsolevaluation layout,
            written atomically; ``tools/eval_wsol.py`` reads it). CAM
            overlays are drawn by ``WSOLVisualizationHook``
            (``tools/test.py --show-dir``), not by the metric.
        workers: threads over the maps of a batch.
        collect_device, prefix: as :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = 'wsol'

    def __init__(self,
                 cam_curve_interval: float = 0.001,
                 iou_thresholds: Sequence[int] = (30, 50, 70),
                 eval_size: Optional[Tuple[int, int]] = (224, 224),
                 multi_contour: bool = True,
                 largest_contour_v1: bool = True,
                 scoremap_dir: Optional[str] = None,
                 workers: int = 1,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = cam_thresholds(cam_curve_interval)
        self.iou_thresholds = [int(t) for t in iou_thresholds]
        iou_fractions(self.iou_thresholds)  # validates
        # internal δ list: the requested ones plus 0.5 for GT-known/Top-1
        self._ious = sorted(set(self.iou_thresholds) | {GT_KNOWN_IOU})
        self._fractions = iou_fractions(self._ious)
        if eval_size is not None:
            eval_size = tuple(int(s) for s in eval_size)
            if len(eval_size) != 2 or min(eval_size) <= 0:
                raise ValueError('eval_size must be (W, H) with positive '
                                 f'sides or None, got {eval_size}')
        self.eval_size = eval_size
        self.multi_contour = multi_contour
        self.largest_contour_v1 = largest_contour_v1
        self.scoremap_dir = scoremap_dir
        self.workers = workers

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        scoremaps, boxes, records = [], [], []
        for index, sample in enumerate(data_samples):
            scoremap, gt, record = self._prepare(sample, index)
            scoremaps.append(scoremap)
            boxes.append(gt)
            records.append(record)
        if self.largest_contour_v1 or not self.multi_contour:
            # OpenCV releases the GIL: one thread per worker
            with ThreadPoolExecutor(max(1, self.workers)) as pool:
                largest = list(pool.map(
                    lambda args: largest_contour_correct_per_level(
                        *args, self._fractions, self.thresholds),
                    zip(scoremaps, boxes)))
            for (max_level, table), record in zip(largest, records):
                record['max_level'] = max_level
                record['largest'] = table
        if self.multi_contour:
            # the maps of a batch share a size unless eval_size is None
            for shape in {m.shape for m in scoremaps}:
                idx = [i for i, m in enumerate(scoremaps) if m.shape == shape]
                max_levels, tables = correct_per_level_batch(
                    np.stack([scoremaps[i] for i in idx]),
                    [boxes[i] for i in idx], self._fractions, self.workers)
                for i, level, table in zip(idx, max_levels, tables):
                    records[i]['max_level'] = int(level)
                    records[i]['all'] = table
        self.results.extend(records)

    def _prepare(self, sample: dict, index: int):
        """Score map and GT boxes at the evaluation size, and the record of
        one sample (its classification and CAM mass); saves the map."""
        name = sample_name(sample, index)
        scoremap, gt = sample_scoremap(sample, self.eval_size, name)
        size = scoremap.shape[::-1]
        record = dict(
            class_correct=(_label(sample, 'pred_label', name) ==
                           _label(sample, 'gt_label', name)),
            mass_in_box=scoremap_mass_in_mask(scoremap,
                                              boxes_to_mask(gt, size)))
        if self.scoremap_dir is not None:
            save_scoremap(self.scoremap_dir, name, scoremap)
        return scoremap, gt, record

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        return self.calculate(results, self.thresholds, self.iou_thresholds,
                              self._ious, self.multi_contour,
                              self.largest_contour_v1)

    @staticmethod
    def calculate(results: List[dict], thresholds: np.ndarray,
                  iou_thresholds: Sequence[int], ious: Sequence[int],
                  multi_contour: bool = True,
                  largest_contour_v1: bool = True) -> Dict[str, float]:
        """The metrics from per-image records (see ``process``).

        Args:
            results: dicts with ``max_level``, ``class_correct``,
                ``mass_in_box`` and the ``(256, len(ious))`` tables ``all``
                and/or ``largest``.
            thresholds: CAM thresholds.
            iou_thresholds: reported IoU thresholds δ (percent).
            ious: the IoU thresholds (percent) of the tables' columns.
        """
        if not results:
            raise ValueError('WSOLMetric: no samples were evaluated')
        num = len(results)
        max_levels = np.array([r['max_level'] for r in results])
        class_correct = np.array([r['class_correct'] for r in results])
        table_key = 'all' if multi_contour else 'largest'
        tables = np.stack([r[table_key] for r in results])
        counts = count_correct_per_threshold(max_levels, tables, thresholds)
        accuracy, best = max_box_accuracy(counts, num, thresholds)
        column = {iou: j for j, iou in enumerate(ious)}

        metrics = {}
        for iou in iou_thresholds:
            metrics[f'MaxBoxAccV2@{iou}'] = float(accuracy[column[iou]])
            metrics[f'threshold@{iou}'] = float(best[column[iou]])
        metrics['MaxBoxAccV2'] = float(
            np.mean([accuracy[column[iou]] for iou in iou_thresholds]))
        gt_known = column[GT_KNOWN_IOU]
        metrics['GT-known Loc'] = float(accuracy[gt_known])
        top1_loc = count_correct_per_threshold(
            max_levels, tables[:, :, gt_known:gt_known + 1]
            & class_correct[:, None, None], thresholds)
        metrics['Top-1 Loc'] = float(
            max_box_accuracy(top1_loc, num, thresholds)[0][0])
        if largest_contour_v1:
            largest = np.stack([r['largest'] for r in results])
            v1 = count_correct_per_threshold(
                max_levels, largest[:, :, gt_known:gt_known + 1], thresholds)
            metrics['MaxBoxAcc'] = float(
                max_box_accuracy(v1, num, thresholds)[0][0])
        metrics['top1'] = 100.0 * float(class_correct.mean())
        metrics['CAMMassInBox'] = 100.0 * float(
            np.mean([r['mass_in_box'] for r in results]))
        return metrics
