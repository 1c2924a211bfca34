"""SAT's localization map (Wu et al., ICCV 2023): the spatial-aware token's
attention to the patches, as ``SATVisionTransformer`` returns it."""
from typing import Sequence

import torch

from provmm.registry import MODELS
from ..backbones.sat_vision_transformer import SATVisionTransformer


@MODELS.register_module()
class SpatialAwareTokenMap:
    """SAT's localization map: ``M`` of the ``SATVisionTransformer``
    backbone (its first output), ``(B, h, w)`` in (0, 1); class-agnostic,
    so ``labels`` are not used."""

    def check_model(self, classifier) -> None:
        if not isinstance(classifier.backbone, SATVisionTransformer):
            raise TypeError(
                'WSOLImageClassifier: SpatialAwareTokenMap needs a '
                'SATVisionTransformer backbone, got '
                f'{type(classifier.backbone).__name__}')

    def __call__(self, classifier, inputs: torch.Tensor,
                 feature_maps: Sequence[torch.Tensor],
                 labels: torch.Tensor) -> torch.Tensor:
        return feature_maps[0][:, 0]
