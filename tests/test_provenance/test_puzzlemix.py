"""PuzzleMix with provenance: the swap graph cut against brute force, the
mask, the mix and its label weight, determinism, and Eq. 9 with a soft M
against its closed form on a linear model."""
import itertools

import numpy as np
import pytest
import torch

from provmm.provenance.graph_cut import grid_energy, grid_swap
from provmm.provenance.gradient_loss import provenance_gradient_loss
from provmm.provenance.puzzlemix import (level_prior, puzzlemix,
                                         puzzlemix_block_mask,
                                         puzzlemix_energy,
                                         puzzlemix_saliency, random_puzzlemix,
                                         transport_blocks, transport_plan)


def _squared_labels(num_labels):
    levels = np.arange(num_labels)
    return (levels[:, None] - levels[None])**2


def _random_grid(rng, height, width, num_labels):
    return (rng.randint(-50, 100, (height, width, num_labels)),
            rng.randint(0, 60, (height - 1, width)),
            rng.randint(0, 60, (height, width - 1)),
            _squared_labels(num_labels))


def _brute_force(height, width, num_labels, *grid):
    return min(
        grid_energy(np.array(labels).reshape(height, width), *grid)
        for labels in itertools.product(range(num_labels),
                                        repeat=height * width))


def test_two_label_graph_cut_is_the_brute_force_minimum():
    rng = np.random.RandomState(0)
    for _ in range(40):
        grid = _random_grid(rng, 3, 3, 2)
        labels = grid_swap(*grid)
        assert grid_energy(labels, *grid) == _brute_force(3, 3, 2, *grid)


def test_three_label_result_is_a_local_minimum_of_every_swap_move():
    rng = np.random.RandomState(1)
    for _ in range(20):
        grid = _random_grid(rng, 2, 3, 3)
        labels = grid_swap(*grid)
        energy = grid_energy(labels, *grid)
        assert energy >= _brute_force(2, 3, 3, *grid)
        for label_a, label_b in itertools.combinations(range(3), 2):
            sites = np.flatnonzero(np.isin(labels, (label_a, label_b)))
            for choice in itertools.product((label_a, label_b),
                                            repeat=len(sites)):
                moved = labels.copy().ravel()
                moved[sites] = choice
                assert grid_energy(moved.reshape(2, 3), *grid) >= energy


def test_two_label_puzzlemix_masks_have_gcos_energy_when_gco_is_installed():
    """The authors' solver (``gco``, optional, not a provmm dependency):
    both solvers are exact for two labels, so their energies are equal."""
    gco = pytest.importorskip('gco')
    inputs, saliency = _batch(batch=8, size=32)
    for block_num in (2, 4, 8, 16):
        energy = puzzlemix_energy(saliency, inputs,
                                  torch.tensor([1, 2, 3, 4, 5, 6, 7, 0]),
                                  0.4, block_num, n_labels=2)
        for i in range(8):
            grid = (energy.unary[i], energy.weight_v[i], energy.weight_h[i],
                    energy.smooth)
            theirs = gco.cut_grid_graph(
                *(array.astype(np.int32) for array in (
                    grid[0], grid[3], grid[1], grid[2])), algorithm='swap')
            assert grid_energy(grid_swap(*grid), *grid) == grid_energy(
                theirs.reshape(block_num, block_num), *grid)


def test_graph_cut_refuses_negative_weights_and_non_semi_metrics():
    unary, weight_v, weight_h, smooth = _random_grid(
        np.random.RandomState(0), 2, 2, 2)
    with pytest.raises(ValueError, match='non-negative'):
        grid_swap(unary, -weight_v - 1, weight_h, smooth)
    with pytest.raises(ValueError, match='semi-metric'):
        grid_swap(unary, weight_v, weight_h, smooth + 1)
    with pytest.raises(ValueError, match=r'weight_h must be \(2, 1\)'):
        grid_swap(unary, weight_v, weight_h.T, smooth)


def test_level_prior_is_the_authors_prior_for_three_labels():
    lam = 0.3
    expected = -np.log([(1 - lam)**2 + 1e-8, 2 * lam * (1 - lam) + 1e-8,
                        lam**2 + 1e-8])
    np.testing.assert_allclose(level_prior(lam, 3), expected)


