"""``WSOLImageClassifier``: a provenance-guided classifier whose predictions
carry a localization map of the ground-truth class (WSOL, paper Sec. 4.2.1)."""
import copy
from typing import List, Optional

import torch

from provmm.registry import MODELS
from .provenance_image_classifier import ProvenanceImageClassifier


@MODELS.register_module()
class WSOLImageClassifier(ProvenanceImageClassifier):
    """:class:`ProvenanceImageClassifier` whose ``predict`` also attaches
    ``cam`` to every data sample.

    ``cam`` is the localization map of the GT class ``y`` (the predicted
    class when a sample has no ``gt_label``) made by ``localization``, at
    feature resolution, float32 ``(h, w)``. The default, ``CAM``, is
    ``mean_c(w[y, c] * F[c])`` (Zhou et al. 2016; wsolevaluation) on the
    last backbone feature map ``F`` ``(C, h, w)``: no ReLU, no bias; it and
    ``AdvCAM`` need a ``GlobalAveragePooling`` neck and a head whose ``fc``
    is an ``nn.Linear`` (checked when the model is built). ``CAM`` also
    takes ``neck=None`` with a ``ConvPoolClsHead`` (its conv output of
    class ``y``); ``AdvCAM`` refuses that head. Training is unchanged.

    Args:
        *args, **kwargs: as :class:`ProvenanceImageClassifier`.
        localization (dict): config of the map, built from ``MODELS``:
            ``dict(type='CAM')`` (default), ``dict(type='GradCAM')`` or
            ``dict(type='AdvCAM', iterations=27, step_size=0.08,
            mask_weight=7.0, score_threshold=0.5)`` (see
            :mod:`provmm.models.localization`).
    """

    def __init__(self, *args, localization: dict = dict(type='CAM'),
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.localization = MODELS.build(copy.deepcopy(localization))
        self.localization.check_model(self)

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List] = None,
                **kwargs) -> List:
        """Predictions of :class:`ImageClassifier` plus ``cam`` per sample.

        Args:
            inputs (Tensor): ``(B, C, H, W)``.
            data_samples (list[DataSample], optional): with ``gt_label``.
        """
        feature_maps = self.extract_feat(inputs, stage='backbone')
        feats = self.neck(feature_maps) if self.with_neck else feature_maps
        results = self.head.predict(feats, data_samples, **kwargs)
        labels = torch.stack([
            (sample.gt_label if 'gt_label' in sample else
             sample.pred_label).reshape(-1)[0] for sample in results
        ])
        maps = self.localization(self, inputs, feature_maps, labels)
        for sample, cam in zip(results, maps):
            sample.set_field(cam.float(), 'cam')
        return results
