"""CutMix with provenance (Yun et al., ICCV 2019; paper Sec. 3.2.1).

A box of side ``sqrt(1 - lam)`` times the image side, centred uniformly and
clipped to the image, is filled with the same box of a partner sample
(a random permutation of the batch). The provenance mask is

    M = 1 outside the box (from the sample itself), 0 inside (from the partner)

and the label weight is corrected to the real area, ``lam = 1 - area / (H W)
= mean(M)``. A sample whose partner is itself (a fixed point of the
permutation) is not mixed: ``M = 1``, ``lam = 1``.

Box sampling and the order in which it draws random numbers
(``np.random.beta``, ``torch.randperm``, ``np.random.randint`` for y then x)
are those of mmpretrain's / timm's ``CutMix``, so equal seeds give equal
boxes.
"""
from typing import Callable, NamedTuple, Tuple, TypeVar

import numpy as np
import torch

Box = Tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open
BoxDraw = TypeVar('BoxDraw')


class MixedBatch(NamedTuple):
    """A mixed batch and its provenance.

    Attributes:
        inputs (Tensor): ``(B, C, H, W)`` mixed inputs.
        mask (Tensor): ``(B, H, W)`` float, 1 where the element comes from the
            sample itself.
        partner (Tensor): ``(B,)`` long, index of the sample the rest comes
            from (own index when not mixed).
        lam (Tensor): ``(B,)`` float64, ``mean(mask)`` per sample.
    """
    inputs: torch.Tensor
    mask: torch.Tensor
    partner: torch.Tensor
    lam: torch.Tensor


def cutmix_box(img_shape: Tuple[int, int], lam: float, margin: float = 0.,
               rng=np.random) -> Box:
    """Square-ratio CutMix box for mixing ratio ``lam`` (timm ``rand_bbox``).

    Args:
        img_shape (tuple): ``(H, W)``.
        lam (float): target share of the own image, in [0, 1].
        margin (float): border margin as a fraction of the box side.
        rng: ``np.random`` or a ``np.random.RandomState``.

    Returns:
        tuple: ``(y0, y1, x0, x1)``, clipped to the image.
    """
    ratio = np.sqrt(1 - lam)
    img_h, img_w = img_shape
    cut_h, cut_w = int(img_h * ratio), int(img_w * ratio)
    margin_y, margin_x = int(margin * cut_h), int(margin * cut_w)
    cy = rng.randint(0 + margin_y, img_h - margin_y)
    cx = rng.randint(0 + margin_x, img_w - margin_x)
    y0 = np.clip(cy - cut_h // 2, 0, img_h)
    y1 = np.clip(cy + cut_h // 2, 0, img_h)
    x0 = np.clip(cx - cut_w // 2, 0, img_w)
    x1 = np.clip(cx + cut_w // 2, 0, img_w)
    return int(y0), int(y1), int(x0), int(x1)


def box_provenance_mask(partner: torch.Tensor, img_shape: Tuple[int, int],
                        box: Box, device=None) -> torch.Tensor:
    """Rasterise ``M``: 0 inside ``box`` for mixed samples, 1 elsewhere.

    Args:
        partner (Tensor): ``(B,)`` partner indices.
        img_shape (tuple): ``(H, W)``.
        box (tuple): ``(y0, y1, x0, x1)``.

    Returns:
        Tensor: ``(B, H, W)`` float32.
    """
    y0, y1, x0, x1 = box
    mask = torch.ones(len(partner), *img_shape, device=device)
    mixed = partner.cpu() != torch.arange(len(partner))
    mask[mixed.to(mask.device), y0:y1, x0:x1] = 0
    return mask


def paste_box(inputs: torch.Tensor, box: Box,
              partner: torch.Tensor) -> MixedBatch:
    """CutMix given the box and partners: ``x~ = M x + (1 - M) x[partner]``.

    Args:
        inputs (Tensor): ``(B, C, H, W)``; not modified.
        box (tuple): ``(y0, y1, x0, x1)``.
        partner (Tensor): ``(B,)`` long.

    Returns:
        MixedBatch
    """
    _check_batch(inputs, partner)
    y0, y1, x0, x1 = box
    mixed = inputs.clone()
    mixed[:, :, y0:y1, x0:x1] = inputs[partner, :, y0:y1, x0:x1]
    mask = box_provenance_mask(partner, inputs.shape[-2:], box, inputs.device)
    return MixedBatch(mixed, mask, partner, mask_lam(mask))


def draw_mix(batch_size: int, alpha: float,
             draw_box: Callable[[float], BoxDraw],
             lam_range: Tuple[float, float] = (0., 1.),
             rng=np.random) -> Tuple[torch.Tensor, BoxDraw]:
    """The random draws of one CutMix/ResizeMix batch, in mmpretrain's order:
    ``lam ~ Beta(alpha, alpha)`` rescaled to ``lam_range``, the partners
    (``torch.randperm``), then ``draw_box(lam)``.

    Every mixing function here and in the batch augments draws through this
    one, so that equal seeds give mmpretrain's boxes and partners.

    Returns:
        tuple: ``(partner (B,) long, draw_box(lam))``.
    """
    lam_min, lam_max = lam_range
    lam = rng.beta(alpha, alpha) * (lam_max - lam_min) + lam_min
    partner = torch.randperm(batch_size)
    return partner, draw_box(lam)


def random_cutmix(inputs: torch.Tensor, alpha: float,
                  rng=np.random) -> MixedBatch:
    """CutMix with ``lam ~ Beta(alpha, alpha)`` and a random permutation
    (draws: :func:`draw_mix`).

    Args:
        inputs (Tensor): ``(B, C, H, W)``.
        alpha (float): Beta parameter (> 0).
        rng: ``np.random`` or a ``np.random.RandomState``.
    """
    partner, box = draw_mix(
        inputs.size(0), alpha,
        lambda lam: cutmix_box(tuple(inputs.shape[-2:]), lam, rng=rng),
        rng=rng)
    return paste_box(inputs, box, partner)


def mask_lam(mask: torch.Tensor) -> torch.Tensor:
    """``(B,)`` float64 ``mean(M)`` per sample."""
    return mask.flatten(1).double().mean(1)


def _check_batch(inputs: torch.Tensor, partner: torch.Tensor) -> None:
    if inputs.dim() != 4:
        raise ValueError('inputs must be (B, C, H, W), got '
                         f'{tuple(inputs.shape)}')
    if tuple(partner.shape) != (inputs.shape[0], ):
        raise ValueError(f'partner must be ({inputs.shape[0]},), got '
                         f'{tuple(partner.shape)}')
