"""``WSOLVisualizationHook``: CAM overlays of the test set (``tools/test.py
--show-dir``)."""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import mmcv
import numpy as np
import torch
from mmengine.dist import collect_results, is_main_process
from mmengine.hooks import Hook

from provmm.evaluation.functional import best_contour_box
from provmm.evaluation.metrics.wsol_metric import (sample_name,
                                                   sample_scoremap)
from provmm.evaluation.scoremap_folder import output_path
from provmm.registry import HOOKS
from provmm.visualization.wsol_visualizer import current_wsol_visualizer

# what a test sample keeps until the epoch ends (the CAM is (h, w), small)
KEPT_FIELDS = ('cam', 'img_path', 'img_id', 'sample_idx', 'gt_bboxes',
               'ori_shape', 'img_shape', 'gt_label', 'pred_label',
               'pred_score')


@HOOKS.register_module()
class WSOLVisualizationHook(Hook):
    """Draw a CAM overlay per test image with :class:`WSOLVisualizer`.

    Each overlay shows, in the frame the metric evaluates (``eval_size``),
    the score map over the image, the GT boxes, the predicted box, the
    predicted class (index, name, score) and the GT class. The predicted
    box is the contour box that MaxBoxAccV2 credits at the CAM threshold
    the metric selected for IoU 0.5 (``threshold@50`` of ``WSOLMetric``,
    the threshold of GT-known Loc): of all contour boxes of the binarised
    map, the one with the highest IoU with a GT box. That threshold is only
    known once the whole test set is evaluated, so the hook keeps each
    sample's CAM (``(h, w)``, small) and metainfo and draws in
    ``after_test_epoch``; images are read again from ``img_path``.

    Args:
        out_dir: write ``<out_dir>/<img_id without extension>.png``; None
            sends the images to the visualizer's backends.
        eval_size: ``(W, H)`` of the score maps, as ``WSOLMetric``'s (None:
            each sample's ``img_shape``).
        threshold: CAM threshold of the predicted box; None takes
            ``threshold_key`` from the test metrics.
        threshold_key: metric name (after the prefix) of the threshold.
        min_size: smallest longer side of an overlay, in pixels.
        show, wait_time: show each overlay in a window.
    """

    def __init__(self,
                 out_dir: Optional[str] = None,
                 eval_size: Optional[Tuple[int, int]] = (224, 224),
                 threshold: Optional[float] = None,
                 threshold_key: str = 'threshold@50',
                 min_size: int = 448,
                 show: bool = False,
                 wait_time: float = 0.) -> None:
        self._visualizer = current_wsol_visualizer()
        self.out_dir = out_dir
        self.eval_size = None if eval_size is None else tuple(eval_size)
        self.threshold = threshold
        self.threshold_key = threshold_key
        self.min_size = min_size
        self.show = show
        self.wait_time = wait_time
        self._records = []

    def before_test_epoch(self, runner) -> None:
        self._records = []

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        for sample in outputs:
            info = sample.to_dict()
            record = {k: info[k] for k in KEPT_FIELDS if k in info}
            for key, value in record.items():
                if isinstance(value, torch.Tensor):
                    record[key] = value.detach().cpu()
            self._records.append(record)

    def after_test_epoch(self, runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        # every rank's samples, in dataset order, drawn by the main process
        records = collect_results(self._records,
                                  len(runner.test_dataloader.dataset))
        self._records = []
        if not is_main_process():
            return
        threshold = self._threshold(metrics or {})
        classes = (self._visualizer.dataset_meta or {}).get('classes')
        for index, record in enumerate(records):
            self.draw(record, index, threshold, classes)
        where = self.out_dir or 'the visualizer backends'
        runner.logger.info(f'{len(records)} CAM overlays written to {where}')

    def draw(self, record: dict, index: int, threshold: float,
             classes: Optional[Sequence[str]] = None) -> np.ndarray:
        """Draw (and save) the overlay of one kept sample; returns it."""
        name = sample_name(record, index)
        if 'img_path' not in record:
            raise KeyError(f'WSOLVisualizationHook: data sample of {name} '
                           "has no 'img_path'; add it to PackInputs.meta_keys"
                           ' of the test pipeline')
        scoremap, gt = sample_scoremap(record, self.eval_size, name)
        box, iou = best_contour_box(scoremap, gt, threshold)
        image = mmcv.imread(record['img_path'], channel_order='rgb')
        if image is None:
            raise FileNotFoundError(f'WSOLVisualizationHook: cannot read '
                                    f'{record["img_path"]!r} of {name}')
        caption = [
            name,
            f"pred {self._class(record, 'pred_label', classes, True)}   "
            f"GT {self._class(record, 'gt_label', classes)}",
            f'box IoU {iou:.2f} at CAM threshold {threshold:.3f}',
            'green: GT box   red dashed: predicted box',
        ]
        out_file = None
        if self.out_dir is not None:
            out_file = output_path(self.out_dir, osp.splitext(name)[0],
                                   '.png')
        return self._visualizer.visualize_wsol(
            image, scoremap, gt, box, caption, min_size=self.min_size,
            show=self.show, wait_time=self.wait_time, out_file=out_file,
            name=name)

    def _threshold(self, metrics: Dict[str, float]) -> float:
        if self.threshold is not None:
            return float(self.threshold)
        found = [v for k, v in metrics.items()
                 if k == self.threshold_key
                 or k.endswith('/' + self.threshold_key)]
        if not found:
            raise KeyError(
                f'WSOLVisualizationHook: no {self.threshold_key!r} among the '
                f'test metrics {sorted(metrics)}; use a WSOLMetric whose '
                'iou_thresholds include 50, or set threshold=')
        return float(found[0])

    @staticmethod
    def _class(record: dict, key: str, classes, with_score=False) -> str:
        if key not in record:
            return '-'
        label = int(torch.as_tensor(record[key]).reshape(-1)[0])
        text = f'{label}'
        if classes is not None and 0 <= label < len(classes):
            text += f' {classes[label]}'
        if with_score and 'pred_score' in record:
            text += f' ({float(record["pred_score"][label]):.2f})'
        return text
