"""CutMix / ResizeMix provenance: equal to mmpretrain's with the same seeds,
mean(M) = lam, exact reconstruction, and the Table 6 control masks."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmpretrain.models.utils.batch_augments import CutMix, ResizeMix

from provmm.provenance.cutmix import (box_provenance_mask, cutmix_box,
                                      paste_box, random_cutmix)
from provmm.provenance.control_masks import (random_pixel_mask, shifted_mask,
                                             unmasked_mask)
from provmm.provenance.resizemix import random_resizemix, resize_paste

SEEDS = range(6)


def _batch(seed=0, batch=6, size=(12, 16)):
    generator = torch.Generator().manual_seed(100 + seed)
    inputs = torch.randn(batch, 3, *size, generator=generator)
    scores = F.one_hot(torch.arange(batch) % 4, 4).float()
    return inputs, scores


def _seeded(seed):
    np.random.seed(seed)
    torch.manual_seed(seed)


@pytest.mark.parametrize('seed', SEEDS)
def test_random_cutmix_equals_mmpretrain_cutmix(seed):
    inputs, scores = _batch(seed)
    _seeded(seed)
    expected, _ = CutMix(alpha=1.0).mix(inputs.clone(), scores)
    _seeded(seed)
    mixed = random_cutmix(inputs, alpha=1.0)
    assert torch.equal(mixed.inputs, expected)


@pytest.mark.parametrize('seed', SEEDS)
def test_random_resizemix_equals_mmpretrain_resizemix(seed):
    inputs, scores = _batch(seed)
    _seeded(seed)
    expected, _ = ResizeMix(alpha=1.0).mix(inputs.clone(), scores)
    _seeded(seed)
    mixed = random_resizemix(inputs, alpha=1.0)
    assert torch.equal(mixed.inputs, expected)


@pytest.mark.parametrize('seed', SEEDS)
def test_cutmix_mask_mean_is_area_corrected_lam(seed):
    inputs, scores = _batch(seed)
    _seeded(seed)
    _, expected_scores = CutMix(alpha=1.0).mix(inputs.clone(), scores)
    _seeded(seed)
    mixed = random_cutmix(inputs, alpha=1.0)
    torch.testing.assert_close(mixed.lam,
                               mixed.mask.flatten(1).double().mean(1))
    for i in range(len(inputs)):
        if int(mixed.partner[i]) == i:
            assert mixed.lam[i] == 1 and bool((mixed.mask[i] == 1).all())
        else:
            # mmpretrain's soft label weight of the own class is lam.
            own = int(scores[i].argmax())
            partner_label = int(scores[mixed.partner[i]].argmax())
            if partner_label != own:
                assert expected_scores[i, own].item() == pytest.approx(
                    mixed.lam[i].item(), abs=1e-6)


@pytest.mark.parametrize('seed', SEEDS)
def test_cutmix_reconstruction_from_mask_and_partner(seed):
    inputs, _ = _batch(seed)
    _seeded(seed)
    mixed = random_cutmix(inputs, alpha=1.0)
    m = mixed.mask.unsqueeze(1)
    assert torch.equal(mixed.inputs,
                       m * inputs + (1 - m) * inputs[mixed.partner])


def test_resizemix_box_holds_resized_partner_and_rest_is_own():
    inputs, _ = _batch()
    box = (2, 8, 4, 13)
    partner = torch.tensor([1, 2, 0, 4, 5, 3])
    mixed = resize_paste(inputs, box, partner)
    y0, y1, x0, x1 = box
    resized = F.interpolate(inputs[partner], size=(y1 - y0, x1 - x0),
                            mode='bilinear', align_corners=False)
    assert torch.equal(mixed.inputs[:, :, y0:y1, x0:x1], resized)
    m = mixed.mask.unsqueeze(1)
    assert torch.equal(mixed.inputs * m, inputs * m)
    assert bool((mixed.mask[:, y0:y1, x0:x1] == 0).all())
    expected_lam = 1 - (y1 - y0) * (x1 - x0) / (12 * 16)
    torch.testing.assert_close(mixed.lam, torch.full((6, ), expected_lam,
                                                     dtype=torch.float64))


def test_paste_box_does_not_modify_its_inputs():
    inputs, _ = _batch()
    before = inputs.clone()
    paste_box(inputs, (0, 5, 0, 5), torch.tensor([1, 0, 2, 3, 4, 5]))
    assert torch.equal(inputs, before)


def test_cutmix_box_matches_mmpretrain_rand_bbox():
    for seed in SEEDS:
        np.random.seed(seed)
        expected = CutMix(alpha=1.0).rand_bbox((20, 30), 0.37)
        np.random.seed(seed)
        assert cutmix_box((20, 30), 0.37) == tuple(int(v) for v in expected)


def test_box_mask_is_one_for_fixed_points_of_the_permutation():
    mask = box_provenance_mask(torch.tensor([0, 2, 1]), (4, 4), (1, 3, 0, 2))
    assert bool((mask[0] == 1).all())
    assert mask[1].sum().item() == 16 - 4 and mask[1, 1:3, 0:2].sum() == 0


def test_random_pixel_mask_keeps_per_sample_mean_and_is_binary():
    provenance = torch.zeros(2, 64, 64)
    provenance[0, :, :16] = 1  # mean 0.25
    provenance[1] = 1
    generator = torch.Generator().manual_seed(0)
    mask = random_pixel_mask(provenance, generator)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert mask[0].mean().item() == pytest.approx(0.25, abs=0.02)
    assert bool((mask[1] == 1).all())
    # Not the provenance region: about a quarter of it is 1 as elsewhere.
    assert mask[0, :, :16].mean().item() == pytest.approx(0.25, abs=0.05)


def test_unmasked_mask_zeroes_only_samples_with_synthetic_content():
    provenance = torch.ones(3, 3, 3)
    provenance[0, 1, 1] = 0  # one foreign pixel
    provenance[2] = 0.5      # soft mask, below 1 everywhere
    expected = torch.ones(3, 3, 3)
    expected[0] = 0
    expected[2] = 0
    assert torch.equal(unmasked_mask(provenance), expected)


def test_shifted_mask_rolls_by_half_the_image_and_keeps_area():
    provenance = torch.ones(2, 4, 6)
    provenance[0, 0, 0:2] = 0  # foreign pixels at the top left
    shifted = shifted_mask(provenance)
    expected = torch.ones(2, 4, 6)
    expected[0, 2, 3:5] = 0   # moved by (H // 2, W // 2) = (2, 3)
    assert torch.equal(shifted, expected)
    # with a channel axis the roll acts on (H, W) only
    assert torch.equal(shifted_mask(provenance.unsqueeze(1)),
                       expected.unsqueeze(1))
