"""``AdvCAM``: anti-adversarially manipulated attributions (Lee et al.,
CVPR 2021), as ``obtain_CAM_masking.py`` of jbeomlee93/AdvCAM computes them,
accumulating provmm's CAM.

With class maps ``S_k = sum_c w[k, c] F_c`` (no bias) the image climbs

    y_k      = mean_ij ReLU(S_k)[i, j]                       (score)
    R        = ReLU(S_y) / #{c : w[y, c] > 0}                (attribution)
    M        = 1[R(x_t) > tau * max_ij R(x_t)]               (mask)
    L(x_t)   = y_y - sum_{k != y} y_k
               - lambda * sum_ij M |R(x_t) - R(x_0)|         (objective)
    x_{t+1}  = clip(x_t + xi * g / max|g|, min x_t, max x_t),
               g = dL/dx_t

and the map is ``sum_{t=0..T} CAM(x_t)``, CAM being wsolevaluation's
``mean_c(w[y, c] F_c)`` without ReLU, so ``T = 0`` is CAM. ``R`` is what
the original's Grad-CAM (``gap2d_pos`` weights, ReLU) yields for a
GAP + bias-free linear classifier on one image; see
docs/metrics/localization_maps.md for the derivation and the differences
(one scale and no flip, CAMs of x_0..x_T instead of x_0..x_{T-1}, no ReLU in
the accumulated map).
"""
from contextlib import contextmanager
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn

from provmm.registry import MODELS
from ..utils.cam import class_activation_map
from ..heads import ConvPoolClsHead
from .cam import CAM, linear_classifier_weight


def class_score_maps(feature_map: torch.Tensor,
                     fc_weight: torch.Tensor) -> torch.Tensor:
    """``(B, K, h, w)`` maps ``S_k = sum_c w[k, c] F_c`` of every class (the
    original's bias-free 1x1 classifier convolution).

    Args:
        feature_map: ``(B, C, h, w)``.
        fc_weight: ``(K, C)``.
    """
    return torch.einsum('bchw,kc->bkhw', feature_map,
                        fc_weight.to(feature_map.dtype))


