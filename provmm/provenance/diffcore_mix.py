"""DiffCoRe-Mix: real images mixed with generated counterparts
(docs/method.md).

DiffCoRe-Mix (Islam & Akhtar, "Context-guided responsible data augmentation
with diffusion models", ICLR 2025 workshop) pairs every real image ``I`` with a
generated image ``G`` of the same class and trains on one of two composites,
chosen by a fair coin::

    pixel-wise:  x~ = lam * I + (1 - lam) * G,      lam ~ Beta(alpha, alpha)
    patch-wise:  x~ = M_p * I + (1 - M_p) * G,      M_p: random grid of patches

Both images have the sample's class, so the label stays a hard label.

Provenance (1 = real pixel, the sample's unedited target as in Eq. 10 of the
provenance-guidance paper):

- patch-wise: ``M = M_p`` exactly;
- pixel-wise: every pixel is part real, part generated, so no pixel can be
  attributed to either source. The mask is then all ones, which makes the
  hard-label penalty ``||(1 - M) * grad||^2`` zero for that sample: "no
  provenance" means "nothing penalised". ``has_provenance`` tells the two
  cases apart for anyone who needs to.

``alpha = 1`` (the default) makes ``lam`` uniform on (0, 1).

``M_p`` tiles the image with ``patch_size`` cells (the last row and column
may be partial when the size does not divide ``H`` or ``W``) and keeps
``round(keep_ratio * num_cells)`` cells real, chosen uniformly without
replacement per sample; ``lam`` is then the real-pixel fraction ``mean(M_p)``.

Randomness comes from ``rng`` (a ``numpy.random.Generator``) or, when it is
None, from numpy's global generator as mmpretrain's batch augments do, so
``mmengine``'s ``set_random_seed`` makes runs reproducible.
"""
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np
import torch



@dataclass
class DiffCoReMixResult:
    """Output of :func:`diffcore_mix`; B samples of C x H x W.

    Attributes:
        mixed: (B, C, H, W) composites.
        prov_mask: (B, H, W) float, 1 = real pixel; all ones for pixel-wise
            mixes (no provenance, nothing penalised).
        has_provenance: (B,) bool, True for patch-wise mixes.
        lam: (B,) float, the real share: ``lam`` (pixel-wise) or
            ``mean(M_p)`` (patch-wise).
    """
    mixed: torch.Tensor
    prov_mask: torch.Tensor
    has_provenance: torch.Tensor
    lam: torch.Tensor


def _pair(value: Union[int, Tuple[int, int]], name: str) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ValueError(f'{name} must be a positive int or (h, w) pair of '
                         f'positive ints, got {value!r}')
    return pair


def random_patch_mask(num_samples: int,
                      size: Tuple[int, int],
                      patch_size: Union[int, Tuple[int, int]] = 16,
                      keep_ratio: float = 0.5,
                      rng: Optional[np.random.Generator] = None
                      ) -> np.ndarray:
    """Random binary grid masks ``M_p``, 1 on kept (real) patches.

    Args:
        num_samples: number of masks N.
        size: (H, W) of the images.
        patch_size: side of a grid cell, or (h, w).
        keep_ratio: share of cells that are kept, in [0, 1].
        rng: numpy Generator; numpy's global generator when None.

    Returns:
        (N, H, W) float32 array of 0/1.
    """
    if not 0. <= keep_ratio <= 1.:
        raise ValueError(f'keep_ratio must lie in [0, 1], got {keep_ratio}')
    patch_h, patch_w = _pair(patch_size, 'patch_size')
    height, width = size
    rows, cols = -(-height // patch_h), -(-width // patch_w)  # ceil
    num_cells = rows * cols
    num_kept = int(round(keep_ratio * num_cells))
    rng = np.random if rng is None else rng
    # ranks of uniform draws: a uniformly random subset of num_kept cells
    draws = rng.random((num_samples, num_cells))
    ranks = draws.argsort(axis=1).argsort(axis=1)
    cells = (ranks < num_kept).reshape(num_samples, rows, cols)
    masks = cells.repeat(patch_h, axis=1).repeat(patch_w, axis=2)
    return masks[:, :height, :width].astype(np.float32)


def diffcore_mix(real: torch.Tensor,
                 generated: torch.Tensor,
                 alpha: float = 1.0,
                 pixel_prob: float = 0.5,
                 patch_size: Union[int, Tuple[int, int]] = 16,
                 keep_ratio: float = 0.5,
                 per_sample: bool = True,
                 rng: Optional[np.random.Generator] = None
                 ) -> DiffCoReMixResult:
    """Mix real images with their generated counterparts (DiffCoRe-Mix).

    Args:
        real: (B, C, H, W) real images ``I``.
        generated: (B, C, H, W) generated counterparts ``G``, row i of the
            same class as row i of ``real``.
        alpha: ``lam ~ Beta(alpha, alpha)`` for pixel-wise mixes; 1 = U(0, 1).
        pixel_prob: probability of a pixel-wise mix (0.5: the fair coin;
            0 or 1 force one mode, e.g. for ablations).
        patch_size: grid cell side of ``M_p`` (int or (h, w)).
        keep_ratio: share of grid cells kept real in ``M_p``.
        per_sample: one coin per sample (True) or one for the whole batch.
        rng: numpy Generator; numpy's global generator when None.

    Returns:
        :class:`DiffCoReMixResult`; labels are unchanged (hard label).
    """
    if real.dim() != 4 or real.shape != generated.shape:
        raise ValueError(
            'real and generated must both be (B, C, H, W) of the same shape, '
            f'got {tuple(real.shape)} and {tuple(generated.shape)}')
    if not (real.is_floating_point() and generated.is_floating_point()):
        raise TypeError('real and generated must be floating point, got '
                        f'{real.dtype} and {generated.dtype}')
    if real.device != generated.device:
        raise ValueError(f'real is on {real.device}, generated on '
                         f'{generated.device}')
    if alpha <= 0:
        raise ValueError(f'alpha must be > 0, got {alpha}')
    if not 0. <= pixel_prob <= 1.:
        raise ValueError(f'pixel_prob must lie in [0, 1], got {pixel_prob}')
    rng = np.random if rng is None else rng
    batch, _, height, width = real.shape

    num_coins = batch if per_sample else 1
    is_pixel = np.broadcast_to(rng.random(num_coins) < pixel_prob, (batch,))
    pixel_lam = rng.beta(alpha, alpha, size=batch)
    patch_masks = random_patch_mask(batch, (height, width), patch_size,
                                    keep_ratio, rng)
    # pixel-wise samples: mask of the mixing weight, reported as all ones
    mix_weight = np.where(is_pixel[:, None, None],
                          pixel_lam[:, None, None].astype(np.float32),
                          patch_masks)
    prov_mask = np.where(is_pixel[:, None, None], np.float32(1), patch_masks)
    lam = np.where(is_pixel, pixel_lam, patch_masks.mean(axis=(1, 2)))

    weight = torch.from_numpy(mix_weight).to(real.device, real.dtype)
    # lerp returns its ends exactly at weights 0 and 1 (patch-wise mixes)
    mixed = torch.lerp(generated, real, weight.unsqueeze(1))
    return DiffCoReMixResult(
        mixed=mixed,
        prov_mask=torch.from_numpy(prov_mask).to(real.device, real.dtype),
        has_provenance=torch.from_numpy(~is_pixel).to(real.device),
        lam=torch.from_numpy(lam.astype(np.float32)).to(real.device))
