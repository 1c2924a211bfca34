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
from ..heads import ConvPoolClsHead
from ..utils.cam import class_activation_map, conv_class_activation_map


def linear_classifier_weight(classifier,
                             method: str = 'CAM') -> torch.Tensor:
    """``(num_classes, C)`` weight of a GAP + linear classifier; ``method``
    names the map in the error.

    Raises:
        TypeError: the neck is not ``GlobalAveragePooling`` or the head has
            no ``nn.Linear`` ``fc`` (the CAM identity ``logit = mean_ij
            (w . F_ij) + b`` needs both).
    """
    # CAM also takes the conv head; AdvCAM refuses it before this.
    other = (' (or neck=None with ConvPoolClsHead)'
             if method == 'CAM' else '')
    neck = getattr(classifier, 'neck', None)
    if not isinstance(neck, GlobalAveragePooling):
        raise TypeError(
            f'WSOLImageClassifier: {method} needs neck=dict(type='
            f"'GlobalAveragePooling'){other}, got {type(neck).__name__}")
    fc = getattr(classifier.head, 'fc', None)
    if not isinstance(fc, nn.Linear):
        raise TypeError(
            f'WSOLImageClassifier: {method} needs a head with a linear `fc` '
            f'layer (e.g. LinearClsHead){other}, got '
            f'{type(classifier.head).__name__}')
    return fc.weight


def conv_pool_head(classifier, method: str = 'CAM'):
    """The classifier's ``ConvPoolClsHead``, or ``None`` for another head;
    ``method`` names the map in the error.

    Raises:
        TypeError: a ``ConvPoolClsHead`` behind a neck (the head needs the
            feature map; its class maps are the map's, so no neck).
    """
    head = getattr(classifier, 'head', None)
    if not isinstance(head, ConvPoolClsHead):
        return None
    neck = getattr(classifier, 'neck', None)
    if neck is not None:
        raise TypeError(
            f'WSOLImageClassifier: {method} with ConvPoolClsHead needs '
            f'neck=None (the head reads the feature map), got '
            f'{type(neck).__name__}')
    return head


@MODELS.register_module()
class CAM:
    """Class activation map (Zhou et al., CVPR 2016) as wsolevaluation
    computes it: ``mean_c(w[y, c] * F[c])`` on the last backbone feature map
    ``F`` ``(C, h, w)``, no ReLU, no bias, at feature resolution.

    Needs a ``GlobalAveragePooling`` neck and a head whose ``fc`` is an
    ``nn.Linear`` (``LinearClsHead`` and its kind), or no neck and a
    ``ConvPoolClsHead`` (SAT's head), whose CAM is its convolution's
    channel ``y`` before the average (``conv_class_activation_map``).
    """

    def check_model(self, classifier) -> None:
        name = type(self).__name__
        if conv_pool_head(classifier, name) is None:
            linear_classifier_weight(classifier, name)

    def __call__(self, classifier, inputs: torch.Tensor,
                 feature_maps: Sequence[torch.Tensor],
                 labels: torch.Tensor) -> torch.Tensor:
        """``(B, h, w)`` CAMs of ``labels`` ``(B,)`` from the backbone's
        ``feature_maps`` (the last is used); ``inputs`` are not needed."""
        head = conv_pool_head(classifier)
        if head is not None:
            return conv_class_activation_map(
                head.class_maps(tuple(feature_maps)), labels)
        return class_activation_map(feature_maps[-1],
                                    linear_classifier_weight(classifier),
                                    labels)
