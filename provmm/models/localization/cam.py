"""``CAM``: the class activation map of wsolevaluation, the default
localization map of :class:`~provmm.models.classifiers.WSOLImageClassifier`.

A localization method is a registered class called as
``method(classifier, inputs, feature_maps, labels)`` that returns one
``(B, h, w)`` map per sample; ``check_model(classifier)`` runs once when the
classifier is built and refuses a model the method cannot explain.
"""
from typing import Sequence

import torch
import torch.nn as nn
from mmpretrain.models.necks import GlobalAveragePooling

from provmm.registry import MODELS
from ..utils.cam import class_activation_map


def linear_classifier_weight(classifier,
                             method: str = 'CAM') -> torch.Tensor:
    """``(num_classes, C)`` weight of a GAP + linear classifier; ``method``
    names the map in the error.

    Raises:
        TypeError: the neck is not ``GlobalAveragePooling`` or the head has
            no ``nn.Linear`` ``fc`` (the CAM identity ``logit = mean_ij
            (w . F_ij) + b`` needs both).
    """
    neck = getattr(classifier, 'neck', None)
    if not isinstance(neck, GlobalAveragePooling):
        raise TypeError(
            f'WSOLImageClassifier: {method} needs neck=dict(type='
            f"'GlobalAveragePooling'), got {type(neck).__name__}")
    fc = getattr(classifier.head, 'fc', None)
    if not isinstance(fc, nn.Linear):
        raise TypeError(
            f'WSOLImageClassifier: {method} needs a head with a linear `fc` '
            'layer (e.g. LinearClsHead), got '
            f'{type(classifier.head).__name__}')
    return fc.weight


@MODELS.register_module()
class CAM:
    """Class activation map (Zhou et al., CVPR 2016) as wsolevaluation
    computes it: ``mean_c(w[y, c] * F[c])`` on the last backbone feature map
    ``F`` ``(C, h, w)``, no ReLU, no bias, at feature resolution.

    Needs a ``GlobalAveragePooling`` neck and a head whose ``fc`` is an
    ``nn.Linear`` (``LinearClsHead`` and its kind).
    """

    def check_model(self, classifier) -> None:
        linear_classifier_weight(classifier, type(self).__name__)

    def __call__(self, classifier, inputs: torch.Tensor,
                 feature_maps: Sequence[torch.Tensor],
                 labels: torch.Tensor) -> torch.Tensor:
        """``(B, h, w)`` CAMs of ``labels`` ``(B,)`` from the backbone's
        ``feature_maps`` (the last is used); ``inputs`` are not needed."""
        return class_activation_map(feature_maps[-1],
                                    linear_classifier_weight(classifier),
                                    labels)
