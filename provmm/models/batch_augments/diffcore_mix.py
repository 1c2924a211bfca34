"""``DiffCoReMix``: mix real images with generated counterparts."""
from typing import Tuple, Union

import numpy as np
import torch

from provmm.provenance.diffcore_mix import DiffCoReMixResult, diffcore_mix
from provmm.registry import BATCH_AUGMENTS


@BATCH_AUGMENTS.register_module()
class DiffCoReMix:
    """DiffCoRe-Mix (Islam & Akhtar, ICLR 2025 workshop; docs/method.md).

    Each real image ``I`` with a generated counterpart ``G`` of its class is
    replaced, with probability ``mix_prob``, by ``lam * I + (1 - lam) * G``
    (pixel-wise, ``lam ~ Beta(alpha, alpha)``) or ``M_p * I + (1 - M_p) * G``
    (patch-wise, ``M_p`` a random grid of patches) chosen by a coin with
    probability ``pixel_prob`` of pixel-wise. The label is unchanged (hard
    label). Patch-wise mixes carry exact provenance ``M = M_p`` (1 = real);
    pixel-wise ones carry none, so their mask is all ones and the hard-label
    penalty (Eq. 10) leaves them alone. See
    :func:`provmm.provenance.diffcore_mix.diffcore_mix`.

    It mixes a sample with its own counterpart rather than with another
    sample, so it is not one of ``ProvenanceMixBatchAugment``'s ``augments``:
    ``DiffCoReMixPreprocessor`` runs it on the samples that carry ``gen_img``.

    Args:
        alpha (float): Beta parameter of ``lam``; 1 = U(0, 1). Defaults to 1.
        pixel_prob (float): probability of a pixel-wise mix. Defaults to 0.5
            (the fair coin).
        patch_size (int | tuple[int, int]): grid cell of ``M_p``. Defaults
            to 16.
        keep_ratio (float): share of grid cells kept real. Defaults to 0.5.
        per_sample (bool): a coin per sample, else one per batch. Defaults
            to True.
        mix_prob (float): probability that a sample with a counterpart is
            mixed at all; the others stay real. Defaults to 1.
    """

    def __init__(self,
                 alpha: float = 1.0,
                 pixel_prob: float = 0.5,
                 patch_size: Union[int, Tuple[int, int]] = 16,
                 keep_ratio: float = 0.5,
                 per_sample: bool = True,
                 mix_prob: float = 1.0):
        if not 0. <= mix_prob <= 1.:
            raise ValueError(f'DiffCoReMix: mix_prob must lie in [0, 1], '
                             f'got {mix_prob}')
        self.alpha = alpha
        self.pixel_prob = pixel_prob
        self.patch_size = patch_size
        self.keep_ratio = keep_ratio
        self.per_sample = per_sample
        self.mix_prob = mix_prob

    def choose(self, has_counterpart: np.ndarray) -> np.ndarray:
        """Indices of the samples to mix among those with a counterpart."""
        selected = np.random.random(len(has_counterpart)) < self.mix_prob
        return np.flatnonzero(selected & has_counterpart)

    def __call__(self, real: torch.Tensor,
                 generated: torch.Tensor) -> DiffCoReMixResult:
        """Mix ``(N, C, H, W)`` real images with their counterparts."""
        return diffcore_mix(real, generated, alpha=self.alpha,
                            pixel_prob=self.pixel_prob,
                            patch_size=self.patch_size,
                            keep_ratio=self.keep_ratio,
                            per_sample=self.per_sample)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(alpha={self.alpha}, pixel_prob='
                f'{self.pixel_prob}, patch_size={self.patch_size}, '
                f'keep_ratio={self.keep_ratio}, per_sample={self.per_sample}, '
                f'mix_prob={self.mix_prob})')
