"""``GradCAM``: gradient-weighted class activation maps (Selvaraju et al.,
ICCV 2017 / IJCV 2020) on the last backbone feature map."""
from typing import Sequence

import torch

from provmm.registry import MODELS


def grad_cam(feature_map: torch.Tensor,
             feature_grad: torch.Tensor) -> torch.Tensor:
    """``ReLU(sum_c alpha_c F_c)`` with ``alpha_c = mean_ij dy/dF_c[i, j]``
    (Grad-CAM, Eq. 1-2).

    Args:
        feature_map: ``(B, C, h, w)`` feature map ``F``.
        feature_grad: ``(B, C, h, w)`` gradient of each sample's class score
            ``y`` with respect to ``F``.

    Returns:
        ``(B, h, w)`` maps.
    """
    if feature_map.dim() != 4 or feature_grad.shape != feature_map.shape:
        raise ValueError(
            'feature_map and feature_grad must both be (B, C, h, w), got '
            f'shapes {tuple(feature_map.shape)} and '
            f'{tuple(feature_grad.shape)}')
    alpha = feature_grad.mean(dim=(2, 3), keepdim=True)
    return (alpha * feature_map).sum(dim=1).relu()


@MODELS.register_module()
class GradCAM:
    """Grad-CAM of the class ``y`` of each sample on the last backbone
    feature map, ``y`` being the head's pre-softmax score.

    Works with any neck and head that map the backbone's feature maps to
    ``(B, num_classes)`` scores. With a ``GlobalAveragePooling`` neck and a
    linear head ``alpha_c = w[y, c] / (h * w)``, so Grad-CAM is
    ``ReLU(C / (h * w) * CAM)``: the same map as CAM with its negative part
    set to zero. With ``neck=None`` and a ``ConvPoolClsHead`` it runs
    unchanged (the head reads the map it is given). The network runs in its
    current mode (eval in test loops).
    """

    def check_model(self, classifier) -> None:
        pass

    def __call__(self, classifier, inputs: torch.Tensor,
                 feature_maps: Sequence[torch.Tensor],
                 labels: torch.Tensor) -> torch.Tensor:
        """``(B, h, w)`` Grad-CAMs of ``labels`` ``(B,)``; the neck and head
        run again on ``feature_maps``, ``inputs`` are not needed."""
        with torch.enable_grad():
            last = feature_maps[-1].detach().requires_grad_(True)
            maps = tuple(feature_maps[:-1]) + (last, )
            feats = classifier.neck(maps) if classifier.with_neck else maps
            scores = classifier.head(feats)
            labels = torch.as_tensor(labels, device=scores.device).long()
            (grad, ) = torch.autograd.grad(
                scores.gather(1, labels[:, None]).sum(), last)
        return grad_cam(last.detach(), grad)
