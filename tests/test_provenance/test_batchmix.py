"""Skeleton BatchMix (Eq. 4-5): X~ rebuilt from M, X_A and X_B, lam, swap,
exact provenance, and L_PG with respect to X~ against the closed form of a
linear head."""
import numpy as np
import pytest
import torch

from provmm.provenance import provenance_gradient_loss
from provmm.provenance.batchmix import (batchmix_mask, combine_features,
                                        draw_partner, mix_scores,
                                        mixed_validity,
                                        random_skeleton_batchmix,
                                        skeleton_batchmix)

B, P, T, E, K = 4, 4, 3, 5, 6
# sample 2 is a fixed point of the permutation (not mixed)
PARTNER = torch.tensor([1, 3, 2, 0])


def _features(dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(B, P, T, E, generator=generator, dtype=dtype)


@pytest.mark.parametrize('split', [2, 4])
def test_mask_zeroes_the_first_p_over_split_persons_of_mixed_samples(split):
    mask = batchmix_mask(PARTNER, P, T, split)
    assert mask.shape == (B, P, T) and mask.dtype == torch.float32
    replaced = P // split
    for i in (0, 1, 3):
        assert (mask[i, :replaced] == 0).all()
        assert (mask[i, replaced:] == 1).all()
    assert (mask[2] == 1).all()


def test_swap_exchanges_m_and_one_minus_m_for_mixed_samples():
    mask = batchmix_mask(PARTNER, P, T, 2)
    swapped = batchmix_mask(PARTNER, P, T, 2, swap=True)
    mixed = torch.tensor([True, True, False, True])
    torch.testing.assert_close(swapped[mixed], 1 - mask[mixed])
    assert (swapped[2] == 1).all()


@pytest.mark.parametrize('swap', [False, True])
def test_mixed_features_rebuilt_from_m_xa_xb(swap):
    features = _features()
    mixed = skeleton_batchmix(features, PARTNER, split=2, swap=swap)
    m = mixed.mask.unsqueeze(-1).to(features)
    for i in range(B):
        x_a, x_b = features[i], features[PARTNER[i]]
        if i == 2:  # fixed point: unchanged, no clip
            expected = x_a
        else:
            # Eq. 4-5: MaxPool over the pair (M X_A ; (1 - M) X_B)
            expected = torch.stack([m[i] * x_a, (1 - m[i]) * x_b]).amax(0)
        torch.testing.assert_close(mixed.inputs[i], expected)
    # the element-wise max is the source's value clipped at 0
    clipped = (m * features.clamp(min=0) +
               (1 - m) * features[PARTNER].clamp(min=0))
    mixed_rows = torch.tensor([0, 1, 3])
    torch.testing.assert_close(mixed.inputs[mixed_rows], clipped[mixed_rows])


def test_select_equals_max_for_non_negative_features():
    features = _features().abs()
    by_max = skeleton_batchmix(features, PARTNER, combine='max')
    by_select = skeleton_batchmix(features, PARTNER, combine='select')
    torch.testing.assert_close(by_max.inputs, by_select.inputs)
    m = by_max.mask.unsqueeze(-1).to(features)
    torch.testing.assert_close(by_select.inputs,
                               m * features + (1 - m) * features[PARTNER])


@pytest.mark.parametrize('split,lam', [(2, 0.5), (4, 0.75)])
def test_lam_is_mean_of_mask(split, lam):
    mixed = skeleton_batchmix(_features(), PARTNER, split=split)
    assert mixed.lam.dtype == torch.float64
    torch.testing.assert_close(mixed.lam,
                               torch.tensor([lam, lam, 1., lam],
                                            dtype=torch.float64))
    full = mixed.mask.unsqueeze(-1).expand(B, P, T, E)
    torch.testing.assert_close(mixed.lam, full.flatten(1).double().mean(1))


def test_each_element_depends_on_one_source_only():
    features = _features().requires_grad_(True)
    mixed = skeleton_batchmix(features, PARTNER)
    mask = mixed.mask.unsqueeze(-1).expand(B, P, T, E).bool()
    for i in (0, 1):
        from_a = (mixed.inputs[i] * mask[i]).sum()
        (grad, ) = torch.autograd.grad(from_a, features, retain_graph=True)
        others = torch.ones(B, dtype=torch.bool)
        others[i] = False
        assert grad[others].abs().sum() == 0
        assert grad[i][~mask[i]].abs().sum() == 0
        from_b = (mixed.inputs[i] * ~mask[i]).sum()
        (grad, ) = torch.autograd.grad(from_b, features, retain_graph=True)
        others = torch.ones(B, dtype=torch.bool)
        others[PARTNER[i]] = False
        assert grad[others].abs().sum() == 0
        assert grad[PARTNER[i]][mask[i]].abs().sum() == 0


def test_split_must_replace_some_persons_and_keep_some():
    with pytest.raises(ValueError, match='split'):
        batchmix_mask(PARTNER, 2, T, split=3)  # P // split = 0
    with pytest.raises(ValueError, match='split'):
        batchmix_mask(PARTNER, 2, T, split=1)  # every person replaced
    with pytest.raises(ValueError, match='combine'):
        combine_features(_features(), PARTNER, torch.ones(B, P, T), 'sum')
    with pytest.raises(ValueError, match=r'\(B, P, T, E\)'):
        skeleton_batchmix(_features()[0], PARTNER)


def test_draws_and_probability():
    torch.manual_seed(0)
    assert torch.equal(draw_partner(5, prob=0.0), torch.arange(5))
    rng = np.random.RandomState(0)
    mixed = random_skeleton_batchmix(_features(), prob=0.0, rng=rng)
    assert (mixed.mask == 1).all() and (mixed.lam == 1).all()
    torch.testing.assert_close(mixed.inputs, _features())
    # prob = 1 (Table 8) draws the partners only, as draw_mix does
    torch.manual_seed(3)
    expected = torch.randperm(B)
    torch.manual_seed(3)
    assert torch.equal(draw_partner(B), expected)
    with pytest.raises(ValueError, match='prob'):
        draw_partner(B, prob=1.5)


def test_scores_mix_with_lam_and_validity_follows_the_source():
    mixed = skeleton_batchmix(_features(), PARTNER)
    scores = torch.eye(K)[torch.tensor([0, 1, 2, 3])]
    mixed_scores = mix_scores(scores, PARTNER, mixed.lam)
    torch.testing.assert_close(mixed_scores[0], 0.5 * scores[0] +
                               0.5 * scores[1])
    torch.testing.assert_close(mixed_scores[2], scores[2])
    valid = torch.ones(B, P, T, dtype=torch.bool)
    valid[3, 0] = False  # sample 3's person 0 is padding
    valid[0, 3] = False
    mixed_valid = mixed_validity(valid, mixed)
    # sample 1 takes person 0 from sample 3 (padding), keeps its own rest
    assert not mixed_valid[1, 0].any() and mixed_valid[1, 1:].all()
    # sample 0 keeps its own person 3 (padding)
    assert not mixed_valid[0, 3].any()


# L_PG with respect to X~, closed form on a linear head -------------------

def _linear_head(dtype=torch.float64, seed=1):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(K, E * P * T, generator=generator, dtype=dtype)
    bias = torch.randn(K, generator=generator, dtype=dtype)
    return weight, bias


LABEL_A = torch.tensor([0, 1, 2, 3])
LABEL_B = LABEL_A[PARTNER]
SOFT = torch.tensor([True, True, False, True])


def _guided_loss(weight, bias, channel_first=True):
    features = _features()
    mixed = skeleton_batchmix(features, PARTNER)
    guided = mixed.inputs
    mask = mixed.mask
    if channel_first:  # (B, E, P, T), mask (B, P, T) broadcast over E
        guided = guided.permute(0, 3, 1, 2)
    else:  # (B, P, T, E), Eq. 4's full mask
        mask = mask.unsqueeze(-1).expand(B, P, T, E)
    guided = guided.detach().requires_grad_(True)
    logits = guided.flatten(1) @ weight.t() + bias
    return provenance_gradient_loss(guided, logits, mask, LABEL_A, LABEL_B,
                                    soft=SOFT), mixed


def test_guidance_on_mixed_features_matches_linear_closed_form():
    weight, bias = _linear_head()
    weight = weight.requires_grad_(True)
    loss, mixed = _guided_loss(weight, bias)
    (grad_weight, ) = torch.autograd.grad(loss, weight)

    # grad_X~ f_c = W_c reshaped to (E, P, T); Eq. 9 for the soft samples,
    # Eq. 10 (M = 1: no term) for the fixed point.
    reference_weight = weight.detach().clone().requires_grad_(True)
    w = reference_weight.view(K, E, P, T)
    m = mixed.mask.unsqueeze(1).to(w)  # (B, 1, P, T)
    soft = SOFT.to(w).view(-1, 1, 1, 1)
    residual = (1 - m) * w[LABEL_A] + soft * m * w[LABEL_B]
    reference = residual.pow(2).flatten(1).sum(1).mean()
    (reference_grad, ) = torch.autograd.grad(reference, reference_weight)
    torch.testing.assert_close(loss, reference)
    torch.testing.assert_close(grad_weight, reference_grad)
    # the explicit formula: sample i adds 2/B (1 - M_i) r_i to dL/dW_A and
    # 2/B M_i r_i to dL/dW_B (soft samples), r_i its residual
    r, explicit = residual.detach(), torch.zeros_like(w)
    for i in range(B):
        explicit[LABEL_A[i]] += 2 / B * (1 - m[i]) * r[i]
        if SOFT[i]:
            explicit[LABEL_B[i]] += 2 / B * m[i] * r[i]
    torch.testing.assert_close(grad_weight, explicit.view(K, -1))


def test_channel_first_mask_equals_full_mask_in_feature_layout():
    weight, bias = _linear_head()
    # the same linear map read in (P, T, E) order
    weight_last = weight.view(K, E, P, T).permute(0, 2, 3, 1).reshape(K, -1)
    first, _ = _guided_loss(weight, bias, channel_first=True)
    last, _ = _guided_loss(weight_last, bias, channel_first=False)
    torch.testing.assert_close(first, last)