def anti_adversarial_objective(
        score_maps: torch.Tensor, labels: torch.Tensor,
        positive_weights: torch.Tensor,
        initial_attribution: Optional[torch.Tensor],
        mask_weight: float,
        score_threshold: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-sample objective ``L`` of the module docstring and ``R(x_t)``.

    Args:
        score_maps: ``(B, K, h, w)`` class maps ``S`` of ``x_t``.
        labels: ``(B,)`` class ``y`` per sample.
        positive_weights: ``(B,)`` ``#{c : w[y, c] > 0}``.
        initial_attribution: ``(B, h, w)`` ``R(x_0)``, or ``None`` at
            ``t = 0`` (then the regulariser is zero).
        mask_weight: ``lambda``.
        score_threshold: ``tau``, relative to the per-sample maximum.

    Returns:
        ``(B,)`` objective (to be maximised) and ``(B, h, w)`` ``R(x_t)``.
    """
    index = torch.arange(len(labels), device=labels.device)
    scores = score_maps.relu().mean(dim=(2, 3))  # (B, K)
    own = scores[index, labels]
    objective = 2 * own - scores.sum(dim=1)
    attribution = (score_maps[index, labels].relu() /
                   positive_weights[:, None, None])
    if initial_attribution is not None:
        peak = attribution.detach().amax(dim=(1, 2), keepdim=True)
        mask = attribution.detach() > score_threshold * peak
        change = (attribution - initial_attribution).abs() * mask
        objective = objective - mask_weight * change.sum(dim=(1, 2))
    return objective, attribution


def anti_adversarial_step(inputs: torch.Tensor, grad: torch.Tensor,
                          step_size: float) -> torch.Tensor:
    """``clip(x + xi * g / (max|g| + 1e-12), min x, max x)``: the gradient's
    maximum and the clip range of each sample over its ``(C, H, W)``.

    Args:
        inputs: ``(B, C, H, W)`` ``x_t``.
        grad: ``(B, C, H, W)`` ``dL/dx_t``.
        step_size: ``xi``.
    """
    dims = tuple(range(1, inputs.dim()))
    scale = grad.abs().amax(dim=dims, keepdim=True) + 1e-12
    stepped = inputs + step_size * grad / scale
    return torch.clamp(stepped, inputs.amin(dim=dims, keepdim=True),
                       inputs.amax(dim=dims, keepdim=True))


@contextmanager
def evaluation_mode(module: nn.Module):
    """``module.eval()`` for the block, then its previous mode back (train
    mode BN would couple the samples and update its statistics)."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


@MODELS.register_module()
class AdvCAM(CAM):
    """Anti-adversarially manipulated CAM (Lee et al., CVPR 2021).

    The defaults are those of ``obtain_CAM_masking.py`` (``--adv_iter 27
    --AD_stepsize 0.08 --AD_coeff 7 --score_th 0.5``, what its
    ``get_mask_quality.sh`` runs); ``step_size`` is in the units of the
    normalised network input, as there.
    The whole batch climbs at once (each sample's step uses only its own
    gradient) with the network in eval mode, under ``torch.enable_grad``.
    Needs a ``GlobalAveragePooling`` neck and a linear ``fc`` head; a
    ``ConvPoolClsHead`` is refused (the attribution ``R`` is derived for
    GAP + linear only).

    Args:
        iterations (int): climbing steps ``T`` (``T + 1`` CAMs are summed;
            0 gives CAM). Defaults to 27.
        step_size (float): ``xi``. Defaults to 0.08.
        mask_weight (float): ``lambda``. Defaults to 7.0.
        score_threshold (float): ``tau`` of the mask ``M``. Defaults to 0.5.
    """

    def __init__(self,
                 iterations: int = 27,
                 step_size: float = 0.08,
                 mask_weight: float = 7.0,
                 score_threshold: float = 0.5):
        if isinstance(iterations, bool) or not isinstance(
                iterations, int) or iterations < 0:
            raise ValueError('AdvCAM: iterations must be an int >= 0, got '
                             f'{iterations!r}')
        if not step_size > 0:
            raise ValueError(f'AdvCAM: step_size must be > 0, got '
                             f'{step_size!r}')
        if not mask_weight >= 0:
            raise ValueError(f'AdvCAM: mask_weight must be >= 0, got '
                             f'{mask_weight!r}')
        if not 0 <= score_threshold < 1:
            raise ValueError('AdvCAM: score_threshold must be in [0, 1), '
                             f'got {score_threshold!r}')
        self.iterations = iterations
        self.step_size = float(step_size)
        self.mask_weight = float(mask_weight)
        self.score_threshold = float(score_threshold)

    def check_model(self, classifier) -> None:
        if isinstance(getattr(classifier, 'head', None), ConvPoolClsHead):
            raise TypeError(
                'WSOLImageClassifier: AdvCAM does not support '
                'ConvPoolClsHead: its attribution R (the original\'s Grad-CAM '
                'of a 1 x 1 classifier) is derived for a '
                "neck=dict(type='GlobalAveragePooling') and a linear `fc` "
                'head (e.g. LinearClsHead). With ConvPoolClsHead use CAM or '
                'GradCAM')
        linear_classifier_weight(classifier, type(self).__name__)

    def __call__(self, classifier, inputs: torch.Tensor,
                 feature_maps: Sequence[torch.Tensor],
                 labels: torch.Tensor) -> torch.Tensor:
        """``(B, h, w)`` accumulated CAMs of ``labels`` ``(B,)``;
        ``feature_maps`` are the backbone's on ``inputs`` ``(B, C, H, W)``
        and give the ``t = 0`` term."""
        weight = linear_classifier_weight(classifier)
        labels = torch.as_tensor(labels, device=inputs.device).long()
        total = class_activation_map(feature_maps[-1], weight, labels)
        if self.iterations == 0:
            return total
        total = total.detach().float()
        # the original's Grad-CAM scale (module docstring); max: no NaN
        positive_weights = (weight[labels] > 0).sum(dim=1).clamp(min=1).to(
            inputs.dtype)
        weight = weight.detach()
        x, initial = inputs.detach(), None
        with evaluation_mode(classifier):
            with torch.enable_grad():
                for t in range(self.iterations):
                    x.requires_grad_(True)
                    feature_map = classifier.extract_feat(
                        x, stage='backbone')[-1]
                    if t > 0:
                        total += class_activation_map(
                            feature_map.detach(), weight, labels).float()
                    objective, attribution = anti_adversarial_objective(
                        class_score_maps(feature_map, weight), labels,
                        positive_weights, initial, self.mask_weight,
                        self.score_threshold)
                    if initial is None:
                        initial = attribution.detach()
                    (grad, ) = torch.autograd.grad(objective.sum(), x)
                    x = anti_adversarial_step(x.detach(), grad,
                                              self.step_size)
            with torch.no_grad():
                feature_map = classifier.extract_feat(x, stage='backbone')[-1]
                total += class_activation_map(feature_map, weight,
                                              labels).float()
        return total
