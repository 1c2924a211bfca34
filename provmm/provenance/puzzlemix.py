"""PuzzleMix with provenance (Kim, Choo & Song, ICML 2020; paper Table 1).

Each sample A is mixed with a partner B (a random permutation of the batch)
through a block mask ``z`` on a ``n x n`` grid (``n`` drawn from 2, 4, 8,
16) whose values are the ``n_labels`` levels ``m = k / (n_labels - 1)``,
the share of A in the block. ``z`` minimises, by graph cut (alpha-beta swap,
:mod:`provmm.provenance.graph_cut`),

    E(z) = sum_p [ z_p s_B(p) + (1 - z_p) s_A(p) + eta/n^2 * prior(z_p) ]
         + sum_{(p,q)} (beta' + beta' gamma e_pq) (z_p - z_q)^2

- ``s_A``, ``s_B``: saliencies ``sqrt(mean_c (d loss / d x)^2)`` of the
  un-mixed images, averaged over each block and normalised to sum 1 per
  image, so a block costs the saliency it throws away;
- ``prior(m) = -log Binom(k; n_labels - 1, lam)``: the block levels
  expected when A keeps a share ``lam ~ Beta(alpha, alpha)``;
- ``beta' = beta / (16 n)``: label smoothness;
- ``e_pq``: the data smoothness term, how much the mixed image jumps across
  the boundary of blocks p and q (mean absolute difference of the boundary
  rows/columns of the images in [0, 1], pooled by ``neigh_size``) for each
  choice of source on both sides, folded into the unary and pairwise terms
  exactly as the authors do (the pairwise part is the non-constant one);
  the pooling is the largest one ``<= neigh_size`` that divides the block
  side (the authors set ``neigh_size = 2`` for 224-pixel ImageNet, where
  their fixed pooling must divide the 14-pixel blocks of ``n = 16``).

Optionally (``transport``) the blocks of A are moved inside A, and those of B
inside B, towards the blocks the mask keeps (the authors' approximate
optimal transport, cost ``t_eps * distance - saliency``). The mixed input
and its provenance are then

    x~ = Z * T_A(x_A) + (1 - Z) * T_B(x_B),      M = Z      (Eq. 2; M of Eq. 9)

with ``Z`` the block mask upsampled to pixels (nearest). ``M`` is the share
of every pixel that comes from A, in [0, 1]; the soft label weighs A by
``lam = mean(M)``. A transported block still comes from its own image, so
transport does not change ``M``. A sample whose partner is itself is not
mixed (``M = 1``, ``lam = 1``).

Deviations from the authors' code (``mixup.py``): the graph cut is
provmm's own swap solver on the same integer energy (times
``(n_labels - 1)^2`` so that the label cost is an integer); a negative
pairwise weight (impossible for images in [0, 1] and ``gamma <= 1``) is
clipped to 0; an all-zero saliency gives a zero unary instead of NaN;
grids need ``H`` and ``W`` divisible by ``n`` (the authors assume square
images).
"""
import functools
import itertools
import math
from typing import Callable, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .cutmix import MixedBatch, draw_mix, mask_lam
from .graph_cut import grid_swap

BLOCK_NUMS = (2, 4, 8, 16)  # the authors' 2 ** randint(1, 5)


def puzzlemix_saliency(logits_fn: Callable[[torch.Tensor], torch.Tensor],
                       inputs: torch.Tensor,
                       scores: torch.Tensor) -> torch.Tensor:
    """PuzzleMix's saliency: ``sqrt(mean_c g^2)`` with ``g`` the input
    gradient of the batch-mean cross-entropy on the un-mixed batch.

    Only the input gradient is taken (the weights get none).

    Args:
        logits_fn (callable): ``(B, C, H, W) -> (B, K)`` logits.
        inputs (Tensor): ``(B, C, H, W)``; not modified.
        scores (Tensor): ``(B, K)`` one-hot (or soft) targets.

    Returns:
        Tensor: ``(B, H, W)`` float32, non-negative.
    """
    _check_inputs(inputs)
    with torch.enable_grad():
        inputs = inputs.detach().requires_grad_(True)
        logits = logits_fn(inputs).float()
        loss = -(scores.float() * logits.log_softmax(1)).sum(1).mean()
        (grad, ) = torch.autograd.grad(loss, inputs)
    return grad.float().pow(2).mean(1).sqrt()


