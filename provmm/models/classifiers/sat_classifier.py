"""``SATClassifier``: SAT (Wu et al., ICCV 2023; code wpy1999/SAT,
``train.py``) as a provenance-guidable WSOL classifier.

With the localization map ``M`` ``(B, 1, h, w)`` of
:class:`~provmm.models.backbones.SATVisionTransformer` (values in (0, 1)),
SAT adds two spatial constraints to the classification loss::

    L_ba   = | mean_b mean_ij M_b - r |                   batch area loss
    L_norm = mean_b mean_ij (G * M_b) (1 - G * M_b)       normalization loss
    L      = L_cls + lambda_ba L_ba + lambda_norm L_norm (+ alpha L_PG)

``r`` is the expected foreground share (``--area_thr`` 0.25), ``G * M``
the map smoothed by a fixed 3x3 Gaussian (``get_kernel(3, 6)``, zero
padding); both weights are 1 in the original.
"""
from typing import Dict, List

import torch
import torch.nn.functional as F

from provmm.registry import MODELS
from ..backbones.sat_vision_transformer import SATVisionTransformer
from .wsol_image_classifier import WSOLImageClassifier


def sat_smoothing_kernel(size: int = 3, nsig: float = 6.0) -> torch.Tensor:
    """SAT's ``get_kernel``: ``(size, size)`` kernel ``sqrt(k k^T)``
    normalised to sum 1, ``k`` the N(0, 1) mass of ``size`` equal bins over
    ``[-nsig - d / 2, nsig + d / 2]``, ``d = (2 nsig + 1) / size``."""
    interval = (2 * nsig + 1.0) / size
    edges = torch.linspace(-nsig - interval / 2, nsig + interval / 2,
                           size + 1, dtype=torch.float64)
    k = torch.special.ndtr(edges).diff()
    kernel = torch.outer(k, k).sqrt()
    return (kernel / kernel.sum()).float()


def sat_batch_area_loss(loc_map: torch.Tensor,
                        area_ratio: float) -> torch.Tensor:
    """``| mean_b mean_ij M_b - r |`` for ``loc_map`` ``(B, 1, h, w)``."""
    return (loc_map.flatten(1).mean(dim=1).mean() - area_ratio).abs()


def sat_normalization_loss(loc_map: torch.Tensor,
                           kernel: torch.Tensor) -> torch.Tensor:
    """``mean_b mean_ij S (1 - S)``, ``S = kernel * M`` (zero padding),
    for ``loc_map`` ``(B, 1, h, w)`` and ``kernel`` ``(k, k)``, k odd."""
    smooth = F.conv2d(loc_map, kernel.to(loc_map)[None, None],
                      padding=kernel.shape[-1] // 2)
    return ((1 - smooth) * smooth).mean()


@MODELS.register_module()
class SATClassifier(WSOLImageClassifier):
    """:class:`WSOLImageClassifier` with SAT's losses, predicting SAT's map.

    ``loss`` adds ``loss_area`` (``lambda_ba L_ba``) and ``loss_norm``
    (``lambda_norm L_norm``, module docstring) on the map of the same forward
    pass to ``loss_cls`` and, with ``provenance_loss``, ``loss_pg`` (guided
    on the class logits only; the map's own losses are not guided).
    ``predict`` attaches ``cam`` = SAT's map ``(h, w)`` in (0, 1) by
    default; any other map of
    :mod:`provmm.models.localization` (``CAM``, ``GradCAM``, ``AdvCAM``) can
    be chosen instead and then reads the last patch feature map (with
    ``neck=None`` + ``ConvPoolClsHead``, SAT's own head, ``CAM`` and
    ``GradCAM`` work; ``AdvCAM`` needs GAP + linear).

    Args:
        *args, **kwargs: as :class:`WSOLImageClassifier`; the backbone must
            be a ``SATVisionTransformer``.
        area_ratio (float): ``r``. Default 0.25 (``--area_thr``).
        area_loss_weight (float): ``lambda_ba``. Default 1.
        norm_loss_weight (float): ``lambda_norm``. Default 1.
        localization (dict): default ``dict(type='SpatialAwareTokenMap')``.
    """

    def __init__(self, *args, area_ratio: float = 0.25,
                 area_loss_weight: float = 1.0,
                 norm_loss_weight: float = 1.0,
                 localization: dict = dict(type='SpatialAwareTokenMap'),
                 **kwargs):
        super().__init__(*args, localization=localization, **kwargs)
        if not isinstance(self.backbone, SATVisionTransformer):
            raise TypeError('SATClassifier: the backbone must be a '
                            'SATVisionTransformer, got '
                            f'{type(self.backbone).__name__}')
        self.area_ratio = area_ratio
        self.area_loss_weight = area_loss_weight
        self.norm_loss_weight = norm_loss_weight
        self.register_buffer('smoothing_kernel', sat_smoothing_kernel(),
                             persistent=False)

    def loss(self, inputs: torch.Tensor,
             data_samples: List) -> Dict[str, torch.Tensor]:
        """The parent's losses plus ``loss_area`` and ``loss_norm``.

        Args:
            inputs (Tensor): ``(B, C, H, W)``.
            data_samples (list[DataSample]): as the parent's.
        """
        # The map is captured from the parent's single forward pass, as
        # ProvenanceImageClassifier captures the head's logits.
        maps = []
        handle = self.backbone.register_forward_hook(
            lambda module, args, output: maps.append(output[0]))
        try:
            losses = super().loss(inputs, data_samples)
        finally:
            handle.remove()
        if len(maps) != 1:
            raise RuntimeError(
                f'SATClassifier: the backbone ran {len(maps)} times in one '
                'loss; SAT losses need the map of the single forward pass')
        if 'loss' in losses:  # unguided: the head's key, named as guided
            losses['loss_cls'] = losses.pop('loss')
        losses['loss_area'] = self.area_loss_weight * sat_batch_area_loss(
            maps[0], self.area_ratio)
        losses['loss_norm'] = self.norm_loss_weight * sat_normalization_loss(
            maps[0], self.smoothing_kernel)
        return losses