def _batch(batch=4, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.rand(batch, 3, size, size, generator=generator)
    saliency = torch.rand(batch, size, size, generator=generator)**4
    return inputs, saliency


def test_salient_blocks_are_kept_from_their_own_image():
    inputs, _ = _batch(batch=2, size=16)
    saliency = torch.zeros(2, 16, 16)
    saliency[0, :8, :8] = 1  # A's salient top-left quarter
    saliency[1, 8:, 8:] = 1  # B's salient bottom-right quarter
    mask = puzzlemix_block_mask(saliency, inputs, torch.tensor([1, 0]), 0.5,
                                block_num=2, eta=0.)
    assert mask[0].tolist() == [[1., 0.5], [0.5, 0.]]
    assert mask[1].tolist() == [[0., 0.5], [0.5, 1.]]


def test_mixed_image_is_m_times_a_plus_one_minus_m_times_b():
    inputs, saliency = _batch()
    partner = torch.tensor([1, 2, 3, 0])
    mixed = puzzlemix(inputs, saliency, partner, 0.4, block_num=4)
    weight = mixed.mask.unsqueeze(1)
    torch.testing.assert_close(
        mixed.inputs, weight * inputs + (1 - weight) * inputs[partner],
        rtol=0, atol=1e-6)
    assert set(mixed.mask.unique().tolist()) <= {0., 0.5, 1.}


def test_label_weight_is_the_mask_mean_and_fixed_points_are_not_mixed():
    inputs, saliency = _batch()
    partner = torch.tensor([1, 0, 2, 3])
    mixed = puzzlemix(inputs, saliency, partner, 0.5, block_num=8,
                      transport=True)
    assert torch.equal(mixed.lam, mixed.mask.flatten(1).double().mean(1))
    assert mixed.lam[2:].tolist() == [1., 1.]
    assert torch.equal(mixed.inputs[2:], inputs[2:])


def test_transport_moves_whole_blocks_inside_each_source():
    inputs, saliency = _batch()
    partner = torch.tensor([1, 2, 3, 0])
    mixed = puzzlemix(inputs, saliency, partner, 0.5, block_num=4,
                      transport=True)
    blocks = inputs.unfold(2, 8, 8).unfold(3, 8, 8)  # (B, C, 4, 4, 8, 8)
    out = mixed.inputs.unfold(2, 8, 8).unfold(3, 8, 8)
    mask = mixed.mask[:, ::8, ::8]
    for b in range(4):
        for i, j in itertools.product(range(4), repeat=2):
            if mask[b, i, j] == 1:  # a block of A, possibly moved
                assert any(
                    torch.equal(out[b, :, i, j], blocks[b, :, k, m]) or
                    not out[b, :, i, j].any()
                    for k, m in itertools.product(range(4), repeat=2))


def _authors_mask_transport(mask, block_sal, eps):
    """The authors' dense ``mask_transport`` (``mixup.py``)."""
    block_num = mask.shape[-1]
    rows, cols = np.divmod(np.arange(block_num**2), block_num)
    distance = torch.tensor(((rows[:, None] - rows[None])**2 +
                             (cols[:, None] - cols[None])**2) /
                            (block_num - 1)**2, dtype=torch.float32)
    keep = (mask > 0).float()
    cost = eps * distance - block_sal.reshape(-1, block_num**2, 1) * \
        keep.reshape(-1, 1, block_num**2)
    for _ in range(block_num):
        row_best = cost.min(-1)[1]
        plan = torch.zeros_like(cost).scatter_(-1, row_best.unsqueeze(-1), 1)
        col_best = (plan * cost).min(-2)[1]
        plan_win = torch.zeros_like(cost).scatter_(
            -2, col_best.unsqueeze(-2), 1) * plan
        cost += (1 - plan_win) * plan
    return plan_win


@pytest.mark.parametrize('block_num', [2, 4, 8, 16])
def test_transport_plan_is_the_authors_dense_plan(block_num):
    generator = torch.Generator().manual_seed(block_num)
    mask = torch.randint(0, 3, (6, block_num, block_num),
                         generator=generator) / 2
    mask[0] = 1
    sal = torch.rand(6, block_num, block_num, generator=generator)**3
    sal = sal / sal.sum((1, 2), keepdim=True)
    sal[1] = 0  # no saliency: the authors keep block 0 only
    dense = _authors_mask_transport(mask, sal, 0.8)
    expected = torch.where(dense.sum(1) > 0, dense.argmax(1), -1)
    assert torch.equal(transport_plan(mask, sal, 0.8), expected)


def test_transport_blocks_moves_each_block_to_its_place():
    inputs = torch.arange(16.).view(1, 1, 4, 4)
    # block 0 <- 1, 1 <- 0, 2 <- none, 3 <- 3 (2 x 2 blocks of 2 x 2)
    moved = transport_blocks(inputs, torch.tensor([[1, 0, -1, 3]]))
    expected = torch.tensor([[2., 3., 0., 1.], [6., 7., 4., 5.],
                             [0., 0., 10., 11.], [0., 0., 14., 15.]])
    assert torch.equal(moved[0, 0], expected)


def test_same_seed_gives_the_same_mix():
    inputs, saliency = _batch()
    results = []
    for _ in range(2):
        np.random.seed(3)
        torch.manual_seed(3)
        results.append(random_puzzlemix(inputs, saliency, alpha=1.0,
                                        transport=True))
    for first, second in zip(*results):
        assert torch.equal(first, second)


def test_shapes_are_checked_with_clear_errors():
    inputs, saliency = _batch()
    partner = torch.tensor([1, 2, 3, 0])
    with pytest.raises(ValueError, match='multiples of block_num=5'):
        puzzlemix(inputs, saliency, partner, 0.5, block_num=5)
    with pytest.raises(ValueError, match=r'saliency must be \(4, 32, 32\)'):
        puzzlemix(inputs, saliency[:, :16], partner, 0.5, block_num=4)
    with pytest.raises(ValueError, match=r'partner must be \(4,\)'):
        puzzlemix(inputs, saliency, partner[:2], 0.5, block_num=4)
    with pytest.raises(ValueError, match=r'inputs must be \(B, C, H, W\)'):
        puzzlemix(inputs[0], saliency, partner, 0.5, block_num=4)


def test_saliency_is_the_channel_rms_of_the_cross_entropy_gradient():
    weight = torch.randn(2, 3 * 4 * 4, generator=torch.Generator()
                         .manual_seed(0))
    inputs, _ = _batch(batch=3, size=4)
    scores = torch.eye(2)[[0, 1, 1]]
    saliency = puzzlemix_saliency(lambda x: x.flatten(1) @ weight.T, inputs,
                                  scores)
    # d CE / d x = (softmax - y) W / B for a linear model
    probs = (inputs.flatten(1) @ weight.T).softmax(1)
    grad = ((probs - scores) @ weight / 3).view(3, 3, 4, 4)
    torch.testing.assert_close(saliency, grad.pow(2).mean(1).sqrt())


def test_soft_mask_loss_is_the_closed_form_on_a_linear_model():
    """Eq. 9 with M in [0, 1]: for logits ``W x`` the input gradient of
    ``f_c`` is ``W_c``, so L_PG = mean_i ||(1 - M_i) W_A + M_i W_B||^2."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.rand(2, 3, 4, 4, generator=generator, requires_grad=True)
    weight = torch.randn(3, 3 * 4 * 4, generator=generator)
    logits = inputs.flatten(1) @ weight.T
    mask = torch.tensor([0., 0.5, 1.]).repeat(2, 16)[:, :16].view(2, 4, 4)
    label_a, label_b = torch.tensor([0, 2]), torch.tensor([1, 0])
    loss = provenance_gradient_loss(inputs, logits, mask, label_a, label_b)
    grads = weight.view(3, 3, 4, 4)
    expected = torch.stack([
        ((1 - mask[i]) * grads[label_a[i]] +
         mask[i] * grads[label_b[i]]).pow(2).sum() for i in range(2)
    ]).mean()
    torch.testing.assert_close(loss, expected)
    # A half-and-half pixel costs the squared mean of the two gradients.
    half = torch.full((2, 4, 4), 0.5)
    loss_half = provenance_gradient_loss(inputs, logits, half, label_a,
                                         label_b)
    expected_half = torch.stack([
        (0.5 * (grads[label_a[i]] + grads[label_b[i]])).pow(2).sum()
        for i in range(2)
    ]).mean()
    torch.testing.assert_close(loss_half, expected_half)
