"""``SkeletonDataPreprocessor``: batches of skeleton sequences."""
from typing import Optional

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.structures import (DataSample, batch_label_to_onehot,
                                   cat_batch_labels, tensor_split)

from provmm.registry import MODELS


@MODELS.register_module()
class SkeletonDataPreprocessor(BaseDataPreprocessor):
    """Stacks skeleton inputs and prepares the labels, as mmpretrain's
    ``ClsDataPreprocessor`` does for images (no normalisation, no padding:
    the pipeline gives every sample the same ``(P, T, V, 3)``).

    - ``inputs``: a list of ``(P, T, V, 3)`` tensors (``pseudo_collate``) or
      a ``(B, P, T, V, 3)`` tensor (``default_collate``), channels ``(x, y,
      joint score)``, coordinates in ``[-1, 1]``, score 0 for padding;
      returned as one float32 ``(B, P, T, V, 3)`` tensor on the model's
      device.
    - labels: ``gt_label`` is batched back onto the samples; a ``gt_score``
      given by the dataset is kept, otherwise with ``to_onehot`` the one-hot
      ``gt_score`` is made from ``gt_label`` (mmpretrain's rule; float32
      here, where mmpretrain keeps the label dtype). BatchMix
      mixes these scores inside the model, on the features.

    Test-time fields (``video_name``, ``frame_inds``, ``person_boxes``,
    ``person_valid``) pass through untouched.

    Args:
        num_classes (int, optional): for the one-hot scores (else the
            samples' ``num_classes``).
        to_onehot (bool): make ``gt_score`` from ``gt_label``. Defaults to
            True (BatchMix needs soft labels).
    """

    def __init__(self, num_classes: Optional[int] = None,
                 to_onehot: bool = True):
        super().__init__()
        self.num_classes = num_classes
        self.to_onehot = to_onehot

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        if isinstance(inputs, (list, tuple)):
            shapes = {tuple(item.shape) for item in inputs}
            if len(shapes) != 1:
                raise ValueError(
                    'SkeletonDataPreprocessor: every sample must have the '
                    'same (P, T, V, 3) shape (the pipeline pads persons and '
                    f'frames), got {sorted(shapes)}')
            inputs = torch.stack([torch.as_tensor(item) for item in inputs])
        inputs = self.cast_data(inputs).float()
        if inputs.dim() != 5 or inputs.shape[-1] != 3:
            raise ValueError('SkeletonDataPreprocessor: inputs must be '
                             '(B, P, T, V, 3) (x, y, joint score), got '
                             f'{tuple(inputs.shape)}')
        samples = data.get('data_samples', None)
        if samples and isinstance(samples[0], DataSample):
            self.batch_labels(samples)
        return {'inputs': inputs, 'data_samples': samples}

    def batch_labels(self, samples) -> None:
        """``gt_label`` to the device and, with ``to_onehot``, ``gt_score``
        (mmpretrain's ``ClsDataPreprocessor`` rule)."""
        first = samples[0]
        if 'gt_label' not in first:
            return
        labels, indices = cat_batch_labels([s.gt_label for s in samples])
        labels = labels.to(self.device)
        scores = None
        if 'gt_score' in first:
            scores = torch.stack([s.gt_score for s in samples]).to(
                self.device)
        elif self.to_onehot:
            num_classes = self.num_classes or first.get('num_classes')
            if num_classes is None:
                raise ValueError('SkeletonDataPreprocessor: one-hot scores '
                                 'need num_classes (set it in the data '
                                 'preprocessor)')
            scores = batch_label_to_onehot(labels, indices,
                                           num_classes).to(self.device)
            scores = scores.float()  # soft labels once mixed
        for sample, label in zip(samples, tensor_split(labels, indices)):
            sample.set_gt_label(label)
        if scores is not None:
            for sample, score in zip(samples, scores):
                sample.set_gt_score(score)
