"""``WSOLImageClassifier``: a provenance-guided classifier whose predictions
carry the CAM of the ground-truth class (WSOL, paper Sec. 4.2.1)."""
from typing import List, Optional

import torch
import torch.nn as nn
from mmpretrain.models.necks import GlobalAveragePooling

from provmm.registry import MODELS
from ..utils.cam import class_activation_map
from .provenance_image_classifier import ProvenanceImageClassifier


@MODELS.register_module()
class WSOLImageClassifier(ProvenanceImageClassifier):
    """:class:`ProvenanceImageClassifier` whose ``predict`` also attaches
    ``cam`` to every data sample.

    ``cam`` is ``mean_c(w[y, c] * F[c])`` (Zhou et al. 2016; wsolevaluation)
    on the last backbone feature map ``F`` ``(C, h, w)`` for the GT class
    ``y`` (the predicted class when a sample has no ``gt_label``): no ReLU,
    no bias, at feature resolution, float32 ``(h, w)``. It needs a
    ``GlobalAveragePooling`` neck and a head whose ``fc`` is an
    ``nn.Linear`` (``LinearClsHead`` and its kind); training is unchanged.
    """

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                **kwargs) -> List:
        """Predictions of :class:`ImageClassifier` plus ``cam`` per sample.

        Args:
            inputs (Tensor): ``(B, C, H, W)``.
            data_samples (list[DataSample], optional): with ``gt_label``.
        """
        fc = self._check_cam_model()
        feature_maps = self.extract_feat(inputs, stage='backbone')
        feats = self.neck(feature_maps)
        results = self.head.predict(feats, data_samples, **kwargs)
        labels = torch.stack([
            (sample.gt_label if 'gt_label' in sample else
             sample.pred_label).reshape(-1)[0] for sample in results
        ])
        cams = class_activation_map(feature_maps[-1], fc.weight, labels)
        for sample, cam in zip(results, cams):
            sample.set_field(cam.float(), 'cam')
        return results

    def _check_cam_model(self) -> nn.Linear:
        if not isinstance(getattr(self, 'neck', None), GlobalAveragePooling):
            raise TypeError(
                'WSOLImageClassifier: CAM needs neck=dict(type='
                f"'GlobalAveragePooling'), got {type(self.neck).__name__}")
        fc = getattr(self.head, 'fc', None)
        if not isinstance(fc, nn.Linear):
            raise TypeError(
                'WSOLImageClassifier: CAM needs a head with a linear `fc` '
                f'layer (e.g. LinearClsHead), got {type(self.head).__name__}')
        return fc
