"""``SkeletonBatchMix``: BatchMix of per-skeleton features (paper Sec. 3.2.2,
Eq. 4-5) with its provenance."""
from typing import Tuple

import numpy as np
import torch

from provmm.provenance.batchmix import (COMBINES, mix_scores,
                                        random_skeleton_batchmix)
from provmm.provenance.cutmix import MixedBatch
from provmm.registry import BATCH_AUGMENTS


@BATCH_AUGMENTS.register_module()
class SkeletonBatchMix:
    """Mixes the ``(B, P, T, E)`` features of a batch with a random
    permutation of it and mixes the labels with ``lam = mean(M)``.

    Unlike the image mixes it runs inside the model, on the backbone's
    output (``SkeletonPointRecognizer`` calls it), since BatchMix mixes
    features, not inputs. The maths and the random draws are
    :func:`provmm.provenance.batchmix.random_skeleton_batchmix`.

    Args:
        split (int): the paper's ``T``: person slots ``0 .. P // split - 1``
            of A come from B. Defaults to 2.
        swap (bool): the paper's alternative scene (``M`` and ``1 - M``
            exchanged). Defaults to False.
        prob (float): probability of mixing a batch. Defaults to 1.0
            (Table 8, UCF101-24).
        combine (str): ``'max'`` (Eq. 5's MaxPool, element-wise) or
            ``'select'``; see :mod:`provmm.provenance.batchmix`.
    """

    def __init__(self, split: int = 2, swap: bool = False, prob: float = 1.0,
                 combine: str = 'max'):
        if combine not in COMBINES:
            raise ValueError(f'SkeletonBatchMix: combine must be one of '
                             f'{COMBINES}, got {combine!r}')
        if not 0 <= prob <= 1:
            raise ValueError(f'SkeletonBatchMix: prob must be in [0, 1], got '
                             f'{prob}')
        if split < 2:
            raise ValueError(f'SkeletonBatchMix: split must be >= 2, got '
                             f'{split}')
        self.split = split
        self.swap = swap
        self.prob = prob
        self.combine = combine

    def mix_with_provenance(
            self, features: torch.Tensor, scores: torch.Tensor
    ) -> Tuple[MixedBatch, torch.Tensor]:
        """Mix ``(B, P, T, E)`` features and ``(B, K)`` scores.

        Returns:
            tuple: the :class:`MixedBatch` (``X~``, ``M`` ``(B, P, T)``,
            partners, ``lam``; partners are the identity when the batch is
            not mixed) and the mixed ``(B, K)`` scores.
        """
        mixed = random_skeleton_batchmix(features, self.split, self.swap,
                                         self.prob, self.combine, np.random)
        return mixed, mix_scores(scores.float(), mixed.partner, mixed.lam)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(split={self.split}, swap={self.swap}'
                f', prob={self.prob}, combine={self.combine!r})')
