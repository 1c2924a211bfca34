"""Skeleton BatchMix with provenance (paper Sec. 3.2.2, Eq. 4-5).

Two videos A and B of a batch pair (B = a random permutation of the batch,
as CutMix) are mixed on their per-skeleton features ``X in R^{P x T x E}``
(person slot ``p``, frame ``t``, feature ``e``), not on the skeletons:

    X^_A = M * X_A,     X^_B = (1 - M) * X_B                       (Eq. 4)
    X~   = MaxPool(X^_A ; X^_B)                                    (Eq. 5)

``M in {0, 1}^{P x T x E}`` zeroes every frame and feature of person slots
``1 .. P / split`` of A (the paper's ``T``, e.g. 2; 0-based slots
``0 .. P // split - 1``) and is 1 elsewhere; ``1 - M`` keeps only those
slots of B. ``swap=True`` is the paper's alternative scene, ``M`` and
``1 - M`` exchanged: A keeps slots ``0 .. P // split - 1`` and takes the rest
from B. ``M`` is constant along the feature axis ``E``, so it is returned
without it, ``(B, P, T)``, like the image masks that carry no channel axis;
Eq. 4's ``(P, T, E)`` mask is ``mask[..., None].expand(..., E)``.

MaxPool of Eq. 5. ``(X^_A ; X^_B)`` stacks the two masked tensors and
``MaxPool`` takes the element-wise max over that pair (``combine='max'``,
the default)::

    X~ = max(M * X_A, (1 - M) * X_B)
       = M * max(X_A, 0) + (1 - M) * max(X_B, 0)     (M binary)

The second line is why the provenance is exact: every element of ``X~``
depends on ``X_A`` alone (``M = 1``) or on ``X_B`` alone (``M = 0``); the
masked term is the constant 0. It is also why this reading fits the
multiple-instance pooling of the network: the max over the instances of
``X~`` equals the max over all ``2 P T`` instances of ``X^_A`` and ``X^_B``
together, the masked ones being zero vectors. The price is a clip at 0 of
negative features in mixed samples; ``combine='select'``
(``M * X_A + (1 - M) * X_B``, not the paper) keeps them. Both are equal when
the features are non-negative.

A sample whose partner is itself (a fixed point of the permutation) is not
mixed: ``M = 1``, ``X~ = X`` (no clip), ``lam = 1``, as in CutMix.

Labels mix as in CutMix with ``lam = mean(M)`` (the share of elements taken
from A, here ``1 - (P // split) / P``). ``lam`` counts slots, not content:
a person slot that is padding in A still counts for A. This follows the
paper ("computed in the same manner as" CutMix, whose ``lam`` is the box
area whatever the box shows).

Draws (:func:`random_skeleton_batchmix`): with ``prob < 1`` whether to mix
the batch (``rng.rand() < prob``, mmpretrain's numpy stream), then the
partners with ``torch.randperm`` as :func:`~provmm.provenance.cutmix.draw_mix`
does. There is no ``lam`` to draw (``M`` is fixed by ``split``), so
``draw_mix`` itself, which draws ``lam ~ Beta`` first, is not used. The
paper mixes every batch (Table 8, mixing probability 1.0).
"""
import numpy as np
import torch

from .cutmix import MixedBatch, mask_lam

COMBINES = ('max', 'select')


def batchmix_mask(partner: torch.Tensor, num_persons: int, num_frames: int,
                  split: int = 2, swap: bool = False,
                  device=None) -> torch.Tensor:
    """``M`` of Eq. 4 without its feature axis.

    Args:
        partner (Tensor): ``(B,)`` partner indices.
        num_persons (int): ``P``, person slots per frame.
        num_frames (int): ``T``.
        split (int): the paper's ``T``: slots ``0 .. P // split - 1`` of A
            are replaced. Defaults to 2.
        swap (bool): exchange ``M`` and ``1 - M`` (A keeps those slots).

    Returns:
        Tensor: ``(B, P, T)`` float32, 1 where the element comes from the
        sample itself; all ones for a sample whose partner is itself.
    """
    replaced = replaced_persons(num_persons, split)
    device = partner.device if device is None else device
    person = torch.arange(num_persons, device=device)
    from_b = person < replaced
    if swap:
        from_b = ~from_b
    mixed = (partner.to(device) != torch.arange(len(partner), device=device))
    from_b = mixed.view(-1, 1) & from_b.view(1, -1)
    return (~from_b).float().unsqueeze(-1).expand(-1, -1, num_frames) \
        .contiguous()


def replaced_persons(num_persons: int, split: int) -> int:
    """``P // split``, checked to replace at least one slot and keep one."""
    if split < 1 or not 1 <= num_persons // split < num_persons:
        raise ValueError(
            f'BatchMix: split must leave P // split in [1, P - 1] person '
            f'slots to replace, got P={num_persons}, split={split}')
    return num_persons // split


