"""ResizeMix with provenance (Qin et al., 2020; paper Sec. 3.2.1).

The *whole* partner image, resized to a CutMix box, is pasted into the box,
so ``M = 1 - box`` as for CutMix and ``lam = mean(M)``; a sample whose
partner is itself keeps ``M = 1`` (every element still comes from its own
label). Unlike CutMix, ``x~`` inside the box is the resized partner, not the
partner's pixels at the same place.

Random draws follow mmpretrain's ``ResizeMix``: ``lam ~ Beta(alpha, alpha)``
rescaled to ``[lam_min, lam_max]``, ``torch.randperm``, then the box.
"""
import numpy as np
import torch
import torch.nn.functional as F

from .cutmix import (Box, MixedBatch, _check_batch, box_provenance_mask,
                     cutmix_box, draw_mix, mask_lam)


def resize_paste(inputs: torch.Tensor, box: Box, partner: torch.Tensor,
                 interpolation: str = 'bilinear') -> MixedBatch:
    """Paste each partner, resized to ``box``, into ``box``.

    Args:
        inputs (Tensor): ``(B, C, H, W)``; not modified.
        box (tuple): ``(y0, y1, x0, x1)``.
        partner (Tensor): ``(B,)`` long.
        interpolation (str): ``F.interpolate`` mode.

    Returns:
        MixedBatch
    """
    _check_batch(inputs, partner)
    y0, y1, x0, x1 = box
    mixed = inputs.clone()
    if y1 > y0 and x1 > x0:  # an empty box pastes nothing
        mixed[:, :, y0:y1, x0:x1] = F.interpolate(
            inputs[partner],
            size=(int(y1 - y0), int(x1 - x0)),
            mode=interpolation,
            align_corners=False)
    mask = box_provenance_mask(partner, inputs.shape[-2:], box, inputs.device)
    return MixedBatch(mixed, mask, partner, mask_lam(mask))


def random_resizemix(inputs: torch.Tensor,
                     alpha: float,
                     lam_min: float = 0.1,
                     lam_max: float = 0.8,
                     interpolation: str = 'bilinear',
                     rng=np.random) -> MixedBatch:
    """ResizeMix with mmpretrain's sampling (see the module docstring)."""
    partner, box = draw_mix(
        inputs.size(0), alpha,
        lambda lam: cutmix_box(tuple(inputs.shape[-2:]), lam, rng=rng),
        (lam_min, lam_max), rng)
    return resize_paste(inputs, box, partner, interpolation)