def block_saliency(saliency: torch.Tensor, block_num: int) -> torch.Tensor:
    """Saliency averaged over ``block_num x block_num`` blocks and normalised
    to sum 1 per sample (0 for a sample without saliency).

    Args:
        saliency (Tensor): ``(B, H, W)``.

    Returns:
        Tensor: ``(B, block_num, block_num)``.
    """
    pooled = F.adaptive_avg_pool2d(saliency.unsqueeze(1).float(),
                                   block_num).squeeze(1)
    total = pooled.flatten(1).sum(1).view(-1, 1, 1)
    return pooled / total.clamp(min=torch.finfo(pooled.dtype).tiny)


def boundary_differences(pixels_top: torch.Tensor, pixels_bottom: torch.Tensor,
                         block_num: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Data smoothness of the authors' ``neigh_penalty``: mean absolute
    difference across each block boundary when the first block comes from
    ``pixels_top`` and its lower/right neighbour from ``pixels_bottom``.

    Args:
        pixels_top, pixels_bottom (Tensor): ``(B, C, h, w)`` images already
            pooled by ``neigh_size`` (``h``, ``w`` multiples of
            ``block_num``).

    Returns:
        tuple: ``(B, n - 1, n)`` vertical and ``(B, n, n - 1)`` horizontal
        neighbour terms, ``n = block_num``.
    """
    k_h = pixels_top.shape[-2] // block_num
    k_w = pixels_top.shape[-1] // block_num
    # last row (column) of each block but the last, first of the next one
    diff_v = (pixels_top[:, :, k_h - 1:-1:k_h, :] -
              pixels_bottom[:, :, k_h::k_h, :]).abs().mean(1)
    diff_h = (pixels_top[:, :, :, k_w - 1:-1:k_w] -
              pixels_bottom[:, :, :, k_w::k_w]).abs().mean(1)
    return (F.avg_pool2d(diff_v, kernel_size=(1, k_w)),
            F.avg_pool2d(diff_h, kernel_size=(k_h, 1)))


def level_prior(lam: float, n_labels: int, eps: float = 1e-8) -> np.ndarray:
    """``-log Binom(k; n_labels - 1, lam)`` for the levels ``k / (n_labels -
    1)`` of A's share, ``k = 0 .. n_labels - 1`` (the authors' ``prior`` for
    2, 3 and 4 labels, in increasing order of A's share)."""
    trials = n_labels - 1
    return np.array([
        -np.log(math.comb(trials, k) * lam**k * (1 - lam)**(trials - k) +
                eps) for k in range(n_labels)
    ])


class GridEnergy(NamedTuple):
    """Integer grid energies of :mod:`provmm.provenance.graph_cut`, one per
    sample: ``unary (B, n, n, L)``, ``weight_v (B, n - 1, n)``, ``weight_h
    (B, n, n - 1)`` and ``smooth (L, L)``; label ``k`` is A's share
    ``1 - k / (L - 1)`` (the authors' order: the solver starts from label 0,
    all of A, as GCO does)."""
    unary: np.ndarray
    weight_v: np.ndarray
    weight_h: np.ndarray
    smooth: np.ndarray


def puzzlemix_energy(saliency: torch.Tensor,
                     pixels: torch.Tensor,
                     partner: torch.Tensor,
                     lam: float,
                     block_num: int,
                     n_labels: int = 3,
                     beta: float = 1.2,
                     gamma: float = 0.5,
                     eta: float = 0.2,
                     neigh_size: int = 4) -> GridEnergy:
    """The energy ``E(z)`` of the module docstring on the authors' integer
    scale (``1000 n^2``), times ``(n_labels - 1)^2``.

    Args:
        saliency (Tensor): ``(B, H, W)`` saliency of the un-mixed batch.
        pixels (Tensor): ``(B, C, H, W)`` un-mixed images in [0, 1].
        partner (Tensor): ``(B,)`` long, index of B.
        lam (float): A's expected share, in [0, 1].
        block_num (int): ``n``; ``H`` and ``W`` must be multiples of it.
        n_labels (int): number of levels of the mask (>= 2).
        beta, gamma, eta, neigh_size: the authors' label smoothness, data
            smoothness, prior weight and pooling of the data term.
    """
    _check_inputs(pixels)
    batch, _, height, width = pixels.shape
    if height % block_num or width % block_num:
        raise ValueError(f'inputs (H, W) = ({height}, {width}) must be '
                         f'multiples of block_num={block_num}')
    if tuple(saliency.shape) != (batch, height, width):
        raise ValueError(f'saliency must be ({batch}, {height}, {width}), '
                         f'got {tuple(saliency.shape)}')
    if n_labels < 2:
        raise ValueError(f'n_labels must be >= 2, got {n_labels}')
    partner = partner.cpu()
    sal_a = block_saliency(saliency, block_num).cpu().double()
    beta = beta / block_num / 16
    neigh = _pool_size(neigh_size, height // block_num, width // block_num)
    pooled_a = F.avg_pool2d(pixels.float(), neigh).cpu().double()
    sources = {'a': pooled_a, 'b': pooled_a[partner]}
    # e[(top, bottom)]: boundary jumps with the first block from `top` and
    # its lower (v) / right (h) neighbour from `bottom`
    e_v, e_h = {}, {}
    for top, bottom in itertools.product('ab', repeat=2):
        jump_v, jump_h = boundary_differences(sources[top], sources[bottom],
                                              block_num)
        e_v[top, bottom] = beta * gamma * jump_v
        e_h[top, bottom] = beta * gamma * jump_h
    # choosing A throws B's saliency away and vice versa; the part of each
    # boundary term that depends on one side only joins that side's unary
    cost = {'a': sal_a[partner].clone(), 'b': sal_a.clone()}
    for e, first, second in ((e_v, (slice(None), slice(None, -1)),
                              (slice(None), slice(1, None))),
                             (e_h, (slice(None), slice(None), slice(None, -1)),
                              (slice(None), slice(None), slice(1, None)))):
        for side in 'ab':
            cost[side][first] += (e[side, 'a'] + e[side, 'b']) / 2
            cost[side][second] += (e['a', side] + e['b', side]) / 2
    large = 1000 * block_num**2  # the authors' integer scale
    weights = [(large * ((e['a', 'b'] + e['b', 'a'] - e['a', 'a'] -
                          e['b', 'b']) / 2 + beta).numpy()).astype(np.int32)
               for e in (e_v, e_h)]
    prior = eta * level_prior(lam, n_labels) / block_num**2
    unary = np.stack([
        share * cost['a'].numpy() + (1 - share) * cost['b'].numpy() +
        prior[k] for k, share in enumerate(np.linspace(0, 1, n_labels))
    ][::-1], -1)
    # times (n_labels - 1)^2 so that V(k, l) = (k - l)^2 is an integer
    scale = (n_labels - 1)**2
    levels = np.arange(n_labels)
    return GridEnergy(
        (large * unary).astype(np.int32).astype(np.int64) * scale,
        np.maximum(weights[0], 0).astype(np.int64),
        np.maximum(weights[1], 0).astype(np.int64),
        (levels[:, None] - levels[None])**2)


def puzzlemix_block_mask(saliency: torch.Tensor, pixels: torch.Tensor,
                         partner: torch.Tensor, lam: float, block_num: int,
                         n_labels: int = 3, **options) -> torch.Tensor:
    """The graph-cut block mask, A's share per block: the swap minimum of
    :func:`puzzlemix_energy` (same arguments).

    Returns:
        Tensor: ``(B, n, n)`` float32 on ``saliency``'s device, values
        ``k / (n_labels - 1)``.
    """
    energy = puzzlemix_energy(saliency, pixels, partner, lam, block_num,
                              n_labels, **options)
    masks = [
        1 - grid_swap(energy.unary[i], energy.weight_v[i],
                      energy.weight_h[i], energy.smooth) / (n_labels - 1)
        for i in range(len(energy.unary))
    ]
    return torch.as_tensor(np.stack(masks), dtype=torch.float32,
                           device=saliency.device)


@functools.lru_cache(maxsize=8)
def _transport_cost(block_num: int) -> torch.Tensor:
    """Squared distances between the blocks of a grid, over ``(n - 1)^2``."""
    rows, cols = np.divmod(np.arange(block_num**2), block_num)
    cost = (rows[:, None] - rows[None])**2 + (cols[:, None] - cols[None])**2
    return torch.as_tensor(cost / (block_num - 1)**2, dtype=torch.float32)


def transport_plan(block_mask: torch.Tensor, block_sal: torch.Tensor,
                   t_eps: float = 0.8) -> torch.Tensor:
    """The authors' ``mask_transport``: a greedy assignment of source blocks
    to the blocks the mask keeps, cost ``t_eps * distance - saliency``.

    ``n`` rounds: every source block requests its cheapest destination; a
    destination goes to the first block (lowest index) attaining the
    minimum of its column of ``plan * cost`` (requests at their cost, every
    other block at 0) if that block requested it, else to none; every
    losing request costs 1 more in the next round. The last round's
    winners are the plan. So a request wins only at a negative cost (a
    kept block whose saliency exceeds the distance cost), or at cost 0 when
    no lower-indexed block shows a 0.

    The authors' plan, kept as indices instead of dense ``(n^2, n^2)`` 0/1
    matrices (one pass over the cost per round).

    Args:
        block_mask (Tensor): ``(B, n, n)`` share kept from this image.
        block_sal (Tensor): ``(B, n, n)`` block saliency of this image.

    Returns:
        Tensor: ``(B, n^2)`` long, the source block moved to each block
        (row-major), -1 where none is.
    """
    batch, block_num = block_mask.shape[0], block_mask.shape[-1]
    num = block_num**2
    keep = (block_mask > 0).float().view(batch, 1, num)
    cost = (t_eps * _transport_cost(block_num).to(block_mask.device) -
            block_sal.float().reshape(batch, num, 1) * keep)
    rows = torch.arange(num, device=cost.device).expand(batch, num)
    for _ in range(block_num):
        choice = cost.argmin(-1)
        asked = cost.gather(-1, choice.unsqueeze(-1)).squeeze(-1)
        # column minimum of plan * cost: the cheapest request, or 0 where a
        # block did not request the column
        col_min = torch.full_like(asked, float('inf')).scatter_reduce(
            1, choice, asked, 'amin')
        requests = torch.zeros_like(rows).scatter_add_(
            1, choice, torch.ones_like(rows))
        col_min = torch.where(requests < num, col_min.clamp(max=0), col_min)
        # first index attaining it: a request, or the first non-requester
        first_other = torch.where(
            choice != choice[:, :1], rows, num).min(1, keepdim=True)[0]
        first_free = torch.where(rows == choice[:, :1], first_other, 0)
        first_free = torch.where(col_min == 0, first_free, num)
        attains = asked == col_min.gather(1, choice)
        first = torch.minimum(
            first_free,
            torch.full_like(rows, num).scatter_reduce(
                1, choice, torch.where(attains, rows, num), 'amin'))
        won = first.gather(1, choice) == rows
        cost.scatter_add_(-1, choice.unsqueeze(-1),
                          (~won).float().unsqueeze(-1))
    # losers write into a spare last column, dropped
    target = torch.where(won, choice, num)
    source = torch.full((batch, num + 1), -1, dtype=torch.long,
                        device=cost.device)
    return source.scatter_(1, target, rows)[:, :num]


def transport_blocks(inputs: torch.Tensor,
                     source: torch.Tensor) -> torch.Tensor:
    """Move the blocks of ``(B, C, H, W)`` inputs: block ``j`` (row-major on
    an ``n x n`` grid) receives block ``source[:, j]``, or 0 where it is -1.
    """
    batch, channels, height, width = inputs.shape
    block_num = int(round(source.shape[-1]**0.5))
    b_h, b_w = height // block_num, width // block_num
    blocks = inputs.reshape(batch, channels, block_num, b_h, block_num,
                            b_w).permute(0, 1, 3, 5, 2, 4).reshape(
                                batch, channels, b_h, b_w, block_num**2)
    index = source.clamp(min=0).view(batch, 1, 1, 1, -1).expand_as(blocks)
    received = (source >= 0).view(batch, 1, 1, 1, -1).to(blocks.dtype)
    moved = blocks.gather(-1, index) * received
    return moved.reshape(batch, channels, b_h, b_w, block_num,
                         block_num).permute(0, 1, 4, 2, 5,
                                            3).reshape(inputs.shape)


def puzzlemix(inputs: torch.Tensor,
              saliency: torch.Tensor,
              partner: torch.Tensor,
              lam: float,
              block_num: int,
              pixels: Optional[torch.Tensor] = None,
              n_labels: int = 3,
              beta: float = 1.2,
              gamma: float = 0.5,
              eta: float = 0.2,
              neigh_size: int = 4,
              transport: bool = False,
              t_eps: float = 0.8) -> MixedBatch:
    """PuzzleMix given the draws (module docstring).

    Args:
        inputs (Tensor): ``(B, C, H, W)``; not modified.
        saliency (Tensor): ``(B, H, W)`` (:func:`puzzlemix_saliency`).
        partner (Tensor): ``(B,)`` long.
        lam (float): A's expected share (the prior's ``lam``).
        block_num (int): grid size ``n``.
        pixels (Tensor, optional): ``inputs`` in [0, 1] for the data
            smoothness term; ``None``: ``inputs`` are in [0, 1].
        n_labels, beta, gamma, eta, neigh_size: see
            :func:`puzzlemix_energy`.
        transport (bool): move blocks inside each source
            (:func:`transport_plan`).
        t_eps (float): transport distance weight.

    Returns:
        MixedBatch: ``mask`` = ``M``, A's share per pixel in [0, 1].
    """
    _check_inputs(inputs)
    if tuple(partner.shape) != (inputs.shape[0], ):
        raise ValueError(f'partner must be ({inputs.shape[0]},), got '
                         f'{tuple(partner.shape)}')
    pixels = inputs if pixels is None else pixels
    if pixels.shape != inputs.shape:
        raise ValueError(f'pixels must be {tuple(inputs.shape)}, got '
                         f'{tuple(pixels.shape)}')
    block_mask = puzzlemix_block_mask(
        saliency, pixels, partner, lam, block_num, n_labels, beta=beta,
        gamma=gamma, eta=eta, neigh_size=neigh_size).to(inputs.device)
    unmixed = (partner.cpu() == torch.arange(len(partner))).to(inputs.device)
    block_mask[unmixed] = 1.
    source_a, source_b = inputs, inputs[partner]
    if transport:
        sal = block_saliency(saliency, block_num).to(inputs.device)
        plan_a = transport_plan(block_mask, sal, t_eps)
        plan_b = transport_plan(1 - block_mask, sal[partner], t_eps)
        moved_a = transport_blocks(source_a, plan_a)
        moved_b = transport_blocks(source_b, plan_b)
        keep = unmixed.view(-1, 1, 1, 1)
        source_a = torch.where(keep, source_a, moved_a)
        source_b = torch.where(keep, source_b, moved_b)
    mask = F.interpolate(block_mask.unsqueeze(1), size=inputs.shape[-2:],
                         mode='nearest').squeeze(1)
    weight = mask.unsqueeze(1).to(inputs.dtype)
    mixed = weight * source_a + (1 - weight) * source_b
    return MixedBatch(mixed, mask, partner, mask_lam(mask))


def random_puzzlemix(inputs: torch.Tensor,
                     saliency: torch.Tensor,
                     alpha: float = 1.0,
                     block_nums: Sequence[int] = BLOCK_NUMS,
                     rng=np.random,
                     **kwargs) -> MixedBatch:
    """PuzzleMix with the random draws of :func:`draw_mix`
    (``lam ~ Beta(alpha, alpha)``, ``torch.randperm``), then the grid size
    ``n`` uniform over ``block_nums`` (``rng.randint``).

    Args:
        inputs (Tensor): ``(B, C, H, W)``.
        saliency (Tensor): ``(B, H, W)``.
        alpha (float): Beta parameter (> 0).
        block_nums (sequence[int]): grid sizes to draw from.
        rng: ``np.random`` or a ``np.random.RandomState``.
        **kwargs: :func:`puzzlemix` options.
    """
    partner, (lam, block_num) = draw_mix(
        inputs.size(0), alpha,
        lambda lam: (lam, block_nums[rng.randint(len(block_nums))]), rng=rng)
    return puzzlemix(inputs, saliency, partner, float(lam), int(block_num),
                     **kwargs)


def _pool_size(neigh_size: int, block_h: int, block_w: int) -> int:
    """The largest pooling ``<= neigh_size`` that divides both block sides,
    so every block holds a whole number of pooled cells."""
    return max(size for size in range(1, max(1, neigh_size) + 1)
               if block_h % size == 0 and block_w % size == 0)


def _check_inputs(inputs: torch.Tensor) -> None:
    if inputs.dim() != 4:
        raise ValueError('inputs must be (B, C, H, W), got '
                         f'{tuple(inputs.shape)}')
