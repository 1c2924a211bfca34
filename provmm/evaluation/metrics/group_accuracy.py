"""``GroupAccuracy``: top-1, per-group, mean-group and worst-group accuracy."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from provmm.registry import METRICS


def _first(label) -> int:
    """The int in a label tensor of shape (1,) (or a plain int)."""
    return int(torch.as_tensor(label).reshape(-1)[0])


@METRICS.register_module()
class GroupAccuracy(BaseMetric):
    """Classification accuracy overall and per group (robustness to spurious
    correlations, paper Sec. 4.2.3; Sagawa et al. 2020).

    Group labels come from the dataset through the data sample's ``group``
    (metainfo, packed by ``PackProvenanceInputs``), e.g. Waterbirds'
    ``2 * y + place`` or iWildCam's camera trap. Samples with a negative
    group (no group, e.g. edited images) count for top-1 and the class
    accuracies only. All values are percentages:

    - ``top1``: accuracy over all samples;
    - ``group_<g>``: accuracy within group ``g``, for every group present;
    - ``mean_group``: mean of the group accuracies (groups present only);
    - ``worst_group``: the lowest group accuracy;
    - ``mean_class``: mean per-class accuracy over the classes present
      (ALIA's "balanced accuracy").

    Args:
        collect_device, prefix: as :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = 'group_accuracy'

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'group' not in sample:
                raise KeyError(
                    'GroupAccuracy needs the data sample\'s "group"; pack it '
                    'with PackProvenanceInputs (its meta_keys include '
                    '"group") from a dataset that sets it')
            if 'pred_score' in sample:
                pred = int(torch.as_tensor(sample['pred_score']).argmax())
            else:
                pred = _first(sample['pred_label'])
            self.results.append(
                dict(pred=pred, gt=_first(sample['gt_label']),
                     group=int(sample['group'])))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        return self.calculate([r['pred'] for r in results],
                              [r['gt'] for r in results],
                              [r['group'] for r in results])

    @staticmethod
    def calculate(pred_labels: Sequence[int], gt_labels: Sequence[int],
                  groups: Sequence[int]) -> Dict[str, float]:
        """Accuracies (%) of predicted vs. true labels, overall, per group
        and per class; see the class docstring for the keys.

        Args:
            pred_labels, gt_labels, groups: int sequences of length N.
        """
        pred = np.asarray(pred_labels, dtype=np.int64).reshape(-1)
        gt = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
        group = np.asarray(groups, dtype=np.int64).reshape(-1)
        if not pred.size or not pred.size == gt.size == group.size:
            raise ValueError(f'GroupAccuracy: need equally many (> 0) '
                             f'predictions, labels and groups, got '
                             f'{pred.size}, {gt.size} and {group.size}')
        correct = pred == gt
        metrics = {'top1': 100.0 * float(correct.mean())}
        group_accuracy = {
            int(g): 100.0 * float(correct[group == g].mean())
            for g in np.unique(group[group >= 0])
        }
        for g, accuracy in group_accuracy.items():
            metrics[f'group_{g}'] = accuracy
        if group_accuracy:
            metrics['mean_group'] = float(
                np.mean(list(group_accuracy.values())))
            metrics['worst_group'] = min(group_accuracy.values())
        metrics['mean_class'] = 100.0 * float(
            np.mean([correct[gt == c].mean() for c in np.unique(gt)]))
        return metrics