def combine_features(features: torch.Tensor, partner: torch.Tensor,
                     mask: torch.Tensor, combine: str = 'max'
                     ) -> torch.Tensor:
    """``X~`` of Eq. 5 from ``X``, the partners and ``M``.

    Args:
        features (Tensor): ``(B, P, T, E)`` per-skeleton features.
        partner (Tensor): ``(B,)`` long.
        mask (Tensor): ``(B, P, T)`` (or ``(B, P, T, E)``), 1 = from A.
        combine (str): ``'max'`` (Eq. 5, see the module docstring) or
            ``'select'``.

    Returns:
        Tensor: ``(B, P, T, E)``; fixed points of ``partner`` unchanged.
    """
    if combine not in COMBINES:
        raise ValueError(f'BatchMix: combine must be one of {COMBINES}, got '
                         f'{combine!r}')
    _check_features(features, partner)
    if mask.dim() == 3:
        mask = mask.unsqueeze(-1)
    mask = mask.to(features)
    own, other = mask * features, (1 - mask) * features[partner]
    mixed = torch.maximum(own, other) if combine == 'max' else own + other
    fixed = partner.to(features.device) == torch.arange(
        len(partner), device=features.device)
    return torch.where(fixed.view(-1, 1, 1, 1), features, mixed)


def skeleton_batchmix(features: torch.Tensor, partner: torch.Tensor,
                      split: int = 2, swap: bool = False,
                      combine: str = 'max') -> MixedBatch:
    """BatchMix given the partners (Eq. 4-5).

    Args:
        features (Tensor): ``(B, P, T, E)``; not modified; may require grad
            (``X~`` is a differentiable function of it).
        partner (Tensor): ``(B,)`` long.
        split (int): see :func:`batchmix_mask`.
        swap (bool): see :func:`batchmix_mask`.
        combine (str): see :func:`combine_features`.

    Returns:
        MixedBatch: ``inputs`` is ``X~`` ``(B, P, T, E)``, ``mask`` is ``M``
        ``(B, P, T)`` (constant along ``E``), ``partner`` ``(B,)``, ``lam``
        ``(B,)`` float64 ``mean(M)``.
    """
    _check_features(features, partner)
    _, persons, frames, _ = features.shape
    mask = batchmix_mask(partner, persons, frames, split, swap,
                         features.device)
    mixed = combine_features(features, partner, mask, combine)
    return MixedBatch(mixed, mask, partner, mask_lam(mask))


def draw_partner(batch_size: int, prob: float = 1.0,
                 rng=np.random) -> torch.Tensor:
    """The partners of one batch: ``torch.randperm`` with probability
    ``prob`` (drawn with ``rng.rand()`` only when ``prob < 1``), the
    identity (no mixing) otherwise."""
    if not 0 <= prob <= 1:
        raise ValueError(f'BatchMix: prob must be in [0, 1], got {prob}')
    if prob < 1 and rng.rand() >= prob:
        return torch.arange(batch_size)
    return torch.randperm(batch_size)


def random_skeleton_batchmix(features: torch.Tensor, split: int = 2,
                             swap: bool = False, prob: float = 1.0,
                             combine: str = 'max',
                             rng=np.random) -> MixedBatch:
    """BatchMix of a batch with random partners (:func:`draw_partner`).

    Args:
        features (Tensor): ``(B, P, T, E)``.
        split, swap, combine: see :func:`skeleton_batchmix`.
        prob (float): mixing probability (Table 8: 1.0).
        rng: ``np.random`` or a ``np.random.RandomState``.
    """
    partner = draw_partner(features.shape[0], prob, rng)
    return skeleton_batchmix(features, partner, split, swap, combine)


def mix_scores(scores: torch.Tensor, partner: torch.Tensor,
               lam: torch.Tensor) -> torch.Tensor:
    """Soft labels ``lam * y_A + (1 - lam) * y_B`` (CutMix's rule).

    Args:
        scores (Tensor): ``(B, K)`` one-hot (or soft) labels.
        partner (Tensor): ``(B,)`` long.
        lam (Tensor | float): ``(B,)`` per-sample weights of A, or a scalar.

    Returns:
        Tensor: ``(B, K)`` in the dtype of ``scores``.
    """
    lam = torch.as_tensor(lam, device=scores.device).to(scores.dtype)
    if lam.dim() == 1:
        lam = lam.view(-1, 1)
    return lam * scores + (1 - lam) * scores[partner.to(scores.device)]


def mixed_validity(valid: torch.Tensor, mixed: MixedBatch) -> torch.Tensor:
    """Which instances of ``X~`` are real skeletons: an element taken from
    A is valid where A's is, one taken from B where B's is.

    Args:
        valid (Tensor): ``(B, P, T)`` bool, real (not padded) instances of
            the unmixed batch.
        mixed (MixedBatch): the BatchMix of that batch.

    Returns:
        Tensor: ``(B, P, T)`` bool.
    """
    if valid.shape != mixed.mask.shape:
        raise ValueError(f'BatchMix: valid must be {tuple(mixed.mask.shape)}'
                         f' (B, P, T), got {tuple(valid.shape)}')
    partner = mixed.partner.to(valid.device)
    return torch.where(mixed.mask.to(valid.device) > 0, valid,
                       valid[partner])


def _check_features(features: torch.Tensor, partner: torch.Tensor) -> None:
    if features.dim() != 4:
        raise ValueError('BatchMix: features must be (B, P, T, E), got '
                         f'{tuple(features.shape)}')
    if tuple(partner.shape) != (features.shape[0], ):
        raise ValueError(f'BatchMix: partner must be ({features.shape[0]},), '
                         f'got {tuple(partner.shape)}')

